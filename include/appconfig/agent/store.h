// store: turns the bytes of a configuration into a cache entry.
//
// Owns: what a configuration is stored as — plain JSON flag documents are
// recognised once (for ?flag=), multi-variant flag profiles (Ion text or
// binary, content type application/ion…) are compiled into a variants blob
// once, everything else is stored as it came. Used by every source: AWS
// AppConfig (retrieval), local development files (localdev) and backups.
// Knows nothing of where the bytes came from or of HTTP.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/agent/cache.h"

namespace appconfig::store {

enum class Status : uint8_t {
  kStored,
  kInvalid,   // an Ion flag profile that does not compile (message names flag and offset)
  kNoSpace,   // the cache cannot hold it (message has the sizes)
};

// Stores `bytes` for key. On failure the previous version (if any) stays in
// the cache and `message` says why; `name` prefixes it (e.g. "App:Env:Prof").
// On kNoSpace the previous version is marked stale (cache::Cache::mark_stale) and
// the message says so: callers log it at warn level or above.
Status put(cache::Cache& cache, const cache::Key& key, std::string_view bytes, std::string_view content_type,
           std::string_view version_label, uint64_t now_ms, char* message, size_t message_cap);

}  // namespace appconfig::store
