#include "appconfig/net/http_server.h"

#include <arpa/inet.h>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <new>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "appconfig/core/error.h"
#include "appconfig/core/log.h"

namespace appconfig::http_server {

namespace hp = http_parse;

// kLinger: our side is shut down after a reply with Connection: close; unread
// input is drained for a moment so the kernel does not answer it with a RST
// that would destroy the reply before the client reads it (RFC 9112 §9.6).
enum class State : uint8_t { kFree, kReading, kParked, kWriting, kLinger };

// How long a closing connection drains input it will never answer, and how
// many 4 KiB reads it may do per loop turn.
constexpr uint64_t kLingerMs = 2'000;
constexpr int kLingerReadsPerTurn = 16;

constexpr uint32_t kNone = UINT32_MAX;  // end of an index list

struct Server::Conn {
  Server* server = nullptr;
  int fd = -1;
  uint32_t generation = 0;
  State state = State::kFree;
  // Links of the waiting list (state kReading, oldest first) and of the ready
  // list (pipelined requests left for a later turn).
  uint32_t waiting_prev = kNone, waiting_next = kNone;
  uint32_t ready_prev = kNone, ready_next = kNone;
  uint64_t ready_pass = 0;  // Server::resume_pass_ when queued
  bool waiting = false;
  bool ready = false;
  hp::RequestScan scan;  // progress on the request head now arriving
  char* in = nullptr;  // kInBufferBytes
  size_t in_pos = 0;   // first unconsumed byte
  size_t in_len = 0;   // end of received bytes
  char* head = nullptr;  // kHeadBytes
  // The big per-request state lives in the slot's buffer pages, not here, so
  // that a connection that never sends a byte touches only this struct.
  hp::Request* req = nullptr;
  Exchange ex;
  size_t pending_consume = 0;  // head bytes of the request being answered
  // Body of the request being answered, discarded once its reply is out.
  uint64_t body_left = 0;
  bool body_chunked = false;
  uint64_t body_seen = 0;
  hp::ChunkedDecoder chunked{};
  // Write state.
  iovec* iov = nullptr;  // kMaxPieces + 1, in the buffer pages
  size_t iov_count = 0;
  size_t iov_index = 0;
  uint64_t deadline_ms = 0;  // 0: none
  uint64_t quiet_since_ms = 0;  // closed or last answered (kReleaseAfterQuietMs)
  bool resident = false;        // the buffer pages may be resident
  bool head_started = false;
  bool read_eof = false;
  bool close_after = false;
  bool is_head = false;
};

namespace {

// One slot's buffer pages: the parsed request, the write vector, the reply's
// pieces, the response head and the scratch, then the input buffer on a page
// boundary; whole pages so a slot can be given back with one madvise. The
// parts a typical request touches (the start of each) sit together: a served
// keep-alive connection keeps 4 pages resident (~16 KiB) until it goes quiet.
constexpr size_t kPage = 4096;
constexpr size_t kRequestOffset = 0;
constexpr size_t kIovOffset = (sizeof(http_parse::Request) + 15) & ~size_t{15};
constexpr size_t kPiecesOffset = kIovOffset + (kMaxPieces + 1) * sizeof(iovec);
constexpr size_t kHeadOffset = kPiecesOffset + kMaxPieces * sizeof(Piece);
constexpr size_t kScratchOffset = kHeadOffset + kHeadBytes;
constexpr size_t kInOffset = (kScratchOffset + kScratchBytes + kPage - 1) & ~(kPage - 1);
constexpr size_t kSlotBytes = (kInOffset + kInBufferBytes + kPage - 1) & ~(kPage - 1);

constexpr char kTextPlain[] = "text/plain; charset=utf-8";

void set_nonblocking_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// One address to listen on.
struct ListenTarget {
  int family;
  sockaddr_storage addr;
  socklen_t len;
  bool optional;  // [::1] (or [::]) is skipped when the kernel has no IPv6
};

void add_v4(ListenTarget* targets, int* n, in_addr a, uint16_t port, bool optional) {
  ListenTarget& t = targets[(*n)++];
  memset(&t, 0, sizeof t);
  auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  sin->sin_addr = a;
  t.family = AF_INET;
  t.len = sizeof(sockaddr_in);
  t.optional = optional;
}

void add_v6(ListenTarget* targets, int* n, in6_addr a, uint16_t port, bool optional) {
  ListenTarget& t = targets[(*n)++];
  memset(&t, 0, sizeof t);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_addr = a;
  t.family = AF_INET6;
  t.len = sizeof(sockaddr_in6);
  t.optional = optional;
}

// The addresses `host` stands for (see Server::listen): at most two, into targets[0..*n).
ListenError listen_targets(std::string_view host, uint16_t port, ListenTarget* targets, int* n, char* err,
                           size_t err_cap) {
  in_addr lo4, any4;
  lo4.s_addr = htonl(INADDR_LOOPBACK);
  any4.s_addr = htonl(INADDR_ANY);
  if (host.empty()) {
    add_v4(targets, n, lo4, port, false);
    add_v6(targets, n, in6addr_loopback, port, true);
    return ListenError::kNone;
  }
  char h[64];
  if (host.size() >= sizeof h) {
    error::fail(err, err_cap, "host \"%.*s\" is too long", static_cast<int>(host.size() > 64 ? 64 : host.size()),
                host.data());
    return ListenError::kBadHost;
  }
  // Accept "[::1]" as well as "::1".
  std::string_view bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  memcpy(h, bare.data(), bare.size());
  h[bare.size()] = '\0';
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, h, &a4) == 1) {
    add_v4(targets, n, a4, port, false);
  } else if (inet_pton(AF_INET6, h, &a6) == 1) {
    add_v6(targets, n, a6, port, false);
  } else if (strcmp(h, "all") == 0) {
    add_v4(targets, n, any4, port, false);
    add_v6(targets, n, in6addr_any, port, true);
  } else if (strcmp(h, "localhost") == 0) {
    add_v4(targets, n, lo4, port, false);
    add_v6(targets, n, in6addr_loopback, port, true);
  } else {
    error::fail(err, err_cap, "host \"%s\" is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or localhost)", h);
    return ListenError::kBadHost;
  }
  return ListenError::kNone;
}

// A listening socket for t in *fd, or -1 when t is optional and the kernel cannot have it.
ListenError open_listener(const ListenTarget& t, uint16_t port, int* fd, char* err, size_t err_cap) {
  *fd = socket(t.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0) {
    if (t.optional) return ListenError::kNone;
    error::fail(err, err_cap, "socket(): %s", strerror(errno));
    return ListenError::kSocket;
  }
  int one = 1;
  setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (t.family == AF_INET6) setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(*fd, reinterpret_cast<const sockaddr*>(&t.addr), t.len) == 0 && ::listen(*fd, 128) == 0)
    return ListenError::kNone;
  const int e = errno;
  close(*fd);
  *fd = -1;
  if (t.optional && e != EADDRINUSE) return ListenError::kNone;
  char addr[64];
  if (t.family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&t.addr)->sin_addr, addr, sizeof addr);
  else
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&t.addr)->sin6_addr, addr, sizeof addr);
  error::fail(err, err_cap, "cannot listen on %s port %u: %s", addr, port, strerror(e));
  return e == EADDRINUSE ? ListenError::kAddressInUse : ListenError::kSocket;
}

}  // namespace

const char* status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
  }
}

void Exchange::text(int status, const char* fmt, ...) {
  reply.status = status;
  reply.content_type = kTextPlain;
  reply.num_pieces = 0;
  char* out = scratch + scratch_used;
  size_t cap = kScratchBytes - scratch_used;
  if (cap < 2) return;
  va_list ap;
  va_start(ap, fmt);
  out[0] = '\0';
  error::vfail(out, cap - 1, fmt, ap);  // one line of at most cap - 2 bytes, then '\n'
  va_end(ap);
  size_t len = strlen(out);
  for (size_t i = 0; i < len; ++i) {
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';  // one line, always
  }
  out[len++] = '\n';
  scratch_used += len;
  reply.add_piece(out, len);
}

char* Exchange::scratch_copy(std::string_view s) {
  if (s.size() > kScratchBytes - scratch_used) return nullptr;
  char* out = scratch + scratch_used;
  memcpy(out, s.data(), s.size());
  scratch_used += s.size();
  return out;
}

char* Exchange::answer_buffer(size_t bytes) { return server_ == nullptr ? nullptr : server_->take_answer_buffer(*this, bytes); }

char* Server::take_answer_buffer(Exchange& ex, size_t bytes) {
  drop_answer_buffer(ex);
  if (bytes == 0 || bytes > limits_.answer_buffer_bytes - big_in_use_) return nullptr;
  size_t rounded = (bytes + kPage - 1) & ~(kPage - 1);
  if (rounded > limits_.answer_buffer_bytes - big_in_use_) return nullptr;
  // Its own mapping: untouched pages cost nothing, and munmap gives every
  // touched page back the moment the reply is out.
  void* p = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  ex.big_ = static_cast<char*>(p);
  ex.big_bytes_ = rounded;
  big_in_use_ += rounded;
  return ex.big_;
}

void Server::drop_answer_buffer(Exchange& ex) {
  if (ex.big_ == nullptr) return;
  munmap(ex.big_, ex.big_bytes_);
  big_in_use_ -= ex.big_bytes_;
  ex.big_ = nullptr;
  ex.big_bytes_ = 0;
}

bool Server::init(loop::Loop* lp, Handler handler, void* handler_ctx, const Limits& limits) {
  loop_ = lp;
  handler_ = handler;
  handler_ctx_ = handler_ctx;
  limits_ = limits;
  if (limits_.max_connections == 0 || limits_.max_connections > kMaxConnections) return false;
  const size_t max = limits_.max_connections;
  buffers_bytes_ = kSlotBytes * max;
  conns_bytes_ = (sizeof(Conn) * max + 63) & ~size_t{63};
  free_bytes_ = sizeof(uint32_t) * max;
  // Reserved, not committed: a slot's pages become resident when a connection
  // first uses it, so the idle footprint is that of the few slots in use.
  void* mem = mmap(nullptr, buffers_bytes_ + conns_bytes_ + free_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  buffers_ = static_cast<char*>(mem);
  conns_ = reinterpret_cast<Conn*>(buffers_ + buffers_bytes_);
  free_slots_ = reinterpret_cast<uint32_t*>(buffers_ + buffers_bytes_ + conns_bytes_);
  // Every connection is a descriptor: make room for them and ours (listeners,
  // upstream sockets, DNS, the signalfd, log and backup files).
  constexpr rlim_t kOwnFds = 64;
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = static_cast<rlim_t>(max) + kOwnFds;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      rlimit raised = rl;
      raised.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? want : rl.rlim_max;
      if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
      LOG_WARN("the open-file limit (RLIMIT_NOFILE %llu) allows only about %llu of the %zu client connections "
               "configured; raise it (ulimit -n) or lower MAX_CLIENT_CONNECTIONS",
               static_cast<unsigned long long>(rl.rlim_cur),
               static_cast<unsigned long long>(rl.rlim_cur > kOwnFds ? rl.rlim_cur - kOwnFds : 0), max);
    }
  }
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return true;
}

// Free slots are reused LIFO so the touched slots stay few and low.
Server::Conn* Server::acquire_slot() {
  if (num_free_ > 0) return &conns_[free_slots_[--num_free_]];
  if (slots_used_ == limits_.max_connections) return nullptr;
  size_t i = slots_used_++;
  // Default-initialised: only the small fields with initialisers are written.
  Conn* c = new (&conns_[i]) Conn;
  char* base = buffers_ + i * kSlotBytes;
  c->server = this;
  c->ex.server_ = this;
  c->in = base + kInOffset;
  c->ex.scratch = base + kScratchOffset;
  c->head = base + kHeadOffset;
  c->iov = reinterpret_cast<iovec*>(base + kIovOffset);
  c->ex.reply.pieces = reinterpret_cast<Piece*>(base + kPiecesOffset);
  c->req = reinterpret_cast<hp::Request*>(base + kRequestOffset);
  return c;
}

Server::~Server() {
  for (size_t i = 0; i < slots_used_; ++i) {
    if (conns_[i].state != State::kFree) close_conn(conns_[i]);
  }
  for (int i = 0; i < num_listeners_; ++i) {
    if (loop_ != nullptr) loop_->remove_fd(listeners_[i]);
    close(listeners_[i]);
  }
  if (reserve_fd_ >= 0) close(reserve_fd_);
  if (buffers_ != nullptr) munmap(buffers_, buffers_bytes_ + conns_bytes_ + free_bytes_);
  if (loop_ != nullptr) {
    loop_->cancel_timer(sweep_);
    loop_->cancel_timer(resume_);
  }
}

ListenError Server::listen(std::string_view host, uint16_t port, char* err, size_t err_cap) {
  ListenTarget targets[2];
  int n = 0;
  ListenError le = listen_targets(host, port, targets, &n, err, err_cap);
  if (le != ListenError::kNone) return le;
  if (num_listeners_ + n > kMaxListeners) {
    error::fail(err, err_cap, "more than %d listening sockets", kMaxListeners);
    return ListenError::kBadHost;
  }
  for (int i = 0; i < n; ++i) {
    int fd = -1;
    le = open_listener(targets[i], port, &fd, err, err_cap);
    if (le != ListenError::kNone) return le;
    if (fd < 0) continue;  // optional and not available
    listeners_[num_listeners_++] = fd;
    loop_->add_fd(fd, POLLIN, &Server::on_listener, this);
  }
  return ListenError::kNone;
}

void Server::on_listener(void* ctx, int fd, short) { static_cast<Server*>(ctx)->accept_all(fd); }

void Server::reject_busy(int fd) {
  // Best effort: a short answer, then close. Never queued.
  static constexpr char kBody[] = "too many connections: close idle ones and retry\n";
  char msg[256];
  int n = snprintf(msg, sizeof msg,
                   "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                   sizeof kBody - 1, kBody);
  ssize_t r = send(fd, msg, static_cast<size_t>(n), MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)r;
  close(fd);
}

void Server::accept_all(int lfd) {
  for (;;) {
    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;  // that one left; others may be queued
      if ((errno == EMFILE || errno == ENFILE) && reserve_fd_ >= 0) {
        // Out of descriptors: free the reserve one to accept and refuse the
        // client, else the listener stays readable and we spin.
        close(reserve_fd_);
        int victim = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (victim >= 0) reject_busy(victim);
        reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
        LOG_WARN("out of file descriptors: refused a local connection");
        continue;
      }
      return;  // EAGAIN or a transient error: wait for the next readiness
    }
    if (!accepting_ || fd >= loop::kMaxFd) {
      reject_busy(fd);
      continue;
    }
    // Full table: the connection that has waited longest for its client makes
    // room (nginx drains idle keep-alive connections the same way). Silent
    // connections can then never lock other clients out; 503 only when every
    // connection has a request in progress.
    if (active_ >= limits_.max_connections && !evict_oldest_waiting()) {
      reject_busy(fd);
      continue;
    }
    Conn* c = acquire_slot();
    if (c == nullptr) {
      reject_busy(fd);
      continue;
    }
    set_nonblocking_nodelay(fd);
    c->fd = fd;
    c->generation = c->generation + 1 == 0 ? 1 : c->generation + 1;
    c->state = State::kFree;
    set_state(*c, static_cast<uint8_t>(State::kReading));
    c->scan = hp::RequestScan{};
    c->in_pos = c->in_len = 0;
    c->pending_consume = 0;
    c->body_left = 0;
    c->body_chunked = false;
    c->head_started = false;
    c->read_eof = false;
    c->close_after = false;
    c->deadline_ms = loop_->now_ms() + limits_.idle_timeout_ms;
    if (!loop_->add_fd(fd, POLLIN, &Server::on_conn, c)) {
      set_state(*c, static_cast<uint8_t>(State::kFree));
      free_slots_[num_free_++] = static_cast<uint32_t>(c - conns_);
      reject_busy(fd);
      continue;
    }
    ++active_;
    arm_sweep();
  }
}

void Server::on_conn(void* ctx, int fd, short revents) {
  Conn& c = *static_cast<Conn*>(ctx);
  if (c.state != State::kFree && c.fd == fd) c.server->conn_event(c, revents);
}

void Server::conn_event(Conn& c, short revents) {
  if (revents & (POLLERR | POLLNVAL)) {
    close_conn(c);
    return;
  }
  if (c.state == State::kLinger) {
    // Bounded per turn: a peer that keeps streaming must not hold the loop.
    char sink[4096];
    for (int reads = 0; reads < kLingerReadsPerTurn; ++reads) {
      ssize_t n = recv(c.fd, sink, sizeof sink, 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_conn(c);  // EOF or error: the client has what we sent
      return;
    }
    return;  // more next turn (the linger deadline still holds)
  }
  if (revents & (POLLIN | POLLHUP)) {
    read_some(c);
    if (c.state == State::kFree) return;
  }
  process(c);
}

void Server::read_some(Conn& c) {
  for (;;) {
    if (c.in_len == kInBufferBytes && c.in_pos > 0 && c.state == State::kReading && c.pending_consume == 0) {
      // Make room: nothing in [0, in_pos) is referenced while no request is in flight.
      memmove(c.in, c.in + c.in_pos, c.in_len - c.in_pos);
      c.in_len -= c.in_pos;
      c.in_pos = 0;
    }
    if (c.in_len == kInBufferBytes) return;  // full: interest drops until consumed
    ssize_t n = recv(c.fd, c.in + c.in_len, kInBufferBytes - c.in_len, 0);
    if (n > 0) {
      if (!c.resident) ++resident_slots_;
      c.resident = true;
      c.in_len += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      c.read_eof = true;
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    close_conn(c);
    return;
  }
}

// Discards the body of the request just answered. Returns false while more
// body bytes are still to come.
bool Server::discard_body(Conn& c) {
  if (c.body_left > 0) {
    size_t avail = c.in_len - c.in_pos;
    size_t take = avail < c.body_left ? avail : static_cast<size_t>(c.body_left);
    c.in_pos += take;
    c.body_left -= take;
    return c.body_left == 0;
  }
  if (c.body_chunked) {
    // Decoding in place overwrites only bytes at or before the cursor.
    hp::ChunkedResult r = hp::decode_chunked(c.chunked, c.in + c.in_pos, c.in_len - c.in_pos, kMaxRequestBodyBytes);
    c.body_seen += r.data_len;
    // Decoded bytes moved to the front are discarded; the consumed input is gone.
    if (r.status == hp::Status::kError || c.body_seen > kMaxRequestBodyBytes) {
      LOG_DEBUG("closing a connection: bad or oversized chunked request body");
      c.close_after = true;
      c.in_pos = c.in_len;
      c.body_chunked = false;
      return true;
    }
    // Unconsumed bytes must be passed again at the front: shift them to in_pos.
    size_t rest = (c.in_len - c.in_pos) - r.consumed;
    memmove(c.in + c.in_pos, c.in + c.in_pos + r.consumed, rest);
    c.in_len = c.in_pos + rest;
    if (r.status == hp::Status::kComplete) {
      c.body_chunked = false;
      return true;
    }
    return false;
  }
  return true;
}

void Server::process(Conn& c) {
  size_t answered = 0;  // requests dispatched in this turn
  while (c.state != State::kFree) {
    if (c.state == State::kWriting) {
      write_some(c);
      if (c.state == State::kWriting || c.state == State::kFree) break;
      continue;
    }
    if (c.state == State::kParked) break;
    // Reading: first finish discarding the previous request's body.
    if (!discard_body(c)) {
      if (c.read_eof) {
        close_conn(c);
        return;
      }
      break;
    }
    if (c.close_after) {
      linger(c);
      return;
    }
    if (c.in_pos == c.in_len) {
      c.in_pos = c.in_len = 0;
      if (c.read_eof) {
        close_conn(c);
        return;
      }
      break;
    }
    if (answered == kMaxRequestsPerTurn) {
      // This turn's share is used: the rest of the pipeline waits for the next
      // turn, after every other ready connection has had its own.
      ready_push(c);
      ++deferred_turns_;
      break;
    }
    if (!c.head_started) {
      c.head_started = true;
      c.scan = hp::RequestScan{};
      c.deadline_ms = loop_->now_ms() + limits_.header_timeout_ms;
    }
    std::string_view buf(c.in + c.in_pos, c.in_len - c.in_pos);
    const uint64_t before = c.scan.scanned;
    hp::Result r = hp::parse_request(buf, *c.req, c.scan);
    head_bytes_scanned_ += c.scan.scanned - before;
    if (r.status == hp::Status::kIncomplete) {
      if (c.read_eof) {
        close_conn(c);  // truncated request: nobody is left to answer
        return;
      }
      if (c.in_pos > 0 && c.in_len == kInBufferBytes) {
        // The scan keeps its place: its offsets are relative to the head's start.
        memmove(c.in, c.in + c.in_pos, c.in_len - c.in_pos);
        c.in_len -= c.in_pos;
        c.in_pos = 0;
        continue;
      }
      break;
    }
    ++answered;
    if (r.status == hp::Status::kError) {
      int status = hp::error_status(r.error);
      char msg[160];
      snprintf(msg, sizeof msg, "%s (at byte %zu of the request)", hp::error_message(r.error), r.error_offset);
      LOG_DEBUG("rejected a local request: %d %s", status, msg);
      c.is_head = false;
      c.pending_consume = 0;
      c.head_started = false;
      c.in_pos = c.in_len;  // the rest of the stream cannot be trusted
      reply_error(c, status, msg);
      continue;
    }
    c.head_started = false;
    c.deadline_ms = 0;
    dispatch(c, *c.req, r.consumed);
  }
  update_interest(c);
}

void Server::reply_error(Conn& c, int status, const char* message) {
  Exchange& ex = c.ex;
  ex.request = nullptr;
  ex.scratch_used = 0;
  ex.reply.reset();
  ex.parked = false;
  ex.text(status, "%s", message);
  ex.reply.close = true;
  start_write(c);
}

void Server::dispatch(Conn& c, const hp::Request& req, size_t head_len) {
  ++requests_;
  c.pending_consume = head_len;
  c.is_head = req.method_id == hp::Method::kHead;
  c.body_left = 0;
  c.body_chunked = false;
  c.body_seen = 0;
  if (req.body == hp::BodyKind::kContentLength) {
    if (req.content_length > kMaxRequestBodyBytes) {
      char msg[160];
      snprintf(msg, sizeof msg, "request body of %llu bytes is over the limit of %llu bytes; this API takes no body",
               static_cast<unsigned long long>(req.content_length),
               static_cast<unsigned long long>(kMaxRequestBodyBytes));
      c.in_pos = c.in_len;
      c.pending_consume = 0;
      reply_error(c, 413, msg);
      return;
    }
    c.body_left = req.content_length;
  } else if (req.body == hp::BodyKind::kChunked) {
    c.body_chunked = true;
    c.chunked = hp::ChunkedDecoder{};
  }
  Exchange& ex = c.ex;
  ex.request = c.req;
  ex.ref = ExchangeRef{static_cast<uint32_t>(&c - conns_), c.generation};
  ex.scratch_used = 0;
  ex.reply.reset();
  ex.parked = false;
  handler_(handler_ctx_, ex);
  if (ex.parked) {
    set_state(c, static_cast<uint8_t>(State::kParked));
    return;
  }
  if (!req.keep_alive) ex.reply.close = true;
  start_write(c);
}

Exchange* Server::parked(ExchangeRef ref) {
  if (ref.slot >= slots_used_) return nullptr;
  Conn& c = conns_[ref.slot];
  if (c.generation != ref.generation || c.state != State::kParked) return nullptr;
  return &c.ex;
}

void Server::finish(ExchangeRef ref) {
  if (parked(ref) == nullptr) return;
  Conn& c = conns_[ref.slot];
  c.ex.parked = false;
  if (!c.req->keep_alive) c.ex.reply.close = true;
  start_write(c);
  process(c);
}

// RFC 9110 §6.6.1: an origin server with a clock sends Date. Formatted once a second.
std::string_view Server::DateCache::now() {
  const time_t t = time(nullptr);
  if (t != formatted_second) {
    // IMF-fixdate by hand: strftime would link musl's locale and time-zone code (~10 KB) for the
    // one fixed, English, GMT form HTTP wants.
    static constexpr char kDays[] = "SunMonTueWedThuFriSat";
    static constexpr char kMonths[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    tm parts;
    gmtime_r(&t, &parts);
    snprintf(text, sizeof text, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", kDays + 3 * parts.tm_wday, parts.tm_mday,
             kMonths + 3 * parts.tm_mon, parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
    formatted_second = t;
  }
  return std::string_view(text);
}

void Server::start_write(Conn& c) {
  Reply& r = c.ex.reply;
  size_t body_len = 0;
  for (size_t i = 0; i < r.num_pieces; ++i) body_len += r.pieces[i].len;
  if (r.close) c.close_after = true;
  int n = snprintf(c.head, kHeadBytes, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", r.status, status_text(r.status), body_len);
  size_t len = n > 0 ? static_cast<size_t>(n) : 0;
  auto append = [&](std::string_view name, std::string_view value) {
    // Header values come from our own code or the service; CR/LF would split
    // the response, so such a header is dropped rather than sent.
    if (value.find_first_of("\r\n") != std::string_view::npos) return;
    if (len + name.size() + value.size() + 4 >= kHeadBytes - 64) return;
    memcpy(c.head + len, name.data(), name.size());
    len += name.size();
    c.head[len++] = ':';
    c.head[len++] = ' ';
    memcpy(c.head + len, value.data(), value.size());
    len += value.size();
    c.head[len++] = '\r';
    c.head[len++] = '\n';
  };
  if (!r.content_type.empty()) append("Content-Type", r.content_type);
  for (size_t i = 0; i < r.num_headers; ++i) append(r.headers[i].name, r.headers[i].value);
  append("Date", date_.now());
  if (c.close_after) append("Connection", "close");
  c.head[len++] = '\r';
  c.head[len++] = '\n';
  c.iov[0].iov_base = c.head;
  c.iov[0].iov_len = len;
  c.iov_count = 1;
  if (!c.is_head) {
    for (size_t i = 0; i < r.num_pieces; ++i) {
      c.iov[c.iov_count].iov_base = const_cast<char*>(r.pieces[i].data);
      c.iov[c.iov_count].iov_len = r.pieces[i].len;
      ++c.iov_count;
    }
  }
  c.iov_index = 0;
  set_state(c, static_cast<uint8_t>(State::kWriting));
  c.deadline_ms = loop_->now_ms() + kWriteTimeoutMs;
}

void Server::write_some(Conn& c) {
  while (c.iov_index < c.iov_count) {
    size_t cnt = c.iov_count - c.iov_index;
    if (cnt > IOV_MAX) cnt = IOV_MAX;
    ssize_t n = writev(c.fd, c.iov + c.iov_index, static_cast<int>(cnt));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      close_conn(c);
      return;
    }
    c.deadline_ms = loop_->now_ms() + kWriteTimeoutMs;
    size_t left = static_cast<size_t>(n);
    while (left > 0 && c.iov_index < c.iov_count) {
      iovec& v = c.iov[c.iov_index];
      if (left >= v.iov_len) {
        left -= v.iov_len;
        v.iov_len = 0;
        ++c.iov_index;
      } else {
        v.iov_base = static_cast<char*>(v.iov_base) + left;
        v.iov_len -= left;
        left = 0;
      }
    }
    while (c.iov_index < c.iov_count && c.iov[c.iov_index].iov_len == 0) ++c.iov_index;
  }
  finish_reply(c);
}

void Server::finish_reply(Conn& c) {
  Reply& r = c.ex.reply;
  if (r.release != nullptr) {
    r.release(r.release_ctx);
    r.release = nullptr;
  }
  drop_answer_buffer(c.ex);
  c.in_pos += c.pending_consume;
  c.pending_consume = 0;
  set_state(c, static_cast<uint8_t>(State::kReading));
  c.deadline_ms = loop_->now_ms() + limits_.idle_timeout_ms;
  c.quiet_since_ms = loop_->now_ms();
  if (c.close_after) {
    // A pending body is irrelevant now; closing is the next step either way.
    c.body_left = 0;
    c.body_chunked = false;
  }
}

void Server::update_interest(Conn& c) {
  if (c.state == State::kFree || c.state == State::kLinger) return;
  short ev = 0;
  if (!c.read_eof && c.in_len < kInBufferBytes) ev |= POLLIN;
  if (c.state == State::kWriting) ev |= POLLOUT;
  loop_->set_events(c.fd, ev);
}

void Server::linger(Conn& c) {
  if (c.read_eof) {
    close_conn(c);
    return;
  }
  shutdown(c.fd, SHUT_WR);
  set_state(c, static_cast<uint8_t>(State::kLinger));
  c.deadline_ms = loop_->now_ms() + kLingerMs;
  loop_->set_events(c.fd, POLLIN);
}

void Server::close_conn(Conn& c) {
  if (c.state == State::kFree) return;
  Reply& r = c.ex.reply;
  if (r.release != nullptr) {
    r.release(r.release_ctx);
    r.release = nullptr;
  }
  drop_answer_buffer(c.ex);
  ready_unlink(c);
  loop_->remove_fd(c.fd);
  close(c.fd);
  c.fd = -1;
  set_state(c, static_cast<uint8_t>(State::kFree));
  ++c.generation;
  --active_;
  free_slots_[num_free_++] = static_cast<uint32_t>(&c - conns_);
  // Give the pages of a connection that used a lot of input back when it goes;
  // the rest go once the slot has been quiet for a while (on_sweep).
  if (c.in_len > 8192) madvise(c.in, kInBufferBytes & ~static_cast<size_t>(4095), MADV_DONTNEED);
  c.in_pos = c.in_len = 0;
  c.quiet_since_ms = loop_->now_ms();
}

void Server::arm_sweep() {
  // Also while closed slots still hold pages to give back.
  if (!sweep_.valid() && (active_ > 0 || resident_slots_ > 0)) {
    sweep_ = loop_->add_timer(limits_.sweep_interval_ms, &Server::on_sweep, this);
    sweep_due_ms_ = loop::monotonic_ms() + limits_.sweep_interval_ms;
  }
}

void Server::on_sweep(void* ctx) {
  Server* s = static_cast<Server*>(ctx);
  s->sweep_ = loop::TimerId{};
  uint64_t now = s->loop_->now_ms();
  // Time the process did not run (a Lambda freeze) or the loop was stalled is
  // nobody's idle time: move the deadlines of connections waiting for their
  // client by it. Only such a pause moves a deadline (no refresh hook does).
  uint64_t late = now > s->sweep_due_ms_ ? now - s->sweep_due_ms_ : 0;
  const bool paused = late > kPauseCreditAfterMs;
  if (paused) {
    LOG_DEBUG("the loop did not run for %llu ms: client deadlines move by as much",
              static_cast<unsigned long long>(late));
  }
  for (size_t i = 0; i < s->slots_used_; ++i) {
    Conn& c = s->conns_[i];
    if (c.resident && now - c.quiet_since_ms >= kReleaseAfterQuietMs &&
        (c.state == State::kFree || (c.state == State::kReading && !c.head_started && c.in_pos == c.in_len &&
                                     c.body_left == 0 && !c.body_chunked))) {
      // Nothing in the slot's pages is needed any more (the next request
      // starts a new scan and a new reply): hand them back.
      madvise(s->buffers_ + i * kSlotBytes, kSlotBytes, MADV_DONTNEED);
      c.resident = false;
      --s->resident_slots_;
      c.in_pos = c.in_len = 0;
    }
    if (c.state == State::kFree || c.state == State::kParked) continue;
    if (paused && c.deadline_ms != 0) c.deadline_ms += late;
    if (c.deadline_ms == 0 || now < c.deadline_ms) continue;
    if (c.state == State::kReading && c.head_started) {
      LOG_DEBUG("closing a local connection: request head not complete within %llu ms",
                static_cast<unsigned long long>(s->limits_.header_timeout_ms));
      // 408 is a courtesy: the client may not be reading.
      static constexpr char k408[] =
          "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ssize_t r = send(c.fd, k408, sizeof k408 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)r;
    }
    s->close_conn(c);
  }
  s->arm_sweep();
}

// State changes keep the waiting list (every kReading connection, in the order
// they started waiting) exact, so eviction takes the oldest in O(1).
void Server::set_state(Conn& c, uint8_t state) {
  State next = static_cast<State>(state);
  if (c.state == State::kReading && next != State::kReading) waiting_unlink(c);
  if (c.state != State::kReading && next == State::kReading) waiting_push(c);
  c.state = next;
}

void Server::waiting_push(Conn& c) {
  uint32_t i = static_cast<uint32_t>(&c - conns_);
  c.waiting_prev = waiting_tail_;
  c.waiting_next = kNone;
  if (waiting_tail_ != kNone) conns_[waiting_tail_].waiting_next = i; else waiting_head_ = i;
  waiting_tail_ = i;
  c.waiting = true;
}

void Server::waiting_unlink(Conn& c) {
  if (!c.waiting) return;
  if (c.waiting_prev != kNone) conns_[c.waiting_prev].waiting_next = c.waiting_next; else waiting_head_ = c.waiting_next;
  if (c.waiting_next != kNone) conns_[c.waiting_next].waiting_prev = c.waiting_prev; else waiting_tail_ = c.waiting_prev;
  c.waiting_prev = c.waiting_next = kNone;
  c.waiting = false;
}

void Server::ready_push(Conn& c) {
  if (c.ready) return;
  uint32_t i = static_cast<uint32_t>(&c - conns_);
  c.ready_prev = ready_tail_;
  c.ready_next = kNone;
  c.ready_pass = resume_pass_;
  if (ready_tail_ != kNone) conns_[ready_tail_].ready_next = i; else ready_head_ = i;
  ready_tail_ = i;
  c.ready = true;
  // A zero-delay timer: it runs after this turn's other events, and one armed
  // while resuming waits for the next pass (loop.h), after a poll(2).
  if (!resume_.valid()) resume_ = loop_->add_timer(0, &Server::on_resume, this);
}

void Server::ready_unlink(Conn& c) {
  if (!c.ready) return;
  if (c.ready_prev != kNone) conns_[c.ready_prev].ready_next = c.ready_next; else ready_head_ = c.ready_next;
  if (c.ready_next != kNone) conns_[c.ready_next].ready_prev = c.ready_prev; else ready_tail_ = c.ready_prev;
  c.ready_prev = c.ready_next = kNone;
  c.ready = false;
}

void Server::on_resume(void* ctx) {
  Server* s = static_cast<Server*>(ctx);
  s->resume_ = loop::TimerId{};
  // Serve the connections queued before this pass; one that uses up its share
  // again is queued with this pass's number and waits for the next turn.
  const uint64_t pass = ++s->resume_pass_;
  while (s->ready_head_ != kNone && s->conns_[s->ready_head_].ready_pass < pass) {
    Conn& c = s->conns_[s->ready_head_];
    s->ready_unlink(c);
    if (c.state != State::kFree) s->process(c);
  }
}

bool Server::evict_oldest_waiting() {
  if (waiting_head_ == kNone) return false;
  Conn& c = conns_[waiting_head_];
  LOG_DEBUG("connection table full (%zu): closing the connection idle longest to admit a new one",
            limits_.max_connections);
  ++evictions_;
  close_conn(c);
  return true;
}

void Server::stop_accepting() {
  accepting_ = false;
  for (int i = 0; i < num_listeners_; ++i) {
    loop_->remove_fd(listeners_[i]);
    close(listeners_[i]);
  }
  num_listeners_ = 0;
  for (size_t i = 0; i < slots_used_; ++i) {
    Conn& c = conns_[i];
    if (c.state == State::kReading && c.in_pos == c.in_len) close_conn(c);
  }
}


}  // namespace appconfig::http_server
