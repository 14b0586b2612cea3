// localdev: local development mode (LOCAL_DEVELOPMENT_DIRECTORY, spec §7).
//
// Owns: finding the file for a key (`App:Env:Profile` or `App:Env:Profile.ext`
// in one directory), the content type its extension names, change detection by
// stat() at the poll interval, and loading the bytes into the cache. Never
// calls AWS. Knows nothing of HTTP.
// Extension rules: `.json` -> application/json; none -> application/octet-stream;
// `.type%subtype` -> type/subtype (a further `%` becomes `;`, for parameters);
// any other extension -> application/octet-stream. An exact name wins over a
// name with an extension; among extensions the first in byte order wins.
// `.application%ion%type=AWS.AppConfig.FeatureFlags` files (multi-variant flags
// in Ion text) are compiled into a variants blob once per change; a version that
// does not compile leaves the previous good one in service.
// Files are mapped read-only just long enough to copy them into the cache.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/cache.h"

namespace appconfig::localdev {

// Keys tracked at once (found and not-found). Far above what a function reads;
// when full, the least recently checked not-found key is forgotten.
constexpr size_t kMaxTracked = 512;
// A file name: three segments of at most 128 bytes, two colons and an extension.
constexpr size_t kMaxFileName = 256 + 128 * 3;
constexpr size_t kMaxContentType = 160;

enum class Status : uint8_t {
  kOk,           // the cache holds the file's current bytes
  kNotFound,     // no file for the key
  kTooLarge,     // over cache::kMaxConfigBytes
  kIoError,      // could not read the directory or the file
  kNoSpace,      // the cache could not hold it (see Outcome::put)
  kInvalid,      // a multi-variant flag file that does not compile (message names flag and offset)
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

 private:
  struct Tracked;
  Tracked* find(const cache::Key& key);
  Tracked* slot_for_new();
  Status check(Tracked& t, const cache::Key& key, uint64_t now_ms, Outcome& out);
  bool scan(const cache::Key& key, char* name_out, size_t cap);
  Status load(Tracked& t, const cache::Key& key, Outcome& out, uint64_t now_ms);

  char dir_[4096] = {};
  uint64_t interval_ms_ = 0;
  cache::Cache* cache_ = nullptr;
  Tracked* table_ = nullptr;
  size_t used_ = 0;
};

// The content type for a file extension (without the dot); writes into out.
void content_type_for(std::string_view ext, char* out, size_t cap);

}  // namespace appconfig::localdev
