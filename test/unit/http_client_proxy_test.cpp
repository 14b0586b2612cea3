// Tests for the proxy module (URL parsing, NO_PROXY matching, environment
// selection, always-direct hosts, Route: credentials and copied headers) and
// for http_client's use of it: set_proxy validation, and real requests through
// test/emulator/connect_proxy.py (CONNECT tunnels to test/emulator/http_peer.py's
// TLS peer, absolute-form plain HTTP), plus misbehaving proxies written here
// (silent, split answers, bytes after the 2xx).
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/net/http_client.h"
#include "appconfig/net/proxy.h"
#include "appconfig/net/tls.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace hc = appconfig::http_client;
namespace proxy = appconfig::proxy;
namespace loop = appconfig::loop;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- pure functions

TEST(ProxyUrl, ParsesTheFormsProxiesAreWrittenIn) {
  proxy::Url u;
  ASSERT_EQ(proxy::parse_url("http://proxy.corp:3128", u), proxy::Error::kNone);
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.host, "proxy.corp");
  EXPECT_EQ(u.port, 3128);
  EXPECT_FALSE(u.has_credentials);

  ASSERT_EQ(proxy::parse_url("HTTP://10.0.0.1/", u), proxy::Error::kNone);
  EXPECT_EQ(u.host, "10.0.0.1");
  EXPECT_EQ(u.port, 80) << "default port of the scheme";

  ASSERT_EQ(proxy::parse_url("proxy:8080", u), proxy::Error::kNone) << "no scheme means http:// (curl)";
  EXPECT_EQ(u.host, "proxy");
  EXPECT_EQ(u.port, 8080);

  ASSERT_EQ(proxy::parse_url("http://[fd00::1]:3128", u), proxy::Error::kNone);
  EXPECT_EQ(u.host, "fd00::1");
  EXPECT_EQ(u.port, 3128);

  // The last '@' ends the userinfo; ':' splits user from password once.
  ASSERT_EQ(proxy::parse_url("http://us%20er:p@ss:w@proxy:1", u), proxy::Error::kNone);
  EXPECT_TRUE(u.has_credentials);
  EXPECT_EQ(u.user, "us%20er");
  EXPECT_EQ(u.password, "p@ss:w");
  EXPECT_EQ(u.host, "proxy");

  ASSERT_EQ(proxy::parse_url("http://user@proxy:1", u), proxy::Error::kNone);
  EXPECT_EQ(u.user, "user");
  EXPECT_EQ(u.password, "");

  ASSERT_EQ(proxy::parse_url("https://proxy", u), proxy::Error::kNone);
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, 443);

  for (const char* bad : {"", "http://", "http://:80", "http://proxy:", "http://proxy:0", "http://proxy:65536",
                          "http://proxy:80x", "http://proxy/path", "http://proxy?q", "http://proxy#f",
                          "socks5://proxy:1080", "http://[fd00::1", "http://[10.0.0.1]:1", "http://[::1]x",
                          "http://pro xy:1", "http://a]b:1", "http://user@", "ftp://x"}) {
    EXPECT_EQ(proxy::parse_url(bad, u), proxy::Error::kBadUrl) << bad;
  }
}

TEST(NoProxy, CurlAndGoConventions) {
  struct Case {
    const char* list;
    const char* host;
    bool match;
  } cases[] = {
      {"*", "anything.example", true},
      {"", "example.com", false},
      {"example.com", "example.com", true},
      {"example.com", "EXAMPLE.com.", true},
      {"example.com", "a.b.example.com", true},
      {"example.com", "badexample.com", false},
      {".example.com", "example.com", true},
      {".example.com", "x.example.com", true},
      {"*.example.com", "x.example.com", true},
      {"*.example.com", "xexample.com", false},
      {" foo.test ,\texample.com ", "example.com", true},
      {"foo,,bar", "bar", true},
      {"example.com:443", "example.com", true},
      {"amazonaws.com", "appconfigdata.us-east-1.amazonaws.com", true},
      {"amazonaws.com", "amazonaws.com.evil.test", false},
      {"10.0.0.1", "10.0.0.1", true},
      {"10.0.0.1", "10.0.0.10", false},
      {"10.0.0.1:8080", "10.0.0.1", true},
      {"::1", "[::1]", true},
      {"[0::1]:80", "::1", true},
      {"fd00::/8", "fd12::5", true},
      {"fd00::/8", "fe80::1", false},
      {"10.0.0.0/8", "10.200.3.4", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"169.254.0.0/16", "169.254.170.2", true},
      {"0.0.0.0/0", "1.2.3.4", true},
      {"10.0.0.0/33", "10.0.0.1", false},
      {"10.0.0.0/8", "ten.example", false},
      {"1.2.3.4", "host.example", false},
      {"example", "1.2.3.4", false},
      {"*", "", false},
      {".", "example.com", false},
      {"*.", "example.com", false},
  };
  for (const Case& c : cases)
    EXPECT_EQ(proxy::no_proxy_matches(c.list, c.host), c.match) << "NO_PROXY=\"" << c.list << "\" host " << c.host;
}

TEST(NoProxy, RandomListsNeverCrashAndStarAlwaysWins) {
  uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  const char alphabet[] = "ab.:,[]*/ 019f";
  for (int i = 0; i < 20000; ++i) {
    std::string list, host;
    for (int n = rng() % 24; n > 0; --n) list += alphabet[rng() % (sizeof alphabet - 1)];
    for (int n = rng() % 12; n > 0; --n) host += alphabet[rng() % (sizeof alphabet - 1)];
    proxy::no_proxy_matches(list, host);  // must simply not crash (ASan/UBSan watch)
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    if (!h.empty() && h.back() == '.') h.pop_back();
    EXPECT_EQ(proxy::no_proxy_matches(list + ",*", host), !h.empty()) << list << " / " << host;
  }
}

TEST(ChooseProxy, OursWinsThenHttpsProxyThenLowercase) {
  const char* env1[] = {"HTTPS_PROXY=http://upper:1", "https_proxy=http://lower:2", "NO_PROXY=a.test",
                        "no_proxy=b.test", nullptr};
  proxy::Choice c = proxy::choose(env1, "http://ours:3");
  EXPECT_EQ(c.url, "http://ours:3");
  EXPECT_FALSE(c.from_environment);
  EXPECT_EQ(c.no_proxy, "a.test") << "NO_PROXY is honoured with our own proxy too";
  c = proxy::choose(env1, "");
  EXPECT_EQ(c.url, "http://upper:1");
  EXPECT_TRUE(c.from_environment);
  const char* env2[] = {"HTTPS_PROXY=", "https_proxy=http://lower:2", "NO_PROXY=", "no_proxy=b.test",
                        "HTTP_PROXY=http://plain:9", nullptr};
  c = proxy::choose(env2, "");
  EXPECT_EQ(c.url, "http://lower:2") << "an empty value counts as unset";
  EXPECT_EQ(c.no_proxy, "b.test");
  const char* env3[] = {"HTTP_PROXY=http://plain:9", "HTTPS_PROXYX=http://x:1", "XHTTPS_PROXY=http://y:1", nullptr};
  c = proxy::choose(env3, "");
  EXPECT_EQ(c.url, "") << "HTTP_PROXY is not used (our AWS traffic is HTTPS); names must match exactly";
  EXPECT_FALSE(c.from_environment);
  c = proxy::choose(nullptr, "");
  EXPECT_EQ(c.url, "");
}

TEST(ProxyHosts, AlwaysDirectAndHostText) {
  for (const char* h : {"127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST.", "x.localhost",
                        "169.254.170.2", "fe80::1", "[fe80::1]", "::ffff:127.0.0.1", "::ffff:169.254.1.1"})
    EXPECT_TRUE(proxy::always_direct(h)) << h;
  for (const char* h : {"10.1.2.3", "localhost.example", "169.255.0.1", "fec0::1", "::2", "example.com", ""})
    EXPECT_FALSE(proxy::always_direct(h)) << h;
  EXPECT_TRUE(proxy::is_host_text("proxy.corp"));
  EXPECT_TRUE(proxy::is_host_text("[::1]"));
  EXPECT_TRUE(proxy::is_host_text(std::string(proxy::kMaxHostBytes, 'a')));
  for (std::string h : {std::string(), std::string(proxy::kMaxHostBytes + 1, 'a'), std::string("a b"),
                        std::string("a/b"), std::string("u@h"), std::string("h?q"), std::string("h#f"),
                        std::string("h\x7f"), std::string("caf\xc3\xa9")})
    EXPECT_FALSE(proxy::is_host_text(h)) << h;
}

proxy::Config route_cfg(std::string_view url, const proxy::Header* hs = nullptr, size_t n = 0,
                        std::string_view no = "") {
  return proxy::Config{.url = url, .headers = hs, .num_headers = n, .no_proxy = no};
}

TEST(ProxyRoute, CopiesEverythingAndEncodesBasicCredentials) {
  proxy::Route r{};
  EXPECT_FALSE(r.applies_to("example.com")) << "a fresh route sends nothing through a proxy";
  std::string url = "https://us%20er:p%40ss@[fd00::1]:3128/";
  std::string h1 = "X-Team", v1 = "payments", no = "internal.test, 10.0.0.0/8";
  proxy::Header hs[] = {{h1, v1}, {"X-Empty", ""}};
  ASSERT_EQ(r.configure(route_cfg(url, hs, 2, no)), proxy::Error::kNone);
  // The Config's text may die: everything the route needs is its own copy.
  std::fill(url.begin(), url.end(), 'x');
  std::fill(h1.begin(), h1.end(), 'x');
  std::fill(v1.begin(), v1.end(), 'x');
  std::fill(no.begin(), no.end(), 'x');
  EXPECT_TRUE(r.enabled);
  EXPECT_TRUE(r.tls);
  EXPECT_EQ(r.name(), "fd00::1");
  EXPECT_EQ(r.port, 3128);
  EXPECT_EQ(r.authorization(), "Basic dXMgZXI6cEBzcw==") << "base64(\"us er:p@ss\"), RFC 7617";
  ASSERT_EQ(r.num_headers, 2u);
  EXPECT_EQ(r.header(0).name, "X-Team");
  EXPECT_EQ(r.header(0).value, "payments");
  EXPECT_EQ(r.header(1).name, "X-Empty");
  EXPECT_EQ(r.header(1).value, "");
  EXPECT_EQ(r.no_proxy_list(), "internal.test, 10.0.0.0/8");
  EXPECT_TRUE(r.applies_to("appconfigdata.us-east-1.amazonaws.com"));
  EXPECT_FALSE(r.applies_to("svc.internal.test"));
  EXPECT_FALSE(r.applies_to("10.9.8.7"));
  EXPECT_FALSE(r.applies_to("127.0.0.1"));

  // A failure leaves the route as it was.
  EXPECT_EQ(r.configure(route_cfg("http://user:%zz@proxy")), proxy::Error::kBadCredentials);
  EXPECT_EQ(r.configure(route_cfg("ftp://proxy")), proxy::Error::kBadUrl);
  EXPECT_EQ(r.authorization(), "Basic dXMgZXI6cEBzcw==");
  EXPECT_EQ(r.header(0).value, "payments");

  // Without credentials there is no Proxy-Authorization; a user alone still gets "user:".
  ASSERT_EQ(r.configure(route_cfg("proxy:8080")), proxy::Error::kNone);
  EXPECT_EQ(r.authorization(), "");
  EXPECT_EQ(r.num_headers, 0u);
  EXPECT_FALSE(r.tls);
  ASSERT_EQ(r.configure(route_cfg("http://user@proxy")), proxy::Error::kNone);
  EXPECT_EQ(r.authorization(), "Basic dXNlcjo=");

  // local_always_direct = false: a loopback peer goes through the proxy too (tests only).
  proxy::Config local = route_cfg("http://proxy:1");
  local.local_always_direct = false;
  ASSERT_EQ(r.configure(local), proxy::Error::kNone);
  EXPECT_TRUE(r.applies_to("127.0.0.1"));

  // An empty URL turns proxying off; NO_PROXY is kept all the same.
  ASSERT_EQ(r.configure(route_cfg("", nullptr, 0, "a.test")), proxy::Error::kNone);
  EXPECT_FALSE(r.enabled);
  EXPECT_FALSE(r.applies_to("example.com"));
  EXPECT_EQ(r.no_proxy_list(), "a.test");
}

proxy::Config cfg(std::string_view url, const hc::Header* hs = nullptr, size_t n = 0, std::string_view no = "") {
  proxy::Config c;
  c.url = url;
  c.headers = hs;
  c.num_headers = n;
  c.no_proxy = no;
  return c;
}

class ProxyClient : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(lp.init());
    ASSERT_TRUE(client.init(&lp, 3));
  }
  void TearDown() override { appconfig::tls::set_ca_search_path_for_tests(nullptr); }
  bool run_until(const std::function<bool()>& done, int max_ms = 8000) {
    uint64_t end = loop::monotonic_ms() + static_cast<uint64_t>(max_ms);
    while (!done()) {
      if (loop::monotonic_ms() > end) return false;
      lp.run_once(20);
    }
    return true;
  }
  loop::Loop lp;
  hc::Client client;  // destroyed before lp
};

TEST_F(ProxyClient, SetProxyValidatesAndKeepsThePreviousSettingOnError) {
  hc::Client fresh;
  EXPECT_EQ(fresh.set_proxy(cfg("http://p:1")), proxy::Error::kNotInitialised);

  ASSERT_EQ(client.set_proxy(cfg("http://proxy.test:3128", nullptr, 0, "internal.test")),
            proxy::Error::kNone);
  EXPECT_TRUE(client.uses_proxy("appconfigdata.us-east-1.amazonaws.com"));
  EXPECT_FALSE(client.uses_proxy("svc.internal.test"));
  // Always direct: the Runtime API, loopback, link-local credential endpoints.
  for (const char* h : {"127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost", "LOCALHOST.", "x.localhost",
                        "169.254.170.2", "fe80::1", "::ffff:127.0.0.1"})
    EXPECT_FALSE(client.uses_proxy(h)) << h;
  EXPECT_TRUE(client.uses_proxy("10.1.2.3"));
  EXPECT_TRUE(client.uses_proxy("localhost.example"));

  const std::string secret = "s3cr3t-pa55";
  // https:// proxies are accepted (TLS to the proxy; test_agent_parity.py HttpsProxyCase runs one).
  EXPECT_EQ(client.set_proxy(cfg("https://user:" + secret + "@proxy:443")), proxy::Error::kNone);
  EXPECT_TRUE(client.uses_proxy("appconfigdata.us-east-1.amazonaws.com"));
  ASSERT_EQ(client.set_proxy(cfg("http://proxy.test:3128", nullptr, 0, "internal.test")), proxy::Error::kNone);
  EXPECT_EQ(client.set_proxy(cfg("http://user:%zz@proxy")), proxy::Error::kBadCredentials);
  EXPECT_EQ(client.set_proxy(cfg("http://user:%4@proxy")), proxy::Error::kBadCredentials);
  EXPECT_EQ(client.set_proxy(cfg("http://us%0Aer:x@proxy")), proxy::Error::kBadCredentials);
  EXPECT_EQ(client.set_proxy(cfg("http://" + std::string(600, 'u') + ":p@proxy")),
            proxy::Error::kBadCredentials);
  EXPECT_EQ(client.set_proxy(cfg("socks5://proxy")), proxy::Error::kBadUrl);
  hc::Header bad1[] = {{"X Bad", "v"}};
  hc::Header bad2[] = {{"X-Ok", "a\r\nInjected: 1"}};
  hc::Header bad3[] = {{"Host", "elsewhere"}};
  // Header values we send are visible ASCII (issue 10): other control bytes, DEL and obs-text too.
  hc::Header bad4[] = {{"X-Ok", "a\x01b"}};
  hc::Header bad5[] = {{"X-Ok", "caf\xc3\xa9"}};
  hc::Header bad6[] = {{"X-Ok", "a\x7f"}};
  for (hc::Header* h : {bad1, bad2, bad3, bad4, bad5, bad6})
    EXPECT_EQ(client.set_proxy(cfg("http://proxy:1", h, 1)), proxy::Error::kBadHeader);
  std::vector<hc::Header> many(proxy::kMaxHeaders + 1, hc::Header{"X-A", "b"});
  EXPECT_EQ(client.set_proxy(cfg("http://proxy:1", many.data(), many.size())), proxy::Error::kBadHeader);
  std::string big(proxy::kMaxHeaderBytes, 'v');
  hc::Header huge[] = {{"X-Big", big}};
  EXPECT_EQ(client.set_proxy(cfg("http://proxy:1", huge, 1)), proxy::Error::kBadHeader);
  EXPECT_EQ(client.set_proxy(cfg("http://proxy:1", nullptr, 0, std::string(5000, 'a'))),
            proxy::Error::kNoProxyTooLong);
  // None of the failures replaced the working configuration.
  EXPECT_TRUE(client.uses_proxy("appconfigdata.us-east-1.amazonaws.com"));
  EXPECT_FALSE(client.uses_proxy("svc.internal.test"));
  for (int i = 0; i <= static_cast<int>(proxy::Error::kNoProxyTooLong); ++i) {
    std::string m = proxy::error_message(static_cast<proxy::Error>(i));
    EXPECT_EQ(m.find(secret), std::string::npos);
    EXPECT_FALSE(m.empty());
  }
  // An empty URL turns proxying off.
  ASSERT_EQ(client.set_proxy(cfg("")), proxy::Error::kNone);
  EXPECT_FALSE(client.uses_proxy("appconfigdata.us-east-1.amazonaws.com"));
}

// ---------------------------------------------------------------- subprocess peers

// Runs a Python peer that prints "PORT <n> [CERT <path>]" and serves until its stdin closes.
class PyProc {
 public:
  explicit PyProc(std::vector<std::string> args) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>("python3"));
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    FILE* f = fdopen(out[0], "r");
    char line[512] = {};
    char cert[400] = {};
    unsigned port = 0;
    if (f != nullptr && fgets(line, sizeof line, f) != nullptr) {
      int n = std::sscanf(line, "PORT %u CERT %399s", &port, cert);
      if (n >= 1) port_ = static_cast<uint16_t>(port);
      if (n == 2) cert_ = cert;
    }
    if (f != nullptr) fclose(f);
  }
  ~PyProc() {
    if (stdin_ >= 0) close(stdin_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  const std::string& cert() const { return cert_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  uint16_t port_ = 0;
  std::string cert_;
};

std::string temp_log() {
  char path[] = "/tmp/connect_proxy_log_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0) close(fd);
  return path;
}

// The heads the proxy logged, in order (one JSON line each; the proxy writes
// "head" with json.dumps, so \r\n come as \\r\\n -- decoded here).
struct Logged {
  int conn;
  std::string head;
};
std::vector<Logged> read_log(const std::string& path) {
  std::vector<Logged> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    Logged l{};
    size_t c = line.find("\"conn\": ");
    size_t h = line.find("\"head\": \"");
    if (c == std::string::npos || h == std::string::npos) continue;
    l.conn = std::atoi(line.c_str() + c + 8);
    for (size_t i = h + 9; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        char e = line[++i];
        l.head += e == 'r' ? '\r' : e == 'n' ? '\n' : e;
      } else {
        l.head += line[i];
      }
    }
    out.push_back(l);
  }
  return out;
}

std::string b64(const std::string& in) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
    out += a[(v >> 18) & 63];
    out += a[(v >> 12) & 63];
    out += i + 1 < in.size() ? a[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? a[v & 63] : '=';
  }
  return out;
}

struct Outcome {
  bool called = false;
  hc::Error error = hc::Error::kNone;
  std::string detail;
  int status = 0;
  std::string body;
  std::function<void()> then;
};
void record(void* ctx, const hc::Result& r) {
  auto* o = static_cast<Outcome*>(ctx);
  EXPECT_FALSE(o->called) << "callback ran twice";
  o->called = true;
  o->error = r.error;
  o->detail = r.detail;
  if (r.response != nullptr) {
    o->status = r.response->status;
    o->body.assign(r.response->body.data(), r.response->body.size());
  }
  if (o->then) o->then();
}

class ProxyE2E : public ProxyClient {
 protected:
  hc::RequestId get(const std::string& host, uint16_t port, bool tls, Outcome& o, const std::string& target = "/",
                    uint64_t timeout_ms = 8000) {
    hc::Request req{"GET", target, nullptr, 0, "", timeout_ms};
    return client.send(hc::Endpoint{.host = host, .port = port, .tls = tls}, req, &record, &o);
  }
  void use_proxy(uint16_t port, const std::string& userinfo = "", const hc::Header* hs = nullptr, size_t n = 0,
                 const std::string& no_proxy = "") {
    url = "http://" + userinfo + "127.0.0.1:" + std::to_string(port);
    proxy::Config cfg{url, hs, n, no_proxy};
    cfg.local_always_direct = false;  // the peers are on loopback
    ASSERT_EQ(client.set_proxy(cfg), proxy::Error::kNone);
  }
  std::string url;
};

TEST_F(ProxyE2E, HttpsThroughTunnelWithAuthHeadersAndKeepAlive) {
  PyProc peer({"test/emulator/http_peer.py", "--tls", "--script", "keepalive"});
  ASSERT_TRUE(peer.ok());
  appconfig::tls::set_ca_search_path_for_tests(peer.cert().c_str());
  std::string log = temp_log();
  PyProc proxy({"test/emulator/connect_proxy.py", "--log", log, "--require-auth", "us er:p@ss:w"});
  ASSERT_TRUE(proxy.ok());
  hc::Header hs[] = {{"X-Trace", "abc"}, {"X-Team", "config"}};
  use_proxy(proxy.port(), "us%20er:p%40ss%3Aw@", hs, 2);
  for (int j = 0; j < 3; ++j) {
    Outcome o;
    get("localhost", peer.port(), true, o, "/p" + std::to_string(j));
    ASSERT_TRUE(run_until([&] { return o.called; }));
    ASSERT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, "conn=0 req=" + std::to_string(j) + " /p" + std::to_string(j))
        << "one tunnel, kept alive, origin-form inside it";
  }
  EXPECT_EQ(client.open_connections(), 1u);
  auto heads = read_log(log);
  ASSERT_EQ(heads.size(), 1u) << "a single CONNECT for three requests";
  std::string hp = "localhost:" + std::to_string(peer.port());
  EXPECT_EQ(heads[0].head, "CONNECT " + hp + " HTTP/1.1\r\nHost: " + hp + "\r\nProxy-Authorization: Basic " +
                               b64("us er:p@ss:w") + "\r\nX-Trace: abc\r\nX-Team: config\r\n\r\n");
  unlink(log.c_str());
}

TEST_F(ProxyE2E, RefusalsNameTheProxyAndItsStatus) {
  struct Case {
    std::vector<std::string> args;
    const char* userinfo;
    std::string want;
  } cases[] = {
      {{"--require-auth", "u:p"}, "", "refused CONNECT: 407 Proxy Authentication Required"},
      {{"--require-auth", "u:p"}, "u:wrong@", "refused CONNECT: 407 Proxy Authentication Required"},
      {{"--refuse", "403"}, "u:p@", "refused CONNECT: 403 Forbidden"},
      {{"--refuse", "502"}, "", "refused CONNECT: 502 Bad Gateway"},
      {{"--close-after-connect"}, "", "closed the connection during CONNECT"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"test/emulator/connect_proxy.py"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    PyProc proxy(args);
    ASSERT_TRUE(proxy.ok());
    use_proxy(proxy.port(), c.userinfo);
    Outcome o;
    get("appconfigdata.us-east-1.amazonaws.com", 443, true, o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kProxy) << o.detail;
    std::string proxy_name = "proxy 127.0.0.1:" + std::to_string(proxy.port());
    EXPECT_NE(o.detail.find(proxy_name), std::string::npos) << o.detail;
    EXPECT_NE(o.detail.find(c.want), std::string::npos) << o.detail;
    EXPECT_EQ(o.detail.rfind("appconfigdata.us-east-1.amazonaws.com:443: ", 0), 0u) << o.detail;
    EXPECT_EQ(o.detail.find("wrong"), std::string::npos) << "credentials never appear";
    EXPECT_EQ(client.open_connections(), 0u);
  }
}

TEST_F(ProxyE2E, ProxyNameComesFromEtcHostsAndUnknownProxyNameIsResolveError) {
  PyProc proxy({"test/emulator/connect_proxy.py", "--refuse", "403"});
  ASSERT_TRUE(proxy.ok());
  std::string proxy_url = "http://localhost:" + std::to_string(proxy.port());
  proxy::Config c = cfg(proxy_url);
  c.local_always_direct = false;
  ASSERT_EQ(client.set_proxy(c), proxy::Error::kNone);
  Outcome o;
  get("appconfig.example", 443, true, o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kProxy) << o.detail;
  EXPECT_NE(o.detail.find("proxy localhost:" + std::to_string(proxy.port()) + " refused CONNECT: 403"),
            std::string::npos)
      << o.detail;
  ASSERT_EQ(client.set_proxy(cfg("http://no-such-proxy.invalid:3128")), proxy::Error::kNone);
  Outcome r;
  get("appconfig.example", 443, true, r);
  ASSERT_TRUE(run_until([&] { return r.called; }));
  EXPECT_EQ(r.error, hc::Error::kResolve) << r.detail;
  EXPECT_NE(r.detail.find("proxy name no-such-proxy.invalid not found"), std::string::npos) << r.detail;
}

TEST_F(ProxyE2E, ProxyClosingInsideTheTunnelIsATlsError) {
  PyProc proxy({"test/emulator/connect_proxy.py", "--close-after-200"});
  ASSERT_TRUE(proxy.ok());
  use_proxy(proxy.port());
  Outcome o;
  get("localhost", 443, true, o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kTls) << o.detail;
}

TEST_F(ProxyE2E, NoProxyBypassGoesDirect) {
  PyProc peer({"test/emulator/http_peer.py", "--tls", "--script", "keepalive"});
  ASSERT_TRUE(peer.ok());
  appconfig::tls::set_ca_search_path_for_tests(peer.cert().c_str());
  // The proxy port is closed: anything that uses it fails to connect.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t sl = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &sl);
  close(fd);
  uint16_t dead = ntohs(a.sin_port);
  use_proxy(dead, "", nullptr, 0, "example.test, LOCALHOST:443");
  Outcome direct, proxied;
  get("localhost", peer.port(), true, direct, "/direct");
  get("127.0.0.1", peer.port(), true, proxied, "/via");
  ASSERT_TRUE(run_until([&] { return direct.called && proxied.called; }));
  EXPECT_EQ(direct.error, hc::Error::kNone) << direct.detail;
  EXPECT_EQ(direct.body, "conn=0 req=0 /direct");
  EXPECT_EQ(proxied.error, hc::Error::kConnect) << proxied.detail;
  EXPECT_NE(proxied.detail.find("connect to proxy 127.0.0.1:" + std::to_string(dead) + " failed"), std::string::npos)
      << proxied.detail;
}

TEST_F(ProxyE2E, PlainHttpUsesAbsoluteFormAndTheProxyResolves) {
  PyProc peer({"test/emulator/http_peer.py", "--script", "keepalive"});
  ASSERT_TRUE(peer.ok());
  std::string log = temp_log();
  PyProc proxy({"test/emulator/connect_proxy.py", "--log", log, "--require-auth", "u:p", "--map",
                "only-the-proxy-knows.test=127.0.0.1"});
  ASSERT_TRUE(proxy.ok());
  hc::Header hs[] = {{"X-Trace", "t1"}};
  use_proxy(proxy.port(), "u:p@", hs, 1);
  for (int j = 0; j < 2; ++j) {
    Outcome o;
    get("only-the-proxy-knows.test", peer.port(), false, o, "/creds?x=" + std::to_string(j));
    ASSERT_TRUE(run_until([&] { return o.called; }));
    ASSERT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, "conn=0 req=" + std::to_string(j) + " /creds?x=" + std::to_string(j))
        << "the upstream got origin-form on one kept-alive connection";
  }
  auto heads = read_log(log);
  ASSERT_EQ(heads.size(), 2u);
  std::string hp = "only-the-proxy-knows.test:" + std::to_string(peer.port());
  for (int j = 0; j < 2; ++j) {
    EXPECT_EQ(heads[j].conn, 0) << "one client connection to the proxy";
    EXPECT_EQ(heads[j].head, "GET http://" + hp + "/creds?x=" + std::to_string(j) + " HTTP/1.1\r\nHost: " + hp +
                                 "\r\nProxy-Authorization: Basic " + b64("u:p") + "\r\nX-Trace: t1\r\n\r\n");
  }
  unlink(log.c_str());
}

TEST_F(ProxyE2E, StaleTunnelIsRetriedOnceThroughANewTunnel) {
  PyProc peer({"test/emulator/http_peer.py", "--tls", "--script", "drop-after-first"});
  ASSERT_TRUE(peer.ok());
  appconfig::tls::set_ca_search_path_for_tests(peer.cert().c_str());
  std::string log = temp_log();
  PyProc proxy({"test/emulator/connect_proxy.py", "--log", log});
  ASSERT_TRUE(proxy.ok());
  use_proxy(proxy.port());
  Outcome first, second;
  get("localhost", peer.port(), true, first, "/one");
  ASSERT_TRUE(run_until([&] { return first.called; }));
  ASSERT_EQ(first.error, hc::Error::kNone) << first.detail;
  EXPECT_EQ(first.body, "conn=0 first");
  get("localhost", peer.port(), true, second, "/two");
  ASSERT_TRUE(run_until([&] { return second.called; }));
  ASSERT_EQ(second.error, hc::Error::kNone) << second.detail;
  EXPECT_EQ(second.body, "conn=1 first") << "retried on a fresh tunnel";
  auto heads = read_log(log);
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(heads[0].conn, 0);
  EXPECT_EQ(heads[1].conn, 1);
  unlink(log.c_str());
}

// ---------------------------------------------------------------- misbehaving proxies written here

// One-connection-at-a-time TCP server on a thread; handler(fd) per connection.
class MiniProxy {
 public:
  explicit MiniProxy(std::function<void(int)> h) : h_(std::move(h)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 8);
    socklen_t sl = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &sl);
    port_ = ntohs(a.sin_port);
    t_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        h_(c);
        close(c);
      }
    });
  }
  ~MiniProxy() {
    stop_ = true;
    t_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::atomic<bool> stop_{false};

 private:
  std::function<void(int)> h_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread t_;
};

std::string read_head(int fd) {
  std::string in;
  char b[1024];
  while (in.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 3000) <= 0) break;
    ssize_t n = recv(fd, b, sizeof b, 0);
    if (n <= 0) break;
    in.append(b, static_cast<size_t>(n));
  }
  return in;
}

TEST_F(ProxyE2E, AnswerSplitAtRandomPointsIsStillParsed) {
  uint32_t seed = std::random_device{}();
  std::printf("random-split seed %u\n", seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const std::string answer =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
      "Content-Length: 5\r\n\r\nnope!";
  std::vector<std::vector<size_t>> plans;
  plans.push_back({});  // byte by byte
  for (size_t i = 1; i < answer.size(); ++i) plans.back().push_back(i);
  for (int k = 0; k < 6; ++k) {
    std::vector<size_t> cuts;
    for (int n = 1 + rng() % 5; n > 0; --n) cuts.push_back(1 + rng() % (answer.size() - 1));
    std::sort(cuts.begin(), cuts.end());
    plans.push_back(cuts);
  }
  for (const auto& cuts : plans) {
    MiniProxy mp([&](int fd) {
      read_head(fd);
      size_t prev = 0;
      for (size_t c : cuts) {
        if (c <= prev) continue;
        send(fd, answer.data() + prev, c - prev, MSG_NOSIGNAL);
        prev = c;
        std::this_thread::sleep_for(100us);
      }
      send(fd, answer.data() + prev, answer.size() - prev, MSG_NOSIGNAL);
      read_head(fd);  // until the client closes
    });
    use_proxy(mp.port());
    Outcome o;
    get("appconfig.example", 443, true, o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kProxy) << o.detail;
    EXPECT_NE(o.detail.find("refused CONNECT: 407 Proxy Authentication Required"), std::string::npos) << o.detail;
  }
}

TEST_F(ProxyE2E, BytesAfterThe200AndMalformedAnswersAreProxyErrors) {
  struct Case {
    std::string answer;
    std::string want;
  } cases[] = {
      {"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n", "unexpected bytes after its 200 answer"},
      {"SSH-2.0-OpenSSH\r\n\r\n", "malformed answer to CONNECT"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "unexpected interim answer 101"},
  };
  for (const Case& c : cases) {
    MiniProxy mp([&](int fd) {
      read_head(fd);
      send(fd, c.answer.data(), c.answer.size(), MSG_NOSIGNAL);
      read_head(fd);
    });
    use_proxy(mp.port());
    Outcome o;
    get("appconfig.example", 443, true, o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kProxy) << o.detail;
    EXPECT_NE(o.detail.find(c.want), std::string::npos) << o.detail;
  }
}

TEST_F(ProxyE2E, DeadlineCoversASilentProxy) {
  std::atomic<bool> got{false};
  std::string seen;
  MiniProxy mp([&](int fd) {
    seen = read_head(fd);
    got = true;
    read_head(fd);  // say nothing until the client gives up
  });
  use_proxy(mp.port());
  Outcome o;
  uint64_t t0 = loop::monotonic_ms();
  get("appconfig.example", 8443, true, o, "/", 300);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  uint64_t took = loop::monotonic_ms() - t0;
  EXPECT_EQ(o.error, hc::Error::kTimeout) << o.detail;
  EXPECT_NE(o.detail.find("proxy CONNECT"), std::string::npos) << o.detail;
  EXPECT_GE(took, 290u);
  EXPECT_LT(took, 2000u);
  ASSERT_TRUE(got.load());
  EXPECT_EQ(seen, "CONNECT appconfig.example:8443 HTTP/1.1\r\nHost: appconfig.example:8443\r\n\r\n");
}

TEST_F(ProxyE2E, Ipv6TargetIsBracketedInAuthorityForm) {
  std::string seen;
  MiniProxy mp([&](int fd) {
    seen = read_head(fd);
    const char no[] = "HTTP/1.0 403 Forbidden\r\n\r\n";
    send(fd, no, sizeof no - 1, MSG_NOSIGNAL);
  });
  use_proxy(mp.port());
  Outcome o;
  get("2001:db8::1", 443, true, o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kProxy) << o.detail;
  EXPECT_EQ(seen, "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
}

}  // namespace
