// http_server: the local HTTP/1.1 listeners and their connections.
//
// Owns: listening sockets (127.0.0.1 and [::1], or one configured host), a
// fixed pool of connection slots with their buffers (one mmap at start-up,
// pages touched only as used), keep-alive, pipelining (answers in request
// order, one request in flight per connection, at most kMaxRequestsPerTurn
// answered per connection before other connections get their turn),
// request-body discarding with a size cap, header/idle/write deadlines
// (slowloris protection) that no refresh schedule extends, and the cap on
// concurrent connections (a full table closes the connection that has waited
// longest for its client; only when none is waiting do new ones get 503).
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

#include "appconfig/net/http_parse.h"
#include "appconfig/core/loop.h"

namespace appconfig::http_server {

// Concurrent client connections: the highest value the setting
// (MAX_CLIENT_CONNECTIONS) accepts. Bounded by the fd table of loop.h; the
// per-connection buffers are reserved address space (96 KiB each, 1.5 GiB at
// this maximum) of which only the pages a connection uses become resident
// (docs/benchmarks.md: ~0.7 kB per silent connection, ~16 kB per served one).
constexpr size_t kMaxConnections = 16384;
// Defaults: a node-wide agent (DaemonSet, busy EC2 host) serves many clients;
// a Lambda function reads from a handful of threads, and Lambda's
// RLIMIT_NOFILE is 1024 (docs/settings.md).
constexpr size_t kDefaultMaxConnectionsAgent = 1024;
constexpr size_t kDefaultMaxConnectionsLambda = 256;
// Pipelined requests answered per connection per loop turn; the rest waits for
// the next turn so one client's pipeline cannot delay everyone else's reads.
constexpr size_t kMaxRequestsPerTurn = 8;
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
// Deadlines are checked by a sweep every kSweepIntervalMs. A sweep that runs
// more than kPauseCreditAfterMs late means the process did not run (Lambda
// froze the sandbox; CLOCK_MONOTONIC kept counting) or the loop was stalled:
// clients could not be served either, so every deadline moves by the delay.
// Nothing a client does moves a deadline without sending bytes. At most one
// sweep interval of a pause counts as idle time (the sweep sees only how late
// it is, not when the pause began).
constexpr uint64_t kSweepIntervalMs = 1'000;
constexpr uint64_t kPauseCreditAfterMs = 250;
// A connection slot quiet this long (closed, or idle with nothing buffered)
// gives its buffer pages back (one madvise): a burst of clients leaves no
// lasting RSS, and a busy connection never pays for page faults.
constexpr uint64_t kReleaseAfterQuietMs = 5'000;
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
  Piece* pieces = nullptr;  // kMaxPieces slots in the connection's buffers (server-owned)
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
    if (pieces != nullptr && num_pieces < kMaxPieces && len > 0) pieces[num_pieces++] = {data, len};
  }
};

class Server;

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
  // An answer bigger than scratch (a Context-evaluated flag profile): a
  // buffer of `bytes` mapped for this exchange only and unmapped once its
  // reply is written or the connection closes. Pages become resident only as
  // written. nullptr when the server-wide budget (Limits::answer_buffer_bytes)
  // is spent by other slow readers or the mapping fails: answer 503.
  char* answer_buffer(size_t bytes);
  Server* server_ = nullptr;  // internal
  char* big_ = nullptr;              // internal: the answer buffer, if any
  size_t big_bytes_ = 0;

  // Formats a one-line text/plain body into scratch and sets the status.
  void text(int status, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  // Copies bytes into scratch; returns nullptr when scratch is full.
  char* scratch_copy(std::string_view s);
};

using Handler = void (*)(void* ctx, Exchange& ex);

enum class ListenError : uint8_t { kNone, kAddressInUse, kBadHost, kSocket };

struct Limits {
  size_t max_connections = kDefaultMaxConnectionsAgent;  // 1..kMaxConnections
  uint64_t idle_timeout_ms = kIdleTimeoutMs;
  uint64_t header_timeout_ms = kHeaderTimeoutMs;
  uint64_t sweep_interval_ms = kSweepIntervalMs;  // tests shorten it with the timeouts
  // All answer buffers in flight at once; main passes the cache size, which
  // bounds any one answer (an answer is never larger than its profile).
  size_t answer_buffer_bytes = size_t{16} << 20;
};

class Server {
 public:
  // Raises RLIMIT_NOFILE's soft limit towards what max_connections needs
  // (never above the hard limit; a warning says how many fit).
  bool init(loop::Loop* lp, Handler handler, void* handler_ctx, const Limits& limits = Limits{});
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
  size_t active_connections() const { return active_; }
  uint64_t requests_served() const { return requests_; }
  // For tests and the closing log: connections closed to admit a new one,
  // pipelines deferred to a later turn, bytes in answer buffers now, and the
  // request-head bytes the parser examined (each byte about once).
  uint64_t evictions() const { return evictions_; }
  uint64_t deferred_turns() const { return deferred_turns_; }
  size_t answer_buffer_bytes_in_use() const { return big_in_use_; }
  uint64_t head_bytes_scanned() const { return head_bytes_scanned_; }

 private:
  struct Conn;
  static void on_listener(void* ctx, int fd, short revents);
  static void on_conn(void* ctx, int fd, short revents);
  static void on_sweep(void* ctx);
  static void on_resume(void* ctx);
  friend struct Exchange;
  char* take_answer_buffer(Exchange& ex, size_t bytes);
  void drop_answer_buffer(Exchange& ex);
  void set_state(Conn& c, uint8_t state);
  void waiting_push(Conn& c);
  void waiting_unlink(Conn& c);
  void ready_push(Conn& c);
  void ready_unlink(Conn& c);
  bool evict_oldest_waiting();
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
  Limits limits_;
  Conn* conns_ = nullptr;    // limits_.max_connections slots, constructed on first use
  char* buffers_ = nullptr;  // one mapping: every connection's buffers, then conns_, then free_slots_
  size_t buffers_bytes_ = 0;
  size_t conns_bytes_ = 0;
  size_t free_bytes_ = 0;
  size_t slots_used_ = 0;    // slots [0, slots_used_) have been constructed
  uint32_t* free_slots_ = nullptr;
  size_t num_free_ = 0;
  size_t active_ = 0;
  uint64_t requests_ = 0;
  // Connections waiting for their client (State::kReading), oldest first:
  // the eviction order when the table is full.
  uint32_t waiting_head_ = UINT32_MAX, waiting_tail_ = UINT32_MAX;
  // Connections with pipelined requests left over from their turn.
  uint32_t ready_head_ = UINT32_MAX, ready_tail_ = UINT32_MAX;
  loop::TimerId sweep_;
  uint64_t sweep_due_ms_ = 0;
  loop::TimerId resume_;
  uint64_t resume_pass_ = 0;
  size_t big_in_use_ = 0;
  size_t resident_slots_ = 0;  // slots whose buffer pages may be resident
  uint64_t evictions_ = 0;
  uint64_t deferred_turns_ = 0;
  uint64_t head_bytes_scanned_ = 0;
  bool accepting_ = true;
  // The Date header's text, formatted at most once a second; its one user is start_write, and
  // one per server is enough (replies of one turn share the second).
  struct DateCache {
    char text[40] = {};
    int64_t formatted_second = 0;  // time(nullptr) when text was made; 0 = never
    std::string_view now();
  };
  DateCache date_;
};

const char* status_text(int status);

}  // namespace appconfig::http_server
