#include "appconfig/net/http_client.h"
#include "appconfig/core/error.h"
#include "appconfig/core/sysfile.h"
#include "appconfig/core/text.h"

#include "appconfig/net/tls.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <new>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

namespace appconfig::http_client {

namespace {

// Interim (1xx) responses skipped before the final one. Servers send at most
// one or two (100 Continue, 103 Early Hints); more is a misbehaving peer.
constexpr int kMaxInterimResponses = 8;
// Per-connection response buffer: a full head, a full body, and one page of
// slack so the chunked terminator after a maximum-size body still fits and an
// over-long close-delimited body is detected by one extra byte.
constexpr size_t kPageBytes = 4096;
constexpr size_t round_up_page(size_t n) { return (n + kPageBytes - 1) / kPageBytes * kPageBytes; }
// Decrypted bytes one connection may take per loop turn: ~6 ms of AES-GCM and parsing on this
// machine's cores, so a 4 MiB body costs ~32 turns, never one ~200 ms stall of every cached read.
constexpr size_t kMaxTlsBytesPerTurn = 128 * 1024;
constexpr size_t kConnBufBytes = round_up_page(kMaxResponseHeaderBytes + kMaxResponseBodyBytes + kPageBytes);
// /etc/hosts is read into a connection's (still empty) response buffer; a
// larger file is truncated here, which only loses names past this point.
constexpr size_t kMaxHostsFileBytes = 1024 * 1024;
constexpr const char* kHostsPath = "/etc/hosts";
// While tunnelling, the CONNECT request is built in the connection's response
// buffer past the largest response head, so the proxy's answer (read from
// offset 0) never overlaps it and no other memory is needed.
constexpr size_t kConnectOffset = kMaxResponseHeaderBytes;
static_assert(kConnectOffset + kMaxConnectRequestBytes <= kConnBufBytes);

bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// Appends to a bounded buffer; `ok` turns false once anything did not fit.
struct Writer {
  char* p;
  size_t cap;
  size_t len = 0;
  bool ok = true;
  void put(std::string_view s) {
    if (!ok || s.size() > cap - len) {
      ok = false;
      return;
    }
    if (s.empty()) return;  // an empty view may have a null data()
    std::memcpy(p + len, s.data(), s.size());
    len += s.size();
  }
  void put_u64(uint64_t v) {
    char tmp[24];
    int n = std::snprintf(tmp, sizeof tmp, "%llu", static_cast<unsigned long long>(v));
    put(std::string_view(tmp, static_cast<size_t>(n)));
  }
};

bool bracketless_v6(std::string_view host) { return host.find(':') != std::string_view::npos && host[0] != '['; }

// The proxy is the next hop of both a CONNECT and an absolute-form request:
// its credentials and extra headers go on either (RFC 9110 §11.7.2).
void put_proxy_headers(Writer& w, const proxy::Route& route) {
  if (!route.authorization().empty()) {
    w.put("Proxy-Authorization: ");
    w.put(route.authorization());
    w.put("\r\n");
  }
  for (size_t i = 0; i < route.num_headers; ++i) {
    const Header h = route.header(i);
    w.put(h.name);
    w.put(": ");
    w.put(h.value);
    w.put("\r\n");
  }
}

// host[:port] as Host and absolute-form URIs write it: IPv6 bracketed, the port left out when it
// is the scheme's default (RFC 9110 §7.2, §4.2).
void put_host(Writer& w, std::string_view host, uint16_t port, uint16_t default_port) {
  const bool br = bracketless_v6(host);
  if (br) w.put("[");
  w.put(host);
  if (br) w.put("]");
  if (port != default_port) {
    w.put(":");
    w.put_u64(port);
  }
}

// A checked request (Client::check_request) as bytes. via_proxy: plain HTTP through that proxy,
// so the target is in absolute-form and the proxy's headers go along.
void write_request(Writer& w, const Endpoint& ep, const Request& req, const proxy::Route* via_proxy) {
  w.put(req.method);
  w.put(" ");
  if (via_proxy != nullptr) {
    w.put("http://");
    put_host(w, ep.host, ep.port, 80);
  }
  w.put(req.target);
  w.put(" HTTP/1.1\r\n");
  bool have_host = false;
  for (size_t i = 0; i < req.num_headers; ++i) {
    const Header& h = req.headers[i];
    // A caller-supplied Host wins: SigV4 signs the exact value it sends.
    if (text::iequals(h.name, "Host")) have_host = true;
    w.put(h.name);
    w.put(": ");
    w.put(h.value);
    w.put("\r\n");
  }
  if (!have_host) {
    w.put("Host: ");
    put_host(w, ep.host, ep.port, ep.tls ? 443 : 80);
    w.put("\r\n");
  }
  if (via_proxy != nullptr) put_proxy_headers(w, *via_proxy);
  // RFC 9110 §8.6: a user agent sends Content-Length for a body, and should
  // send 0 for methods that define one when there is none.
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
    w.put("Content-Length: ");
    w.put_u64(req.body.size());
    w.put("\r\n");
  }
  w.put("\r\n");
  w.put(req.body);
}

}  // namespace

enum class Client::Phase : uint8_t {
  kFree, kResolving, kConnecting, kHandshake, kActive, kIdle, kDelivering,
  kTunnel,  // CONNECT sent to the proxy, waiting for its 2xx (RFC 9110 §9.3.6)
  kProxyHandshake,  // TLS with an https:// proxy, before CONNECT (or an absolute-form request)
};


struct Client::Conn {
  Client* owner = nullptr;
  uint32_t gen = 0;
  Phase phase = Phase::kFree;
  int fd = -1;
  int ep = -1;
  int slot = -1;
  bool reused = false;     // carried at least one complete response before this request
  bool got_byte = false;   // a response byte arrived for the current request
  bool head_done = false;
  size_t head_scan = 0;               // bytes of buf already searched for the end of the head
  bool status_line_checked = false;   // the parser has seen the first complete line
  bool close_after_delivery = false;  // close_idle() ran inside this connection's callback
  bool via_proxy = false;  // TCP goes to the proxy (fixed when the connection opens)
  size_t connect_len = 0;  // CONNECT request bytes at buf + kConnectOffset while tunnelling
  size_t connect_sent = 0;
  int interim = 0;
  dns_wire::Address addrs[dns_wire::kMaxAddresses];
  size_t num_addrs = 0;
  size_t next_addr = 0;
  int last_errno = 0;
  loop::TimerId connect_timer;  // per-address attempt while more addresses remain
  loop::TimerId resume_timer;   // TLS read budget used up this turn: read on at the next pass
  char* buf = nullptr;     // kConnBufBytes inside the arena
  size_t fill = 0;         // bytes in buf (for chunked: head + decoded body)
  size_t head_len = 0;
  size_t body_len = 0;     // decoded chunked bytes at buf[head_len..]
  size_t high_water = 0;   // most of buf touched since the last MADV_DONTNEED
  size_t sent = 0;
  bool want_write = false;  // TLS asked for POLLOUT (a blocked write, or a read that must flush first)
  http_parse::Response resp;
  http_parse::ChunkedDecoder chunk;
  tls::Session tls;         // started iff the endpoint is https; never moved (mbedTLS points at it)
  tls::Session ptls;        // TLS to an https:// proxy; c.tls then runs inside it (start_over)
};

namespace {
// The session bytes go through: the target's, else the proxy's, else none (plain TCP).
tls::Session* io_session(Client::Conn& c) {
  if (c.tls.started()) return &c.tls;
  if (c.ptls.started()) return &c.ptls;
  return nullptr;
}
}  // namespace

struct Client::Slot {
  Client* owner = nullptr;
  uint32_t gen = 0;
  bool in_use = false;
  bool queued = false;
  bool head = false;       // HEAD request: the response has no body
  bool retried = false;
  int ep = -1;
  int conn = -1;
  uint64_t seq = 0;        // FIFO order among queued requests
  Callback cb = nullptr;
  void* ctx = nullptr;
  char* req = nullptr;     // kMaxRequestBytes inside the arena
  size_t req_len = 0;
  loop::TimerId timer;
  uint64_t timeout_ms = 0;
  Error pending = Error::kNone;  // a failure waiting for the loop to deliver it
  char detail[sizeof(Result::detail)] = {};
};

struct Client::Ep {
  bool in_use = false;
  bool tls = false;
  bool via_proxy = false;  // new connections go through the proxy
  uint16_t port = 0;
  size_t host_len = 0;
  char host[kMaxHostBytes + 1] = {};
  size_t open = 0;         // connections in any phase but kFree
  int idle[kMaxConnections] = {};
  size_t num_idle = 0;     // idle[] is a stack: reuse is LIFO
  std::string_view name() const { return std::string_view(host, host_len); }
};

const char* error_message(Error e) {
  switch (e) {
    case Error::kNone: return "no error";
    case Error::kBadRequest: return "invalid request";
    case Error::kResolve: return "name resolution failed";
    case Error::kConnect: return "connect failed";
    case Error::kTls: return "TLS failed";
    case Error::kTimeout: return "deadline exceeded";
    case Error::kClosed: return "connection closed before a complete response";
    case Error::kProtocol: return "malformed response";
    case Error::kTooLarge: return "response too large";
    case Error::kNoSlot: return "no free request slot";
    case Error::kProxy: return "proxy refused or broke the tunnel";
  }
  return "unknown error";
}

namespace {
// Marks "inside a public method": failures found there are delivered later
// from the loop, so a callback never runs inside send()/cancel().
struct ApiScope {
  int& depth;
  explicit ApiScope(int& d) : depth(d) { ++depth; }
  ~ApiScope() { --depth; }
};
}  // namespace

bool Client::init(loop::Loop* lp, size_t max_connections_per_endpoint) {
  if (arena_ != nullptr || lp == nullptr) return false;
  loop_ = lp;
  cap_per_endpoint_ = max_connections_per_endpoint < 1 ? 1
                      : max_connections_per_endpoint > kMaxConnections ? kMaxConnections
                                                                       : max_connections_per_endpoint;
  const size_t tables = round_up_page(kMaxConnections * sizeof(Conn) + kMaxRequests * sizeof(Slot) +
                                      kMaxEndpoints * sizeof(Ep) + sizeof(proxy::Route) + 64);
  arena_bytes_ = tables + kMaxRequests * kMaxRequestBytes + kMaxConnections * kConnBufBytes;
  // One reservation; MAP_NORESERVE + untouched pages cost no RSS, so the
  // buffers "grow" page by page as responses arrive and never touch the heap.
  void* p = mmap(nullptr, arena_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    arena_bytes_ = 0;
    return false;
  }
  arena_ = static_cast<char*>(p);
  char* cur = arena_;
  conns_ = reinterpret_cast<Conn*>(cur);
  cur += kMaxConnections * sizeof(Conn);
  cur = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(cur) + 15) & ~uintptr_t{15});
  slots_ = reinterpret_cast<Slot*>(cur);
  cur += kMaxRequests * sizeof(Slot);
  cur = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(cur) + 15) & ~uintptr_t{15});
  eps_ = reinterpret_cast<Ep*>(cur);
  cur += kMaxEndpoints * sizeof(Ep);
  cur = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(cur) + 15) & ~uintptr_t{15});
  proxy_ = new (cur) proxy::Route{};
  char* bufs = arena_ + tables;
  for (size_t i = 0; i < kMaxRequests; ++i) {
    Slot* s = new (&slots_[i]) Slot{};
    s->owner = this;
    s->req = bufs + i * kMaxRequestBytes;
  }
  bufs += kMaxRequests * kMaxRequestBytes;
  for (size_t i = 0; i < kMaxConnections; ++i) {
    Conn* c = new (&conns_[i]) Conn{};
    c->owner = this;
    c->buf = bufs + i * kConnBufBytes;
  }
  for (size_t i = 0; i < kMaxEndpoints; ++i) new (&eps_[i]) Ep{};
  return true;
}

Client::~Client() {
  if (arena_ == nullptr) return;
  for (size_t i = 0; i < kMaxConnections; ++i) {
    Conn& c = conns_[i];
    if (c.phase == Phase::kResolving && has_resolver_) resolver_.cancel(resolver_.ctx, (uint64_t{i} << 32) | c.gen);
    c.tls.reset();
    c.ptls.reset();
    if (c.fd >= 0) {
      loop_->remove_fd(c.fd);
      close(c.fd);
    }
  }
  for (size_t i = 0; i < kMaxRequests; ++i)
    if (slots_[i].in_use) loop_->cancel_timer(slots_[i].timer);
  explicit_bzero(proxy_, sizeof(proxy::Route));  // Proxy-Authorization carries a password
  munmap(arena_, arena_bytes_);
  arena_ = nullptr;
}

size_t Client::open_connections() const {
  size_t n = 0;
  for (size_t i = 0; arena_ != nullptr && i < kMaxConnections; ++i) n += conns_[i].phase != Phase::kFree;
  return n;
}

size_t Client::idle_connections() const {
  size_t n = 0;
  for (size_t i = 0; arena_ != nullptr && i < kMaxConnections; ++i) n += conns_[i].phase == Phase::kIdle;
  return n;
}

int Client::host_port(int ep, char* out, size_t cap) const {
  const Ep& e = eps_[ep];
  bool br = bracketless_v6(e.name());
  return std::snprintf(out, cap, "%s%.*s%s:%u", br ? "[" : "", static_cast<int>(e.host_len), e.host, br ? "]" : "",
                       static_cast<unsigned>(e.port));
}

proxy::Error Client::set_proxy(const proxy::Config& cfg) {
  if (arena_ == nullptr) return proxy::Error::kNotInitialised;
  const proxy::Error e = proxy_->configure(cfg);
  if (e != proxy::Error::kNone) return e;
  for (size_t i = 0; i < kMaxEndpoints; ++i)
    if (eps_[i].in_use) eps_[i].via_proxy = uses_proxy(eps_[i].name());
  return proxy::Error::kNone;
}

bool Client::uses_proxy(std::string_view host) const { return arena_ != nullptr && proxy_->applies_to(host); }

int Client::find_or_add_endpoint(const Endpoint& ep) {
  int free_ix = -1;
  for (size_t i = 0; i < kMaxEndpoints; ++i) {
    Ep& e = eps_[i];
    if (!e.in_use) {
      if (free_ix < 0) free_ix = static_cast<int>(i);
      continue;
    }
    // Host names compare case-insensitively (RFC 9110 §4.2.3).
    if (e.port == ep.port && e.tls == ep.tls && text::iequals(e.name(), ep.host)) return static_cast<int>(i);
  }
  if (free_ix < 0) {
    // Recycle an endpoint with no connection and no request.
    for (size_t i = 0; i < kMaxEndpoints && free_ix < 0; ++i) {
      if (eps_[i].open != 0) continue;
      bool busy = false;
      for (size_t s = 0; s < kMaxRequests; ++s) busy |= slots_[s].in_use && slots_[s].ep == static_cast<int>(i);
      if (!busy) free_ix = static_cast<int>(i);
    }
    if (free_ix < 0) return -1;
  }
  Ep& e = eps_[free_ix];
  e = Ep{};
  e.in_use = true;
  e.tls = ep.tls;
  e.port = ep.port;
  e.host_len = ep.host.size();
  std::memcpy(e.host, ep.host.data(), ep.host.size());
  e.via_proxy = uses_proxy(e.name());
  return free_ix;
}

// A free request slot bound to the endpoint, its deadline armed; -1 when a table is full.
int Client::claim_slot(const Endpoint& ep, const Request& req, Callback cb, void* ctx) {
  int si = -1;
  for (size_t i = 0; i < kMaxRequests; ++i) {
    if (!slots_[i].in_use) {
      si = static_cast<int>(i);
      break;
    }
  }
  if (si < 0) return -1;
  const int ei = find_or_add_endpoint(ep);
  if (ei < 0) return -1;
  Slot& s = slots_[si];
  if (++generation_ == 0) generation_ = 1;
  s.gen = generation_;
  s.in_use = true;
  s.queued = false;
  s.retried = false;
  s.ep = ei;
  s.conn = -1;
  s.cb = cb;
  s.ctx = ctx;
  s.pending = Error::kNone;
  s.detail[0] = '\0';
  s.timeout_ms = req.timeout_ms;
  s.head = req.method == "HEAD";
  s.timer = loop::TimerId{};
  if (req.timeout_ms > 0) {
    s.timer = loop_->add_timer(req.timeout_ms, &Client::on_timer, &s);
    if (!s.timer.valid()) {
      s.in_use = false;
      return -1;
    }
  }
  return si;
}

// The request's own parts, in the order they would be written; false (after fail()) on the
// first one we refuse to send.
bool Client::check_request(int si, const Request& req) {
  if (!http_parse::is_token(req.method)) return fail(si, Error::kBadRequest, "method is not a token");
  if (!is_target(req.target))
    return fail(si, Error::kBadRequest, "request target is empty or contains spaces or control bytes");
  if (req.num_headers > kMaxRequestHeaders || (req.num_headers > 0 && req.headers == nullptr))
    return fail(si, Error::kBadRequest, "more than %zu request headers", kMaxRequestHeaders);
  for (size_t i = 0; i < req.num_headers; ++i) {
    const Header& h = req.headers[i];
    if (!http_parse::is_token(h.name) || !http_parse::is_visible_field_value(h.value))
      return fail(si, Error::kBadRequest,
                  "request header %zu has an invalid name or a byte outside visible ASCII in its value", i);
    // We own message framing; a caller's framing header would contradict ours.
    if (text::iequals(h.name, "Content-Length") || text::iequals(h.name, "Transfer-Encoding"))
      return fail(si, Error::kBadRequest, "request header %.*s is set by the client", static_cast<int>(h.name.size()),
                  h.name.data());
  }
  return true;
}

RequestId Client::send(const Endpoint& ep, const Request& req, Callback cb, void* ctx) {
  if (arena_ == nullptr || cb == nullptr) return RequestId{};
  ApiScope scope(api_depth_);
  const bool host_ok = proxy::is_host_text(ep.host);
  // Keep a printable endpoint for the detail; a bad host is rejected just below.
  const Endpoint shown{.host = "(invalid host)", .port = ep.port, .tls = ep.tls};
  const int si = claim_slot(host_ok ? ep : shown, req, cb, ctx);
  if (si < 0) return RequestId{};
  Slot& s = slots_[si];
  RequestId id{static_cast<uint32_t>(si), s.gen};
  if (!host_ok) {
    fail(si, Error::kBadRequest, "host is empty, too long or contains invalid characters");
    return id;
  }
  // Serialise now (RFC 9112 §3, §5): the caller's strings may die after we return.
  if (!check_request(si, req)) return id;
  // Plain HTTP through a proxy: absolute-form (RFC 9112 §3.2.2), so the proxy
  // knows where to forward; HTTPS goes through a CONNECT tunnel instead.
  const bool absolute = eps_[s.ep].via_proxy && !ep.tls && req.target[0] == '/';
  Writer w{s.req, kMaxRequestBytes};
  write_request(w, ep, req, absolute ? proxy_ : nullptr);
  if (!w.ok) {
    fail(si, Error::kBadRequest, "request larger than %zu bytes", kMaxRequestBytes);
    return id;
  }
  s.req_len = w.len;
  s.queued = true;
  s.seq = next_seq_++;
  pump(s.ep);
  return id;
}

void Client::cancel(RequestId id) {
  if (arena_ == nullptr || id.slot >= kMaxRequests) return;
  Slot& s = slots_[id.slot];
  if (!s.in_use || s.gen != id.generation) return;
  ApiScope scope(api_depth_);
  int ep = s.ep;
  if (s.conn >= 0) close_conn(conns_[s.conn]);
  release_slot(static_cast<int>(id.slot));
  pump(ep);
}

void Client::close_idle() {
  if (arena_ == nullptr) return;
  for (size_t i = 0; i < kMaxConnections; ++i) {
    if (conns_[i].phase == Phase::kIdle) close_conn(conns_[i]);
    // Called from a callback (e.g. on SHUTDOWN): the connection delivering
    // that response would turn idle right after; close it then instead.
    if (conns_[i].phase == Phase::kDelivering) conns_[i].close_after_delivery = true;
  }
}

void Client::pump_all() {
  for (size_t i = 0; i < kMaxEndpoints; ++i)
    if (eps_[i].in_use) pump(static_cast<int>(i));
}

void Client::pump(int ei) {
  for (;;) {
    // Oldest queued request for this endpoint (FIFO).
    int best = -1;
    for (size_t i = 0; i < kMaxRequests; ++i) {
      const Slot& s = slots_[i];
      if (s.in_use && s.queued && s.ep == ei && (best < 0 || s.seq < slots_[best].seq)) best = static_cast<int>(i);
    }
    if (best < 0) return;
    // A connection of this endpoint is inside its callback: it becomes idle
    // (or closes) right after, and complete() pumps again. Waiting for it keeps
    // request-from-callback chains on one connection instead of opening more.
    for (size_t i = 0; i < kMaxConnections; ++i)
      if (conns_[i].phase == Phase::kDelivering && conns_[i].ep == ei) return;
    Ep& e = eps_[ei];
    if (e.num_idle > 0) {
      Conn& c = conns_[e.idle[--e.num_idle]];  // LIFO: the most recently used is the most likely alive
      attach(c, best);
      continue;
    }
    if (e.open >= cap_per_endpoint_ || !start_conn(best)) return;
  }
}

bool Client::start_conn(int si) {
  Conn* c = nullptr;
  for (size_t i = 0; i < kMaxConnections && c == nullptr; ++i)
    if (conns_[i].phase == Phase::kFree) c = &conns_[i];
  if (c == nullptr) {
    // Table full: an idle connection of another endpoint makes room.
    for (size_t i = 0; i < kMaxConnections && c == nullptr; ++i) {
      if (conns_[i].phase == Phase::kIdle) {
        close_conn(conns_[i]);
        c = &conns_[i];
      }
    }
    if (c == nullptr) return false;
  }
  Slot& s = slots_[si];
  Ep& e = eps_[s.ep];
  if (++generation_ == 0) generation_ = 1;
  c->gen = generation_;
  c->phase = Phase::kConnecting;  // kResolving only once a Resolver accepted the name
  c->fd = -1;
  c->ep = s.ep;
  c->reused = false;
  c->close_after_delivery = false;
  c->via_proxy = e.via_proxy;
  c->connect_len = 0;
  c->connect_sent = 0;
  c->num_addrs = 0;
  c->next_addr = 0;
  c->last_errno = 0;
  ++e.open;
  s.queued = false;
  s.conn = static_cast<int>(c - conns_);
  c->slot = si;
  begin_connect(*c);
  return true;
}

void Client::begin_connect(Conn& c) {
  const Ep& e = eps_[c.ep];
  // Through a proxy only the proxy's name is resolved here; the proxy
  // resolves the target (it may be a name only the proxy's network knows).
  const std::string_view name = c.via_proxy ? proxy_->name() : e.name();
  const char* via = c.via_proxy ? "proxy " : "";
  dns_wire::Address a;
  if (dns_wire::parse_ip_literal(name, a)) {
    c.addrs[0] = a;
    c.num_addrs = 1;
    connect_next(c);
    return;
  }
  if (has_resolver_) {
    uint64_t token = (uint64_t{static_cast<uint32_t>(&c - conns_)} << 32) | c.gen;
    if (!resolver_.start(resolver_.ctx, name, token)) {
      fail(c.slot, Error::kResolve, "resolver refused the %sname %.*s", via, static_cast<int>(name.size()), name.data());
      return;
    }
    c.phase = Phase::kResolving;
    return;
  }
  // /etc/hosts, read into this connection's still-unused response buffer.
  const size_t len = sysfile::read_prefix(kHostsPath, c.buf, kMaxHostsFileBytes);
  if (len > c.high_water) c.high_water = len;
  c.num_addrs = dns_wire::lookup_hosts(std::string_view(c.buf, len), name, c.addrs, dns_wire::kMaxAddresses);
  if (c.num_addrs == 0) {
    fail(c.slot, Error::kResolve, "%sname %.*s not found in %s (no DNS resolver configured)", via,
         static_cast<int>(name.size()), name.data(), kHostsPath);
    return;
  }
  connect_next(c);
}

void Client::resolved(uint64_t token, const dns_wire::Address* addrs, size_t n, const char* error) {
  uint32_t ci = static_cast<uint32_t>(token >> 32);
  if (arena_ == nullptr || ci >= kMaxConnections) return;
  Conn& c = conns_[ci];
  if (c.phase != Phase::kResolving || c.gen != static_cast<uint32_t>(token)) return;
  if (n == 0 || addrs == nullptr) {
    if (error != nullptr && error[0] != '\0')
      fail(c.slot, Error::kResolve, "%s%s", c.via_proxy ? "proxy: " : "", error);
    else
      fail(c.slot, Error::kResolve, "%sname did not resolve", c.via_proxy ? "proxy " : "");
    return;
  }
  c.num_addrs = n < dns_wire::kMaxAddresses ? n : dns_wire::kMaxAddresses;
  std::memcpy(c.addrs, addrs, c.num_addrs * sizeof(dns_wire::Address));
  connect_next(c);
}

// Tries the remaining addresses in order (both families, as resolved) until a
// non-blocking connect is in progress; the deadline covers all attempts.
void Client::connect_next(Conn& c) {
  const uint16_t port = c.via_proxy ? proxy_->port : eps_[c.ep].port;
  while (c.next_addr < c.num_addrs) {
    const dns_wire::Address& a = c.addrs[c.next_addr];
    sockaddr_storage ss{};
    socklen_t sl = 0;
    if (a.family == AF_INET) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      std::memcpy(&sin->sin_addr, a.bytes, 4);
      sl = sizeof(sockaddr_in);
    } else {
      auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      std::memcpy(&sin6->sin6_addr, a.bytes, 16);
      sl = sizeof(sockaddr_in6);
    }
    int fd = socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      c.last_errno = errno;
      ++c.next_addr;
      continue;
    }
    // Requests go out in one write; Nagle would only delay a second segment.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), sl);
    if (rc != 0 && errno != EINPROGRESS) {
      c.last_errno = errno;
      close(fd);
      ++c.next_addr;
      continue;
    }
    if (!loop_->add_fd(fd, POLLOUT, &Client::on_fd, &c)) {
      close(fd);
      c.last_errno = EMFILE;
      ++c.next_addr;
      continue;
    }
    c.fd = fd;
    c.phase = Phase::kConnecting;
    // An address that never answers (a blackholed IPv6 route, say) must not
    // use the whole deadline while others remain: give it a bounded try.
    if (c.next_addr + 1 < c.num_addrs)
      c.connect_timer = loop_->add_timer(kConnectAttemptMs, &Client::on_connect_timer, &c);
    return;
  }
  if (c.via_proxy) {
    bool br = bracketless_v6(proxy_->name());
    fail(c.slot, Error::kConnect, "connect to proxy %s%s%s:%u failed: %s (%zu address%s tried)", br ? "[" : "",
         proxy_->host, br ? "]" : "", static_cast<unsigned>(port), std::strerror(c.last_errno), c.num_addrs,
         c.num_addrs == 1 ? "" : "es");
    return;
  }
  fail(c.slot, Error::kConnect, "connect failed: %s (%zu address%s tried)", std::strerror(c.last_errno), c.num_addrs,
       c.num_addrs == 1 ? "" : "es");
}

void Client::attach(Conn& c, int si) {
  Slot& s = slots_[si];
  s.queued = false;
  s.conn = static_cast<int>(&c - conns_);
  c.slot = si;
  c.phase = Phase::kActive;
  c.sent = 0;
  c.fill = 0;
  c.got_byte = false;
  c.head_done = false;
  c.head_scan = 0;
  c.status_line_checked = false;
  c.interim = 0;
  c.head_len = 0;
  c.body_len = 0;
  c.want_write = true;
  // Written from the loop: no I/O (and so no failure) inside send().
  loop_->set_events(c.fd, POLLOUT | POLLIN);
}

void Client::on_fd(void* ctx, int, short revents) {
  Conn& c = *static_cast<Conn*>(ctx);
  c.owner->io(c, revents);
}

void Client::io(Conn& c, short revents) {
  switch (c.phase) {
    case Phase::kConnecting: {
      loop_->cancel_timer(c.connect_timer);
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err == 0 && (revents & POLLOUT) == 0) err = ECONNREFUSED;  // POLLERR/POLLHUP without an error code
      if (err != 0) {
        c.last_errno = err;
        loop_->remove_fd(c.fd);
        close(c.fd);
        c.fd = -1;
        ++c.next_addr;
        connect_next(c);
        return;
      }
      connected(c);
      return;
    }
    case Phase::kHandshake:
      handshake_step(c);
      return;
    case Phase::kTunnel:
      tunnel_io(c, revents);
      return;
    case Phase::kProxyHandshake:
      proxy_handshake_step(c);
      return;
    case Phase::kIdle: {
      // An idle connection has nothing to say: EOF, a reset or stray bytes
      // leave it unusable. Over TLS the readable bytes may be a record without
      // application data (a late TLS 1.3 NewSessionTicket): read() consumes it
      // and answers kWantRead, and the connection stays pooled.
      if (tls::Session* ts = io_session(c)) {
        tls::Error err;
        size_t n = 0;
        if (ts->read(c.buf, kPageBytes, &n, err) == tls::Io::kWantRead) return;
      }
      close_conn(c);
      return;
    }
    case Phase::kActive: {
      uint32_t gen = c.gen;
      int si = c.slot;
      // Non-blocking calls that are not ready just report "would block", so
      // every event tries both directions: a server may answer (or fail)
      // before it has read the whole request.
      if (c.sent < slots_[si].req_len) do_write(c);
      if (c.gen != gen || c.phase != Phase::kActive || c.slot != si) return;
      if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0 || io_session(c) != nullptr) do_read(c);
      return;
    }
    default:
      return;
  }
}

// TCP is up: plain HTTP starts writing; HTTPS first runs the TLS handshake.
void Client::connected(Conn& c) {
  const Ep& e = eps_[c.ep];
  if (c.via_proxy && proxy_->tls && !c.ptls.handshake_done()) {
    start_proxy_tls(c);
    return;
  }
  if (!e.tls) {
    attach(c, c.slot);
    do_write(c);
    return;
  }
  if (c.via_proxy) {
    start_tunnel(c);
    return;
  }
  start_tls(c);
}

void Client::start_tls(Conn& c) {
  const Ep& e = eps_[c.ep];
  tls::Error err;
  if (!tls::global_init(err)) {  // idempotent; cheap after the first call
    fail(c.slot, Error::kTls, "%s", err.message);
    return;
  }
  // SNI and certificate name: the host as given, without IPv6 brackets.
  char sni[kMaxHostBytes + 1];
  std::string_view name = e.name();
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  std::memcpy(sni, name.data(), name.size());
  sni[name.size()] = '\0';
  // Through an https:// proxy the target's records travel inside the proxy session.
  if (!(c.ptls.started() ? c.tls.start_over(&c.ptls, sni, err) : c.tls.start(c.fd, sni, err))) {
    fail(c.slot, Error::kTls, "%s", err.message);
    return;
  }
  c.phase = Phase::kHandshake;
  handshake_step(c);
}

// HTTPS through the proxy: ask it for a tunnel (RFC 9110 §9.3.6), with the
// target in authority-form (RFC 9112 §3.2.3: host:port, port always given).
void Client::start_tunnel(Conn& c) {
  char authority[kMaxHostBytes + 8];
  host_port(c.ep, authority, sizeof authority);
  Writer w{c.buf + kConnectOffset, kMaxConnectRequestBytes};
  w.put("CONNECT ");
  w.put(authority);
  w.put(" HTTP/1.1\r\nHost: ");
  w.put(authority);
  w.put("\r\n");
  put_proxy_headers(w, *proxy_);
  w.put("\r\n");
  c.connect_len = w.len;  // set even if !ok, so the partial bytes are wiped
  if (!w.ok) {            // unreachable: kMaxConnectRequestBytes covers every part
    fail(c.slot, Error::kBadRequest, "CONNECT request over %zu bytes", kMaxConnectRequestBytes);
    return;
  }
  if (kConnectOffset + w.len > c.high_water) c.high_water = kConnectOffset + w.len;
  c.connect_sent = 0;
  c.fill = 0;
  c.interim = 0;
  c.phase = Phase::kTunnel;
  loop_->set_events(c.fd, POLLOUT | POLLIN);
  tunnel_io(c, POLLOUT);
}

// TLS to an https:// proxy (SNI and certificate name: the proxy's host).
void Client::start_proxy_tls(Conn& c) {
  tls::Error err;
  if (!tls::global_init(err) || !c.ptls.start(c.fd, proxy_->host, err)) {
    fail(c.slot, Error::kTls, "proxy %s: %s", proxy_->host, err.message);
    return;
  }
  c.phase = Phase::kProxyHandshake;
  proxy_handshake_step(c);
}

void Client::proxy_handshake_step(Conn& c) {
  tls::Error err;
  switch (c.ptls.handshake(err)) {
    case tls::Io::kOk:
      connected(c);  // CONNECT for an HTTPS target, else the absolute-form request
      return;
    case tls::Io::kWantRead:
      loop_->set_events(c.fd, POLLIN);
      return;
    case tls::Io::kWantWrite:
      loop_->set_events(c.fd, POLLOUT);
      return;
    case tls::Io::kClosed:
    case tls::Io::kError:
      fail(c.slot, Error::kTls, "TLS to the proxy: %s", err.message);
      return;
  }
}

// The CONNECT exchange over TLS to an https:// proxy: write until blocked, then read every
// decrypted byte (mbedTLS may hold some that poll() cannot see). Returns false when it failed.
bool Client::tunnel_tls_io(Conn& c, const char* proxy, bool* readable, char* closed_why, size_t why_cap) {
  tls::Error err;
  while (c.connect_sent < c.connect_len) {
    size_t n = 0;
    tls::Io r = c.ptls.write(c.buf + kConnectOffset + c.connect_sent, c.connect_len - c.connect_sent, &n, err);
    c.connect_sent += n;
    if (r == tls::Io::kOk) continue;
    if (r == tls::Io::kWantWrite || r == tls::Io::kWantRead) {
      loop_->set_events(c.fd, r == tls::Io::kWantWrite ? POLLOUT : POLLIN);
      *readable = false;
      return true;
    }
    fail(c.slot, Error::kProxy, "proxy %s: sending CONNECT failed: %s", proxy, err.message);
    return false;
  }
  loop_->set_events(c.fd, POLLIN);
  *readable = false;
  for (;;) {
    size_t cap = kMaxResponseHeaderBytes - c.fill;
    if (cap == 0) return true;  // the parser reports the oversized answer
    size_t n = 0;
    tls::Io r = c.ptls.read(c.buf + c.fill, cap, &n, err);
    if (r == tls::Io::kOk) {
      c.fill += n;
      if (c.fill > c.high_water) c.high_water = c.fill;
      *readable = true;
      continue;
    }
    if (r == tls::Io::kWantRead || r == tls::Io::kWantWrite) {
      if (r == tls::Io::kWantWrite) loop_->set_events(c.fd, POLLOUT | POLLIN);
      return true;
    }
    // Closed: a refusal often ends this way (answer, then no close_notify). What arrived is
    // parsed first; the caller reports the close if it was not a complete answer.
    std::snprintf(closed_why, why_cap, "%s", err.message[0] != '\0' ? err.message : "closed");
    return true;
  }
}

void Client::tunnel_io(Conn& c, short revents) {
  char proxy[kMaxHostBytes + 8];
  bool br = bracketless_v6(proxy_->name());
  std::snprintf(proxy, sizeof proxy, "%s%s%s:%u", br ? "[" : "", proxy_->host, br ? "]" : "",
                static_cast<unsigned>(proxy_->port));
  if (c.ptls.started()) {
    bool got = false;
    char closed_why[sizeof(tls::Error::message)] = "";
    if (!tunnel_tls_io(c, proxy, &got, closed_why, sizeof closed_why)) return;
    const uint32_t gen = c.gen;
    if (got) tunnel_answer(c, proxy);
    if (closed_why[0] != '\0' && c.gen == gen && c.phase == Phase::kTunnel)
      fail(c.slot, Error::kProxy, "proxy %s closed the connection during CONNECT (%s, %zu answer bytes)", proxy,
           closed_why, c.fill);
    return;
  }
  while (c.connect_sent < c.connect_len) {
    ssize_t n = ::send(c.fd, c.buf + kConnectOffset + c.connect_sent, c.connect_len - c.connect_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      fail(c.slot, Error::kProxy, "proxy %s: sending CONNECT failed: %s", proxy, std::strerror(errno));
      return;
    }
    c.connect_sent += static_cast<size_t>(n);
  }
  loop_->set_events(c.fd, static_cast<short>(POLLIN | (c.connect_sent < c.connect_len ? POLLOUT : 0)));
  if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
  // One recv per readiness, like plain reads. The answer's head is all we
  // need; it lands at the start of the buffer, below the CONNECT bytes.
  size_t cap = kMaxResponseHeaderBytes - c.fill;
  ssize_t n;
  do n = recv(c.fd, c.buf + c.fill, cap, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    fail(c.slot, Error::kProxy, "proxy %s closed the connection during CONNECT (%s, %zu answer bytes)", proxy,
         n == 0 ? "EOF" : std::strerror(errno), c.fill);
    return;
  }
  c.fill += static_cast<size_t>(n);
  if (c.fill > c.high_water) c.high_water = c.fill;
  tunnel_answer(c, proxy);
}

void Client::tunnel_answer(Conn& c, const char* proxy) {
  for (;;) {
    // request_was_head = true: a 2xx CONNECT answer has no content (RFC 9110
    // §9.3.6: Content-Length / Transfer-Encoding in it are ignored), and for a
    // refusal only the status matters -- the connection is closed.
    http_parse::Result r = http_parse::parse_response(std::string_view(c.buf, c.fill), c.resp, true,
                                                      kMaxResponseHeaderBytes);
    if (r.status == http_parse::Status::kIncomplete) {
      if (c.fill == kMaxResponseHeaderBytes)
        fail(c.slot, Error::kProxy, "proxy %s: answer to CONNECT over %zu bytes", proxy, kMaxResponseHeaderBytes);
      return;
    }
    if (r.status == http_parse::Status::kError) {
      fail(c.slot, Error::kProxy, "proxy %s: malformed answer to CONNECT: %s at byte %zu", proxy,
           http_parse::error_message(r.error), r.error_offset);
      return;
    }
    if (c.resp.status < 200) {
      if (c.resp.status == 101 || ++c.interim > kMaxInterimResponses) {
        fail(c.slot, Error::kProxy, "proxy %s: unexpected interim answer %d to CONNECT", proxy, c.resp.status);
        return;
      }
      std::memmove(c.buf, c.buf + r.consumed, c.fill - r.consumed);
      c.fill -= r.consumed;
      continue;
    }
    if (c.resp.status >= 300) {
      fail(c.slot, Error::kProxy, "proxy %s refused CONNECT: %d %.*s", proxy, c.resp.status,
           static_cast<int>(c.resp.reason.size() > 60 ? 60 : c.resp.reason.size()), c.resp.reason.data());
      return;
    }
    // The target speaks TLS first from our side (ClientHello); bytes before
    // it mean the proxy is not a transparent tunnel.
    if (r.consumed != c.fill) {
      fail(c.slot, Error::kProxy, "proxy %s sent %zu unexpected bytes after its %d answer to CONNECT", proxy,
           c.fill - r.consumed, c.resp.status);
      return;
    }
    wipe_connect(c);
    c.fill = 0;
    start_tls(c);
    return;
  }
}

void Client::wipe_connect(Conn& c) {
  // The CONNECT request may carry Proxy-Authorization: do not leave it in memory.
  if (c.connect_len > 0) explicit_bzero(c.buf + kConnectOffset, c.connect_len);
  c.connect_len = 0;
  c.connect_sent = 0;
}

void Client::handshake_step(Conn& c) {
  tls::Error err;
  switch (c.tls.handshake(err)) {
    case tls::Io::kOk:
      attach(c, c.slot);
      do_write(c);
      return;
    case tls::Io::kWantRead:
      loop_->set_events(c.fd, POLLIN);
      return;
    case tls::Io::kWantWrite:
      loop_->set_events(c.fd, POLLOUT);
      return;
    case tls::Io::kClosed:
    case tls::Io::kError:
      fail(c.slot, Error::kTls, "%s", err.message);
      return;
  }
}

void Client::update_interest(Conn& c) {
  bool out = io_session(c) != nullptr ? c.want_write : c.sent < slots_[c.slot].req_len;
  loop_->set_events(c.fd, static_cast<short>(POLLIN | (out ? POLLOUT : 0)));
}

void Client::do_write(Conn& c) {
  const Slot& s = slots_[c.slot];
  while (c.sent < s.req_len) {
    if (tls::Session* ts = io_session(c)) {
      tls::Error err;
      size_t n = 0;
      tls::Io r = ts->write(s.req + c.sent, s.req_len - c.sent, &n, err);
      c.sent += n;
      if (r == tls::Io::kOk) continue;
      if (r == tls::Io::kWantWrite || r == tls::Io::kWantRead) {
        c.want_write = r == tls::Io::kWantWrite;
        update_interest(c);
        return;
      }
      before_response_failure(c, r == tls::Io::kClosed ? Error::kClosed : Error::kTls, err.message);
      return;
    }
    ssize_t n = ::send(c.fd, s.req + c.sent, s.req_len - c.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      before_response_failure(c, Error::kClosed, std::strerror(errno));
      return;
    }
    c.sent += static_cast<size_t>(n);
  }
  c.want_write = false;
  update_interest(c);
}

void Client::do_read(Conn& c) {
  const uint32_t gen = c.gen;
  const int si = c.slot;
  // Plain sockets: one recv per readiness (poll is level-triggered, so the
  // loop calls again, and other fds and timers get their turn during a large
  // body). TLS: read until kWantRead, because mbedTLS may hold decrypted bytes
  // that poll() cannot see; but at most kMaxTlsBytesPerTurn per turn (a 4 MiB
  // body is ~200 ms of AES-GCM here): past it, a zero-delay timer resumes the
  // read at the next pass, after every other fd and timer had its turn.
  size_t tls_bytes_this_turn = 0;
  for (;;) {
    size_t cap = kConnBufBytes - c.fill;
    if (cap == 0) {
      fail(c.slot, Error::kTooLarge, "response larger than the %zu-byte buffer", kConnBufBytes);
      return;
    }
    if (tls::Session* ts = io_session(c)) {
      tls::Error err;
      size_t n = 0;
      tls::Io r = ts->read(c.buf + c.fill, cap, &n, err);
      if (r == tls::Io::kWantRead || r == tls::Io::kWantWrite) {
        if (r == tls::Io::kWantWrite) c.want_write = true;  // else keep what the writer asked for
        update_interest(c);
        return;
      }
      if (r == tls::Io::kClosed) {
        // RFC 8446 §6.1: only close_notify (code 0) is a clean end; a bare TCP
        // FIN might be a truncation attack, so it never ends a close-delimited body.
        on_eof(c, err.mbedtls_code == 0, err.message);
        return;
      }
      if (r == tls::Io::kError) {
        if (!c.got_byte) before_response_failure(c, Error::kTls, err.message);
        else fail(c.slot, Error::kTls, "%s (after %zu response bytes)", err.message, c.fill);
        return;
      }
      c.got_byte = true;
      c.fill += n;
      if (c.fill > c.high_water) c.high_water = c.fill;
      process(c);
      if (c.gen != gen || c.phase != Phase::kActive || c.slot != si) return;
      tls_bytes_this_turn += n;
      if (tls_bytes_this_turn >= kMaxTlsBytesPerTurn) {
        if (!c.resume_timer.valid()) c.resume_timer = loop_->add_timer(0, &Client::on_resume_timer, &c);
        if (c.resume_timer.valid()) return;  // timer table full: reading on is the lesser evil
      }
      continue;
    }
    ssize_t n;
    do n = recv(c.fd, c.buf + c.fill, cap, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
      c.got_byte = true;
      c.fill += static_cast<size_t>(n);
      if (c.fill > c.high_water) c.high_water = c.fill;
      process(c);
      return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    on_eof(c, n == 0, n == 0 ? "closed" : std::strerror(errno));
    return;
  }
}

// The peer ended the stream: cleanly (FIN, or close_notify over TLS) or not.
void Client::on_eof(Conn& c, bool clean, const char* why) {
  if (!c.got_byte) {
    before_response_failure(c, Error::kClosed, why);
    return;
  }
  // RFC 9112 §6.3 ¶8: a close-delimited body ends at a clean close.
  if (clean && c.head_done && c.resp.body == http_parse::BodyKind::kUntilClose) {
    complete(c, 0);
    return;
  }
  fail(c.slot, Error::kClosed, "connection %s after %zu response bytes", why, c.fill);
}

// Whether parsing the head can now say more than "incomplete". parse_response is O(head): calling
// it for every arrival of a byte-at-a-time head would cost n²/2 byte checks (picohttpparser's
// last_len idea). Only new bytes are searched (each byte about once), and the parser runs when the
// first line has just completed (a non-HTTP peer is refused at once), when an empty line ends the
// head, or when the head passed its limit (the parser names it).
static bool head_worth_parsing(Client::Conn& c, size_t max_head_bytes) {
  const size_t from = c.head_scan >= 2 ? c.head_scan - 2 : 0;  // an end marker may straddle arrivals
  c.head_scan = c.fill;
  if (c.fill > max_head_bytes) return true;
  bool worth = false;
  for (size_t i = from; i < c.fill;) {
    const void* nl = std::memchr(c.buf + i, '\n', c.fill - i);
    if (nl == nullptr) break;
    i = static_cast<size_t>(static_cast<const char*>(nl) - c.buf);
    if (!c.status_line_checked) {
      c.status_line_checked = true;
      worth = true;
    }
    if (i + 1 < c.fill && (c.buf[i + 1] == '\n' || (c.buf[i + 1] == '\r' && i + 2 < c.fill && c.buf[i + 2] == '\n')))
      return true;
    ++i;
  }
  return worth;
}

// Parses the response head once enough of it is in (interim 1xx answers are dropped). True
// when the final head is done and the body can be framed; false to wait (or after fail()).
bool Client::process_head(Conn& c) {
  const Slot& s = slots_[c.slot];
  while (!c.head_done) {
    if (!head_worth_parsing(c, kMaxResponseHeaderBytes)) return false;
    ++head_parses_;
    http_parse::Result r =
        http_parse::parse_response(std::string_view(c.buf, c.fill), c.resp, s.head, kMaxResponseHeaderBytes);
    if (r.status == http_parse::Status::kIncomplete) return false;
    if (r.status == http_parse::Status::kError) {
      if (r.error == http_parse::Error::kHeadersTooLarge)
        return fail(c.slot, Error::kTooLarge, "response header section over %zu bytes", kMaxResponseHeaderBytes);
      return fail(c.slot, Error::kProtocol, "malformed response: %s at byte %zu", http_parse::error_message(r.error),
                  r.error_offset);
    }
    if (c.resp.status < 200) {
      // RFC 9110 §15.2: interim responses precede the final one; we never ask
      // for an upgrade, so 101 cannot be followed by HTTP.
      if (c.resp.status == 101 || ++c.interim > kMaxInterimResponses)
        return fail(c.slot, Error::kProtocol, "unexpected interim response %d", c.resp.status);
      std::memmove(c.buf, c.buf + r.consumed, c.fill - r.consumed);
      c.fill -= r.consumed;
      c.head_scan = 0;
      c.status_line_checked = false;
      continue;
    }
    c.head_done = true;
    c.head_len = r.consumed;
    c.body_len = 0;
    if (c.resp.body == http_parse::BodyKind::kContentLength && c.resp.content_length > kMaxResponseBodyBytes)
      return fail(c.slot, Error::kTooLarge, "Content-Length %llu over the %zu-byte limit",
                  static_cast<unsigned long long>(c.resp.content_length), kMaxResponseBodyBytes);
    if (c.resp.body == http_parse::BodyKind::kChunked) c.chunk = http_parse::ChunkedDecoder{};
  }
  return true;
}

// Decodes the chunked body in place: decoded bytes sit at buf[head_len, head_len + body_len);
// everything after them is raw input not yet decoded.
void Client::decode_chunked_body(Conn& c) {
  char* raw = c.buf + c.head_len + c.body_len;
  size_t raw_len = c.fill - (c.head_len + c.body_len);
  http_parse::ChunkedResult r =
      http_parse::decode_chunked(c.chunk, raw, raw_len, kMaxResponseBodyBytes - c.body_len);
  if (r.status == http_parse::Status::kError) {
    if (r.error == http_parse::Error::kChunkTooLarge) {
      fail(c.slot, Error::kTooLarge, "chunked body over the %zu-byte limit", kMaxResponseBodyBytes);
    } else {
      fail(c.slot, Error::kProtocol, "malformed chunked body: %s", http_parse::error_message(r.error));
    }
    return;
  }
  size_t extra = raw_len - r.consumed;
  c.body_len += r.data_len;
  if (c.body_len > kMaxResponseBodyBytes) {
    fail(c.slot, Error::kTooLarge, "chunked body over the %zu-byte limit", kMaxResponseBodyBytes);
    return;
  }
  if (r.status == http_parse::Status::kComplete) {
    complete(c, extra);
  } else {
    c.fill = c.head_len + c.body_len;  // all raw input was consumed into the state
  }
}

void Client::process(Conn& c) {
  if (!c.head_done && !process_head(c)) return;
  switch (c.resp.body) {
    case http_parse::BodyKind::kNone:
      complete(c, c.fill - c.head_len);
      return;
    case http_parse::BodyKind::kContentLength: {
      size_t have = c.fill - c.head_len;
      if (have >= c.resp.content_length) complete(c, have - c.resp.content_length);
      return;
    }
    case http_parse::BodyKind::kChunked:
      decode_chunked_body(c);
      return;
    case http_parse::BodyKind::kUntilClose:
      if (c.fill - c.head_len > kMaxResponseBodyBytes)
        fail(c.slot, Error::kTooLarge, "close-delimited body over the %zu-byte limit", kMaxResponseBodyBytes);
      return;
  }
}

void Client::complete(Conn& c, size_t extra_bytes) {
  int si = c.slot;
  Slot& s = slots_[si];
  Response resp;
  resp.status = c.resp.status;
  resp.headers = c.resp.headers;
  resp.num_headers = c.resp.num_headers;
  switch (c.resp.body) {
    case http_parse::BodyKind::kChunked:
      resp.body = std::string_view(c.buf + c.head_len, c.body_len);
      break;
    case http_parse::BodyKind::kContentLength:
      resp.body = std::string_view(c.buf + c.head_len, static_cast<size_t>(c.resp.content_length));
      break;
    case http_parse::BodyKind::kUntilClose:
      resp.body = std::string_view(c.buf + c.head_len, c.fill - c.head_len);
      break;
    case http_parse::BodyKind::kNone:
      resp.body = std::string_view();
      break;
  }
  // Bytes after the response were never asked for: the stream is out of step,
  // so the connection must not carry another request.
  bool keep = c.resp.keep_alive && extra_bytes == 0 && c.resp.body != http_parse::BodyKind::kUntilClose;
  Callback cb = s.cb;
  void* ctx = s.ctx;
  release_slot(si);
  c.slot = -1;
  c.phase = Phase::kDelivering;
  uint32_t gen = c.gen;

  Result r;
  r.error = Error::kNone;
  r.detail[0] = '\0';
  r.response = &resp;
  cb(ctx, r);

  if (c.gen == gen && c.phase == Phase::kDelivering) {
    if (c.high_water > kKeepResidentBytes) {
      madvise(c.buf + kKeepResidentBytes, round_up_page(c.high_water) - kKeepResidentBytes, MADV_DONTNEED);
      c.high_water = kKeepResidentBytes;
    }
    if (keep && !c.close_after_delivery) {
      Ep& e = eps_[c.ep];
      c.phase = Phase::kIdle;
      c.reused = true;
      c.fill = 0;
      e.idle[e.num_idle++] = static_cast<int>(&c - conns_);
      loop_->set_events(c.fd, POLLIN);
    } else {
      close_conn(c);
    }
  }
  pump_all();
}

// The request failed before any response byte. On a reused connection this is
// the classic stale keep-alive (Lambda froze the sandbox, the peer timed the
// socket out): the request never reached a server that acted on it, so one
// retry on a fresh connection is safe (RFC 9112 §9.3.1).
void Client::before_response_failure(Conn& c, Error if_not_retried, const char* why) {
  int si = c.slot;
  Slot& s = slots_[si];
  if (c.reused && !s.retried) {
    s.retried = true;
    close_conn(c);
    s.queued = true;  // keeps its place: the oldest seq goes first
    if (!start_conn(si)) pump(s.ep);
    return;
  }
  fail(si, if_not_retried, "connection failed before any response byte: %s%s", why,
       s.retried ? " (after one retry)" : "");
}

bool Client::fail(int si, Error e, const char* fmt, ...) {
  Slot& s = slots_[si];
  if (host_port(s.ep, s.detail, sizeof s.detail) < 0) s.detail[0] = '\0';
  error::append(s.detail, sizeof s.detail, ": ");
  va_list ap;
  va_start(ap, fmt);
  error::vappend(s.detail, sizeof s.detail, fmt, ap);
  va_end(ap);
  s.pending = e;
  s.queued = false;
  if (s.conn >= 0) close_conn(conns_[s.conn]);
  if (api_depth_ > 0) {
    // Inside send()/cancel(): deliver from the loop on its next pass.
    loop_->cancel_timer(s.timer);
    s.timer = loop_->add_timer(0, &Client::on_timer, &s);
    if (s.timer.valid()) return false;
    // Timer table full (1024 timers): delivering now is the lesser evil.
  }
  deliver_error(si);
  pump_all();
  return false;
}

void Client::deliver_error(int si) {
  Slot& s = slots_[si];
  Result r;
  r.error = s.pending;
  std::memcpy(r.detail, s.detail, sizeof r.detail);
  r.response = nullptr;
  Callback cb = s.cb;
  void* ctx = s.ctx;
  release_slot(si);
  cb(ctx, r);
}

void Client::on_timer(void* ctx) {
  Slot& s = *static_cast<Slot*>(ctx);
  Client& self = *s.owner;
  int si = static_cast<int>(&s - self.slots_);
  s.timer = loop::TimerId{};  // fired
  if (!s.in_use) return;
  if (s.pending != Error::kNone) {
    self.deliver_error(si);
    self.pump_all();
    return;
  }
  const char* where = "waiting for a free connection";
  size_t got = 0;
  if (s.conn >= 0) {
    const Conn& c = self.conns_[s.conn];
    got = c.fill;
    switch (c.phase) {
      case Phase::kResolving: where = "resolving"; break;
      case Phase::kConnecting: where = c.via_proxy ? "connecting to the proxy" : "connecting"; break;
      case Phase::kHandshake: where = "TLS handshake"; break;
      case Phase::kTunnel: where = "proxy CONNECT"; break;
      case Phase::kProxyHandshake: where = "TLS handshake with the proxy"; break;
      default: where = c.sent < s.req_len ? "sending the request" : c.got_byte ? "reading the response" : "waiting for the response";
    }
  }
  self.fail(si, Error::kTimeout, "no complete response within %llu ms (%s, %zu bytes received)",
            static_cast<unsigned long long>(s.timeout_ms), where, got);
}

void Client::on_connect_timer(void* ctx) {
  Conn& c = *static_cast<Conn*>(ctx);
  c.connect_timer = loop::TimerId{};
  if (c.phase != Phase::kConnecting || c.fd < 0) return;
  c.last_errno = ETIMEDOUT;
  c.owner->loop_->remove_fd(c.fd);
  close(c.fd);
  c.fd = -1;
  ++c.next_addr;
  c.owner->connect_next(c);
}

// The TLS read budget of a turn ran out with the body unfinished: read on.
void Client::on_resume_timer(void* ctx) {
  Conn& c = *static_cast<Conn*>(ctx);
  c.resume_timer = loop::TimerId{};
  if (c.phase != Phase::kActive || c.fd < 0) return;
  c.owner->do_read(c);
}

void Client::close_conn(Conn& c) {
  if (c.phase == Phase::kFree) return;
  loop_->cancel_timer(c.connect_timer);
  loop_->cancel_timer(c.resume_timer);
  c.resume_timer = loop::TimerId{};
  Ep& e = eps_[c.ep];
  int ci = static_cast<int>(&c - conns_);
  if (c.phase == Phase::kResolving && has_resolver_) resolver_.cancel(resolver_.ctx, (uint64_t{static_cast<uint32_t>(ci)} << 32) | c.gen);
  if (c.phase == Phase::kIdle) {
    for (size_t i = 0; i < e.num_idle; ++i) {
      if (e.idle[i] == ci) {
        std::memmove(&e.idle[i], &e.idle[i + 1], (e.num_idle - i - 1) * sizeof e.idle[0]);
        --e.num_idle;
        break;
      }
    }
  }
  wipe_connect(c);
  if (c.tls.started()) {
    // Best effort, one non-blocking attempt (RFC 8446 §6.1); a dead peer
    // makes it fail quietly.
    if (c.phase == Phase::kIdle) c.tls.close_notify();
    c.tls.reset();  // before the proxy session it runs inside
  }
  if (c.ptls.started()) {
    if (c.phase == Phase::kIdle) c.ptls.close_notify();
    c.ptls.reset();
  }
  if (c.fd >= 0) {
    loop_->remove_fd(c.fd);
    close(c.fd);
    c.fd = -1;
  }
  if (c.slot >= 0) slots_[c.slot].conn = -1;
  c.slot = -1;
  if (c.high_water > kKeepResidentBytes) {
    madvise(c.buf + kKeepResidentBytes, round_up_page(c.high_water) - kKeepResidentBytes, MADV_DONTNEED);
    c.high_water = kKeepResidentBytes;
  }
  if (e.open > 0) --e.open;
  c.phase = Phase::kFree;
  if (++c.gen == 0) c.gen = 1;
}

void Client::release_slot(int si) {
  Slot& s = slots_[si];
  loop_->cancel_timer(s.timer);
  s.in_use = false;
  s.queued = false;
  s.conn = -1;
  s.pending = Error::kNone;
  s.cb = nullptr;
  s.ctx = nullptr;
}

}  // namespace appconfig::http_client
