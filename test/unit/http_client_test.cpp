// Tests for appconfig::http_client against real sockets and a real loop::Loop.
//
// Peers are small socket servers on threads (one thread per accepted
// connection), each running a per-test script: they misbehave on purpose --
// byte-by-byte and random-split writes, closes at every awkward moment, resets,
// silence, oversized bodies. The client side runs only on the test thread,
// inside the loop, as in production.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/net/http_client.h"
#include "appconfig/net/tls.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace hc = appconfig::http_client;
namespace loop = appconfig::loop;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- peer side

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Set per handler thread: the Peer is being destroyed, stop waiting.
thread_local const std::atomic<bool>* g_peer_stopping = nullptr;

// Reads one request (head + Content-Length body). Empty string on EOF/error,
// or when the owning Peer is shutting down.
std::string read_request(int fd) {
  std::string in;
  char buf[4096];
  size_t head_end = std::string::npos;
  size_t need = 0;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        head_end += 4;
        std::string lower;
        for (char c : in.substr(0, head_end)) lower += static_cast<char>(tolower(static_cast<unsigned char>(c)));
        size_t p = lower.find("\r\ncontent-length: ");
        need = p == std::string::npos ? 0 : std::stoul(lower.substr(p + 18));
      }
    }
    if (head_end != std::string::npos && in.size() >= head_end + need) return in;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) == 0) {
      if (g_peer_stopping != nullptr && g_peer_stopping->load()) return std::string();
      continue;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::string();
    in.append(buf, static_cast<size_t>(n));
  }
}

void reset_close(int fd) {
  linger l{1, 0};  // RST instead of FIN
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

class Peer {
 public:
  // handler(fd, index): index = 0 for the first accepted connection, ...
  // The handler owns fd and must close it (or return and let Peer close it).
  using Handler = std::function<void(int fd, int index)>;

  explicit Peer(Handler h, const char* bind_ip = "127.0.0.1") : handler_(std::move(h)) {
    bool v6 = std::strchr(bind_ip, ':') != nullptr;
    fd_ = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_storage ss{};
    socklen_t sl;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      inet_pton(AF_INET6, bind_ip, &a->sin6_addr);
      sl = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      inet_pton(AF_INET, bind_ip, &a->sin_addr);
      sl = sizeof *a;
    }
    ok_ = bind(fd_, reinterpret_cast<sockaddr*>(&ss), sl) == 0 && listen(fd_, 16) == 0;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &sl);
    port_ = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ok_) acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~Peer() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& t : workers_) t.join();
    close(fd_);
  }
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int max_concurrent() const { return max_concurrent_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      int one = 1;
      setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      // A receive timeout so a handler waiting on a client that went away
      // never hangs the test binary.
      timeval tv{10, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      int index = accepted_++;
      workers_.emplace_back([this, c, index] {
        g_peer_stopping = &stop_;
        int now = ++concurrent_;
        int prev = max_concurrent_.load();
        while (now > prev && !max_concurrent_.compare_exchange_weak(prev, now)) {
        }
        handler_(c, index);
        --concurrent_;
      });
    }
  }

  Handler handler_;
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> concurrent_{0};
  std::atomic<int> max_concurrent_{0};
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

// Serves every request on the connection with `response` until EOF.
Peer::Handler serve_all(std::string response) {
  return [response](int fd, int) {
    while (!read_request(fd).empty())
      if (!write_all(fd, response)) break;
    close(fd);
  };
}

// ---------------------------------------------------------------- client side

struct Outcome {
  bool called = false;
  int calls = 0;
  hc::Error error = hc::Error::kNone;
  std::string detail;
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t at_ms = 0;
  std::function<void()> then;  // runs inside the callback
};

void record(void* ctx, const hc::Result& r) {
  auto* o = static_cast<Outcome*>(ctx);
  o->called = true;
  ++o->calls;
  o->error = r.error;
  o->detail = r.detail;
  o->at_ms = loop::monotonic_ms();
  EXPECT_EQ(r.response != nullptr, r.error == hc::Error::kNone);
  if (r.response != nullptr) {
    o->status = r.response->status;
    o->body.assign(r.response->body.data(), r.response->body.size());
    for (size_t i = 0; i < r.response->num_headers; ++i)
      o->headers.emplace_back(std::string(r.response->headers[i].name), std::string(r.response->headers[i].value));
  } else {
    EXPECT_NE(o->detail, "");
  }
  if (o->then) o->then();
}

class HttpClient : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(lp.init()); }
  void start(size_t cap = 3) { ASSERT_TRUE(client.init(&lp, cap)); }
  bool run_until(const std::function<bool()>& done, int max_ms = 5000) {
    uint64_t end = loop::monotonic_ms() + static_cast<uint64_t>(max_ms);
    while (!done()) {
      if (loop::monotonic_ms() > end) return false;
      lp.run_once(20);
    }
    return true;
  }
  hc::RequestId get(uint16_t port, Outcome& o, std::string target = "/x", uint64_t timeout_ms = 3000,
                    std::string method = "GET", std::string body = "", std::string host = "127.0.0.1") {
    hc::Request req{method, target, nullptr, 0, body, timeout_ms};
    return client.send(hc::Endpoint{.host = host, .port = port, .tls = false}, req, &record, &o);
  }
  loop::Loop lp;
  hc::Client client;  // destroyed before lp
};

uint16_t closed_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t sl = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &sl);
  close(fd);  // nothing listens there now
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------- framing

TEST_F(HttpClient, ContentLengthAndRequestSerialisation) {
  std::mutex mu;
  std::string seen;
  Peer peer([&](int fd, int) {
    std::string r = read_request(fd);
    {
      std::lock_guard<std::mutex> g(mu);
      seen = r;
    }
    write_all(fd, "HTTP/1.1 200 OK\r\nX-Thing:  v1 \r\nContent-Length: 5\r\n\r\nhello");
    read_request(fd);
    close(fd);
  });
  ASSERT_TRUE(peer.ok());
  start();
  Outcome o;
  hc::Header hs[] = {{"Lambda-Extension-Name", "appconfig"}, {"Accept", "*/*"}};
  std::string target = "/2020-01-01/extension/register?a=b";
  hc::Request req{"POST", target, hs, 2, R"({"events":["INVOKE"]})", 2000};
  std::string host = "127.0.0.1";
  hc::RequestId id = client.send(hc::Endpoint{.host = host, .port = peer.port(), .tls = false}, req, &record, &o);
  ASSERT_TRUE(id.valid());
  target.assign(target.size(), 'X');  // the client copied everything at send()
  host.assign(host.size(), 'X');
  EXPECT_FALSE(o.called) << "never called from inside send()";
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.body, "hello");
  ASSERT_EQ(o.headers.size(), 2u);
  EXPECT_EQ(o.headers[0], (std::pair<std::string, std::string>("X-Thing", "v1")));
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(seen, "POST /2020-01-01/extension/register?a=b HTTP/1.1\r\nLambda-Extension-Name: appconfig\r\n"
                  "Accept: */*\r\nHost: 127.0.0.1:" + std::to_string(peer.port()) +
                  "\r\nContent-Length: 21\r\n\r\n{\"events\":[\"INVOKE\"]}");
}

TEST_F(HttpClient, CallerHostWinsAndEmptyPostGetsContentLengthZero) {
  std::mutex mu;
  std::string seen;
  Peer peer([&](int fd, int) {
    std::string r = read_request(fd);
    {
      std::lock_guard<std::mutex> g(mu);
      seen = r;
    }
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    close(fd);
  });
  start();
  Outcome o;
  hc::Header hs[] = {{"host", "appconfigdata.us-east-1.amazonaws.com"}};
  hc::Request req{"POST", "/", hs, 1, "", 2000};
  client.send(hc::Endpoint{.host = "127.0.0.1", .port = peer.port(), .tls = false}, req, &record, &o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.body, "");
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(seen, "POST / HTTP/1.1\r\nhost: appconfigdata.us-east-1.amazonaws.com\r\nContent-Length: 0\r\n\r\n");
}

const char kChunked[] =
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    "7;ext=\"quoted; value\"\r\n{\"a\":1,\r\n"
    "1B\r\n\"b\":\"abcdefghijklmnopqrst\"}\r\n"
    "0\r\nX-Trailer: done\r\nX-Other: 1\r\n\r\n";
const char kChunkedBody[] = "{\"a\":1,\"b\":\"abcdefghijklmnopqrst\"}";

TEST_F(HttpClient, ChunkedByteByByteWithTrailers) {
  Peer peer([](int fd, int) {
    for (int round = 0; round < 2 && !read_request(fd).empty(); ++round) {
      for (const char* p = kChunked; *p != '\0'; ++p) {
        write_all(fd, std::string_view(p, 1));
        std::this_thread::sleep_for(200us);
      }
    }
    close(fd);
  });
  start();
  for (int round = 0; round < 2; ++round) {
    Outcome o;
    get(peer.port(), o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, kChunkedBody);
    EXPECT_EQ(o.headers.size(), 2u);  // trailers are not headers
  }
  EXPECT_EQ(peer.accepted(), 1) << "the chunked response ended cleanly, so the connection was reused";
}

// A head that arrives a byte at a time is parsed when its first line and its end arrive, not
// once per byte (that was n²/2 byte checks: ~12 M for this 5 KB head).
TEST_F(HttpClient, ByteAtATimeHeadIsParsedABoundedNumberOfTimes) {
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
  for (int i = 0; head.size() < 5000; ++i) head += "X-Pad-" + std::to_string(i) + ": " + std::string(160, 'v') + "\r\n";
  head += "\r\nok";
  Peer peer([head](int fd, int) {
    if (read_request(fd).empty()) return;
    for (char ch : head) {
      write_all(fd, std::string_view(&ch, 1));
      std::this_thread::sleep_for(20us);
    }
    close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.body, "ok");
  EXPECT_LE(client.head_parses(), 3u) << "parsed on every arrival";
}

TEST_F(HttpClient, RandomSplitsOfEveryFraming) {
  const uint32_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("RandomSplitsOfEveryFraming seed %u\n", seed);
  std::string big(200000, '\0');
  std::mt19937 rng(seed);
  for (auto& ch : big) ch = static_cast<char>('a' + rng() % 26);
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t off = 0; off < big.size();) {
    size_t n = std::min<size_t>(1 + rng() % 9000, big.size() - off);
    char hex[32];
    std::snprintf(hex, sizeof hex, "%zx\r\n", n);
    chunked += hex + big.substr(off, n) + "\r\n";
    off += n;
  }
  chunked += "0\r\n\r\n";
  std::vector<std::string> responses = {
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) + "\r\n\r\n" + big,
      chunked,
  };
  Peer peer([&](int fd, int) {
    std::mt19937 r2(seed + 1);
    for (size_t i = 0; i < responses.size() && !read_request(fd).empty(); ++i) {
      const std::string& s = responses[i];
      for (size_t off = 0; off < s.size();) {
        size_t n = std::min<size_t>(1 + r2() % 3000, s.size() - off);
        write_all(fd, std::string_view(s).substr(off, n));
        off += n;
        if (r2() % 8 == 0) std::this_thread::sleep_for(100us);
      }
    }
    close(fd);
  });
  start();
  for (size_t i = 0; i < responses.size(); ++i) {
    Outcome o;
    get(peer.port(), o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body.size(), big.size());
    EXPECT_TRUE(o.body == big) << "response " << i;
  }
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, CloseDelimitedBodyAndNoReuse) {
  Peer peer([](int fd, int) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ");
    std::this_thread::sleep_for(20ms);
    write_all(fd, "the end");
    close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.body, "until the end");
  EXPECT_EQ(client.open_connections(), 0u);
}

TEST_F(HttpClient, CloseDelimitedBodyCutByResetIsAnError) {
  Peer peer([](int fd, int) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\n\r\npartial");
    std::this_thread::sleep_for(50ms);
    reset_close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kClosed) << o.detail;
}

TEST_F(HttpClient, InterimResponsesSkipped) {
  Peer peer(serve_all("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"
                      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"));
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.status, 201);
  EXPECT_EQ(o.body, "ok");
  ASSERT_EQ(o.headers.size(), 1u);
  EXPECT_EQ(o.headers[0].first, "Content-Length");
}

TEST_F(HttpClient, SwitchingProtocolsAndEndlessInterimAreProtocolErrors) {
  Peer p101(serve_all("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"));
  std::string many;
  for (int i = 0; i < 20; ++i) many += "HTTP/1.1 100 Continue\r\n\r\n";
  Peer p100(serve_all(many + "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  start();
  Outcome a, b;
  get(p101.port(), a);
  get(p100.port(), b);
  ASSERT_TRUE(run_until([&] { return a.called && b.called; }));
  EXPECT_EQ(a.error, hc::Error::kProtocol) << a.detail;
  EXPECT_EQ(b.error, hc::Error::kProtocol) << b.detail;
}

TEST_F(HttpClient, HeadAnd204And304HaveNoBodyAndKeepTheConnection) {
  std::atomic<int> n{0};
  Peer peer([&](int fd, int) {
    const char* answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",  // HEAD: the length describes a GET
        "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend",
    };
    for (const char* a : answers) {
      if (read_request(fd).empty()) break;
      write_all(fd, a);
      ++n;
    }
    read_request(fd);
    close(fd);
  });
  start();
  const char* methods[] = {"HEAD", "GET", "GET", "GET"};
  const char* bodies[] = {"", "", "", "end"};
  int statuses[] = {200, 204, 304, 200};
  for (int i = 0; i < 4; ++i) {
    Outcome o;
    get(peer.port(), o, "/x", 2000, methods[i]);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.status, statuses[i]);
    EXPECT_EQ(o.body, bodies[i]);
  }
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, MalformedResponseIsProtocolError) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"));
  Peer peer2(serve_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
  Peer peer3(serve_all("SSH-2.0-OpenSSH_9.2\r\n"));
  start();
  Outcome a, b, c;
  get(peer.port(), a);
  get(peer2.port(), b);
  get(peer3.port(), c);
  ASSERT_TRUE(run_until([&] { return a.called && b.called && c.called; }));
  EXPECT_EQ(a.error, hc::Error::kProtocol) << a.detail;
  EXPECT_EQ(b.error, hc::Error::kProtocol) << b.detail;
  EXPECT_EQ(c.error, hc::Error::kProtocol) << c.detail;
  EXPECT_EQ(client.open_connections(), 0u);
}

TEST_F(HttpClient, BytesAfterTheResponseStopReuse) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"));
  start();
  for (int i = 0; i < 2; ++i) {
    Outcome o;
    get(peer.port(), o);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, "ok");
  }
  EXPECT_EQ(peer.accepted(), 2);
}

// ---------------------------------------------------------------- pool

TEST_F(HttpClient, KeepAliveOneConnectionForSequentialRequests) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  start();
  constexpr int kN = 20;
  int done = 0;
  Outcome o;
  o.then = [&] {
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    // The next request from inside the callback: the connection is being
    // delivered, so it queues and takes the same connection right after.
    if (++done < kN) get(peer.port(), o, "/n" + std::to_string(done));
  };
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return done == kN; }));
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_EQ(client.idle_connections(), 1u);
  client.close_idle();
  EXPECT_EQ(client.open_connections(), 0u);
  Outcome after;
  get(peer.port(), after);
  ASSERT_TRUE(run_until([&] { return after.called; }));
  EXPECT_EQ(after.error, hc::Error::kNone);
  EXPECT_EQ(peer.accepted(), 2) << "close_idle() really closed the pooled connection";
}

TEST_F(HttpClient, CloseIdleInsideACallbackClosesThatConnectionToo) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSHUTDOWN"));
  start();
  Outcome o;
  o.then = [&] { client.close_idle(); };
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.body, "SHUTDOWN");
  EXPECT_EQ(client.open_connections(), 0u);
}

TEST_F(HttpClient, PoolCapSerialisesConcurrentRequestsInOrder) {
  std::mutex mu;
  std::vector<std::string> order;
  Peer peer([&](int fd, int) {
    for (;;) {
      std::string r = read_request(fd);
      if (r.empty()) break;
      {
        std::lock_guard<std::mutex> g(mu);
        order.push_back(r.substr(4, r.find(' ', 4) - 4));
      }
      std::this_thread::sleep_for(30ms);
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n!");
    }
    close(fd);
  });
  start(1);
  Outcome o[3];
  std::vector<int> finished;
  for (int i = 0; i < 3; ++i) {
    o[i].then = [&, i] { finished.push_back(i); };
    get(peer.port(), o[i], "/r" + std::to_string(i));
  }
  EXPECT_EQ(client.open_connections(), 1u);
  ASSERT_TRUE(run_until([&] { return finished.size() == 3; }));
  for (auto& x : o) EXPECT_EQ(x.error, hc::Error::kNone) << x.detail;
  EXPECT_EQ(finished, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(peer.accepted(), 1);
  EXPECT_EQ(peer.max_concurrent(), 1);
  std::lock_guard<std::mutex> g(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"/r0", "/r1", "/r2"}));
}

TEST_F(HttpClient, PoolCapTwoOpensTwoAndReusesLifo) {
  Peer peer([&](int fd, int index) {
    std::string name = "c" + std::to_string(index);
    for (;;) {
      if (read_request(fd).empty()) break;
      std::this_thread::sleep_for(50ms);
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + name);
    }
    close(fd);
  });
  start(2);
  Outcome o[3];
  for (int i = 0; i < 3; ++i) get(peer.port(), o[i]);
  ASSERT_TRUE(run_until([&] { return o[0].called && o[1].called && o[2].called; }));
  EXPECT_EQ(peer.accepted(), 2);
  EXPECT_EQ(peer.max_concurrent(), 2);
  // The third request went to whichever connection freed first; both are idle now.
  ASSERT_TRUE(run_until([&] { return client.idle_connections() == 2; }));
  // LIFO: the connection that finished last (served o[2]) is reused first.
  Outcome next;
  get(peer.port(), next);
  ASSERT_TRUE(run_until([&] { return next.called; }));
  EXPECT_EQ(next.body, o[2].body);
}

// ---------------------------------------------------------------- retry rules

TEST_F(HttpClient, StaleKeptAliveConnectionIsRetriedOnceOnAFreshOne) {
  for (bool rst : {false, true}) {
    SCOPED_TRACE(rst ? "reset" : "fin");
    Peer peer([rst](int fd, int index) {
      read_request(fd);
      if (index == 0) {
        write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
        // Reads the second request, then dies without a byte: what a thawed
        // sandbox sees when the peer dropped the idle socket.
        read_request(fd);
        if (rst) reset_close(fd); else close(fd);
        return;
      }
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nretry");
      read_request(fd);
      close(fd);
    });
    hc::Client cl;
    ASSERT_TRUE(cl.init(&lp, 3));
    Outcome second;
    Outcome first;
    first.then = [&] {
      hc::Request req{"GET", "/again", nullptr, 0, "", 3000};
      cl.send(hc::Endpoint{.host = "127.0.0.1", .port = peer.port(), .tls = false}, req, &record, &second);
    };
    hc::Request req{"GET", "/", nullptr, 0, "", 3000};
    cl.send(hc::Endpoint{.host = "127.0.0.1", .port = peer.port(), .tls = false}, req, &record, &first);
    ASSERT_TRUE(run_until([&] { return second.called; }));
    EXPECT_EQ(first.body, "first");
    EXPECT_EQ(second.error, hc::Error::kNone) << second.detail;
    EXPECT_EQ(second.body, "retry");
    EXPECT_EQ(second.calls, 1);
    EXPECT_EQ(peer.accepted(), 2);
  }
}

TEST_F(HttpClient, RetryHappensExactlyOnce) {
  Peer peer([](int fd, int index) {
    read_request(fd);
    if (index == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
      read_request(fd);
    }
    close(fd);  // every later connection closes without answering
  });
  start();
  Outcome second, first;
  first.then = [&] { get(peer.port(), second); };
  get(peer.port(), first);
  ASSERT_TRUE(run_until([&] { return second.called; }));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 5; ++i) lp.run_once(10);
  EXPECT_EQ(first.error, hc::Error::kNone);
  EXPECT_EQ(second.error, hc::Error::kClosed) << second.detail;
  EXPECT_NE(second.detail.find("after one retry"), std::string::npos) << second.detail;
  EXPECT_EQ(second.calls, 1);
  EXPECT_EQ(peer.accepted(), 2) << "one original + exactly one retry";
}

TEST_F(HttpClient, FreshConnectionClosedBeforeAnswerIsNotRetried) {
  Peer peer([](int fd, int) {
    read_request(fd);
    close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kClosed) << o.detail;
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, PartialResponseThenCloseIsNeverRetried) {
  Peer peer([](int fd, int index) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
    if (index == 0) {
      read_request(fd);
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Len");
    }
    close(fd);
  });
  start();
  Outcome second, first;
  first.then = [&] { get(peer.port(), second); };
  get(peer.port(), first);
  ASSERT_TRUE(run_until([&] { return second.called; }));
  EXPECT_EQ(second.error, hc::Error::kClosed) << second.detail;
  EXPECT_NE(second.detail.find("127.0.0.1:" + std::to_string(peer.port())), std::string::npos) << second.detail;
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, BodyCutShortIsClosedNotRetried) {
  Peer peer([](int fd, int) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
    close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kClosed) << o.detail;
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, IdleConnectionClosedByPeerIsDroppedQuietly) {
  Peer peer([](int fd, int) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1");
    std::this_thread::sleep_for(20ms);
    close(fd);
  });
  start();
  Outcome a;
  get(peer.port(), a);
  ASSERT_TRUE(run_until([&] { return a.called; }));
  EXPECT_EQ(client.idle_connections(), 1u);
  ASSERT_TRUE(run_until([&] { return client.open_connections() == 0; }));
  Outcome b;
  get(peer.port(), b);
  ASSERT_TRUE(run_until([&] { return b.called; }));
  EXPECT_EQ(b.error, hc::Error::kNone) << b.detail;
  EXPECT_EQ(peer.accepted(), 2);
}

// ---------------------------------------------------------------- deadlines

TEST_F(HttpClient, SilentServerTimesOutWhileOtherTimersStayOnTime) {
  Peer peer([](int fd, int) {
    read_request(fd);
    read_request(fd);  // until the client gives up and closes
    close(fd);
  });
  start();
  struct Ticker {
    loop::Loop* lp;
    int fires = 0;
    uint64_t due = 0;
    uint64_t worst_late_ms = 0;
    static void tick(void* ctx) {
      auto* t = static_cast<Ticker*>(ctx);
      uint64_t now = loop::monotonic_ms();
      t->worst_late_ms = std::max(t->worst_late_ms, now > t->due ? now - t->due : 0);
      ++t->fires;
      t->due = now + 25;
      t->lp->add_timer(25, &tick, t);
    }
  } ticker{&lp};
  ticker.due = loop::monotonic_ms() + 25;
  lp.add_timer(25, &Ticker::tick, &ticker);
  Outcome o;
  uint64_t t0 = loop::monotonic_ms();
  get(peer.port(), o, "/silent", 400);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  uint64_t took = o.at_ms - t0;
  EXPECT_EQ(o.error, hc::Error::kTimeout) << o.detail;
  EXPECT_GE(took, 400u);
  EXPECT_LT(took, 600u);
  EXPECT_NE(o.detail.find("waiting for the response"), std::string::npos) << o.detail;
  EXPECT_GE(ticker.fires, 12);
  EXPECT_LT(ticker.worst_late_ms, 40u);
  EXPECT_EQ(client.open_connections(), 0u);
}

TEST_F(HttpClient, DeadlineCoversAStalledBody) {
  Peer peer([](int fd, int) {
    read_request(fd);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome");
    for (int i = 0; i < 20; ++i) {  // trickles, never finishes in time
      std::this_thread::sleep_for(30ms);
      if (!write_all(fd, "x")) break;
    }
    close(fd);
  });
  start();
  Outcome o;
  get(peer.port(), o, "/", 200);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kTimeout) << o.detail;
  EXPECT_NE(o.detail.find("reading the response"), std::string::npos) << o.detail;
}

TEST_F(HttpClient, ZeroDeadlineWaitsForALateAnswer) {
  Peer peer([](int fd, int) {
    read_request(fd);
    std::this_thread::sleep_for(2000ms);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nINVOKE");
    read_request(fd);
    close(fd);
  });
  start();
  Outcome o;
  uint64_t t0 = loop::monotonic_ms();
  get(peer.port(), o, "/2020-01-01/extension/event/next", 0);
  ASSERT_TRUE(run_until([&] { return o.called; }, 6000));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.body, "INVOKE");
  EXPECT_GE(o.at_ms - t0, 2000u);
}

TEST_F(HttpClient, QueuedRequestTimesOutWaitingForAConnection) {
  Peer peer([](int fd, int) {
    read_request(fd);
    std::this_thread::sleep_for(500ms);
    write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    read_request(fd);
    close(fd);
  });
  start(1);
  Outcome slow, queued;
  get(peer.port(), slow, "/", 0);
  get(peer.port(), queued, "/", 100);
  ASSERT_TRUE(run_until([&] { return queued.called; }));
  EXPECT_EQ(queued.error, hc::Error::kTimeout);
  EXPECT_NE(queued.detail.find("waiting for a free connection"), std::string::npos) << queued.detail;
  EXPECT_FALSE(slow.called);
  ASSERT_TRUE(run_until([&] { return slow.called; }));
  EXPECT_EQ(slow.error, hc::Error::kNone);
}

// ---------------------------------------------------------------- limits

// Pages of [p, p + len) resident in memory, per mincore(2).
size_t resident_pages(const char* p, size_t len) {
  const uintptr_t page = 4096;
  uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + len + page - 1) & ~(page - 1);
  std::vector<unsigned char> vec((end - start) / page);
  if (mincore(reinterpret_cast<void*>(start), end - start, vec.data()) != 0) return SIZE_MAX;
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST_F(HttpClient, MaximumBodyFitsAndOneMoreByteIsTooLarge) {
  std::string body(hc::kMaxResponseBodyBytes, 'z');
  body[0] = 'A';
  body.back() = 'Z';
  Peer peer([&](int fd, int) {
    if (!read_request(fd).empty())
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    if (!read_request(fd).empty()) {
      std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      char hex[32];
      std::snprintf(hex, sizeof hex, "%zx\r\n", body.size());
      write_all(fd, chunked + hex + body + "\r\n0\r\n\r\n");
    }
    if (!read_request(fd).empty())
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size() + 1) + "\r\n\r\n");
    read_request(fd);
    close(fd);
  });
  start();
  Outcome a, b, c;
  const char* body_at = nullptr;
  size_t resident_in_callback = 0;
  hc::Request req{"GET", "/", nullptr, 0, "", 3000};
  struct Spy {
    Outcome* o;
    const char** at;
    size_t* resident;
    static void cb(void* ctx, const hc::Result& r) {
      auto* s = static_cast<Spy*>(ctx);
      if (r.response != nullptr) {
        *s->at = r.response->body.data();
        *s->resident = resident_pages(r.response->body.data(), r.response->body.size());
      }
      record(s->o, r);
    }
  } spy{&a, &body_at, &resident_in_callback};
  client.send(hc::Endpoint{.host = "127.0.0.1", .port = peer.port(), .tls = false}, req, &Spy::cb, &spy);
  ASSERT_TRUE(run_until([&] { return a.called; }));
  EXPECT_EQ(a.error, hc::Error::kNone) << a.detail;
  EXPECT_TRUE(a.body == body);
  // The response lived in the connection's mmap'd buffer, whose pages are
  // handed back once the callback returned (the pooled
  // connection keeps only kKeepResidentBytes of it).
  ASSERT_NE(body_at, nullptr);
  EXPECT_GE(resident_in_callback, hc::kMaxResponseBodyBytes / 4096);
  EXPECT_LE(resident_pages(body_at, hc::kMaxResponseBodyBytes), hc::kKeepResidentBytes / 4096 + 1);
  get(peer.port(), b);
  ASSERT_TRUE(run_until([&] { return b.called; }));
  EXPECT_EQ(b.error, hc::Error::kNone) << b.detail;
  EXPECT_TRUE(b.body == body);
  get(peer.port(), c);
  ASSERT_TRUE(run_until([&] { return c.called; }));
  EXPECT_EQ(c.error, hc::Error::kTooLarge) << c.detail;
  EXPECT_EQ(peer.accepted(), 1);
}

TEST_F(HttpClient, StreamedOversizeBodiesAreTooLarge) {
  // Chunked and close-delimited bodies that never stop: refused at the limit,
  // not after reading the peer's whole stream.
  auto streamer = [](std::string head, bool chunked) {
    return [head, chunked](int fd, int) {
      read_request(fd);
      if (!write_all(fd, head)) {
        close(fd);
        return;
      }
      std::string piece(64 * 1024, 'q');
      char hex[32];
      std::snprintf(hex, sizeof hex, "%zx\r\n", piece.size());
      std::string framed = chunked ? hex + piece + "\r\n" : piece;
      for (int i = 0; i < 200; ++i)
        if (!write_all(fd, framed)) break;
      close(fd);
    };
  };
  Peer pc(streamer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true));
  Peer pu(streamer("HTTP/1.1 200 OK\r\n\r\n", false));
  std::string fat_head = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 40; ++i) fat_head += "X-Pad-" + std::to_string(i) + ": " + std::string(500, 'p') + "\r\n";
  Peer ph(serve_all(fat_head + "\r\n"));
  start();
  Outcome a, b, c;
  get(pc.port(), a, "/", 10000);
  get(pu.port(), b, "/", 10000);
  get(ph.port(), c, "/", 10000);
  ASSERT_TRUE(run_until([&] { return a.called && b.called && c.called; }, 10000));
  EXPECT_EQ(a.error, hc::Error::kTooLarge) << a.detail;
  EXPECT_EQ(b.error, hc::Error::kTooLarge) << b.detail;
  EXPECT_EQ(c.error, hc::Error::kTooLarge) << c.detail;
}

// ---------------------------------------------------------------- failures before any I/O

TEST_F(HttpClient, ConnectionRefusedNamesHostAndPort) {
  start();
  uint16_t port = closed_port();
  Outcome o;
  get(port, o);
  EXPECT_FALSE(o.called);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kConnect);
  EXPECT_NE(o.detail.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << o.detail;
  EXPECT_NE(o.detail.find("refused"), std::string::npos) << o.detail;
  EXPECT_EQ(client.open_connections(), 0u);
}

TEST_F(HttpClient, NamesResolveThroughEtcHosts) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  start();
  Outcome a, b;
  get(peer.port(), a, "/", 2000, "GET", "", "localhost");
  get(peer.port(), b, "/", 2000, "GET", "", "no-such-host.invalid");
  ASSERT_TRUE(run_until([&] { return a.called && b.called; }));
  EXPECT_EQ(a.error, hc::Error::kNone) << a.detail;  // /etc/hosts has 127.0.0.1 localhost
  EXPECT_EQ(b.error, hc::Error::kResolve);
  EXPECT_NE(b.detail.find("no-such-host.invalid:" + std::to_string(peer.port())), std::string::npos) << b.detail;
}

struct FakeResolver {
  std::vector<std::pair<std::string, uint64_t>> started;
  std::vector<uint64_t> cancelled;
  static bool start(void* ctx, std::string_view host, uint64_t token) {
    static_cast<FakeResolver*>(ctx)->started.emplace_back(std::string(host), token);
    return host != "refuse.example";
  }
  static void cancel(void* ctx, uint64_t token) { static_cast<FakeResolver*>(ctx)->cancelled.push_back(token); }
};

TEST_F(HttpClient, ResolverHookTriesEveryAddressInTurn) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  start();
  FakeResolver fr;
  client.set_resolver(hc::Resolver{&fr, &FakeResolver::start, &FakeResolver::cancel});
  Outcome a, b, c;
  get(peer.port(), a, "/", 2000, "GET", "", "appconfigdata.example");
  get(peer.port(), b, "/", 2000, "GET", "", "refuse.example");
  get(peer.port(), c, "/", 2000, "GET", "", "slow.example");
  ASSERT_EQ(fr.started.size(), 3u);
  EXPECT_EQ(fr.started[0].first, "appconfigdata.example");
  // 127.0.0.2 is loopback but nothing listens there (the peer bound 127.0.0.1).
  appconfig::dns_wire::Address addrs[2];
  ASSERT_TRUE(appconfig::dns_wire::parse_ip_literal("127.0.0.2", addrs[0]));
  ASSERT_TRUE(appconfig::dns_wire::parse_ip_literal("127.0.0.1", addrs[1]));
  client.resolved(fr.started[0].second, addrs, 2);
  client.resolved(fr.started[0].second, addrs, 2);  // a duplicate completion is ignored
  ASSERT_TRUE(run_until([&] { return a.called && b.called; }));
  EXPECT_EQ(a.error, hc::Error::kNone) << a.detail;
  EXPECT_EQ(b.error, hc::Error::kResolve) << b.detail;
  EXPECT_FALSE(c.called);
  client.cancel(hc::RequestId{});  // invalid ids are ignored
  EXPECT_TRUE(fr.cancelled.empty());
  client.resolved(fr.started[2].second, nullptr, 0);
  ASSERT_TRUE(run_until([&] { return c.called; }));
  EXPECT_EQ(c.error, hc::Error::kResolve);
  EXPECT_NE(c.detail.find("slow.example:"), std::string::npos) << c.detail;
}

// An address whose SYNs go unanswered (a full accept queue drops them) must
// not use the whole deadline while another address remains.
TEST_F(HttpClient, SilentAddressGivesWayToTheNext) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  int hole = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(peer.port()));
  inet_pton(AF_INET, "127.0.0.3", &sa.sin_addr);
  ASSERT_EQ(bind(hole, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << strerror(errno);
  ASSERT_EQ(listen(hole, 0), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {  // fill the accept queue; later SYNs are dropped
    int f = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    connect(f, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fillers.push_back(f);
  }
  usleep(100 * 1000);
  start();
  FakeResolver fr;
  client.set_resolver(hc::Resolver{&fr, &FakeResolver::start, &FakeResolver::cancel});
  Outcome a, b;
  auto t0 = std::chrono::steady_clock::now();
  get(peer.port(), a, "/", 8000, "GET", "", "two-addresses.example");
  get(peer.port(), b, "/", 8000, "GET", "", "unknown.example");
  ASSERT_EQ(fr.started.size(), 2u);
  appconfig::dns_wire::Address addrs[2];
  ASSERT_TRUE(appconfig::dns_wire::parse_ip_literal("127.0.0.3", addrs[0]));
  ASSERT_TRUE(appconfig::dns_wire::parse_ip_literal("127.0.0.1", addrs[1]));
  client.resolved(fr.started[0].second, addrs, 2);
  client.resolved(fr.started[1].second, nullptr, 0, "cannot resolve \"unknown.example\": NXDOMAIN; servers tried: x");
  ASSERT_TRUE(run_until([&] { return a.called && b.called; }, 6000));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(a.error, hc::Error::kNone) << a.detail;
  EXPECT_GE(ms, static_cast<long>(hc::kConnectAttemptMs) - 50);
  EXPECT_LT(ms, 4000);  // far below the 8 s deadline
  EXPECT_EQ(b.error, hc::Error::kResolve);
  EXPECT_NE(b.detail.find("NXDOMAIN"), std::string::npos) << b.detail;  // the resolver's words reach the caller
  for (int f : fillers) close(f);
  close(hole);
}

TEST_F(HttpClient, CancelDuringResolveCancelsTheLookup) {
  start();
  FakeResolver fr;
  client.set_resolver(hc::Resolver{&fr, &FakeResolver::start, &FakeResolver::cancel});
  Outcome a;
  hc::RequestId id = get(80, a, "/", 2000, "GET", "", "pending.example");
  ASSERT_EQ(fr.started.size(), 1u);
  client.cancel(id);
  ASSERT_EQ(fr.cancelled.size(), 1u);
  EXPECT_EQ(fr.cancelled[0], fr.started[0].second);
  client.resolved(fr.started[0].second, nullptr, 0);  // late completion: ignored
  for (int i = 0; i < 5; ++i) lp.run_once(10);
  EXPECT_FALSE(a.called);
}

TEST_F(HttpClient, Ipv6Literal) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6"), "::1");
  if (!peer.ok()) GTEST_SKIP() << "CI-exempt: no IPv6 loopback on this machine";
  start();
  for (const char* host : {"::1", "[::1]"}) {
    Outcome o;
    get(peer.port(), o, "/", 2000, "GET", "", host);
    ASSERT_TRUE(run_until([&] { return o.called; }));
    EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, "v6");
  }
}

TEST_F(HttpClient, InvalidRequestsFailFromTheLoop) {
  start();
  struct Case {
    std::string method, target, hname, hvalue, host;
    std::string body;
  };
  std::vector<Case> cases = {
      {"GET", "/", "X-Inject", "a\r\nEvil: 1", "127.0.0.1", ""},
      {"GET", "/", "Bad Name", "v", "127.0.0.1", ""},
      {"GET", "/", "Content-Length", "3", "127.0.0.1", ""},
      {"GET", "/", "transfer-encoding", "chunked", "127.0.0.1", ""},
      {"G T", "/", "A", "b", "127.0.0.1", ""},
      {"GET", "/a b", "A", "b", "127.0.0.1", ""},
      {"GET", "", "A", "b", "127.0.0.1", ""},
      {"GET", "/", "A", "b", "", ""},
      {"GET", "/", "A", "b", "evil.com/x", ""},
      {"POST", "/", "A", "b", "127.0.0.1", std::string(hc::kMaxRequestBytes, 'b')},
  };
  std::vector<Outcome> out(cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    hc::Header h{cases[i].hname, cases[i].hvalue};
    hc::Request req{cases[i].method, cases[i].target, &h, 1, cases[i].body, 1000};
    const hc::Endpoint ep{.host = cases[i].host, .port = 80, .tls = false};
    EXPECT_TRUE(client.send(ep, req, &record, &out[i]).valid());
    EXPECT_FALSE(out[i].called) << i;
  }
  ASSERT_TRUE(run_until([&] {
    for (auto& o : out)
      if (!o.called) return false;
    return true;
  }));
  for (size_t i = 0; i < out.size(); ++i) EXPECT_EQ(out[i].error, hc::Error::kBadRequest) << i << " " << out[i].detail;
  std::vector<hc::Header> many(hc::kMaxRequestHeaders + 1, hc::Header{"A", "b"});
  Outcome o;
  hc::Request req{"GET", "/", many.data(), many.size(), "", 1000};
  client.send(hc::Endpoint{.host = "127.0.0.1", .port = 80, .tls = false}, req, &record, &o);
  ASSERT_TRUE(run_until([&] { return o.called; }));
  EXPECT_EQ(o.error, hc::Error::kBadRequest);
}

TEST_F(HttpClient, RequestTableFullIsNoSlotWithoutCallback) {
  Peer peer([](int fd, int) {
    read_request(fd);
    read_request(fd);
    close(fd);
  });
  start(1);
  std::vector<Outcome> out(hc::kMaxRequests + 1);
  std::vector<hc::RequestId> ids;
  for (size_t i = 0; i < hc::kMaxRequests; ++i) {
    ids.push_back(get(peer.port(), out[i], "/", 0));
    ASSERT_TRUE(ids.back().valid());
  }
  EXPECT_FALSE(get(peer.port(), out.back(), "/", 0).valid());
  for (auto id : ids) client.cancel(id);
  for (int i = 0; i < 5; ++i) lp.run_once(10);
  for (auto& o : out) EXPECT_FALSE(o.called);
  EXPECT_TRUE(get(peer.port(), out.back(), "/", 50).valid());
  ASSERT_TRUE(run_until([&] { return out.back().called; }));
}

// ---------------------------------------------------------------- cancel

TEST_F(HttpClient, CancelInFlightAndQueued) {
  Peer peer([](int fd, int) {
    while (!read_request(fd).empty()) {
      std::this_thread::sleep_for(100ms);
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n.");
    }
    close(fd);
  });
  start(1);
  Outcome a, b, c;
  hc::RequestId ia = get(peer.port(), a, "/a", 2000);
  hc::RequestId ib = get(peer.port(), b, "/b", 2000);
  get(peer.port(), c, "/c", 2000);
  run_until([] { return false; }, 30);  // /a is on the wire
  client.cancel(ib);                     // queued
  client.cancel(ia);                     // in flight: its connection is closed
  client.cancel(ia);                     // twice: no-op
  ASSERT_TRUE(run_until([&] { return c.called; }));
  EXPECT_FALSE(a.called);
  EXPECT_FALSE(b.called);
  EXPECT_EQ(c.error, hc::Error::kNone) << c.detail;
  EXPECT_EQ(peer.accepted(), 2) << "the cancelled request's connection could not be reused";
  // Stale ids never touch a reused slot.
  Outcome d;
  hc::RequestId id = get(peer.port(), d, "/d", 2000);
  client.cancel(ia);
  ASSERT_TRUE(run_until([&] { return d.called; }));
  EXPECT_EQ(d.error, hc::Error::kNone);
  (void)id;
}

TEST_F(HttpClient, CancelInsideCallbackOfAnotherRequest) {
  Peer peer(serve_all("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n."));
  start(1);
  Outcome a, b;
  hc::RequestId ib;
  a.then = [&] { client.cancel(ib); };
  get(peer.port(), a);
  ib = get(peer.port(), b);
  ASSERT_TRUE(run_until([&] { return a.called; }));
  for (int i = 0; i < 10; ++i) lp.run_once(10);
  EXPECT_FALSE(b.called);
  EXPECT_EQ(client.idle_connections(), 1u);
}

// ---------------------------------------------------------------- TLS (peer: test/emulator/http_peer.py)

// Runs test/emulator/http_peer.py; it serves until its stdin closes.
class PyPeer {
 public:
  PyPeer(const char* script, bool tls) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      const char* argv[] = {"python3", "test/emulator/http_peer.py", "--script", script, tls ? "--tls" : nullptr, nullptr};
      execvp("python3", const_cast<char* const*>(argv));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    FILE* f = fdopen(out[0], "r");
    char line[512] = {};
    char cert[400] = {};
    unsigned port = 0;
    if (f != nullptr && fgets(line, sizeof line, f) != nullptr && std::sscanf(line, "PORT %u CERT %399s", &port, cert) == 2) {
      port_ = static_cast<uint16_t>(port);
      cert_ = cert;
    }
    if (f != nullptr) fclose(f);
  }
  ~PyPeer() {
    if (stdin_ >= 0) close(stdin_);  // the peer exits on EOF
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

class HttpClientTls : public HttpClient {
 protected:
  void TearDown() override { appconfig::tls::set_ca_search_path_for_tests(nullptr); }
  bool trust(const PyPeer& p) {
    if (!p.ok()) return false;
    appconfig::tls::set_ca_search_path_for_tests(p.cert().c_str());
    return true;
  }
  hc::RequestId get_tls(uint16_t port, Outcome& o, std::string target = "/", std::string host = "localhost",
                        uint64_t timeout_ms = 5000) {
    hc::Request req{"GET", target, nullptr, 0, "", timeout_ms};
    return client.send(hc::Endpoint{.host = host, .port = port, .tls = true}, req, &record, &o);
  }
};

TEST_F(HttpClientTls, KeepAliveAcrossIdleTimeAndSessionTickets) {
  PyPeer peer("keepalive", true);
  ASSERT_TRUE(trust(peer));
  start();
  for (int j = 0; j < 4; ++j) {
    Outcome o;
    get_tls(peer.port(), o, "/p" + std::to_string(j));
    ASSERT_TRUE(run_until([&] { return o.called; }, 10000));
    ASSERT_EQ(o.error, hc::Error::kNone) << o.detail;
    EXPECT_EQ(o.body, "conn=0 req=" + std::to_string(j) + " /p" + std::to_string(j));
    // Idle time in the loop: late TLS 1.3 NewSessionTickets must not kill the pooled connection.
    run_until([] { return false; }, 100);
    EXPECT_EQ(client.idle_connections(), 1u);
  }
  Outcome ip;
  get_tls(peer.port(), ip, "/ip", "127.0.0.1");  // a separate endpoint; the cert has IP:127.0.0.1
  ASSERT_TRUE(run_until([&] { return ip.called; }, 10000));
  EXPECT_EQ(ip.error, hc::Error::kNone) << ip.detail;
  EXPECT_EQ(ip.body, "conn=1 req=0 /ip");
}

TEST_F(HttpClientTls, StaleConnectionRetriedOnce) {
  PyPeer peer("drop-after-first", true);
  ASSERT_TRUE(trust(peer));
  start();
  Outcome first, second;
  first.then = [&] { get_tls(peer.port(), second, "/again"); };
  get_tls(peer.port(), first);
  ASSERT_TRUE(run_until([&] { return second.called; }, 10000));
  EXPECT_EQ(first.body, "conn=0 first");
  EXPECT_EQ(second.error, hc::Error::kNone) << second.detail;
  EXPECT_EQ(second.body, "conn=1 first");
}

TEST_F(HttpClientTls, ChunkedInSmallRecords) {
  PyPeer peer("chunked-slow", true);
  ASSERT_TRUE(trust(peer));
  start();
  Outcome o;
  get_tls(peer.port(), o);
  ASSERT_TRUE(run_until([&] { return o.called; }, 10000));
  EXPECT_EQ(o.error, hc::Error::kNone) << o.detail;
  EXPECT_EQ(o.body, "hello, world");
}

TEST_F(HttpClientTls, CloseDelimitedNeedsCloseNotify) {
  PyPeer clean("close-notify", true);
  ASSERT_TRUE(trust(clean));
  start();
  Outcome a;
  get_tls(clean.port(), a);
  ASSERT_TRUE(run_until([&] { return a.called; }, 10000));
  EXPECT_EQ(a.error, hc::Error::kNone) << a.detail;
  EXPECT_EQ(a.body, "body until close");
  PyPeer cut("truncated", true);
  ASSERT_TRUE(trust(cut));
  Outcome b;
  get_tls(cut.port(), b);
  ASSERT_TRUE(run_until([&] { return b.called; }, 10000));
  EXPECT_EQ(b.error, hc::Error::kClosed) << "a bare FIN may be a truncation attack: " << b.detail;
}

TEST_F(HttpClientTls, FourMebibyteBody) {
  PyPeer peer("big", true);
  ASSERT_TRUE(trust(peer));
  start();
  Outcome o;
  get_tls(peer.port(), o, "/", "localhost", 20000);
  ASSERT_TRUE(run_until([&] { return o.called; }, 20000));
  ASSERT_EQ(o.error, hc::Error::kNone) << o.detail;
  ASSERT_EQ(o.body.size(), 4u * 1024 * 1024);
  bool same = true;
  for (size_t i = 0; i < o.body.size() && same; ++i) same = static_cast<uint8_t>(o.body[i]) == ((i * 7) & 0xFF);
  EXPECT_TRUE(same);
}

TEST_F(HttpClientTls, CertificateForAnotherNameIsRejected) {
  PyPeer peer("keepalive", true);
  ASSERT_TRUE(trust(peer));
  start();
  FakeResolver fr;
  client.set_resolver(hc::Resolver{&fr, &FakeResolver::start, &FakeResolver::cancel});
  Outcome o;
  get_tls(peer.port(), o, "/", "wrong.example");
  ASSERT_EQ(fr.started.size(), 1u);
  appconfig::dns_wire::Address a;
  ASSERT_TRUE(appconfig::dns_wire::parse_ip_literal("127.0.0.1", a));
  client.resolved(fr.started[0].second, &a, 1);
  ASSERT_TRUE(run_until([&] { return o.called; }, 10000));
  EXPECT_EQ(o.error, hc::Error::kTls) << o.detail;
  EXPECT_NE(o.detail.find("wrong.example:" + std::to_string(peer.port())), std::string::npos) << o.detail;
}

TEST_F(HttpClientTls, PlainHttpServerIsATlsError) {
  Peer peer([](int fd, int) {
    write_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    close(fd);
  });
  start();
  Outcome o;
  get_tls(peer.port(), o, "/", "127.0.0.1");
  ASSERT_TRUE(run_until([&] { return o.called; }, 10000));
  EXPECT_EQ(o.error, hc::Error::kTls) << o.detail;
}

TEST(HttpClientErrors, MessagesAreDistinct) {
  std::vector<std::string> seen;
  for (int e = 0; e <= static_cast<int>(hc::Error::kNoSlot); ++e) {
    std::string m = hc::error_message(static_cast<hc::Error>(e));
    EXPECT_FALSE(m.empty());
    EXPECT_EQ(std::find(seen.begin(), seen.end(), m), seen.end()) << m;
    seen.push_back(m);
  }
}

}  // namespace
