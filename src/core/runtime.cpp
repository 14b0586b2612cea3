// The few pieces of the C++ runtime the release build needs, because it links
// against musl without libstdc++ (see docs/build.md). Only compiled into the
// static release binaries; the glibc debug/test build uses libstdc++ itself.
//
// Owns: operator new/delete over malloc, the pure-virtual trap, and the
// std::__throw_* helpers that header-only library code calls on contract
// violations. Built with -fno-exceptions, so every one of those is a
// programmer bug: report it on stderr and abort.
#include <cstddef>
#include <cstdlib>
#include <new>
#include <unistd.h>

namespace {
[[noreturn]] void die(const char* what) {
  static const char kPrefix[] = "[appconfig-extension] FATAL internal error: ";
  ssize_t r = write(2, kPrefix, sizeof kPrefix - 1);
  size_t n = 0;
  while (what[n] != '\0') ++n;
  r = write(2, what, n);
  r = write(2, "\n", 1);
  (void)r;
  abort();
}
}  // namespace

void* operator new(size_t n) {
  void* p = malloc(n == 0 ? 1 : n);
  if (p == nullptr) die("out of memory");
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return malloc(n == 0 ? 1 : n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return malloc(n == 0 ? 1 : n); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }

extern "C" void __cxa_pure_virtual() { die("pure virtual call"); }

namespace std {
const nothrow_t nothrow{};
void __throw_bad_alloc() { die("bad_alloc"); }
void __throw_bad_array_new_length() { die("bad_array_new_length"); }
void __throw_length_error(const char* m) { die(m); }
void __throw_logic_error(const char* m) { die(m); }
void __throw_out_of_range(const char* m) { die(m); }
void __throw_out_of_range_fmt(const char* m, ...) { die(m); }
void __throw_invalid_argument(const char* m) { die(m); }
void __throw_bad_optional_access() { die("bad_optional_access"); }
void __throw_bad_function_call() { die("bad_function_call"); }
}  // namespace std
