#include "appconfig/core/sysfile.h"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace appconfig::sysfile {

size_t read_prefix(const char* path, char* out, size_t cap) {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever.
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return 0;
  }
  size_t len = 0;
  read_full(fd, out, cap, &len);  // a failed read keeps what came before it
  close(fd);
  return len;
}

int read_full(int fd, void* buf, size_t cap, size_t* got) {
  auto* p = static_cast<char*>(buf);
  *got = 0;
  while (*got < cap) {
    const ssize_t r = read(fd, p + *got, cap - *got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return 0;
}

int write_full(int fd, const void* p, size_t n) {
  const auto* b = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    b += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace appconfig::sysfile
