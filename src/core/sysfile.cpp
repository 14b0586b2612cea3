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
  while (len < cap) {
    ssize_t n = read(fd, out + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  close(fd);
  return len;
}

}  // namespace appconfig::sysfile
