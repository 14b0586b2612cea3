// endpoints_test — endpoint names for every partition / FIPS / dual-stack combination, the
// GovCloud FIPS exception, override precedence, URL parsing edge cases. Settings are built with
// settings::load() from an environment array, as main() does, so the variable names are real.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/aws/endpoints.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace endpoints = appconfig::endpoints;
namespace settings = appconfig::settings;

namespace {

settings::Settings g_settings;

// Loads settings from "NAME=value" strings; fails the test on a settings error.
const settings::Settings& load(std::vector<std::string> vars) {
  std::vector<const char*> envp;
  static std::vector<std::string> keep;  // the Settings views point into these
  keep = std::move(vars);
  for (auto& v : keep) envp.push_back(v.c_str());
  envp.push_back(nullptr);
  settings::Error err{};
  EXPECT_TRUE(settings::load(envp.data(), g_settings, err)) << err.message;
  return g_settings;
}

std::string url_of(const endpoints::Endpoint& ep) {
  char hh[300];
  EXPECT_GT(endpoints::host_header(ep, hh, sizeof hh), 0u);
  return std::string(ep.tls ? "https://" : "http://") + hh + ep.base_path;
}

struct Case {
  const char* region;
  bool fips, dualstack;
  const char* appconfigdata;
  const char* sts;
};

// Expected names follow the SDK rule sets (aws-sdk-js-v3 clients/client-appconfigdata and
// client-sts endpoint/ruleset.ts) over partitions.json.
const Case kCases[] = {
    {"us-east-1", false, false, "https://appconfigdata.us-east-1.amazonaws.com", "https://sts.us-east-1.amazonaws.com"},
    {"eu-west-1", true, false, "https://appconfigdata-fips.eu-west-1.amazonaws.com",
     "https://sts-fips.eu-west-1.amazonaws.com"},
    {"ap-southeast-5", false, true, "https://appconfigdata.ap-southeast-5.api.aws", "https://sts.ap-southeast-5.api.aws"},
    {"us-west-2", true, true, "https://appconfigdata-fips.us-west-2.api.aws", "https://sts-fips.us-west-2.api.aws"},
    {"cn-north-1", false, false, "https://appconfigdata.cn-north-1.amazonaws.com.cn",
     "https://sts.cn-north-1.amazonaws.com.cn"},
    {"cn-northwest-1", true, false, "https://appconfigdata-fips.cn-northwest-1.amazonaws.com.cn",
     "https://sts-fips.cn-northwest-1.amazonaws.com.cn"},
    {"cn-northwest-1", false, true, "https://appconfigdata.cn-northwest-1.api.amazonwebservices.com.cn",
     "https://sts.cn-northwest-1.api.amazonwebservices.com.cn"},
    {"cn-north-1", true, true, "https://appconfigdata-fips.cn-north-1.api.amazonwebservices.com.cn",
     "https://sts-fips.cn-north-1.api.amazonwebservices.com.cn"},
    // GovCloud: FIPS alone uses the plain name (the regional endpoint is FIPS-validated).
    {"us-gov-west-1", false, false, "https://appconfigdata.us-gov-west-1.amazonaws.com",
     "https://sts.us-gov-west-1.amazonaws.com"},
    {"us-gov-west-1", true, false, "https://appconfigdata.us-gov-west-1.amazonaws.com",
     "https://sts.us-gov-west-1.amazonaws.com"},
    {"us-gov-east-1", false, true, "https://appconfigdata.us-gov-east-1.api.aws", "https://sts.us-gov-east-1.api.aws"},
    {"us-gov-east-1", true, true, "https://appconfigdata-fips.us-gov-east-1.api.aws",
     "https://sts-fips.us-gov-east-1.api.aws"},
    {"us-iso-east-1", false, false, "https://appconfigdata.us-iso-east-1.c2s.ic.gov", "https://sts.us-iso-east-1.c2s.ic.gov"},
    {"us-iso-east-1", true, true, "https://appconfigdata-fips.us-iso-east-1.api.aws.ic.gov",
     "https://sts-fips.us-iso-east-1.api.aws.ic.gov"},
    {"us-isob-east-1", true, false, "https://appconfigdata-fips.us-isob-east-1.sc2s.sgov.gov",
     "https://sts-fips.us-isob-east-1.sc2s.sgov.gov"},
    {"eu-isoe-west-1", false, false, "https://appconfigdata.eu-isoe-west-1.cloud.adc-e.uk",
     "https://sts.eu-isoe-west-1.cloud.adc-e.uk"},
    {"us-isof-south-1", false, true, "https://appconfigdata.us-isof-south-1.api.aws.hci.ic.gov",
     "https://sts.us-isof-south-1.api.aws.hci.ic.gov"},
    {"eusc-de-east-1", false, false, "https://appconfigdata.eusc-de-east-1.amazonaws.eu",
     "https://sts.eusc-de-east-1.amazonaws.eu"},
    // Not quite a partition pattern -> the aws default partition.
    {"cn-north", false, false, "https://appconfigdata.cn-north.amazonaws.com", "https://sts.cn-north.amazonaws.com"},
    {"us-gov-1", false, false, "https://appconfigdata.us-gov-1.amazonaws.com", "https://sts.us-gov-1.amazonaws.com"},
    {"us-gov-west-1a", true, false, "https://appconfigdata-fips.us-gov-west-1a.amazonaws.com",
     "https://sts-fips.us-gov-west-1a.amazonaws.com"},
    {"local", false, false, "https://appconfigdata.local.amazonaws.com", "https://sts.local.amazonaws.com"},
    {"us-isob-east-1x", false, false, "https://appconfigdata.us-isob-east-1x.amazonaws.com",
     "https://sts.us-isob-east-1x.amazonaws.com"},
    // The explicit global pseudo regions belong to their partition.
    {"aws-cn-global", false, false, "https://appconfigdata.aws-cn-global.amazonaws.com.cn",
     "https://sts.aws-cn-global.amazonaws.com.cn"},
};

TEST(Endpoints, EveryPartitionFipsDualStack) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.region) + (c.fips ? " fips" : "") + (c.dualstack ? " dualstack" : ""));
    const auto& s = load({std::string("AWS_REGION=") + c.region, std::string("AWS_USE_FIPS_ENDPOINT=") + (c.fips ? "true" : "false"),
                          std::string("AWS_USE_DUALSTACK_ENDPOINT=") + (c.dualstack ? "1" : "0")});
    endpoints::Endpoint ep{};
    char err[256] = "";
    ASSERT_TRUE(endpoints::appconfigdata(s, ep, err, sizeof err)) << err;
    EXPECT_EQ(url_of(ep), c.appconfigdata);
    EXPECT_STREQ(ep.region, c.region);
    EXPECT_EQ(ep.port, 443);
    EXPECT_TRUE(ep.tls);
    EXPECT_STREQ(ep.base_path, "");
    ASSERT_TRUE(endpoints::sts(s, ep, err, sizeof err)) << err;
    EXPECT_EQ(url_of(ep), c.sts);
    EXPECT_STREQ(ep.region, c.region);
  }
}

TEST(Endpoints, ServiceRegionWinsOverAwsRegion) {
  const auto& s = load({"AWS_REGION=eu-west-1", "AWS_APPCONFIG_EXTENSION_SERVICE_REGION=cn-north-1"});
  endpoints::Endpoint ep{};
  char err[256] = "";
  ASSERT_TRUE(endpoints::appconfigdata(s, ep, err, sizeof err)) << err;
  EXPECT_STREQ(ep.host, "appconfigdata.cn-north-1.amazonaws.com.cn");
  EXPECT_STREQ(ep.region, "cn-north-1");
}

TEST(Endpoints, MissingRegionNamesBothVariables) {
  const auto& s = load({"AWS_ACCESS_KEY_ID=AKIA1"});
  endpoints::Endpoint ep{};
  ep.port = 1234;
  char err[256] = "";
  EXPECT_FALSE(endpoints::appconfigdata(s, ep, err, sizeof err));
  EXPECT_NE(std::strstr(err, "AWS_APPCONFIG_EXTENSION_SERVICE_REGION"), nullptr) << err;
  EXPECT_NE(std::strstr(err, "AWS_REGION"), nullptr) << err;
  EXPECT_EQ(ep.port, 1234) << "out untouched on failure";
  err[0] = '\0';
  EXPECT_FALSE(endpoints::sts(s, ep, err, sizeof err));
  EXPECT_NE(std::strstr(err, "AWS_REGION"), nullptr) << err;
  // Even with an override the signer needs a region.
  const auto& s2 = load({"AWS_ENDPOINT_URL=http://127.0.0.1:4566"});
  EXPECT_FALSE(endpoints::appconfigdata(s2, ep, err, sizeof err));
  EXPECT_NE(std::strstr(err, "AWS_REGION"), nullptr) << err;
  // Tiny and null error buffers are safe.
  char tiny[4];
  EXPECT_FALSE(endpoints::sts(s, ep, tiny, sizeof tiny));
  EXPECT_EQ(std::strlen(tiny), 3u);
  EXPECT_FALSE(endpoints::sts(s, ep, nullptr, 0));
}

TEST(Endpoints, OverridePrecedenceAndPaths) {
  {
    const auto& s = load({"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=http://localhost:4566/",
                          "AWS_ENDPOINT_URL_APPCONFIGDATA=https://AppConfig.Example.com:8443/prefix/v1/"});
    endpoints::Endpoint ep{};
    char err[256] = "";
    ASSERT_TRUE(endpoints::appconfigdata(s, ep, err, sizeof err)) << err;
    EXPECT_STREQ(ep.host, "appconfig.example.com");
    EXPECT_EQ(ep.port, 8443);
    EXPECT_TRUE(ep.tls);
    EXPECT_STREQ(ep.base_path, "/prefix/v1");
    EXPECT_STREQ(ep.region, "us-east-1");
    EXPECT_EQ(url_of(ep), "https://appconfig.example.com:8443/prefix/v1");
    // STS falls back to the generic override.
    ASSERT_TRUE(endpoints::sts(s, ep, err, sizeof err)) << err;
    EXPECT_EQ(url_of(ep), "http://localhost:4566");
    EXPECT_FALSE(ep.tls);
    EXPECT_STREQ(ep.base_path, "");
    EXPECT_STREQ(ep.region, "us-east-1");
  }
  {
    const auto& s = load({"AWS_REGION=eu-central-1", "AWS_ENDPOINT_URL_STS=http://[::1]:9000/sts"});
    endpoints::Endpoint ep{};
    char err[256] = "";
    ASSERT_TRUE(endpoints::sts(s, ep, err, sizeof err)) << err;
    EXPECT_STREQ(ep.host, "[::1]");
    EXPECT_EQ(ep.port, 9000);
    EXPECT_STREQ(ep.base_path, "/sts");
    // No generic override: AppConfig is the regional default.
    ASSERT_TRUE(endpoints::appconfigdata(s, ep, err, sizeof err)) << err;
    EXPECT_EQ(url_of(ep), "https://appconfigdata.eu-central-1.amazonaws.com");
  }
}

TEST(Endpoints, OverrideWithFipsOrDualStackIsAnError) {
  for (const char* flag : {"AWS_USE_FIPS_ENDPOINT=true", "AWS_USE_DUALSTACK_ENDPOINT=true"}) {
    const auto& s = load({"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_APPCONFIGDATA=http://127.0.0.1:1", flag});
    endpoints::Endpoint ep{};
    char err[256] = "";
    EXPECT_FALSE(endpoints::appconfigdata(s, ep, err, sizeof err));
    EXPECT_NE(std::strstr(err, "AWS_ENDPOINT_URL_APPCONFIGDATA"), nullptr) << err;
    EXPECT_NE(std::strstr(err, std::string(flag).substr(0, std::string(flag).find('=')).c_str()), nullptr) << err;
    // STS has no override here: it resolves normally.
    EXPECT_TRUE(endpoints::sts(s, ep, err, sizeof err)) << err;
  }
}

TEST(ParseUrl, Accepts) {
  struct Ok {
    const char* url;
    const char* host;
    uint16_t port;
    bool tls;
    const char* base_path;
  };
  const Ok cases[] = {
      {"http://a", "a", 80, false, ""},
      {"https://a", "a", 443, true, ""},
      {"HTTPS://A.B.C/", "a.b.c", 443, true, ""},
      {"HtTp://x:1", "x", 1, false, ""},
      {"http://x:65535//", "x", 65535, false, ""},
      {"http://x:00080/p", "x", 80, false, "/p"},
      {"http://10.0.0.1:8080/a/b/c///", "10.0.0.1", 8080, false, "/a/b/c"},
      {"https://[2001:DB8::1]", "[2001:db8::1]", 443, true, ""},
      {"https://[::ffff:1.2.3.4]:444/x", "[::ffff:1.2.3.4]", 444, true, "/x"},
      {"http://under_score-host.local/a%20b", "under_score-host.local", 80, false, "/a%20b"},
  };
  for (const Ok& c : cases) {
    SCOPED_TRACE(c.url);
    endpoints::Endpoint ep{};
    char err[200] = "";
    ASSERT_TRUE(endpoints::parse_url(c.url, ep, err, sizeof err)) << err;
    EXPECT_STREQ(ep.host, c.host);
    EXPECT_EQ(ep.port, c.port);
    EXPECT_EQ(ep.tls, c.tls);
    EXPECT_STREQ(ep.base_path, c.base_path);
    EXPECT_STREQ(ep.region, "");
  }
}

TEST(ParseUrl, Rejects) {
  const char* bad[] = {
      "",
      "localhost",
      "ftp://x",
      "http:/x",
      "http://",
      "http:///path",
      "http://:80",
      "http://x:",
      "http://x:0",
      "http://x:65536",
      "http://x:123456",
      "http://x:99999999999999999999",
      "http://x:8a",
      "http://x:-1",
      "http://user@x",
      "http://user:pw@x:80/",
      "http://x/p?q=1",
      "http://x?q",
      "http://x/#frag",
      "http://x y",
      "http://x/\tp",
      "http://x/\x7f",
      "http://[::1",
      "http://[]",
      "http://[::1]x",
      "http://[::1]:",
      "http://[g::1]",
      "http://ex%41mple.com",
      "http://a/b c",
  };
  for (const char* u : bad) {
    SCOPED_TRACE(u);
    endpoints::Endpoint ep{};
    ep.port = 7;
    char err[200] = "";
    EXPECT_FALSE(endpoints::parse_url(u, ep, err, sizeof err));
    EXPECT_NE(err[0], '\0');
    EXPECT_EQ(ep.port, 7) << "out untouched on failure";
  }
  // A NUL byte inside the view is a control byte.
  endpoints::Endpoint ep{};
  char err[200] = "";
  EXPECT_FALSE(endpoints::parse_url(std::string_view("http://a\0b", 10), ep, err, sizeof err));
}

TEST(ParseUrl, Limits) {
  endpoints::Endpoint ep{};
  char err[200] = "";
  std::string host(endpoints::kMaxHostBytes, 'h');
  EXPECT_TRUE(endpoints::parse_url("http://" + host, ep, err, sizeof err)) << err;
  EXPECT_EQ(std::strlen(ep.host), endpoints::kMaxHostBytes);
  EXPECT_FALSE(endpoints::parse_url("http://" + host + "h", ep, err, sizeof err));
  std::string path = "/" + std::string(endpoints::kMaxBasePathBytes - 1, 'p');
  EXPECT_TRUE(endpoints::parse_url("http://h" + path + "/", ep, err, sizeof err)) << err;
  EXPECT_EQ(std::strlen(ep.base_path), endpoints::kMaxBasePathBytes);
  EXPECT_FALSE(endpoints::parse_url("http://h" + path + "p", ep, err, sizeof err));
  // host_header: exact fit and one short.
  ASSERT_TRUE(endpoints::parse_url("http://abc:8080", ep, err, sizeof err));
  char hh[9];
  EXPECT_EQ(endpoints::host_header(ep, hh, sizeof hh), 8u);
  EXPECT_STREQ(hh, "abc:8080");
  EXPECT_EQ(endpoints::host_header(ep, hh, 8), 0u);
  EXPECT_STREQ(hh, "");
  EXPECT_EQ(endpoints::host_header(ep, nullptr, 0), 0u);
  // Port 443 over plain HTTP is not the default: it is printed.
  ASSERT_TRUE(endpoints::parse_url("http://abc:443", ep, err, sizeof err));
  char hh2[32];
  EXPECT_GT(endpoints::host_header(ep, hh2, sizeof hh2), 0u);
  EXPECT_STREQ(hh2, "abc:443");
}

TEST(ParseUrl, Target) {
  endpoints::Endpoint ep{};
  char err[200] = "";
  std::string_view target;
  ASSERT_TRUE(endpoints::parse_url_target("http://127.0.0.1:9001/2021-04-23/credentials?a=b&c", ep, &target, err,
                                          sizeof err))
      << err;
  EXPECT_EQ(target, "/2021-04-23/credentials?a=b&c");
  EXPECT_EQ(ep.port, 9001);
  ASSERT_TRUE(endpoints::parse_url_target("http://169.254.170.2", ep, &target, err, sizeof err)) << err;
  EXPECT_EQ(target, "/");
  EXPECT_FALSE(endpoints::parse_url_target("http://h?x", ep, &target, err, sizeof err));
  EXPECT_FALSE(endpoints::parse_url_target("http://h/#x", ep, &target, err, sizeof err));
  EXPECT_FALSE(endpoints::parse_url_target("http://u@h/", ep, &target, err, sizeof err));
}

// Random byte strings around a valid URL never crash or overrun (ASan), and what is accepted
// always round-trips through host_header.
TEST(ParseUrl, RandomMutations) {
  const uint32_t seed = std::random_device{}();
  std::printf("ParseUrl.RandomMutations seed=%u\n", seed);
  std::mt19937 rng(seed);
  const std::string base = "https://[::1]:8443/a/b?c#d";
  const std::string alphabet = "htps:/[]?#@%.-_09azAZ \x01\x7f\xff";
  for (int i = 0; i < 20000; ++i) {
    std::string u = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (u.size() + 1);
      char c = alphabet[rng() % alphabet.size()];
      switch (rng() % 3) {
        case 0: u.insert(u.begin() + static_cast<long>(pos), c); break;
        case 1: if (pos < u.size()) u.erase(pos, 1); break;
        default: if (pos < u.size()) u[pos] = c; break;
      }
    }
    u.resize(rng() % (u.size() + 1));
    auto heap = std::make_unique<char[]>(u.size());  // exact-size copy so ASan sees overreads
    std::memcpy(heap.get(), u.data(), u.size());
    std::string_view view(heap.get(), u.size());
    endpoints::Endpoint ep{};
    char err[64];
    std::string_view target;
    if (endpoints::parse_url(view, ep, err, sizeof err)) {
      char hh[300];
      ASSERT_GT(endpoints::host_header(ep, hh, sizeof hh), 0u) << u;
      EXPECT_NE(ep.port, 0) << u;
      EXPECT_EQ(view.find('?'), std::string_view::npos) << u;
      std::string_view authority = view.substr(view.find("://") + 3);
      authority = authority.substr(0, authority.find('/'));
      EXPECT_EQ(authority.find('@'), std::string_view::npos) << u;
    }
    if (endpoints::parse_url_target(view, ep, &target, err, sizeof err)) {
      ASSERT_FALSE(target.empty());
      EXPECT_EQ(target.front(), '/') << u;
      if (target != "/") {
        EXPECT_GE(target.data(), view.data());
        EXPECT_LE(target.data() + target.size(), view.data() + view.size());
      }
    }
  }
}

}  // namespace
