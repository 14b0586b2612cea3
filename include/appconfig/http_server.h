// http_server: the local HTTP/1.1 listeners and their connections.
//
// Owns: listening sockets (127.0.0.1 and [::1], or one configured host), a
// fixed pool of connection slots with their buffers (one mmap at start-up,
// pages touched only as used), keep-alive, pipelining (answers in request
// order, one request in flight per connection), request-body discarding with a
// size cap, header/idle/write deadlines (slowloris protection), and the cap on
// concurrent connections (excess get 503 and are closed).
// Knows nothing of configurations or AWS: each complete request goes to one
// Handler, which fills a Reply at once or parks the exchange and completes it
// later with Server::finish().
// Lifetimes: Request views point into the connection's input buffer and stay
// valid until the Reply for that request has been written (or the connection
// is closed). Reply pieces must stay valid until Reply::release is called.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/http_parse.h"
#include "appconfig/loop.h"

namespace appconfig::http_server {

// Concurrent client connections. A Lambda function reads from a handful of
// threads at most; the agent serves one host. Past this, 503 and close.
constexpr size_t kMaxConnections = 256;
// Input buffer per connection: one request head at its maximum plus room for
// pipelined requests behind it.
constexpr size_t kInBufferBytes = http_parse::kDefaultMaxHeaderBytes + 4096;
// Scratch per connection for generated bodies (errors, /ping, flag keys, and
// evaluated multi-variant flags that do not fit in the piece list). Reserved
// address space: a connection touches only the pages it writes.
constexpr size_t kScratchBytes = 64 * 1024;
// Response head (status line + headers) per connection.
constexpr size_t kHeadBytes = 1024;
// We never need a request body; small ones are read and discarded so the
// connection stays usable, larger ones get 413 and the connection is closed.
constexpr uint64_t kMaxRequestBodyBytes = 64 * 1024;
// A request head must arrive completely within this time from its first byte
// (slowloris). Generous for any real client on loopback.
constexpr uint64_t kHeaderTimeoutMs = 10'000;
// An idle keep-alive connection is closed after this long without a request.
constexpr uint64_t kIdleTimeoutMs = 120'000;
// A reply that makes no write progress for this long is abandoned.
constexpr uint64_t kWriteTimeoutMs = 30'000;
// Body pieces per reply (flag filtering builds up to 4 per flag).
constexpr size_t kMaxPieces = 160;
constexpr size_t kMaxExtraHeaders = 6;

struct Piece {
  const char* data;
  size_t len;
};

struct Reply {
  int status = 200;
  std::string_view content_type;  // empty: no Content-Type header
  struct {
    std::string_view name, value;
  } headers[kMaxExtraHeaders];
  size_t num_headers = 0;
  Piece pieces[kMaxPieces];
  size_t num_pieces = 0;
  // Called exactly once when the pieces are no longer needed (sent, or the
  // connection died). Used to unpin cache entries.
  void (*release)(void* ctx) = nullptr;
  void* release_ctx = nullptr;
  bool close = false;  // send Connection: close and close after writing

  // Cheaper than `= Reply{}`, which would zero every piece slot per request.
  void reset() {
    status = 200;
    content_type = {};
    num_headers = 0;
    num_pieces = 0;
    release = nullptr;
    release_ctx = nullptr;
    close = false;
  }
  void add_header(std::string_view name, std::string_view value) {
    if (num_headers < kMaxExtraHeaders) headers[num_headers++] = {name, value};
  }
  void add_piece(const char* data, size_t len) {
    if (num_pieces < kMaxPieces && len > 0) pieces[num_pieces++] = {data, len};
  }
};

// Names one exchange; the generation makes a handle to a closed connection stale.
struct ExchangeRef {
  uint32_t slot = 0;
  uint32_t generation = 0;
};

struct Exchange {
  const http_parse::Request* request = nullptr;
  ExchangeRef ref;
  char* scratch = nullptr;  // kScratchBytes, owned by the connection
  size_t scratch_used = 0;
  Reply reply;
  bool parked = false;  // set by the handler: reply comes later via finish()

  // Formats a one-line text/plain body into scratch and sets the status.
  void text(int status, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Copies bytes into scratch; returns nullptr when scratch is full.
  char* scratch_copy(std::string_view s);
};

using Handler = void (*)(void* ctx, Exchange& ex);

enum class ListenError : uint8_t { kNone, kAddressInUse, kBadHost, kSocket };

class Server {
 public:
  bool init(loop::Loop* lp, Handler handler, void* handler_ctx);
  ~Server();
  // host empty: 127.0.0.1 and, when the kernel has IPv6, [::1]. "all": 0.0.0.0 and [::] (the
  // latter when the kernel has IPv6). Else an IP literal or localhost; may be called again to add
  // addresses (up to kMaxListeners sockets in all).
  ListenError listen(std::string_view host, uint16_t port, char* err, size_t err_cap);
  // Completes a parked exchange. Returns false when the connection is gone
  // (the caller must then release whatever it meant to send).
  Exchange* parked(ExchangeRef ref);
  void finish(ExchangeRef ref);
  // Stop accepting and close idle connections; in-flight replies finish.
  void stop_accepting();
  // Restart idle deadlines: Lambda freezes us between invokes, and a client's
  // kept-alive connection must not be dropped the moment the sandbox thaws.
  void touch_idle();
  size_t active_connections() const { return active_; }
  uint64_t requests_served() const { return requests_; }

 private:
  struct Conn;
  static void on_listener(void* ctx, int fd, short revents);
  static void on_conn(void* ctx, int fd, short revents);
  static void on_sweep(void* ctx);
  void accept_all(int lfd);
  void reject_busy(int fd);
  void conn_event(Conn& c, short revents);
  void read_some(Conn& c);
  void process(Conn& c);
  bool discard_body(Conn& c);
  void dispatch(Conn& c, const http_parse::Request& req, size_t head_len);
  void start_write(Conn& c);
  void write_some(Conn& c);
  void finish_reply(Conn& c);
  void reply_error(Conn& c, int status, const char* message);
  void close_conn(Conn& c);
  void linger(Conn& c);
  void update_interest(Conn& c);
  void arm_sweep();

  loop::Loop* loop_ = nullptr;
  Handler handler_ = nullptr;
  void* handler_ctx_ = nullptr;
  // Listening sockets: loopback pair, "all" (0.0.0.0 and [::]), or every address of a host name
  // (main calls listen() once per address; more than this is refused).
  static constexpr int kMaxListeners = 8;
  int listeners_[kMaxListeners] = {-1, -1, -1, -1, -1, -1, -1, -1};
  int num_listeners_ = 0;
  int reserve_fd_ = -1;  // closed to make room when accept() hits EMFILE
  Conn* acquire_slot();
  Conn* conns_ = nullptr;    // kMaxConnections slots, constructed on first use
  char* buffers_ = nullptr;  // one mapping: every connection's buffers, then conns_
  size_t buffers_bytes_ = 0;
  size_t conns_bytes_ = 0;
  size_t slots_used_ = 0;    // slots [0, slots_used_) have been constructed
  uint16_t free_slots_[kMaxConnections];
  size_t num_free_ = 0;
  size_t active_ = 0;
  uint64_t requests_ = 0;
  loop::TimerId sweep_;
  bool accepting_ = true;
};

const char* status_text(int status);

}  // namespace appconfig::http_server
