// credentials_test — the Provider against the AppConfig/STS/container emulator
// (test/emulator/appconfig_data.py, plain HTTP, started once as a subprocess) with a real loop and
// http_client; plus the decoders (container JSON, STS XML with entities, STS errors, ISO 8601,
// form encoding) on crafted and random input.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/aws/credentials.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "appconfig/aws/endpoints.h"
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"
#include "appconfig/core/settings.h"

namespace credentials = appconfig::credentials;
namespace endpoints = appconfig::endpoints;
namespace settings = appconfig::settings;
namespace loop = appconfig::loop;
namespace http_client = appconfig::http_client;

namespace {

int g_port = 0, g_control = 0;
pid_t g_pid = -1;

// One blocking HTTP/1.1 request to the emulator's control port; returns the body.
std::string control(const std::string& op, const std::string& json = "{}") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(g_control));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    ADD_FAILURE() << "control connect";
    return "";
  }
  std::string req = "POST /_control/" + op + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(json.size()) + "\r\n\r\n" + json;
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  EXPECT_NE(resp.find(" 200 "), std::string::npos) << op << " " << json << " -> " << resp;
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

class EmulatorEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    g_pid = fork();
    if (g_pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphaned emulator if the test binary crashes
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      execlp("python3", "python3", "test/emulator/appconfig_data.py", "--port", "0", "--control-port", "0",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* f = fdopen(fds[0], "r");
    char line[256] = {};
    ASSERT_NE(fgets(line, sizeof line, f), nullptr) << "emulator did not start";
    fclose(f);
    ASSERT_EQ(sscanf(line, "{\"port\": %d, \"control_port\": %d", &g_port, &g_control), 2) << line;
  }
  void TearDown() override {
    if (g_pid > 0) {
      kill(g_pid, SIGTERM);
      waitpid(g_pid, nullptr, 0);
    }
  }
};
const auto* g_env = ::testing::AddGlobalTestEnvironment(new EmulatorEnv);

// Settings from "NAME=value" strings (the views point into `keep`).
struct Env {
  std::vector<std::string> keep;
  std::unique_ptr<settings::Settings> s = std::make_unique<settings::Settings>();
  explicit Env(std::vector<std::string> vars) : keep(std::move(vars)) {
    std::vector<const char*> envp;
    for (auto& v : keep) envp.push_back(v.c_str());
    envp.push_back(nullptr);
    settings::Error err{};
    EXPECT_TRUE(settings::load(envp.data(), *s, err)) << err.message;
  }
};

struct Got {
  int calls = 0;
  bool ok = false;
  std::string key, secret, token, error;
  uint64_t expires = 0;
};

void on_creds(void* ctx, const credentials::Creds* c, const char* error) {
  auto* g = static_cast<Got*>(ctx);
  ++g->calls;
  g->ok = c != nullptr;
  if (c != nullptr) {
    g->key = c->access_key_id;
    g->secret = c->secret_access_key;
    g->token = c->session_token;
    g->expires = c->expires_epoch_ms;
  } else {
    g->error = error;
  }
}

// A fixed offset on top of the real clock, for expiry decisions.
uint64_t g_clock_offset_ms = 0;
uint64_t test_clock(void*) { return loop::wall_ms() + g_clock_offset_ms; }

class Creds : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(lp.init());
    ASSERT_TRUE(client.init(&lp, 4));
    g_clock_offset_ms = 0;
    control("faults/clear");
    control("counters/reset");
    control("clock", "{\"advance_s\": 0}");
  }
  void TearDown() override {
    control("faults/clear");
    // Undo any clock change made by the test.
    if (clock_shift_s != 0) control("clock", "{\"advance_s\": " + std::to_string(-clock_shift_s) + "}");
  }
  void shift_emulator_clock(long s) {
    clock_shift_s += s;
    control("clock", "{\"advance_s\": " + std::to_string(s) + "}");
  }
  // Runs the loop until every Got has been called or 5 s pass.
  void run_until(std::vector<Got*> gots, int max_ms = 5000) {
    uint64_t end = loop::monotonic_ms() + static_cast<uint64_t>(max_ms);
    for (;;) {
      bool all = true;
      for (Got* g : gots) all = all && g->calls > 0;
      if (all || loop::monotonic_ms() > end) break;
      lp.run_once(20);
    }
  }
  // A refresh runs in the background while the current credentials stay valid: get() keeps
  // returning them at once; the first later get() after the fetch lands sees the new ones.
  std::string next_key(credentials::Provider& p, const std::string& old) {
    uint64_t end = loop::monotonic_ms() + 3000;
    while (loop::monotonic_ms() < end) {
      Got g;
      if (!p.get(on_creds, &g, 3000)) return old;
      run_until({&g});
      if (g.ok && g.key != old) return g.key;
      lp.run_once(20);
    }
    return old;
  }
  int count(const std::string& api) {
    std::string c = control("counters");
    std::string k = "\"" + api + "\": ";
    size_t at = c.find(k);
    return at == std::string::npos ? 0 : std::atoi(c.c_str() + at + k.size());
  }
  std::string sts_url() { return "http://127.0.0.1:" + std::to_string(g_port); }
  std::string container_url() { return sts_url() + "/container-credentials/x?y=1"; }

  loop::Loop lp;
  http_client::Client client;
  long clock_shift_s = 0;
};

TEST_F(Creds, EnvironmentKeys) {
  Env env({"AWS_ACCESS_KEY_ID=AKIAENVTEST", "AWS_SECRET_ACCESS_KEY=sekrit/+=", "AWS_SESSION_TOKEN=tok+en/=="});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  EXPECT_TRUE(p.configured());
  EXPECT_EQ(p.source(), credentials::Source::kEnvironment);
  Got a, b;
  ASSERT_TRUE(p.get(on_creds, &a, 1000));
  ASSERT_TRUE(p.get(on_creds, &b, 0));
  EXPECT_EQ(a.calls, 0) << "never called back from inside get()";
  run_until({&a, &b});
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(a.key, "AKIAENVTEST");
  EXPECT_EQ(a.secret, "sekrit/+=");
  EXPECT_EQ(a.token, "tok+en/==");
  EXPECT_EQ(a.expires, 0u);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(p.fetch_count(), 0u);
  // Without a session token.
  Env env2({"AWS_ACCESS_KEY_ID=AKIA2", "AWS_SECRET_ACCESS_KEY=s2"});
  credentials::Provider p2;
  ASSERT_TRUE(p2.init_from_settings(&lp, &client, *env2.s, err, sizeof err)) << err;
  Got c;
  ASSERT_TRUE(p2.get(on_creds, &c, 0));
  run_until({&c});
  EXPECT_TRUE(c.ok);
  EXPECT_EQ(c.token, "");
}

TEST_F(Creds, EnvironmentKeysWinOverContainer) {
  Env env({"AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=s", "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url()});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  EXPECT_EQ(p.source(), credentials::Source::kEnvironment);
}

TEST_F(Creds, PartialOrMissing) {
  char err[256] = "";
  {
    Env env({"AWS_ACCESS_KEY_ID=AKIA"});
    credentials::Provider p;
    EXPECT_FALSE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err));
    EXPECT_NE(std::strstr(err, "AWS_SECRET_ACCESS_KEY"), nullptr) << err;
  }
  {
    Env env({"AWS_SECRET_ACCESS_KEY=hidden-secret"});
    credentials::Provider p;
    EXPECT_FALSE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err));
    EXPECT_NE(std::strstr(err, "AWS_ACCESS_KEY_ID"), nullptr) << err;
    EXPECT_EQ(std::strstr(err, "hidden-secret"), nullptr) << "never echo a secret";
  }
  {
    Env env({"AWS_REGION=us-east-1"});
    credentials::Provider p;
    ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
    EXPECT_FALSE(p.configured());
    Got g;
    ASSERT_TRUE(p.get(on_creds, &g, 100));
    EXPECT_EQ(g.calls, 0);
    run_until({&g});
    EXPECT_FALSE(g.ok);
    EXPECT_NE(g.error.find("no credentials"), std::string::npos) << g.error;
    EXPECT_NE(g.error.find("AWS_CONTAINER_CREDENTIALS_FULL_URI"), std::string::npos) << g.error;
  }
  {
    // Plain http to a non-local host would send the token in clear.
    Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=http://10.1.2.3/creds", "AWS_CONTAINER_AUTHORIZATION_TOKEN=t"});
    credentials::Provider p;
    EXPECT_FALSE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err));
    EXPECT_NE(std::strstr(err, "10.1.2.3"), nullptr) << err;
  }
  for (const char* ok_uri : {"http://127.0.0.1:9001/2021-04-23/credentials", "http://localhost/x",
                             "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1", "https://10.1.2.3/c"}) {
    Env env({std::string("AWS_CONTAINER_CREDENTIALS_FULL_URI=") + ok_uri});
    credentials::Provider p;
    EXPECT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << ok_uri << ": " << err;
    EXPECT_EQ(p.source(), credentials::Source::kContainer);
  }
  {
    Env env({"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=/v2/credentials/abc"});
    credentials::Provider p;
    ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
    EXPECT_EQ(p.source(), credentials::Source::kContainer);
  }
}

TEST_F(Creds, ContainerTokenConcurrentGetsShareOneFetch) {
  control("container", "{\"token\": \"Bearer secret-token\", \"lifetime_s\": 3600}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(),
           "AWS_CONTAINER_AUTHORIZATION_TOKEN=Bearer secret-token"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  p.set_clock_for_tests(test_clock, nullptr);
  Got g[5];
  for (auto& x : g) ASSERT_TRUE(p.get(on_creds, &x, 3000));
  run_until({&g[0], &g[1], &g[2], &g[3], &g[4]});
  for (auto& x : g) {
    ASSERT_TRUE(x.ok) << x.error;
    EXPECT_EQ(x.calls, 1);
    EXPECT_EQ(x.key, g[0].key);
  }
  EXPECT_EQ(g[0].key.substr(0, 4), "ASIA");
  EXPECT_FALSE(g[0].token.empty());
  const uint64_t now = loop::wall_ms();
  EXPECT_GT(g[0].expires, now + 3500 * 1000ull);
  EXPECT_LT(g[0].expires, now + 3700 * 1000ull);
  EXPECT_EQ(count("ContainerCredentials"), 1);
  EXPECT_EQ(p.fetch_count(), 1u);
  // The request carried the path+query and the token header.
  std::string reqs = control("requests");
  EXPECT_NE(reqs.find("/container-credentials/x?y=1"), std::string::npos) << reqs;
  EXPECT_NE(reqs.find("\"Authorization\", \"Bearer secret-token\""), std::string::npos) << reqs;

  // Cached: no new fetch.
  Got h;
  ASSERT_TRUE(p.get(on_creds, &h, 3000));
  run_until({&h});
  EXPECT_TRUE(h.ok);
  EXPECT_EQ(h.key, g[0].key);
  EXPECT_EQ(count("ContainerCredentials"), 1);

  // 1 s before the 5-minute refresh window: still cached.
  g_clock_offset_ms = (3600 - 300 - 5) * 1000ull;
  Got i;
  ASSERT_TRUE(p.get(on_creds, &i, 3000));
  run_until({&i});
  EXPECT_EQ(i.key, g[0].key);
  EXPECT_EQ(count("ContainerCredentials"), 1);
  // Inside the window: the current keys at once, a background fetch, then the new keys.
  g_clock_offset_ms = (3600 - 300 + 5) * 1000ull;
  Got j;
  ASSERT_TRUE(p.get(on_creds, &j, 3000));
  run_until({&j});
  ASSERT_TRUE(j.ok) << j.error;
  EXPECT_EQ(j.key, g[0].key);
  EXPECT_NE(next_key(p, g[0].key), g[0].key);
  EXPECT_EQ(count("ContainerCredentials"), 2);
  EXPECT_EQ(p.fetch_count(), 2u);
}

TEST_F(Creds, ContainerTokenFile) {
  control("container", "{\"token\": \"file-token-123\"}");
  char path[] = "/tmp/cred_token.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "file-token-123\n", 15), 15);
  close(fd);
  // The file wins over the variable (SDK order).
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), std::string("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=") + path,
           "AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  Got g;
  ASSERT_TRUE(p.get(on_creds, &g, 3000));
  run_until({&g});
  ASSERT_TRUE(g.ok) << g.error;
  // Rotated file: re-read on the next fetch. A missing file is an error naming it.
  unlink(path);
  p.set_clock_for_tests(test_clock, nullptr);
  g_clock_offset_ms = 3600 * 1000ull;
  Got h;
  ASSERT_TRUE(p.get(on_creds, &h, 3000));
  run_until({&h});
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.error.find(path), std::string::npos) << h.error;
  EXPECT_NE(h.error.find("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), std::string::npos) << h.error;
}

TEST_F(Creds, ContainerBadTokenAndServerErrors) {
  control("container", "{\"token\": \"right\"}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), "AWS_CONTAINER_AUTHORIZATION_TOKEN=wrong-token"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  Got g;
  ASSERT_TRUE(p.get(on_creds, &g, 3000));
  run_until({&g});
  ASSERT_FALSE(g.ok);
  EXPECT_NE(g.error.find("container credentials"), std::string::npos) << g.error;
  EXPECT_NE(g.error.find("403"), std::string::npos) << g.error;
  EXPECT_NE(g.error.find("Authorization token is invalid"), std::string::npos) << g.error;
  EXPECT_EQ(g.error.find("wrong-token"), std::string::npos) << "never echo the token";
  // No token at all -> 401 from the emulator.
  Env env2({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url()});
  credentials::Provider p2;
  ASSERT_TRUE(p2.init_from_settings(&lp, &client, *env2.s, err, sizeof err)) << err;
  Got h;
  ASSERT_TRUE(p2.get(on_creds, &h, 3000));
  run_until({&h});
  EXPECT_NE(h.error.find("401"), std::string::npos) << h.error;
  // Injected 500: the JSON message is quoted; the next get() tries again and succeeds.
  control("container", "{\"token\": \"wrong-token\"}");
  control("fault", "{\"action\": \"500\", \"api\": \"ContainerCredentials\"}");
  Got i;
  ASSERT_TRUE(p.get(on_creds, &i, 3000));
  run_until({&i});
  EXPECT_NE(i.error.find("HTTP 500: Injected internal error"), std::string::npos) << i.error;
  Got j;
  ASSERT_TRUE(p.get(on_creds, &j, 3000));
  run_until({&j});
  EXPECT_TRUE(j.ok) << j.error;
}

TEST_F(Creds, ContainerExpiryFromEmulatorClock) {
  control("container", "{\"token\": \"t\", \"lifetime_s\": 3600}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), "AWS_CONTAINER_AUTHORIZATION_TOKEN=t"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  p.set_clock_for_tests(test_clock, nullptr);
  // The emulator's clock is 3540 s behind: its credentials expire 60 s from (our) now. Lifetime
  // 60 s -> refresh after half of it, not on every call.
  shift_emulator_clock(-3540);
  Got a;
  ASSERT_TRUE(p.get(on_creds, &a, 3000));
  run_until({&a});
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_LT(a.expires, loop::wall_ms() + 65'000);
  Got b;
  ASSERT_TRUE(p.get(on_creds, &b, 3000));
  run_until({&b});
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(p.fetch_count(), 1u);
  g_clock_offset_ms = 29'000;
  Got b2;
  ASSERT_TRUE(p.get(on_creds, &b2, 3000));
  run_until({&b2});
  EXPECT_EQ(b2.key, a.key);
  EXPECT_EQ(p.fetch_count(), 1u);
  g_clock_offset_ms = 31'000;
  Got c;
  ASSERT_TRUE(p.get(on_creds, &c, 3000));
  run_until({&c});
  ASSERT_TRUE(c.ok) << c.error;
  EXPECT_EQ(c.key, a.key);  // still valid: delivered at once, refreshed in the background
  EXPECT_NE(next_key(p, a.key), a.key);
  EXPECT_EQ(p.fetch_count(), 2u);
  // Credentials that arrive already expired are an error mentioning the clock.
  g_clock_offset_ms = 0;
  shift_emulator_clock(-140);  // now 3680 s behind: expired 80 s ago
  credentials::Provider q;
  ASSERT_TRUE(q.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  Got d;
  ASSERT_TRUE(q.get(on_creds, &d, 3000));
  run_until({&d});
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("clock"), std::string::npos) << d.error;
}

TEST_F(Creds, RefreshFailureFallsBackToValidCredentials) {
  control("container", "{\"token\": \"t\", \"lifetime_s\": 3600}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), "AWS_CONTAINER_AUTHORIZATION_TOKEN=t"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  p.set_clock_for_tests(test_clock, nullptr);
  Got a;
  ASSERT_TRUE(p.get(on_creds, &a, 3000));
  run_until({&a});
  ASSERT_TRUE(a.ok);
  g_clock_offset_ms = (3600 - 120) * 1000ull;  // in the refresh window, 2 min left
  control("fault", "{\"action\": \"500\", \"api\": \"ContainerCredentials\"}");
  Got b;
  ASSERT_TRUE(p.get(on_creds, &b, 3000));
  run_until({&b});
  ASSERT_TRUE(b.ok) << b.error;
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(p.fetch_count(), 2u);
  // 5 s left (< kMinRemainingMs): the failure is reported.
  g_clock_offset_ms = (3600 - 5) * 1000ull;
  control("fault", "{\"action\": \"500\", \"api\": \"ContainerCredentials\"}");
  Got c;
  ASSERT_TRUE(p.get(on_creds, &c, 3000));
  run_until({&c});
  EXPECT_FALSE(c.ok);
  EXPECT_NE(c.error.find("500"), std::string::npos) << c.error;
}

TEST_F(Creds, TimeoutCancelAndWaiterBound) {
  control("container", "{\"token\": \"t\"}");
  control("fault", "{\"action\": \"slow\", \"delay_ms\": 1500, \"api\": \"ContainerCredentials\"}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), "AWS_CONTAINER_AUTHORIZATION_TOKEN=t"});
  credentials::Provider p;
  char err[256] = "";
  ASSERT_TRUE(p.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  // The first waiter's timeout bounds the fetch (3 s); a second waiter gives up after 200 ms.
  Got slow, quick, cancelled;
  ASSERT_TRUE(p.get(on_creds, &slow, 3000));
  ASSERT_TRUE(p.get(on_creds, &quick, 200));
  ASSERT_TRUE(p.get(on_creds, &cancelled, 0));
  p.cancel(&cancelled);
  uint64_t t0 = loop::monotonic_ms();
  run_until({&quick});
  uint64_t waited = loop::monotonic_ms() - t0;
  EXPECT_FALSE(quick.ok);
  EXPECT_NE(quick.error.find("timed out"), std::string::npos) << quick.error;
  EXPECT_GE(waited, 150u);
  EXPECT_LT(waited, 1400u);
  EXPECT_EQ(slow.calls, 0);
  run_until({&slow});
  EXPECT_TRUE(slow.ok) << slow.error;
  EXPECT_EQ(cancelled.calls, 0);
  EXPECT_EQ(quick.calls, 1);

  // Bounded waiter list: kMaxWaiters accepted, then get() refuses (no callback).
  control("fault", "{\"action\": \"slow\", \"delay_ms\": 300, \"api\": \"ContainerCredentials\"}");
  p.set_clock_for_tests(test_clock, nullptr);
  g_clock_offset_ms = 3600 * 1000ull;  // force a fetch
  std::vector<Got> many(credentials::kMaxWaiters + 1);
  for (size_t k = 0; k < credentials::kMaxWaiters; ++k) ASSERT_TRUE(p.get(on_creds, &many[k], 3000)) << k;
  EXPECT_FALSE(p.get(on_creds, &many.back(), 3000));
  std::vector<Got*> ptrs;
  for (size_t k = 0; k < credentials::kMaxWaiters; ++k) ptrs.push_back(&many[k]);
  g_clock_offset_ms = 0;
  run_until(ptrs);
  for (size_t k = 0; k < credentials::kMaxWaiters; ++k) EXPECT_TRUE(many[k].ok) << many[k].error;
  EXPECT_EQ(many.back().calls, 0);
}

TEST_F(Creds, AssumeRoleSignedWithExternalId) {
  control("credentials", "{\"access_key_id\": \"AKIABASE\", \"secret_access_key\": \"base-secret\"}");
  control("role", "{\"role_arn\": \"arn:aws:iam::123456789012:role/AppConfigReader\", \"account\": \"other\", "
                  "\"external_id\": \"ext-42:/x\"}");
  Env env({"AWS_ACCESS_KEY_ID=AKIABASE", "AWS_SECRET_ACCESS_KEY=base-secret"});
  credentials::Provider base, role;
  char err[256] = "";
  ASSERT_TRUE(base.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  endpoints::Endpoint sts{};
  ASSERT_TRUE(endpoints::parse_url(sts_url(), sts, err, sizeof err)) << err;
  std::strcpy(sts.region, "us-east-1");
  ASSERT_TRUE(role.init_assume_role(&lp, &client, &base, "arn:aws:iam::123456789012:role/AppConfigReader", "ext-42:/x",
                                    "", 900, sts, err, sizeof err))
      << err;
  role.set_clock_for_tests(test_clock, nullptr);
  Got a, b;
  ASSERT_TRUE(role.get(on_creds, &a, 3000));
  ASSERT_TRUE(role.get(on_creds, &b, 3000));
  run_until({&a, &b});
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(a.key.substr(0, 4), "ASIA");
  EXPECT_FALSE(a.token.empty());
  EXPECT_GT(a.expires, loop::wall_ms() + 800 * 1000ull);
  EXPECT_LT(a.expires, loop::wall_ms() + 1000 * 1000ull);
  EXPECT_EQ(count("AssumeRole"), 1);
  std::string c = control("counters");
  EXPECT_NE(c.find("\"ExternalId\": \"ext-42:/x\""), std::string::npos) << c;
  EXPECT_NE(c.find("\"RoleSessionName\": \"appconfig-extension-"), std::string::npos) << c;
  EXPECT_NE(c.find("\"DurationSeconds\": 900"), std::string::npos) << c;
  // Refresh 5 min before the 15 min expiry.
  g_clock_offset_ms = (900 - 300 - 10) * 1000ull;
  Got d;
  ASSERT_TRUE(role.get(on_creds, &d, 3000));
  run_until({&d});
  EXPECT_EQ(d.key, a.key);
  EXPECT_EQ(count("AssumeRole"), 1);
  g_clock_offset_ms = (900 - 300 + 10) * 1000ull;
  Got e;
  ASSERT_TRUE(role.get(on_creds, &e, 3000));
  run_until({&e});
  ASSERT_TRUE(e.ok) << e.error;
  EXPECT_EQ(e.key, a.key);
  EXPECT_NE(next_key(role, a.key), a.key);
  EXPECT_EQ(count("AssumeRole"), 2);
}

TEST_F(Creds, AssumeRoleOverContainerCredentialsAndErrors) {
  control("container", "{\"token\": \"t\"}");
  control("role", "{\"role_arn\": \"arn:aws:iam::123456789012:role/R1\", \"external_id\": \"good-id\"}");
  Env env({"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url(), "AWS_CONTAINER_AUTHORIZATION_TOKEN=t"});
  credentials::Provider base;
  char err[256] = "";
  ASSERT_TRUE(base.init_from_settings(&lp, &client, *env.s, err, sizeof err)) << err;
  endpoints::Endpoint sts{};
  ASSERT_TRUE(endpoints::parse_url(sts_url() + "/", sts, err, sizeof err)) << err;
  std::strcpy(sts.region, "us-east-1");
  {
    // Session token from the container signs the STS call; explicit session name; no duration.
    credentials::Provider role;
    ASSERT_TRUE(role.init_assume_role(&lp, &client, &base, "arn:aws:iam::123456789012:role/R1", "good-id", "my.session@x",
                                      0, sts, err, sizeof err))
        << err;
    Got a;
    ASSERT_TRUE(role.get(on_creds, &a, 3000));
    run_until({&a});
    ASSERT_TRUE(a.ok) << a.error;
    std::string c = control("counters");
    EXPECT_NE(c.find("\"RoleSessionName\": \"my.session@x\""), std::string::npos) << c;
    EXPECT_NE(c.find("\"DurationSeconds\": 3600"), std::string::npos) << c;
  }
  {
    // Wrong external id: STS AccessDenied surfaced with its message.
    credentials::Provider role;
    ASSERT_TRUE(role.init_assume_role(&lp, &client, &base, "arn:aws:iam::123456789012:role/R1", "bad-id", "", 0, sts, err,
                                      sizeof err));
    Got a;
    ASSERT_TRUE(role.get(on_creds, &a, 3000));
    run_until({&a});
    ASSERT_FALSE(a.ok);
    EXPECT_NE(a.error.find("AccessDenied: Not authorized to perform sts:AssumeRole on arn:aws:iam::123456789012:role/R1"),
              std::string::npos)
        << a.error;
    EXPECT_NE(a.error.find("HTTP 403"), std::string::npos) << a.error;
  }
  {
    // Unknown base key: the signature check fails at STS.
    Env env2({"AWS_ACCESS_KEY_ID=AKIAUNKNOWN", "AWS_SECRET_ACCESS_KEY=nope"});
    credentials::Provider base2, role;
    ASSERT_TRUE(base2.init_from_settings(&lp, &client, *env2.s, err, sizeof err));
    ASSERT_TRUE(role.init_assume_role(&lp, &client, &base2, "arn:aws:iam::123456789012:role/R1", "good-id", "", 0, sts,
                                      err, sizeof err));
    Got a;
    ASSERT_TRUE(role.get(on_creds, &a, 3000));
    run_until({&a});
    EXPECT_NE(a.error.find("UnrecognizedClientException"), std::string::npos) << a.error;
  }
  {
    // The base fails: the error names both layers.
    control("fault", "{\"action\": \"403\", \"api\": \"ContainerCredentials\"}");
    credentials::Provider base3, role;
    ASSERT_TRUE(base3.init_from_settings(&lp, &client, *env.s, err, sizeof err));
    ASSERT_TRUE(role.init_assume_role(&lp, &client, &base3, "arn:aws:iam::123456789012:role/R1", "good-id", "", 0, sts,
                                      err, sizeof err));
    Got a;
    ASSERT_TRUE(role.get(on_creds, &a, 3000));
    run_until({&a});
    EXPECT_NE(a.error.find("AssumeRole arn:aws:iam::123456789012:role/R1"), std::string::npos) << a.error;
    EXPECT_NE(a.error.find("container credentials"), std::string::npos) << a.error;
    EXPECT_NE(a.error.find("Injected access denied"), std::string::npos) << a.error;
  }
  {
    // Wrong signing region.
    endpoints::Endpoint bad = sts;
    std::strcpy(bad.region, "eu-west-1");
    credentials::Provider role;
    ASSERT_TRUE(role.init_assume_role(&lp, &client, &base, "arn:aws:iam::123456789012:role/R1", "good-id", "", 0, bad,
                                      err, sizeof err));
    Got a;
    ASSERT_TRUE(role.get(on_creds, &a, 3000));
    run_until({&a});
    EXPECT_NE(a.error.find("InvalidSignatureException"), std::string::npos) << a.error;
  }
}

TEST_F(Creds, AssumeRoleInitValidation) {
  Env env({"AWS_ACCESS_KEY_ID=A", "AWS_SECRET_ACCESS_KEY=B"});
  credentials::Provider base;
  char err[256] = "";
  ASSERT_TRUE(base.init_from_settings(&lp, &client, *env.s, err, sizeof err));
  endpoints::Endpoint sts{};
  ASSERT_TRUE(endpoints::parse_url(sts_url(), sts, err, sizeof err));
  const std::string arn = "arn:aws:iam::123456789012:role/R";
  struct Bad {
    std::string arn, ext, name;
    uint32_t dur;
  };
  const Bad bad[] = {
      {"", "", "", 0},        {"arn:short", "", "", 0},      {"xrn:aws:iam::123456789012:role/R", "", "", 0},
      {arn, "x", "", 0},      {arn, "", "a", 0},            {arn, "", "bad name", 0},
      {arn, "", std::string(65, 'a'), 0}, {arn, "", "", 899}, {arn, "", "", 43201},
      {arn + " ", "", "", 0},
  };
  for (const Bad& b : bad) {
    credentials::Provider p;
    err[0] = '\0';
    EXPECT_FALSE(p.init_assume_role(&lp, &client, &base, b.arn, b.ext, b.name, b.dur, sts, err, sizeof err))
        << b.arn << "|" << b.ext << "|" << b.name << "|" << b.dur;
    EXPECT_NE(err[0], '\0');
  }
  credentials::Provider p;
  EXPECT_FALSE(p.init_assume_role(&lp, &client, nullptr, arn, "", "", 0, sts, err, sizeof err));
  EXPECT_TRUE(p.init_assume_role(&lp, &client, &base, arn, "", "", 43200, sts, err, sizeof err)) << err;
}

// ---------------------------------------------------------------- decoders

TEST(Decode, Iso8601) {
  uint64_t ms = 0;
  ASSERT_TRUE(credentials::parse_iso8601_ms("1970-01-01T00:00:00Z", &ms));
  EXPECT_EQ(ms, 0u);
  ASSERT_TRUE(credentials::parse_iso8601_ms("2024-02-29T12:34:56Z", &ms));
  EXPECT_EQ(ms, 1709210096000u);
  ASSERT_TRUE(credentials::parse_iso8601_ms("2024-02-29t12:34:56.789z", &ms));
  EXPECT_EQ(ms, 1709210096789u);
  ASSERT_TRUE(credentials::parse_iso8601_ms("2024-02-29T13:34:56.5+01:00", &ms));
  EXPECT_EQ(ms, 1709210096500u);
  ASSERT_TRUE(credentials::parse_iso8601_ms("2024-02-29T04:04:56-08:30", &ms));
  EXPECT_EQ(ms, 1709210096000u);
  for (const char* bad : {"", "2024-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
                          "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z",
                          "2024-01-01T00:00:00", "2024-01-01 00:00:00Z", "2024-01-01T00:00:00ZZ", "2024-01-01T00:00:00.Z",
                          "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+01:0", "1969-12-31T23:59:59Z",
                          "2024-1-01T00:00:00Z", "+024-01-01T00:00:00Z", "2024-01-01T00:00:00.1234567890Z"}) {
    EXPECT_FALSE(credentials::parse_iso8601_ms(bad, &ms)) << bad;
  }
  // Random instants against timegm().
  const uint32_t seed = std::random_device{}();
  std::printf("Decode.Iso8601 seed=%u\n", seed);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    time_t t = static_cast<time_t>(rng() % 253402300800ull);  // < year 10000
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[40];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    ASSERT_TRUE(credentials::parse_iso8601_ms(buf, &ms)) << buf;
    ASSERT_EQ(ms, static_cast<uint64_t>(t) * 1000) << buf;
  }
}

TEST(Decode, AssumeRoleXmlWithEntities) {
  const std::string xml =
      "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>\n"
      "  <AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/R/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
      "  <Credentials>\n    <AccessKeyId>ASIA&#65;&#x42;CD</AccessKeyId>\n"
      "    <SecretAccessKey>a&amp;b&lt;c&gt;d&quot;e&apos;f/+=</SecretAccessKey>\n"
      "    <SessionToken>FwoG&#x2F;tok&#43;en==</SessionToken>\n    <Expiration>2030-01-02T03:04:05Z</Expiration>\n"
      "  </Credentials>\n</AssumeRoleResult></AssumeRoleResponse>";
  credentials::Creds c{};
  char err[256] = "";
  ASSERT_TRUE(credentials::parse_assume_role_xml(xml, c, err, sizeof err)) << err;
  EXPECT_STREQ(c.access_key_id, "ASIAABCD");
  EXPECT_STREQ(c.secret_access_key, "a&b<c>d\"e'f/+=");
  EXPECT_STREQ(c.session_token, "FwoG/tok+en==");
  uint64_t want = 0;
  ASSERT_TRUE(credentials::parse_iso8601_ms("2030-01-02T03:04:05Z", &want));
  EXPECT_EQ(c.expires_epoch_ms, want);
}

TEST(Decode, AssumeRoleXmlRejects) {
  const std::string good_fields = "<AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
                                  "<SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>";
  auto wrap = [](const std::string& inner) { return "<R><Credentials>" + inner + "</Credentials></R>"; };
  credentials::Creds c{};
  char err[256] = "";
  ASSERT_TRUE(credentials::parse_assume_role_xml(wrap(good_fields), c, err, sizeof err)) << err;
  const std::string bad[] = {
      "",
      "<R></R>",
      good_fields,  // no <Credentials>
      wrap("<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"),
      wrap("<AccessKeyId>A&bogus;</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A&amp</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A&#0;</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A&#xD800;</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A&#x110000;</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A B</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A</AccessKeyId><SecretAccessKey>s&#10;</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>soon</Expiration>"),
      wrap("<AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>" + std::string(4096, 'x') +
           "</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId></AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      wrap("<AccessKeyId>A<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
  };
  for (const std::string& x : bad) {
    credentials::Creds out{};
    std::strcpy(out.access_key_id, "untouched");
    err[0] = '\0';
    EXPECT_FALSE(credentials::parse_assume_role_xml(x, out, err, sizeof err)) << x.substr(0, 200);
    EXPECT_NE(err[0], '\0');
    EXPECT_STREQ(out.access_key_id, "untouched");
  }
  // The longest token that fits.
  std::string max_tok(credentials::kMaxTokenBytes - 1, 't');
  ASSERT_TRUE(credentials::parse_assume_role_xml(
      wrap("<AccessKeyId>A</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>" + max_tok +
           "</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration>"),
      c, err, sizeof err))
      << err;
  EXPECT_EQ(std::strlen(c.session_token), credentials::kMaxTokenBytes - 1);
}

TEST(Decode, StsErrorXml) {
  char out[256];
  ASSERT_TRUE(credentials::parse_sts_error_xml(
      "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: a&amp;b is not "
      "authorized &lt;x&gt;&#10;next</Message></Error><RequestId>r</RequestId></ErrorResponse>",
      out, sizeof out));
  EXPECT_STREQ(out, "AccessDenied: User: a&b is not authorized <x> next");
  ASSERT_TRUE(credentials::parse_sts_error_xml("<Error><Code>Throttling</Code></Error>", out, sizeof out));
  EXPECT_STREQ(out, "Throttling");
  EXPECT_FALSE(credentials::parse_sts_error_xml("<html>502 Bad Gateway</html>", out, sizeof out));
  EXPECT_FALSE(credentials::parse_sts_error_xml("<Error></Error>", out, sizeof out));
  char tiny[8];
  ASSERT_TRUE(credentials::parse_sts_error_xml("<Error><Code>VeryLongCode</Code></Error>", tiny, sizeof tiny));
  EXPECT_STREQ(tiny, "VeryLon");
}

// Character references of every UTF-8 length; a malformed one ("&#X41;": 'x' is lower case in
// XML) or an unknown entity leaves the raw text, quoted.
TEST(Decode, StsErrorXmlCharacterReferences) {
  char out[256];
  ASSERT_TRUE(credentials::parse_sts_error_xml(
      "<Error><Code>C</Code><Message>&#65;&#xe9;&#x20AC;&#128512;</Message></Error>", out, sizeof out));
  EXPECT_STREQ(out, "C: A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  ASSERT_TRUE(credentials::parse_sts_error_xml("<Error><Message>&#65;&#X41;</Message></Error>", out, sizeof out));
  EXPECT_STREQ(out, "&#65;&#X41;");
  ASSERT_TRUE(credentials::parse_sts_error_xml("<Error><Message>a&unknown;b</Message></Error>", out, sizeof out));
  EXPECT_STREQ(out, "a&unknown;b");
}

TEST(Decode, ContainerJson) {
  credentials::Creds c{};
  char err[256] = "";
  ASSERT_TRUE(credentials::parse_container_json(
      "{\"AccessKeyId\":\"ASIA\\u0041\",\"SecretAccessKey\":\"s\\/x\",\"Token\":\"t\",\"Expiration\":"
      "\"2030-01-02T03:04:05Z\",\"RoleArn\":\"arn\"}",
      c, err, sizeof err))
      << err;
  EXPECT_STREQ(c.access_key_id, "ASIAA");
  EXPECT_STREQ(c.secret_access_key, "s/x");
  EXPECT_STREQ(c.session_token, "t");
  EXPECT_GT(c.expires_epoch_ms, 0u);
  ASSERT_TRUE(credentials::parse_container_json("{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}", c, err, sizeof err));
  EXPECT_EQ(c.expires_epoch_ms, 0u);
  EXPECT_STREQ(c.session_token, "");
  for (const char* bad :
       {"", "{", "[]", "\"x\"", "{\"AccessKeyId\":\"A\"}", "{\"SecretAccessKey\":\"s\"}",
        "{\"AccessKeyId\":1,\"SecretAccessKey\":\"s\"}", "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":5}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Expiration\":\"tomorrow\"}",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\\n\"}", "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"} x",
        "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",}", "<html>"}) {
    err[0] = '\0';
    EXPECT_FALSE(credentials::parse_container_json(bad, c, err, sizeof err)) << bad;
    EXPECT_NE(err[0], '\0') << bad;
  }
}

TEST(Decode, FormEncodeAndRandomXml) {
  char out[64];
  const char* want = "arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b%2Bc~._-";
  EXPECT_EQ(credentials::form_encode("arn:aws:iam::1:role/a b+c~._-", out, sizeof out), std::strlen(want));
  EXPECT_STREQ(out, want);
  EXPECT_EQ(credentials::form_encode("arn:aws:iam::1:role/a b+c~._-", out, std::strlen(want)), 0u) << "no room for NUL";
  EXPECT_EQ(credentials::form_encode("\xff", out, 4), 3u);
  EXPECT_STREQ(out, "%FF");
  EXPECT_EQ(credentials::form_encode("\xff", out, 3), 0u);
  // Random corruption of a valid answer: never crashes or reads out of bounds (ASan), and
  // anything accepted has a usable key.
  const uint32_t seed = std::random_device{}();
  std::printf("Decode.FormEncodeAndRandomXml seed=%u\n", seed);
  std::mt19937 rng(seed);
  const std::string base =
      "<Credentials><AccessKeyId>ASIA&amp;1</AccessKeyId><SecretAccessKey>s&#x41;</SecretAccessKey>"
      "<SessionToken>t&#65;</SessionToken><Expiration>2030-01-02T03:04:05Z</Expiration></Credentials>";
  const std::string alphabet = "<>/&;#x0Aa \n";
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    for (int e = 0; e < 3; ++e) {
      size_t pos = rng() % s.size();
      if (rng() % 2) s[pos] = alphabet[rng() % alphabet.size()];
      else s.erase(pos, 1);
    }
    auto heap = std::make_unique<char[]>(s.size());
    std::memcpy(heap.get(), s.data(), s.size());
    credentials::Creds c{};
    char err[128];
    if (credentials::parse_assume_role_xml(std::string_view(heap.get(), s.size()), c, err, sizeof err)) {
      EXPECT_NE(c.access_key_id[0], '\0');
      EXPECT_EQ(std::strchr(c.access_key_id, ' '), nullptr);
    }
    char msg[64];
    credentials::parse_sts_error_xml(std::string_view(heap.get(), s.size()), msg, sizeof msg);
  }
}

TEST(Decode, SourceNames) {
  EXPECT_STREQ(credentials::source_name(credentials::Source::kNone), "none");
  EXPECT_STREQ(credentials::source_name(credentials::Source::kContainer), "container endpoint");
  EXPECT_STREQ(credentials::source_name(credentials::Source::kAssumeRole), "AssumeRole");
  EXPECT_STREQ(credentials::source_name(credentials::Source::kEnvironment), "environment");
}

}  // namespace

// ---- shared files and file reads (issue 12)

TEST(SharedFiles, SectionsKeysAndComments) {
  const std::string cred =
      "# comment\n[default]\naws_access_key_id = AKIADEFAULT\r\naws_secret_access_key=s1\n"
      "[dev]\n  nested = ignored\nAWS_ACCESS_KEY_ID = AKIADEV\n; other comment\n[profile dev]\naws_access_key_id = X\n"
      "[default]\naws_session_token = later\naws_access_key_id = AKIAOVERRIDE\n";
  std::string_view v;
  EXPECT_TRUE(credentials::profile_exists(cred, credentials::SharedFile::kCredentials, "default"));
  EXPECT_TRUE(credentials::profile_exists(cred, credentials::SharedFile::kCredentials, "profile dev"));
  EXPECT_FALSE(credentials::profile_exists(cred, credentials::SharedFile::kCredentials, "nope"));
  ASSERT_TRUE(credentials::profile_value(cred, credentials::SharedFile::kCredentials, "default", "aws_access_key_id", &v));
  EXPECT_EQ(v, "AKIAOVERRIDE");  // the last assignment wins
  ASSERT_TRUE(credentials::profile_value(cred, credentials::SharedFile::kCredentials, "default", "aws_secret_access_key", &v));
  EXPECT_EQ(v, "s1");
  ASSERT_TRUE(credentials::profile_value(cred, credentials::SharedFile::kCredentials, "dev", "aws_access_key_id", &v));
  EXPECT_EQ(v, "AKIADEV");  // key names are case-insensitive
  EXPECT_FALSE(credentials::profile_value(cred, credentials::SharedFile::kCredentials, "dev", "nested", &v));

  const std::string config = "[default]\nregion = eu-west-1\n[profile  dev ]\nregion=us-west-2\n[dev]\nregion=x\n"
                             "[sso-session corp]\nregion=y\n[profile default]\noutput = json\n";
  ASSERT_TRUE(credentials::profile_value(config, credentials::SharedFile::kConfig, "default", "region", &v));
  EXPECT_EQ(v, "eu-west-1");
  ASSERT_TRUE(credentials::profile_value(config, credentials::SharedFile::kConfig, "default", "output", &v));
  EXPECT_EQ(v, "json");
  ASSERT_TRUE(credentials::profile_value(config, credentials::SharedFile::kConfig, "dev", "region", &v));
  EXPECT_EQ(v, "us-west-2");  // [dev] is not a profile in the config file
  EXPECT_FALSE(credentials::profile_exists(config, credentials::SharedFile::kConfig, "corp"));
  // Garbage never crashes and never matches.
  std::mt19937 rng(12);
  std::string junk;
  for (int i = 0; i < 20000; ++i) junk.push_back("[]=\n #;ab"[rng() % 10]);
  credentials::profile_value(junk, credentials::SharedFile::kConfig, "a", "b", &v);
  credentials::profile_exists(junk + "[", credentials::SharedFile::kCredentials, "");
}

TEST(SharedFiles, ReadSmallFileRefusesFifosDirectoriesAndLargeFiles) {
  char dir[] = "/tmp/creds-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string fifo = std::string(dir) + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  char buf[64], err[256];
  size_t len = 0;
  bool missing = true;
  uint64_t t0 = loop::monotonic_ms();
  EXPECT_FALSE(credentials::read_small_file(fifo.c_str(), "TEST_FILE", buf, sizeof buf, &len, &missing, err, sizeof err));
  EXPECT_LT(loop::monotonic_ms() - t0, 1000u);  // never waits for a writer
  EXPECT_NE(std::string(err).find("not a regular file"), std::string::npos) << err;
  EXPECT_FALSE(missing);
  EXPECT_FALSE(credentials::read_small_file(dir, "TEST_FILE", buf, sizeof buf, &len, &missing, err, sizeof err));
  EXPECT_NE(std::string(err).find("not a regular file"), std::string::npos) << err;
  std::string big = std::string(dir) + "/big";
  std::ofstream(big) << std::string(64, 'x');  // cap 64 holds 63 bytes
  EXPECT_FALSE(credentials::read_small_file(big.c_str(), "TEST_FILE", buf, sizeof buf, &len, &missing, err, sizeof err));
  EXPECT_NE(std::string(err).find("larger than 63 bytes"), std::string::npos) << err;
  std::ofstream(big) << std::string(63, 'y');
  ASSERT_TRUE(credentials::read_small_file(big.c_str(), "TEST_FILE", buf, sizeof buf, &len, &missing, err, sizeof err));
  EXPECT_EQ(len, 63u);
  EXPECT_FALSE(credentials::read_small_file((std::string(dir) + "/none").c_str(), "TEST_FILE", buf, sizeof buf, &len,
                                            &missing, err, sizeof err));
  EXPECT_TRUE(missing);
  unlink(fifo.c_str());
  unlink(big.c_str());
  rmdir(dir);
}

TEST_F(Creds, ChainOrderAndProfileErrors) {
  char dir[] = "/tmp/creds-chain-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string cfg = std::string(dir) + "/config";
  std::ofstream(cfg) << "[profile long]\nrole_arn = arn:aws:iam::1:role/r0\nsource_profile = p1\n"
                        "[profile p1]\nrole_arn = arn:aws:iam::1:role/r1\nsource_profile = p2\n"
                        "[profile p2]\nrole_arn = arn:aws:iam::1:role/r2\nsource_profile = p3\n"
                        "[profile p3]\nrole_arn = arn:aws:iam::1:role/r3\nsource_profile = p4\n"
                        "[profile p4]\nrole_arn = arn:aws:iam::1:role/r4\nsource_profile = p5\n"
                        "[profile p5]\nrole_arn = arn:aws:iam::1:role/r5\nsource_profile = keys\n"
                        "[profile keys]\naws_access_key_id = AKIAKEYS\naws_secret_access_key = sk\n"
                        "[profile ok]\nrole_arn = arn:aws:iam::1:role/r3\nsource_profile = p4\n"
                        "[profile self]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = self\n"
                        "aws_access_key_id = AKIASELF\naws_secret_access_key = sk\n"
                        "[profile regiononly]\nregion = us-east-1\n";
  auto init = [&](std::vector<std::string> vars, std::string* desc) {
    vars.push_back("AWS_CONFIG_FILE=" + cfg);
    vars.push_back("AWS_REGION=us-east-1");
    vars.push_back("AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:9");
    Env env(vars);
    auto chain = std::make_unique<credentials::Chain>();
    char err[600] = "";
    bool ok = chain->init(&lp, &client, *env.s, err, sizeof err);
    *desc = ok ? chain->description() : err;
    return ok;
  };
  std::string d;
  EXPECT_FALSE(init({"AWS_PROFILE=long"}, &d));
  EXPECT_NE(d.find("longer than 4 source_profile hops"), std::string::npos) << d;
  ASSERT_TRUE(init({"AWS_PROFILE=ok"}, &d)) << d;
  EXPECT_EQ(d, "shared profile ok (static keys of keys) -> AssumeRole arn:aws:iam::1:role/r5 -> AssumeRole "
               "arn:aws:iam::1:role/r4 -> AssumeRole arn:aws:iam::1:role/r3");
  ASSERT_TRUE(init({"AWS_PROFILE=self"}, &d)) << d;
  EXPECT_EQ(d, "shared profile self (static keys of self) -> AssumeRole arn:aws:iam::1:role/self");
  // A profile with only a region leaves the chain to the next source (IMDS in agent mode).
  ASSERT_TRUE(init({"AWS_PROFILE=regiononly"}, &d)) << d;
  EXPECT_EQ(d, "instance metadata (IMDS at 127.0.0.1:9)");
  ASSERT_TRUE(init({"AWS_PROFILE=regiononly", "AWS_EC2_METADATA_DISABLED=true"}, &d)) << d;
  EXPECT_EQ(d, "none");
  ASSERT_TRUE(init({"AWS_PROFILE=regiononly", "AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container_url()}, &d)) << d;
  EXPECT_EQ(d, "container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI)");
  // Environment keys come first, whatever else is set.
  ASSERT_TRUE(init({"AWS_PROFILE=ok", "AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=x"}, &d)) << d;
  EXPECT_EQ(d, "environment (AWS_ACCESS_KEY_ID)");
  unlink(cfg.c_str());
  rmdir(dir);
}
