// manifest: the documented example, every invalid shape (each message names the key and the
// problem), both key forms, limits, load_file, and random mutations of valid manifests.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/agent/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace appconfig::manifest;

namespace {

constexpr const char* kExample = R"({ "App1:Env1:Profile1": {},
  "App2:Env2:Profile2": { "credentials": { "roleArn": "arn:aws:iam::123456789012:role/read-config",
      "roleExternalId": "00b148e2-4ea4-46a1-ab0f-c422b54d0aac", "roleSessionName": "AppConfigAgent",
      "credentialsDuration": "2h" },
    "writeTo": { "path": "/tmp/aws-appconfig/my-config.json" } } })";

constexpr const char* kArn = "arn:aws:iam::123456789012:role/read-config";

struct Parsed {
  bool ok;
  std::string err;
  std::unique_ptr<Manifest> m;
};

Parsed run(const std::string& text) {
  Parsed p{.ok = false, .err = "", .m = std::make_unique<Manifest>()};
  char err[512];
  memset(err, 'X', sizeof err);
  p.ok = parse(text, *p.m, err, sizeof err);
  EXPECT_NE(memchr(err, '\0', sizeof err), nullptr) << "error not NUL-terminated";
  p.err = err;
  if (p.ok) {
    EXPECT_EQ(p.err, "") << "success must leave an empty message";
  } else {
    EXPECT_EQ(p.m->num_entries, 0u) << "failure must leave no entries";
  }
  return p;
}

std::string sv(std::string_view s) { return std::string(s); }

// One key "A:B:C" whose value is `value`.
std::string one(const std::string& value) { return "{\"A:B:C\": " + value + "}"; }
std::string cred(const std::string& members) { return one("{\"credentials\": {" + members + "}}"); }
std::string arn_member(const std::string& arn) { return "\"roleArn\": \"" + arn + "\""; }
std::string dur(const std::string& d) { return cred(arn_member(kArn) + ", \"credentialsDuration\": " + d); }
std::string write_to(const std::string& path_json) { return one("{\"writeTo\": {\"path\": " + path_json + "}}"); }

void expect_error(const std::string& text, const std::vector<std::string>& needles) {
  Parsed p = run(text);
  ASSERT_FALSE(p.ok) << text;
  for (const auto& n : needles) EXPECT_NE(p.err.find(n), std::string::npos) << "message: " << p.err << "\nwanted: " << n;
}

void expect_key_error(const std::string& text, const std::string& problem) {
  expect_error(text, {"manifest key \"A:B:C\": ", problem});
}

TEST(Manifest, DocumentedExample) {
  Parsed p = run(kExample);
  ASSERT_TRUE(p.ok) << p.err;
  const Manifest& m = *p.m;
  ASSERT_EQ(m.num_entries, 2u);
  const Entry& a = m.entries[0];
  EXPECT_EQ(sv(a.application), "App1");
  EXPECT_EQ(sv(a.environment), "Env1");
  EXPECT_EQ(sv(a.profile), "Profile1");
  EXPECT_FALSE(a.has_role);
  EXPECT_FALSE(a.has_write_to);
  EXPECT_EQ(a.duration_s, 0u);
  const Entry& b = m.entries[1];
  EXPECT_EQ(sv(b.application), "App2");
  EXPECT_EQ(sv(b.environment), "Env2");
  EXPECT_EQ(sv(b.profile), "Profile2");
  EXPECT_TRUE(b.has_role);
  EXPECT_EQ(sv(b.role_arn), kArn);
  EXPECT_EQ(sv(b.external_id), "00b148e2-4ea4-46a1-ab0f-c422b54d0aac");
  EXPECT_EQ(sv(b.session_name), "AppConfigAgent");
  EXPECT_EQ(b.duration_s, 7200u);
  EXPECT_TRUE(b.has_write_to);
  EXPECT_EQ(sv(b.write_to_path), "/tmp/aws-appconfig/my-config.json");
}

TEST(Manifest, ViewsPointIntoStorageNotTheText) {
  std::string text = kExample;
  auto m = std::make_unique<Manifest>();
  char err[256];
  ASSERT_TRUE(parse(text, *m, err, sizeof err)) << err;
  std::fill(text.begin(), text.end(), '#');  // the JSON text may die after parse()
  const char* lo = m->storage;
  const char* hi = m->storage + m->used;
  for (size_t i = 0; i < m->num_entries; ++i) {
    const Entry& e = m->entries[i];
    for (std::string_view s : {e.application, e.environment, e.profile, e.role_arn, e.external_id, e.session_name,
                               e.write_to_path}) {
      if (s.empty()) continue;
      EXPECT_GE(s.data(), lo);
      EXPECT_LE(s.data() + s.size(), hi);
    }
  }
  EXPECT_EQ(sv(m->entries[1].write_to_path), "/tmp/aws-appconfig/my-config.json");
  EXPECT_LE(m->used, text.size());
}

TEST(Manifest, EmptyObjectAndWhitespace) {
  Parsed p = run(" \n{ }\t");
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.m->num_entries, 0u);
}

TEST(Manifest, OptionalCredentialMembers) {
  Parsed p = run(cred(arn_member(kArn)));
  ASSERT_TRUE(p.ok) << p.err;
  const Entry& e = p.m->entries[0];
  EXPECT_TRUE(e.has_role);
  EXPECT_EQ(sv(e.external_id), "");
  EXPECT_EQ(sv(e.session_name), "");
  EXPECT_EQ(e.duration_s, 0u);
  EXPECT_FALSE(e.has_write_to);
}

TEST(Manifest, BothKeyFormsAndDecoding) {
  Parsed p = run(R"({"/applications/My%2FApp/environments/E%3A1/configurations/P": {},
                     "A%3Ab:\u0045nv:Pr\u00f6file": {}, "a b:c\/d:%25": {}})");
  ASSERT_TRUE(p.ok) << p.err;
  ASSERT_EQ(p.m->num_entries, 3u);
  EXPECT_EQ(sv(p.m->entries[0].application), "My/App");
  EXPECT_EQ(sv(p.m->entries[0].environment), "E:1");
  EXPECT_EQ(sv(p.m->entries[0].profile), "P");
  EXPECT_EQ(sv(p.m->entries[1].application), "A:b");
  EXPECT_EQ(sv(p.m->entries[1].environment), "Env");
  EXPECT_EQ(sv(p.m->entries[1].profile), "Pr\xc3\xb6" "file");
  EXPECT_EQ(sv(p.m->entries[2].application), "a b");
  EXPECT_EQ(sv(p.m->entries[2].environment), "c/d");
  EXPECT_EQ(sv(p.m->entries[2].profile), "%");
}

TEST(Manifest, NotAnObjectOrNotJson) {
  for (const char* t : {"[]", "\"x\"", "1", "null", "true", "[{\"A:B:C\":{}}]"})
    expect_error(t, {"manifest: ", "must be a JSON object"});
  for (const char* t : {"", "{", "{\"A:B:C\":{}", "{\"A:B:C\":{},}", "{'A:B:C':{}}", "{\"A:B:C\":{}} x",
                        "\xef\xbb\xbf{}"})
    expect_error(t, {"manifest: not valid JSON at byte"});
}

TEST(Manifest, BadKeys) {
  std::string long_name(129, 'a');
  std::string max_name(128, 'a');
  for (std::string k : std::vector<std::string>{"A:B", "A", "A:B:C:D", "::", "A::C", ":B:C", "A:B:", "A:B:%zz", "A:B:%0", "A:B:%00",
                        "/applications/A/environments/B", "/applications/A/environments/B/configurations/C/",
                        "/applications//environments/B/configurations/C", "/apps/A/environments/B/configurations/C",
                        long_name + ":B:C", "A:" + long_name + ":C", "A:B:" + std::string(43, 'x') + "%" + "41" +
                        std::string(86, 'y')}) {
    SCOPED_TRACE(k);
    expect_error("{\"" + k + "\": {}}", {"manifest key \"" + k.substr(0, 120) + "\"", "is not a configuration key"});
  }
  EXPECT_TRUE(run("{\"" + max_name + ":B:C\": {}}").ok);
  EXPECT_TRUE(run("{\"A:B:%41" + std::string(127, 'y') + "\": {}}").ok);  // 128 decoded bytes
  // Control bytes in a key are shown escaped, never raw.
  Parsed p = run(R"({"A\nB": {}})");
  ASSERT_FALSE(p.ok);
  EXPECT_NE(p.err.find("\"A\\x0aB\""), std::string::npos) << p.err;
  EXPECT_EQ(p.err.find('\n'), std::string::npos);
}

TEST(Manifest, ValueNotAnObject) {
  for (const char* v : {"[]", "null", "\"x\"", "1", "true"}) expect_key_error(one(v), "value must be a JSON object");
}

TEST(Manifest, UnknownMembers) {
  expect_key_error(one(R"({"foo": 1})"), "unknown member \"foo\" in the key's object");
  expect_key_error(one(R"({"Credentials": {}})"), "unknown member \"Credentials\"");
  expect_key_error(one(R"({"writeto": {}})"), "unknown member \"writeto\"");
  expect_key_error(cred(arn_member(kArn) + ", \"roleArm\": 1"), "unknown member \"roleArm\" in credentials");
  expect_key_error(one(R"({"writeTo": {"path": "/x", "mode": "0600"}})"), "unknown member \"mode\" in writeTo");
  expect_key_error(one(R"({"writeTo": {"Path": "/x"}})"), "unknown member \"Path\" in writeTo");
}

TEST(Manifest, WrongMemberTypes) {
  expect_key_error(one(R"({"credentials": []})"), "credentials must be a JSON object");
  expect_key_error(one(R"({"credentials": "arn"})"), "credentials must be a JSON object");
  expect_key_error(one(R"({"writeTo": "/tmp/x"})"), "writeTo must be a JSON object");
  expect_key_error(cred("\"roleArn\": 5"), "credentials.roleArn must be a JSON string");
  expect_key_error(cred(arn_member(kArn) + ", \"roleSessionName\": null"), "roleSessionName must be a JSON string");
  expect_key_error(cred(arn_member(kArn) + ", \"roleExternalId\": 12345"), "roleExternalId must be a JSON string");
  expect_key_error(write_to("[\"/x\"]"), "writeTo.path must be a JSON string");
}

TEST(Manifest, CredentialsWithoutRoleArn) {
  expect_key_error(cred(""), "credentials has no roleArn");
  expect_key_error(cred("\"roleSessionName\": \"abc\", \"credentialsDuration\": \"1h\""), "has no roleArn");
}

TEST(Manifest, RoleArns) {
  for (const char* good : {"arn:aws:iam::123456789012:role/read-config", "arn:aws-cn:iam::000000000000:role/x",
                           "arn:aws-us-gov:iam::999999999999:role/a+=,.@_-b",
                           "arn:aws:iam::123456789012:role/division/sub/Name"}) {
    Parsed p = run(cred(arn_member(good)));
    EXPECT_TRUE(p.ok) << good << ": " << p.err;
    if (p.ok) { EXPECT_EQ(sv(p.m->entries[0].role_arn), good); }
  }
  EXPECT_TRUE(run(cred(arn_member("arn:aws:iam::123456789012:role/" + std::string(64, 'r')))).ok);
  std::vector<std::string> bad = {"", "read-config", "arn:aws:iam::12345678901:role/x", "arn:aws:iam::1234567890123:role/x",
                                  "arn:aws:iam::12345678901a:role/x", "arn:aws:s3:::bucket", "arn:aws:iam::123456789012:user/x",
                                  "arn:aws-xx:iam::123456789012:role/x", "arn:aws:iam:us-east-1:123456789012:role/x",
                                  "arn:aws:iam::123456789012:role/", "arn:aws:iam::123456789012:role//x",
                                  "arn:aws:iam::123456789012:role/x/", "arn:aws:iam::123456789012:role/a b",
                                  "arn:aws:iam::123456789012:role/" + std::string(65, 'r'), "ARN:aws:iam::123456789012:role/x",
                                  "arn:aws:sts::123456789012:assumed-role/x/y", " arn:aws:iam::123456789012:role/x"};
  for (const auto& a : bad) {
    SCOPED_TRACE(a);
    expect_key_error(cred(arn_member(a)), "credentials.roleArn \"" + a.substr(0, 120));
    expect_key_error(cred(arn_member(a)), "is not an IAM role ARN");
  }
}

// The manifest example in the AWS AppConfig user guide, verbatim except for the ARN: the guide's
// "arn:aws:us-west-1:iam::…" (and "arn:us-west-1:iam::…" in another revision) is not a valid IAM ARN,
// so it is rejected at init with a hint instead of failing later at STS.
TEST(Manifest, AwsUserGuideExample) {
  const std::string guide = R"({ "MyApp:Test:MyAllowListConfiguration": {},
    "My2ndApp:Beta:MyEnableMobilePaymentsFeatureFlagConfiguration": {
      "credentials": { "roleArn": "ARN", "roleExternalId": "00b148e2-4ea4-46a1-ab0f-c422b54d0aac",
        "roleSessionName": "AwsAppConfigAgent", "credentialsDuration": "2h" },
      "writeTo": { "path": "/tmp/aws-appconfig/my-2nd-app/beta/my-enable-payments-feature-flag-configuration.json" } } })";
  auto with_arn = [&](const std::string& arn) {
    std::string t = guide;
    t.replace(t.find("ARN"), 3, arn);
    return t;
  };
  for (const char* doc_arn : {"arn:aws:us-west-1:iam::123456789012:role/MyTestRole", "arn:us-west-1:iam::123456789012:role/MyTestRole"})
    expect_error(with_arn(doc_arn), {"manifest key \"My2ndApp:Beta:MyEnableMobilePaymentsFeatureFlagConfiguration\": "
                                     "credentials.roleArn \"", "IAM ARNs have no region field"});
  Parsed p = run(with_arn("arn:aws:iam::123456789012:role/MyTestRole"));
  ASSERT_TRUE(p.ok) << p.err;
  ASSERT_EQ(p.m->num_entries, 2u);
  EXPECT_EQ(sv(p.m->entries[1].profile), "MyEnableMobilePaymentsFeatureFlagConfiguration");
  EXPECT_EQ(p.m->entries[1].duration_s, 7200u);
  EXPECT_EQ(sv(p.m->entries[1].write_to_path),
            "/tmp/aws-appconfig/my-2nd-app/beta/my-enable-payments-feature-flag-configuration.json");
}

TEST(Manifest, SessionNameAndExternalId) {
  auto with = [](const std::string& m) { return cred(arn_member(kArn) + ", " + m); };
  EXPECT_TRUE(run(with("\"roleSessionName\": \"ab\"")).ok);
  EXPECT_TRUE(run(with("\"roleSessionName\": \"" + std::string(64, 's') + "\"")).ok);
  for (std::string s : std::vector<std::string>{"a", "", "has space", "slash/no", std::string(65, 's'), "colon:no"})
    expect_key_error(with("\"roleSessionName\": \"" + s + "\""), "credentials.roleSessionName");
  EXPECT_TRUE(run(with("\"roleExternalId\": \"ab\"")).ok);
  EXPECT_TRUE(run(with("\"roleExternalId\": \"a:b/c+=,.@_-\"")).ok);
  EXPECT_TRUE(run(with("\"roleExternalId\": \"" + std::string(1224, 'e') + "\"")).ok);
  for (std::string s : std::vector<std::string>{"x", "", "sec ret", std::string(1225, 'e'), "s\\u00e9cret"}) {
    Parsed p = run(with("\"roleExternalId\": \"" + s + "\""));
    ASSERT_FALSE(p.ok) << s;
    EXPECT_NE(p.err.find("manifest key \"A:B:C\": credentials.roleExternalId (value hidden"), std::string::npos) << p.err;
    if (s.size() > 2) { EXPECT_EQ(p.err.find(s), std::string::npos) << "the external ID must not be echoed: " << p.err; }
  }
}

TEST(Manifest, Durations) {
  struct Good {
    const char* json;
    uint32_t s;
  } good[] = {{"\"2h\"", 7200},  {"\"90m\"", 5400},  {"\"3600s\"", 3600}, {"\"3600\"", 3600},  {"3600", 3600},
              {"\"15m\"", 900},  {"\"12h\"", 43200}, {"\"900\"", 900},    {"\"1h30m\"", 5400}, {"43200", 43200},
              {"\"900000ms\"", 900}, {"\"\\u0032h\"", 7200},
              // Go's duration grammar (settings::parse_duration_ms): fractions and repeated units.
              {"\"1.5h\"", 5400}, {"\"1h1h\"", 7200}};
  for (const auto& g : good) {
    Parsed p = run(dur(g.json));
    ASSERT_TRUE(p.ok) << g.json << ": " << p.err;
    EXPECT_EQ(p.m->entries[0].duration_s, g.s) << g.json;
  }
  for (const char* b : {"\"14m\"", "\"899\"", "899", "\"12h1s\"", "43201", "\"0\"", "0", "\"\"", "\"2d\"", "\"-1h\"",
                        "\"2 h\"", "\"2H\"", "\"900500ms\"", "3600.0", "3.6e3", "-3600", "\"1e3\"", "\"1h1\"",
                        "99999999999999999999", "\"99999999999999999999h\""}) {
    SCOPED_TRACE(b);
    expect_key_error(dur(b), "credentials.credentialsDuration");
    expect_key_error(dur(b), "between 15m and 12h");
  }
  for (const char* b : {"true", "null", "[\"2h\"]", "{}"}) expect_key_error(dur(b), "credentialsDuration must be a string");
}

TEST(Manifest, WriteToPaths) {
  for (const char* good : {"\"/x\"", "\"/a..b/c\"", "\"/a/.hidden\"", "\"/a/b...\"", "\"/tmp/x y/\\u00e9.json\""}) {
    Parsed p = run(write_to(good));
    EXPECT_TRUE(p.ok) << good << ": " << p.err;
  }
  expect_key_error(one(R"({"writeTo": {}})"), "writeTo has no path");
  for (const char* rel : {"\"tmp/x\"", "\"\"", "\"./x\"", "\"~/x\"", "\"x\""})
    expect_key_error(write_to(rel), "must be an absolute path");
  expect_key_error(write_to("\"/a\\u0000b\""), "contains a NUL byte");
  expect_key_error(write_to("\"/a\\u0000b\""), "\"/a\\x00b\"");
  for (const char* dots : {"\"/a/../b\"", "\"/a/..\"", "\"/../x\"", "\"/./x\"", "\"/a/./b\"", "\"/a/.\"", "\"/a\\/..\\/b\""})
    expect_key_error(write_to(dots), "must not contain a \".\" or \"..\" segment");
  for (const char* dir : {"\"/\"", "\"/tmp/\""}) expect_key_error(write_to(dir), "must name a file");
  expect_key_error(write_to("\"/" + std::string(kMaxWritePathBytes, 'p') + "\""), "more than 4000");
  EXPECT_TRUE(run(write_to("\"/" + std::string(kMaxWritePathBytes - 1, 'p') + "\"")).ok);
}

TEST(Manifest, Duplicates) {
  expect_error(R"({"A:B:C": {}, "X:Y:Z": {}, "A:B:C": {}})", {"manifest key \"A:B:C\": duplicate key", "#1"});
  expect_error(R"({"A:B:C": {}, "/applications/A/environments/B/configurations/C": {}})",
               {"manifest key \"/applications/A/environments/B/configurations/C\": duplicate key"});
  expect_error(R"({"A:B:C": {}, "\u0041:B:C": {}})", {"duplicate key"});
  expect_error(R"({"A:B:C": {}, "%41:B:C": {}})", {"duplicate key"});
  EXPECT_TRUE(run(R"({"A:B:C": {}, "a:B:C": {}})").ok);  // names are case-sensitive
  expect_key_error(one(R"({"credentials": {"roleArn": "arn:aws:iam::123456789012:role/x"},
                            "credentials": {"roleArn": "arn:aws:iam::123456789012:role/y"}})"),
                   "duplicate member credentials");
  expect_key_error(one(R"({"writeTo": {"path": "/a"}, "writeTo": {"path": "/b"}})"), "duplicate member writeTo");
  expect_key_error(cred(arn_member(kArn) + ", " + arn_member(kArn)), "duplicate member credentials.roleArn");
  expect_key_error(cred(arn_member(kArn) + ", \"roleSessionName\": \"ab\", \"roleSessionName\": \"ab\""),
                   "duplicate member credentials.roleSessionName");
  expect_key_error(cred(arn_member(kArn) + ", \"roleExternalId\": \"ab\", \"roleExternalId\": \"ab\""),
                   "duplicate member credentials.roleExternalId");
  expect_key_error(dur("\"1h\", \"credentialsDuration\": \"1h\""), "duplicate member credentials.credentialsDuration");
  expect_key_error(one(R"({"writeTo": {"path": "/a", "path": "/a"}})"), "duplicate member writeTo.path");
  expect_error(R"({"X:Y:Z": {"writeTo": {"path": "/same"}}, "A:B:C": {"writeTo": {"path": "/same"}}})",
               {"manifest key \"A:B:C\": writeTo.path \"/same\" is also the path of key #1"});
}

TEST(Manifest, EntryLimit) {
  auto build = [](size_t n) {
    std::string t = "{";
    for (size_t i = 0; i < n; ++i) t += (i ? "," : "") + std::string("\"A:E:P") + std::to_string(i) + "\": {}";
    return t + "}";
  };
  Parsed p = run(build(kMaxEntries));
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.m->num_entries, kMaxEntries);
  EXPECT_EQ(sv(p.m->entries[kMaxEntries - 1].profile), "P63");
  expect_error(build(kMaxEntries + 1), {"manifest key \"A:E:P64\": too many keys: at most 64"});
}

TEST(Manifest, SizeLimit) {
  std::string at_limit = "{\"A:B:C\": {}}";
  at_limit += std::string(kMaxManifestBytes - at_limit.size(), ' ');
  ASSERT_EQ(at_limit.size(), kMaxManifestBytes);
  EXPECT_TRUE(run(at_limit).ok);
  expect_error(at_limit + " ", {"manifest: document is 262145 bytes, more than the 262144-byte limit"});
}

TEST(Manifest, StorageNeverOverflowsAtTheLimit) {
  // A manifest of nothing but long decoded strings, right at the size limit, must fit storage.
  std::string t = "{";
  size_t i = 0;
  while (true) {
    std::string entry = std::string(i ? "," : "") + "\"" + std::to_string(i) + std::string(120, 'a') + ":" +
                        std::string(128, 'b') + ":" + std::string(128, 'c') + "\":{\"writeTo\":{\"path\":\"/" +
                        std::to_string(i) + std::string(3000, 'p') + "\"}}";
    if (t.size() + entry.size() + 1 > kMaxManifestBytes || i == kMaxEntries) break;
    t += entry;
    ++i;
  }
  t += "}";
  Parsed p = run(t);
  ASSERT_TRUE(p.ok) << p.err;
  EXPECT_EQ(p.m->num_entries, i);
  EXPECT_LE(p.m->used, sizeof p.m->storage);
}

TEST(Manifest, SmallAndNullErrorBuffers) {
  auto m = std::make_unique<Manifest>();
  char tiny[8];
  EXPECT_FALSE(parse("[]", *m, tiny, sizeof tiny));
  EXPECT_EQ(strlen(tiny), 7u);
  EXPECT_FALSE(parse("[]", *m, nullptr, 0));
  char one_byte[1] = {'x'};
  EXPECT_FALSE(parse(one(R"({"foo":1})"), *m, one_byte, 1));
  EXPECT_EQ(one_byte[0], '\0');
  EXPECT_TRUE(parse(kExample, *m, nullptr, 0));
}

TEST(Manifest, FailureAfterSuccessClearsEntries) {
  auto m = std::make_unique<Manifest>();
  char err[256];
  ASSERT_TRUE(parse(kExample, *m, err, sizeof err));
  ASSERT_EQ(m->num_entries, 2u);
  EXPECT_FALSE(parse(R"({"A:B:C": {}, "D:E:F": {"x": 1}})", *m, err, sizeof err));
  EXPECT_EQ(m->num_entries, 0u);
}

// ---------------------------------------------------------------- load_file

std::string temp_dir() {
  char tmpl[] = "/tmp/manifest_test.XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "/tmp";
}

void write_file(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  fclose(f);
}

TEST(ManifestFile, LoadsAndReportsErrors) {
  std::string dir = temp_dir();
  auto m = std::make_unique<Manifest>();
  char err[1024];
  std::string good = dir + "/manifest.json";
  write_file(good, kExample);
  ASSERT_TRUE(load_file(good.c_str(), *m, err, sizeof err)) << err;
  EXPECT_EQ(m->num_entries, 2u);
  EXPECT_STREQ(err, "");

  std::string missing = dir + "/missing.json";
  EXPECT_FALSE(load_file(missing.c_str(), *m, err, sizeof err));
  EXPECT_EQ(std::string(err), "manifest file " + missing + ": cannot open: No such file or directory");

  EXPECT_FALSE(load_file(dir.c_str(), *m, err, sizeof err));
  EXPECT_NE(std::string(err).find("is not a regular file"), std::string::npos) << err;

  std::string bad = dir + "/bad.json";
  write_file(bad, one("{\"x\":1}"));
  EXPECT_FALSE(load_file(bad.c_str(), *m, err, sizeof err));
  EXPECT_EQ(std::string(err), "manifest file " + bad +
                                  ": manifest key \"A:B:C\": unknown member \"x\" in the key's object (allowed: "
                                  "credentials, writeTo)");

  std::string big = dir + "/big.json";
  write_file(big, "{\"A:B:C\":{}}" + std::string(kMaxManifestBytes, ' '));
  EXPECT_FALSE(load_file(big.c_str(), *m, err, sizeof err));
  EXPECT_NE(std::string(err).find("is larger than the 262144-byte limit"), std::string::npos) << err;

  std::string empty = dir + "/empty.json";
  write_file(empty, "");
  EXPECT_FALSE(load_file(empty.c_str(), *m, err, sizeof err));
  EXPECT_NE(std::string(err).find("not valid JSON"), std::string::npos) << err;

  for (const char* f : {"manifest.json", "bad.json", "big.json", "empty.json"}) unlink((dir + "/" + f).c_str());
  rmdir(dir.c_str());
}

// ---------------------------------------------------------------- random mutation

TEST(Manifest, RandomMutationsNeverMisbehave) {
  std::random_device rd;
  unsigned seed = rd();
  printf("RandomMutationsNeverMisbehave seed=%u\n", seed);
  std::mt19937 rng(seed);
  const std::string base = kExample;
  const char alphabet[] = "{}[]\":,\\/.0123456789aAz \n%u-";
  auto m = std::make_unique<Manifest>();
  size_t accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string t = base;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (t.size() + 1);
      switch (rng() % 3) {
        case 0: if (pos < t.size()) t.erase(pos, 1); break;
        case 1: t.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]); break;
        default: if (pos < t.size()) t[pos] = alphabet[rng() % (sizeof alphabet - 1)]; break;
      }
    }
    char err[300];
    bool ok = parse(t, *m, err, sizeof err);
    if (ok) {
      ++accepted;
      ASSERT_LE(m->num_entries, kMaxEntries);
      for (size_t i = 0; i < m->num_entries; ++i) {
        const Entry& en = m->entries[i];
        ASSERT_FALSE(en.application.empty());
        ASSERT_FALSE(en.environment.empty());
        ASSERT_FALSE(en.profile.empty());
        if (en.has_role) { ASSERT_EQ(en.role_arn.substr(0, 4), "arn:"); }
        if (en.duration_s != 0) { ASSERT_TRUE(en.duration_s >= kMinDurationS && en.duration_s <= kMaxDurationS); }
        if (en.has_write_to) { ASSERT_EQ(en.write_to_path.front(), '/'); }
      }
    } else {
      ASSERT_EQ(strncmp(err, "manifest", 8), 0) << err;
      ASSERT_EQ(m->num_entries, 0u);
    }
  }
  EXPECT_GT(accepted, 0u) << "mutations should sometimes stay valid (e.g. inside a path)";
}

}  // namespace

// ---------------------------------------------------------------- budgets (issue 10)
// The worst input of each accepted size, parsed once; the time is printed for docs/manifest-and-backups.md.
namespace {
double parse_ms(const std::string& text, bool expect_ok, const char* what) {
  auto m = std::make_unique<Manifest>();
  char err[512];
  auto t0 = std::chrono::steady_clock::now();
  bool ok = parse(text, *m, err, sizeof err);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ok, expect_ok) << what << ": " << err;
  printf("[ measured ] manifest worst case %s (%zu bytes): %.2f ms\n", what, text.size(), ms);
  return ms;
}
}  // namespace

TEST(ManifestBudget, WorstCasesAreBounded) {
  // 64 keys whose writeTo paths share a ~3,900-byte prefix: the duplicate-path check compares
  // every pair (64 * 63 / 2) over nearly the whole path.
  std::string prefix = "/" + std::string(3900, 'p');
  std::string t = "{";
  for (size_t i = 0; i < kMaxEntries; ++i) {
    std::string k = "A:E:P" + std::to_string(i);
    t += (i ? "," : "") + ("\"" + k + "\":{\"writeTo\":{\"path\":\"" + prefix + std::to_string(i) + "\"}}");
  }
  t += "}";
  ASSERT_LE(t.size(), kMaxManifestBytes);
  parse_ms(t, true, "64 keys, long writeTo paths sharing a prefix");
  // 64 keys of three 128-byte names written with percent-escapes (the longest key text), each
  // with every credentials member at its maximum.
  std::string name(128, 'n');
  std::string enc;
  for (int i = 0; i < 40; ++i) enc += "%41";
  std::string arn = "arn:aws:iam::123456789012:role/" + std::string(64, 'r');
  t = "{";
  for (size_t i = 0; i < kMaxEntries; ++i) {
    std::string k = enc + std::to_string(i) + ":" + name + ":" + name;
    t += (i ? "," : "") + ("\"" + k + "\":{\"credentials\":{\"roleArn\":\"" + arn + "\",\"roleExternalId\":\"" +
                            std::string(kMaxExternalIdBytes, 'e') + "\",\"roleSessionName\":\"" +
                            std::string(kMaxSessionNameBytes, 's') + "\",\"credentialsDuration\":\"12h\"}}");
  }
  t += "}";
  ASSERT_LE(t.size(), kMaxManifestBytes);
  parse_ms(t, true, "64 keys, escaped names, every credential member at its maximum");
  // Deepest nesting the size allows: refused by the JSON validator's fixed depth, not by recursion.
  parse_ms(std::string(kMaxManifestBytes, '['), false, "256 KiB of '['");
  std::string deep = "{\"A:B:C\":" + std::string(100, '[') + std::string(100, ']') + "}";
  parse_ms(deep, false, "a value nested 100 deep");
  // One string as long as the document allows, with escapes to decode.
  std::string esc;
  while (esc.size() + 12 < kMaxManifestBytes - 40) esc += "\\u0041";
  parse_ms("{\"A:B:C\":{\"writeTo\":{\"path\":\"/" + esc + "\"}}}", false, "one 256 KiB escaped string");
  // 20,000 members in one object, all unknown: the first one is refused.
  std::string many = "{\"A:B:C\":{";
  for (int i = 0; many.size() < kMaxManifestBytes - 20; ++i) many += (i ? "," : "") + ("\"x" + std::to_string(i) + "\":1");
  many += "}}";
  if (many.size() <= kMaxManifestBytes) parse_ms(many, false, "one object with thousands of members");
}

TEST(ManifestFile, FifoDoesNotBlock) {
  // Before the fix open() on a FIFO without a writer blocked forever (start-up, SIGHUP reload).
  char tmpl[] = "/tmp/manifest_fifo.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/manifest.json";
  ASSERT_EQ(mkfifo(path.c_str(), 0644), 0);
  auto m = std::make_unique<Manifest>();
  char err[512] = {};
  std::atomic<bool> done{false};
  bool ok = true;
  auto t0 = std::chrono::steady_clock::now();
  std::thread t([&] {
    ok = load_file(path.c_str(), *m, err, sizeof err);
    done = true;
  });
  for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done) {  // free the stuck call so the test can fail instead of hanging
    int w = open(path.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) close(w);
  }
  t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "load_file blocked on a FIFO";
  EXPECT_FALSE(ok);
  EXPECT_NE(std::string(err).find("is a FIFO, not a regular file"), std::string::npos) << err;
  unlink(path.c_str());
  rmdir(tmpl);
}
