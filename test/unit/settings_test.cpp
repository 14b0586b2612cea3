// settings: every variable valid and invalid, defaults, precedence, list forms, parsers.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/core/settings.h"
#include "appconfig/core/text.h"

#include <gtest/gtest.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace appconfig::settings;

namespace {

// Owns the "NAME=value" strings; envp() stays valid while the Env lives.
class Env {
 public:
  Env(std::initializer_list<std::string> entries) : entries_(entries) { rebuild(); }
  void add(std::string e) {
    entries_.push_back(std::move(e));
    rebuild();
  }
  const char* const* envp() const { return ptrs_.data(); }

 private:
  void rebuild() {
    ptrs_.clear();
    for (auto& e : entries_) ptrs_.push_back(e.c_str());
    ptrs_.push_back(nullptr);
  }
  std::vector<std::string> entries_;
  std::vector<const char*> ptrs_;
};

struct Loaded {
  std::unique_ptr<Settings> s = std::make_unique<Settings>();
  Error err{};
  bool ok = false;
};

Loaded load_env(const Env& env) {
  Loaded l;
  l.ok = load(env.envp(), *l.s, l.err);
  return l;
}

// Expects success and returns the settings.
#define LOAD_OK(env_, var_)     \
  Loaded var_ = load_env(env_); \
  ASSERT_TRUE(var_.ok) << var_.err.message

// Expects failure whose message names the variable.
std::string load_fail(const Env& env, const std::string& name) {
  Loaded l = load_env(env);
  EXPECT_FALSE(l.ok) << "expected " << name << " to be rejected";
  std::string msg = l.err.message;
  EXPECT_NE(msg.find(name), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  return msg;
}

const std::string kL = "AWS_APPCONFIG_EXTENSION_";
const std::string kLambda = "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001";

std::string key_str(const KeyRef& k) {
  return std::string(k.application) + "|" + std::string(k.environment) + "|" + std::string(k.profile);
}

}  // namespace

// ---------------------------------------------------------------- defaults and mode

TEST(SettingsLoad, DefaultsInAgentMode) {
  Env env{};
  LOAD_OK(env, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.mode, Mode::kAgent);
  EXPECT_TRUE(s.runtime_api.empty());
  EXPECT_FALSE(s.managed_instances);
  EXPECT_EQ(s.http_port, 2772);
  EXPECT_TRUE(s.http_host.empty());
  EXPECT_EQ(s.log_level, LogLevel::kInfo);
  EXPECT_TRUE(s.log_path.empty());
  EXPECT_EQ(s.max_connections, 3u);
  EXPECT_EQ(s.poll_interval_ms, 45000u);
  EXPECT_EQ(s.poll_timeout_ms, 3000u);
  EXPECT_EQ(s.num_prefetch, 0u);
  EXPECT_TRUE(s.proxy_url.empty());
  EXPECT_EQ(s.num_proxy_headers, 0u);
  EXPECT_TRUE(s.role_arn.empty());
  EXPECT_TRUE(s.service_region.empty());
  EXPECT_TRUE(s.manifest.empty());
  EXPECT_TRUE(s.wait_on_manifest);
  EXPECT_TRUE(s.local_development_directory.empty());
  EXPECT_EQ(s.cache_size_bytes, size_t{16} << 20);
  EXPECT_FALSE(s.require_token);
  EXPECT_TRUE(s.access_token.empty());
  EXPECT_TRUE(s.backup_directory.empty());
  EXPECT_TRUE(s.preload_backups);
  EXPECT_TRUE(s.session_token.empty());
  EXPECT_FALSE(s.use_fips_endpoint);
  EXPECT_FALSE(s.use_dualstack_endpoint);
  EXPECT_EQ(s.storage_used, 0u);
}

TEST(SettingsLoad, NullEnvpIsEmpty) {
  auto s = std::make_unique<Settings>();
  Error err{};
  ASSERT_TRUE(load(nullptr, *s, err));
  EXPECT_EQ(s->mode, Mode::kAgent);
  EXPECT_EQ(s->http_port, 2772);
}

TEST(SettingsLoad, ReloadResetsEverything) {
  auto s = std::make_unique<Settings>();
  Error err{};
  Env a{"HTTP_PORT=80", "PREFETCH_LIST=a:b:c", "AWS_REGION=us-east-1"};
  ASSERT_TRUE(load(a.envp(), *s, err));
  EXPECT_EQ(s->num_prefetch, 1u);
  Env b{};
  ASSERT_TRUE(load(b.envp(), *s, err));
  EXPECT_EQ(s->http_port, 2772);
  EXPECT_EQ(s->num_prefetch, 0u);
  EXPECT_TRUE(s->service_region.empty());
}

TEST(SettingsLoad, LambdaMode) {
  Env env{kLambda, "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand"};
  LOAD_OK(env, l);
  EXPECT_EQ(l.s->mode, Mode::kLambda);
  EXPECT_EQ(l.s->runtime_api, "127.0.0.1:9001");
  EXPECT_FALSE(l.s->managed_instances);
}

TEST(SettingsLoad, ManagedInstances) {
  Env env{kLambda, "AWS_LAMBDA_INITIALIZATION_TYPE=lambda-managed-instances"};
  LOAD_OK(env, l);
  EXPECT_TRUE(l.s->managed_instances);
  // Unknown types from a future Lambda are accepted, not managed.
  Env env2{kLambda, "AWS_LAMBDA_INITIALIZATION_TYPE=something-new"};
  LOAD_OK(env2, l2);
  EXPECT_FALSE(l2.s->managed_instances);
}

TEST(SettingsLoad, RuntimeApiForms) {
  for (const char* ok : {"127.0.0.1:9001", "localhost:1", "[::1]:9001", "sandbox.local:65535"}) {
    Env env{std::string("AWS_LAMBDA_RUNTIME_API=") + ok};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->runtime_api, ok);
  }
  for (const char* bad : {"127.0.0.1", ":9001", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:90a1", "host:", "[::1]",
                          "[]:1", "[::1]x:1", "a b:1", "http://127.0.0.1:9001"}) {
    Env env{std::string("AWS_LAMBDA_RUNTIME_API=") + bad};
    std::string msg = load_fail(env, "AWS_LAMBDA_RUNTIME_API");
    EXPECT_NE(msg.find("host:port"), std::string::npos) << msg;
  }
}

TEST(SettingsLoad, EmptyValueIsUnset) {
  Env env{"AWS_LAMBDA_RUNTIME_API=", kL + "HTTP_PORT=", kL + "LOG_LEVEL=", "HTTP_PORT=81"};
  LOAD_OK(env, l);
  EXPECT_EQ(l.s->mode, Mode::kAgent);
  EXPECT_EQ(l.s->http_port, 81);  // the long name is empty = unset, so the agent name applies
  EXPECT_EQ(l.s->log_level, LogLevel::kInfo);
}

TEST(SettingsLoad, EnvpParsingEdgeCases) {
  // Entries without '=' are ignored; a longer name sharing a prefix is not a match; the first of
  // two identical names wins (as getenv).
  Env env{"HTTP_PORT", "HTTP_PORTX=1", "XHTTP_PORT=2", "HTTP_PORT=3000", "HTTP_PORT=4000"};
  LOAD_OK(env, l);
  EXPECT_EQ(l.s->http_port, 3000);
  Env env2{"HTTP_PORT=a=b"};
  load_fail(env2, "HTTP_PORT");
}

// ---------------------------------------------------------------- precedence

TEST(SettingsLoad, LongNameWinsOverAgentName) {
  Env env{kL + "HTTP_PORT=1111",           "HTTP_PORT=2222",   kL + "LOG_LEVEL=debug",         "LOG_LEVEL=error",
          kL + "POLL_INTERVAL_SECONDS=10", "POLL_INTERVAL=20", kL + "POLL_TIMEOUT_MILLIS=100", "REQUEST_TIMEOUT=200"};
  LOAD_OK(env, l);
  EXPECT_EQ(l.s->http_port, 1111);
  EXPECT_EQ(l.s->log_level, LogLevel::kDebug);
  EXPECT_EQ(l.s->poll_interval_ms, 10000u);
  EXPECT_EQ(l.s->poll_timeout_ms, 100u);
}

TEST(SettingsLoad, AgentNamesReadInAgentMode) {
  Env env{"HTTP_PORT=8080",
          "HTTP_HOST=0.0.0.0",
          "LOG_LEVEL=Warn",
          "LOG_PATH=/var/log/agent.log",
          "MAX_CONNECTIONS=10",
          "POLL_INTERVAL=2m",
          "REQUEST_TIMEOUT=5s",
          "PREFETCH_LIST=a:b:c",
          "PROXY_URL=http://proxy:3128",
          "PROXY_HEADERS=X-A: 1",
          "ROLE_ARN=arn:aws:iam::123456789012:role/R",
          "ROLE_EXTERNAL_ID=ext-1",
          "ROLE_SESSION_NAME=sess",
          "SERVICE_REGION=eu-west-1",
          "MANIFEST=file:/etc/m.json",
          "WAIT_ON_MANIFEST=false",
          "ACCESS_TOKEN=tok123",
          "BACKUP_DIRECTORY=/var/backup",
          "PRELOAD_BACKUPS=no"};
  LOAD_OK(env, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.http_port, 8080);
  EXPECT_EQ(s.http_host, "0.0.0.0");
  EXPECT_EQ(s.log_level, LogLevel::kWarn);
  EXPECT_EQ(s.log_path, "/var/log/agent.log");
  EXPECT_EQ(s.max_connections, 10u);
  EXPECT_EQ(s.poll_interval_ms, 120000u);
  EXPECT_EQ(s.poll_timeout_ms, 5000u);
  ASSERT_EQ(s.num_prefetch, 1u);
  EXPECT_EQ(s.proxy_url, "http://proxy:3128");
  ASSERT_EQ(s.num_proxy_headers, 1u);
  EXPECT_EQ(s.role_arn, "arn:aws:iam::123456789012:role/R");
  EXPECT_EQ(s.role_external_id, "ext-1");
  EXPECT_EQ(s.role_session_name, "sess");
  EXPECT_EQ(s.service_region, "eu-west-1");
  EXPECT_EQ(s.manifest_path, "/etc/m.json");
  EXPECT_FALSE(s.wait_on_manifest);
  EXPECT_EQ(s.access_token, "tok123");
  EXPECT_EQ(s.backup_directory, "/var/backup");
  EXPECT_FALSE(s.preload_backups);
}

TEST(SettingsLoad, AgentNamesIgnoredInLambdaMode) {
  // A function's own LOG_LEVEL or HTTP_PORT must not reconfigure the extension, even if invalid.
  Env env{kLambda,
          "HTTP_PORT=notaport",
          "HTTP_HOST=0.0.0.0",
          "LOG_LEVEL=verbose",
          "LOG_PATH=/tmp/x",
          "POLL_INTERVAL=x",
          "REQUEST_TIMEOUT=x",
          "PREFETCH_LIST=,,,",
          "ACCESS_TOKEN=a b",
          "MAX_CONNECTIONS=0",
          "PROXY_URL=ftp://x",
          "MANIFEST=bad",
          "PRELOAD_BACKUPS=x"};
  LOAD_OK(env, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.http_port, 2772);
  EXPECT_TRUE(s.http_host.empty());
  EXPECT_EQ(s.log_level, LogLevel::kInfo);
  EXPECT_TRUE(s.log_path.empty());
  EXPECT_EQ(s.poll_interval_ms, 45000u);
  EXPECT_EQ(s.num_prefetch, 0u);
  EXPECT_TRUE(s.access_token.empty());
  EXPECT_TRUE(s.proxy_url.empty());
  EXPECT_TRUE(s.manifest.empty());
  EXPECT_TRUE(s.preload_backups);
}

TEST(SettingsLoad, LambdaReadsLongNames) {
  Env env{kLambda,
          kL + "HTTP_PORT=2773",
          kL + "LOG_LEVEL=TRACE",
          kL + "MAX_CONNECTIONS=64",
          kL + "POLL_INTERVAL_SECONDS=1h",
          kL + "POLL_TIMEOUT_MILLIS=250ms",
          kL + "PREFETCH_LIST=/applications/A/environments/E/configurations/P",
          kL + "CACHE_SIZE=4MiB",
          kL + "REQUIRE_TOKEN=TRUE",
          "AWS_SESSION_TOKEN=IQoJb3JpZ2luX2VjEJ//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==",
          kL + "BACKUP_DIRECTORY=/tmp/backup",
          kL + "PRELOAD_BACKUPS=0"};
  LOAD_OK(env, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.http_port, 2773);
  EXPECT_EQ(s.log_level, LogLevel::kTrace);
  EXPECT_EQ(s.max_connections, 64u);
  EXPECT_EQ(s.poll_interval_ms, 3600000u);
  EXPECT_EQ(s.poll_timeout_ms, 250u);
  ASSERT_EQ(s.num_prefetch, 1u);
  EXPECT_EQ(key_str(s.prefetch[0]), "A|E|P");
  EXPECT_EQ(s.cache_size_bytes, size_t{4} << 20);
  EXPECT_TRUE(s.require_token);
  EXPECT_EQ(s.backup_directory, "/tmp/backup");
  EXPECT_FALSE(s.preload_backups);
}

// ---------------------------------------------------------------- each variable, invalid forms

TEST(SettingsLoad, HttpPort) {
  for (const char* bad : {"0", "65536", "-1", "+80", " 80", "80 ", "8o", "0x50", "99999999999999999999999", "2772.0"}) {
    Env env{kL + "HTTP_PORT=" + bad};
    std::string msg = load_fail(env, kL + "HTTP_PORT");
    EXPECT_NE(msg.find("1 to 65535"), std::string::npos) << msg;
  }
  Env ok{kL + "HTTP_PORT=65535"};
  LOAD_OK(ok, l);
  EXPECT_EQ(l.s->http_port, 65535);
  Env ok1{kL + "HTTP_PORT=00001"};
  LOAD_OK(ok1, l1);
  EXPECT_EQ(l1.s->http_port, 1);
}

TEST(SettingsLoad, HttpHost) {
  for (const char* ok : {"0.0.0.0", "127.0.0.1", "::1", "[::1]", "::", "localhost", "10.1.2.3", "all", "example.com",
                         "node-1.internal"}) {
    Env env{std::string("HTTP_HOST=") + ok};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->http_host, ok);
  }
  for (const char* bad : {"1.2.3", "256.0.0.1", "[::1", "localhost:2772", "0.0.0.0 ", "a b", ".x", "-x", "x.",
                          "[example.com]"}) {
    Env env{std::string("HTTP_HOST=") + bad};
    load_fail(env, "HTTP_HOST");
  }
}

TEST(SettingsLoad, LogLevelAllNamesAnyCase) {
  const std::pair<const char*, LogLevel> cases[] = {
      {"trace", LogLevel::kTrace}, {"DEBUG", LogLevel::kDebug}, {"Info", LogLevel::kInfo}, {"wArN", LogLevel::kWarn},
      {"error", LogLevel::kError}, {"FATAL", LogLevel::kFatal}, {"None", LogLevel::kNone}};
  for (auto& [text, level] : cases) {
    Env env{kL + "LOG_LEVEL=" + text};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->log_level, level) << text;
  }
  for (const char* bad : {"verbose", "warning", "inf", "info ", "0", "INFOO"}) {
    Env env{kL + "LOG_LEVEL=" + bad};
    std::string msg = load_fail(env, kL + "LOG_LEVEL");
    EXPECT_NE(msg.find("trace, debug, info, warn, error, fatal or none"), std::string::npos) << msg;
  }
}

TEST(SettingsLoad, MaxConnections) {
  for (const char* bad : {"0", "65", "-3", "3.0", "three", "4294967297"}) {
    Env env{kL + "MAX_CONNECTIONS=" + bad};
    std::string msg = load_fail(env, kL + "MAX_CONNECTIONS");
    EXPECT_NE(msg.find("1 to 64"), std::string::npos) << msg;
  }
  Env ok{kL + "MAX_CONNECTIONS=1"};
  LOAD_OK(ok, l);
  EXPECT_EQ(l.s->max_connections, 1u);
}

TEST(SettingsLoad, PollInterval) {
  const std::pair<const char*, uint64_t> ok[] = {
      {"45", 45000}, {"45s", 45000},      {"1m", 60000},     {"1h", 3600000},  {"1m30s", 90000}, {"1h1m1s", 3661000},
      {"1", 1000},   {"86400", 86400000}, {"24h", 86400000}, {"1500ms", 1500}, {"1s500ms", 1500},
      // Go's grammar: fractions, any order, repeats, sub-millisecond units (truncated to ms).
      {"1.5m", 90000}, {"1s1m", 61000}, {"1m1m", 120000}, {"1.5s", 1500}, {"2h45m10.5s", 9910500},
      {".5h", 1800000}, {"1.s", 1000}, {"1500000us", 1500}, {"1500000\xc2\xb5s", 1500}, {"1500000\xce\xbcs", 1500},
      {"1000000001ns", 1000}, {"1.0009s", 1000}, {"1h0.5m", 3630000}};
  for (auto& [text, ms] : ok) {
    Env env{kL + "POLL_INTERVAL_SECONDS=" + text};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->poll_interval_ms, ms) << text;
  }
  for (const char* bad : {"abc", "45S", "1.5", "1.", ".s", ".", "m", "s45", "45 s", "-45", "+45s", "-1s", "1d",
                          "45sec", "1mm", "1h30", "1e3s", "1\xc2s", "18446744073709551616", "99999999999999999h",
                          "2562048h", "9223372036854775808ns"}) {
    Env env{kL + "POLL_INTERVAL_SECONDS=" + bad};
    std::string msg = load_fail(env, kL + "POLL_INTERVAL_SECONDS");
    EXPECT_NE(msg.find("45s, 1m, 1h"), std::string::npos) << msg;
  }
  for (const char* out_of_range : {"0", "0s", "999ms", "86401", "24h1s", "25h"}) {
    Env env{kL + "POLL_INTERVAL_SECONDS=" + out_of_range};
    std::string msg = load_fail(env, kL + "POLL_INTERVAL_SECONDS");
    EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  }
}

TEST(SettingsLoad, PollTimeoutExactMessage) {
  Env env{kL + "POLL_TIMEOUT_MILLIS=abc"};
  Loaded l = load_env(env);
  ASSERT_FALSE(l.ok);
  EXPECT_STREQ(l.err.message,
               "AWS_APPCONFIG_EXTENSION_POLL_TIMEOUT_MILLIS=\"abc\" is not a valid timeout: use milliseconds (3000) "
               "or a duration with a unit (300ms, 5s, 1.5s)");
}

TEST(SettingsLoad, PollTimeout) {
  const std::pair<const char*, uint64_t> ok[] = {{"3000", 3000}, {"300ms", 300},  {"5s", 5000},
                                                 {"1", 1},       {"10m", 600000}, {"1m30s", 90000}};
  for (auto& [text, ms] : ok) {
    Env env{kL + "POLL_TIMEOUT_MILLIS=" + text};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->poll_timeout_ms, ms) << text;
  }
  const std::pair<const char*, uint64_t> go[] = {{"1.5s", 1500}, {"300ms", 300}, {"0.25s", 250}, {"1500us", 1}};
  for (auto& [text, ms] : go) {
    Env env{"REQUEST_TIMEOUT=" + std::string(text)};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->poll_timeout_ms, ms) << text;
  }
  for (const char* bad : {"0", "0ms", "600001", "11m", "1h", "300us", "999999ns"}) {
    Env env{kL + "POLL_TIMEOUT_MILLIS=" + bad};
    std::string msg = load_fail(env, kL + "POLL_TIMEOUT_MILLIS");
    EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  }
  Env agent{"REQUEST_TIMEOUT=3 s"};
  load_fail(agent, "REQUEST_TIMEOUT");
}

TEST(SettingsLoad, CacheSize) {
  const std::pair<const char*, size_t> ok[] = {
      {"16777216", 16777216}, {"4MB", 4000000},    {"4mb", 4000000},    {"16MiB", 16u << 20},
      {"16M", 16u << 20},     {"16Mi", 16u << 20}, {"512KiB", 0},       {"1GiB", size_t{1} << 30},
      {"1048576B", 1u << 20}, {"1024k", 1u << 20}, {"1gb", 1000000000}, {"2GB", 0},
      {"1048575", 0}};
  for (auto& [text, bytes] : ok) {
    size_t parsed = 0;
    ASSERT_TRUE(parse_size_bytes(text, &parsed)) << text;
    Env env{kL + "CACHE_SIZE=" + text};
    if (bytes == 0) {  // parses, but outside 1 MiB .. 1 GiB
      std::string msg = load_fail(env, kL + "CACHE_SIZE");
      EXPECT_NE(msg.find("1MiB to 1GiB"), std::string::npos) << msg;
      continue;
    }
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->cache_size_bytes, bytes) << text;
  }
  for (const char* bad : {"4 MB", "MB", "4MBs", "4TB", "-4MB", "1.5MB", "0x100000", "4MiBB", "18446744073709551615G"}) {
    Env env{kL + "CACHE_SIZE=" + bad};
    std::string msg = load_fail(env, kL + "CACHE_SIZE");
    EXPECT_NE(msg.find("16MiB"), std::string::npos) << msg;
  }
  // Agent mode has no short name for it.
  Env agent{"CACHE_SIZE=2MiB"};
  LOAD_OK(agent, l);
  EXPECT_EQ(l.s->cache_size_bytes, size_t{16} << 20);
}

TEST(SettingsLoad, Booleans) {
  const std::pair<const char*, bool> ok[] = {{"true", true}, {"TRUE", true},   {"1", true},      {"yes", true},
                                             {"Yes", true},  {"false", false}, {"FaLsE", false}, {"0", false},
                                             {"no", false},  {"NO", false}};
  for (auto& [text, v] : ok) {
    Env env{kL + "WAIT_ON_MANIFEST=" + text, kL + "PRELOAD_BACKUPS=" + text,
            std::string("AWS_USE_FIPS_ENDPOINT=") + text, std::string("AWS_USE_DUALSTACK_ENDPOINT=") + text};
    LOAD_OK(env, l);
    EXPECT_EQ(l.s->wait_on_manifest, v) << text;
    EXPECT_EQ(l.s->preload_backups, v) << text;
    EXPECT_EQ(l.s->use_fips_endpoint, v) << text;
    EXPECT_EQ(l.s->use_dualstack_endpoint, v) << text;
  }
  for (const std::string& name : {kL + "WAIT_ON_MANIFEST", kL + "PRELOAD_BACKUPS", kL + "REQUIRE_TOKEN",
                                  std::string("AWS_USE_FIPS_ENDPOINT"), std::string("AWS_USE_DUALSTACK_ENDPOINT")}) {
    for (const char* bad : {"maybe", "on", "2", "t", "true "}) {
      Env env{name + "=" + bad};
      std::string msg = load_fail(env, name);
      EXPECT_NE(msg.find("true or false"), std::string::npos) << msg;
    }
  }
}

TEST(SettingsLoad, RequireTokenNeedsSessionToken) {
  Env env{kL + "REQUIRE_TOKEN=true"};
  std::string msg = load_fail(env, "AWS_SESSION_TOKEN");
  EXPECT_NE(msg.find("REQUIRE_TOKEN"), std::string::npos);
  Env ok{kL + "REQUIRE_TOKEN=true", "AWS_SESSION_TOKEN=abc"};
  LOAD_OK(ok, l);
  EXPECT_TRUE(l.s->require_token);
  EXPECT_EQ(l.s->session_token, "abc");
}

TEST(SettingsLoad, SecretsAreNeverEchoed) {
  const std::string secret = "s3cr3t-VALUE";
  const std::vector<std::string> entries = {
      "ACCESS_TOKEN=" + secret + " x",          // space: invalid
      "AWS_SESSION_TOKEN=" + secret + "\n",     // control: invalid
      "AWS_SECRET_ACCESS_KEY=" + secret + " ",  // space: invalid
      "AWS_CONTAINER_AUTHORIZATION_TOKEN=" + secret + "\r\n",
      kL + "PROXY_URL=http://user:" + secret + "@proxy:3128/path",
      kL + "PROXY_URL=http://p:1",  // valid, followed by bad headers below
  };
  for (size_t i = 0; i + 1 < entries.size(); ++i) {
    Env env{entries[i]};
    Loaded l = load_env(env);
    ASSERT_FALSE(l.ok) << entries[i];
    EXPECT_EQ(std::string(l.err.message).find(secret), std::string::npos) << l.err.message;
    EXPECT_NE(std::string(l.err.message).find("hidden"), std::string::npos) << l.err.message;
  }
  Env env{entries.back(), kL + "PROXY_HEADERS=Proxy-Authorization " + secret};
  Loaded l = load_env(env);
  ASSERT_FALSE(l.ok);
  EXPECT_EQ(std::string(l.err.message).find(secret), std::string::npos) << l.err.message;
}

TEST(SettingsLoad, ControlCharactersEscapedInMessage) {
  Env env{kL + "LOG_LEVEL=info\nFATAL fake line\x1b[31m"};
  std::string msg = load_fail(env, kL + "LOG_LEVEL");
  EXPECT_NE(msg.find("info\\x0aFATAL fake line\\x1b[31m"), std::string::npos) << msg;
  // Long values are cut in the message.
  Env env2{kL + "LOG_LEVEL=" + std::string(1000, 'x')};
  std::string msg2 = load_fail(env2, kL + "LOG_LEVEL");
  EXPECT_NE(msg2.find("\"..."), std::string::npos) << msg2;
  EXPECT_NE(msg2.find("none"), std::string::npos) << "accepted forms must survive truncation: " << msg2;
}

TEST(SettingsLoad, ProxyUrlAndHeaders) {
  Env env{kL + "PROXY_URL=https://user:pw@[::1]:3128/",
          kL + "PROXY_HEADERS=X-Trace: abc ,Proxy-Authorization:Basic  eA== , X-Empty:"};
  LOAD_OK(env, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.proxy_url, "https://user:pw@[::1]:3128/");
  ASSERT_EQ(s.num_proxy_headers, 3u);
  EXPECT_EQ(s.proxy_headers[0].name, "X-Trace");
  EXPECT_EQ(s.proxy_headers[0].value, "abc");
  EXPECT_EQ(s.proxy_headers[1].name, "Proxy-Authorization");
  EXPECT_EQ(s.proxy_headers[1].value, "Basic  eA==");
  EXPECT_EQ(s.proxy_headers[2].name, "X-Empty");
  EXPECT_EQ(s.proxy_headers[2].value, "");
  for (const char* bad : {"ftp://proxy", "proxy:3128", "http://", "http://proxy:0", "http://proxy:3128/path",
                          "http://pro xy", "http:/proxy", "http://proxy:99999"}) {
    Env e{kL + "PROXY_URL=" + bad};
    load_fail(e, kL + "PROXY_URL");
  }
  for (const char* bad : {"X-A", "X-A: 1,", ",X-A: 1", "X A: 1", "X-A : 1", ": v", "X-A: a\x01b", "X(A): 1"}) {
    Env e{kL + "PROXY_URL=http://p:1", kL + "PROXY_HEADERS=" + bad};
    load_fail(e, kL + "PROXY_HEADERS");
  }
  std::string many;
  for (size_t i = 0; i <= kMaxProxyHeaders; ++i) many += (i ? "," : "") + std::string("H") + std::to_string(i) + ": v";
  Env e{kL + "PROXY_URL=http://p:1", kL + "PROXY_HEADERS=" + many};
  std::string msg = load_fail(e, kL + "PROXY_HEADERS");
  EXPECT_NE(msg.find("more than 16"), std::string::npos) << msg;
  Env orphan{kL + "PROXY_HEADERS=X-A: 1"};
  std::string msg2 = load_fail(orphan, kL + "PROXY_HEADERS");
  EXPECT_NE(msg2.find("PROXY_URL"), std::string::npos) << msg2;
}

TEST(SettingsLoad, Role) {
  Env ok{kL + "ROLE_ARN=arn:aws-cn:iam::123456789012:role/path/Name", kL + "ROLE_EXTERNAL_ID=a+=,.@:/-_Z9",
         kL + "ROLE_SESSION_NAME=my.session@x"};
  LOAD_OK(ok, l);
  EXPECT_EQ(l.s->role_session_name, "my.session@x");
  for (const char* bad :
       {"arn:aws:iam::1", "aws:iam::123456789012:role/Name", "arn:aws:iam::123456789012:role/Na me"}) {
    Env e{kL + "ROLE_ARN=" + bad};
    load_fail(e, kL + "ROLE_ARN");
  }
  const std::string arn = kL + "ROLE_ARN=arn:aws:iam::123456789012:role/R";
  for (const std::string& bad : {std::string("x"), std::string("a b"), std::string(1225, 'a'), std::string("a*b")}) {
    Env e{arn, kL + "ROLE_EXTERNAL_ID=" + bad};
    load_fail(e, kL + "ROLE_EXTERNAL_ID");
  }
  for (const std::string& bad : {std::string("x"), std::string(65, 'a'), std::string("a/b"), std::string("a:b")}) {
    Env e{arn, kL + "ROLE_SESSION_NAME=" + bad};
    load_fail(e, kL + "ROLE_SESSION_NAME");
  }
  Env e1{kL + "ROLE_EXTERNAL_ID=abc"};
  load_fail(e1, kL + "ROLE_EXTERNAL_ID");
  Env e2{kL + "ROLE_SESSION_NAME=abc"};
  load_fail(e2, kL + "ROLE_SESSION_NAME");
  Env e3{arn, kL + "ROLE_SESSION_NAME=" + std::string(64, 'a'), kL + "ROLE_EXTERNAL_ID=" + std::string(1224, 'b')};
  LOAD_OK(e3, l3);
}

TEST(SettingsLoad, Region) {
  Env both{kL + "SERVICE_REGION=eu-central-1", "AWS_REGION=us-east-1"};
  LOAD_OK(both, l);
  EXPECT_EQ(l.s->service_region, "eu-central-1");
  Env fallback{"AWS_REGION=us-gov-west-1"};
  LOAD_OK(fallback, l2);
  EXPECT_EQ(l2.s->service_region, "us-gov-west-1");
  for (const char* bad :
       {"US-EAST-1", "us-east-1.evil.com", "us_east_1", "-us", "us-", "1us", "abcdefghijklmnopqrstuvwxyzabcdefg"}) {
    Env e{std::string("AWS_REGION=") + bad};
    load_fail(e, "AWS_REGION");
    Env e2{kL + "SERVICE_REGION=" + bad, "AWS_REGION=us-east-1"};
    load_fail(e2, kL + "SERVICE_REGION");
  }
}

TEST(SettingsLoad, RegionOrderAndSource) {
  Env def{"AWS_DEFAULT_REGION=eu-west-3"};
  LOAD_OK(def, l);
  EXPECT_EQ(l.s->service_region, "eu-west-3");
  EXPECT_STREQ(l.s->region_source, "AWS_DEFAULT_REGION");
  Env both{"AWS_DEFAULT_REGION=eu-west-3", "AWS_REGION=us-east-2"};
  LOAD_OK(both, l2);
  EXPECT_EQ(l2.s->service_region, "us-east-2");
  EXPECT_STREQ(l2.s->region_source, "AWS_REGION");
  Env ours{"AWS_DEFAULT_REGION=eu-west-3", "AWS_REGION=us-east-2", "SERVICE_REGION=ap-south-1"};
  LOAD_OK(ours, l3);
  EXPECT_EQ(l3.s->service_region, "ap-south-1");
  EXPECT_STREQ(l3.s->region_source, "SERVICE_REGION");
  Env none{};
  LOAD_OK(none, l4);
  EXPECT_STREQ(l4.s->region_source, "");
  Env bad{"AWS_DEFAULT_REGION=EU"};
  load_fail(bad, "AWS_DEFAULT_REGION");
}

TEST(SettingsLoad, CredentialChainVariables) {
  Env all{"AWS_WEB_IDENTITY_TOKEN_FILE=/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
          "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/irsa", "AWS_ROLE_SESSION_NAME=pod-1", "AWS_PROFILE=dev",
          "AWS_SHARED_CREDENTIALS_FILE=~/creds", "AWS_CONFIG_FILE=/etc/aws/config", "HOME=/home/u",
          "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6",
          "AWS_EC2_METADATA_DISABLED=true"};
  LOAD_OK(all, l);
  EXPECT_EQ(l.s->web_identity_token_file, "/var/run/secrets/eks.amazonaws.com/serviceaccount/token");
  EXPECT_EQ(l.s->aws_role_arn, "arn:aws:iam::123456789012:role/irsa");
  EXPECT_EQ(l.s->aws_role_session_name, "pod-1");
  EXPECT_EQ(l.s->profile, "dev");
  EXPECT_TRUE(l.s->profile_explicit);
  EXPECT_EQ(l.s->shared_credentials_file, "~/creds");
  EXPECT_EQ(l.s->config_file, "/etc/aws/config");
  EXPECT_EQ(l.s->home, "/home/u");
  EXPECT_EQ(l.s->ec2_metadata_endpoint, "http://127.0.0.1:1338");
  EXPECT_TRUE(l.s->ec2_metadata_ipv6);
  EXPECT_TRUE(l.s->ec2_metadata_disabled);
  Env none{};
  LOAD_OK(none, l2);
  EXPECT_FALSE(l2.s->profile_explicit);
  EXPECT_FALSE(l2.s->ec2_metadata_disabled);
  for (const char* bad : {"AWS_ROLE_ARN=role", "AWS_ROLE_SESSION_NAME=a b", "AWS_PROFILE=a]b",
                          "AWS_EC2_METADATA_SERVICE_ENDPOINT=169.254.169.254", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=v6",
                          "AWS_EC2_METADATA_DISABLED=maybe"}) {
    Env e{bad};
    std::string name(bad, strchr(bad, '=') - bad);
    load_fail(e, name);
  }
}

TEST(SettingsLoad, HttpHostDefaultsUnderEcsAndKubernetes) {
  Env ecs{"ECS_CONTAINER_METADATA_URI_V4=http://169.254.170.2/v4/abc"};
  LOAD_OK(ecs, l);
  EXPECT_EQ(l.s->http_host, "0.0.0.0");
  Env k8s{"KUBERNETES_SERVICE_HOST=10.0.0.1"};
  LOAD_OK(k8s, l2);
  EXPECT_EQ(l2.s->http_host, "0.0.0.0");
  Env explicit_host{"KUBERNETES_SERVICE_HOST=10.0.0.1", "HTTP_HOST=localhost"};
  LOAD_OK(explicit_host, l3);
  EXPECT_EQ(l3.s->http_host, "localhost");
  // Lambda stays on loopback whatever the platform variables say.
  Env lambda{"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001", "KUBERNETES_SERVICE_HOST=10.0.0.1"};
  LOAD_OK(lambda, l4);
  EXPECT_TRUE(l4.s->http_host.empty());
  Env plain{};
  LOAD_OK(plain, l5);
  EXPECT_TRUE(l5.s->http_host.empty());
}

TEST(SettingsLoad, Manifest) {
  Env file{kL + "MANIFEST=file:/opt/manifest.json"};
  LOAD_OK(file, l);
  EXPECT_EQ(l.s->manifest, "file:/opt/manifest.json");
  EXPECT_EQ(l.s->manifest_path, "/opt/manifest.json");
  EXPECT_TRUE(l.s->manifest_key.application.empty());
  EXPECT_TRUE(l.s->wait_on_manifest);
  Env key{kL + "MANIFEST=App:Env:Man%20ifest", kL + "WAIT_ON_MANIFEST=false"};
  LOAD_OK(key, l2);
  EXPECT_EQ(key_str(l2.s->manifest_key), "App|Env|Man ifest");
  EXPECT_TRUE(l2.s->manifest_path.empty());
  EXPECT_FALSE(l2.s->wait_on_manifest);
  Env inline_json{"MANIFEST= {\"App:Env:Prof\": {}}"};
  LOAD_OK(inline_json, l3);
  EXPECT_TRUE(l3.s->manifest_inline);
  EXPECT_EQ(l3.s->manifest, " {\"App:Env:Prof\": {}}");
  EXPECT_TRUE(l3.s->manifest_path.empty());
  EXPECT_TRUE(l3.s->manifest_key.application.empty());
  EXPECT_FALSE(l.s->manifest_inline);
  for (const char* bad : {"file:", "file:relative.json", "App:Env", "App::Prof", "just-a-name", "file:/a\tb", "[1]"}) {
    Env e{kL + "MANIFEST=" + bad};
    load_fail(e, kL + "MANIFEST");
  }
}

TEST(SettingsLoad, PathsAndSdkVariables) {
  Env ok{"LOCAL_DEVELOPMENT_DIRECTORY=examples/local",
         "AWS_CA_BUNDLE=/etc/ssl/ca.pem",
         "AWS_ACCESS_KEY_ID=AKIDEXAMPLE",
         "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
         "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1234/creds",
         "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/abc",
         "AWS_CONTAINER_AUTHORIZATION_TOKEN=Basic abc==",
         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/var/run/token",
         "AWS_ENDPOINT_URL_APPCONFIGDATA=http://localhost:4566",
         "AWS_ENDPOINT_URL_STS=https://sts.example:8443/",
         "AWS_ENDPOINT_URL=http://[::1]:4566/base"};
  LOAD_OK(ok, l);
  const Settings& s = *l.s;
  EXPECT_EQ(s.local_development_directory, "examples/local");
  EXPECT_EQ(s.ca_bundle, "/etc/ssl/ca.pem");
  EXPECT_EQ(s.access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(s.secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  EXPECT_EQ(s.container_credentials_full_uri, "http://127.0.0.1:1234/creds");
  EXPECT_EQ(s.container_credentials_relative_uri, "/v2/credentials/abc");
  EXPECT_EQ(s.container_authorization_token, "Basic abc==");
  EXPECT_EQ(s.container_authorization_token_file, "/var/run/token");
  EXPECT_EQ(s.endpoint_url_appconfigdata, "http://localhost:4566");
  EXPECT_EQ(s.endpoint_url_sts, "https://sts.example:8443/");
  EXPECT_EQ(s.endpoint_url, "http://[::1]:4566/base");
  const std::pair<const char*, const char*> bad[] = {
      {"LOCAL_DEVELOPMENT_DIRECTORY", "a\nb"},
      {"AWS_CA_BUNDLE", "/x\x7f"},
      {"AWS_ENDPOINT_URL_APPCONFIGDATA", "localhost:4566"},
      {"AWS_ENDPOINT_URL", "http://user@host"},
      {"AWS_ENDPOINT_URL_STS", "https://"},
      {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "file:///etc/passwd"},
      {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "v2/creds"},
      {"AWS_ACCESS_KEY_ID", "AKID EXAMPLE"},
      {"BACKUP_DIRECTORY", "/a\x01"},
      {"LOG_PATH", "/a\r"},
  };
  for (auto& [name, value] : bad) {
    Env e{std::string(name) + "=" + value};
    load_fail(e, name);
  }
  Env long_path{"LOCAL_DEVELOPMENT_DIRECTORY=/" + std::string(4095, 'a')};
  load_fail(long_path, "LOCAL_DEVELOPMENT_DIRECTORY");
}

// ---------------------------------------------------------------- prefetch list

TEST(SettingsPrefetch, BothFormsMixed) {
  Env env{kL +
          "PREFETCH_LIST=MyApp:MyEnv:MyConfig, /applications/a%2Fb/environments/Prod/configurations/flags ,"
          "x%3Ay:e:p"};
  LOAD_OK(env, l);
  ASSERT_EQ(l.s->num_prefetch, 3u);
  EXPECT_EQ(key_str(l.s->prefetch[0]), "MyApp|MyEnv|MyConfig");
  EXPECT_EQ(key_str(l.s->prefetch[1]), "a/b|Prod|flags");
  EXPECT_EQ(key_str(l.s->prefetch[2]), "x:y|e|p");
  // Decoded strings live in Settings::storage.
  for (size_t i = 0; i < 3; ++i) {
    const char* p = l.s->prefetch[i].application.data();
    EXPECT_TRUE(p >= l.s->storage && p < l.s->storage + sizeof l.s->storage);
  }
}

TEST(SettingsPrefetch, EmptyItemsRejectedWithMessage) {
  for (const char* bad : {",", "a:b:c,", ",a:b:c", "a:b:c,,d:e:f", "a:b:c, ,d:e:f", " "}) {
    Env env{kL + "PREFETCH_LIST=" + bad};
    std::string msg = load_fail(env, kL + "PREFETCH_LIST");
    EXPECT_NE(msg.find("empty item"), std::string::npos) << bad << " -> " << msg;
  }
}

TEST(SettingsPrefetch, SegmentLengths) {
  std::string s128(128, 'a'), s129(129, 'a');
  Env ok{kL + "PREFETCH_LIST=" + s128 + ":" + s128 + ":" + s128};
  LOAD_OK(ok, l);
  EXPECT_EQ(l.s->prefetch[0].profile.size(), 128u);
  // 128 decoded characters may take 384 encoded ones.
  std::string enc128;
  for (int i = 0; i < 128; ++i) enc128 += "%41";
  Env ok2{kL + "PREFETCH_LIST=/applications/" + enc128 + "/environments/e/configurations/p"};
  LOAD_OK(ok2, l2);
  EXPECT_EQ(l2.s->prefetch[0].application, std::string(128, 'A'));
  for (const std::string& bad : {s129 + ":e:p", "a:" + s129 + ":p", "a:e:" + s129,
                                 "/applications/a/environments/e/configurations/" + s129, enc128 + "%41:e:p"}) {
    Env env{kL + "PREFETCH_LIST=" + bad};
    std::string msg = load_fail(env, kL + "PREFETCH_LIST");
    EXPECT_NE(msg.find("1 to 128"), std::string::npos) << msg;
  }
}

TEST(SettingsPrefetch, MalformedKeys) {
  for (const char* bad :
       {"a:b", "a:b:c:d", "a::c", ":b:c", "a:b:", "a%2:b:c", "a%zz:b:c", "a%:b:c", "a%00b:c:d",
        "/applications/a/environments/e/configurations/p/", "/applications/a/environments/e",
        "/applications//environments/e/configurations/p", "/application/a/environments/e/configurations/p",
        "/applications/a/configurations/p/environments/e", "applications/a/environments/e/configurations/p",
        "/applications/a/environments/e/configurations/p/extra"}) {
    Env env{kL + "PREFETCH_LIST=" + bad};
    std::string msg = load_fail(env, kL + "PREFETCH_LIST");
    EXPECT_NE(msg.find("item #1"), std::string::npos) << bad << " -> " << msg;
  }
  Env second{kL + "PREFETCH_LIST=a:b:c,d:e"};
  std::string msg = load_fail(second, kL + "PREFETCH_LIST");
  EXPECT_NE(msg.find("item #2 \"d:e\""), std::string::npos) << msg;
}

TEST(SettingsPrefetch, DuplicatesRemoved) {
  Env env{kL + "PREFETCH_LIST=a:b:c,/applications/a/environments/b/configurations/c,a:b:%63,a:b:d"};
  LOAD_OK(env, l);
  ASSERT_EQ(l.s->num_prefetch, 2u);
  EXPECT_EQ(key_str(l.s->prefetch[1]), "a|b|d");
  EXPECT_EQ(l.s->storage_used, 6u);  // duplicates gave their bytes back
}

TEST(SettingsPrefetch, CountLimit) {
  std::string list;
  for (size_t i = 0; i < kMaxPrefetch; ++i) list += (i ? "," : "") + std::string("app:env:p") + std::to_string(i);
  Env ok{kL + "PREFETCH_LIST=" + list};
  LOAD_OK(ok, l);
  EXPECT_EQ(l.s->num_prefetch, kMaxPrefetch);
  Env over{kL + "PREFETCH_LIST=" + list + ",one:more:key"};
  std::string msg = load_fail(over, kL + "PREFETCH_LIST");
  EXPECT_NE(msg.find("more than 64"), std::string::npos) << msg;
}

TEST(SettingsPrefetch, StorageLimit) {
  // 64 keys of 3 x 128 distinct bytes = 24 KiB of names: more than the storage holds.
  std::string list;
  for (size_t i = 0; i < kMaxPrefetch; ++i) {
    char pre[16];
    snprintf(pre, sizeof pre, "%03zu", i);
    std::string seg = pre + std::string(125, 'x');
    list += (i ? "," : "") + seg + ":" + seg + ":" + seg;
  }
  Env env{kL + "PREFETCH_LIST=" + list};
  std::string msg = load_fail(env, kL + "PREFETCH_LIST");
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
}

// ---------------------------------------------------------------- parsers directly

// Key names are decoded with text::percent_decode (appends at *len: each call starts from 0).
TEST(SettingsParsers, PercentDecode) {
  using appconfig::text::percent_decode;
  char out[16];
  size_t n = 0;
  ASSERT_TRUE(percent_decode("a%2Fb%2fc+%41", out, sizeof out, &n));
  EXPECT_EQ(std::string(out, n), "a/b/c+A");
  n = 0;
  ASSERT_TRUE(percent_decode("", out, sizeof out, &n));
  EXPECT_EQ(n, 0u);
  ASSERT_TRUE(percent_decode("%00", out, sizeof out, &n));
  EXPECT_EQ(std::string(out, n), std::string(1, '\0'));
  for (const char* bad : {"%", "%4", "a%", "%g0", "%0g", "% 41", "%%41", "%-1"}) {
    n = 0;
    EXPECT_FALSE(percent_decode(bad, out, sizeof out, &n)) << bad;
  }
  // Exact capacity boundary, byte by byte.
  n = 0;
  ASSERT_TRUE(percent_decode("abc%41", out, 4, &n));
  EXPECT_EQ(std::string(out, n), "abcA");
  n = 0;
  EXPECT_FALSE(percent_decode("abc%41", out, 3, &n));
  n = 0;
  EXPECT_FALSE(percent_decode("a", out, 0, &n));
  n = 0;
  EXPECT_TRUE(percent_decode("", nullptr, 0, &n));
}

TEST(SettingsParsers, PercentDecodeRoundTripRandom) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int iter = 0; iter < 2000; ++iter) {
    std::string raw(rng() % 40, '\0');
    for (auto& c : raw) c = static_cast<char>(rng() % 256);
    std::string enc;
    for (unsigned char c : raw) {
      if (std::isalnum(c) && rng() % 2) {
        enc += static_cast<char>(c);
      } else {
        char b[4];
        snprintf(b, sizeof b, rng() % 2 ? "%%%02X" : "%%%02x", c);
        enc += b;
      }
    }
    std::vector<char> out(raw.size());
    size_t n = 0;
    ASSERT_TRUE(appconfig::text::percent_decode(enc, out.data(), out.size(), &n)) << enc;
    ASSERT_EQ(std::string(out.data(), n), raw);
    if (!raw.empty()) {
      n = 0;
      ASSERT_FALSE(appconfig::text::percent_decode(enc, out.data(), out.size() - 1, &n));
    }
  }
}

TEST(SettingsParsers, KeyRefLeavesUsedUnchangedOnFailure) {
  char storage[512];
  size_t used = 7;
  KeyRef k;
  EXPECT_FALSE(parse_key_ref("abc:def:%zz", k, storage, sizeof storage, &used));
  EXPECT_EQ(used, 7u);
  EXPECT_FALSE(parse_key_ref("abc:def:ghi", k, storage, 8 + 7, &used));  // 9 bytes needed, 8 left
  EXPECT_EQ(used, 7u);
  EXPECT_TRUE(parse_key_ref("abc:def:ghi", k, storage, 9 + 7, &used));  // exactly enough
  EXPECT_EQ(used, 16u);
}

TEST(SettingsParsers, KeyRefCapacityBoundary) {
  char storage[9];
  size_t used = 0;
  KeyRef k;
  ASSERT_TRUE(parse_key_ref("abc:def:ghi", k, storage, 9, &used));
  EXPECT_EQ(used, 9u);
  EXPECT_EQ(key_str(k), "abc|def|ghi");
  used = 0;
  EXPECT_FALSE(parse_key_ref("abc:def:ghi", k, storage, 8, &used));
  EXPECT_EQ(used, 0u);
  used = 9;
  EXPECT_FALSE(parse_key_ref("a:b:c", k, storage, 9, &used));
  EXPECT_EQ(used, 9u);
}

TEST(SettingsParsers, NumbersRoundTripRandom) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int iter = 0; iter < 5000; ++iter) {
    uint64_t h = rng() % 1000, m = rng() % 1000, s = rng() % 100000, ms = rng() % 100000;
    std::string text;
    uint64_t expect = 0;
    if (rng() % 2) {
      text += std::to_string(h) + "h";
      expect += h * 3600000;
    }
    if (rng() % 2) {
      text += std::to_string(m) + "m";
      expect += m * 60000;
    }
    if (rng() % 2) {
      text += std::to_string(s) + "s";
      expect += s * 1000;
    }
    if (rng() % 2 || text.empty()) {
      text += std::to_string(ms) + "ms";
      expect += ms;
    }
    uint64_t got = 0;
    ASSERT_TRUE(parse_duration_ms(text, &got)) << text;
    ASSERT_EQ(got, expect) << text;
    ASSERT_TRUE(parse_timeout_ms(text, &got)) << text;
    ASSERT_EQ(got, expect) << text;
    uint64_t bare = rng() >> (rng() % 64);
    ASSERT_TRUE(parse_timeout_ms(std::to_string(bare), &got));
    ASSERT_EQ(got, bare);
    bool secs_fit = bare <= UINT64_MAX / 1000;
    ASSERT_EQ(parse_duration_ms(std::to_string(bare), &got), secs_fit) << bare;
    if (secs_fit) {
      ASSERT_EQ(got, bare * 1000);
    }
  }
}

TEST(SettingsParsers, OverflowBoundaries) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_timeout_ms("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  EXPECT_FALSE(parse_timeout_ms("18446744073709551616", &v));
  // Unit forms stop where Go's do: int64 nanoseconds.
  EXPECT_TRUE(parse_duration_ms("9223372036854775807ns", &v));
  EXPECT_EQ(v, 9223372036854u);
  EXPECT_FALSE(parse_duration_ms("9223372036854775808ns", &v));
  EXPECT_TRUE(parse_duration_ms("2562047h47m16.854775807s", &v));
  EXPECT_FALSE(parse_duration_ms("2562047h47m16.854775808s", &v));
  EXPECT_FALSE(parse_duration_ms("2562047h2562047h", &v));  // the sum overflows
  EXPECT_FALSE(parse_duration_ms("5124095576030432h", &v));
  EXPECT_TRUE(parse_duration_ms("18446744073709551", &v));  // bare: seconds, uint64 ms
  EXPECT_FALSE(parse_duration_ms("18446744073709552", &v));
  EXPECT_TRUE(parse_duration_ms("1." + std::string(5000, '9') + "s", &v));  // long fractions: bounded work
  EXPECT_EQ(v, 1999u);
  size_t sz = 0;
  EXPECT_TRUE(parse_size_bytes("17179869183G", &sz));
  EXPECT_FALSE(parse_size_bytes("17179869184G", &sz));
  EXPECT_FALSE(parse_size_bytes("", &sz));
  v = 42;
  EXPECT_FALSE(parse_duration_ms("", &v));
  EXPECT_FALSE(parse_duration_ms("1h ", &v));
  EXPECT_EQ(v, 42u) << "written on failure";
}

TEST(SettingsParsers, GarbageNeverCrashesRandom) {
  std::random_device rd;
  const unsigned seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const std::string alphabet = "0123456789hmsMBKiGb:%/,aA- \t\n";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string t(rng() % 24, ' ');
    for (auto& c : t) c = alphabet[rng() % alphabet.size()];
    uint64_t u;
    size_t z;
    bool b;
    LogLevel lv;
    uint16_t p;
    char storage[64];
    size_t used = 0;
    KeyRef k;
    (void)parse_duration_ms(t, &u);
    (void)parse_timeout_ms(t, &u);
    (void)parse_size_bytes(t, &z);
    (void)parse_bool(t, &b);
    (void)parse_log_level(t, &lv);
    (void)parse_port(t, &p);
    if (parse_key_ref(t, k, storage, sizeof storage, &used)) {
      ASSERT_LE(used, sizeof storage);
      ASSERT_FALSE(k.application.empty());
    }
    // Whole-environment path too.
    Env env{kL + "PREFETCH_LIST=" + t, kL + "POLL_INTERVAL_SECONDS=" + t};
    Loaded l = load_env(env);
    if (!l.ok) {
      ASSERT_NE(std::string(l.err.message).find("AWS_APPCONFIG_EXTENSION_"), std::string::npos);
    }
  }
}

TEST(SettingsParsers, LogLevelNames) {
  EXPECT_STREQ(log_level_name(LogLevel::kTrace), "trace");
  EXPECT_STREQ(log_level_name(LogLevel::kNone), "none");
  LogLevel l = LogLevel::kInfo;
  EXPECT_FALSE(parse_log_level("", &l));
  EXPECT_EQ(l, LogLevel::kInfo);
}
