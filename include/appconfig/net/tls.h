// tls: TLS 1.2/1.3 client sessions over caller-owned non-blocking sockets (mbedTLS 3.6).
//
// Owns: the single mbedTLS client configuration (verification REQUIRED, TLS 1.2 minimum, 1.3 preferred,
// groups x25519/P-256/P-384), the DRBG, the trust store (parsed lazily on the first Session::start, then
// kept for the life of the process), and a fixed heap for every mbedTLS allocation (a static arena of
// kHeapBytes handed to memory_buffer_alloc; nothing in mbedTLS ever calls malloc).
// Does not know: HTTP, DNS, the event loop, timeouts. WANT_READ / WANT_WRITE come back as Io statuses that the
// caller turns into poll interest; the caller owns (opens, polls, closes) the file descriptor.
// Lifetimes: a Session refers to its fd and to the global configuration; it must not outlive either, and
// must not be moved or copied once started (mbedTLS keeps a pointer to it for its I/O callbacks).
// Error::message is a self-contained copy; no returned value points into tls-owned memory.
// Single-threaded, like the rest of the program.
#pragma once

#include <cstddef>
#include <cstdint>

namespace appconfig::tls {

// mbedTLS heap. Sized for the trust store (Debian's 144-root bundle parses to 426 KiB of certificates and
// public keys, measured) plus kMaxConcurrentSessions established sessions (~29 KiB each, measured: 16 KiB
// record input + 4 KiB output + the peer chain) and one handshake in flight (~35 KiB peak), with ~50%
// headroom for bigger bundles and AWS_CA_BUNDLE extras. Lives in .bss: no binary size, and only the
// touched pages cost RSS.
constexpr size_t kMaxConcurrentSessions = 8;  // AppConfig data plane, STS, credentials, plus headroom
constexpr size_t kHeapBytes = 1536 * 1024;

// Longest CA bundle file we read (Debian's ca-certificates.crt is ~220 KiB; RHEL's ca-bundle.crt ~230 KiB).
// A bigger file is refused rather than truncated (a truncated PEM would silently drop roots).
constexpr size_t kMaxCaFileBytes = 4 * 1024 * 1024;

// Longest server name we accept (RFC 1035 2.3.4: 253 characters for a DNS name, plus the dot).
constexpr size_t kMaxHostBytes = 255;

enum class Io : uint8_t {
  kOk,         // progress was made (see *n)
  kWantRead,   // call again once the fd is readable
  kWantWrite,  // call again once the fd is writable
  kClosed,     // the peer closed the connection (close_notify or EOF; see Session::read)
  kError,      // fatal for this session: err is filled; reset() before reuse
};

// mbedtls_code is the raw mbedTLS (negative) return code, 0 when the error is ours (e.g. no CA bundle).
// message names the host and the problem, e.g. "certificate for example.com expired".
struct Error {
  int mbedtls_code;
  char message[160];
};

// Once, at start-up, before anything else here. Cheap: sets up the heap, PSA, the DRBG (reads ~48 bytes
// from getrandom) and the configuration; it does not parse any certificate. Calling it again is a no-op.
bool global_init(Error& err);

// Extra trust anchors (AWS_CA_BUNDLE): a PEM or DER file parsed *in addition to* the default bundle, whose
// search order is /etc/pki/tls/certs/ca-bundle.crt, /etc/ssl/certs/ca-certificates.crt, /etc/ssl/cert.pem
// (the first that exists). An unreadable extra file fails every start() with a message naming it.
// Both setters drop an already-loaded trust store (it reloads on the next start()); call them only
// while no session is mid-handshake. The path is copied.
void set_extra_ca_file(const char* path_or_null);
void set_ca_search_path_for_tests(const char* path_or_null);  // replaces the default list with one file

class Session {
 public:
  Session() = default;
  ~Session() { reset(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Binds the session to a connected (or connecting) non-blocking fd and the server name used for SNI and
  // for the certificate hostname check (a DNS name or an IP literal). Loads the trust store on first use.
  // Does no I/O. On false, the session is left reset.
  bool start(int fd, const char* sni_host, Error& err);
  // As start(), but the records travel inside `outer` (an established session, e.g. to an https://
  // proxy that tunnels with CONNECT) instead of a socket: TLS inside TLS, through mbedTLS's BIO
  // callbacks, no thread. outer's WantRead / WantWrite become this session's, so the caller still
  // polls the one fd. outer must outlive this session (reset this one first).
  bool start_over(Session* outer, const char* sni_host, Error& err);

  // Drives the handshake. kOk once it is complete; kWantRead/kWantWrite: call again on readiness.
  Io handshake(Error& err);

  // Reads up to cap decrypted bytes. kOk with *n > 0; kClosed when the peer sent close_notify (err code 0)
  // or closed TCP without it (err.mbedtls_code = MBEDTLS_ERR_SSL_CONN_EOF: a possible truncation the
  // caller judges, e.g. against Content-Length). mbedTLS may hold decrypted bytes that poll() will not
  // report: after kOk keep calling read() until it returns kWantRead.
  Io read(char* buf, size_t cap, size_t* n, Error& err);

  // Writes up to len bytes; *n says how many were consumed (several records may go out in one call).
  // kOk with *n < len: call again with the rest. kWantWrite (or kWantRead) with *n == 0: call again with
  // the SAME bytes once ready — mbedTLS may already hold them encrypted and only needs to flush.
  Io write(const char* buf, size_t len, size_t* n, Error& err);

  // Best-effort close_notify alert (one non-blocking attempt; RFC 8446 6.1). Does not close the fd.
  void close_notify();

  // Frees this session's mbedTLS memory (record buffers, handshake state, peer chain). The global
  // configuration and trust store stay. Safe to call repeatedly; the session can then start() again.
  void reset();

  bool started() const { return started_; }
  bool handshake_done() const { return handshake_done_; }
  // "TLSv1.3" / "TLSv1.2" after the handshake, "unknown" before.
  const char* protocol_version() const;

 private:
  friend struct SessionAccess;
  // Opaque storage for mbedtls_ssl_context (keeps mbedTLS headers out of this header); size checked by a
  // static_assert in tls.cpp.
  static constexpr size_t kContextBytes = 512;
  alignas(16) unsigned char ssl_storage_[kContextBytes] = {};
  int fd_ = -1;
  Session* outer_ = nullptr;  // set by start_over(): records go through it instead of fd_
  bool started_ = false;
  bool handshake_done_ = false;
  bool eof_seen_ = false;  // the BIO saw recv() == 0
  bool tls12_only_ = false;  // started with the TLS-1.2-without-PSS fallback configuration (see tls.cpp)
  int last_errno_ = 0;     // errno of the last failed send/recv, for messages
  char host_[kMaxHostBytes + 1] = {};
};

// Forgets the hosts that were switched to the TLS-1.2-without-RSA-PSS fallback (see tls.cpp, kSigAlgs).
void clear_tls12_fallback_for_tests();

// Microseconds spent reading and parsing the trust store (0 until the first start()).
uint64_t ca_parse_cost_us();
// Number of trust anchors loaded (0 until the first start()). Roots mbedTLS cannot parse are skipped.
size_t ca_count();
// How many times the trust store has been parsed (tests: stays 1 across connections).
size_t ca_load_count();
// Peak bytes in use on the mbedTLS heap since global_init (payload bytes, allocator headers excluded).
size_t heap_high_water_bytes();
// Bytes in use on the mbedTLS heap now (tests: a reset() session returns its memory).
size_t heap_in_use_bytes();

}  // namespace appconfig::tls
