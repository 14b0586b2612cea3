// service: the local HTTP API of spec §1 — routes, answers and their errors.
//
// Owns: the routes (/applications/{app}/environments/{env}/configurations/{profile},
// /ping), path and query decoding and validation, the local-port security
// rules (X-Forwarded-For refused), `?flag=` filtering, response headers
// (Configuration-Version, Version-Label), and pinning cache entries while their
// bytes are written. Asks the configured source (local development files, or
// AWS AppConfig through retrieval, parking the read until the fetch settles)
// to make the cache current for a key.
// Knows nothing of sockets: it fills http_server Replies.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/agent/cache.h"
#include "appconfig/net/http_server.h"
#include "appconfig/agent/localdev.h"
#include "appconfig/agent/retrieval.h"
#include "appconfig/flags/variants.h"

namespace appconfig::service {

// Application, environment and profile: names or IDs of 1-128 characters (spec §1).
constexpr size_t kMaxSegmentBytes = 128;

struct Config {
  std::string_view version;  // reported by /ping
  cache::Cache* cache = nullptr;
  localdev::Source* local = nullptr;       // set in local development mode
  retrieval::Retriever* remote = nullptr;  // set when configurations come from AWS AppConfig
  http_server::Server* server = nullptr;   // to complete parked reads
  loop::Loop* loop = nullptr;
  // AWS_APPCONFIG_EXTENSION_REQUIRE_TOKEN=true: X-Aws-Parameters-Secrets-Token must equal this (AWS_SESSION_TOKEN).
  std::string_view required_secrets_token;
  // Agent ACCESS_TOKEN: `Authorization: Bearer <token>` must carry this.
  std::string_view access_token;
};

// Equality that takes the same time wherever the first difference is.
bool constant_time_equals(std::string_view a, std::string_view b);

// Splits and percent-decodes a configuration path (the part before '?').
// Returns 0 on success, else the HTTP status and a message in err.
struct PathKey {
  std::string_view application, environment, profile;
};
enum class PathResult : uint8_t { kConfig, kPing, kNotFound, kBad };
PathResult parse_path(std::string_view path, char* scratch, size_t cap, size_t* used, PathKey& key, char* err,
                      size_t err_cap);

class Service {
 public:
  void init(const Config& cfg) { cfg_ = cfg; }
  static void handle(void* ctx, http_server::Exchange& ex);

 private:
  void answer(http_server::Exchange& ex);
  static void on_fetched(void* ctx, http_server::ExchangeRef ref, int status, const char* message);
  void answer_config(http_server::Exchange& ex, const PathKey& key, std::string_view query);
  bool authorized(http_server::Exchange& ex);
  void answer_metrics(http_server::Exchange& ex);
  bool answer_variants(http_server::Exchange& ex, const cache::View& v, const std::string_view* keys, size_t num_keys);
  Config cfg_;
  // answer_variants' decoded Context pairs (4 KiB): the loop answers one request at a time, so
  // one is enough; kept here rather than on the stack.
  variants::Context context_;
};

}  // namespace appconfig::service
