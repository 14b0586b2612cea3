// error — see include/appconfig/core/error.h.
#include "appconfig/core/error.h"

#include <cstdio>
#include <cstring>

namespace appconfig::error {

bool vfail(char* out, size_t cap, const char* fmt, va_list ap) {
  if (out != nullptr && cap != 0) vsnprintf(out, cap, fmt, ap);
  return false;
}

bool fail(char* out, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(out, cap, fmt, ap);
  va_end(ap);
  return false;
}

bool vappend(char* out, size_t cap, const char* fmt, va_list ap) {
  if (out == nullptr || cap == 0) return false;
  const size_t used = strnlen(out, cap);
  if (used + 1 < cap) vsnprintf(out + used, cap - used, fmt, ap);
  return false;
}

bool append(char* out, size_t cap, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vappend(out, cap, fmt, ap);
  va_end(ap);
  return false;
}

}  // namespace appconfig::error
