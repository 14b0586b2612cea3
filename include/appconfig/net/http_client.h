// http_client: the one outbound HTTP/1.1 client, non-blocking, driven by loop.
//
// Owns: outbound TCP connections, their keep-alive pool per endpoint (capped,
// idle connections reused LIFO), the bounded queue of requests waiting for a
// connection, per-request deadlines, the retry-once rule for reused
// connections, request serialisation and response framing (through
// http_parse::parse_response / decode_chunked -- never a second parser), and
// the response buffers (one MAP_NORESERVE mmap reserved at init; pages are
// committed only as touched and handed back with MADV_DONTNEED after large
// responses).
// TLS is delegated to tls::Session on the same socket (https endpoints).
// Proxying (set_proxy): HTTPS targets through an http:// proxy's CONNECT
// tunnel, plain-HTTP targets in absolute form; which hosts go through the
// proxy and what it is told is module proxy's (a proxy::Route). With an
// https:// proxy the connection to the proxy is TLS too (checked against the
// same trust store and AWS_CA_BUNDLE), and an HTTPS target's session runs
// inside it (tls::Session::start_over: TLS inside TLS, no thread).
// Knows nothing of AWS, signing, credentials or what the bytes mean. Name
// resolution is an IP literal or /etc/hosts unless a Resolver is plugged in.
// Single-threaded: everything runs inside loop callbacks.
//
// Lifetimes:
//  - send() copies everything it needs from Endpoint and Request before it
//    returns (the request is serialised at once); the caller's strings may die.
//  - Result / Response and every view in them (headers, body, detail) are valid
//    only during the callback; copy what you keep.
//  - The callback is never called from inside send(), cancel() or
//    close_idle(); it runs from the loop. Inside the callback any Client method
//    may be called (send a follow-up request, cancel another one).
//  - Destroy the Client before its Loop; pending callbacks are then dropped.
//
// Behaviour and limits: docs/http-client.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/net/dns_wire.h"
#include "appconfig/net/http_parse.h"
#include "appconfig/net/proxy.h"
#include "appconfig/core/loop.h"

namespace appconfig::http_client {

// The largest configuration AppConfig serves is 4 MiB; the margin covers the
// rest of an AppConfig Data / STS / credentials body around it.
constexpr size_t kMaxResponseBodyBytes = 4 * 1024 * 1024 + 64 * 1024;
// Response status line + header section (also bounds 1xx interim responses).
constexpr size_t kMaxResponseHeaderBytes = http_parse::kDefaultMaxHeaderBytes;
// Caller headers per request: SigV4 adds ~6, the Lambda API ~2; room to spare.
constexpr size_t kMaxRequestHeaders = 24;
// One serialised request (line + headers + body). SigV4 Authorization plus a
// session token is ~2.5 KiB; our bodies (StartConfigurationSession JSON, STS
// form) are well under 2 KiB; 64 KiB leaves room for error reports to the
// Lambda API.
constexpr size_t kMaxRequestBytes = 64 * 1024;
// Host names as given (RFC 1035 §2.3.4: 253 text characters, plus brackets).
constexpr size_t kMaxHostBytes = proxy::kMaxHostBytes;
// Connections open at once across all endpoints (each owns a response buffer
// of ~4.2 MiB of reserved, mostly untouched, address space).
constexpr size_t kMaxConnections = 16;
// Distinct endpoints (host, port, tls) remembered at once: Runtime API,
// AppConfig Data, STS, container credentials, a proxy -- and spare.
constexpr size_t kMaxEndpoints = 8;
// Requests in flight or queued at once, all endpoints together; this is the
// bound of the wait queue. Past it send() fails with kNoSlot.
constexpr size_t kMaxRequests = 64;
// After a response that touched more buffer than this, the rest of the
// connection's buffer is returned to the kernel (MADV_DONTNEED) so one large
// configuration does not pin megabytes of RSS per pooled connection.
constexpr size_t kKeepResidentBytes = 64 * 1024;
// One address's TCP connect may take this long while other addresses remain
// (the request's deadline still bounds the whole attempt).
constexpr uint64_t kConnectAttemptMs = 1000;

struct Endpoint {
  std::string_view host;  // IP literal ("10.0.0.1", "::1", "[::1]") or a name
  uint16_t port;
  bool tls;
};

// A request header (the same type as a parsed one).
using Header = http_parse::Header;

struct Request {
  std::string_view method;  // e.g. "GET"; "HEAD" means no response body
  std::string_view target;  // origin-form, e.g. "/2020-01-01/extension/event/next"
  const Header* headers;    // at most kMaxRequestHeaders; no Content-Length or
  size_t num_headers;       // Transfer-Encoding (framing is ours); a Host here replaces ours
  std::string_view body;
  uint64_t timeout_ms;      // covers queueing, resolve, connect, TLS and the whole response; 0 = none
};

enum class Error : uint8_t {
  kNone,
  kBadRequest,  // the Request itself is invalid (bad token, CR/LF in a value, too large)
  kResolve,
  kConnect,
  kTls,         // handshake, certificate or record-layer failure (detail from module tls)
  kTimeout,
  kClosed,      // the peer closed (or reset) before a complete response
  kProtocol,    // the response is not valid HTTP/1.1
  kTooLarge,    // response head > kMaxResponseHeaderBytes or body > kMaxResponseBodyBytes
  kNoSlot,      // request, endpoint or timer table full: never delivered; send() returns an invalid id
  kProxy,       // the proxy refused the CONNECT (non-2xx; detail names proxy and status) or broke the tunnel
};
// One short lowercase phrase. Never null.
const char* error_message(Error e);

struct Response {
  int status;
  const http_parse::Header* headers;
  size_t num_headers;
  std::string_view body;  // decoded (chunked framing removed)
};

struct Result {
  Error error;
  char detail[200];          // names host:port and what failed; "" on success
  const Response* response;  // non-null iff error == kNone
};

using Callback = void (*)(void* ctx, const Result& r);

// ---------------------------------------------------------------- proxy (spec §2)
// Proxy selection, URL parsing and NO_PROXY matching live in module proxy (proxy.h); the client
// takes a proxy::Config and speaks CONNECT through the route it builds.

// Serialised CONNECT request: line + Host + Proxy-Authorization + the extra
// headers above always fit.
constexpr size_t kMaxConnectRequestBytes = 2 * kMaxHostBytes + 1024 + proxy::kMaxCredentialBytes * 4 / 3 + 4 +
                                           proxy::kMaxHeaderBytes + 4 * proxy::kMaxHeaders;

// generation 0 = invalid (send() failed with kNoSlot; no callback will come).
struct RequestId {
  uint32_t slot = 0;
  uint32_t generation = 0;
  bool valid() const { return generation != 0; }
};

// Asynchronous name resolution (module dns plugs in here). start() begins
// resolving `host` and must later call Client::resolved(token, ...) exactly
// once -- never from inside start() -- unless cancel(token) came first.
struct Resolver {
  void* ctx;
  bool (*start)(void* ctx, std::string_view host, uint64_t token);  // false: failed at once
  void (*cancel)(void* ctx, uint64_t token);
};

class Client {
 public:
  struct Conn;  // public only so file-local helpers in http_client.cpp can name it
  Client() = default;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client();

  // Reserves the buffers (one mmap). max_connections_per_endpoint is clamped
  // to [1, kMaxConnections] (AWS_APPCONFIG_EXTENSION_MAX_CONNECTIONS).
  bool init(loop::Loop* lp, size_t max_connections_per_endpoint);
  // Routes later requests through a proxy (copied; the views may die). Call
  // after init() and before the first send(): connections already open keep
  // their route. Loopback and link-local IP literals, "localhost" and
  // *.localhost always go direct (unless cfg.local_always_direct is false) (the Runtime API, container credentials), as
  // does any host matching cfg.no_proxy. On error
  // the previous proxy setting is kept. Credentials are never logged.
  proxy::Error set_proxy(const proxy::Config& cfg);
  // True when requests to `host` would go through the proxy.
  bool uses_proxy(std::string_view host) const;

  // Without a resolver, names are looked up in /etc/hosts only.
  void set_resolver(const Resolver& r) { resolver_ = r; has_resolver_ = true; }
  // Completes a Resolver::start(); n == 0 means the name did not resolve.
  // error (optional) says why a lookup failed (host and servers tried); it
  // becomes the request's error detail.
  void resolved(uint64_t token, const dns_wire::Address* addrs, size_t n, const char* error = nullptr);

  // Queues the request; the callback comes later from the loop exactly once,
  // unless cancel() is called first. Invalid id: table full (kNoSlot), no callback.
  RequestId send(const Endpoint& ep, const Request& req, Callback cb, void* ctx);
  // The callback is not called afterwards. A connection carrying the request is
  // closed (its response can no longer be framed). Stale ids are ignored.
  void cancel(RequestId id);
  // Closes every idle pooled connection (before a freeze, or on SHUTDOWN).
  void close_idle();

  // Observability for tests and logs.
  size_t open_connections() const;
  // Response heads handed to the parser so far (tests: a byte-at-a-time head is parsed a bounded
  // number of times, not once per arriving byte).
  uint64_t head_parses() const { return head_parses_; }
  size_t idle_connections() const;

 private:
  struct Slot;
  struct Ep;
  enum class Phase : uint8_t;

  static void on_fd(void* ctx, int fd, short revents);
  static void on_timer(void* ctx);
  static void on_connect_timer(void* ctx);
  static void on_resume_timer(void* ctx);

  int find_or_add_endpoint(const Endpoint& ep);
  int claim_slot(const Endpoint& ep, const Request& req, Callback cb, void* ctx);
  bool check_request(int si, const Request& req);
  void pump_all();
  void pump(int ep);
  bool start_conn(int slot);
  void begin_connect(Conn& c);
  void connect_next(Conn& c);
  void attach(Conn& c, int slot);
  void io(Conn& c, short revents);
  void connected(Conn& c);
  void handshake_step(Conn& c);
  void start_tls(Conn& c);
  void start_tunnel(Conn& c);
  void tunnel_io(Conn& c, short revents);
  bool tunnel_tls_io(Conn& c, const char* proxy, bool* readable, char* closed_why, size_t why_cap);
  void tunnel_answer(Conn& c, const char* proxy);
  void start_proxy_tls(Conn& c);
  void proxy_handshake_step(Conn& c);
  void wipe_connect(Conn& c);
  void update_interest(Conn& c);
  void do_write(Conn& c);
  void do_read(Conn& c);
  void on_eof(Conn& c, bool clean, const char* why);
  void process(Conn& c);
  bool process_head(Conn& c);
  void decode_chunked_body(Conn& c);
  void complete(Conn& c, size_t extra_bytes);
  void before_response_failure(Conn& c, Error if_not_retried, const char* why);
  // Records the failure (detail "host:port: ..."), closes the request's connection and delivers
  // the error (from the loop when inside send()/cancel()). Returns false, for `return fail(...)`.
  bool fail(int slot, Error e, const char* fmt, ...) __attribute__((format(printf, 4, 5)));
  void deliver_error(int slot);
  void close_conn(Conn& c);
  void release_slot(int slot);
  int host_port(int ep, char* out, size_t cap) const;

  loop::Loop* loop_ = nullptr;
  size_t cap_per_endpoint_ = 1;
  char* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  Conn* conns_ = nullptr;  // kMaxConnections, inside arena_
  uint64_t head_parses_ = 0;
  Slot* slots_ = nullptr;  // kMaxRequests, inside arena_
  Ep* eps_ = nullptr;      // kMaxEndpoints, inside arena_
  proxy::Route* proxy_ = nullptr;  // inside arena_
  uint64_t next_seq_ = 1;
  uint32_t generation_ = 0;
  int api_depth_ = 0;      // > 0 while inside send(): failures are deferred
  Resolver resolver_{};
  bool has_resolver_ = false;
};

}  // namespace appconfig::http_client
