// error — see include/appconfig/core/error.h.
#include "appconfig/core/error.h"

#include <cstdio>

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

bool fail(Message& m, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(m.text, sizeof m.text, fmt, ap);
  va_end(ap);
  return false;
}

}  // namespace appconfig::error
