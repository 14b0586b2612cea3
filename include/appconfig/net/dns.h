// dns: the non-blocking stub resolver that runs inside the poll loop.
//
// Owns: /etc/hosts lookups (re-read when its mtime changes, stat at most once
// per second), the nameservers and options of /etc/resolv.conf (read once at
// init), one connected UDP socket per lookup in flight (random source port,
// random ids from getrandom), TCP fallback on TC=1, retries across servers and
// attempts, and a small TTL cache (positive and negative answers).
// Knows nothing of HTTP: the http_client plugs in through client_hook(). All
// packet building/checking is module dns_wire's; nothing here parses bytes.
// Single-threaded: everything runs inside loop callbacks; nothing blocks.
//
// Lifetimes:
//  - resolve() copies the host name; the caller's string may die at once.
//  - The addresses and error text passed to a Callback are valid only during
//    the call; copy what you keep.
//  - A Callback is never called from inside resolve() or cancel(); it always
//    comes from the loop, exactly once, unless cancel() came first. Inside it
//    any Resolver method may be called.
//  - Destroy the Resolver before its Loop (and after every Client hooked to
//    it); pending callbacks are then dropped.
//
// Behaviour, limits and error texts: docs/dns.md.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/net/dns_wire.h"
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"

namespace appconfig::dns {

// Lookups in flight at once (each holds one UDP socket, and up to two TCP
// sockets while falling back). The agent resolves a handful of endpoints.
constexpr size_t kMaxQueries = 16;
// Names remembered (positive and negative): the agent talks to < 8 hosts.
constexpr size_t kCacheEntries = 32;
// TTL clamp for positive answers: TTL 0 would mean one query per request; an
// hour bounds how long a moved endpoint keeps being used.
constexpr uint32_t kMinTtlS = 1, kMaxTtlS = 3600;
// NXDOMAIN / no-address answers are remembered this long (RFC 2308 allows the
// SOA minimum; we do not read it and keep a short fixed time instead).
constexpr uint32_t kNegativeTtlS = 5;
// /etc/hosts is stat()ed at most this often.
constexpr uint64_t kHostsStatIntervalMs = 1000;
// Larger hosts files are cut here (only names past this point are lost).
constexpr size_t kMaxHostsFileBytes = 1024 * 1024;
// A DNS-over-TCP reply is bounded by its 2-byte length prefix (RFC 7766 §8);
// buffers for it are reserved (not committed) at init.
constexpr size_t kMaxTcpReplyBytes = 65535;
// Clients that can be hooked at once (one per http_client::Client).
constexpr size_t kMaxHooks = 4;
// The error text handed to a Callback: host (<= 253) plus up to three servers.
constexpr size_t kMaxErrorBytes = 512;
// Paths given to init() (PATH_MAX on Linux).
constexpr size_t kMaxPathBytes = 4096;

// addrs/n: IPv4 and IPv6 addresses (A answers first, then AAAA, each in packet
// order; hosts-file order for /etc/hosts). error is null on success; otherwise
// n == 0 and error names the host and the servers tried.
using Callback = void (*)(void* ctx, const dns_wire::Address* addrs, size_t n, const char* error);

class Resolver {
 public:
  Resolver() = default;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  ~Resolver();

  // Reads resolv.conf (missing file -> 127.0.0.1:53, as resolv.conf(5) says)
  // and hosts (missing file -> no entries). false: out of memory only.
  bool init(loop::Loop* lp, const char* hosts_path = "/etc/hosts", const char* resolv_conf_path = "/etc/resolv.conf");

  // Starts a lookup. Returns an id for cancel(), or 0 when kMaxQueries lookups
  // are already in flight (then no callback comes). An invalid name completes
  // with an error through the callback like any other failure.
  uint64_t resolve(std::string_view host, Callback cb, void* ctx);
  // The callback is not called afterwards; unknown or finished ids are ignored.
  void cancel(uint64_t id);

  // For http_client::Client::set_resolver(): lookups complete with
  // client->resolved(token, ...); a failure passes our error text (host and
  // servers tried), which becomes the request's error detail.
  http_client::Resolver client_hook(http_client::Client* client);

  // Observability for tests.
  size_t in_flight() const;
  uint64_t queries_sent() const { return queries_sent_; }  // UDP + TCP questions written

 private:
  struct Query;
  struct Sub;
  struct CacheEntry;
  struct Hook {
    Resolver* owner;
    http_client::Client* client;
  };

  static void on_fd(void* ctx, int fd, short revents);
  static void on_timer(void* ctx);
  static bool hook_start(void* ctx, std::string_view host, uint64_t token);
  static void hook_cancel(void* ctx, uint64_t token);

  uint64_t start(std::string_view host, Callback cb, void* ctx, int hook, uint64_t token);
  Query* begin(std::string_view host, Callback cb, void* ctx, int hook, uint64_t token);
  void refresh_hosts();
  bool lookup_cache(Query& q);
  void store_cache(const Query& q, bool negative, uint32_t ttl_s);
  void defer(Query& q);
  void next_try(Query& q, const char* why);
  bool start_try(Query& q);
  void on_udp(Query& q);
  void accept_reply(Query& q, int which, dns_wire::ParseError e, bool over_tcp);
  void start_tcp(Query& q, int which);
  void on_tcp(Query& q, int which, short revents);
  void maybe_finish(Query& q);
  void fail_all(Query& q, const char* summary);
  void close_sockets(Query& q);
  void finish(Query& q);
  void release(Query& q);
  bool random_id(uint16_t& out);

  loop::Loop* loop_ = nullptr;
  dns_wire::ResolvConf conf_{};
  Query* queries_ = nullptr;     // kMaxQueries, inside arena_
  CacheEntry* cache_ = nullptr;  // kCacheEntries, inside arena_
  char* hosts_ = nullptr;        // kMaxHostsFileBytes, inside arena_
  uint8_t* tcp_bufs_ = nullptr;  // 2 * kMaxQueries * (kMaxTcpReplyBytes + 2), inside arena_
  uint8_t* udp_buf_ = nullptr;   // dns_wire::kMaxPacketBytes, inside arena_
  void* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  size_t hosts_len_ = 0;
  char* hosts_path_ = nullptr;   // copied at init (kMaxPathBytes), inside arena_
  uint64_t hosts_checked_ms_ = 0;
  int64_t hosts_mtime_ns_ = -1;
  uint64_t hosts_ino_ = 0;
  int64_t hosts_size_ = -1;
  uint64_t next_id_ = 1;
  bool in_start_ = false;        // inside resolve()/hook start: completions must be deferred
  uint64_t queries_sent_ = 0;
  uint8_t random_[256]{};        // getrandom() output, consumed two bytes per id
  size_t random_used_ = sizeof random_;
  Hook hooks_[kMaxHooks]{};
};

}  // namespace appconfig::dns
