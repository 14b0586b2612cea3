// endpoints: where AppConfig Data and STS live for the configured region and switches.
//
// Owns: the AWS partition table (DNS suffixes, from the SDKs' partitions.json), the endpoint
// rules of the AppConfig Data and STS SDK rule sets (FIPS, dual-stack, the GovCloud FIPS
// exception), the endpoint-override variables and their precedence, and URL parsing for them.
// Knows nothing of sockets, DNS, TLS or credentials: it only computes names. Pure functions, no
// allocation, no global state. docs/credentials.md ("Endpoints") has the full table.
//
// Lifetimes: Endpoint is a value type holding copies (fixed arrays); nothing points into the
// Settings or the URL text afterwards, except the target view of parse_url_target(), which points
// into the URL passed in (or at a static "/").
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/core/settings.h"

namespace appconfig::endpoints {

// Host names: RFC 1035 §2.3.4 allows 253 characters of text; with IPv6 brackets 255 fits all.
constexpr size_t kMaxHostBytes = 255;
// Region names: the settings module accepts up to 32 bytes (they become one DNS label).
constexpr size_t kMaxRegionBytes = 32;
// Path prefix of an override URL (e.g. a LocalStack or proxy mount point); real ones are short.
constexpr size_t kMaxBasePathBytes = 127;

struct Endpoint {
  char host[kMaxHostBytes + 1];  // lower-case; IPv6 literals keep their brackets ("[::1]")
  uint16_t port;                 // explicit or the scheme default (443 / 80)
  bool tls;                      // https
  char region[kMaxRegionBytes + 1];       // signing region (SigV4 credential scope)
  char base_path[kMaxBasePathBytes + 1];  // override URL path without trailing '/', usually ""
};

// AppConfig Data endpoint. Order: AWS_ENDPOINT_URL_APPCONFIGDATA, else AWS_ENDPOINT_URL, else
// https://appconfigdata[-fips].{region}.{suffix} where suffix is the partition's DNS suffix
// (amazonaws.com, amazonaws.com.cn for cn-*, ...) or, with dual-stack, its dual-stack suffix
// (api.aws, api.amazonwebservices.com.cn for cn-*, ...). GovCloud with FIPS and without
// dual-stack uses the plain name appconfigdata.{region}.amazonaws.com (spec §4; SDK rule set).
// Region: Settings::service_region (AWS_APPCONFIG_EXTENSION_SERVICE_REGION, else AWS_REGION).
// Errors (false, one line in err): no region; an override URL together with
// AWS_USE_FIPS_ENDPOINT or AWS_USE_DUALSTACK_ENDPOINT (the SDK rule sets refuse the mix); an
// override URL that does not parse.
bool appconfigdata(const settings::Settings& s, Endpoint& out, char* err, size_t cap);

// STS endpoint, regional (the SDKs' default since 2022; no legacy global sts.amazonaws.com):
// AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL, else https://sts[-fips].{region}.{suffix} with the
// same FIPS / dual-stack / GovCloud rules as above. Region as for appconfigdata().
bool sts(const settings::Settings& s, Endpoint& out, char* err, size_t cap);

// http(s)://host[:port][/path] -> host, port (default 80/443), tls, base_path (trailing '/'
// removed). Scheme case-insensitive. Rejected: other schemes, userinfo ("user@"), an empty host,
// a bad or zero port, a query or fragment, spaces or control bytes, a host or path over the
// limits above. out.region is set to "" (the caller fills it).
bool parse_url(std::string_view url, Endpoint& out, char* err, size_t cap);

// As parse_url() but a query is allowed and the whole origin-form target ("/path?query", "/" when
// the URL has no path) is returned as a view into `url` (or the static "/" when the URL has no
// path); out.base_path is left "". Used for the
// container credentials URI. Fragments are still rejected.
bool parse_url_target(std::string_view url, Endpoint& out, std::string_view* target, char* err, size_t cap);

// The Host header value for `ep`: "host" when the port is the scheme default, else "host:port".
// Returns the length written (NUL-terminated), or 0 when it does not fit in cap.
size_t host_header(const Endpoint& ep, char* out, size_t cap);

}  // namespace appconfig::endpoints
