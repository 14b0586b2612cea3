// settings: every environment variable the process reads, parsed and validated once at start-up
// (docs/settings.md has the full table).
//
// Owns: the variable names, their defaults, accepted forms and ranges, the Lambda-vs-agent
// precedence rule, and the init-error messages (each names the variable, the value and the
// accepted forms). An invalid value is always an error, never a silent default.
// Knows nothing of sockets, logging, AWS calls or the cache: it only describes what was asked for.
//
// Lifetimes: every std::string_view in Settings points either into the environment block passed
// to load() (environ lives for the process; a test's envp array must outlive the Settings) or into
// Settings::storage (percent-decoded prefetch / manifest names). Settings is large (~20 KiB): keep
// it static, not on the stack. load() never allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace appconfig::settings {

enum class Mode : uint8_t {
  kLambda,  // AWS_LAMBDA_RUNTIME_API is set: Lambda extension, AWS_APPCONFIG_EXTENSION_* names only
  kAgent,   // otherwise: long-running agent, the agent's short names (HTTP_PORT, ...) apply too
};

enum class LogLevel : uint8_t { kTrace, kDebug, kInfo, kWarn, kError, kFatal, kNone };

// Lower-case name of a level ("info"); "none" for kNone.
const char* log_level_name(LogLevel level);

// Log line format: text by default; JSON when asked (LOG_FORMAT=json) or when Lambda's
// advanced logging controls say so (AWS_LAMBDA_LOG_FORMAT=JSON). docs/logging.md.
enum class LogFormat : uint8_t { kText, kJson };
// Metrics (docs/metrics.md): off unless asked; EMF lines on stdout, or GET /metrics (agent only).
enum class Metrics : uint8_t { kOff, kEmf, kPrometheus };
const char* metrics_name(Metrics m);  // "off", "emf", "prometheus"

// The one table of settings: every variable load() reads, with its default as docs/settings.md
// shows it. `--help` prints it; test/integration/test_cli.py checks it against the docs and
// against the names load() reads, so the three cannot drift apart.
struct Variable {
  const char* name;          // the Lambda (AWS_APPCONFIG_EXTENSION_*) or standard name; nullptr: agent only
  const char* agent_name;    // the agent's short name; nullptr: none
  const char* default_text;  // "2772", "45 s", "—" (no default)
  const char* meaning;       // one line
};
std::span<const Variable> variables();

// One configuration key; names are percent-decoded. Views into Settings::storage (or the caller's
// storage for parse_key_ref).
struct KeyRef {
  std::string_view application, environment, profile;
};

// Keys fetched at init: far more than one function reads, and each costs a session at init time.
constexpr size_t kMaxPrefetch = 64;
// Extra headers on the proxy CONNECT: real proxies need one or two (auth, tracing).
constexpr size_t kMaxProxyHeaders = 16;
// AppConfig names and IDs are 1..128 characters (spec §1).
constexpr size_t kMaxNameBytes = 128;
// Bytes of decoded text kept inside Settings: 64 keys x 3 x 128 = 24 KiB would be the worst
// case, but names are short in practice; a list that does not fit is an error, not a truncation.
constexpr size_t kStorageBytes = 16384;

// Ranges where the public record is silent are our decisions (docs/settings.md).
constexpr uint16_t kDefaultHttpPort = 2772;
constexpr uint32_t kDefaultMaxConnections = 3;
constexpr uint32_t kMinMaxConnections = 1;
constexpr uint32_t kMaxMaxConnections = 64;  // upstream sockets are precious in a Lambda sandbox
// Local client connections (our setting, not the official agent's): a node-wide agent serves many
// clients; Lambda's RLIMIT_NOFILE is 1024. The maximum is http_server::kMaxConnections.
constexpr uint32_t kDefaultMaxClientConnectionsAgent = 1024;
constexpr uint32_t kDefaultMaxClientConnectionsLambda = 256;
constexpr uint32_t kMinMaxClientConnections = 1;
constexpr uint32_t kMaxMaxClientConnections = 16384;
constexpr uint64_t kDefaultPollIntervalMs = 45'000;
constexpr uint64_t kMinPollIntervalMs = 1'000;       // 1 s: local development re-reads files this often
constexpr uint64_t kMaxPollIntervalMs = 86'400'000;  // 24 h: the API's RequiredMinimumPollInterval maximum
constexpr uint64_t kDefaultPollTimeoutMs = 3'000;
constexpr uint64_t kMinPollTimeoutMs = 1;
constexpr uint64_t kMaxPollTimeoutMs = 600'000;  // 10 min: above Lambda's 15 min invoke makes no sense
constexpr size_t kDefaultCacheSizeBytes = size_t{16} << 20;
constexpr size_t kMinCacheSizeBytes = size_t{1} << 20;  // below 1 MiB the arena bookkeeping dominates
constexpr size_t kMaxCacheSizeBytes = size_t{1} << 30;  // 1 GiB: virtual reservation, sane upper bound

struct ProxyHeader {
  std::string_view name, value;
};

struct Settings {
  Mode mode;
  std::string_view runtime_api;  // AWS_LAMBDA_RUNTIME_API host:port (validated), empty in agent mode
  bool managed_instances;        // AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances

  uint16_t http_port;          // AWS_APPCONFIG_EXTENSION_HTTP_PORT (agent: HTTP_PORT), 2772
  // agent HTTP_HOST: "all", "localhost", an IP literal or a host name (resolved once at start);
  // "" = 127.0.0.1 and ::1. Unset under ECS (ECS_CONTAINER_METADATA_URI_V4) or Kubernetes
  // (KUBERNETES_SERVICE_HOST): "0.0.0.0", as the official agent.
  std::string_view http_host;
  LogLevel log_level;          // AWS_APPCONFIG_EXTENSION_LOG_LEVEL (agent: LOG_LEVEL), info
  bool log_level_from_lambda;  // log_level came from AWS_LAMBDA_LOG_LEVEL (ours unset)
  LogFormat log_format;        // _LOG_FORMAT (agent: LOG_FORMAT), else AWS_LAMBDA_LOG_FORMAT, text
  Metrics metrics;             // AWS_APPCONFIG_EXTENSION_METRICS (agent: METRICS), off
  std::string_view log_path;   // agent LOG_PATH; "" = stderr
  uint32_t max_connections;    // AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS (agent: MAX_CONNECTIONS), 3
  uint32_t max_client_connections;  // _MAX_CLIENT_CONNECTIONS (agent: MAX_CLIENT_CONNECTIONS), 1024 / Lambda 256
  uint64_t poll_interval_ms;   // _POLL_INTERVAL_SECONDS (agent: POLL_INTERVAL), 45 s
  uint64_t poll_timeout_ms;    // _POLL_TIMEOUT_MILLIS (agent: REQUEST_TIMEOUT), 3000 ms

  KeyRef prefetch[kMaxPrefetch];  // _PREFETCH_LIST (agent: PREFETCH_LIST); duplicates removed
  size_t num_prefetch;

  std::string_view proxy_url;          // _PROXY_URL (agent: PROXY_URL): http:// or https://
  std::string_view proxy_headers_raw;  // _PROXY_HEADERS (agent: PROXY_HEADERS): "h1: v1, h2: v2"
  ProxyHeader proxy_headers[kMaxProxyHeaders];
  size_t num_proxy_headers;

  std::string_view role_arn, role_external_id, role_session_name;  // _ROLE_* (agent: ROLE_*)
  // _SERVICE_REGION (agent: SERVICE_REGION), else AWS_REGION, else AWS_DEFAULT_REGION; may be ""
  // (main then tries the shared profile's region and instance metadata).
  std::string_view service_region;
  const char* region_source;  // the variable service_region came from ("" when none)

  std::string_view manifest;       // _MANIFEST (agent: MANIFEST), raw text
  std::string_view manifest_path;  // set when manifest is "file:/abs/path": the path part
  bool manifest_inline;            // the value is the manifest JSON itself (it starts with '{')
  KeyRef manifest_key;             // set when manifest is App:Env:Profile (decoded)
  bool wait_on_manifest;           // _WAIT_ON_MANIFEST (agent: WAIT_ON_MANIFEST), true

  std::string_view local_development_directory;  // LOCAL_DEVELOPMENT_DIRECTORY (both modes)
  size_t cache_size_bytes;                       // AWS_APPCONFIG_EXTENSION_CACHE_SIZE, 16 MiB
  bool require_token;                            // AWS_APPCONFIG_EXTENSION_REQUIRE_TOKEN, false
  std::string_view access_token;                 // agent ACCESS_TOKEN: require Authorization: Bearer
  std::string_view backup_directory;             // _BACKUP_DIRECTORY (agent: BACKUP_DIRECTORY)
  bool preload_backups;                          // _PRELOAD_BACKUPS (agent: PRELOAD_BACKUPS), true

  // Standard AWS SDK variables (same names in both modes). Secrets: never log them.
  std::string_view session_token;                       // AWS_SESSION_TOKEN (also the REQUIRE_TOKEN value)
  std::string_view access_key_id;                       // AWS_ACCESS_KEY_ID
  std::string_view secret_access_key;                   // AWS_SECRET_ACCESS_KEY
  std::string_view container_credentials_full_uri;      // AWS_CONTAINER_CREDENTIALS_FULL_URI
  std::string_view container_credentials_relative_uri;  // AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
  std::string_view container_authorization_token;       // AWS_CONTAINER_AUTHORIZATION_TOKEN
  std::string_view container_authorization_token_file;  // AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
  std::string_view endpoint_url_appconfigdata;          // AWS_ENDPOINT_URL_APPCONFIGDATA (http/https URL)
  std::string_view endpoint_url_sts;                    // AWS_ENDPOINT_URL_STS
  std::string_view endpoint_url;                        // AWS_ENDPOINT_URL (fallback for both)
  std::string_view ca_bundle;                           // AWS_CA_BUNDLE (path)
  bool use_fips_endpoint;                               // AWS_USE_FIPS_ENDPOINT, false
  bool use_dualstack_endpoint;                          // AWS_USE_DUALSTACK_ENDPOINT, false
  // The SDKs' credential chain outside the environment keys (docs/credentials.md).
  std::string_view web_identity_token_file;  // AWS_WEB_IDENTITY_TOKEN_FILE (EKS IRSA)
  std::string_view aws_role_arn;             // AWS_ROLE_ARN (with the token file)
  std::string_view aws_role_session_name;    // AWS_ROLE_SESSION_NAME
  std::string_view profile;                  // AWS_PROFILE; "" = "default"
  bool profile_explicit;                     // AWS_PROFILE was set: a missing profile is an error
  std::string_view shared_credentials_file;  // AWS_SHARED_CREDENTIALS_FILE; "" = $HOME/.aws/credentials
  std::string_view config_file;              // AWS_CONFIG_FILE; "" = $HOME/.aws/config
  std::string_view home;                     // HOME (for the default file paths and a leading "~/")
  std::string_view ec2_metadata_endpoint;    // AWS_EC2_METADATA_SERVICE_ENDPOINT (http[s]:// URL)
  bool ec2_metadata_ipv6;                    // AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6
  bool ec2_metadata_disabled;                // AWS_EC2_METADATA_DISABLED, false

  char storage[kStorageBytes];  // decoded strings (prefetch, manifest key)
  size_t storage_used;
};

struct Error {
  char message[512];
};

// envp: NULL-terminated "NAME=value" array (environ); entries without '=' are ignored; for a name
// present twice the first wins (as getenv). Precedence: the AWS_APPCONFIG_EXTENSION_* name wins;
// in agent mode the agent's short name is read when the long one is unset. Empty value = unset.
// On failure `out` is unspecified and err.message is one line naming the variable, the value and
// the accepted forms.
bool load(const char* const* envp, Settings& out, Error& err);

// ---- parsers, exposed for tests and reuse. All reject empty input, whitespace, signs and
// trailing junk; all numbers are overflow-checked. They never write *out on failure.

// Duration: Go's time.ParseDuration grammar ("1.5s", "1h30m", "300ms", "2h45m10.5s", units ns us
// µs μs ms s m h, any order), at most Go's int64 nanoseconds, truncated to whole milliseconds; or a
// bare integer in the default unit, here seconds ("45"). docs/settings.md ("Durations").
bool parse_duration_ms(std::string_view text, uint64_t* out_ms);
// Same grammar, default unit milliseconds: "3000", "300ms", "5s", "1m", "1.5s".
bool parse_timeout_ms(std::string_view text, uint64_t* out_ms);
// Bytes: "16777216", "4096B", binary "4KiB" "16MiB" "1GiB" (also "Ki", "Mi", "Gi", "K", "M", "G"),
// decimal SI "4KB" "4MB" "1GB" (10^3, 10^6, 10^9). Units case-insensitive.
bool parse_size_bytes(std::string_view text, size_t* out);
// true/false/1/0/yes/no, case-insensitive.
bool parse_bool(std::string_view text, bool* out);
// trace, debug, info, warn, error, fatal, none; case-insensitive.
bool parse_log_level(std::string_view text, LogLevel* out);
// Decimal 1..65535.
bool parse_port(std::string_view text, uint16_t* out);
// "App:Env:Profile" or "/applications/A/environments/E/configurations/P"; each segment
// percent-decoded into storage[*used..cap) (advancing *used), 1..kMaxNameBytes bytes decoded, no
// NUL byte. On failure *used is unchanged.
bool parse_key_ref(std::string_view text, KeyRef& out, char* storage, size_t cap, size_t* used);

// A URL as it may be shown in a message: any userinfo (`user:password@`) in the authority is
// replaced by `***@` (written into out). Returns url itself when it has none, or "(URL hidden)"
// when out is too small. Every message that prints a URL from input goes through this.
std::string_view redact_userinfo(std::string_view url, char* out, size_t cap);

}  // namespace appconfig::settings
