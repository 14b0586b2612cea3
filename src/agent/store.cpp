#include "appconfig/agent/store.h"

#include <cstdio>
#include <cstring>
#include <sys/mman.h>

#include "appconfig/flags/flags.h"
#include "appconfig/flags/variants.h"

namespace appconfig::store {

Status put(cache::Cache& cache, const cache::Key& key, std::string_view bytes, std::string_view content_type,
           std::string_view version_label, uint64_t now_ms, char* message, size_t message_cap) {
  std::string_view ct = content_type.empty() ? std::string_view("application/octet-stream") : content_type;
  auto name = [&](const char* fmt_tail, auto... args) {
    int n = snprintf(message, message_cap, "%.*s:%.*s:%.*s: ", static_cast<int>(key.application.size()),
                     key.application.data(), static_cast<int>(key.environment.size()), key.environment.data(),
                     static_cast<int>(key.profile.size()), key.profile.data());
    if (n > 0 && static_cast<size_t>(n) < message_cap) snprintf(message + n, message_cap - n, fmt_tail, args...);
  };
  // A newer version that cannot be stored leaves the previous one in service: say so to its
  // readers (cache::View::stale_since_ms) and in the message the caller logs.
  auto stale = [&]() {
    if (!cache.mark_stale(key, now_ms)) return;
    size_t n = strlen(message);
    if (n < message_cap)
      snprintf(message + n, message_cap - n, "; the previous version is still served, marked stale");
  };
  if (bytes.size() > cache::kMaxConfigBytes) {
    name("the configuration is %zu bytes, over the %zu-byte limit", bytes.size(), cache::kMaxConfigBytes);
    stale();
    return Status::kNoSpace;
  }
  bool is_json = ct.substr(0, 16) == "application/json";
  cache::Value v{.bytes = bytes,
                 .content_type = ct,
                 .version_label = version_label,
                 .feature_flags = is_json && flags::is_flag_document(bytes),
                 .variants = false};
  // Multi-variant flags: compile once here; reads evaluate the blob.
  void* blob = nullptr;
  size_t blob_cap = 0;
  if (ct.substr(0, 15) == "application/ion") {
    blob_cap = variants::compile_capacity_hint(bytes.size());
    blob = mmap(nullptr, blob_cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (blob == MAP_FAILED) {
      name("%s", "out of memory compiling the feature flag profile");
      return Status::kInvalid;
    }
    variants::CompileResult cr = variants::looks_like_ion_binary(bytes)
                                     ? variants::compile_ion_binary(bytes, static_cast<uint8_t*>(blob), blob_cap)
                                     : variants::compile_ion_text(bytes, static_cast<uint8_t*>(blob), blob_cap);
    if (!cr.ok) {
      munmap(blob, blob_cap);
      // The compiler's message (flag, problem, offset) must survive the caller's 256-byte message.
      name("not a feature flag profile this extension can read: %s", cr.message);
      return Status::kInvalid;
    }
    v = cache::Value{std::string_view(static_cast<const char*>(blob), cr.blob_len), "application/json",
                     version_label, false, true};
  }
  cache::PutResult pr = cache.put(key, v, now_ms);
  if (blob != nullptr) munmap(blob, blob_cap);
  if (pr.status != cache::PutStatus::kStored) {
    name("the cache cannot hold this configuration (%s): it needs %zu bytes, the arena has %zu with %zu free; "
         "raise AWS_APPCONFIG_EXTENSION_CACHE_SIZE",
         cache::status_message(pr.status), pr.needed_bytes, pr.arena_bytes, pr.free_bytes);
    stale();
    return Status::kNoSpace;
  }
  return Status::kStored;
}

}  // namespace appconfig::store
