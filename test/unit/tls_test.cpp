// tls_test — Session against a real TLS peer (test/emulator/tls_peer.py, Python's OpenSSL), with a throwaway
// PKI made by the openssl CLI at test time: good RSA and ECDSA certificates for localhost/127.0.0.1, an
// expired one, a wrong-hostname one and one from an untrusted CA. Non-blocking sockets + a tiny poll loop.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/net/tls.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string_view>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace tls = appconfig::tls;

namespace {

std::string g_dir;  // temp dir holding the PKI

void sh(const std::string& cmd) {
  int rc = std::system(("( " + cmd + " ) >/dev/null 2>&1").c_str());
  ASSERT_EQ(rc, 0) << cmd;
}

std::string path(const char* name) { return g_dir + "/" + name; }

// A child process running tls_peer.py; prints "PORT n" once listening.
struct Peer {
  pid_t pid = -1;
  int port = 0;
  Peer(const std::string& cert, const std::string& key, const std::string& extra_args = "") {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid = fork();
    if (pid == 0) {
      // A loop::Loop elsewhere in this process blocks SIGTERM (it reads signals
      // from a signalfd); the mask is inherited, so unblock it for the peer.
      sigset_t all;
      sigfillset(&all);
      sigprocmask(SIG_UNBLOCK, &all, nullptr);
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::string cmd = "exec python3 test/emulator/tls_peer.py --cert " + cert + " --key " + key + " " +
                        extra_args + " 2>/dev/null";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* f = fdopen(fds[0], "r");
    char line[64] = {};
    if (f != nullptr && fgets(line, sizeof line, f) != nullptr) sscanf(line, "PORT %d", &port);
    if (f != nullptr) fclose(f);
  }
  ~Peer() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/tls_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    g_dir = tmpl;
    const std::string d = g_dir;
    // CA (RSA-2048 like Amazon Root CA 1) and a second, untrusted CA.
    sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -subj /CN=TestRootCA -days 3");
    sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -subj /CN=EvilCA -days 3");
    sh("cd " + d + " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > san.ext");
    sh("cd " + d + " && printf 'subjectAltName=DNS:wrong.example\\n' > wrong.ext");
    sh("cd " + d + " && openssl genrsa -out rsa.key 2048");
    sh("cd " + d + " && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key");
    auto issue = [&](const char* out, const char* key, const char* ca, const char* ext, const char* validity) {
      sh("cd " + d + " && openssl req -new -key " + key + " -subj /CN=localhost -out " + out + ".csr && " +
         "openssl x509 -req -in " + out + ".csr -CA " + ca + ".crt -CAkey " + ca + ".key -CAcreateserial " +
         validity + " -extfile " + ext + " -out " + out + ".crt");
    };
    // OpenSSL 3.4+ (Debian 13) refuses "-days -1" (end date before start date) and has -not_after instead.
    const char* expired_validity = std::system("openssl x509 -help 2>&1 | grep -q not_after") == 0
                                       ? "-not_before 20200101000000Z -not_after 20200102000000Z"
                                       : "-days -1";
    issue("rsa_good", "rsa.key", "ca", "san.ext", "-days 2");
    issue("ec_good", "ec.key", "ca", "san.ext", "-days 2");
    issue("expired", "rsa.key", "ca", "san.ext", expired_validity);
    issue("wronghost", "rsa.key", "ca", "wrong.ext", "-days 2");
    issue("untrusted", "rsa.key", "ca2", "san.ext", "-days 2");

    tls::Error err{};
    ASSERT_TRUE(tls::global_init(err)) << err.message;
    ASSERT_TRUE(tls::global_init(err)) << "second call must be a no-op";
    // Lazy: nothing parsed before the first start().
    EXPECT_EQ(tls::ca_count(), 0u);
    EXPECT_EQ(tls::ca_load_count(), 0u);
    tls::set_ca_search_path_for_tests(path("ca.crt").c_str());
  }
  void TearDown() override {
    if (!g_dir.empty()) std::system(("rm -rf " + g_dir).c_str());
  }
};
[[maybe_unused]] auto* const g_env = ::testing::AddGlobalTestEnvironment(new Env);

// The trust store is process-wide and other suites in the same binary (the
// HTTP client's) point it elsewhere; every test of this file starts from ours.
class TrustOurCa : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo& info) override {
    std::string_view file = info.file();
    if (file.size() >= 12 && file.substr(file.size() - 12) == "tls_test.cpp" && !g_dir.empty())
      tls::set_ca_search_path_for_tests(path("ca.crt").c_str());
  }
};
[[maybe_unused]] const bool g_listener = [] {
  ::testing::UnitTest::GetInstance()->listeners().Append(new TrustOurCa);
  return true;
}();

int connect_nb(int port, int sndbuf = 0, int rcvbuf = 0) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

bool wait_for(int fd, tls::Io io, int timeout_ms = 10000) {
  pollfd p{fd, short(io == tls::Io::kWantWrite ? POLLOUT : POLLIN), 0};
  return poll(&p, 1, timeout_ms) == 1;
}

struct Counts {
  int want_read = 0;
  int want_write = 0;
};

tls::Io handshake(tls::Session& s, int fd, tls::Error& err, Counts* c = nullptr) {
  for (int i = 0; i < 100000; ++i) {
    tls::Io io = s.handshake(err);
    if (io == tls::Io::kWantRead || io == tls::Io::kWantWrite) {
      if (c != nullptr) (io == tls::Io::kWantRead ? c->want_read : c->want_write)++;
      if (!wait_for(fd, io)) return tls::Io::kError;
      continue;
    }
    return io;
  }
  return tls::Io::kError;
}

// Writes `out` and reads until as many bytes came back, interleaving both in one poll loop (a pure write
// loop would deadlock once the peer's echo fills our receive buffer).
std::string echo(tls::Session& s, int fd, const std::string& out, Counts* c = nullptr) {
  std::string in;
  size_t sent = 0;
  std::vector<char> buf(1 + 4096);
  tls::Error err{};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool want_out = false;
  while (in.size() < out.size() && std::chrono::steady_clock::now() < deadline) {
    bool progress = false;
    if (sent < out.size()) {
      size_t n = 0;
      tls::Io io = s.write(out.data() + sent, out.size() - sent, &n, err);
      if (io == tls::Io::kError) {
        ADD_FAILURE() << err.message;
        return in;
      }
      sent += n;
      progress |= n > 0;
      want_out = io == tls::Io::kWantWrite;
      if (c != nullptr && io == tls::Io::kWantWrite) c->want_write++;
    }
    for (;;) {  // drain: mbedTLS may hold decrypted bytes poll() cannot see
      size_t n = 0;
      tls::Io io = s.read(buf.data(), buf.size(), &n, err);
      if (io == tls::Io::kOk) {
        in.append(buf.data(), n);
        progress = true;
        continue;
      }
      if (io == tls::Io::kWantRead) {
        if (c != nullptr) c->want_read++;
        break;
      }
      if (io == tls::Io::kWantWrite) break;
      ADD_FAILURE() << "read: " << int(io) << " " << err.message;
      return in;
    }
    if (!progress) {
      pollfd p{fd, short(POLLIN | (want_out ? POLLOUT : 0)), 0};
      poll(&p, 1, 1000);
    }
  }
  return in;
}

std::string connect_error(int port, const char* host) {
  int fd = connect_nb(port);
  tls::Session s;
  tls::Error err{};
  if (!s.start(fd, host, err)) {
    close(fd);
    return std::string("start: ") + err.message;
  }
  tls::Io io = handshake(s, fd, err);
  close(fd);
  if (io == tls::Io::kOk) return "OK";
  EXPECT_EQ(io, tls::Io::kError);
  EXPECT_NE(err.mbedtls_code, 0);
  return err.message;
}

struct Case {
  const char* cert;
  const char* key;
  const char* tls_flag;
  const char* expect_version;
};

class Handshake : public ::testing::TestWithParam<Case> {};

TEST_P(Handshake, ConnectsAndRoundTrips) {
  const Case& c = GetParam();
  Peer peer(path(c.cert), path(c.key), std::string("--tls ") + c.tls_flag);
  ASSERT_GT(peer.port, 0);
  for (const char* host : {"localhost", "127.0.0.1"}) {
    int fd = connect_nb(peer.port);
    ASSERT_GE(fd, 0);
    tls::Session s;
    tls::Error err{};
    ASSERT_TRUE(s.start(fd, host, err)) << err.message;
    EXPECT_STREQ(s.protocol_version(), "unknown");
    Counts counts;
    ASSERT_EQ(handshake(s, fd, err, &counts), tls::Io::kOk) << host << ": " << err.message;
    EXPECT_STREQ(s.protocol_version(), c.expect_version);
    const std::string req = "GET /applications/a/environments/e/configurations/c HTTP/1.1\r\nHost: x\r\n\r\n";
    EXPECT_EQ(echo(s, fd, req), req);
    // Orderly shutdown: our close_notify makes the peer answer with its own, which read() reports as kClosed
    // with code 0 (a clean close, not a truncation).
    s.close_notify();
    char buf[64];
    size_t n = 0;
    tls::Io io = tls::Io::kWantRead;
    for (int i = 0; i < 100 && io == tls::Io::kWantRead; ++i) {
      io = s.read(buf, sizeof buf, &n, err);
      if (io == tls::Io::kWantRead) {
        ASSERT_TRUE(wait_for(fd, io));
      }
    }
    EXPECT_EQ(io, tls::Io::kClosed) << err.message;
    EXPECT_EQ(err.mbedtls_code, 0) << err.message;
    s.reset();
    close(fd);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Peers, Handshake,
    ::testing::Values(Case{"rsa_good.crt", "rsa.key", "1.3", "TLSv1.3"},
                      Case{"rsa_good.crt", "rsa.key", "any", "TLSv1.3"},  // 1.3 preferred
                      Case{"ec_good.crt", "ec.key", "1.3", "TLSv1.3"},
                      Case{"ec_good.crt", "ec.key", "1.2", "TLSv1.2"}));

class BadCert : public ::testing::TestWithParam<const char*> {};

TEST_P(BadCert, ExpiredRefused) {
  Peer peer(path("expired.crt"), path("rsa.key"), std::string("--tls ") + GetParam());
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "localhost"), "certificate for localhost expired");
}

TEST_P(BadCert, WrongHostnameRefused) {
  Peer peer(path("wronghost.crt"), path("rsa.key"), std::string("--tls ") + GetParam());
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "localhost"),
            "hostname mismatch: the server's certificate is not valid for localhost");
}

TEST_P(BadCert, GoodCertificateForAnotherNameRefused) {
  Peer peer(path("rsa_good.crt"), path("rsa.key"), std::string("--tls ") + GetParam());
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "appconfigdata.us-east-1.amazonaws.com"),
            "hostname mismatch: the server's certificate is not valid for appconfigdata.us-east-1.amazonaws.com");
  EXPECT_EQ(connect_error(peer.port, "127.0.0.2"),
            "hostname mismatch: the server's certificate is not valid for 127.0.0.2");
}

TEST_P(BadCert, UntrustedCaRefused) {
  Peer peer(path("untrusted.crt"), path("rsa.key"), std::string("--tls ") + GetParam());
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "localhost"), "certificate for localhost is signed by an untrusted CA");
}

TEST_P(BadCert, SelfSignedCaAsLeafRefused) {
  // The untrusted CA's own certificate presented as the server certificate.
  Peer peer(path("ca2.crt"), path("ca2.key"), std::string("--tls ") + GetParam());
  ASSERT_GT(peer.port, 0);
  std::string msg = connect_error(peer.port, "localhost");
  EXPECT_NE(msg.find("untrusted CA"), std::string::npos) << msg;
}

INSTANTIATE_TEST_SUITE_P(Versions, BadCert, ::testing::Values("1.3", "1.2"));

// mbedTLS 3.6.6 bug (see kSigAlgs in src/net/tls.cpp): OpenSSL as a TLS-1.2-only server with an RSA key signs
// ServerKeyExchange with RSA-PSS, which mbedTLS 3.6.6 refuses after offering it. The first connection
// fails with a clear message and the host is remembered; the retry offers TLS 1.2 without PSS and works.
// When mbedTLS is upgraded past the fix (Mbed-TLS/mbedtls PR #10672) the first expectation fails: then make
// this a plain success case in Peers/Handshake and drop the fallback.
TEST(Tls, Tls12RsaPssServerFallsBackOnRetry) {
  Peer peer(path("rsa_good.crt"), path("rsa.key"), "--tls 1.2");
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "localhost"),
            "localhost chose RSA-PSS in TLS 1.2 (unsupported by mbedTLS 3.6.6); retrying will use TLS 1.2 "
            "without PSS");
  for (int i = 0; i < 2; ++i) {
    int fd = connect_nb(peer.port);
    tls::Session s;
    tls::Error err{};
    ASSERT_TRUE(s.start(fd, "localhost", err)) << err.message;
    ASSERT_EQ(handshake(s, fd, err), tls::Io::kOk) << err.message;
    EXPECT_STREQ(s.protocol_version(), "TLSv1.2");
    EXPECT_EQ(echo(s, fd, "ping"), "ping");
    s.reset();
    close(fd);
  }
  // Verification is as strict on the fallback path.
  Peer bad(path("expired.crt"), path("rsa.key"), "--tls 1.2");
  ASSERT_GT(bad.port, 0);
  EXPECT_EQ(connect_error(bad.port, "localhost"), "certificate for localhost expired");
  // A fallback host whose server now refuses TLS 1.2 goes back to the normal configuration.
  Peer v13(path("rsa_good.crt"), path("rsa.key"), "--tls 1.3");
  ASSERT_GT(v13.port, 0);
  EXPECT_NE(connect_error(v13.port, "localhost"), "OK");
  EXPECT_EQ(connect_error(v13.port, "localhost"), "OK");
  tls::clear_tls12_fallback_for_tests();
}

TEST(Tls, TrustStoreParsedOnFirstConnectOnly) {
  tls::set_ca_search_path_for_tests(path("ca.crt").c_str());  // drops any loaded store
  EXPECT_EQ(tls::ca_count(), 0u);
  size_t loads = tls::ca_load_count();
  Peer peer(path("rsa_good.crt"), path("rsa.key"));
  ASSERT_GT(peer.port, 0);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(connect_error(peer.port, "localhost"), "OK");
    EXPECT_EQ(tls::ca_load_count(), loads + 1) << "connection " << i;
  }
  EXPECT_EQ(tls::ca_count(), 1u);
  EXPECT_GT(tls::ca_parse_cost_us(), 0u);
  std::printf("test CA parse: %llu us\n", static_cast<unsigned long long>(tls::ca_parse_cost_us()));
}

TEST(Tls, SystemBundleParses) {
  const char* bundle = "/etc/ssl/certs/ca-certificates.crt";
  std::ifstream f(bundle);
  if (!f) GTEST_SKIP() << "no " << bundle;
  std::stringstream ss;
  ss << f.rdbuf();
  size_t in_file = 0;
  for (size_t pos = 0; (pos = ss.str().find("-----BEGIN CERTIFICATE-----", pos)) != std::string::npos; ++pos) ++in_file;
  tls::set_ca_search_path_for_tests(bundle);
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  tls::Session s;
  tls::Error err{};
  size_t heap_before = tls::heap_in_use_bytes();
  ASSERT_TRUE(s.start(sv[0], "example.com", err)) << err.message;
  std::printf("system bundle: %zu of %zu certificates parsed in %llu us; heap in use %zu -> %zu bytes\n",
              tls::ca_count(), in_file, static_cast<unsigned long long>(tls::ca_parse_cost_us()), heap_before,
              tls::heap_in_use_bytes());
  // Every root must parse (SHA-1-self-signed roots included: that is why SHA-1 is compiled in).
  EXPECT_EQ(tls::ca_count(), in_file);
  s.reset();
  close(sv[0]);
  close(sv[1]);
  tls::set_ca_search_path_for_tests(path("ca.crt").c_str());
}

TEST(Tls, ExtraCaFileAndMissingBundles) {
  Peer peer(path("rsa_good.crt"), path("rsa.key"));
  ASSERT_GT(peer.port, 0);
  // Default list replaced by a missing file, trust only via the extra file (AWS_CA_BUNDLE).
  tls::set_ca_search_path_for_tests(path("missing.crt").c_str());
  tls::set_extra_ca_file(path("ca.crt").c_str());
  EXPECT_EQ(connect_error(peer.port, "localhost"), "OK");
  // A configured but missing extra file is an error naming it.
  tls::set_extra_ca_file(path("nope.pem").c_str());
  EXPECT_EQ(connect_error(peer.port, "localhost"),
            "start: CA bundle " + path("nope.pem") + " (AWS_CA_BUNDLE) does not exist");
  // Nothing at all.
  tls::set_extra_ca_file(nullptr);
  std::string msg = connect_error(peer.port, "localhost");
  EXPECT_EQ(msg.rfind("start: no CA bundle found", 0), 0u) << msg;
  // A file with no certificate in it.
  std::ofstream(path("junk.pem")) << "not a certificate\n";
  tls::set_ca_search_path_for_tests(path("junk.pem").c_str());
  msg = connect_error(peer.port, "localhost");
  EXPECT_NE(msg.find("holds no usable certificate"), std::string::npos) << msg;
  // The other CA only: the good server is untrusted; both CAs: trusted.
  tls::set_ca_search_path_for_tests(path("ca2.crt").c_str());
  EXPECT_EQ(connect_error(peer.port, "localhost"), "certificate for localhost is signed by an untrusted CA");
  tls::set_extra_ca_file(path("ca.crt").c_str());
  EXPECT_EQ(connect_error(peer.port, "localhost"), "OK");
  EXPECT_EQ(tls::ca_count(), 2u);
  tls::set_extra_ca_file(nullptr);
  tls::set_ca_search_path_for_tests(path("ca.crt").c_str());
}

TEST(Tls, BadArgumentsAndMisuse) {
  tls::Session s;
  tls::Error err{};
  EXPECT_FALSE(s.start(-1, "localhost", err));
  EXPECT_FALSE(s.start(0, nullptr, err));
  EXPECT_FALSE(s.start(0, "", err));
  std::string long_host(300, 'a');
  EXPECT_FALSE(s.start(0, long_host.c_str(), err));
  EXPECT_EQ(s.handshake(err), tls::Io::kError);
  char buf[8];
  size_t n = 99;
  EXPECT_EQ(s.read(buf, sizeof buf, &n, err), tls::Io::kError);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(s.write("x", 1, &n, err), tls::Io::kError);
  s.reset();
  s.reset();
}

// A plain TCP server that answers with non-TLS bytes (or nothing) and closes.
struct PlainServer {
  int lfd = -1;
  int port = 0;
  std::thread th;
  explicit PlainServer(std::string reply) {
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(lfd, 4);
    socklen_t len = sizeof a;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this, reply] {
      int c = accept(lfd, nullptr, nullptr);
      if (c < 0) return;
      char tmp[4096];
      (void)!recv(c, tmp, sizeof tmp, 0);
      if (!reply.empty()) (void)!send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(c);
    });
  }
  ~PlainServer() {
    th.join();
    close(lfd);
  }
};

TEST(Tls, NonTlsPeers) {
  {
    PlainServer srv("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    std::string msg = connect_error(srv.port, "localhost");
    EXPECT_NE(msg.find("localhost"), std::string::npos) << msg;
    EXPECT_NE(msg, "OK");
  }
  {
    PlainServer srv("");
    EXPECT_EQ(connect_error(srv.port, "localhost"), "localhost closed the connection during the TLS handshake");
  }
}

// A TCP relay between the client and the peer that forwards in tiny random pieces (seeded), so every
// record and handshake message arrives split at arbitrary points.
struct ChoppingProxy {
  int lfd = -1;
  int port = 0;
  std::thread th;
  std::atomic<bool> stop{false};
  ChoppingProxy(int upstream_port, uint32_t seed, size_t max_piece) {
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(lfd, 1);
    socklen_t len = sizeof a;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this, upstream_port, seed, max_piece] {
      int c = accept(lfd, nullptr, nullptr);
      int u = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in ua{};
      ua.sin_family = AF_INET;
      ua.sin_port = htons(uint16_t(upstream_port));
      ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(u, reinterpret_cast<sockaddr*>(&ua), sizeof ua) != 0) return;
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::mt19937 rng(seed);
      std::uniform_int_distribution<size_t> piece(1, max_piece);
      char buf[1 << 14];
      while (!stop) {
        pollfd p[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
        if (poll(p, 2, 100) <= 0) continue;
        for (int i = 0; i < 2; ++i) {
          if (!(p[i].revents & (POLLIN | POLLHUP))) continue;
          int from = i == 0 ? c : u, to = i == 0 ? u : c;
          ssize_t n = recv(from, buf, sizeof buf, 0);
          if (n <= 0) {
            close(c);
            close(u);
            return;
          }
          for (ssize_t off = 0; off < n;) {
            size_t k = std::min<size_t>(piece(rng), size_t(n - off));
            if (send(to, buf + off, k, MSG_NOSIGNAL) < 0) break;
            off += ssize_t(k);
            std::this_thread::sleep_for(std::chrono::microseconds(50));
          }
        }
      }
      close(c);
      close(u);
    });
  }
  ~ChoppingProxy() {
    stop = true;
    th.join();
    close(lfd);
  }
};

TEST(Tls, HandshakeAndDataSplitAtRandomPoints) {
  uint32_t seed = uint32_t(std::random_device{}());
  std::printf("seed %u\n", seed);
  for (const char* version : {"1.3", "1.2"}) {
    for (size_t max_piece : {size_t(1), size_t(7), size_t(300)}) {
      SCOPED_TRACE(std::string("tls ") + version + " max_piece " + std::to_string(max_piece) + " seed " +
                   std::to_string(seed));
      // TLS 1.3 with RSA (the AWS case); TLS 1.2 with ECDSA (RSA + 1.2 + OpenSSL hits the known bug above).
      bool v13 = std::string(version) == "1.3";
      Peer peer(path(v13 ? "rsa_good.crt" : "ec_good.crt"), path(v13 ? "rsa.key" : "ec.key"),
                std::string("--tls ") + version);
      ASSERT_GT(peer.port, 0);
      ChoppingProxy proxy(peer.port, seed, max_piece);
      int fd = connect_nb(proxy.port);
      tls::Session s;
      tls::Error err{};
      ASSERT_TRUE(s.start(fd, "localhost", err)) << err.message;
      Counts counts;
      ASSERT_EQ(handshake(s, fd, err, &counts), tls::Io::kOk) << err.message;
      // Byte-at-a-time delivery of a multi-KiB server flight must leave the client waiting many times
      // (bigger pieces may legitimately arrive in one go, so only this case is asserted).
      if (max_piece == 1) {
        EXPECT_GT(counts.want_read, 3);
      }
      std::string payload(max_piece == 1 ? 3000 : 40000, '\0');
      std::mt19937 rng(seed);
      for (char& ch : payload) ch = char(rng());
      EXPECT_EQ(echo(s, fd, payload), payload);
      s.reset();
      close(fd);
    }
  }
}

TEST(Tls, LargeTransferHitsWantWriteAndWantRead) {
  uint32_t seed = uint32_t(std::random_device{}());
  std::printf("seed %u\n", seed);
  Peer peer(path("ec_good.crt"), path("ec.key"), "--sleep-ms 200");
  ASSERT_GT(peer.port, 0);
  int fd = connect_nb(peer.port, 4096, 4096);  // tiny kernel buffers: writes must block
  tls::Session s;
  tls::Error err{};
  ASSERT_TRUE(s.start(fd, "localhost", err)) << err.message;
  ASSERT_EQ(handshake(s, fd, err), tls::Io::kOk) << err.message;
  std::string payload(2 << 20, '\0');
  std::mt19937 rng(seed);
  for (char& ch : payload) ch = char(rng());
  Counts counts;
  std::string back = echo(s, fd, payload, &counts);
  EXPECT_TRUE(back == payload) << "got " << back.size() << " of " << payload.size() << " bytes";
  EXPECT_GT(counts.want_write, 0);
  EXPECT_GT(counts.want_read, 0);
  std::printf("want_write %d want_read %d\n", counts.want_write, counts.want_read);
  s.reset();
  close(fd);
}

TEST(Tls, ResetReturnsSessionMemory) {
  Peer peer(path("rsa_good.crt"), path("rsa.key"));
  ASSERT_GT(peer.port, 0);
  EXPECT_EQ(connect_error(peer.port, "localhost"), "OK");  // trust store loaded
  size_t before = tls::heap_in_use_bytes();
  std::vector<std::unique_ptr<tls::Session>> sessions;
  std::vector<int> fds;
  for (size_t i = 0; i < tls::kMaxConcurrentSessions; ++i) {
    int fd = connect_nb(peer.port);
    auto s = std::make_unique<tls::Session>();
    tls::Error err{};
    ASSERT_TRUE(s->start(fd, "localhost", err)) << err.message;
    ASSERT_EQ(handshake(*s, fd, err), tls::Io::kOk) << i << ": " << err.message;
    sessions.push_back(std::move(s));
    fds.push_back(fd);
  }
  std::printf("%zu live sessions: heap in use %zu bytes (%zu before), high water %zu of %zu\n", sessions.size(),
              tls::heap_in_use_bytes(), before, tls::heap_high_water_bytes(), tls::kHeapBytes);
  EXPECT_GT(tls::heap_in_use_bytes(), before);
  for (auto& s : sessions) s->reset();
  EXPECT_EQ(tls::heap_in_use_bytes(), before);
  EXPECT_LT(tls::heap_high_water_bytes(), tls::kHeapBytes);
  for (int fd : fds) close(fd);
}

}  // namespace
