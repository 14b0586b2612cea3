// localdev: local development mode (LOCAL_DEVELOPMENT_DIRECTORY, spec §7).
//
// Owns: finding the file for a key (`App:Env:Profile` or `App:Env:Profile.ext`
// in one directory), the content type its extension names, change detection by
// lstat() at the poll interval, and loading the bytes into the cache. Never
// calls AWS. Knows nothing of HTTP.
// Extension rules: `.json` -> application/json; none -> application/octet-stream;
// `.type%subtype` -> type/subtype (a further `%` becomes `;`, for parameters);
// any other extension -> application/octet-stream. An exact name wins over a
// name with an extension; among extensions the first in byte order wins. A
// content type must be visible ASCII (it becomes a header): an extension with
// any other byte is served as application/octet-stream, with a warning.
// `.application%ion%type=AWS.AppConfig.FeatureFlags` files (multi-variant flags
// in Ion text) are compiled into a variants blob once per change; a version that
// does not compile leaves the previous good one in service.
//
// Reading files (nothing in the directory can crash or stall the loop):
//  - opened with O_NOFOLLOW|O_NONBLOCK: a symbolic link is refused (kNotServed,
//    a warning naming the file; decision: links could serve any file the process
//    can read, e.g. `A:E:L.json -> /etc/passwd`), and a FIFO, directory or device
//    named like a configuration is refused after fstat() without blocking;
//  - copied with read(2) into a heap buffer of at most kMaxConfigBytes + 1 bytes
//    (never mmap: a file truncated while mapped would raise SIGBUS); a file whose
//    size changes while it is read keeps the previous version (kBusy if none);
//  - a file that cannot be served is remembered by its lstat() identity, so it
//    is neither re-read nor re-logged until it changes.
// Finding names: misses never read the directory. A sorted index of the names
// holding two ':' is rebuilt only when the directory's mtime/ctime changes (or
// the last build may have raced a change within kRacyWindowNs), and at least
// once per poll interval; a lookup is a binary search. Worst case: one readdir
// of kMaxIndexNames names (~60 ms at 262,144; 11 ms at 50,000) per change of the
// directory (the operator's writes), never per request: a file created just
// before a read is found by that read, as before.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <sys/types.h>

#include "appconfig/agent/cache.h"

namespace appconfig::localdev {

// Keys tracked at once (found and not-found). Far above what a function reads;
// when full, the least recently checked not-found key is forgotten.
constexpr size_t kMaxTracked = 512;
// A file name: three segments of at most 128 bytes, two colons and an extension.
constexpr size_t kMaxFileName = 256 + 128 * 3;
// NAME_MAX: an extension can never be longer, so a content type is never cut.
constexpr size_t kMaxContentType = 256;
// Names indexed (only names with two ':' can be configurations). Reserved, touched as
// used: 262,144 names of ~40 bytes is ~10 MiB of RSS. A directory with more candidate
// names is indexed up to the limit (warning once); the names beyond are found by a
// readdir per missing key, at most once per key per poll interval.
constexpr size_t kMaxIndexNames = size_t{1} << 18;
constexpr size_t kMaxIndexNameBytes = size_t{16} << 20;
// File systems stamp mtimes from a coarse clock (one tick: 1..10 ms). An index built
// within this window after the directory's mtime may have missed a change made in the
// same tick, so it is rebuilt once more on the next miss.
constexpr int64_t kRacyWindowNs = 20'000'000;

enum class Status : uint8_t {
  kOk,           // the cache holds the file's current bytes
  kNotFound,     // no file for the key
  kTooLarge,     // over cache::kMaxConfigBytes
  kIoError,      // could not read the directory or the file
  kNoSpace,      // the cache could not hold it (see Outcome::put)
  kInvalid,      // a multi-variant flag file that does not compile (message names flag and offset)
  kNotServed,    // a symbolic link, FIFO, directory or device named like a configuration
  kBusy,         // the file changed while it was read and there is no previous version
};

struct Outcome {
  Status status = Status::kOk;
  cache::PutResult put{};
  char message[256] = {};
};

class Source {
 public:
  // dir must stay valid for the life of the Source (it points into the environment).
  bool init(std::string_view dir, uint64_t interval_ms, cache::Cache* cache, char* err, size_t err_cap);
  ~Source();
  // Makes the cache current for key: loads it on first use and re-checks the
  // file once interval_ms has passed since the last check.
  Status ensure(const cache::Key& key, uint64_t now_ms, Outcome& out);
  // Re-checks every known key whose interval has passed (the refresh hook).
  void refresh_due(uint64_t now_ms);
  size_t tracked() const { return used_; }
  // Directory reads so far (index builds and fallback scans): for tests.
  uint64_t directory_reads() const { return dir_reads_; }

 private:
  struct Tracked;
  Tracked* find(const cache::Key& key);
  Tracked* slot_for_new();
  Status check(Tracked& t, const cache::Key& key, uint64_t now_ms, Outcome& out);
  bool lookup(const cache::Key& key, uint64_t now_ms, char* name_out, size_t cap);
  bool scan(std::string_view want, char* name_out, size_t cap);
  void rebuild_index(uint64_t now_ms);
  Status load(Tracked& t, const cache::Key& key, Outcome& out, uint64_t now_ms);
  void not_found(const cache::Key& key, Outcome& out) const;

  char dir_[4096] = {};
  uint64_t interval_ms_ = 0;
  cache::Cache* cache_ = nullptr;
  Tracked* table_ = nullptr;
  size_t used_ = 0;

  // The name index: offsets into names_ (NUL-terminated), sorted by name.
  uint32_t* index_ = nullptr;
  char* names_ = nullptr;
  size_t index_count_ = 0;
  bool index_built_ = false;
  bool index_complete_ = true;
  bool index_racy_ = false;
  bool overflow_warned_ = false;
  uint64_t index_built_ms_ = 0;
  int64_t dir_mtime_ns_ = 0, dir_ctime_ns_ = 0;
  ino_t dir_ino_ = 0;
  uint64_t dir_reads_ = 0;
};

// The content type for a file extension (without the dot); writes into out.
// False (and application/octet-stream in out) when the extension holds a byte
// outside visible ASCII (0x21..0x7E), which a header must not carry.
bool content_type_for(std::string_view ext, char* out, size_t cap);

}  // namespace appconfig::localdev
