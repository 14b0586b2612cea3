// proxy: which upstream requests go through an HTTP(S) proxy, and what the proxy is told.
//
// Owns: proxy URL parsing ([http[s]://][user[:password]@]host[:port][/], RFC 3986 §3.2), the
// Basic credentials made from the URL's userinfo (percent-decoded, RFC 7617, base64), checking
// and copying the extra proxy headers, the choice between our setting and HTTPS_PROXY /
// https_proxy, NO_PROXY / no_proxy reading and matching (names, domain suffixes, IP literals,
// CIDR ranges), and the hosts that always go direct (loopback, link-local, localhost).
// Knows nothing of sockets, connections, the CONNECT exchange, TLS or request serialisation:
// http_client keeps a Route and asks it where a host goes and what goes on the proxy's requests.
// Pure: no allocation, no I/O, no environment access beyond the envp it is handed.
//
// Lifetimes: Url and Choice hold views into the text they were made from. Route copies all it
// keeps (Route::configure's Config views may die when it returns); a Route holds a password in
// its Proxy-Authorization value, so its owner wipes it (explicit_bzero) when done.
//
// Behaviour and limits: docs/http-client.md ("Proxy").
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/net/http_parse.h"

namespace appconfig::proxy {

// Host names as given (RFC 1035 §2.3.4: 253 text characters, plus brackets).
constexpr size_t kMaxHostBytes = 255;
// Extra proxy headers: as many as settings accepts (settings::kMaxProxyHeaders).
constexpr size_t kMaxHeaders = 16;
// Bytes of those headers (names + values) copied by Route::configure; real ones are a token or two.
constexpr size_t kMaxHeaderBytes = 4096;
// Decoded "user:password" for Basic auth (RFC 7617); longer is a misconfiguration.
constexpr size_t kMaxCredentialBytes = 512;
// NO_PROXY text copied by Route::configure (a few dozen host names).
constexpr size_t kMaxNoProxyBytes = 4096;
// "Basic " + base64 of the decoded credentials (with room to spare).
constexpr size_t kMaxAuthorizationBytes = 16 + (kMaxCredentialBytes + 2) / 3 * 4;

// A host as a URL authority or an endpoint may hold it: 1..kMaxHostBytes visible ASCII bytes,
// none of '/', '@', '?', '#'.
bool is_host_text(std::string_view s);

// A proxy URL taken apart; views into the URL text (percent-encoded as given).
struct Url {
  bool tls;                         // https://: TLS to the proxy itself
  std::string_view host;            // name or IP literal, IPv6 without brackets
  uint16_t port;                    // default: 80 for http://, 443 for https://
  bool has_credentials;             // user[:password]@ present
  std::string_view user, password;  // still percent-encoded
};

enum class Error : uint8_t {
  kNone,
  kNotInitialised,  // http_client::Client::set_proxy() before init()
  kBadUrl,          // not [http[s]://][user[:password]@]host[:port][/]
  kBadCredentials,  // bad percent-encoding, or longer than kMaxCredentialBytes
  kBadHeader,       // an extra header name is not a token / value has CR, LF, NUL / too many / too long
  kNoProxyTooLong,  // NO_PROXY over kMaxNoProxyBytes
};
// One sentence, never containing the URL (it may carry a password). Never null.
const char* error_message(Error e);

// Parses "http://[user[:password]@]host[:port][/]" (scheme case-insensitive; no scheme means
// http://, as curl does; https:// parses with tls = true).
Error parse_url(std::string_view url, Url& out);

// NO_PROXY matching (curl/Go conventions): comma-separated entries, blanks trimmed,
// case-insensitive; "*" matches everything; "example.com", ".example.com" and "*.example.com"
// all match example.com and its subdomains; IP literals match exactly (by value: "::1" =
// "0::1"); a.b.c.d/n and v6/n CIDR ranges match IP literal hosts; ":port" suffixes are ignored.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

// Hosts a proxy cannot reach in this sandbox: loopback and link-local IP literals (the Runtime
// API, 169.254.170.2 container credentials, fe80::/10, also IPv4-mapped), "localhost" and
// *.localhost.
bool always_direct(std::string_view host);

// Which proxy applies: `configured` (AWS_APPCONFIG_EXTENSION_PROXY_URL, from settings) if
// non-empty, else HTTPS_PROXY, else https_proxy (all our AWS traffic is HTTPS, so HTTP_PROXY is
// not read). NO_PROXY, else no_proxy, is honoured in both cases. Empty values count as unset.
// Views point into envp.
struct Choice {
  std::string_view url;  // "" = no proxy
  std::string_view no_proxy;
  bool from_environment;  // url came from HTTPS_PROXY / https_proxy
};
Choice choose(const char* const* envp, std::string_view configured);

using Header = http_parse::Header;

struct Config {
  std::string_view url;             // "" turns proxying off
  const Header* headers = nullptr;  // extra headers for the proxy (on CONNECT, and on
  size_t num_headers = 0;           // absolute-form plain-HTTP requests)
  std::string_view no_proxy;        // NO_PROXY syntax, see no_proxy_matches()
  // Loopback / link-local literals and localhost never use the proxy. Tests
  // turn this off to tunnel to a local peer; production never should.
  bool local_always_direct = true;
};

// The proxy settings a client keeps: everything copied, credentials already encoded. Plain data
// (copyable with memcpy; header texts are kept as offsets into header_bytes).
struct Route {
  struct HeaderSpan {
    uint16_t offset, name_len, value_len;  // name then value, in header_bytes
  };
  bool enabled = false;
  bool tls = false;  // https:// proxy: TLS to it first
  bool local_direct = true;
  uint16_t port = 0;
  size_t host_len = 0;
  char host[kMaxHostBytes + 1] = {};  // NUL-terminated
  size_t auth_len = 0;                // "Basic <base64>" (RFC 7617), or 0
  char auth[kMaxAuthorizationBytes] = {};
  HeaderSpan header_spans[kMaxHeaders] = {};
  size_t num_headers = 0;
  char header_bytes[kMaxHeaderBytes] = {};
  size_t no_proxy_len = 0;
  char no_proxy[kMaxNoProxyBytes] = {};

  // Replaces this route with cfg (an empty url turns proxying off, NO_PROXY is still kept). On
  // error the route is unchanged and nothing secret is left behind on the stack.
  Error configure(const Config& cfg);
  // True when requests to `host` go through the proxy: enabled, not always_direct (unless
  // local_direct is off) and not matched by NO_PROXY.
  bool applies_to(std::string_view host) const;

  std::string_view name() const { return std::string_view(host, host_len); }
  std::string_view no_proxy_list() const { return std::string_view(no_proxy, no_proxy_len); }
  // The Proxy-Authorization value, or "" without credentials.
  std::string_view authorization() const { return std::string_view(auth, auth_len); }
  Header header(size_t i) const {
    const HeaderSpan& h = header_spans[i];
    return Header{std::string_view(header_bytes + h.offset, h.name_len),
                  std::string_view(header_bytes + h.offset + h.name_len, h.value_len)};
  }
};

}  // namespace appconfig::proxy
