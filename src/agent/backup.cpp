// backup: atomic writes and the checksummed backup store.
#include "appconfig/agent/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/text.h"

namespace appconfig::backup {
namespace {

// Backup header layout (all integers little-endian, so files move between x86_64 and arm64):
//   0  8  magic "ACFGBKUP"
//   8  4  format version (kFormatVersion)
//  12  2  application length      14  2  environment length   16  2  profile length
//  18  2  content type length     20  2  version label length 22  2  reserved, 0
//  24  8  configuration byte length
//  32  8  FNV-1a 64 of header bytes [0, 32) followed by every byte after the header
//  40  ...application, environment, profile, content type, version label, configuration bytes
constexpr char kMagic[8] = {'A', 'C', 'F', 'G', 'B', 'K', 'U', 'P'};
constexpr size_t kChecksumOffset = 32;
static_assert(kHeaderBytes == kChecksumOffset + 8);

// Attempts at a fresh temp name when one is left over (a crash between open and rename).
constexpr unsigned kTempNameAttempts = 16;
// Part of the target's base name kept in its temp name, so the temp name fits NAME_MAX (255).
constexpr size_t kTempBaseBytes = 200;
// Warning lines: a path and a file name (each up to kMaxPathBytes) and a reason; never cut.
constexpr size_t kMessageBytes = 2 * kMaxPathBytes + 1024;

using cache::fnv1a_64;
using cache::kFnvOffset;

void put_u16(unsigned char* p, uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}
void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
uint16_t get_u16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

using error::fail;

// The numbers that make temporary file names ("<base>.tmp.<pid>.<n>") unique within the process.
// Its one user is write_atomic_parts, which the loop (tests, start-up) and the Writer thread both
// call, so a number is taken atomically (a builtin: <atomic> does not build against musl's headers
// here).
struct TempNames {
  unsigned next = 0;
  unsigned take() { return __atomic_fetch_add(&next, 1u, __ATOMIC_RELAXED); }
};
TempNames g_temp_names;

bool write_all(int fd, std::string_view bytes) {
  const int e = sysfile::write_full(fd, bytes.data(), bytes.size());
  errno = e;  // the caller's message reads errno
  return e == 0;
}

// mkdir -p with mode 0755 for every missing component of dir (a NUL-terminated copy we may edit).
bool make_dirs(char* dir, const char* path, char* err, size_t cap) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return true;
    return fail(err, cap, "write %s: parent %s is not a directory", path, dir);
  }
  size_t len = strlen(dir);
  for (size_t i = 1; i <= len; ++i) {
    if (i < len && dir[i] != '/') continue;
    char saved = dir[i];
    dir[i] = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      fail(err, cap, "write %s: cannot create directory %s: %s", path, dir, strerror(e));
      dir[i] = saved;
      return false;
    }
    dir[i] = saved;
  }
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(err, cap, "write %s: parent %s is not a directory", path, dir);
  return true;
}

// write_atomic over several parts written back to back (save() writes header, names and body
// without assembling them in one buffer).
bool write_atomic_parts(const char* path, const std::string_view* parts, size_t num_parts, char* err, size_t cap) {
  if (err != nullptr && cap > 0) err[0] = '\0';
  if (path == nullptr || path[0] == '\0') return fail(err, cap, "write: empty path");
  size_t len = strlen(path);
  if (len > kMaxPathBytes) return fail(err, cap, "write %.64s...: path is longer than %zu bytes", path, kMaxPathBytes);
  const char* slash = strrchr(path, '/');
  const char* base = slash == nullptr ? path : slash + 1;
  size_t base_len = strlen(base);
  if (base_len == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
    return fail(err, cap, "write %s: the path does not name a file", path);

  char dir[kMaxPathBytes + 1];
  if (slash == nullptr) {
    memcpy(dir, ".", 2);
  } else if (slash == path) {
    memcpy(dir, "/", 2);
  } else {
    size_t dlen = static_cast<size_t>(slash - path);
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
  }
  if (!make_dirs(dir, path, err, cap)) return false;

  // Keep the mode of the regular file being replaced (an operator may have tightened it);
  // a new file gets 0644 whatever the umask: other local processes are meant to read it.
  mode_t mode = 0644;
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;

  char tmp[kMaxPathBytes + 64 + kTempBaseBytes];
  int fd = -1;
  for (unsigned attempt = 0; attempt < kTempNameAttempts && fd < 0; ++attempt) {
    int base_shown = static_cast<int>(base_len < kTempBaseBytes ? base_len : kTempBaseBytes);
    snprintf(tmp, sizeof tmp, "%s%s.%.*s.tmp.%ld.%u", slash == nullptr ? "" : dir,
             slash == nullptr ? "" : (slash == path ? "" : "/"), base_shown, base, static_cast<long>(getpid()),
             g_temp_names.take());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno != EEXIST)
      return fail(err, cap, "write %s: cannot create temp file %s: %s", path, tmp, strerror(errno));
  }
  if (fd < 0) return fail(err, cap, "write %s: no free temp file name after %u attempts", path, kTempNameAttempts);

  auto abandon = [&](const char* step) {
    int e = errno;
    if (fd >= 0) close(fd);
    unlink(tmp);
    return fail(err, cap, "write %s: %s: %s", path, step, strerror(e));
  };
  if (fchmod(fd, mode) != 0) return abandon("fchmod of the temp file failed");
  for (size_t i = 0; i < num_parts; ++i)
    if (!write_all(fd, parts[i])) return abandon("write failed");
  // fsync before rename: otherwise a crash can leave the new name pointing at an empty file.
  if (fsync(fd) != 0) return abandon("fsync failed");
  int rc = close(fd);
  fd = -1;
  if (rc != 0) return abandon("close failed");
  if (rename(tmp, path) != 0) return abandon("rename over the target failed");

  // The rename is durable only once the directory entry is on disk.
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail(err, cap, "write %s: written, but cannot open %s to fsync it: %s", path, dir, strerror(errno));
  if (fsync(dfd) != 0 && errno != EINVAL) {
    int e = errno;
    close(dfd);
    return fail(err, cap, "write %s: written, but fsync of directory %s failed: %s", path, dir, strerror(e));
  }
  close(dfd);
  return true;
}

bool is_safe_byte(unsigned char c) {
  return text::is_alnum(static_cast<char>(c)) || c == '.' || c == '_' || c == '-';
}

bool valid_name(std::string_view s) { return !s.empty() && s.size() <= kMaxNameBytes; }

bool same_key(const cache::Key& a, const cache::Key& b) {
  return a.application == b.application && a.environment == b.environment && a.profile == b.profile;
}

// Reads a whole regular file (not a symlink, not a FIFO) of at most kMaxFileBytes into a fresh
// malloc'ed buffer (*buf; the caller frees it).
bool read_file(int dirfd, const char* name, const char* shown, char** buf, size_t* len, char* err, size_t cap) {
  int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ELOOP) return fail(err, cap, "backup %s: is a symbolic link, not read", shown);
    return fail(err, cap, "backup %s: cannot open: %s", shown, strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(err, cap, "backup %s: cannot stat: %s", shown, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, cap, "backup %s: is not a regular file", shown);
  }
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    close(fd);
    return fail(err, cap, "backup %s: %lld bytes is larger than any backup (%zu)", shown,
                static_cast<long long>(st.st_size), kMaxFileBytes);
  }
  size_t want = static_cast<size_t>(st.st_size);
  char* b = static_cast<char*>(malloc(want + 1));  // +1: detects a file that grew meanwhile
  if (b == nullptr) {
    close(fd);
    return fail(err, cap, "backup %s: cannot allocate %zu bytes", shown, want + 1);
  }
  size_t got = 0;
  if (const int e = sysfile::read_full(fd, b, want + 1, &got); e != 0) {
    free(b);
    close(fd);
    return fail(err, cap, "backup %s: read failed: %s", shown, strerror(e));
  }
  close(fd);
  if (got != want) {
    free(b);
    return fail(err, cap, "backup %s: changed size while being read", shown);
  }
  *buf = b;
  *len = got;
  return true;
}

}  // namespace

bool write_atomic(const char* path, std::string_view bytes, char* err, size_t err_cap) {
  return write_atomic_parts(path, &bytes, 1, err, err_cap);
}

size_t file_name(const cache::Key& key, char* out, size_t cap) {
  if (!valid_name(key.application) || !valid_name(key.environment) || !valid_name(key.profile)) return 0;
  if (cap < kMaxFileNameBytes + 1) return 0;
  // Worst case encoded length: 3 names x 128 bytes x 3 + 2 separators + suffix.
  char enc[3 * 3 * kMaxNameBytes + 2 + 8];
  size_t n = 0;
  const std::string_view names[3] = {key.application, key.environment, key.profile};
  for (size_t i = 0; i < 3; ++i) {
    if (i > 0) enc[n++] = ':';
    for (size_t j = 0; j < names[i].size(); ++j) {
      unsigned char c = static_cast<unsigned char>(names[i][j]);
      bool hidden_dot = n == 0 && c == '.';  // a leading '.' would make a hidden (temp-like) file
      if (is_safe_byte(c) && !hidden_dot) {
        enc[n++] = static_cast<char>(c);
      } else {
        enc[n++] = '%';
        enc[n++] = text::kHexUpper[c >> 4];
        enc[n++] = text::kHexUpper[c & 15];
      }
    }
  }
  if (n + kFileSuffix.size() <= kMaxFileNameBytes) {
    memcpy(out, enc, n);
    memcpy(out + n, kFileSuffix.data(), kFileSuffix.size());
    n += kFileSuffix.size();
    out[n] = '\0';
    return n;
  }
  // Too long for NAME_MAX: keep a readable prefix (never splitting a %XX escape) and add a hash of
  // the key with its lengths, so different keys get different names with overwhelming likelihood;
  // a collision would still be caught by the key check on load.
  constexpr size_t kHashPart = 1 + 16;
  size_t keep = kMaxFileNameBytes - kHashPart - kFileSuffix.size();
  if (keep >= 1 && enc[keep - 1] == '%') keep -= 1;
  else if (keep >= 2 && enc[keep - 2] == '%') keep -= 2;
  uint64_t h = kFnvOffset;
  for (std::string_view s : names) {
    unsigned char lenb[2];
    put_u16(lenb, static_cast<uint16_t>(s.size()));
    h = fnv1a_64(h, std::string_view(reinterpret_cast<const char*>(lenb), 2));
    h = fnv1a_64(h, s);
  }
  memcpy(out, enc, keep);
  int w = snprintf(out + keep, cap - keep, "~%016llx%.*s", static_cast<unsigned long long>(h),
                   static_cast<int>(kFileSuffix.size()), kFileSuffix.data());
  return keep + static_cast<size_t>(w);
}

bool decode(std::string_view file, Loaded& out, char* err, size_t err_cap) {
  if (err != nullptr && err_cap > 0) err[0] = '\0';
  if (file.size() < kHeaderBytes)
    return fail(err, err_cap, "truncated: %zu bytes, shorter than the %zu-byte header", file.size(), kHeaderBytes);
  const unsigned char* h = reinterpret_cast<const unsigned char*>(file.data());
  if (memcmp(h, kMagic, sizeof kMagic) != 0) return fail(err, err_cap, "not a backup file (bad magic)");
  uint32_t version = get_u32(h + 8);
  if (version != kFormatVersion)
    return fail(err, err_cap, "format version %u is not supported (expected %u)", version, kFormatVersion);
  size_t app = get_u16(h + 12), env = get_u16(h + 14), prof = get_u16(h + 16);
  size_t ctype = get_u16(h + 18), label = get_u16(h + 20);
  uint64_t body = get_u64(h + 24);
  if (get_u16(h + 22) != 0) return fail(err, err_cap, "reserved header field is not zero");
  if (app == 0 || app > kMaxNameBytes || env == 0 || env > kMaxNameBytes || prof == 0 || prof > kMaxNameBytes)
    return fail(err, err_cap, "key name lengths %zu/%zu/%zu outside 1..%zu", app, env, prof, kMaxNameBytes);
  if (ctype > kMaxContentTypeBytes)
    return fail(err, err_cap, "content type length %zu over %zu", ctype, kMaxContentTypeBytes);
  if (label > kMaxVersionLabelBytes)
    return fail(err, err_cap, "version label length %zu over %zu", label, kMaxVersionLabelBytes);
  if (body > kMaxBytes)
    return fail(err, err_cap, "configuration length %llu over %zu", static_cast<unsigned long long>(body), kMaxBytes);
  size_t total = kHeaderBytes + app + env + prof + ctype + label + static_cast<size_t>(body);
  if (total > file.size())
    return fail(err, err_cap, "truncated: the header describes %zu bytes, the file has %zu", total, file.size());
  if (total < file.size())
    return fail(err, err_cap, "%zu unexpected bytes after the %zu the header describes", file.size() - total, total);
  uint64_t sum = fnv1a_64(kFnvOffset, file.substr(0, kChecksumOffset));
  sum = fnv1a_64(sum, file.substr(kHeaderBytes));
  if (sum != get_u64(h + kChecksumOffset)) return fail(err, err_cap, "checksum mismatch (corrupt file)");
  size_t at = kHeaderBytes;
  auto take = [&](size_t n) {
    std::string_view s = file.substr(at, n);
    at += n;
    return s;
  };
  out.key.application = take(app);
  out.key.environment = take(env);
  out.key.profile = take(prof);
  out.content_type = take(ctype);
  out.version_label = take(label);
  out.bytes = take(static_cast<size_t>(body));
  return true;
}

namespace {

// The checks, path and header shared by save() and encode(); parts[0] is the header.
constexpr size_t kParts = 7;
bool prepare(const char* dir, const cache::Key& key, std::string_view content_type, std::string_view version_label,
             std::string_view bytes, char* path, size_t path_cap, unsigned char* header, std::string_view* parts,
             char* err, size_t err_cap) {
  if (err != nullptr && err_cap > 0) err[0] = '\0';
  if (!valid_name(key.application) || !valid_name(key.environment) || !valid_name(key.profile))
    return fail(err, err_cap, "backup: key names must be 1..%zu bytes", kMaxNameBytes);
  if (content_type.size() > kMaxContentTypeBytes)
    return fail(err, err_cap, "backup: content type is %zu bytes, over %zu", content_type.size(), kMaxContentTypeBytes);
  if (version_label.size() > kMaxVersionLabelBytes)
    return fail(err, err_cap, "backup: version label is %zu bytes, over %zu", version_label.size(),
                kMaxVersionLabelBytes);
  if (bytes.size() > kMaxBytes)
    return fail(err, err_cap, "backup: configuration is %zu bytes, over %zu", bytes.size(), kMaxBytes);
  if (dir == nullptr || dir[0] == '\0') return fail(err, err_cap, "backup: empty directory");
  char name[kMaxFileNameBytes + 1];
  size_t name_len = file_name(key, name, sizeof name);
  size_t dir_len = strlen(dir);
  if (name_len == 0 || dir_len + 1 + name_len > kMaxPathBytes || path_cap < kMaxPathBytes + 1)
    return fail(err, err_cap, "backup: directory path %s is too long", dir);
  snprintf(path, path_cap, "%s%s%s", dir, dir[dir_len - 1] == '/' ? "" : "/", name);

  memcpy(header, kMagic, sizeof kMagic);
  put_u32(header + 8, kFormatVersion);
  put_u16(header + 12, static_cast<uint16_t>(key.application.size()));
  put_u16(header + 14, static_cast<uint16_t>(key.environment.size()));
  put_u16(header + 16, static_cast<uint16_t>(key.profile.size()));
  put_u16(header + 18, static_cast<uint16_t>(content_type.size()));
  put_u16(header + 20, static_cast<uint16_t>(version_label.size()));
  put_u16(header + 22, 0);
  put_u64(header + 24, bytes.size());
  parts[0] = std::string_view(reinterpret_cast<const char*>(header), kHeaderBytes);
  parts[1] = key.application;
  parts[2] = key.environment;
  parts[3] = key.profile;
  parts[4] = content_type;
  parts[5] = version_label;
  parts[6] = bytes;
  uint64_t sum = fnv1a_64(kFnvOffset, parts[0].substr(0, kChecksumOffset));
  for (size_t i = 1; i < kParts; ++i) sum = fnv1a_64(sum, parts[i]);
  put_u64(header + kChecksumOffset, sum);
  return true;
}

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace

bool save(const char* dir, const cache::Key& key, std::string_view content_type, std::string_view version_label,
          std::string_view bytes, char* err, size_t err_cap) {
  char path[kMaxPathBytes + 1];
  unsigned char header[kHeaderBytes];
  std::string_view parts[kParts];
  if (!prepare(dir, key, content_type, version_label, bytes, path, sizeof path, header, parts, err, err_cap))
    return false;
  return write_atomic_parts(path, parts, kParts, err, err_cap);
}

// ---------------------------------------------------------------- Writer

namespace {

// Copies from this size on are their own mapping, populated in one call: a 4 MiB malloc would
// take ~1,000 page faults on the loop while it is filled.
constexpr size_t kMapThresholdBytes = 64 * 1024;

char* copy_bytes(std::string_view b) {
  size_t n = b.empty() ? 1 : b.size();
  void* p;
  if (n >= kMapThresholdBytes) {
    p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
  } else {
    p = malloc(n);
    if (p == nullptr) return nullptr;
  }
  if (!b.empty()) memcpy(p, b.data(), b.size());
  return static_cast<char*>(p);
}

void free_bytes(char* p, size_t len) {
  if (p == nullptr) return;
  size_t n = len == 0 ? 1 : len;
  if (n >= kMapThresholdBytes) munmap(p, n);
  else free(p);
}

}  // namespace

struct Writer::Job {
  bool used;
  bool busy;     // being written by the thread: never replaced
  bool backup;   // save(dir, key, ...) rather than write_atomic(path, bytes)
  uint64_t seq;  // FIFO order
  char path[kMaxPathBytes + 1];  // the file written (backups: dir/file_name(key)); jobs coalesce on it
  char dir[kMaxPathBytes + 1];
  char what[2 * kMaxNameBytes * 3 + 64];
  uint16_t app_len, env_len, prof_len, type_len, label_len;
  char names[3 * kMaxNameBytes];
  char content_type[kMaxContentTypeBytes];
  char version_label[kMaxVersionLabelBytes];
  char* bytes;
  size_t len;
};

bool Writer::start(char* err, size_t err_cap) {
  if (started_) return true;
  if (jobs_ == nullptr) {
    jobs_ = static_cast<Job*>(calloc(kMaxQueuedJobs, sizeof(Job)));
    if (jobs_ == nullptr) return fail(err, err_cap, "backup writer: out of memory for the job queue");
  }
  // The thread must never take a signal: the loop reads them from its signalfd.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&thread_, nullptr, &Writer::run, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return fail(err, err_cap, "backup writer: cannot start the thread: %s", strerror(rc));
  started_ = true;
  return true;
}

void Writer::write_one(Job& j) {
  char why[kMessageBytes];
  uint64_t t0 = monotonic_ms();
  std::string_view bytes(j.bytes, j.len);
  bool ok;
  if (j.backup) {
    cache::Key key{std::string_view(j.names, j.app_len), std::string_view(j.names + j.app_len, j.env_len),
                   std::string_view(j.names + j.app_len + j.env_len, j.prof_len)};
    ok = save(j.dir, key, std::string_view(j.content_type, j.type_len), std::string_view(j.version_label, j.label_len),
              bytes, why, sizeof why);
  } else {
    ok = write_atomic(j.path, bytes, why, sizeof why);
  }
  uint64_t took = monotonic_ms() - t0;
  if (ok)
    LOG_INFO("%s: wrote %zu bytes to %s (%llu ms)", j.what, j.len, j.path, static_cast<unsigned long long>(took));
  else
    LOG_ERROR("%s: %s", j.what, why);
  pthread_mutex_lock(&mu_);
  if (ok) ++stats_.written; else ++stats_.failed;
  if (took > stats_.max_write_ms) stats_.max_write_ms = took;
  pthread_mutex_unlock(&mu_);
}

void* Writer::run(void* arg) {
  auto* self = static_cast<Writer*>(arg);
  pthread_mutex_lock(&self->mu_);
  for (;;) {
    Job* next = nullptr;
    for (size_t i = 0; i < kMaxQueuedJobs; ++i) {
      Job& j = self->jobs_[i];
      if (j.used && !j.busy && (next == nullptr || j.seq < next->seq)) next = &j;
    }
    if (next == nullptr) {
      if (self->stopping_) break;
      pthread_cond_wait(&self->work_, &self->mu_);
      continue;
    }
    next->busy = true;
    pthread_mutex_unlock(&self->mu_);
    // The job is ours while busy: the loop neither replaces nor frees a busy job.
    self->write_one(*next);
    free_bytes(next->bytes, next->len);
    pthread_mutex_lock(&self->mu_);
    self->queued_bytes_ -= next->len;
    --self->queued_jobs_;
    next->used = false;
    next->busy = false;
    next->bytes = nullptr;
    pthread_cond_broadcast(&self->room_);
  }
  pthread_mutex_unlock(&self->mu_);
  return nullptr;
}

// Under mu_: a waiting job for the same path holds obsolete bytes, so the newer ones take its place
// in line; else a free slot (waiting for room first). Returns the job to fill in; mu_ stays held.
Writer::Job* Writer::enqueue(const char* path, char* bytes, size_t len, std::string_view what) {
  pthread_mutex_lock(&mu_);
  for (size_t i = 0; i < kMaxQueuedJobs; ++i) {
    Job& j = jobs_[i];
    if (!j.used || j.busy || strcmp(j.path, path) != 0) continue;
    if (queued_bytes_ - j.len + len > kMaxQueuedBytes) break;
    free_bytes(j.bytes, j.len);
    queued_bytes_ = queued_bytes_ - j.len + len;
    j.backup = false;  // submit_backup() sets it again
    j.bytes = bytes;
    j.len = len;
    snprintf(j.what, sizeof j.what, "%.*s", static_cast<int>(what.size()), what.data());
    ++stats_.replaced;
    return &j;
  }
  bool waited = false;
  while (queued_jobs_ > 0 && (queued_jobs_ == kMaxQueuedJobs || queued_bytes_ + len > kMaxQueuedBytes)) {
    waited = true;
    pthread_cond_wait(&room_, &mu_);
  }
  if (waited) {
    ++stats_.waited_for_room;
    // Logged under the lock: rare, and the line is one write(2).
    LOG_WARN("%.*s: the write queue was full (%zu jobs / %zu bytes): the loop waited for the disk",
             static_cast<int>(what.size()), what.data(), kMaxQueuedJobs, kMaxQueuedBytes);
  }
  Job* slot = nullptr;
  for (size_t i = 0; i < kMaxQueuedJobs && slot == nullptr; ++i)
    if (!jobs_[i].used) slot = &jobs_[i];
  slot->used = true;
  slot->busy = false;
  slot->backup = false;
  slot->seq = next_seq_++;
  snprintf(slot->path, sizeof slot->path, "%s", path);
  snprintf(slot->what, sizeof slot->what, "%.*s", static_cast<int>(what.size()), what.data());
  slot->bytes = bytes;
  slot->len = len;
  queued_bytes_ += len;
  ++queued_jobs_;
  return slot;
}

void Writer::submit(const char* path, std::string_view bytes, std::string_view what) {
  char* copy = started_ ? copy_bytes(bytes) : nullptr;
  if (copy == nullptr) {
    if (started_) LOG_WARN("%.*s: no memory for a %zu-byte copy: written on the loop", static_cast<int>(what.size()),
                           what.data(), bytes.size());
    char why[kMessageBytes];
    if (!write_atomic(path, bytes, why, sizeof why))
      LOG_ERROR("%.*s: %s", static_cast<int>(what.size()), what.data(), why);
    return;
  }
  enqueue(path, copy, bytes.size(), what);
  pthread_cond_signal(&work_);
  pthread_mutex_unlock(&mu_);
}

bool Writer::submit_backup(const char* dir, const cache::Key& key, std::string_view content_type,
                           std::string_view version_label, std::string_view bytes, std::string_view what, char* err,
                           size_t err_cap) {
  // The checks save() makes, here, so a refused backup is reported to the caller at once.
  char name[kMaxFileNameBytes + 1];
  size_t name_len = file_name(key, name, sizeof name);
  size_t dir_len = dir == nullptr ? 0 : strlen(dir);
  const char* problem = nullptr;
  if (name_len == 0) problem = "key names must be 1..128 bytes";
  else if (content_type.size() > kMaxContentTypeBytes) problem = "the content type is too long";
  else if (version_label.size() > kMaxVersionLabelBytes) problem = "the version label is too long";
  else if (bytes.size() > kMaxBytes) problem = "the configuration is over 4 MiB";
  else if (dir_len == 0 || dir_len + 1 + name_len > kMaxPathBytes) problem = "the directory path is empty or too long";
  if (problem != nullptr) return fail(err, err_cap, "backup: %s", problem);
  char* copy = started_ ? copy_bytes(bytes) : nullptr;
  if (copy == nullptr) {
    if (started_) LOG_WARN("%.*s: no memory for a %zu-byte copy: written on the loop", static_cast<int>(what.size()),
                           what.data(), bytes.size());
    return save(dir, key, content_type, version_label, bytes, err, err_cap);
  }
  size_t len = bytes.size();
  char path[kMaxPathBytes + 1];
  snprintf(path, sizeof path, "%s%s%s", dir, dir[dir_len - 1] == '/' ? "" : "/", name);
  Job* j = enqueue(path, copy, len, what);
  j->backup = true;
  snprintf(j->dir, sizeof j->dir, "%s", dir);
  j->app_len = static_cast<uint16_t>(key.application.size());
  j->env_len = static_cast<uint16_t>(key.environment.size());
  j->prof_len = static_cast<uint16_t>(key.profile.size());
  memcpy(j->names, key.application.data(), j->app_len);
  memcpy(j->names + j->app_len, key.environment.data(), j->env_len);
  memcpy(j->names + j->app_len + j->env_len, key.profile.data(), j->prof_len);
  j->type_len = static_cast<uint16_t>(content_type.size());
  if (!content_type.empty()) memcpy(j->content_type, content_type.data(), content_type.size());
  j->label_len = static_cast<uint16_t>(version_label.size());
  if (!version_label.empty()) memcpy(j->version_label, version_label.data(), version_label.size());
  pthread_cond_signal(&work_);
  pthread_mutex_unlock(&mu_);
  return true;
}

bool Writer::drain(uint64_t timeout_ms) {
  if (!started_) return true;
  timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += static_cast<time_t>(timeout_ms / 1000);
  deadline.tv_nsec += static_cast<long>(timeout_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1000000000;
  }
  pthread_mutex_lock(&mu_);
  while (queued_jobs_ > 0) {
    if (pthread_cond_timedwait(&room_, &mu_, &deadline) == ETIMEDOUT) break;
  }
  bool empty = queued_jobs_ == 0;
  pthread_mutex_unlock(&mu_);
  return empty;
}

void Writer::stop() {
  if (!started_) {
    free(jobs_);
    jobs_ = nullptr;
    return;
  }
  if (!drain(kDrainTimeoutMs)) {
    pthread_mutex_lock(&mu_);
    size_t left = queued_jobs_;
    pthread_mutex_unlock(&mu_);
    // The thread may be inside fsync: leave it; exit ends it. The files stay old, never partial.
    LOG_ERROR("exiting with %zu file write(s) not finished after %llu ms (the files keep their previous "
              "contents)", left, static_cast<unsigned long long>(kDrainTimeoutMs));
    return;
  }
  pthread_mutex_lock(&mu_);
  stopping_ = true;
  pthread_cond_signal(&work_);
  pthread_mutex_unlock(&mu_);
  pthread_join(thread_, nullptr);
  started_ = false;
  stopping_ = false;
  free(jobs_);
  jobs_ = nullptr;
}

Writer::Stats Writer::stats() {
  pthread_mutex_lock(&mu_);
  Stats s = stats_;
  pthread_mutex_unlock(&mu_);
  return s;
}

size_t load_all(const char* dir, LoadCallback cb, WarnCallback warn, void* ctx, size_t max_bytes) {
  char msg[kMessageBytes];
  DIR* d = opendir(dir);
  if (d == nullptr) {
    if (errno != ENOENT && warn != nullptr) {
      snprintf(msg, sizeof msg, "backup directory %s: cannot open: %s", dir, strerror(errno));
      warn(ctx, msg);
    }
    return 0;
  }
  size_t loaded = 0;
  size_t read_bytes = 0;
  while (true) {
    errno = 0;
    struct dirent* de = readdir(d);
    if (de == nullptr) {
      if (errno != 0 && warn != nullptr) {
        snprintf(msg, sizeof msg, "backup directory %s: readdir failed: %s", dir, strerror(errno));
        warn(ctx, msg);
      }
      break;
    }
    std::string_view name(de->d_name);
    // Hidden names are ours in flight (write_atomic temp files) or not ours; other suffixes are
    // foreign files an operator keeps there. Neither is a backup: no warning.
    if (name.empty() || name.front() == '.') continue;
    if (name.size() <= kFileSuffix.size() || name.substr(name.size() - kFileSuffix.size()) != kFileSuffix) continue;
    char shown[kMaxPathBytes + 1];
    snprintf(shown, sizeof shown, "%s/%s", dir, de->d_name);
    if (read_bytes >= max_bytes) {
      if (warn != nullptr) {
        snprintf(msg, sizeof msg, "backup directory %s: stopped after reading %zu bytes (the cache holds no more); "
                 "%s and the backups after it are not loaded", dir, read_bytes, de->d_name);
        warn(ctx, msg);
      }
      break;
    }
    char* buf = nullptr;
    size_t len = 0;
    if (!read_file(dirfd(d), de->d_name, shown, &buf, &len, msg, sizeof msg)) {
      if (warn != nullptr) warn(ctx, msg);
      continue;
    }
    read_bytes += len;
    Loaded b;
    char why[256];
    if (!decode(std::string_view(buf, len), b, why, sizeof why)) {
      if (warn != nullptr) {
        snprintf(msg, sizeof msg, "backup %s: skipped: %s", shown, why);
        warn(ctx, msg);
      }
      free(buf);
      continue;
    }
    char expected[kMaxFileNameBytes + 1];
    if (file_name(b.key, expected, sizeof expected) == 0 || name != expected) {
      if (warn != nullptr) {
        snprintf(msg, sizeof msg, "backup %s: skipped: it holds another key (expected file name %s)", shown, expected);
        warn(ctx, msg);
      }
      free(buf);
      continue;
    }
    cb(ctx, b);
    free(buf);
    ++loaded;
  }
  closedir(d);
  return loaded;
}

bool load_one(const char* dir, const cache::Key& key, LoadCallback cb, void* ctx, char* err, size_t err_cap) {
  if (err != nullptr && err_cap > 0) err[0] = '\0';
  char name[kMaxFileNameBytes + 1];
  if (file_name(key, name, sizeof name) == 0)
    return fail(err, err_cap, "backup: key names must be 1..%zu bytes", kMaxNameBytes);
  char shown[kMaxPathBytes + 1];
  snprintf(shown, sizeof shown, "%s/%s", dir, name);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fail(err, err_cap, "backup directory %s: cannot open: %s", dir, strerror(errno));
  char* buf = nullptr;
  size_t len = 0;
  bool ok = read_file(dfd, name, shown, &buf, &len, err, err_cap);
  close(dfd);
  if (!ok) return false;
  Loaded b;
  char why[256];
  if (!decode(std::string_view(buf, len), b, why, sizeof why)) {
    free(buf);
    return fail(err, err_cap, "backup %s: not used: %s", shown, why);
  }
  if (!same_key(b.key, key)) {
    free(buf);
    return fail(err, err_cap, "backup %s: not used: it holds another key", shown);
  }
  cb(ctx, b);
  free(buf);
  return true;
}

}  // namespace appconfig::backup
