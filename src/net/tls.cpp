// tls — see include/appconfig/net/tls.h. mbedTLS 3.6 glue: one client configuration, a lazily parsed trust
// store, a fixed heap, and non-blocking BIO callbacks on the caller's fd.
#include "appconfig/net/tls.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appconfig/core/error.h"
#include "appconfig/core/sysfile.h"

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/net_sockets.h"  // MBEDTLS_ERR_NET_* codes only; net_sockets.c is not built
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#include "psa/crypto.h"

namespace appconfig::tls {
namespace {

static_assert(sizeof(mbedtls_ssl_context) <= 512, "grow Session::kContextBytes");
static_assert(alignof(mbedtls_ssl_context) <= 16, "Session::ssl_storage_ alignment too small");

// Longest path we keep for CA files (PATH_MAX on Linux).
constexpr size_t kMaxPathBytes = 4096;

// The default bundle locations, in the order the AWS SDKs and curl probe them: Amazon Linux / RHEL first
// (Lambda's base images), then Debian/Ubuntu/Alpine, then BSD/macOS-style.
constexpr const char* kDefaultCaPaths[] = {
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
};

// TLS 1.3 key-share preference (RFC 8446 4.2.7): x25519 first (fastest, what AWS endpoints pick), then the
// NIST curves for servers that only do those. P-384 is kept for FIPS endpoints.
const uint16_t kGroups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

// signature_algorithms (RFC 8446 4.2.3). Known mbedTLS 3.6.6 bug: the client offers rsa_pss_rsae_* (needed
// for TLS 1.3 with RSA certificates) even when TLS 1.2 ends up negotiated, then refuses a TLS 1.2
// ServerKeyExchange signed with them (-0x6600 ILLEGAL_PARAMETER; Mbed-TLS/mbedtls#10668, fixed upstream by
// PR #10672 after 3.6.6). So a TLS-1.2-only server with an RSA certificate that picks PSS (OpenSSL does)
// fails; TLS 1.3 servers and ECDSA servers are unaffected. PKCS#1 is listed before PSS so that servers which
// honour the client's order pick PKCS#1 in TLS 1.2 (TLS 1.3 forbids it in CertificateVerify). For servers
// that do not, the failing host is remembered and its next connections use conf12: TLS 1.2 only, no PSS
// offered (see Global::pss_fallback_hosts).
const uint16_t kSigAlgs[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA512,
    MBEDTLS_TLS1_3_SIG_NONE,
};
const uint16_t kSigAlgsTls12NoPss[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,
    MBEDTLS_TLS1_3_SIG_NONE,
};

// Hosts that hit the TLS 1.2 RSA-PSS bug above. A handful of TLS-1.2-only endpoints at most (HTTPS
// proxies, private endpoints); when full, the oldest entry is overwritten.
constexpr size_t kMaxPssFallbackHosts = 8;

alignas(16) unsigned char g_heap[kHeapBytes];

struct Global {
  bool initialized = false;
  bool ca_loaded = false;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;    // TLS 1.2..1.3, the normal case
  mbedtls_ssl_config conf12;  // TLS 1.2 only, no RSA-PSS offered: hosts in pss_fallback_hosts
  char pss_fallback_hosts[kMaxPssFallbackHosts][kMaxHostBytes + 1] = {};
  size_t pss_fallback_next = 0;
  mbedtls_x509_crt ca;
  uint64_t ca_parse_cost_us = 0;
  size_t ca_count = 0;
  size_t ca_load_count = 0;
  bool has_extra_ca = false;
  char extra_ca_path[kMaxPathBytes] = {};
  bool has_test_ca = false;
  char test_ca_path[kMaxPathBytes] = {};
};
Global g;

// err's mbedTLS code (0 if none) and its message, formatted by error::vfail. Returns false, so a
// failing function can `return set_error(...)`.
bool set_error(Error& err, int code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
bool set_error(Error& err, int code, const char* fmt, ...) {
  err.mbedtls_code = code;
  va_list ap;
  va_start(ap, fmt);
  error::vfail(err.message, sizeof err.message, fmt, ap);
  va_end(ap);
  return false;
}

uint64_t now_us() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

bool copy_path(char (&dst)[kMaxPathBytes], const char* src) {
  size_t len = strlen(src);
  if (len >= kMaxPathBytes) return false;
  memcpy(dst, src, len + 1);
  return true;
}

void drop_trust_store() {
  if (!g.initialized) return;
  if (g.ca_loaded) {
    mbedtls_x509_crt_free(&g.ca);
    mbedtls_x509_crt_init(&g.ca);
    mbedtls_ssl_conf_ca_chain(&g.conf, nullptr, nullptr);
    mbedtls_ssl_conf_ca_chain(&g.conf12, nullptr, nullptr);
  }
  g.ca_loaded = false;
  g.ca_count = 0;
}

enum class FileResult : uint8_t { kOk, kMissing, kError };

// Reads path into a malloc'd, NUL-terminated buffer (start-up only: the first connect) and parses every
// certificate in it into g.ca. Roots mbedTLS cannot parse (unknown algorithm, malformed) are skipped, as
// OpenSSL does; a file with no usable certificate at all is an error.
FileResult parse_ca_file(const char* path, Error& err) {
  // O_NONBLOCK: a FIFO named as the bundle must not block the loop (refused below by S_ISREG).
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return FileResult::kMissing;
    set_error(err, 0, "cannot open CA bundle %s: %s", path, strerror(errno));
    return FileResult::kError;
  }
  struct stat st{};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
      size_t(st.st_size) > kMaxCaFileBytes) {
    close(fd);
    set_error(err, 0, "CA bundle %s is not a regular file of 1..%zu bytes", path, kMaxCaFileBytes);
    return FileResult::kError;
  }
  size_t size = size_t(st.st_size);
  auto* buf = static_cast<unsigned char*>(malloc(size + 1));
  if (buf == nullptr) {
    close(fd);
    set_error(err, 0, "out of memory reading CA bundle %s", path);
    return FileResult::kError;
  }
  size_t got = 0;
  sysfile::read_full(fd, buf, size, &got);  // an error or an early end: got != size below
  close(fd);
  if (got != size) {
    free(buf);
    set_error(err, 0, "short read on CA bundle %s", path);
    return FileResult::kError;
  }
  buf[size] = '\0';
  size_t before = 0;
  for (const mbedtls_x509_crt* c = &g.ca; c != nullptr && c->raw.len != 0; c = c->next) ++before;
  // mbedtls_x509_crt_parse takes PEM only when the length includes the terminating NUL; DER otherwise.
  bool pem = strstr(reinterpret_cast<const char*>(buf), "-----BEGIN CERTIFICATE-----") != nullptr;
  int ret = mbedtls_x509_crt_parse(&g.ca, buf, pem ? size + 1 : size);
  free(buf);
  size_t after = 0;
  for (const mbedtls_x509_crt* c = &g.ca; c != nullptr && c->raw.len != 0; c = c->next) ++after;
  if (ret < 0 || after == before) {
    set_error(err, ret < 0 ? ret : 0, "CA bundle %s holds no usable certificate (mbedTLS -0x%04x)", path,
              unsigned(ret < 0 ? -ret : 0));
    return FileResult::kError;
  }
  return FileResult::kOk;
}

bool load_trust_store(Error& err) {
  if (g.ca_loaded) return true;
  uint64_t start_us = now_us();
  mbedtls_x509_crt_free(&g.ca);
  mbedtls_x509_crt_init(&g.ca);
  bool found_default = false;
  if (g.has_test_ca) {
    FileResult r = parse_ca_file(g.test_ca_path, err);
    if (r == FileResult::kError) return false;
    found_default = r == FileResult::kOk;
  } else {
    for (const char* path : kDefaultCaPaths) {
      FileResult r = parse_ca_file(path, err);
      if (r == FileResult::kError) return false;
      if (r == FileResult::kOk) {
        found_default = true;
        break;
      }
    }
  }
  if (g.has_extra_ca) {
    FileResult r = parse_ca_file(g.extra_ca_path, err);
    if (r == FileResult::kMissing) {
      return set_error(err, 0, "CA bundle %s (AWS_CA_BUNDLE) does not exist", g.extra_ca_path);
    }
    if (r == FileResult::kError) return false;
  } else if (!found_default) {
    return set_error(err, 0, "no CA bundle found (tried %s, %s, %s); set AWS_CA_BUNDLE",
                     g.has_test_ca ? g.test_ca_path : kDefaultCaPaths[0], kDefaultCaPaths[1], kDefaultCaPaths[2]);
  }
  size_t count = 0;
  for (const mbedtls_x509_crt* c = &g.ca; c != nullptr && c->raw.len != 0; c = c->next) ++count;
  mbedtls_ssl_conf_ca_chain(&g.conf, &g.ca, nullptr);
  mbedtls_ssl_conf_ca_chain(&g.conf12, &g.ca, nullptr);
  g.ca_count = count;
  g.ca_loaded = true;
  ++g.ca_load_count;
  g.ca_parse_cost_us = now_us() - start_us;
  return true;
}

// Words a failed certificate verification. Order matters when several flags are set: trust first (an
// untrusted chain's dates and names mean nothing), then validity dates, then the name.
void describe_verify_failure(uint32_t flags, const char* host, Error& err, int code) {
  if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
    set_error(err, code, "certificate for %s is signed by an untrusted CA", host);
  } else if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
    set_error(err, code, "certificate for %s expired", host);
  } else if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
    set_error(err, code, "certificate for %s is not valid yet (check the clock)", host);
  } else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
    set_error(err, code, "hostname mismatch: the server's certificate is not valid for %s", host);
  } else if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY)) {
    set_error(err, code, "certificate for %s uses a weak or unsupported signature or key", host);
  } else if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE)) {
    set_error(err, code, "certificate for %s is not valid for TLS server authentication", host);
  } else {
    set_error(err, code, "certificate for %s failed verification (flags 0x%x)", host, unsigned(flags));
  }
}

bool in_pss_fallback(const char* host) {
  for (const auto& h : g.pss_fallback_hosts) {
    if (strcmp(h, host) == 0) return true;
  }
  return false;
}

void add_pss_fallback(const char* host) {
  if (in_pss_fallback(host)) return;
  char* slot = g.pss_fallback_hosts[g.pss_fallback_next];
  g.pss_fallback_next = (g.pss_fallback_next + 1) % kMaxPssFallbackHosts;
  snprintf(slot, kMaxHostBytes + 1, "%s", host);
}

void remove_pss_fallback(const char* host) {
  for (auto& h : g.pss_fallback_hosts) {
    if (strcmp(h, host) == 0) h[0] = '\0';
  }
}

int configure(mbedtls_ssl_config& conf, uint16_t max_version, const uint16_t* sig_algs) {
  mbedtls_ssl_config_init(&conf);
  int ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return ret;
  mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);  // never optional, never none
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &g.drbg);
  mbedtls_ssl_conf_min_tls_version(&conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(&conf, mbedtls_ssl_protocol_version(max_version));
  mbedtls_ssl_conf_groups(&conf, kGroups);
  mbedtls_ssl_conf_sig_algs(&conf, sig_algs);
  return 0;
}

}  // namespace

// Friend of Session: the BIO callbacks and helpers reach its private state through here.
struct SessionAccess {
  static mbedtls_ssl_context* ssl(Session& s) { return reinterpret_cast<mbedtls_ssl_context*>(s.ssl_storage_); }
  static const mbedtls_ssl_context* ssl(const Session& s) {
    return reinterpret_cast<const mbedtls_ssl_context*>(s.ssl_storage_);
  }

  // TLS inside TLS: this session's records are the outer session's plaintext.
  static int outer_result(Session& s, Io r, size_t n, const Error& e, bool sending) {
    switch (r) {
      case Io::kOk: return int(n);
      case Io::kWantRead: return MBEDTLS_ERR_SSL_WANT_READ;
      case Io::kWantWrite: return MBEDTLS_ERR_SSL_WANT_WRITE;
      case Io::kClosed:
        if (!sending) {
          s.eof_seen_ = true;
          return 0;  // mbedTLS turns this into MBEDTLS_ERR_SSL_CONN_EOF
        }
        return MBEDTLS_ERR_NET_CONN_RESET;
      case Io::kError: break;
    }
    s.last_errno_ = EPROTO;
    (void)e;
    return sending ? MBEDTLS_ERR_NET_SEND_FAILED : MBEDTLS_ERR_NET_RECV_FAILED;
  }

  static int send_cb(void* ctx, const unsigned char* buf, size_t len) {
    auto& s = *static_cast<Session*>(ctx);
    if (s.outer_ != nullptr) {
      Error e{};
      size_t n = 0;
      Io r = s.outer_->write(reinterpret_cast<const char*>(buf), len, &n, e);
      // The outer session may accept part of the bytes and then block: report what it took.
      if ((r == Io::kWantWrite || r == Io::kWantRead) && n > 0) return int(n);
      return outer_result(s, r, n, e, true);
    }
    for (;;) {
      // MSG_NOSIGNAL: a peer reset must come back as EPIPE, not kill the process with SIGPIPE.
      ssize_t n = ::send(s.fd_, buf, len, MSG_NOSIGNAL);
      if (n >= 0) return int(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_WRITE;
      s.last_errno_ = errno;
      return (errno == EPIPE || errno == ECONNRESET) ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_SEND_FAILED;
    }
  }

  static int recv_cb(void* ctx, unsigned char* buf, size_t len) {
    auto& s = *static_cast<Session*>(ctx);
    if (s.outer_ != nullptr) {
      Error e{};
      size_t n = 0;
      Io r = s.outer_->read(reinterpret_cast<char*>(buf), len, &n, e);
      return outer_result(s, r, n, e, false);
    }
    for (;;) {
      ssize_t n = ::recv(s.fd_, buf, len, 0);
      if (n > 0) return int(n);
      if (n == 0) {
        s.eof_seen_ = true;
        return 0;  // mbedTLS turns this into MBEDTLS_ERR_SSL_CONN_EOF
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return MBEDTLS_ERR_SSL_WANT_READ;
      s.last_errno_ = errno;
      return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
    }
  }

  static void describe(Session& s, int ret, Error& err) {
    const char* host = s.host_;
    switch (ret) {
      case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
        describe_verify_failure(mbedtls_ssl_get_verify_result(ssl(s)), host, err, ret);
        return;
      case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
        set_error(err, ret, "%s sent a fatal TLS alert (no common version, cipher suite or group?)", host);
        return;
      case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
        set_error(err, ret, "%s does not speak TLS 1.2 or 1.3", host);
        return;
      case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
        set_error(err, ret, "TLS handshake with %s failed: no common cipher suite, group or signature algorithm",
                  host);
        return;
      case MBEDTLS_ERR_SSL_CONN_EOF:
        set_error(err, ret, "%s closed the connection %s", host,
                  s.handshake_done_ ? "without close_notify" : "during the TLS handshake");
        return;
      case MBEDTLS_ERR_NET_CONN_RESET:
        set_error(err, ret, "connection to %s reset by peer", host);
        return;
      case MBEDTLS_ERR_NET_SEND_FAILED:
      case MBEDTLS_ERR_NET_RECV_FAILED:
        set_error(err, ret, "socket error talking to %s: %s", host, strerror(s.last_errno_));
        return;
      case MBEDTLS_ERR_SSL_ALLOC_FAILED:
      case MBEDTLS_ERR_X509_ALLOC_FAILED:
      case MBEDTLS_ERR_PK_ALLOC_FAILED:
      case MBEDTLS_ERR_MPI_ALLOC_FAILED:
        set_error(err, ret, "TLS to %s: mbedTLS heap (%zu bytes) exhausted", host, kHeapBytes);
        return;
      case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
        if (mbedtls_ssl_get_version_number(ssl(s)) == MBEDTLS_SSL_VERSION_TLS1_2 && !s.tls12_only_) {
          add_pss_fallback(host);
          set_error(err, ret,
                    "%s chose RSA-PSS in TLS 1.2 (unsupported by mbedTLS 3.6.6); retrying will use TLS 1.2 "
                    "without PSS",
                    host);
          return;
        }
        set_error(err, ret, "%s sent an illegal TLS parameter", host);
        return;
      case MBEDTLS_ERR_SSL_INVALID_RECORD:
      case MBEDTLS_ERR_SSL_DECODE_ERROR:
      case MBEDTLS_ERR_SSL_INVALID_MAC:
      case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
      case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
        set_error(err, ret, "%s sent malformed or unexpected TLS data (-0x%04x)", host, unsigned(-ret));
        return;
      default:
        set_error(err, ret, "TLS error with %s: mbedTLS -0x%04x", host, unsigned(ret < 0 ? -ret : ret));
        return;
    }
  }
};

bool global_init(Error& err) {
  if (g.initialized) return true;
  // Every mbedTLS allocation (PSA keys, certificates, record buffers) comes from g_heap from here on.
  mbedtls_memory_buffer_alloc_init(g_heap, sizeof g_heap);
  psa_status_t ps = psa_crypto_init();  // TLS 1.3 key schedule and ECDHE run through PSA in 3.6
  if (ps != PSA_SUCCESS) {
    set_error(err, int(ps), "psa_crypto_init failed (%d)", int(ps));
    return false;
  }
  mbedtls_entropy_init(&g.entropy);
  mbedtls_ctr_drbg_init(&g.drbg);
  mbedtls_x509_crt_init(&g.ca);
  static constexpr unsigned char kPersonalization[] = "appconfig-extension tls";
  int ret = mbedtls_ctr_drbg_seed(&g.drbg, mbedtls_entropy_func, &g.entropy, kPersonalization,
                                  sizeof kPersonalization - 1);
  if (ret != 0) {
    set_error(err, ret, "seeding the TLS random generator failed (-0x%04x)", unsigned(-ret));
    return false;
  }
  ret = configure(g.conf, MBEDTLS_SSL_VERSION_TLS1_3, kSigAlgs);
  if (ret == 0) ret = configure(g.conf12, MBEDTLS_SSL_VERSION_TLS1_2, kSigAlgsTls12NoPss);
  if (ret != 0) {
    set_error(err, ret, "mbedtls_ssl_config_defaults failed (-0x%04x)", unsigned(-ret));
    return false;
  }
  g.initialized = true;
  return true;
}

void set_extra_ca_file(const char* path_or_null) {
  g.has_extra_ca = path_or_null != nullptr && path_or_null[0] != '\0' && copy_path(g.extra_ca_path, path_or_null);
  drop_trust_store();
}

void set_ca_search_path_for_tests(const char* path_or_null) {
  g.has_test_ca = path_or_null != nullptr && path_or_null[0] != '\0' && copy_path(g.test_ca_path, path_or_null);
  drop_trust_store();
}

bool Session::start(int fd, const char* sni_host, Error& err) {
  reset();
  if (!g.initialized) {
    set_error(err, 0, "tls::global_init was not called");
    return false;
  }
  if (fd < 0 || sni_host == nullptr || sni_host[0] == '\0') {
    set_error(err, 0, "TLS start needs a socket and a server name");
    return false;
  }
  size_t host_len = strlen(sni_host);
  if (host_len > kMaxHostBytes) {
    set_error(err, 0, "server name longer than %zu bytes", kMaxHostBytes);
    return false;
  }
  memcpy(host_, sni_host, host_len + 1);
  if (!load_trust_store(err)) return false;

  mbedtls_ssl_context* ssl = SessionAccess::ssl(*this);
  mbedtls_ssl_init(ssl);
  started_ = true;  // from here on reset() must free the context
  fd_ = fd;
  tls12_only_ = in_pss_fallback(host_);
  int ret = mbedtls_ssl_setup(ssl, tls12_only_ ? &g.conf12 : &g.conf);
  if (ret == 0) ret = mbedtls_ssl_set_hostname(ssl, host_);  // SNI (RFC 6066 3) and the name verified
  if (ret != 0) {
    SessionAccess::describe(*this, ret, err);
    reset();
    return false;
  }
  mbedtls_ssl_set_bio(ssl, this, SessionAccess::send_cb, SessionAccess::recv_cb, nullptr);
  return true;
}

bool Session::start_over(Session* outer, const char* sni_host, Error& err) {
  if (outer == nullptr || outer == this || !outer->handshake_done_) {
    set_error(err, 0, "TLS inside TLS needs an established outer session");
    return false;
  }
  // start() needs an fd only to check it; the BIO below never touches it.
  if (!start(outer->fd_ >= 0 ? outer->fd_ : 0, sni_host, err)) return false;
  fd_ = -1;
  outer_ = outer;
  return true;
}

Io Session::handshake(Error& err) {
  if (!started_) {
    set_error(err, 0, "TLS handshake on a session that was not started");
    return Io::kError;
  }
  if (handshake_done_) return Io::kOk;
  int ret = mbedtls_ssl_handshake(SessionAccess::ssl(*this));
  if (ret == 0) {
    handshake_done_ = true;
    return Io::kOk;
  }
  if (ret == MBEDTLS_ERR_SSL_WANT_READ) return Io::kWantRead;
  if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) return Io::kWantWrite;
  SessionAccess::describe(*this, ret, err);
  // A fallback handshake that fails for a reason other than the certificate means the server changed
  // (e.g. now TLS 1.3 only): forget the fallback so the next attempt uses the normal configuration.
  if (tls12_only_ && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) remove_pss_fallback(host_);
  return Io::kError;
}

Io Session::read(char* buf, size_t cap, size_t* n, Error& err) {
  *n = 0;
  if (!handshake_done_) {
    set_error(err, 0, "TLS read before the handshake completed");
    return Io::kError;
  }
  if (cap == 0) return Io::kOk;  // mbedtls_ssl_read(len 0) would be indistinguishable from EOF
  mbedtls_ssl_context* ssl = SessionAccess::ssl(*this);
  // A record that carried no application data (a TLS 1.3 NewSessionTicket, which we ignore) yields
  // WANT_READ even when more records are already buffered; retry while mbedTLS has unread input, since
  // poll() will not wake us for bytes that left the socket already. Bounded: each pass consumes a record.
  constexpr int kMaxEmptyRecordPasses = 64;
  for (int pass = 0; pass < kMaxEmptyRecordPasses; ++pass) {
    int ret = mbedtls_ssl_read(ssl, reinterpret_cast<unsigned char*>(buf), cap);
    if (ret > 0) {
      *n = size_t(ret);
      return Io::kOk;
    }
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      set_error(err, 0, "%s closed the TLS connection", host_);
      return Io::kClosed;
    }
    if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
      set_error(err, MBEDTLS_ERR_SSL_CONN_EOF, "%s closed the connection without close_notify", host_);
      return Io::kClosed;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
      if (mbedtls_ssl_check_pending(ssl)) continue;
      return Io::kWantRead;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) return Io::kWantWrite;
    SessionAccess::describe(*this, ret, err);
    return Io::kError;
  }
  return Io::kWantRead;
}

Io Session::write(const char* buf, size_t len, size_t* n, Error& err) {
  *n = 0;
  if (!handshake_done_) {
    set_error(err, 0, "TLS write before the handshake completed");
    return Io::kError;
  }
  mbedtls_ssl_context* ssl = SessionAccess::ssl(*this);
  size_t done = 0;
  while (done < len) {
    int ret = mbedtls_ssl_write(ssl, reinterpret_cast<const unsigned char*>(buf + done), len - done);
    if (ret > 0) {
      done += size_t(ret);
      continue;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
      *n = done;
      if (done > 0) return Io::kOk;  // the caller retries the rest, which then reports the readiness
      return ret == MBEDTLS_ERR_SSL_WANT_WRITE ? Io::kWantWrite : Io::kWantRead;
    }
    *n = done;
    SessionAccess::describe(*this, ret, err);
    return Io::kError;
  }
  *n = done;
  return Io::kOk;
}

void Session::close_notify() {
  if (started_ && handshake_done_) (void)mbedtls_ssl_close_notify(SessionAccess::ssl(*this));
}

void Session::reset() {
  if (started_) mbedtls_ssl_free(SessionAccess::ssl(*this));
  started_ = false;
  handshake_done_ = false;
  eof_seen_ = false;
  last_errno_ = 0;
  fd_ = -1;
  outer_ = nullptr;
}

const char* Session::protocol_version() const {
  if (!handshake_done_) return "unknown";
  return mbedtls_ssl_get_version(SessionAccess::ssl(*this));
}

void clear_tls12_fallback_for_tests() {
  for (auto& h : g.pss_fallback_hosts) h[0] = '\0';
}

uint64_t ca_parse_cost_us() { return g.ca_parse_cost_us; }
size_t ca_count() { return g.ca_count; }
size_t ca_load_count() { return g.ca_load_count; }

size_t heap_high_water_bytes() {
  size_t max_used = 0, max_blocks = 0;
  mbedtls_memory_buffer_alloc_max_get(&max_used, &max_blocks);
  return max_used;
}

size_t heap_in_use_bytes() {
  size_t cur_used = 0, cur_blocks = 0;
  mbedtls_memory_buffer_alloc_cur_get(&cur_used, &cur_blocks);
  return cur_used;
}

}  // namespace appconfig::tls
