// error: the one error convention of the code base (docs/errors.md): a failing function returns
// false (or an enum when callers act differently per cause) and says what went wrong in a message
// buffer of fixed size that the caller owns. No allocation, no exceptions, no errno-style globals.
//
// Owns: the one printf-into-a-buffer helper (and its form after a context prefix). Messages name the problem
// (the variable, file, host, flag or byte offset) and are cut at the buffer's size on purpose.
#pragma once

#include <cstdarg>
#include <cstddef>

namespace appconfig::error {

// Writes the formatted message into out[cap] (NUL-terminated, truncated); does nothing when out is
// null or cap is 0. Returns false, so a failing function can `return error::fail(err, cap, ...)`.
bool fail(char* out, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
bool vfail(char* out, size_t cap, const char* fmt, va_list ap) __attribute__((format(printf, 3, 0)));
// As fail, after what out already holds (a context prefix such as "manifest key A:E:P: "): the
// message is appended at strlen(out) and cut at cap. Returns false.
bool append(char* out, size_t cap, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
bool vappend(char* out, size_t cap, const char* fmt, va_list ap) __attribute__((format(printf, 3, 0)));

}  // namespace appconfig::error
