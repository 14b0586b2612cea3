// sysfile — reading the small system files the resolver and the HTTP client consult (/etc/hosts,
// /etc/resolv.conf) without ever blocking the loop.
//
// Owns: one bounded read of a regular file's first bytes. A FIFO, a device or a directory at the
// path is refused before any read (open with O_NONBLOCK, then fstat's S_ISREG), so a FIFO named
// /etc/hosts cannot stall every lookup. Knows nothing of the files' syntax.
#pragma once

#include <cstddef>

namespace appconfig::sysfile {

// Reads at most cap bytes of the regular file at path into out (no NUL is added). Returns the
// number of bytes read; 0 when the file is missing, unreadable, not a regular file, or empty.
// Longer files are cut at cap (callers parse what fits, as they did with a plain read).
size_t read_prefix(const char* path, char* out, size_t cap);

}  // namespace appconfig::sysfile
