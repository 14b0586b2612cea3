#include "appconfig/localdev.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appconfig/log.h"
#include "appconfig/store.h"

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

}  // namespace

struct Source::Tracked {
  bool in_use;
  bool exists;
  uint32_t hash;
  uint8_t app_len, env_len, prof_len;
  char key[kMaxSegment * 3];
  char file[kMaxFileName];
  uint64_t checked_ms;
  dev_t dev;
  ino_t ino;
  int64_t mtime_ns;
  off_t size;

  std::string_view app() const { return {key, app_len}; }
  std::string_view env() const { return {key + app_len, env_len}; }
  std::string_view prof() const { return {key + app_len + env_len, prof_len}; }
};

void content_type_for(std::string_view ext, char* out, size_t cap) {
  if (cap == 0) return;
  std::string_view type;
  if (ext.empty()) type = "application/octet-stream";
  else if (ext == "json") type = "application/json";
  else if (ext.find('%') == std::string_view::npos) type = "application/octet-stream";
  if (!type.empty()) {
    snprintf(out, cap, "%.*s", static_cast<int>(type.size()), type.data());
    return;
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
}

bool Source::init(std::string_view dir, uint64_t interval_ms, cache::Cache* cache, char* err, size_t err_cap) {
  if (dir.empty() || dir.size() >= sizeof dir_) {
    snprintf(err, err_cap, "LOCAL_DEVELOPMENT_DIRECTORY is empty or too long");
    return false;
  }
  memcpy(dir_, dir.data(), dir.size());
  dir_[dir.size()] = '\0';
  struct stat st;
  if (stat(dir_, &st) != 0 || !S_ISDIR(st.st_mode)) {
    snprintf(err, err_cap, "LOCAL_DEVELOPMENT_DIRECTORY=\"%s\" is not a readable directory: %s", dir_,
             errno != 0 ? strerror(errno) : "not a directory");
    return false;
  }
  interval_ms_ = interval_ms;
  cache_ = cache;
  table_ = static_cast<Tracked*>(calloc(kMaxTracked, sizeof(Tracked)));
  if (table_ == nullptr) {
    snprintf(err, err_cap, "out of memory");
    return false;
  }
  return true;
}

Source::~Source() { free(table_); }

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

// Looks for `key` or `key.ext` in the directory.
bool Source::scan(const cache::Key& key, char* name_out, size_t cap) {
  char want[kMaxSegment * 3 + 3];
  int wl = snprintf(want, sizeof want, "%.*s:%.*s:%.*s", static_cast<int>(key.application.size()),
                    key.application.data(), static_cast<int>(key.environment.size()), key.environment.data(),
                    static_cast<int>(key.profile.size()), key.profile.data());
  if (wl <= 0 || static_cast<size_t>(wl) >= sizeof want) return false;
  std::string_view w(want, static_cast<size_t>(wl));
  DIR* d = opendir(dir_);
  if (d == nullptr) return false;
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
    snprintf(name_out, cap, "%s", want);
    return true;
  }
  if (found_ext) {
    snprintf(name_out, cap, "%s", best);
    return true;
  }
  return false;
}

Status Source::load(Tracked& t, const cache::Key& key, Outcome& out, uint64_t now_ms) {
  char path[sizeof dir_ + kMaxFileName + 2];
  snprintf(path, sizeof path, "%s/%s", dir_, t.file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(out.message, sizeof out.message, "cannot open %s: %s", t.file, strerror(errno));
    return errno == ENOENT ? Status::kNotFound : Status::kIoError;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(out.message, sizeof out.message, "%s is not a regular file", t.file);
    return Status::kIoError;
  }
  if (static_cast<uint64_t>(st.st_size) > cache::kMaxConfigBytes) {
    close(fd);
    snprintf(out.message, sizeof out.message, "%s is %lld bytes, over the %zu-byte configuration limit", t.file,
             static_cast<long long>(st.st_size), cache::kMaxConfigBytes);
    return Status::kTooLarge;
  }
  std::string_view ext;
  size_t key_len = key.application.size() + key.environment.size() + key.profile.size() + 2;
  std::string_view fname(t.file);
  if (fname.size() > key_len + 1) ext = fname.substr(key_len + 1);
  char ctype[kMaxContentType];
  content_type_for(ext, ctype, sizeof ctype);
  const char* bytes = "";
  void* map = nullptr;
  size_t size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      close(fd);
      snprintf(out.message, sizeof out.message, "cannot read %s: %s", t.file, strerror(errno));
      return Status::kIoError;
    }
    bytes = static_cast<const char*>(map);
  }
  close(fd);
  std::string_view body(bytes, size);
  char why[sizeof out.message];
  store::Status s = store::put(*cache_, key, body, ctype, {}, now_ms, why, sizeof why);
  if (map != nullptr) munmap(map, size);
  if (s != store::Status::kStored) {
    snprintf(out.message, sizeof out.message, "%s: %s", t.file, why);
    LOG_ERROR("%s", out.message);
    if (s == store::Status::kInvalid) {
      // Remember this version of the file so it is not parsed again until it changes.
      t.dev = st.st_dev;
      t.ino = st.st_ino;
      t.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      t.size = st.st_size;
      return Status::kInvalid;
    }
    return Status::kNoSpace;
  }
  t.dev = st.st_dev;
  t.ino = st.st_ino;
  t.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  t.size = st.st_size;
  LOG_INFO("loaded %s (%zu bytes, %s)", t.file, size, ctype);
  return Status::kOk;
}

Status Source::check(Tracked& t, const cache::Key& key, uint64_t now_ms, Outcome& out) {
  t.checked_ms = now_ms;
  bool was = t.exists;
  if (t.exists) {
    char path[sizeof dir_ + kMaxFileName + 2];
    snprintf(path, sizeof path, "%s/%s", dir_, t.file);
    struct stat st;
    if (stat(path, &st) == 0) {
      int64_t mt = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      if (st.st_ino == t.ino && st.st_dev == t.dev && mt == t.mtime_ns && st.st_size == t.size &&
          cache_->find(key, now_ms) != nullptr)
        return Status::kOk;
      Status s = load(t, key, out, now_ms);
      // A broken new version keeps the previous good one in service (spec §6).
      if (s == Status::kInvalid && cache_->find(key, now_ms) != nullptr) return Status::kOk;
      if (s != Status::kNotFound) return s;
    }
  }
  // Not known yet, gone, or renamed: look for it again.
  if (!scan(key, t.file, sizeof t.file)) {
    t.exists = false;
    if (was) {
      cache_->remove(key);
      LOG_INFO("%.*s:%.*s:%.*s: file removed", static_cast<int>(key.application.size()), key.application.data(),
               static_cast<int>(key.environment.size()), key.environment.data(),
               static_cast<int>(key.profile.size()), key.profile.data());
    }
    snprintf(out.message, sizeof out.message, "no file named %.*s:%.*s:%.*s[.ext] in %s",
             static_cast<int>(key.application.size()), key.application.data(),
             static_cast<int>(key.environment.size()), key.environment.data(),
             static_cast<int>(key.profile.size()), key.profile.data(), dir_);
    return Status::kNotFound;
  }
  Status s = load(t, key, out, now_ms);
  if (s == Status::kInvalid && cache_->find(key, now_ms) != nullptr) {
    t.exists = true;
    return Status::kOk;
  }
  t.exists = s == Status::kOk || s == Status::kInvalid;
  if (s != Status::kOk && was) cache_->remove(key);
  return s;
}

Status Source::ensure(const cache::Key& key, uint64_t now_ms, Outcome& out) {
  out.status = Status::kOk;
  out.message[0] = '\0';
  // A name with '/' or NUL cannot be a file in one directory.
  for (std::string_view seg : {key.application, key.environment, key.profile}) {
    if (seg.empty() || seg.size() > kMaxSegment || seg.find('/') != std::string_view::npos ||
        seg.find('\0') != std::string_view::npos) {
      snprintf(out.message, sizeof out.message, "no file can be named after this key in %s", dir_);
      return out.status = Status::kNotFound;
    }
  }
  Tracked* t = find(key);
  if (t != nullptr) {
    if (now_ms - t->checked_ms < interval_ms_) {
      if (!t->exists) {
        snprintf(out.message, sizeof out.message, "no file named %.*s:%.*s:%.*s[.ext] in %s",
                 static_cast<int>(key.application.size()), key.application.data(),
                 static_cast<int>(key.environment.size()), key.environment.data(),
                 static_cast<int>(key.profile.size()), key.profile.data(), dir_);
        return out.status = Status::kNotFound;
      }
      if (cache_->find(key, now_ms) != nullptr) return out.status = Status::kOk;
      // Evicted from the cache meanwhile: load it again.
      return out.status = check(*t, key, now_ms, out);
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
    if (s != Status::kOk && s != Status::kNotFound) LOG_WARN("refresh: %s", out.message);
  }
}

}  // namespace appconfig::localdev
