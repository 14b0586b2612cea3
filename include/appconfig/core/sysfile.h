// sysfile: the one home of file-descriptor loops (read until full or end of file, write all, both
// retrying EINTR), and reading the small system files the resolver and the HTTP client consult
// (/etc/hosts, /etc/resolv.conf) without ever blocking the loop.
//
// Owns: read_full/write_full, used by every module that reads a whole file (local files, backups,
// the manifest, shared credential files, the CA bundle) or writes a line (log, metrics, the CLI)
// or a file (backups); and one bounded read of a regular file's first bytes. A FIFO, a device or a directory at the
// path is refused before any read (open with O_NONBLOCK, then fstat's S_ISREG), so a FIFO named
// /etc/hosts cannot stall every lookup. Knows nothing of the files' syntax.
#pragma once

#include <cstddef>

namespace appconfig::sysfile {

// Reads at most cap bytes of the regular file at path into out (no NUL is added). Returns the
// number of bytes read; 0 when the file is missing, unreadable, not a regular file, or empty.
// Longer files are cut at cap (callers parse what fits, as they did with a plain read).
size_t read_prefix(const char* path, char* out, size_t cap);

// Reads from fd until cap bytes are in buf or read(2) reports the end of the file, retrying EINTR.
// *got is the number of bytes read (also on error). Returns 0, or the errno of the failed read.
// Callers that must notice a file that grew ask for one byte more than they expect.
int read_full(int fd, void* buf, size_t cap, size_t* got);

// Writes all n bytes to fd, retrying EINTR and short writes. Returns 0, or the errno of the failed
// write (EIO for a write that wrote nothing).
int write_full(int fd, const void* p, size_t n);

}  // namespace appconfig::sysfile
