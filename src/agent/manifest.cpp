// manifest: parsing and validation of the AWS_APPCONFIG_EXTENSION_MANIFEST document.
#include "appconfig/agent/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "appconfig/core/sysfile.h"
#include "appconfig/formats/json.h"
#include "appconfig/core/error.h"
#include "appconfig/core/settings.h"
#include "appconfig/core/text.h"

namespace appconfig::manifest {
namespace {

// A configuration key as written: the long form is ~60 bytes of fixed text plus three names of at
// most 128 decoded bytes, each at most 3x longer percent-encoded. Longer keys cannot be valid.
constexpr size_t kMaxKeyTextBytes = 60 + 3 * 3 * settings::kMaxNameBytes;
// Text echoed in messages (keys, member names) is cut here so one line stays readable.
constexpr size_t kMaxEchoBytes = 120;


// Size of a quote() buffer for kMaxEchoBytes of text (every byte may become 4).
constexpr size_t kQuotedBytes = kMaxEchoBytes * 4 + 8;

struct Parser {
  Manifest& m;
  char* err;
  size_t err_cap;
  char key_q[kQuotedBytes];  // the key being parsed, quoted for messages; "" at top level

  __attribute__((format(printf, 2, 3))) bool fail(const char* fmt, ...) {
    if (key_q[0] != '\0') error::fail(err, err_cap, "manifest key %s: ", key_q);
    else error::fail(err, err_cap, "manifest: ");
    va_list ap;
    va_start(ap, fmt);
    error::vappend(err, err_cap, fmt, ap);
    va_end(ap);
    return false;
  }

  // Decodes a JSON string value into storage. Fails (with a message naming `what`) when the value
  // is not a string. Storage cannot run out for input within kMaxManifestBytes (decoded strings are
  // never longer than their tokens), but it is checked anyway.
  bool decode(std::string_view raw_value, const char* what, std::string_view& out) {
    if (json::kind_of(raw_value) != json::Kind::kString) return fail("%s must be a JSON string", what);
    long n = json::decode_string(raw_value, m.storage + m.used, sizeof m.storage - m.used);
    if (n < 0) return fail("%s could not be decoded (out of storage)", what);
    out = std::string_view(m.storage + m.used, static_cast<size_t>(n));
    m.used += static_cast<size_t>(n);
    return true;
  }

  bool unknown_member(const json::Member& mem, const char* where, const char* allowed) {
    char name[kMaxEchoBytes + 8];
    long n = json::decode_string(mem.raw_key, name, sizeof name);
    std::string_view shown = n < 0 ? mem.raw_key : std::string_view(name, static_cast<size_t>(n));
    char q[kQuotedBytes];
    text::quote(q, sizeof q, shown, kMaxEchoBytes);
    return fail("unknown member %s in %s (allowed: %s)", q, where, allowed);
  }
};

using text::is_digit;
bool is_word(char c) { return text::is_alnum(c) || c == '_'; }
// STS RoleSessionName: [\w+=,.@-]*
bool is_session_char(char c) {
  return is_word(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}
// STS ExternalId: [\w+=,.@:/-]*
bool is_external_id_char(char c) { return is_session_char(c) || c == ':' || c == '/'; }

// arn:<partition>:iam::<12-digit account>:role/<optional/path/>name; the role name is 1..64
// characters of [\w+=,.@-], path segments use the same set (IAM allows a wider path alphabet in
// theory, but these are the characters roles are created with in practice; a stricter check
// gives a clearer error than an AccessDenied from STS later).
bool valid_role_arn(std::string_view arn) {
  if (arn.size() > kMaxRoleArnBytes) return false;
  if (arn.substr(0, 4) != "arn:") return false;
  arn.remove_prefix(4);
  static constexpr std::string_view kPartitions[] = {"aws:", "aws-cn:", "aws-us-gov:"};
  bool partition_ok = false;
  for (std::string_view p : kPartitions) {
    if (arn.substr(0, p.size()) == p) {
      arn.remove_prefix(p.size());
      partition_ok = true;
      break;
    }
  }
  if (!partition_ok) return false;
  if (arn.substr(0, 5) != "iam::") return false;  // IAM is global: the region field is empty
  arn.remove_prefix(5);
  if (arn.size() < 12) return false;
  for (size_t i = 0; i < 12; ++i)
    if (!is_digit(arn[i])) return false;
  arn.remove_prefix(12);
  if (arn.substr(0, 6) != ":role/") return false;
  arn.remove_prefix(6);
  if (arn.empty() || arn.front() == '/' || arn.back() == '/') return false;
  size_t segment = 0;
  for (char c : arn) {
    if (c == '/') {
      if (segment == 0) return false;  // "//"
      segment = 0;
      continue;
    }
    if (!is_session_char(c)) return false;
    ++segment;
  }
  return segment >= 1 && segment <= 64;  // the role name itself
}

bool parse_credentials(Parser& p, std::string_view obj, Entry& e) {
  if (json::kind_of(obj) != json::Kind::kObject) return p.fail("credentials must be a JSON object");
  constexpr const char* kAllowed = "roleArn, roleExternalId, roleSessionName, credentialsDuration";
  bool seen_arn = false, seen_ext = false, seen_name = false, seen_dur = false;
  json::ObjectIter it(obj);
  json::Member mem;
  while (it.next(mem)) {
    if (json::key_equals(mem.raw_key, "roleArn")) {
      if (seen_arn) return p.fail("duplicate member credentials.roleArn");
      seen_arn = true;
      if (!p.decode(mem.raw_value, "credentials.roleArn", e.role_arn)) return false;
      if (!valid_role_arn(e.role_arn)) {
        char q[kQuotedBytes];
        text::quote(q, sizeof q, e.role_arn, kMaxEchoBytes);
        // The hint about the region: AWS's own manifest examples put one there
        // ("arn:aws:us-west-1:iam::…", "arn:us-west-1:iam::…"), which STS rejects.
        return p.fail("credentials.roleArn %s is not an IAM role ARN: use arn:aws:iam::<12-digit account>:role/<name> "
                      "(partitions aws, aws-cn, aws-us-gov; IAM ARNs have no region field)", q);
      }
    } else if (json::key_equals(mem.raw_key, "roleExternalId")) {
      if (seen_ext) return p.fail("duplicate member credentials.roleExternalId");
      seen_ext = true;
      if (!p.decode(mem.raw_value, "credentials.roleExternalId", e.external_id)) return false;
      bool ok = e.external_id.size() >= kMinExternalIdBytes && e.external_id.size() <= kMaxExternalIdBytes;
      for (char c : e.external_id) ok = ok && is_external_id_char(c);
      // The external ID is not echoed: it acts as a shared secret with the role's trust policy.
      if (!ok)
        return p.fail("credentials.roleExternalId (value hidden, %zu bytes) must be %zu..%zu characters of "
                      "[A-Za-z0-9_+=,.@:/-]", e.external_id.size(), kMinExternalIdBytes, kMaxExternalIdBytes);
    } else if (json::key_equals(mem.raw_key, "roleSessionName")) {
      if (seen_name) return p.fail("duplicate member credentials.roleSessionName");
      seen_name = true;
      if (!p.decode(mem.raw_value, "credentials.roleSessionName", e.session_name)) return false;
      bool ok = e.session_name.size() >= kMinSessionNameBytes && e.session_name.size() <= kMaxSessionNameBytes;
      for (char c : e.session_name) ok = ok && is_session_char(c);
      if (!ok) {
        char q[kQuotedBytes];
        text::quote(q, sizeof q, e.session_name, kMaxEchoBytes);
        return p.fail("credentials.roleSessionName %s must be %zu..%zu characters of [A-Za-z0-9_+=,.@-]", q,
                      kMinSessionNameBytes, kMaxSessionNameBytes);
      }
    } else if (json::key_equals(mem.raw_key, "credentialsDuration")) {
      if (seen_dur) return p.fail("duplicate member credentials.credentialsDuration");
      seen_dur = true;
      std::string_view raw = mem.raw_value;
      uint64_t ms = 0;
      bool ok = false;
      char shown[kQuotedBytes];
      if (json::kind_of(raw) == json::Kind::kString) {
        char text[64];
        long n = json::decode_string(raw, text, sizeof text);
        if (n >= 0) {
          ok = settings::parse_duration_ms(std::string_view(text, static_cast<size_t>(n)), &ms);
          text::quote(shown, sizeof shown, std::string_view(text, static_cast<size_t>(n)), kMaxEchoBytes);
        } else {
          text::quote(shown, sizeof shown, raw, kMaxEchoBytes);
        }
      } else if (json::kind_of(raw) == json::Kind::kNumber) {
        // A bare integer number of seconds; no sign, fraction or exponent.
        ok = !raw.empty() && raw.size() <= 9 && !(raw.size() > 1 && raw[0] == '0');
        for (char c : raw) ok = ok && is_digit(c);
        if (ok) ok = settings::parse_duration_ms(raw, &ms);
        snprintf(shown, sizeof shown, "%.*s", static_cast<int>(raw.size() < kMaxEchoBytes ? raw.size() : kMaxEchoBytes),
                 raw.data());
      } else {
        return p.fail("credentials.credentialsDuration must be a string such as \"2h\" or a number of seconds");
      }
      if (!ok || ms % 1000 != 0 || ms / 1000 < kMinDurationS || ms / 1000 > kMaxDurationS)
        return p.fail("credentials.credentialsDuration %s is not a duration of whole seconds between 15m and 12h "
                      "(forms: \"2h\", \"90m\", \"3600s\", \"3600\", \"1h30m\")", shown);
      e.duration_s = static_cast<uint32_t>(ms / 1000);
    } else {
      return p.unknown_member(mem, "credentials", kAllowed);
    }
  }
  if (!it.ok()) return p.fail("credentials must be a JSON object");
  if (!seen_arn) return p.fail("credentials has no roleArn (required: the role to assume for this key)");
  e.has_role = true;
  return true;
}

bool parse_write_to(Parser& p, std::string_view obj, Entry& e) {
  if (json::kind_of(obj) != json::Kind::kObject) return p.fail("writeTo must be a JSON object");
  bool seen_path = false;
  json::ObjectIter it(obj);
  json::Member mem;
  while (it.next(mem)) {
    if (!json::key_equals(mem.raw_key, "path")) return p.unknown_member(mem, "writeTo", "path");
    if (seen_path) return p.fail("duplicate member writeTo.path");
    seen_path = true;
    if (!p.decode(mem.raw_value, "writeTo.path", e.write_to_path)) return false;
  }
  if (!it.ok()) return p.fail("writeTo must be a JSON object");
  if (!seen_path) return p.fail("writeTo has no path (required: the file to write the configuration to)");
  std::string_view path = e.write_to_path;
  char q[kQuotedBytes];
  text::quote(q, sizeof q, path, kMaxEchoBytes);
  if (path.find('\0') != std::string_view::npos) return p.fail("writeTo.path %s contains a NUL byte", q);
  if (path.empty() || path.front() != '/') return p.fail("writeTo.path %s must be an absolute path", q);
  if (path.size() > kMaxWritePathBytes)
    return p.fail("writeTo.path is %zu bytes, more than %zu", path.size(), kMaxWritePathBytes);
  if (path.back() == '/') return p.fail("writeTo.path %s must name a file, not end in '/'", q);
  // "." and ".." segments: the path must say plainly where the file goes, so a manifest reviewed
  // by a human cannot hide a climb out of the directory it appears to name.
  std::string_view rest = path.substr(1);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    if (seg == "." || seg == "..") return p.fail("writeTo.path %s must not contain a \".\" or \"..\" segment", q);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  e.has_write_to = true;
  return true;
}

// The members of one key's object: credentials and/or writeTo, each at most once.
bool parse_entry_members(Parser& p, std::string_view obj, Entry& e) {
  if (json::kind_of(obj) != json::Kind::kObject)
    return p.fail("value must be a JSON object ({} or with credentials and/or writeTo)");
  bool seen_cred = false, seen_write = false;
  json::ObjectIter inner(obj);
  json::Member im;
  while (inner.next(im)) {
    if (json::key_equals(im.raw_key, "credentials")) {
      if (seen_cred) return p.fail("duplicate member credentials");
      seen_cred = true;
      if (!parse_credentials(p, im.raw_value, e)) return false;
    } else if (json::key_equals(im.raw_key, "writeTo")) {
      if (seen_write) return p.fail("duplicate member writeTo");
      seen_write = true;
      if (!parse_write_to(p, im.raw_value, e)) return false;
    } else {
      return p.unknown_member(im, "the key's object", "credentials, writeTo");
    }
  }
  if (!inner.ok()) return p.fail("value must be a JSON object");
  return true;
}

// One "App:Env:Profile": {...} member into the next entry of p.m (counted by the caller).
bool parse_entry(Parser& p, const json::Member& mem) {
  Manifest& out = p.m;
  char key_text[kMaxKeyTextBytes];
  long n = json::decode_string(mem.raw_key, key_text, sizeof key_text);
  std::string_view key = n < 0 ? mem.raw_key : std::string_view(key_text, static_cast<size_t>(n));
  text::quote(p.key_q, sizeof p.key_q, key, kMaxEchoBytes);
  if (out.num_entries == kMaxEntries) return p.fail("too many keys: at most %zu", kMaxEntries);
  Entry& e = out.entries[out.num_entries];
  e = Entry{};
  settings::KeyRef ref;
  if (n < 0 || !settings::parse_key_ref(key, ref, out.storage, sizeof out.storage, &out.used))
    return p.fail("is not a configuration key: use \"App:Env:Profile\" or "
                  "\"/applications/App/environments/Env/configurations/Profile\" (names 1..%zu bytes, "
                  "percent-encoded where they hold ':' or '/')", settings::kMaxNameBytes);
  e.application = ref.application;
  e.environment = ref.environment;
  e.profile = ref.profile;
  for (size_t i = 0; i < out.num_entries; ++i) {
    const Entry& o = out.entries[i];
    if (o.application == e.application && o.environment == e.environment && o.profile == e.profile)
      return p.fail("duplicate key (the same configuration as key #%zu)", i + 1);
  }
  if (!parse_entry_members(p, mem.raw_value, e)) return false;
  if (e.has_write_to) {
    for (size_t i = 0; i < out.num_entries; ++i) {
      const Entry& o = out.entries[i];
      if (o.has_write_to && o.write_to_path == e.write_to_path) {
        char q[kQuotedBytes];
        text::quote(q, sizeof q, e.write_to_path, kMaxEchoBytes);
        return p.fail("writeTo.path %s is also the path of key #%zu: two configurations cannot share a file", q,
                      i + 1);
      }
    }
  }
  return true;
}

}  // namespace

bool parse(std::string_view json_text, Manifest& out, char* err, size_t err_cap) {
  if (err != nullptr && err_cap > 0) err[0] = '\0';
  out.num_entries = 0;
  out.used = 0;
  Parser p{out, err, err_cap, {}};
  p.key_q[0] = '\0';

  if (json_text.size() > kMaxManifestBytes)
    return p.fail("document is %zu bytes, more than the %zu-byte limit", json_text.size(), kMaxManifestBytes);
  json::ValidateResult v = json::validate(json_text);
  if (v.error != json::Error::kNone)
    return p.fail("not valid JSON at byte %zu: %s", v.offset, json::error_message(v.error));
  if (json::kind_of(json_text) != json::Kind::kObject)
    return p.fail("the document must be a JSON object keyed by \"App:Env:Profile\"");

  json::ObjectIter it(json_text);
  json::Member mem;
  while (it.next(mem)) {
    if (!parse_entry(p, mem)) {
      out.num_entries = 0;  // no half manifest
      return false;
    }
    ++out.num_entries;
  }
  if (!it.ok()) {
    p.key_q[0] = '\0';
    p.fail("the document must be a JSON object");
    out.num_entries = 0;
    return false;
  }
  return true;
}

bool load_file(const char* path, Manifest& out, char* err, size_t err_cap) {
  out.num_entries = 0;
  if (err != nullptr && err_cap > 0) err[0] = '\0';
  auto fail = [&](const char* what, int errno_value) {
    if (err != nullptr && err_cap > 0) {
      if (errno_value != 0)
        snprintf(err, err_cap, "manifest file %s: %s: %s", path, what, strerror(errno_value));
      else
        snprintf(err, err_cap, "manifest file %s: %s", path, what);
    }
    return false;
  };
  // O_NONBLOCK: a FIFO at the path must not block start-up or a SIGHUP reload (it is then refused
  // by the S_ISREG check). Links are followed: the operator names this path (ConfigMaps are links).
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return fail("cannot open", errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail("cannot stat", e);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(S_ISFIFO(st.st_mode) ? "is a FIFO, not a regular file" : "is not a regular file", 0);
  }
  // One byte more than the limit, so a file that grew past it after fstat is still detected.
  char* buf = static_cast<char*>(malloc(kMaxManifestBytes + 1));
  if (buf == nullptr) {
    close(fd);
    return fail("cannot allocate the read buffer", ENOMEM);
  }
  size_t len = 0;
  if (const int e = sysfile::read_full(fd, buf, kMaxManifestBytes + 1, &len); e != 0) {
    free(buf);
    close(fd);
    return fail("read failed", e);
  }
  close(fd);
  if (len > kMaxManifestBytes) {
    free(buf);
    char what[96];
    snprintf(what, sizeof what, "is larger than the %zu-byte limit", kMaxManifestBytes);
    return fail(what, 0);
  }
  char inner[512];
  bool ok = parse(std::string_view(buf, len), out, inner, sizeof inner);
  free(buf);
  if (!ok && err != nullptr && err_cap > 0) snprintf(err, err_cap, "manifest file %s: %s", path, inner);
  return ok;
}

bool load_inline(std::string_view json_text, Manifest& out, char* err, size_t err_cap) {
  out.num_entries = 0;
  if (json_text.size() > kMaxManifestBytes) {
    if (err != nullptr && err_cap > 0)
      snprintf(err, err_cap, "inline manifest: is larger than the %zu-byte limit", kMaxManifestBytes);
    return false;
  }
  char inner[512];
  bool ok = parse(json_text, out, inner, sizeof inner);
  if (!ok && err != nullptr && err_cap > 0) snprintf(err, err_cap, "inline manifest: %s", inner);
  return ok;
}

}  // namespace appconfig::manifest
