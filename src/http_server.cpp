#include "appconfig/http_server.h"

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
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "appconfig/log.h"

namespace appconfig::http_server {

namespace hp = http_parse;

// kLinger: our side is shut down after a reply with Connection: close; unread
// input is drained for a moment so the kernel does not answer it with a RST
// that would destroy the reply before the client reads it (RFC 9112 §9.6).
enum class State : uint8_t { kFree, kReading, kParked, kWriting, kLinger };

// How long a closing connection drains input it will never answer.
constexpr uint64_t kLingerMs = 2'000;

struct Server::Conn {
  Server* server = nullptr;
  int fd = -1;
  uint32_t generation = 0;
  State state = State::kFree;
  char* in = nullptr;  // kInBufferBytes
  size_t in_pos = 0;   // first unconsumed byte
  size_t in_len = 0;   // end of received bytes
  char* head = nullptr;  // kHeadBytes
  hp::Request req;
  Exchange ex;
  size_t pending_consume = 0;  // head bytes of the request being answered
  // Body of the request being answered, discarded once its reply is out.
  uint64_t body_left = 0;
  bool body_chunked = false;
  uint64_t body_seen = 0;
  hp::ChunkedDecoder chunked{};
  // Write state.
  iovec iov[kMaxPieces + 1];
  size_t iov_count = 0;
  size_t iov_index = 0;
  uint64_t deadline_ms = 0;  // 0: none
  bool head_started = false;
  bool read_eof = false;
  bool close_after = false;
  bool is_head = false;
};

namespace {

constexpr char kTextPlain[] = "text/plain; charset=utf-8";

void set_nonblocking_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// RFC 9110 §6.6.1: an origin server with a clock sends Date. Formatted once a second.
std::string_view http_date() {
  static char buf[40];
  static time_t last = 0;
  time_t now = time(nullptr);
  if (now != last) {
    tm t;
    gmtime_r(&now, &t);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &t);
    last = now;
  }
  return std::string_view(buf);
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
  int n = vsnprintf(out, cap - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  size_t len = static_cast<size_t>(n) < cap - 1 ? static_cast<size_t>(n) : cap - 2;
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

bool Server::init(loop::Loop* lp, Handler handler, void* handler_ctx) {
  loop_ = lp;
  handler_ = handler;
  handler_ctx_ = handler_ctx;
  const size_t per_conn = kInBufferBytes + kScratchBytes + kHeadBytes;
  buffers_bytes_ = per_conn * kMaxConnections;
  conns_bytes_ = sizeof(Conn) * kMaxConnections;
  // Reserved, not committed: a slot's pages become resident when a connection
  // first uses it, so the idle footprint is that of the few slots in use.
  void* mem = mmap(nullptr, buffers_bytes_ + conns_bytes_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return false;
  buffers_ = static_cast<char*>(mem);
  conns_ = reinterpret_cast<Conn*>(buffers_ + buffers_bytes_);
  reserve_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  return true;
}

// Free slots are reused LIFO so the touched slots stay few and low.
Server::Conn* Server::acquire_slot() {
  if (num_free_ > 0) return &conns_[free_slots_[--num_free_]];
  if (slots_used_ == kMaxConnections) return nullptr;
  size_t i = slots_used_++;
  const size_t per_conn = kInBufferBytes + kScratchBytes + kHeadBytes;
  Conn* c = new (&conns_[i]) Conn();
  char* base = buffers_ + i * per_conn;
  c->server = this;
  c->in = base;
  c->ex.scratch = base + kInBufferBytes;
  c->head = base + kInBufferBytes + kScratchBytes;
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
  if (buffers_ != nullptr) munmap(buffers_, buffers_bytes_ + conns_bytes_);
  if (loop_ != nullptr) loop_->cancel_timer(sweep_);
}

ListenError Server::listen(std::string_view host, uint16_t port, char* err, size_t err_cap) {
  struct Target {
    int family;
    sockaddr_storage addr;
    socklen_t len;
    bool optional;  // [::1] is skipped when the kernel has no IPv6
  } targets[2];
  int n = 0;
  auto add4 = [&](in_addr a, bool optional) {
    Target& t = targets[n++];
    memset(&t, 0, sizeof t);
    auto* sin = reinterpret_cast<sockaddr_in*>(&t.addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr = a;
    t.family = AF_INET;
    t.len = sizeof(sockaddr_in);
    t.optional = optional;
  };
  auto add6 = [&](in6_addr a, bool optional) {
    Target& t = targets[n++];
    memset(&t, 0, sizeof t);
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = a;
    t.family = AF_INET6;
    t.len = sizeof(sockaddr_in6);
    t.optional = optional;
  };
  if (host.empty()) {
    in_addr lo4;
    lo4.s_addr = htonl(INADDR_LOOPBACK);
    add4(lo4, false);
    add6(in6addr_loopback, true);
  } else {
    char h[64];
    if (host.size() >= sizeof h) {
      snprintf(err, err_cap, "host \"%.*s\" is too long", static_cast<int>(host.size() > 64 ? 64 : host.size()), host.data());
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
      add4(a4, false);
    } else if (inet_pton(AF_INET6, h, &a6) == 1) {
      add6(a6, false);
    } else if (strcmp(h, "all") == 0) {
      in_addr any4;
      any4.s_addr = htonl(INADDR_ANY);
      add4(any4, false);
      add6(in6addr_any, true);
    } else if (strcmp(h, "localhost") == 0) {
      in_addr lo4;
      lo4.s_addr = htonl(INADDR_LOOPBACK);
      add4(lo4, false);
      add6(in6addr_loopback, true);
    } else {
      snprintf(err, err_cap, "host \"%s\" is not an IP address (use 127.0.0.1, ::1, 0.0.0.0 or localhost)", h);
      return ListenError::kBadHost;
    }
  }
  if (num_listeners_ + n > kMaxListeners) {
    snprintf(err, err_cap, "more than %d listening sockets", kMaxListeners);
    return ListenError::kBadHost;
  }
  for (int i = 0; i < n; ++i) {
    Target& t = targets[i];
    int fd = socket(t.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      if (t.optional) continue;
      snprintf(err, err_cap, "socket(): %s", strerror(errno));
      return ListenError::kSocket;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (t.family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, reinterpret_cast<sockaddr*>(&t.addr), t.len) != 0 || ::listen(fd, 128) != 0) {
      int e = errno;
      close(fd);
      if (t.optional && e != EADDRINUSE) continue;
      char addr[64];
      if (t.family == AF_INET)
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&t.addr)->sin_addr, addr, sizeof addr);
      else
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&t.addr)->sin6_addr, addr, sizeof addr);
      snprintf(err, err_cap, "cannot listen on %s port %u: %s", addr, port, strerror(e));
      return e == EADDRINUSE ? ListenError::kAddressInUse : ListenError::kSocket;
    }
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
      if (errno == EINTR) continue;
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
    if (!accepting_ || active_ >= kMaxConnections || fd >= loop::kMaxFd) {
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
    c->state = State::kReading;
    c->in_pos = c->in_len = 0;
    c->pending_consume = 0;
    c->body_left = 0;
    c->body_chunked = false;
    c->head_started = false;
    c->read_eof = false;
    c->close_after = false;
    c->deadline_ms = loop_->now_ms() + kIdleTimeoutMs;
    if (!loop_->add_fd(fd, POLLIN, &Server::on_conn, c)) {
      c->state = State::kFree;
      free_slots_[num_free_++] = static_cast<uint16_t>(c - conns_);
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
    char sink[4096];
    for (;;) {
      ssize_t n = recv(c.fd, sink, sizeof sink, 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close_conn(c);  // EOF or error: the client has what we sent
      return;
    }
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
    if (!c.head_started) {
      c.head_started = true;
      c.deadline_ms = loop_->now_ms() + kHeaderTimeoutMs;
    }
    std::string_view buf(c.in + c.in_pos, c.in_len - c.in_pos);
    hp::Result r = hp::parse_request(buf, c.req);
    if (r.status == hp::Status::kIncomplete) {
      if (c.read_eof) {
        close_conn(c);  // truncated request: nobody is left to answer
        return;
      }
      if (c.in_pos > 0 && c.in_len == kInBufferBytes) {
        memmove(c.in, c.in + c.in_pos, c.in_len - c.in_pos);
        c.in_len -= c.in_pos;
        c.in_pos = 0;
        continue;
      }
      break;
    }
    if (r.status == hp::Status::kError) {
      int status = hp::error_status(r.error);
      char msg[160];
      snprintf(msg, sizeof msg, "%s (at byte %zu of the request)", hp::error_message(r.error), r.error_offset);
      LOG_DEBUG("rejected a local request: %d %s", status, msg);
      c.is_head = false;
      c.pending_consume = 0;
      c.in_pos = c.in_len;  // the rest of the stream cannot be trusted
      reply_error(c, status, msg);
      continue;
    }
    c.head_started = false;
    c.deadline_ms = 0;
    dispatch(c, c.req, r.consumed);
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
  ex.request = &c.req;
  ex.ref = ExchangeRef{static_cast<uint32_t>(&c - conns_), c.generation};
  ex.scratch_used = 0;
  ex.reply.reset();
  ex.parked = false;
  handler_(handler_ctx_, ex);
  if (ex.parked) {
    c.state = State::kParked;
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
  if (!c.req.keep_alive) c.ex.reply.close = true;
  start_write(c);
  process(c);
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
  append("Date", http_date());
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
  c.state = State::kWriting;
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
  c.in_pos += c.pending_consume;
  c.pending_consume = 0;
  c.state = State::kReading;
  c.deadline_ms = loop_->now_ms() + kIdleTimeoutMs;
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
  c.state = State::kLinger;
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
  loop_->remove_fd(c.fd);
  close(c.fd);
  c.fd = -1;
  c.state = State::kFree;
  ++c.generation;
  --active_;
  free_slots_[num_free_++] = static_cast<uint16_t>(&c - conns_);
  // Give the pages of a connection that used a lot of input back when it goes.
  if (c.in_len > 8192) madvise(c.in, kInBufferBytes & ~static_cast<size_t>(4095), MADV_DONTNEED);
  c.in_pos = c.in_len = 0;
}

void Server::arm_sweep() {
  if (!sweep_.valid() && active_ > 0) sweep_ = loop_->add_timer(1000, &Server::on_sweep, this);
}

void Server::on_sweep(void* ctx) {
  Server* s = static_cast<Server*>(ctx);
  s->sweep_ = loop::TimerId{};
  uint64_t now = s->loop_->now_ms();
  for (size_t i = 0; i < s->slots_used_; ++i) {
    Conn& c = s->conns_[i];
    if (c.state == State::kFree || c.state == State::kParked) continue;
    if (c.deadline_ms == 0 || now < c.deadline_ms) continue;
    if (c.state == State::kReading && c.head_started) {
      LOG_DEBUG("closing a local connection: request head not complete within %llu ms",
                static_cast<unsigned long long>(kHeaderTimeoutMs));
      // 408 is a courtesy: the client may not be reading.
      static const char k408[] =
          "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ssize_t r = send(c.fd, k408, sizeof k408 - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      (void)r;
    }
    s->close_conn(c);
  }
  s->arm_sweep();
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

void Server::touch_idle() {
  uint64_t now = loop_->now_ms();
  for (size_t i = 0; i < slots_used_; ++i) {
    Conn& c = conns_[i];
    if (c.state == State::kReading && !c.head_started) c.deadline_ms = now + kIdleTimeoutMs;
  }
}

}  // namespace appconfig::http_server
