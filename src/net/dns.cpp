#include "appconfig/net/dns.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/text.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <new>
#include <poll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appconfig/core/log.h"

namespace appconfig::dns {

namespace {

// One query: 12-byte header + 255-byte name + type + class (RFC 1035 §4.1).
constexpr size_t kQueryBytes = 12 + dns_wire::kMaxNameWireBytes + 4;
// resolv.conf is read once into a stack buffer; real ones are a few lines.
constexpr size_t kMaxResolvConfBytes = 8192;
// Slot in the TCP buffer: 2-byte length prefix + the largest message.
constexpr size_t kTcpSlotBytes = 2 + kMaxTcpReplyBytes;

constexpr size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// "a.b.c.d:port" or "[v6]:port" for error texts.
void format_server(const dns_wire::Address& a, uint16_t port, char* out, size_t cap) {
  char ip[INET6_ADDRSTRLEN] = "?";
  inet_ntop(a.family, a.bytes, ip, sizeof ip);
  if (a.family == AF_INET6)
    snprintf(out, cap, "[%s]:%u", ip, static_cast<unsigned>(port));
  else
    snprintf(out, cap, "%s:%u", ip, static_cast<unsigned>(port));
}

socklen_t make_sockaddr(const dns_wire::Address& a, uint16_t port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    std::memcpy(&s6->sin6_addr, a.bytes, 16);
    return sizeof *s6;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(port);
  std::memcpy(&s4->sin_addr, a.bytes, 4);
  return sizeof *s4;
}

// True when `from` is exactly the server we asked (address and port). The UDP
// socket is connected, so the kernel already filters; this is a second check.
bool same_peer(const sockaddr_storage& from, const dns_wire::Address& a, uint16_t port) {
  if (from.ss_family != a.family) return false;
  if (a.family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&from);
    return ntohs(s6->sin6_port) == port && std::memcmp(&s6->sin6_addr, a.bytes, 16) == 0;
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&from);
  return ntohs(s4->sin_port) == port && std::memcmp(&s4->sin_addr, a.bytes, 4) == 0;
}

size_t read_file(const char* path, char* out, size_t cap) { return sysfile::read_prefix(path, out, cap); }

enum class Phase : uint8_t {
  kFree,
  kDeliver,  // result known (literal, hosts, cache, bad name); waiting for the 0 ms timer
  kAsking,   // questions out on UDP (and maybe TCP)
};

enum class SubState : uint8_t { kWaiting, kTcpConnect, kTcpWrite, kTcpRead, kDone };

}  // namespace

// One question (A or AAAA) of a lookup.
struct Resolver::Sub {
  dns_wire::Type type;
  uint16_t id;
  SubState state;
  dns_wire::ParseError result;  // when kDone: kNone (addresses), kNoAnswer or kNxDomain
  dns_wire::Answer ans;
  uint8_t query[kQueryBytes];
  size_t query_len;
  int tcp_fd;
  uint8_t* tcp_buf;  // kTcpSlotBytes
  size_t tcp_done;   // bytes written (kTcpWrite) or read (kTcpRead)
  size_t tcp_need;
};

struct Resolver::Query {
  Resolver* owner;
  uint64_t id;  // 0 while free
  uint32_t gen; // bumped at every try and release: stale socket events are ignored
  Phase phase;
  Callback cb;
  void* ctx;
  int hook;  // >= 0: complete through hooks_[hook] with token
  uint64_t token;
  char name[dns_wire::kMaxNameTextBytes + 1];  // without the trailing dot
  size_t name_len;
  int try_index;  // attempt * num_servers + server
  int udp_fd;
  loop::TimerId timer;
  Sub sub[2];  // [0] A, [1] AAAA
  const char* outcome[dns_wire::kMaxNameservers];  // last outcome per server; null = not tried
  dns_wire::Address addrs[dns_wire::kMaxAddresses];
  size_t num_addrs;  // the result, or a partial one kept from a failed try
  char error[kMaxErrorBytes];
};

struct Resolver::CacheEntry {
  bool used;
  bool negative;
  uint8_t name_len;
  char name[dns_wire::kMaxNameTextBytes + 1];  // lower case
  uint64_t expires_ms;
  dns_wire::Address addrs[dns_wire::kMaxAddresses];
  size_t num_addrs;
  char error[kMaxErrorBytes];
};

bool Resolver::init(loop::Loop* lp, const char* hosts_path, const char* resolv_conf_path) {
  if (arena_ != nullptr || lp == nullptr || hosts_path == nullptr || resolv_conf_path == nullptr) return false;
  loop_ = lp;
  size_t q_bytes = align16(kMaxQueries * sizeof(Query));
  size_t c_bytes = align16(kCacheEntries * sizeof(CacheEntry));
  size_t tcp_bytes = align16(2 * kMaxQueries * kTcpSlotBytes);
  arena_bytes_ = q_bytes + c_bytes + align16(kMaxHostsFileBytes) + align16(dns_wire::kMaxPacketBytes) + tcp_bytes +
                 kMaxPathBytes;
  // Reserved, not committed: pages become resident only when touched (the
  // TCP buffers almost never are).
  void* p = mmap(nullptr, arena_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  arena_ = p;
  auto* b = static_cast<uint8_t*>(p);
  queries_ = reinterpret_cast<Query*>(b);
  b += q_bytes;
  cache_ = reinterpret_cast<CacheEntry*>(b);
  b += c_bytes;
  hosts_ = reinterpret_cast<char*>(b);
  b += align16(kMaxHostsFileBytes);
  udp_buf_ = b;
  b += align16(dns_wire::kMaxPacketBytes);
  tcp_bufs_ = b;
  b += tcp_bytes;
  hosts_path_ = reinterpret_cast<char*>(b);
  snprintf(hosts_path_, kMaxPathBytes, "%s", hosts_path);
  for (size_t i = 0; i < kMaxQueries; ++i) {
    Query* q = new (&queries_[i]) Query{};
    q->owner = this;
    q->udp_fd = -1;
    for (int s = 0; s < 2; ++s) {
      q->sub[s].tcp_fd = -1;
      q->sub[s].tcp_buf = tcp_bufs_ + (2 * i + static_cast<size_t>(s)) * kTcpSlotBytes;
    }
  }
  for (size_t i = 0; i < kCacheEntries; ++i) new (&cache_[i]) CacheEntry{};

  char text[kMaxResolvConfBytes];
  size_t len = read_file(resolv_conf_path, text, sizeof text);
  conf_ = dns_wire::parse_resolv_conf(std::string_view(text, len));
  if (conf_.num_servers == 0) {  // parse_resolv_conf never does this; the modulo below relies on it
    dns_wire::parse_ip_literal("127.0.0.1", conf_.servers[0]);
    conf_.ports[0] = dns_wire::kDnsPort;
    conf_.num_servers = 1;
  }
  refresh_hosts();
  return true;
}

Resolver::~Resolver() {
  if (arena_ == nullptr) return;
  for (size_t i = 0; i < kMaxQueries; ++i)
    if (queries_[i].phase != Phase::kFree) release(queries_[i]);
  munmap(arena_, arena_bytes_);
  arena_ = nullptr;
  // A Client that outlives us (wrong member order) then finds a dead hook
  // and does nothing in its cancel() instead of touching freed memory.
  for (auto& h : hooks_) h = Hook{};
}

size_t Resolver::in_flight() const {
  size_t n = 0;
  for (size_t i = 0; arena_ != nullptr && i < kMaxQueries; ++i) n += queries_[i].phase != Phase::kFree;
  return n;
}

bool Resolver::random_id(uint16_t& out) {
  if (random_used_ + 2 > sizeof random_) {
    // getrandom(2) with flags 0 blocks only before the kernel pool is
    // initialised, which is long past when Lambda starts extensions.
    ssize_t n;
    do {
      n = getrandom(random_, sizeof random_, 0);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof random_)) {
      // Never fall back to a predictable id (RFC 5452 §9.2): no id, no query.
      return false;
    }
    random_used_ = 0;
  }
  out = static_cast<uint16_t>(random_[random_used_] << 8 | random_[random_used_ + 1]);
  random_used_ += 2;
  return true;
}

void Resolver::refresh_hosts() {
  uint64_t now = loop::monotonic_ms();
  if (hosts_checked_ms_ != 0 && now - hosts_checked_ms_ < kHostsStatIntervalMs) return;
  hosts_checked_ms_ = now == 0 ? 1 : now;
  struct stat st;
  if (stat(hosts_path_, &st) != 0) {
    hosts_len_ = 0;
    hosts_mtime_ns_ = -1;
    hosts_size_ = -1;
    return;
  }
  int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (mtime_ns == hosts_mtime_ns_ && static_cast<int64_t>(st.st_size) == hosts_size_ &&
      static_cast<uint64_t>(st.st_ino) == hosts_ino_)
    return;
  hosts_mtime_ns_ = mtime_ns;
  hosts_size_ = static_cast<int64_t>(st.st_size);
  hosts_ino_ = static_cast<uint64_t>(st.st_ino);
  hosts_len_ = read_file(hosts_path_, hosts_, kMaxHostsFileBytes);
}

uint64_t Resolver::resolve(std::string_view host, Callback cb, void* ctx) {
  if (cb == nullptr) return 0;
  return start(host, cb, ctx, -1, 0);
}

// Wraps begin() so that a deferral that could not get a loop timer turns into
// "no slot" (return 0, no callback) instead of a callback inside resolve().
uint64_t Resolver::start(std::string_view host, Callback cb, void* ctx, int hook, uint64_t token) {
  if (arena_ == nullptr || in_start_) return 0;
  in_start_ = true;
  Query* q = begin(host, cb, ctx, hook, token);
  in_start_ = false;
  if (q == nullptr) return 0;
  if (q->phase == Phase::kDeliver && !q->timer.valid()) {
    release(*q);
    return 0;
  }
  return q->id;
}

Resolver::Query* Resolver::begin(std::string_view host, Callback cb, void* ctx, int hook, uint64_t token) {
  Query* qp = nullptr;
  for (size_t i = 0; i < kMaxQueries && qp == nullptr; ++i)
    if (queries_[i].phase == Phase::kFree) qp = &queries_[i];
  if (qp == nullptr) return nullptr;
  Query& q = *qp;
  q.id = next_id_++;
  ++q.gen;
  q.cb = cb;
  q.ctx = ctx;
  q.hook = hook;
  q.token = token;
  q.try_index = 0;
  q.udp_fd = -1;
  q.timer = loop::TimerId{};
  q.num_addrs = 0;
  q.error[0] = '\0';
  for (auto& o : q.outcome) o = nullptr;
  for (auto& s : q.sub) {
    s.state = SubState::kWaiting;
    s.tcp_fd = -1;
  }
  q.sub[0].type = dns_wire::Type::kA;
  q.sub[1].type = dns_wire::Type::kAaaa;

  // IP literals never reach the resolver (and are not cached).
  dns_wire::Address lit;
  if (dns_wire::parse_ip_literal(host, lit)) {
    q.addrs[0] = lit;
    q.num_addrs = 1;
    q.name_len = 0;
    q.name[0] = '\0';
    defer(q);
    return &q;
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  // The name as text for messages: capped and with odd bytes shown as '?'.
  q.name_len = host.size() < dns_wire::kMaxNameTextBytes ? host.size() : dns_wire::kMaxNameTextBytes;
  for (size_t i = 0; i < q.name_len; ++i) {
    auto c = static_cast<unsigned char>(host[i]);
    q.name[i] = (c >= 0x21 && c <= 0x7e && c != '"') ? static_cast<char>(c) : '?';
  }
  q.name[q.name_len] = '\0';
  uint8_t probe[kQueryBytes];
  if (host.size() != q.name_len || std::string_view(q.name, q.name_len) != host ||
      dns_wire::build_query(0, host, dns_wire::Type::kA, probe, sizeof probe) == 0) {
    snprintf(q.error, sizeof q.error, "cannot resolve \"%s\": not a valid host name", q.name);
    defer(q);
    return &q;
  }

  refresh_hosts();
  q.num_addrs = dns_wire::lookup_hosts(std::string_view(hosts_, hosts_len_), host, q.addrs, dns_wire::kMaxAddresses);
  if (q.num_addrs > 0 || lookup_cache(q)) {
    defer(q);
    return &q;
  }

  q.phase = Phase::kAsking;
  while (q.try_index < conf_.attempts * static_cast<int>(conf_.num_servers)) {
    if (start_try(q)) return &q;
    ++q.try_index;
  }
  // Not one socket could be opened: complete (from the loop) with the error.
  next_try(q, nullptr);
  return &q;
}

bool Resolver::lookup_cache(Query& q) {
  uint64_t now = loop::monotonic_ms();
  for (size_t i = 0; i < kCacheEntries; ++i) {
    CacheEntry& e = cache_[i];
    if (!e.used || !text::iequals(std::string_view(e.name, e.name_len), std::string_view(q.name, q.name_len))) continue;
    if (e.expires_ms <= now) {
      e.used = false;
      return false;
    }
    if (e.negative) {
      snprintf(q.error, sizeof q.error, "%s (cached)", e.error);
    } else {
      std::memcpy(q.addrs, e.addrs, e.num_addrs * sizeof(dns_wire::Address));
      q.num_addrs = e.num_addrs;
    }
    return true;
  }
  return false;
}

void Resolver::store_cache(const Query& q, bool negative, uint32_t ttl_s) {
  if (ttl_s < kMinTtlS) ttl_s = kMinTtlS;
  if (ttl_s > kMaxTtlS) ttl_s = kMaxTtlS;
  uint64_t now = loop::monotonic_ms();
  // The same name, else a free or expired entry, else the one expiring first.
  CacheEntry* slot = nullptr;
  for (size_t i = 0; i < kCacheEntries && slot == nullptr; ++i)
    if (cache_[i].used && text::iequals(std::string_view(cache_[i].name, cache_[i].name_len), std::string_view(q.name, q.name_len)))
      slot = &cache_[i];
  for (size_t i = 0; i < kCacheEntries && slot == nullptr; ++i)
    if (!cache_[i].used || cache_[i].expires_ms <= now) slot = &cache_[i];
  for (size_t i = 0; i < kCacheEntries; ++i)
    if (slot == nullptr || cache_[i].expires_ms < slot->expires_ms) slot = &cache_[i];
  CacheEntry& e = *slot;
  e.used = true;
  e.negative = negative;
  e.name_len = static_cast<uint8_t>(q.name_len);
  for (size_t i = 0; i < q.name_len; ++i) e.name[i] = text::lower(q.name[i]);
  e.name[q.name_len] = '\0';
  e.expires_ms = now + uint64_t{ttl_s} * 1000;
  e.num_addrs = negative ? 0 : q.num_addrs;
  if (!negative) std::memcpy(e.addrs, q.addrs, q.num_addrs * sizeof(dns_wire::Address));
  snprintf(e.error, sizeof e.error, "%s", negative ? q.error : "");
}

void Resolver::defer(Query& q) {
  q.phase = Phase::kDeliver;
  q.timer = loop_->add_timer(0, &Resolver::on_timer, &q);
  if (q.timer.valid() || in_start_) return;  // inside resolve(): start() gives up the slot and returns 0
  // The loop's timer table is full and we are already inside a loop callback:
  // completing now is safe (finish() frees the slot before calling back).
  finish(q);
}

bool Resolver::start_try(Query& q) {
  size_t si = static_cast<size_t>(q.try_index) % conf_.num_servers;
  const dns_wire::Address& server = conf_.servers[si];
  uint16_t port = conf_.ports[si];
  ++q.gen;
  int fd = socket(server.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    q.outcome[si] = "no socket";
    return false;
  }
  // connect() binds an ephemeral (randomised, RFC 6056) source port and makes
  // the kernel drop datagrams from any other address or port.
  sockaddr_storage ss;
  socklen_t sl = make_sockaddr(server, port, ss);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
    q.outcome[si] = "unreachable";
    close(fd);
    return false;
  }
  for (int s = 0; s < 2; ++s) {
    Sub& sub = q.sub[s];
    sub.state = SubState::kWaiting;
    sub.tcp_fd = -1;
    do {
      if (!random_id(sub.id)) {
        q.outcome[si] = "no random id";
        close(fd);
        return false;
      }
    } while (s == 1 && sub.id == q.sub[0].id);
    sub.query_len = dns_wire::build_query(sub.id, std::string_view(q.name, q.name_len), sub.type, sub.query, sizeof sub.query);
    ssize_t n;
    do {
      n = send(fd, sub.query, sub.query_len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sub.query_len)) {
      q.outcome[si] = errno == ECONNREFUSED ? "port unreachable" : "send failed";
      close(fd);
      return false;
    }
    ++queries_sent_;
  }
  if (!loop_->add_fd(fd, POLLIN, &Resolver::on_fd, &q)) {
    q.outcome[si] = "no poll slot";
    close(fd);
    return false;
  }
  q.udp_fd = fd;
  q.timer = loop_->add_timer(static_cast<uint64_t>(conf_.timeout_s) * 1000, &Resolver::on_timer, &q);
  if (!q.timer.valid()) {
    q.outcome[si] = "no timer";
    loop_->remove_fd(fd);
    close(fd);
    q.udp_fd = -1;
    return false;
  }
  return true;
}

void Resolver::close_sockets(Query& q) {
  if (q.udp_fd >= 0) {
    loop_->remove_fd(q.udp_fd);
    close(q.udp_fd);
    q.udp_fd = -1;
  }
  for (auto& s : q.sub) {
    if (s.tcp_fd >= 0) {
      loop_->remove_fd(s.tcp_fd);
      close(s.tcp_fd);
      s.tcp_fd = -1;
    }
  }
  loop_->cancel_timer(q.timer);
}

// The current try failed with `why` (null: it never started); move on to the
// next server (servers in turn, then the next attempt, like glibc and musl).
void Resolver::next_try(Query& q, const char* why) {
  int total = conf_.attempts * static_cast<int>(conf_.num_servers);
  if (why != nullptr && q.try_index < total) {
    size_t si = static_cast<size_t>(q.try_index) % conf_.num_servers;
    q.outcome[si] = why;
    // Keep the addresses one question did get (e.g. A answered, AAAA SERVFAIL):
    // if no server does better, they are the answer.
    if (q.num_addrs == 0) {
      for (auto& s : q.sub)
        if (s.state == SubState::kDone && s.result == dns_wire::ParseError::kNone)
          for (size_t i = 0; i < s.ans.num_addrs && q.num_addrs < dns_wire::kMaxAddresses; ++i)
            q.addrs[q.num_addrs++] = s.ans.addrs[i];
    }
  }
  close_sockets(q);
  ++q.try_index;
  while (q.try_index < total) {
    if (start_try(q)) return;
    ++q.try_index;
  }
  if (q.num_addrs == 0) fail_all(q, "no usable answer");
  // Completion is deferred: next_try may run inside resolve().
  defer(q);
}

void Resolver::fail_all(Query& q, const char* summary) {
  int len = snprintf(q.error, sizeof q.error, "cannot resolve \"%s\": %s; servers tried:", q.name, summary);
  bool any = false;
  for (size_t i = 0; i < conf_.num_servers; ++i) {
    if (q.outcome[i] == nullptr || len < 0 || static_cast<size_t>(len) >= sizeof q.error) continue;
    char server[64];
    format_server(conf_.servers[i], conf_.ports[i], server, sizeof server);
    len += snprintf(q.error + len, sizeof q.error - static_cast<size_t>(len), "%s %s (%s)", any ? "," : "", server,
                    q.outcome[i]);
    any = true;
  }
  if (!any && len >= 0 && static_cast<size_t>(len) < sizeof q.error)
    snprintf(q.error + len, sizeof q.error - static_cast<size_t>(len), " none");
}

void Resolver::on_timer(void* ctx) {
  Query& q = *static_cast<Query*>(ctx);
  q.timer = loop::TimerId{};
  Resolver& self = *q.owner;
  if (q.phase == Phase::kDeliver) {
    self.finish(q);
  } else if (q.phase == Phase::kAsking) {
    self.next_try(q, "timeout");
  }
}

void Resolver::on_fd(void* ctx, int fd, short revents) {
  Query& q = *static_cast<Query*>(ctx);
  Resolver& self = *q.owner;
  if (q.phase != Phase::kAsking) return;
  if (fd == q.udp_fd) {
    self.on_udp(q);
  } else {
    for (int s = 0; s < 2; ++s)
      if (fd == q.sub[s].tcp_fd) {
        self.on_tcp(q, s, revents);
        return;
      }
  }
}

void Resolver::on_udp(Query& q) {
  size_t si = static_cast<size_t>(q.try_index) % conf_.num_servers;
  const int fd = q.udp_fd;
  const uint32_t gen = q.gen;
  for (;;) {
    sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, udp_buf_, dns_wire::kMaxPacketBytes, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      // An ICMP port unreachable reported on the connected socket: nobody
      // listens there, do not wait for the timeout.
      if (errno == ECONNREFUSED) next_try(q, "port unreachable");
      return;
    }
    if (!same_peer(from, conf_.servers[si], conf_.ports[si]) || n < 2) continue;
    auto len = static_cast<size_t>(n);
    uint16_t id = static_cast<uint16_t>(udp_buf_[0] << 8 | udp_buf_[1]);
    int which = -1;
    for (int s = 0; s < 2; ++s)
      if (q.sub[s].state == SubState::kWaiting && q.sub[s].id == id) which = s;
    if (which < 0) continue;  // wrong id, or a duplicate: a spoof attempt or a late answer
    Sub& sub = q.sub[which];
    dns_wire::ParseError e = dns_wire::parse_response(udp_buf_, len, sub.id, std::string_view(q.name, q.name_len),
                                                      sub.type, sub.ans);
    accept_reply(q, which, e, false);
    if (q.phase != Phase::kAsking || q.gen != gen || q.udp_fd != fd) return;
  }
}

void Resolver::accept_reply(Query& q, int which, dns_wire::ParseError e, bool over_tcp) {
  using PE = dns_wire::ParseError;
  Sub& sub = q.sub[which];
  switch (e) {
    case PE::kNone:
    case PE::kNoAnswer:
    case PE::kNxDomain:
      sub.result = e;
      sub.state = SubState::kDone;
      if (sub.tcp_fd >= 0) {
        loop_->remove_fd(sub.tcp_fd);
        close(sub.tcp_fd);
        sub.tcp_fd = -1;
      }
      maybe_finish(q);
      return;
    case PE::kTruncatedFlag:
      if (over_tcp) {
        next_try(q, "truncated over TCP");
      } else {
        start_tcp(q, which);
      }
      return;
    case PE::kServerFailure: next_try(q, "SERVFAIL"); return;
    case PE::kRefused: next_try(q, "REFUSED"); return;
    case PE::kOtherRcode: next_try(q, "error rcode"); return;
    default:
      // Over UDP a reply that does not match our question or is malformed is
      // dropped (it may be forged; the real one can still come). Over TCP the
      // stream is ours: the server is broken.
      if (over_tcp) next_try(q, dns_wire::error_message(e));
      return;
  }
}

void Resolver::start_tcp(Query& q, int which) {
  size_t si = static_cast<size_t>(q.try_index) % conf_.num_servers;
  Sub& sub = q.sub[which];
  int fd = socket(conf_.servers[si].family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    next_try(q, "no TCP socket");
    return;
  }
  sockaddr_storage ss;
  socklen_t sl = make_sockaddr(conf_.servers[si], conf_.ports[si], ss);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0 && errno != EINPROGRESS) {
    close(fd);
    next_try(q, "TCP connect failed");
    return;
  }
  if (!loop_->add_fd(fd, POLLOUT, &Resolver::on_fd, &q)) {
    close(fd);
    next_try(q, "no poll slot");
    return;
  }
  // RFC 1035 §4.2.2: a two-byte length, then the message (the same question
  // and id; RFC 7766 §5).
  sub.tcp_fd = fd;
  sub.tcp_buf[0] = static_cast<uint8_t>(sub.query_len >> 8);
  sub.tcp_buf[1] = static_cast<uint8_t>(sub.query_len);
  std::memcpy(sub.tcp_buf + 2, sub.query, sub.query_len);
  sub.tcp_done = 0;
  sub.tcp_need = 2 + sub.query_len;
  sub.state = SubState::kTcpConnect;
  // The TCP exchange gets a full per-try timeout of its own.
  loop_->cancel_timer(q.timer);
  q.timer = loop_->add_timer(static_cast<uint64_t>(conf_.timeout_s) * 1000, &Resolver::on_timer, &q);
}

void Resolver::on_tcp(Query& q, int which, short revents) {
  Sub& sub = q.sub[which];
  const int fd = sub.tcp_fd;
  if (sub.state == SubState::kTcpConnect) {
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
    if (err != 0) {
      next_try(q, "TCP connect failed");
      return;
    }
    if ((revents & POLLOUT) == 0) {
      if (revents & (POLLERR | POLLHUP)) next_try(q, "TCP connect failed");
      return;
    }
    sub.state = SubState::kTcpWrite;
  }
  if (sub.state == SubState::kTcpWrite) {
    while (sub.tcp_done < sub.tcp_need) {
      ssize_t n = send(fd, sub.tcp_buf + sub.tcp_done, sub.tcp_need - sub.tcp_done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) {
        next_try(q, "TCP send failed");
        return;
      }
      sub.tcp_done += static_cast<size_t>(n);
    }
    ++queries_sent_;
    sub.state = SubState::kTcpRead;
    sub.tcp_done = 0;
    sub.tcp_need = 2;
    loop_->set_events(fd, POLLIN);
    return;
  }
  if (sub.state != SubState::kTcpRead) return;
  for (;;) {
    ssize_t n = recv(fd, sub.tcp_buf + sub.tcp_done, sub.tcp_need - sub.tcp_done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {
      next_try(q, n == 0 ? "TCP closed early" : "TCP receive failed");
      return;
    }
    sub.tcp_done += static_cast<size_t>(n);
    if (sub.tcp_done < sub.tcp_need) continue;
    if (sub.tcp_need == 2) {
      size_t len = static_cast<size_t>(sub.tcp_buf[0]) << 8 | sub.tcp_buf[1];
      if (len < 12) {  // not even a header
        next_try(q, "bad TCP length");
        return;
      }
      sub.tcp_need = 2 + len;  // <= kTcpSlotBytes by construction
      continue;
    }
    dns_wire::ParseError e = dns_wire::parse_response(sub.tcp_buf + 2, sub.tcp_need - 2, sub.id,
                                                      std::string_view(q.name, q.name_len), sub.type, sub.ans);
    accept_reply(q, which, e, true);
    return;
  }
}

void Resolver::maybe_finish(Query& q) {
  using PE = dns_wire::ParseError;
  for (const auto& s : q.sub)
    if (s.state != SubState::kDone) return;
  size_t si = static_cast<size_t>(q.try_index) % conf_.num_servers;
  // Fresh answers replace a partial one from an earlier try.
  q.num_addrs = 0;
  uint32_t ttl_s = kMaxTtlS;
  for (const auto& s : q.sub) {
    if (s.result != PE::kNone) continue;
    if (s.ans.ttl_s < ttl_s) ttl_s = s.ans.ttl_s;
    for (size_t i = 0; i < s.ans.num_addrs && q.num_addrs < dns_wire::kMaxAddresses; ++i)
      q.addrs[q.num_addrs++] = s.ans.addrs[i];
  }
  close_sockets(q);
  if (q.num_addrs > 0) {
    store_cache(q, false, ttl_s);
  } else {
    bool nx = q.sub[0].result == PE::kNxDomain && q.sub[1].result == PE::kNxDomain;
    // An NXDOMAIN is final (RFC 8020): the next server would say the same.
    q.outcome[si] = nx ? "NXDOMAIN" : "no A or AAAA records";
    fail_all(q, nx ? "no such name (NXDOMAIN)" : "the name has no A or AAAA records");
    store_cache(q, true, kNegativeTtlS);
  }
  defer(q);
}

void Resolver::release(Query& q) {
  close_sockets(q);
  q.phase = Phase::kFree;
  q.id = 0;
  ++q.gen;
}

void Resolver::finish(Query& q) {
  // Copy the result out and free the slot first, so the callback may call
  // resolve() or cancel() freely.
  dns_wire::Address addrs[dns_wire::kMaxAddresses];
  size_t n = q.error[0] == '\0' ? q.num_addrs : 0;
  std::memcpy(addrs, q.addrs, n * sizeof(dns_wire::Address));
  char error[kMaxErrorBytes];
  bool failed = q.error[0] != '\0' || n == 0;
  if (failed && q.error[0] != '\0') snprintf(error, sizeof error, "%s", q.error);
  if (failed && q.error[0] == '\0') snprintf(error, sizeof error, "cannot resolve \"%s\": no address", q.name);
  Callback cb = q.cb;
  void* ctx = q.ctx;
  int hook = q.hook;
  uint64_t token = q.token;
  release(q);
  if (hook >= 0) {
    if (failed) LOG_DEBUG("dns: %s", error);
    if (hooks_[hook].client != nullptr)
      hooks_[hook].client->resolved(token, failed ? nullptr : addrs, n, failed ? error : nullptr);
    return;
  }
  cb(ctx, failed ? nullptr : addrs, n, failed ? error : nullptr);
}

void Resolver::cancel(uint64_t id) {
  if (arena_ == nullptr || id == 0) return;
  for (size_t i = 0; i < kMaxQueries; ++i)
    if (queries_[i].phase != Phase::kFree && queries_[i].id == id) release(queries_[i]);
}

http_client::Resolver Resolver::client_hook(http_client::Client* client) {
  Hook* h = nullptr;
  for (auto& x : hooks_)
    if (x.client == client && x.owner == this) h = &x;
  for (auto& x : hooks_)
    if (h == nullptr && x.client == nullptr) h = &x;
  if (h != nullptr) {
    h->owner = this;
    h->client = client;
  }
  // No hook left: a null ctx makes every start() fail at once.
  return http_client::Resolver{h, &Resolver::hook_start, &Resolver::hook_cancel};
}

bool Resolver::hook_start(void* ctx, std::string_view host, uint64_t token) {
  auto* h = static_cast<Hook*>(ctx);
  if (h == nullptr || h->owner == nullptr) return false;
  Resolver& self = *h->owner;
  return self.start(host, nullptr, nullptr, static_cast<int>(h - self.hooks_), token) != 0;
}

void Resolver::hook_cancel(void* ctx, uint64_t token) {
  auto* h = static_cast<Hook*>(ctx);
  if (h == nullptr || h->owner == nullptr || h->owner->arena_ == nullptr) return;
  Resolver& self = *h->owner;
  int hook = static_cast<int>(h - self.hooks_);
  for (size_t i = 0; i < kMaxQueries; ++i) {
    Query& q = self.queries_[i];
    if (q.phase != Phase::kFree && q.hook == hook && q.token == token) self.release(q);
  }
}

}  // namespace appconfig::dns
