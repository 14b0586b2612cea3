// proxy: see include/appconfig/net/proxy.h and docs/http-client.md ("Proxy").
#include "appconfig/net/proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <string.h>  // explicit_bzero

#include "appconfig/core/text.h"
#include "appconfig/net/dns_wire.h"

namespace appconfig::proxy {

namespace {

std::string_view strip_brackets(std::string_view h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}

// A port (1..65535) or a CIDR prefix length: 1 to 5 decimal digits.
bool parse_port(std::string_view s, uint16_t* out) {
  uint64_t v = 0;
  if (s.size() > 5 || !text::parse_uint(s, 65535, &v) || v == 0) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

// RFC 4648 §4 base64 with padding. out must hold 4 * ceil(n / 3) bytes.
size_t base64_encode(const unsigned char* in, size_t n, char* out) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = uint32_t{in[i]} << 16;
    if (i + 1 < n) v |= uint32_t{in[i + 1]} << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = kAlphabet[(v >> 18) & 63];
    out[o++] = kAlphabet[(v >> 12) & 63];
    out[o++] = i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return o;
}

bool prefix_equal(const uint8_t* a, const uint8_t* b, unsigned bits) {
  unsigned full = bits / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  unsigned rest = bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

// The authority after the userinfo: "host", "host:port", "[v6]" or "[v6]:port".
Error parse_host_port(std::string_view authority, Url& out) {
  std::string_view host, port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error::kBadUrl;
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return Error::kBadUrl;
      port = after.substr(1);
      if (port.empty()) return Error::kBadUrl;
    }
    dns_wire::Address a;
    if (!dns_wire::parse_ip_literal(host, a) || a.family != AF_INET6) return Error::kBadUrl;
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return Error::kBadUrl;
    }
  }
  if (!is_host_text(host) || host.find_first_of("[]") != std::string_view::npos) return Error::kBadUrl;
  if (!port.empty() && !parse_port(port, &out.port)) return Error::kBadUrl;
  out.host = host;
  return Error::kNone;
}

// One NO_PROXY entry (trimmed, port removed) against the host; host_ip is valid iff host_is_ip.
bool entry_matches(std::string_view e, std::string_view h, bool host_is_ip, const dns_wire::Address& host_ip) {
  // CIDR range (Go's NO_PROXY accepts them; curl since 7.86).
  if (size_t slash = e.find('/'); slash != std::string_view::npos) {
    dns_wire::Address net;
    uint16_t bits = 0;
    std::string_view len = e.substr(slash + 1);
    if (!host_is_ip || !dns_wire::parse_ip_literal(e.substr(0, slash), net) || net.family != host_ip.family)
      return false;
    if (len == "0") return true;
    if (!parse_port(len, &bits) || bits > (net.family == AF_INET ? 32 : 128)) return false;
    return prefix_equal(net.bytes, host_ip.bytes, bits);
  }
  dns_wire::Address ip;
  if (dns_wire::parse_ip_literal(e, ip))
    return host_is_ip && ip.family == host_ip.family &&
           std::memcmp(ip.bytes, host_ip.bytes, ip.family == AF_INET ? 4 : 16) == 0;
  if (host_is_ip) return false;  // a name entry never matches an address
  if (e.size() >= 2 && e[0] == '*' && e[1] == '.') e.remove_prefix(1);
  if (!e.empty() && e[0] == '.') e.remove_prefix(1);
  e = dns_wire::strip_trailing_dot(e);
  if (e.empty()) return false;
  if (text::iequals(h, e)) return true;
  return h.size() > e.size() && h[h.size() - e.size() - 1] == '.' && text::iends_with(h, e);
}

// RFC 7617 §2: "Basic " base64(user-id ":" password), after percent-decoding the URL's userinfo
// (RFC 3986 §3.2.1). False on a bad escape, a decoded CR/LF/NUL or over kMaxCredentialBytes.
bool encode_credentials(const Url& u, Route& r) {
  char plain[kMaxCredentialBytes];
  size_t n = 0;
  bool ok = text::percent_decode(u.user, plain, sizeof plain, &n) && n < sizeof plain;
  if (ok) plain[n++] = ':';
  ok = ok && text::percent_decode(u.password, plain, sizeof plain, &n);
  // RFC 7617 §2: the user-id cannot contain a colon; CR/LF/NUL would break the header.
  for (size_t i = 0; ok && i < n; ++i) ok = plain[i] != '\r' && plain[i] != '\n' && plain[i] != '\0';
  if (ok) {
    std::memcpy(r.auth, "Basic ", 6);
    r.auth_len = 6 + base64_encode(reinterpret_cast<const unsigned char*>(plain), n, r.auth + 6);
  }
  explicit_bzero(plain, sizeof plain);
  return ok;
}

// The extra headers: tokens and visible values, never our framing or Host, within the limits.
bool copy_headers(const Config& cfg, Route& r) {
  if (cfg.num_headers > kMaxHeaders || (cfg.num_headers > 0 && cfg.headers == nullptr)) return false;
  size_t used = 0;
  for (size_t i = 0; i < cfg.num_headers; ++i) {
    const Header& h = cfg.headers[i];
    bool ok = http_parse::is_token(h.name) && http_parse::is_visible_field_value(h.value) &&
              !text::iequals(h.name, "Host") && !text::iequals(h.name, "Content-Length") &&
              !text::iequals(h.name, "Transfer-Encoding") &&
              h.name.size() + h.value.size() <= sizeof r.header_bytes - used;
    if (!ok) return false;
    char* p = r.header_bytes + used;
    std::memcpy(p, h.name.data(), h.name.size());
    std::memcpy(p + h.name.size(), h.value.data(), h.value.size());
    r.header_spans[i] = Route::HeaderSpan{static_cast<uint16_t>(used), static_cast<uint16_t>(h.name.size()),
                                          static_cast<uint16_t>(h.value.size())};
    used += h.name.size() + h.value.size();
  }
  r.num_headers = cfg.num_headers;
  return true;
}

// The proxy part of a Config (URL, credentials, headers) into r.
Error set_proxy_url(const Config& cfg, Route& r) {
  Url u;
  Error e = parse_url(cfg.url, u);
  if (e != Error::kNone) return e;
  r.enabled = true;
  r.tls = u.tls;
  r.port = u.port;
  r.host_len = u.host.size();
  std::memcpy(r.host, u.host.data(), u.host.size());
  if (u.has_credentials && !encode_credentials(u, r)) return Error::kBadCredentials;
  if (!copy_headers(cfg, r)) return Error::kBadHeader;
  return Error::kNone;
}

}  // namespace

bool is_host_text(std::string_view s) {
  if (s.empty() || s.size() > kMaxHostBytes) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '?' || c == '#') return false;
  }
  return true;
}

const char* error_message(Error e) {
  switch (e) {
    case Error::kNone: return "no error";
    case Error::kNotInitialised: return "the HTTP client is not initialised";
    case Error::kBadUrl:
      return "is not a valid proxy URL: use http[s]://[user:password@]host[:port] (no path, query or other scheme)";
    case Error::kBadCredentials: return "has a malformed percent-escape or over-long user:password";
    case Error::kBadHeader: return "proxy headers: a name is not a token, a value has a byte outside visible ASCII (control, DEL or >= 0x80), or too many/long";
    case Error::kNoProxyTooLong: return "NO_PROXY is longer than 4096 bytes";
  }
  return "unknown proxy error";
}

Error parse_url(std::string_view url, Url& out) {
  out = Url{};
  std::string_view rest = url;
  out.port = 80;
  if (text::istarts_with(rest, "http://")) {
    rest.remove_prefix(7);
  } else if (text::istarts_with(rest, "https://")) {
    rest.remove_prefix(8);
    out.tls = true;
    out.port = 443;
  } else if (rest.find("://") != std::string_view::npos) {
    return Error::kBadUrl;  // socks5:// and friends
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (end != std::string_view::npos && rest.substr(end) != "/") return Error::kBadUrl;
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    size_t colon = userinfo.find(':');
    out.has_credentials = true;
    out.user = userinfo.substr(0, colon);
    out.password = colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
  }
  return parse_host_port(authority, out);
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host) {
  std::string_view h = dns_wire::strip_trailing_dot(strip_brackets(host));
  if (h.empty()) return false;
  dns_wire::Address host_ip;
  bool host_is_ip = dns_wire::parse_ip_literal(h, host_ip);
  while (!no_proxy.empty()) {
    size_t comma = no_proxy.find(',');
    std::string_view e = text::trim(no_proxy.substr(0, comma), text::kOws);
    no_proxy = comma == std::string_view::npos ? std::string_view() : no_proxy.substr(comma + 1);
    if (e.empty()) continue;
    if (e == "*") return true;
    // Ports are ignored: "[v6]:p", "[v6]", "name:p", "a.b.c.d:p"; a bare v6 has several colons.
    if (e[0] == '[') {
      size_t close = e.find(']');
      if (close == std::string_view::npos) continue;
      e = e.substr(1, close - 1);
    } else if (size_t c = e.find(':'); c != std::string_view::npos && e.find(':', c + 1) == std::string_view::npos) {
      e = e.substr(0, c);
    }
    if (entry_matches(e, h, host_is_ip, host_ip)) return true;
  }
  return false;
}

bool always_direct(std::string_view host) {
  std::string_view h = dns_wire::strip_trailing_dot(strip_brackets(host));
  if (text::iequals(h, "localhost") || text::iends_with(h, ".localhost")) return true;
  dns_wire::Address a;
  if (!dns_wire::parse_ip_literal(h, a)) return false;
  if (a.family == AF_INET) return a.bytes[0] == 127 || (a.bytes[0] == 169 && a.bytes[1] == 254);
  static constexpr uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(a.bytes, kLoop6, 16) == 0) return true;
  if (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80) return true;
  // IPv4-mapped loopback / link-local (::ffff:a.b.c.d).
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.bytes, kMapped, 12) == 0)
    return a.bytes[12] == 127 || (a.bytes[12] == 169 && a.bytes[13] == 254);
  return false;
}

Choice choose(const char* const* envp, std::string_view configured) {
  auto get = [envp](std::string_view name) -> std::string_view {
    for (const char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      if (kv.size() > name.size() && kv[name.size()] == '=' && kv.substr(0, name.size()) == name)
        return kv.substr(name.size() + 1);
    }
    return std::string_view();
  };
  Choice c{};
  if (!configured.empty()) {
    c.url = configured;
  } else {
    c.url = get("HTTPS_PROXY");
    if (c.url.empty()) c.url = get("https_proxy");
    c.from_environment = !c.url.empty();
  }
  c.no_proxy = get("NO_PROXY");
  if (c.no_proxy.empty()) c.no_proxy = get("no_proxy");
  return c;
}

Error Route::configure(const Config& cfg) {
  Route next{};
  Error e = cfg.url.empty() ? Error::kNone : set_proxy_url(cfg, next);
  if (e == Error::kNone && cfg.no_proxy.size() > sizeof next.no_proxy) e = Error::kNoProxyTooLong;
  if (e != Error::kNone) {
    explicit_bzero(&next, sizeof next);
    return e;
  }
  if (!cfg.no_proxy.empty()) std::memcpy(next.no_proxy, cfg.no_proxy.data(), cfg.no_proxy.size());  // data() may be null
  next.local_direct = cfg.local_always_direct;
  next.no_proxy_len = cfg.no_proxy.size();
  explicit_bzero(this, sizeof *this);
  std::memcpy(static_cast<void*>(this), &next, sizeof next);
  explicit_bzero(&next, sizeof next);
  return Error::kNone;
}

bool Route::applies_to(std::string_view h) const {
  if (!enabled) return false;
  return !(local_direct && always_direct(h)) && !no_proxy_matches(no_proxy_list(), h);
}

}  // namespace appconfig::proxy
