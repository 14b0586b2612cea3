// Tests for appconfig::dns against test/emulator/dns_server.py (a child
// process running three scripted servers on 127.0.0.1), a real loop::Loop,
// temp hosts and resolv.conf files, and -- at the end -- http_client::Client
// with the resolver plugged in.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif

#include "appconfig/net/dns.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace dns = appconfig::dns;
namespace dw = appconfig::dns_wire;
namespace hc = appconfig::http_client;
namespace loop = appconfig::loop;

namespace {

// ---------------------------------------------------------------- the server process

struct Server {
  pid_t pid = -1;
  FILE* to = nullptr;    // its stdin
  FILE* from = nullptr;  // its stdout
  std::vector<int> ports;

  bool start() {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return false;
    pid = fork();
    if (pid == 0) {
      // A loop::Loop may have blocked SIGTERM in the parent; the mask survives exec.
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]); close(in[1]); close(out[0]); close(out[1]);
      execlp("python3", "python3", "test/emulator/dns_server.py", "--count", "3", static_cast<char*>(nullptr));
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    to = fdopen(in[1], "w");
    from = fdopen(out[0], "r");
    std::string line = read_line();
    // {"port": P, "ports": [P0, P1, P2]}
    size_t p = line.find('[');
    if (p == std::string::npos) return false;
    const char* s = line.c_str() + p + 1;
    for (;;) {
      char* end;
      long v = strtol(s, &end, 10);
      if (end == s) break;
      ports.push_back(static_cast<int>(v));
      s = end;
      while (*s == ',' || *s == ' ') ++s;
    }
    return ports.size() == 3;
  }
  std::string read_line() {
    std::string line;
    char buf[65536];
    while (fgets(buf, sizeof buf, from) != nullptr) {
      line += buf;
      if (!line.empty() && line.back() == '\n') break;
    }
    return line;
  }
  std::string cmd(const std::string& json) {
    fputs((json + "\n").c_str(), to);
    fflush(to);
    return read_line();
  }
  void stop() {
    if (to != nullptr) fclose(to);  // EOF on stdin ends the server
    if (from != nullptr) fclose(from);
    if (pid > 0) {
      for (int i = 0; i < 100; ++i) {
        if (waitpid(pid, nullptr, WNOHANG) == pid) return;
        usleep(20000);
      }
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// One server process for the whole suite (started by Dns::SetUpTestSuite, so
// filtering to other suites of the unit-test binary does not start it).
Server g_server;

// Sets a rule on the given servers (empty: all).
void rule(const std::string& name, const std::string& json, std::vector<int> servers = {}) {
  std::string s = R"({"cmd":"set","name":")" + name + R"(","rule":)" + json;
  if (!servers.empty()) {
    s += R"(,"servers":[)";
    for (size_t i = 0; i < servers.size(); ++i) s += (i ? "," : "") + std::to_string(servers[i]);
    s += "]";
  }
  s += "}";
  ASSERT_EQ(g_server.cmd(s), "{\"ok\": true}\n") << s;
}

struct Q {
  int server;
  std::string proto, name, type;
  int id;
};

// The query log, parsed from the server's JSON (flat objects, known keys).
std::vector<Q> queries() {
  std::string j = g_server.cmd(R"({"cmd":"queries"})");
  std::vector<Q> out;
  auto field = [](const std::string& obj, const std::string& key) {
    size_t p = obj.find("\"" + key + "\": ");
    if (p == std::string::npos) return std::string();
    p += key.size() + 4;
    if (obj[p] == '"') return obj.substr(p + 1, obj.find('"', p + 1) - p - 1);
    size_t e = obj.find_first_of(",}", p);
    return obj.substr(p, e - p);
  };
  size_t pos = 0;
  while ((pos = j.find('{', pos + 1)) != std::string::npos) {
    size_t end = j.find('}', pos);
    std::string obj = j.substr(pos, end - pos + 1);
    out.push_back(Q{std::stoi(field(obj, "server")), field(obj, "proto"), field(obj, "name"), field(obj, "type"),
                    std::stoi(field(obj, "id"))});
    pos = end;
  }
  return out;
}
std::vector<Q> queries_for(const std::string& name) {
  std::vector<Q> out;
  for (auto& q : queries())
    if (q.name == name) out.push_back(q);
  return out;
}

std::string addr_text(const dw::Address& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(a.family, a.bytes, buf, sizeof buf);
  return buf;
}

// ---------------------------------------------------------------- resolver side

struct Outcome {
  int calls = 0;
  std::vector<std::string> addrs;
  std::string error;
  bool ok = false;
  uint64_t at_ms = 0;
  std::function<void()> then;
};

void record(void* ctx, const dw::Address* addrs, size_t n, const char* error) {
  auto* o = static_cast<Outcome*>(ctx);
  ++o->calls;
  o->at_ms = loop::monotonic_ms();
  o->ok = error == nullptr;
  EXPECT_EQ(error == nullptr, n > 0);
  for (size_t i = 0; i < n; ++i) o->addrs.push_back(addr_text(addrs[i]));
  if (error != nullptr) o->error = error;
  if (o->then) o->then();
}

std::string g_tmp;

std::string write_temp(const std::string& name, const std::string& text) {
  if (g_tmp.empty()) {
    char tmpl[] = "/tmp/dns_test.XXXXXX";
    g_tmp = mkdtemp(tmpl);
  }
  std::string path = g_tmp + "/" + name;
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

std::string ns(int i) { return "nameserver 127.0.0.1:" + std::to_string(g_server.ports[static_cast<size_t>(i)]) + "\n"; }

class Dns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { g_started = g_server.start(); }
  static void TearDownTestSuite() { g_server.stop(); g_server = Server{}; }
  static inline bool g_started = false;
  void SetUp() override {
    ASSERT_TRUE(g_started) << "cannot start test/emulator/dns_server.py";
    ASSERT_TRUE(lp.init());
    ASSERT_EQ(g_server.cmd(R"({"cmd":"clear"})"), "{\"ok\": true}\n");
  }
  // Default: servers 0 and 1, 1 s per try, 1 attempt.
  void start(const std::string& resolv = "", const std::string& hosts = "127.0.0.1 localhost\n") {
    std::string conf = resolv.empty() ? ns(0) + ns(1) + "options timeout:1 attempts:1\n" : resolv;
    hosts_path = write_temp("hosts", hosts);
    ASSERT_TRUE(r.init(&lp, hosts_path.c_str(), write_temp("resolv.conf", conf).c_str()));
  }
  bool run_until(const std::function<bool()>& done, int max_ms = 8000) {
    uint64_t end = loop::monotonic_ms() + static_cast<uint64_t>(max_ms);
    while (!done()) {
      if (loop::monotonic_ms() > end) return false;
      lp.run_once(20);
    }
    return true;
  }
  void resolve_ok(const std::string& host, Outcome& o) {
    ASSERT_NE(r.resolve(host, &record, &o), 0u);
    EXPECT_EQ(o.calls, 0) << "callback inside resolve()";
    ASSERT_TRUE(run_until([&] { return o.calls > 0; })) << host;
    EXPECT_EQ(o.calls, 1);
  }
  loop::Loop lp;
  dns::Resolver r;  // destroyed before lp
  std::string hosts_path;
};

TEST_F(Dns, HostsFileHitSendsNoQuery) {
  start("", "# comment\n10.1.2.3 myhost.test alias.test\n::2 myhost.test # v6 too\n");
  Outcome o;
  resolve_ok("MyHost.Test.", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, (std::vector<std::string>{"10.1.2.3", "::2"}));
  Outcome a;
  resolve_ok("alias.test", a);
  EXPECT_EQ(a.addrs, (std::vector<std::string>{"10.1.2.3"}));
  EXPECT_TRUE(queries().empty());
  EXPECT_EQ(r.queries_sent(), 0u);
}

TEST_F(Dns, HostsFileIsReReadWhenItChanges) {
  start("", "10.0.0.1 moving.test\n");
  Outcome a;
  resolve_ok("moving.test", a);
  EXPECT_EQ(a.addrs, (std::vector<std::string>{"10.0.0.1"}));
  write_temp("hosts", "10.0.0.2 moving.test\n");
  timespec times[2] = {{0, UTIME_OMIT}, {time(nullptr) + 5, 0}};  // a distinct mtime even within one second
  ASSERT_EQ(utimensat(AT_FDCWD, hosts_path.c_str(), times, 0), 0);
  usleep(1100 * 1000);  // past kHostsStatIntervalMs
  Outcome b;
  resolve_ok("moving.test", b);
  EXPECT_EQ(b.addrs, (std::vector<std::string>{"10.0.0.2"}));
}

TEST_F(Dns, IpLiteralsSkipEverything) {
  start();
  for (auto [in, want] : std::vector<std::pair<std::string, std::string>>{
           {"192.0.2.7", "192.0.2.7"}, {"::1", "::1"}, {"[2001:db8::5]", "2001:db8::5"}}) {
    Outcome o;
    resolve_ok(in, o);
    EXPECT_TRUE(o.ok) << in << ": " << o.error;
    EXPECT_EQ(o.addrs, std::vector<std::string>{want});
  }
  EXPECT_TRUE(queries().empty());
}

TEST_F(Dns, AAndAaaaAskedInParallel) {
  start();
  rule("both.test", R"({"a":["192.0.2.1","192.0.2.2"],"aaaa":["2001:db8::1"],"ttl":300})");
  Outcome o;
  resolve_ok("both.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, (std::vector<std::string>{"192.0.2.1", "192.0.2.2", "2001:db8::1"}));
  auto qs = queries_for("both.test");
  ASSERT_EQ(qs.size(), 2u);
  EXPECT_EQ(qs[0].server, 0);
  EXPECT_EQ(qs[1].server, 0);
  EXPECT_NE(qs[0].type, qs[1].type);
  EXPECT_NE(qs[0].id, qs[1].id);
  EXPECT_EQ(qs[0].proto, "udp");
}

TEST_F(Dns, IdsAreRandom) {
  start();
  std::vector<int> ids;
  for (int i = 0; i < 8; ++i) {
    std::string name = "r" + std::to_string(i) + ".test";
    rule(name, R"({"a":["192.0.2.9"]})");
    Outcome o;
    resolve_ok(name, o);
    EXPECT_TRUE(o.ok) << o.error;
  }
  for (auto& q : queries()) ids.push_back(q.id);
  ASSERT_EQ(ids.size(), 16u);
  // Sequential ids would differ by 1; 16 random 16-bit ids all distinct and
  // not an arithmetic run (fails with probability ~0.2%, from the birthday bound).
  int sequential = 0;
  for (size_t i = 1; i < ids.size(); ++i) sequential += (ids[i] - ids[i - 1] == 1);
  EXPECT_LT(sequential, 3);
}

TEST_F(Dns, CnameChainIsFollowed) {
  start();
  rule("alias.test", R"({"cname":"mid.test","ttl":100})");
  rule("mid.test", R"({"cname":"final.test","ttl":100})");
  rule("final.test", R"({"a":["198.51.100.4"],"aaaa":["2001:db8::44"],"ttl":100})");
  Outcome o;
  resolve_ok("alias.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, (std::vector<std::string>{"198.51.100.4", "2001:db8::44"}));
  EXPECT_EQ(queries_for("alias.test").size(), 2u);  // the server gave the whole chain
  EXPECT_TRUE(queries_for("final.test").empty());
}

TEST_F(Dns, OnlyOneFamily) {
  start();
  rule("v4only.test", R"({"a":["203.0.113.1"]})");
  rule("v6only.test", R"({"aaaa":["2001:db8::6"]})");
  Outcome a, b;
  resolve_ok("v4only.test", a);
  resolve_ok("v6only.test", b);
  EXPECT_EQ(a.addrs, std::vector<std::string>{"203.0.113.1"});
  EXPECT_EQ(b.addrs, std::vector<std::string>{"2001:db8::6"});
}

TEST_F(Dns, NxDomainIsFinalAndNamesHostAndServer) {
  start();
  Outcome o;
  resolve_ok("nothere.test", o);  // no rule: NXDOMAIN
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("\"nothere.test\""), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("NXDOMAIN"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("127.0.0.1:" + std::to_string(g_server.ports[0])), std::string::npos) << o.error;
  EXPECT_EQ(o.error.find(std::to_string(g_server.ports[1])), std::string::npos) << o.error;
  for (auto& q : queries_for("nothere.test")) EXPECT_EQ(q.server, 0) << "NXDOMAIN must not go to the next server";
}

TEST_F(Dns, NoDataIsAnError) {
  start();
  rule("empty.test", R"({})");
  Outcome o;
  resolve_ok("empty.test", o);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.error.find("no A or AAAA"), std::string::npos) << o.error;
}

TEST_F(Dns, ServfailMovesToTheNextServer) {
  start();
  rule("sf.test", R"({"rcode":"SERVFAIL"})", {0});
  rule("sf.test", R"({"a":["192.0.2.33"]})", {1});
  Outcome o;
  resolve_ok("sf.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, std::vector<std::string>{"192.0.2.33"});
  int s0 = 0, s1 = 0;
  for (auto& q : queries_for("sf.test")) (q.server == 0 ? s0 : s1)++;
  EXPECT_GE(s0, 1);
  EXPECT_EQ(s1, 2);
}

TEST_F(Dns, RefusedEverywhereListsEveryServer) {
  start(ns(0) + ns(1) + ns(2) + "options timeout:1 attempts:2\n");
  rule("ref.test", R"({"rcode":"REFUSED"})", {0, 2});
  rule("ref.test", R"({"rcode":"SERVFAIL"})", {1});
  Outcome o;
  resolve_ok("ref.test", o);
  EXPECT_FALSE(o.ok);
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(o.error.find("127.0.0.1:" + std::to_string(g_server.ports[static_cast<size_t>(i)])), std::string::npos)
        << o.error;
  EXPECT_NE(o.error.find("REFUSED"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("SERVFAIL"), std::string::npos) << o.error;
  // attempts x servers tries, each asking A and AAAA (the AAAA reply may be
  // skipped when A already failed the try, so count A only).
  int a = 0;
  for (auto& q : queries_for("ref.test")) a += q.type == "A";
  EXPECT_EQ(a, 6);
}

TEST_F(Dns, PartialAnswerIsKeptWhenNoServerDoesBetter) {
  start();
  // Every server answers A at once and SERVFAILs AAAA 100 ms later.
  rule("half.test", R"({"a":["192.0.2.50"],"rcode_aaaa":"SERVFAIL","delay_aaaa_ms":100})");
  Outcome o;
  resolve_ok("half.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, std::vector<std::string>{"192.0.2.50"});
  int a = 0;
  for (auto& q : queries_for("half.test")) a += q.type == "A";
  EXPECT_EQ(a, 2) << "both servers were asked before settling for the partial answer";
}

TEST_F(Dns, SilentServerTimesOutWithoutBlockingTheLoop) {
  start();
  rule("slow.test", R"({"mode":"silent"})", {0});
  rule("slow.test", R"({"a":["192.0.2.77"]})", {1});
  struct Tick {
    uint64_t fired_ms = 0;
    static void cb(void* ctx) { static_cast<Tick*>(ctx)->fired_ms = loop::monotonic_ms(); }
  } tick;
  uint64_t t0 = loop::monotonic_ms();
  Outcome o;
  ASSERT_NE(r.resolve("slow.test", &record, &o), 0u);
  lp.add_timer(100, &Tick::cb, &tick);
  ASSERT_TRUE(run_until([&] { return o.calls > 0; }, 5000));
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, std::vector<std::string>{"192.0.2.77"});
  ASSERT_NE(tick.fired_ms, 0u);
  EXPECT_LT(tick.fired_ms - t0, 300u) << "a timer was held up by the resolver";
  EXPECT_GE(o.at_ms - t0, 950u) << "the 1 s per-try timeout was not honoured";
  EXPECT_LT(o.at_ms - t0, 2500u);
}

TEST_F(Dns, DeadServerTimesOutAndErrorNamesAll) {
  start(ns(0) + ns(1) + "options timeout:1 attempts:2\n");
  rule("dead.test", R"({"mode":"silent"})");
  uint64_t t0 = loop::monotonic_ms();
  Outcome o;
  resolve_ok("dead.test", o);
  uint64_t took = o.at_ms - t0;
  EXPECT_FALSE(o.ok);
  EXPECT_GE(took, 3900u);  // 2 attempts x 2 servers x 1 s
  EXPECT_LT(took, 6000u);
  EXPECT_NE(o.error.find("\"dead.test\""), std::string::npos) << o.error;
  EXPECT_NE(o.error.find("timeout"), std::string::npos) << o.error;
  EXPECT_NE(o.error.find(std::to_string(g_server.ports[0])), std::string::npos) << o.error;
  EXPECT_NE(o.error.find(std::to_string(g_server.ports[1])), std::string::npos) << o.error;
  std::vector<int> order;
  for (auto& q : queries_for("dead.test"))
    if (q.type == "A") order.push_back(q.server);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 0, 1})) << "servers in turn, then the next attempt";
  EXPECT_EQ(queries_for("dead.test").size(), 8u);
}

TEST_F(Dns, ClosedPortFailsOverWithoutWaiting) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t sl = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &sl);
  int closed = ntohs(a.sin_port);
  close(fd);  // nothing listens there now: ICMP port unreachable
  start("nameserver 127.0.0.1:" + std::to_string(closed) + "\n" + ns(1) + "options timeout:3 attempts:1\n");
  rule("cp.test", R"({"a":["192.0.2.5"]})");
  uint64_t t0 = loop::monotonic_ms();
  Outcome o;
  resolve_ok("cp.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_LT(o.at_ms - t0, 1000u);
}

TEST_F(Dns, TruncatedAnswerIsRetriedOverTcp) {
  start();
  std::string many = "[";
  for (int i = 1; i <= 40; ++i) many += std::string(i > 1 ? "," : "") + "\"10.9.0." + std::to_string(i) + "\"";
  many += "]";
  rule("big.test", R"({"a":)" + many + R"(,"aaaa":["2001:db8::b"]})");  // A reply > 512 bytes: TC=1
  rule("tc.test", R"({"mode":"truncate","a":["192.0.2.60"],"aaaa":["2001:db8::60"]})");
  Outcome o, t;
  resolve_ok("big.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  ASSERT_EQ(o.addrs.size(), dw::kMaxAddresses);
  EXPECT_EQ(o.addrs[0], "10.9.0.1");
  EXPECT_EQ(o.addrs[7], "10.9.0.8");  // the A answer's first 8; kMaxAddresses caps the rest
  resolve_ok("tc.test", t);
  EXPECT_TRUE(t.ok) << t.error;
  EXPECT_EQ(t.addrs, (std::vector<std::string>{"192.0.2.60", "2001:db8::60"}));
  int tcp = 0;
  for (auto& q : queries_for("tc.test")) tcp += q.proto == "tcp";
  EXPECT_EQ(tcp, 2);
  tcp = 0;
  for (auto& q : queries_for("big.test")) tcp += q.proto == "tcp";
  EXPECT_EQ(tcp, 1);  // only the A answer was too large
}

TEST_F(Dns, TcpReplyDribbledByteByByte) {
  start();
  rule("drip.test", R"({"mode":"tcp_dribble","cname":"drip2.test"})");
  rule("drip2.test", R"({"a":["192.0.2.62","192.0.2.63"],"aaaa":["2001:db8::62"]})");
  Outcome o;
  resolve_ok("drip.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, (std::vector<std::string>{"192.0.2.62", "192.0.2.63", "2001:db8::62"}));
  int tcp = 0;
  for (auto& q : queries_for("drip.test")) tcp += q.proto == "tcp";
  EXPECT_EQ(tcp, 2);
}

TEST_F(Dns, TcpFailureMovesOn) {
  start();
  rule("tcpx.test", R"({"mode":"tcp_close"})", {0});
  rule("tcpx.test", R"({"a":["192.0.2.61"]})", {1});
  Outcome o;
  resolve_ok("tcpx.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  EXPECT_EQ(o.addrs, std::vector<std::string>{"192.0.2.61"});
}

TEST_F(Dns, SpoofedRepliesAreIgnored) {
  start();
  rule("id.test", R"({"mode":"wrong_id","then_answer":true,"delay_ms":50,"a":["192.0.2.70"]})");
  rule("q.test", R"({"mode":"wrong_question","then_answer":true,"delay_ms":50,"a":["192.0.2.71"]})");
  rule("port.test", R"({"mode":"wrong_port","then_answer":true,"delay_ms":50,"a":["192.0.2.72"]})");
  for (auto [name, want] : std::vector<std::pair<std::string, std::string>>{
           {"id.test", "192.0.2.70"}, {"q.test", "192.0.2.71"}, {"port.test", "192.0.2.72"}}) {
    Outcome o;
    resolve_ok(name, o);
    EXPECT_TRUE(o.ok) << name << ": " << o.error;
    EXPECT_EQ(o.addrs, std::vector<std::string>{want}) << name;  // never 6.6.6.6
  }
  // Only wrong replies: the try times out and the next server (same rule) too.
  rule("spoofonly.test", R"({"mode":"wrong_id","a":["192.0.2.73"]})");
  Outcome s;
  resolve_ok("spoofonly.test", s);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.error.find("timeout"), std::string::npos) << s.error;
}

TEST_F(Dns, DelayedAnswerWithinTimeout) {
  start();
  rule("late.test", R"({"delay_ms":400,"a":["192.0.2.80"]})");
  Outcome o;
  resolve_ok("late.test", o);
  EXPECT_TRUE(o.ok) << o.error;
  for (auto& q : queries_for("late.test")) EXPECT_EQ(q.server, 0);
}

TEST_F(Dns, PositiveAnswersAreCachedByTtl) {
  start();
  rule("ttl.test", R"({"a":["192.0.2.90"],"ttl":1})");
  Outcome a, b, c;
  resolve_ok("ttl.test", a);
  ASSERT_TRUE(a.ok) << a.error;
  EXPECT_EQ(queries_for("ttl.test").size(), 2u);
  resolve_ok("TTL.test.", b);  // case and trailing dot do not matter
  EXPECT_EQ(b.addrs, a.addrs);
  EXPECT_EQ(queries_for("ttl.test").size(), 2u) << "cache hit must not query";
  rule("ttl.test", R"({"a":["192.0.2.91"],"ttl":1})");
  usleep(1100 * 1000);
  resolve_ok("ttl.test", c);
  EXPECT_EQ(c.addrs, std::vector<std::string>{"192.0.2.91"});
  EXPECT_EQ(queries_for("ttl.test").size(), 4u);
}

TEST_F(Dns, TtlZeroIsClampedToOneSecond) {
  start();
  rule("zero.test", R"({"a":["192.0.2.95"],"ttl":0})");
  Outcome a, b;
  resolve_ok("zero.test", a);
  resolve_ok("zero.test", b);
  EXPECT_TRUE(b.ok);
  EXPECT_EQ(queries_for("zero.test").size(), 2u);
}

TEST_F(Dns, NegativeAnswersAreCachedBriefly) {
  start();
  Outcome a, b;
  resolve_ok("neg.test", a);
  EXPECT_FALSE(a.ok);
  size_t n = queries_for("neg.test").size();
  resolve_ok("neg.test", b);
  EXPECT_FALSE(b.ok);
  EXPECT_NE(b.error.find("\"neg.test\""), std::string::npos) << b.error;
  EXPECT_NE(b.error.find("cached"), std::string::npos) << b.error;
  EXPECT_EQ(queries_for("neg.test").size(), n);
}

TEST_F(Dns, FailuresAreNotCached) {
  start(ns(0) + "options timeout:1 attempts:1\n");
  rule("flaky.test", R"({"rcode":"SERVFAIL"})");
  Outcome a, b;
  resolve_ok("flaky.test", a);
  EXPECT_FALSE(a.ok);
  rule("flaky.test", R"({"a":["192.0.2.99"]})");
  resolve_ok("flaky.test", b);
  EXPECT_TRUE(b.ok) << b.error;
}

TEST_F(Dns, InvalidNamesFailFromTheLoop) {
  start();
  for (std::string bad : {std::string(""), std::string("."), std::string("a..b"), std::string(64, 'x') + ".test",
                          std::string("sp ace.test"), std::string("nul\0.test", 9), std::string(300, 'a')}) {
    Outcome o;
    resolve_ok(bad, o);
    EXPECT_FALSE(o.ok);
    EXPECT_NE(o.error.find("not a valid host name"), std::string::npos) << o.error;
    EXPECT_EQ(o.error.find('\0'), std::string::npos);
  }
  EXPECT_TRUE(queries().empty());
}

TEST_F(Dns, CancelStopsTheCallback) {
  start();
  rule("pending.test", R"({"mode":"silent"})");
  Outcome a, b, c;
  uint64_t ia = r.resolve("pending.test", &record, &a);
  uint64_t ib = r.resolve("localhost", &record, &b);  // a hosts hit, delivery deferred
  uint64_t ic = r.resolve("192.0.2.1", &record, &c);
  ASSERT_NE(ia, 0u);
  ASSERT_NE(ib, 0u);
  ASSERT_NE(ic, 0u);
  r.cancel(ia);
  r.cancel(ib);
  r.cancel(ib);          // twice: ignored
  r.cancel(0);           // never an id
  r.cancel(ia + 1000);   // unknown
  ASSERT_TRUE(run_until([&] { return c.calls > 0; }));
  for (int i = 0; i < 10; ++i) lp.run_once(20);
  EXPECT_EQ(a.calls, 0);
  EXPECT_EQ(b.calls, 0);
  EXPECT_EQ(r.in_flight(), 0u);
}

TEST_F(Dns, CallbackMayResolveAndCancel) {
  start();
  rule("chain1.test", R"({"a":["192.0.2.101"]})");
  rule("chain2.test", R"({"a":["192.0.2.102"]})");
  rule("victim.test", R"({"mode":"silent"})");
  Outcome first, second, victim;
  uint64_t vid = r.resolve("victim.test", &record, &victim);
  first.then = [&] {
    r.cancel(vid);
    EXPECT_NE(r.resolve("chain2.test", &record, &second), 0u);
    EXPECT_EQ(second.calls, 0);
  };
  resolve_ok("chain1.test", first);
  ASSERT_TRUE(run_until([&] { return second.calls > 0; }));
  EXPECT_EQ(second.addrs, std::vector<std::string>{"192.0.2.102"});
  for (int i = 0; i < 5; ++i) lp.run_once(10);
  EXPECT_EQ(victim.calls, 0);
}

TEST_F(Dns, ManyParallelResolutions) {
  start();
  std::mt19937 rng(std::random_device{}());
  unsigned seed = rng();
  printf("dns parallel delay seed: %u\n", seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 pick(seed);
  std::vector<Outcome> outs(dns::kMaxQueries);
  std::vector<std::string> want(dns::kMaxQueries);
  for (size_t i = 0; i < dns::kMaxQueries; ++i) {
    std::string name = "p" + std::to_string(i) + ".test";
    want[i] = "10.77.0." + std::to_string(i + 1);
    rule(name, R"({"a":[")" + want[i] + R"("],"delay_ms":)" + std::to_string(pick() % 200) + "}");
  }
  for (size_t i = 0; i < dns::kMaxQueries; ++i)
    ASSERT_NE(r.resolve("p" + std::to_string(i) + ".test", &record, &outs[i]), 0u);
  Outcome extra;
  EXPECT_EQ(r.resolve("overflow.test", &record, &extra), 0u) << "kMaxQueries must bound the table";
  ASSERT_TRUE(run_until([&] {
    for (auto& o : outs)
      if (o.calls == 0) return false;
    return true;
  }));
  for (size_t i = 0; i < dns::kMaxQueries; ++i) {
    EXPECT_TRUE(outs[i].ok) << i << ": " << outs[i].error;
    EXPECT_EQ(outs[i].addrs, std::vector<std::string>{want[i]}) << i;
    EXPECT_EQ(outs[i].calls, 1);
  }
  EXPECT_EQ(extra.calls, 0);
  EXPECT_EQ(r.in_flight(), 0u);
}

TEST_F(Dns, MissingFilesFallBackToDefaults) {
  // No resolv.conf: 127.0.0.1:53 (nothing answers there in the test box, or a
  // real resolver does); no hosts file: no entries. Only check it starts and an
  // IP literal still works.
  ASSERT_TRUE(r.init(&lp, "/nonexistent/hosts", "/nonexistent/resolv.conf"));
  Outcome o;
  resolve_ok("192.0.2.200", o);
  EXPECT_TRUE(o.ok);
}

TEST_F(Dns, DestroyWithQueriesInFlight) {
  auto* lp2 = new loop::Loop;
  ASSERT_TRUE(lp2->init());
  {
    dns::Resolver r2;
    ASSERT_TRUE(r2.init(lp2, write_temp("hosts", "").c_str(), write_temp("resolv.conf", ns(0)).c_str()));
    rule("gone.test", R"({"mode":"silent"})");
    Outcome o;
    ASSERT_NE(r2.resolve("gone.test", &record, &o), 0u);
    ASSERT_NE(r2.resolve("10.0.0.1", &record, &o), 0u);
    lp2->run_once(10);
  }
  for (int i = 0; i < 5; ++i) lp2->run_once(10);  // nothing left registered that points at r2
  delete lp2;
}

// ---------------------------------------------------------------- through http_client

// A one-thread HTTP server on 127.0.0.1 answering every request with `body`.
struct HttpPeer {
  int fd = -1;
  int port = 0;
  std::atomic<bool> stop{false};
  std::thread t;
  explicit HttpPeer(std::string body) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd, 8);
    socklen_t sl = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &sl);
    port = ntohs(a.sin_port);
    t = std::thread([this, body] {
      while (!stop) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int c = accept(fd, nullptr, nullptr);
        if (c < 0) continue;
        std::string in;
        char buf[4096];
        while (in.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          in.append(buf, static_cast<size_t>(n));
        }
        std::string resp = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                           "\r\nConnection: close\r\n\r\n" + body;
        send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
        close(c);
      }
    });
  }
  ~HttpPeer() {
    stop = true;
    t.join();
    close(fd);
  }
};

struct HttpOutcome {
  bool called = false;
  hc::Error error = hc::Error::kNone;
  std::string body, detail;
};

void http_record(void* ctx, const hc::Result& res) {
  auto* o = static_cast<HttpOutcome*>(ctx);
  o->called = true;
  o->error = res.error;
  o->detail = res.detail;
  if (res.response != nullptr) o->body.assign(res.response->body.data(), res.response->body.size());
}

TEST_F(Dns, HttpClientResolvesThroughTheHook) {
  HttpPeer peer("served by name");
  start();
  rule("appconfigdata.internal.test", R"({"cname":"real.internal.test"})");
  rule("real.internal.test", R"({"a":["127.0.0.1"]})");
  {
    hc::Client client;
    ASSERT_TRUE(client.init(&lp, 2));
    client.set_resolver(r.client_hook(&client));
    HttpOutcome ok, bad, cancelled;
    hc::Request req{"GET", "/x", nullptr, 0, "", 5000};
    const auto port = static_cast<uint16_t>(peer.port);
    client.send(hc::Endpoint{.host = "appconfigdata.internal.test", .port = port, .tls = false}, req, &http_record,
                &ok);
    client.send(hc::Endpoint{.host = "unknown.internal.test", .port = port, .tls = false}, req, &http_record, &bad);
    ASSERT_TRUE(run_until([&] { return ok.called && bad.called; }));
    EXPECT_EQ(ok.error, hc::Error::kNone) << ok.detail;
    EXPECT_EQ(ok.body, "served by name");
    EXPECT_EQ(bad.error, hc::Error::kResolve) << bad.detail;
    EXPECT_NE(bad.detail.find("unknown.internal.test"), std::string::npos) << bad.detail;

    // A request cancelled while its name is being resolved cancels the lookup.
    rule("hang.internal.test", R"({"mode":"silent"})");
    const hc::Endpoint hang{.host = "hang.internal.test", .port = port, .tls = false};
    hc::RequestId id = client.send(hang, req, &http_record, &cancelled);
    for (int i = 0; i < 5 && r.in_flight() == 0; ++i) lp.run_once(10);
    EXPECT_EQ(r.in_flight(), 1u);
    client.cancel(id);
    EXPECT_EQ(r.in_flight(), 0u);
    // A hook for the same client is the same hook.
    hc::Resolver h1 = r.client_hook(&client), h2 = r.client_hook(&client);
    EXPECT_EQ(h1.ctx, h2.ctx);
  }
  EXPECT_EQ(r.in_flight(), 0u);
}

}  // namespace
