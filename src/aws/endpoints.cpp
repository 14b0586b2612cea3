// endpoints: see include/appconfig/aws/endpoints.h. The rules are those of the SDK endpoint rule
// sets for AppConfig Data and STS (smithy "endpointRuleSet" in the AWS SDK service models) over
// the partition table of the SDKs' partitions.json.
#include "appconfig/aws/endpoints.h"

#include <cstdio>
#include <cstring>

#include "appconfig/core/error.h"
#include "appconfig/core/text.h"

namespace appconfig::endpoints {
namespace {

struct Partition {
  const char* name;               // partitions.json "id"
  const char* prefix;             // region regex ^{prefix}\w+-\d+$
  const char* global_region;      // the explicit "aws-...-global" pseudo region
  const char* dns_suffix;
  const char* dualstack_suffix;
};

// partitions.json (all partitions support FIPS and dual-stack there). The "aws" partition is
// last: it is the fallback for any region no other partition claims, as aws.partition() does.
constexpr Partition kPartitions[] = {
    {"aws-cn", "cn-", "aws-cn-global", "amazonaws.com.cn", "api.amazonwebservices.com.cn"},
    {"aws-us-gov", "us-gov-", "aws-us-gov-global", "amazonaws.com", "api.aws"},
    {"aws-iso", "us-iso-", "aws-iso-global", "c2s.ic.gov", "api.aws.ic.gov"},
    {"aws-iso-b", "us-isob-", "aws-iso-b-global", "sc2s.sgov.gov", "api.aws.scloud"},
    {"aws-iso-e", "eu-isoe-", "aws-iso-e-global", "cloud.adc-e.uk", "api.cloud-aws.adc-e.uk"},
    {"aws-iso-f", "us-isof-", "aws-iso-f-global", "csp.hci.ic.gov", "api.aws.hci.ic.gov"},
    {"aws-eusc", "eusc-de-", "aws-eusc-global", "amazonaws.eu", "api.amazonwebservices.eu"},
    {"aws", "", "aws-global", "amazonaws.com", "api.aws"},
};
constexpr size_t kNumPartitions = sizeof kPartitions / sizeof kPartitions[0];

// \w of the partition regexes (and of host names we accept): letters, digits, '_'.
bool is_word(char c) { return text::is_alnum(c) || c == '_'; }

// Matches the tail of a partition regex, \w+-\d+$ .
bool word_dash_digits(std::string_view s) {
  size_t dash = s.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == s.size()) return false;
  for (size_t i = 0; i < dash; ++i)
    if (!is_word(s[i])) return false;
  for (size_t i = dash + 1; i < s.size(); ++i)
    if (!text::is_digit(s[i])) return false;
  return true;
}

const Partition& partition_of(std::string_view region) {
  // Explicit region names first, then the regexes, then the aws default (aws.partition order).
  for (const Partition& p : kPartitions)
    if (region == p.global_region) return p;
  for (size_t i = 0; i + 1 < kNumPartitions; ++i) {
    std::string_view prefix = kPartitions[i].prefix;
    if (region.substr(0, prefix.size()) == prefix && word_dash_digits(region.substr(prefix.size())))
      return kPartitions[i];
  }
  return kPartitions[kNumPartitions - 1];
}

bool copy_region(const settings::Settings& s, Endpoint& out, char* err, size_t cap) {
  if (s.service_region.empty()) {
    return error::fail(
        err, cap, "no AWS region: set AWS_APPCONFIG_EXTENSION_SERVICE_REGION or AWS_REGION (Lambda sets AWS_REGION)");
  }
  if (s.service_region.size() > kMaxRegionBytes) {
    return error::fail(err, cap, "AWS region is longer than %zu characters", kMaxRegionBytes);
  }
  memcpy(out.region, s.service_region.data(), s.service_region.size());
  out.region[s.service_region.size()] = '\0';
  return true;
}

// service: "appconfigdata" or "sts"; specific: the per-service override variable.
bool resolve(const settings::Settings& s, const char* service, std::string_view specific,
             const char* specific_name, Endpoint& out, char* err, size_t cap) {
  Endpoint ep{};
  if (!copy_region(s, ep, err, cap)) return false;
  std::string_view url = specific;
  const char* var = specific_name;
  if (url.empty()) {
    url = s.endpoint_url;
    var = "AWS_ENDPOINT_URL";
  }
  if (!url.empty()) {
    // The SDK rule sets refuse a custom endpoint with FIPS or dual-stack rather than silently
    // dropping one of the two requests.
    if (s.use_fips_endpoint || s.use_dualstack_endpoint) {
      return error::fail(err, cap,
                         "%s is set together with %s=true: a custom endpoint cannot be FIPS or dual-stack; unset one",
                         var, s.use_fips_endpoint ? "AWS_USE_FIPS_ENDPOINT" : "AWS_USE_DUALSTACK_ENDPOINT");
    }
    char why[160];
    if (!parse_url(url, ep, why, sizeof why)) {
      return error::fail(err, cap, "%s is not usable: %s", var, why);
    }
    if (!copy_region(s, ep, err, cap)) return false;
    out = ep;
    return true;
  }
  const Partition& p = partition_of(s.service_region);
  const bool gov = std::strcmp(p.name, "aws-us-gov") == 0;
  const bool fips_label = s.use_fips_endpoint && !(gov && !s.use_dualstack_endpoint);
  const char* suffix = s.use_dualstack_endpoint ? p.dualstack_suffix : p.dns_suffix;
  int n = snprintf(ep.host, sizeof ep.host, "%s%s.%s.%s", service, fips_label ? "-fips" : "", ep.region, suffix);
  if (n < 0 || static_cast<size_t>(n) >= sizeof ep.host) {
    return error::fail(err, cap, "endpoint host name for region %s is too long", ep.region);
  }
  ep.port = 443;
  ep.tls = true;
  ep.base_path[0] = '\0';
  out = ep;
  return true;
}

// An http(s) URL cut into views: the scheme, the authority's host and port text, "/path?query".
struct UrlParts {
  bool tls = false;
  std::string_view host, port_text, path_query;
};

// authority = "[" IPv6 "]" [":" port] / reg-name [":" port] (RFC 3986 §3.2); no user information.
bool split_authority(std::string_view authority, UrlParts& u, char* err, size_t cap) {
  if (authority.find('@') != std::string_view::npos) {
    return error::fail(err, cap, "URL must not contain user information (user@)");
  }
  u.host = authority;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return error::fail(err, cap, "URL has a malformed IPv6 literal");
    for (char c : authority.substr(1, close - 1)) {
      if (!(text::hex_value(c) >= 0 || c == ':' || c == '.')) {
        return error::fail(err, cap, "URL has a malformed IPv6 literal");
      }
    }
    u.host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (after.empty()) return true;
    if (after.front() != ':') return error::fail(err, cap, "URL has junk after the IPv6 literal");
    u.port_text = after.substr(1);
    if (u.port_text.empty()) return error::fail(err, cap, "URL has an empty port");
    return true;
  }
  size_t colon = authority.find(':');
  if (colon != std::string_view::npos) {
    u.host = authority.substr(0, colon);
    u.port_text = authority.substr(colon + 1);
    if (u.port_text.empty()) return error::fail(err, cap, "URL has an empty port");
  }
  if (u.host.empty()) return error::fail(err, cap, "URL has no host");
  for (char c : u.host) {
    if (!(is_word(c) || c == '-' || c == '.')) {
      return error::fail(err, cap, "URL host has a character outside letters, digits, '-', '.', '_'");
    }
  }
  return true;
}

// scheme "://" authority [path] ["?" query], no spaces or control bytes, no fragment.
bool split_url(std::string_view url, UrlParts& u, char* err, size_t cap) {
  for (char c : url) {
    auto b = static_cast<unsigned char>(c);
    if (b <= 0x20 || b == 0x7f) return error::fail(err, cap, "URL contains a space or control character");
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return error::fail(err, cap, "URL must start with http:// or https://");
  std::string_view scheme = url.substr(0, sep);
  if (text::iequals(scheme, "https")) {
    u.tls = true;
  } else if (text::iequals(scheme, "http")) {
    u.tls = false;
  } else {
    return error::fail(err, cap, "URL scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) return error::fail(err, cap, "URL must not have a fragment");
  size_t path_at = rest.find_first_of("/?");
  u.path_query = path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
  return split_authority(rest.substr(0, path_at), u, err, cap);
}

// ep's host (lower-cased), tls and port (the scheme's default when the URL names none).
bool set_host_port(const UrlParts& u, Endpoint& ep, char* err, size_t cap) {
  if (u.host.size() > kMaxHostBytes) {
    return error::fail(err, cap, "URL host is longer than %zu characters", kMaxHostBytes);
  }
  for (size_t i = 0; i < u.host.size(); ++i) ep.host[i] = text::lower(u.host[i]);
  ep.host[u.host.size()] = '\0';
  ep.tls = u.tls;
  ep.port = ep.tls ? 443 : 80;
  if (!u.port_text.empty()) {
    uint64_t v = 0;
    if (u.port_text.size() > 5 || !text::parse_uint(u.port_text, 65535, &v) || v == 0) {
      return error::fail(err, cap, "URL port must be a number from 1 to 65535");
    }
    ep.port = static_cast<uint16_t>(v);
  }
  return true;
}

// With target: the origin-form target ("/" when the URL has no path). Without: ep's base path
// (trailing '/' removed; a query is refused).
bool set_path(std::string_view path_query, std::string_view* target, Endpoint& ep, char* err, size_t cap) {
  if (target != nullptr) {
    *target = path_query.empty() ? std::string_view("/") : path_query;
    // "http://h?x" -> the origin-form target needs a path (RFC 9112 §3.2.1).
    if (target->front() == '?') return error::fail(err, cap, "URL has a query without a path");
    return true;
  }
  if (path_query.find('?') != std::string_view::npos) return error::fail(err, cap, "URL must not have a query");
  std::string_view path = path_query;
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.size() > kMaxBasePathBytes) {
    return error::fail(err, cap, "URL path is longer than %zu characters", kMaxBasePathBytes);
  }
  if (!path.empty()) memcpy(ep.base_path, path.data(), path.size());
  ep.base_path[path.size()] = '\0';
  return true;
}

// out is written only on success.
bool parse_impl(std::string_view url, Endpoint& out, std::string_view* target, char* err, size_t cap) {
  UrlParts u;
  Endpoint ep{};
  if (!split_url(url, u, err, cap) || !set_host_port(u, ep, err, cap) || !set_path(u.path_query, target, ep, err, cap))
    return false;
  out = ep;
  return true;
}

}  // namespace

bool appconfigdata(const settings::Settings& s, Endpoint& out, char* err, size_t cap) {
  return resolve(s, "appconfigdata", s.endpoint_url_appconfigdata, "AWS_ENDPOINT_URL_APPCONFIGDATA", out, err, cap);
}

bool sts(const settings::Settings& s, Endpoint& out, char* err, size_t cap) {
  return resolve(s, "sts", s.endpoint_url_sts, "AWS_ENDPOINT_URL_STS", out, err, cap);
}

bool parse_url(std::string_view url, Endpoint& out, char* err, size_t cap) {
  return parse_impl(url, out, nullptr, err, cap);
}

bool parse_url_target(std::string_view url, Endpoint& out, std::string_view* target, char* err, size_t cap) {
  std::string_view t;
  if (!parse_impl(url, out, &t, err, cap)) return false;
  if (target != nullptr) *target = t;
  return true;
}

size_t host_header(const Endpoint& ep, char* out, size_t cap) {
  if (out == nullptr || cap == 0) return 0;
  const bool default_port = ep.port == (ep.tls ? 443 : 80);
  int n = default_port ? snprintf(out, cap, "%s", ep.host) : snprintf(out, cap, "%s:%u", ep.host, ep.port);
  if (n < 0 || static_cast<size_t>(n) >= cap) {
    out[0] = '\0';
    return 0;
  }
  return static_cast<size_t>(n);
}

}  // namespace appconfig::endpoints
