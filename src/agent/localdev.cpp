#include "appconfig/agent/localdev.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/agent/store.h"
#include "appconfig/core/sysfile.h"

namespace appconfig::localdev {

namespace {

constexpr size_t kMaxSegment = 128;

uint32_t fnv1a(std::string_view a, std::string_view b, std::string_view c) {
  uint32_t h = 2166136261u;
  auto mix = [&h](std::string_view s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 16777619u;
    }
    h ^= 0xff;  // separator that no segment byte sequence can fake alone
    h *= 16777619u;
  };
  mix(a);
  mix(b);
  mix(c);
  return h;
}

int64_t ns_of(const struct timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec; }

void* reserve(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

struct Source::Tracked {
  bool in_use;
  bool exists;
  Status failed;  // kOk, or why the file with the recorded identity cannot be served
  uint32_t hash;
  uint8_t app_len, env_len, prof_len;
  char key[kMaxSegment * 3];
  char file[kMaxFileName];
  char error[sizeof Outcome::message];  // the message for `failed`
  uint64_t checked_ms;
  dev_t dev;
  ino_t ino;
  int64_t mtime_ns;
  off_t size;

  std::string_view app() const { return {key, app_len}; }
  std::string_view env() const { return {key + app_len, env_len}; }
  std::string_view prof() const { return {key + app_len + env_len, prof_len}; }
  void remember(const struct stat& st) {
    dev = st.st_dev;
    ino = st.st_ino;
    mtime_ns = ns_of(st.st_mtim);
    size = st.st_size;
  }
  bool same(const struct stat& st) const {
    return st.st_ino == ino && st.st_dev == dev && ns_of(st.st_mtim) == mtime_ns && st.st_size == size;
  }
  void forget() { dev = 0, ino = 0, mtime_ns = -1, size = -1; }
  // A file that cannot be served (out.message says why): logged once per version of the file, as
  // the identity is remembered with the reason.
  Status refuse(Status s, const struct stat& st, const Outcome& out) {
    LOG_WARN("%s", out.message);
    remember(st);
    failed = s;
    memcpy(error, out.message, sizeof error);
    return s;
  }
};

bool content_type_for(std::string_view ext, char* out, size_t cap) {
  if (cap == 0) return false;
  std::string_view type;
  bool visible = true;
  for (char ch : ext) visible = visible && ch > 0x20 && ch < 0x7f;
  if (ext.empty() || !visible) type = "application/octet-stream";
  else if (ext == "json") type = "application/json";
  else if (ext.find('%') == std::string_view::npos) type = "application/octet-stream";
  if (!type.empty()) {
    snprintf(out, cap, "%.*s", static_cast<int>(type.size()), type.data());
    return visible;
  }
  // `.type%subtype[%param...]`: first % is the slash, later ones separate parameters.
  size_t n = 0;
  bool first = true;
  for (char ch : ext) {
    if (n + 1 >= cap) break;
    if (ch == '%') {
      out[n++] = first ? '/' : ';';
      first = false;
    } else {
      out[n++] = ch;
    }
  }
  out[n] = '\0';
  return true;
}

bool Source::init(std::string_view dir, uint64_t interval_ms, cache::Cache* cache, char* err, size_t err_cap) {
  if (dir.empty() || dir.size() >= sizeof dir_) {
    return error::fail(err, err_cap, "LOCAL_DEVELOPMENT_DIRECTORY is empty or too long");
  }
  memcpy(dir_, dir.data(), dir.size());
  dir_[dir.size()] = '\0';
  struct stat st;
  if (stat(dir_, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return error::fail(err, err_cap, "LOCAL_DEVELOPMENT_DIRECTORY=\"%s\" is not a readable directory: %s", dir_,
                       errno != 0 ? strerror(errno) : "not a directory");
  }
  interval_ms_ = interval_ms;
  cache_ = cache;
  table_ = static_cast<Tracked*>(calloc(kMaxTracked, sizeof(Tracked)));
  index_ = static_cast<uint32_t*>(reserve(kMaxIndexNames * sizeof(uint32_t)));
  names_ = static_cast<char*>(reserve(kMaxIndexNameBytes));
  if (table_ == nullptr || index_ == nullptr || names_ == nullptr) {
    return error::fail(err, err_cap, "out of memory");
  }
  return true;
}

Source::~Source() {
  free(table_);
  if (index_ != nullptr) munmap(index_, kMaxIndexNames * sizeof(uint32_t));
  if (names_ != nullptr) munmap(names_, kMaxIndexNameBytes);
}

Source::Tracked* Source::find(const cache::Key& key) {
  uint32_t h = fnv1a(key.application, key.environment, key.profile);
  for (size_t i = 0; i < used_; ++i) {
    Tracked& t = table_[i];
    if (t.in_use && t.hash == h && t.app() == key.application && t.env() == key.environment &&
        t.prof() == key.profile)
      return &t;
  }
  return nullptr;
}

Source::Tracked* Source::slot_for_new() {
  if (used_ < kMaxTracked) return &table_[used_++];
  Tracked* victim = nullptr;
  for (size_t i = 0; i < used_; ++i) {
    Tracked& t = table_[i];
    if (!t.exists && (victim == nullptr || t.checked_ms < victim->checked_ms)) victim = &t;
  }
  return victim;  // nullptr: every slot holds a file that exists
}

// Reads every name with two ':' into the sorted index. Called only when the directory
// changed, the last build was racy, or a poll interval passed (see the header).
void Source::rebuild_index(uint64_t now_ms) {
  struct timespec start;
  clock_gettime(CLOCK_REALTIME, &start);
  struct stat dst;
  if (stat(dir_, &dst) != 0) {
    index_built_ = false;
    return;
  }
  DIR* d = opendir(dir_);
  if (d == nullptr) {
    index_built_ = false;
    return;
  }
  ++dir_reads_;
  size_t count = 0, bytes = 0;
  bool complete = true;
  while (dirent* e = readdir(d)) {
    const char* first = strchr(e->d_name, ':');
    if (first == nullptr || strchr(first + 1, ':') == nullptr) continue;
    size_t len = strlen(e->d_name) + 1;
    if (count == kMaxIndexNames || bytes + len > kMaxIndexNameBytes) {
      complete = false;
      continue;
    }
    memcpy(names_ + bytes, e->d_name, len);
    index_[count++] = static_cast<uint32_t>(bytes);
    bytes += len;
  }
  closedir(d);
  const char* names = names_;
  std::sort(index_, index_ + count,
            [names](uint32_t a, uint32_t b) { return strcmp(names + a, names + b) < 0; });
  index_count_ = count;
  index_built_ = true;
  index_complete_ = complete;
  index_built_ms_ = now_ms;
  dir_mtime_ns_ = ns_of(dst.st_mtim);
  dir_ctime_ns_ = ns_of(dst.st_ctim);
  dir_ino_ = dst.st_ino;
  int64_t start_ns = ns_of(start);
  index_racy_ = start_ns - dir_mtime_ns_ < kRacyWindowNs || start_ns - dir_ctime_ns_ < kRacyWindowNs;
  if (!complete && !overflow_warned_) {
    overflow_warned_ = true;
    LOG_WARN("LOCAL_DEVELOPMENT_DIRECTORY has more than %zu names (or %zu bytes of names) that look like "
             "configurations: the rest are found by reading the directory once per missing key and poll interval",
             kMaxIndexNames, kMaxIndexNameBytes);
  }
}

// Looks for `want` or `want.ext` with one readdir (the fallback past the index's limits).
bool Source::scan(std::string_view w, char* name_out, size_t cap) {
  DIR* d = opendir(dir_);
  if (d == nullptr) return false;
  ++dir_reads_;
  bool found_exact = false;
  bool found_ext = false;
  char best[256] = {};
  while (dirent* e = readdir(d)) {
    std::string_view name(e->d_name);
    if (name == w) {
      found_exact = true;
      break;
    }
    if (name.size() > w.size() + 1 && name.substr(0, w.size()) == w && name[w.size()] == '.') {
      if (!found_ext || strcmp(e->d_name, best) < 0) {
        snprintf(best, sizeof best, "%s", e->d_name);
        found_ext = true;
      }
    }
  }
  closedir(d);
  if (found_exact) {
    snprintf(name_out, cap, "%.*s", static_cast<int>(w.size()), w.data());
    return true;
  }
  if (found_ext) {
    snprintf(name_out, cap, "%s", best);
    return true;
  }
  return false;
}

// Finds the file for key: `key` exactly, else the first `key.ext` in byte order.
bool Source::lookup(const cache::Key& key, uint64_t now_ms, char* name_out, size_t cap) {
  char want[kMaxSegment * 3 + 3];
  int wl = snprintf(want, sizeof want, "%.*s:%.*s:%.*s", static_cast<int>(key.application.size()),
                    key.application.data(), static_cast<int>(key.environment.size()), key.environment.data(),
                    static_cast<int>(key.profile.size()), key.profile.data());
  if (wl <= 0 || static_cast<size_t>(wl) >= sizeof want) return false;
  std::string_view w(want, static_cast<size_t>(wl));
  bool stale = !index_built_ || index_racy_ || now_ms - index_built_ms_ >= interval_ms_;
  if (!stale) {
    struct stat dst;
    stale = stat(dir_, &dst) != 0 || ns_of(dst.st_mtim) != dir_mtime_ns_ || ns_of(dst.st_ctim) != dir_ctime_ns_ ||
            dst.st_ino != dir_ino_;
  }
  if (stale) rebuild_index(now_ms);
  if (!index_built_) return scan(w, name_out, cap);
  auto at = [this](size_t i) { return std::string_view(names_ + index_[i]); };
  auto lower_bound = [&](std::string_view target) {
    size_t lo = 0, hi = index_count_;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (at(mid) < target) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  size_t i = lower_bound(w);
  if (i < index_count_ && at(i) == w) {
    snprintf(name_out, cap, "%s", want);
    return true;
  }
  // "want." sorts before every "want.<ext>" and after everything else starting with want.
  want[wl] = '.';
  std::string_view dotted(want, static_cast<size_t>(wl) + 1);
  i = lower_bound(dotted);
  if (i < index_count_ && at(i).size() > dotted.size() && at(i).substr(0, dotted.size()) == dotted) {
    snprintf(name_out, cap, "%s", names_ + index_[i]);
    return true;
  }
  if (!index_complete_) return scan(w, name_out, cap);
  return false;
}

// Reads the whole file into a fresh heap buffer; never maps it (a file truncated while mapped
// raises SIGBUS), never blocks on it (O_NONBLOCK: a FIFO), never follows a link (O_NOFOLLOW).
namespace {

// load()'s steps. Opens path without following links or blocking: kOk with *fd open on a regular
// file within the size limit. kNotServed and kTooLarge come with the stat of what was refused.
Status open_regular(const char* path, const char* file, int* fd, struct stat* st, Outcome& out) {
  *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (*fd < 0) {
    int e = errno;
    if (e == ELOOP && lstat(path, st) == 0 && S_ISLNK(st->st_mode)) {
      snprintf(out.message, sizeof out.message,
               "%s is a symbolic link: links in the local development directory are not followed", file);
      return Status::kNotServed;
    }
    snprintf(out.message, sizeof out.message, "cannot open %s: %s", file, strerror(e));
    return e == ENOENT ? Status::kNotFound : Status::kIoError;
  }
  Status s = Status::kOk;
  if (fstat(*fd, st) != 0) {
    snprintf(out.message, sizeof out.message, "cannot stat %s: %s", file, strerror(errno));
    s = Status::kIoError;
  } else if (!S_ISREG(st->st_mode)) {
    snprintf(out.message, sizeof out.message, "%s is not a regular file (%s): not served", file,
             S_ISFIFO(st->st_mode) ? "a FIFO" : S_ISDIR(st->st_mode) ? "a directory" : "a device or socket");
    s = Status::kNotServed;
  } else if (static_cast<uint64_t>(st->st_size) > cache::kMaxConfigBytes) {
    snprintf(out.message, sizeof out.message, "%s is %lld bytes, over the %zu-byte configuration limit", file,
             static_cast<long long>(st->st_size), cache::kMaxConfigBytes);
    s = Status::kTooLarge;
  }
  if (s != Status::kOk) {
    close(*fd);
    *fd = -1;
  }
  return s;
}

// Reads the size bytes fstat saw into a fresh heap buffer (*buf, the caller frees it on kOk) and
// closes fd. One byte more is asked for, so a file that grew meanwhile is noticed: kBusy when the
// size changed while reading.
Status read_exactly(int fd, size_t size, const char* file, char** buf, Outcome& out) {
  *buf = static_cast<char*>(malloc(size + 1));
  if (*buf == nullptr) {
    close(fd);
    snprintf(out.message, sizeof out.message, "cannot read %s: out of memory for %zu bytes", file, size + 1);
    return Status::kIoError;
  }
  size_t got = 0;
  const int read_errno = sysfile::read_full(fd, *buf, size + 1, &got);
  close(fd);
  if (read_errno == 0 && got == size) return Status::kOk;
  free(*buf);
  *buf = nullptr;
  if (read_errno != 0) {
    snprintf(out.message, sizeof out.message, "cannot read %s: %s", file, strerror(read_errno));
    return Status::kIoError;
  }
  snprintf(out.message, sizeof out.message,
           "%s changed size while being read (%zu bytes expected, %s%zu read): write files with a rename to "
           "replace them atomically", file, size, got > size ? "over " : "", got > size ? size : got);
  return Status::kBusy;
}

}  // namespace

Status Source::load(Tracked& t, const cache::Key& key, Outcome& out, uint64_t now_ms) {
  char path[sizeof dir_ + kMaxFileName + 2];
  snprintf(path, sizeof path, "%s/%s", dir_, t.file);
  int fd = -1;
  struct stat st;
  Status opened = open_regular(path, t.file, &fd, &st, out);
  if (opened == Status::kNotServed || opened == Status::kTooLarge) return t.refuse(opened, st, out);
  if (opened != Status::kOk) return opened;

  std::string_view ext;
  size_t key_len = key.application.size() + key.environment.size() + key.profile.size() + 2;
  std::string_view fname(t.file);
  if (fname.size() > key_len + 1) ext = fname.substr(key_len + 1);
  char ctype[kMaxContentType];
  if (!content_type_for(ext, ctype, sizeof ctype))
    LOG_WARN("%s: the extension has bytes outside visible ASCII, which a Content-Type header cannot carry: served "
             "as %s", t.file, ctype);
  const size_t size = static_cast<size_t>(st.st_size);
  char* buf = nullptr;
  Status read = read_exactly(fd, size, t.file, &buf, out);
  if (read == Status::kBusy) {
    // Being rewritten in place (cp, shell `>`): keep what is served, look again at the next check.
    t.forget();
    LOG_WARN("%s", out.message);
  }
  if (read != Status::kOk) return read;

  char why[sizeof out.message];
  store::Status s = store::put(*cache_, key, std::string_view(buf, size), ctype, {}, now_ms, why, sizeof why);
  free(buf);
  t.remember(st);
  if (s != store::Status::kStored) {
    snprintf(out.message, sizeof out.message, "%s: %s", t.file, why);
    LOG_ERROR("%s", out.message);
    // Remember this version of the file so it is not parsed again until it changes.
    t.failed = s == store::Status::kInvalid ? Status::kInvalid : Status::kNoSpace;
    memcpy(t.error, out.message, sizeof t.error);
    // A full cache may have room at the next check (readers unpin): try this version again then.
    if (t.failed == Status::kNoSpace) t.forget();
    return t.failed;
  }
  t.failed = Status::kOk;
  LOG_INFO("loaded %s (%zu bytes, %s)", t.file, size, ctype);
  return Status::kOk;
}

void Source::not_found(const cache::Key& key, Outcome& out) const {
  // The file name only: the directory is the operator's business, not the caller's.
  snprintf(out.message, sizeof out.message, "no file named %.*s:%.*s:%.*s[.ext] in the local development directory",
           static_cast<int>(key.application.size()), key.application.data(),
           static_cast<int>(key.environment.size()), key.environment.data(), static_cast<int>(key.profile.size()),
           key.profile.data());
}

// Store-level failures (a profile that does not compile, a full cache) keep the previous good
// version in service; a file that is no longer a servable regular file takes it out.
static bool keeps_previous(Status s) {
  return s == Status::kInvalid || s == Status::kNoSpace || s == Status::kBusy;
}

Status Source::check(Tracked& t, const cache::Key& key, uint64_t now_ms, Outcome& out) {
  t.checked_ms = now_ms;
  bool was = t.exists;
  if (t.exists) {
    char path[sizeof dir_ + kMaxFileName + 2];
    snprintf(path, sizeof path, "%s/%s", dir_, t.file);
    struct stat st;
    // lstat: a file replaced by a link is a change (and is then refused by load()).
    if (lstat(path, &st) == 0) {
      bool cached = cache_->find(key, now_ms) != nullptr;
      if (t.same(st)) {
        if (cached) return Status::kOk;
        if (t.failed != Status::kOk) {
          memcpy(out.message, t.error, sizeof out.message);
          return t.failed;
        }
      }
      Status s = load(t, key, out, now_ms);
      if (s == Status::kOk) return s;
      if (keeps_previous(s) && cache_->find(key, now_ms) != nullptr) return Status::kOk;
      if (s != Status::kNotFound) {
        if (!keeps_previous(s)) cache_->remove(key);
        return s;
      }
    }
  }
  // Not known yet, gone, or renamed: look for it again.
  if (!lookup(key, now_ms, t.file, sizeof t.file)) {
    t.exists = false;
    t.failed = Status::kOk;
    if (was) {
      cache_->remove(key);
      LOG_INFO("%.*s:%.*s:%.*s: file removed", static_cast<int>(key.application.size()), key.application.data(),
               static_cast<int>(key.environment.size()), key.environment.data(),
               static_cast<int>(key.profile.size()), key.profile.data());
    }
    not_found(key, out);
    return Status::kNotFound;
  }
  t.failed = Status::kOk;
  Status s = load(t, key, out, now_ms);
  t.exists = s != Status::kNotFound;
  if (s == Status::kOk) return s;
  if (keeps_previous(s) && cache_->find(key, now_ms) != nullptr) return Status::kOk;
  if (was) cache_->remove(key);
  return s;
}

Status Source::ensure(const cache::Key& key, uint64_t now_ms, Outcome& out) {
  out.status = Status::kOk;
  out.message[0] = '\0';
  // A name with '/' or NUL cannot be a file in one directory.
  for (std::string_view seg : {key.application, key.environment, key.profile}) {
    if (seg.empty() || seg.size() > kMaxSegment || seg.find('/') != std::string_view::npos ||
        seg.find('\0') != std::string_view::npos) {
      snprintf(out.message, sizeof out.message, "no file can be named after this key in the local development "
                                                "directory");
      return out.status = Status::kNotFound;
    }
  }
  Tracked* t = find(key);
  if (t != nullptr) {
    if (now_ms - t->checked_ms < interval_ms_) {
      if (!t->exists) {
        not_found(key, out);
        return out.status = Status::kNotFound;
      }
      if (cache_->find(key, now_ms) != nullptr) return out.status = Status::kOk;
      if (t->failed != Status::kOk) {
        memcpy(out.message, t->error, sizeof out.message);
        return out.status = t->failed;
      }
      // Evicted from the cache meanwhile: load it again.
    }
    return out.status = check(*t, key, now_ms, out);
  }
  t = slot_for_new();
  if (t == nullptr) {
    snprintf(out.message, sizeof out.message, "too many configurations (limit %zu)", kMaxTracked);
    return out.status = Status::kIoError;
  }
  memset(t, 0, sizeof *t);
  t->in_use = true;
  t->forget();
  t->hash = fnv1a(key.application, key.environment, key.profile);
  t->app_len = static_cast<uint8_t>(key.application.size());
  t->env_len = static_cast<uint8_t>(key.environment.size());
  t->prof_len = static_cast<uint8_t>(key.profile.size());
  memcpy(t->key, key.application.data(), key.application.size());
  memcpy(t->key + t->app_len, key.environment.data(), key.environment.size());
  memcpy(t->key + t->app_len + t->env_len, key.profile.data(), key.profile.size());
  return out.status = check(*t, key, now_ms, out);
}

void Source::refresh_due(uint64_t now_ms) {
  for (size_t i = 0; i < used_; ++i) {
    Tracked& t = table_[i];
    if (!t.in_use || !t.exists || now_ms - t.checked_ms < interval_ms_) continue;
    cache::Key key{t.app(), t.env(), t.prof()};
    Outcome out;
    Status s = check(t, key, now_ms, out);
    if (s != Status::kOk && s != Status::kNotFound && s != t.failed) LOG_WARN("refresh: %s", out.message);
  }
}

}  // namespace appconfig::localdev
