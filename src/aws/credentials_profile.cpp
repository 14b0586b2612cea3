// credentials_profile: the shared credentials and config files (AWS_PROFILE, ~/.aws/credentials,
// ~/.aws/config) and the default Chain over every source. See include/appconfig/aws/credentials.h.
#include <cstdio>
#include <cstring>

#include "appconfig/aws/credentials.h"
#include "appconfig/aws/credentials_internal.h"
#include "appconfig/aws/crypto.h"
#include "appconfig/core/error.h"
#include "appconfig/core/text.h"

namespace appconfig::credentials {

using internal::check_creds;
using internal::copy_str;

namespace {

// Blanks around names and values in the shared files: SP, HTAB, and the CR of CRLF lines.
constexpr std::string_view kIniSpace = " \t\r";

bool section_matches(std::string_view header, SharedFile kind, std::string_view profile) {
  header = text::trim(header, kIniSpace);
  if (kind == SharedFile::kCredentials) return header == profile;
  if (header == "default") return profile == "default";
  constexpr std::string_view kProfile = "profile";
  if (header.size() > kProfile.size() && header.substr(0, kProfile.size()) == kProfile &&
      (header[kProfile.size()] == ' ' || header[kProfile.size()] == '\t'))
    return text::trim(header.substr(kProfile.size()), kIniSpace) == profile;
  return false;
}

// Calls fn(key, value) for every assignment in `profile`'s sections; fn returns false to stop.
// Also reports whether a section was found.
template <typename Fn>
bool scan_profile(std::string_view file, SharedFile kind, std::string_view profile, Fn fn) {
  bool found = false, in = false;
  size_t pos = 0;
  while (pos < file.size()) {
    size_t nl = file.find('\n', pos);
    std::string_view line = file.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? file.size() : nl + 1;
    if (line.empty()) continue;
    // Indented lines continue a nested block ("s3 =\n  max_concurrent_requests = 20"): ignored.
    if (line.front() == ' ' || line.front() == '\t') continue;
    std::string_view t = text::trim(line, kIniSpace);
    if (t.empty() || t.front() == '#' || t.front() == ';') continue;
    if (t.front() == '[') {
      size_t close = t.find(']');
      in = close != std::string_view::npos && section_matches(t.substr(1, close - 1), kind, profile);
      found = found || in;
      continue;
    }
    if (!in) continue;
    size_t eq = t.find('=');
    if (eq == std::string_view::npos) continue;
    if (!fn(text::trim(t.substr(0, eq), kIniSpace), text::trim(t.substr(eq + 1), kIniSpace))) break;
  }
  return found;
}

}  // namespace

bool profile_exists(std::string_view file, SharedFile kind, std::string_view profile) {
  return scan_profile(file, kind, profile, [](std::string_view, std::string_view) { return true; });
}

bool profile_value(std::string_view file, SharedFile kind, std::string_view profile, std::string_view key,
                   std::string_view* value) {
  bool have = false;
  scan_profile(file, kind, profile, [&](std::string_view k, std::string_view v) {
    if (text::iequals(k, key)) {
      *value = v;
      have = true;
    }
    return true;
  });
  return have;
}

namespace {

// $HOME/.aws/<name>, or the variable's value with a leading "~/" expanded. false: no path (no HOME).
bool shared_path(std::string_view configured, std::string_view home, const char* default_name, char* out, size_t cap) {
  if (!configured.empty()) {
    if (configured.size() >= 2 && configured[0] == '~' && configured[1] == '/') {
      if (home.empty()) return false;
      return snprintf(out, cap, "%.*s%.*s", static_cast<int>(home.size()), home.data(),
                      static_cast<int>(configured.size() - 1), configured.data() + 1) < static_cast<int>(cap);
    }
    return snprintf(out, cap, "%.*s", static_cast<int>(configured.size()), configured.data()) < static_cast<int>(cap);
  }
  if (home.empty()) return false;
  return snprintf(out, cap, "%.*s/.aws/%s", static_cast<int>(home.size()), home.data(), default_name) <
         static_cast<int>(cap);
}

// Reads a shared file; a missing one (or no path at all) is empty, not an error.
bool load_shared(const char* path, const char* what, char* buf, size_t* len, char* err, size_t cap) {
  *len = 0;
  buf[0] = '\0';
  if (path[0] == '\0') return true;
  bool missing = false;
  if (read_small_file(path, what, buf, kMaxSharedFileBytes, len, &missing, err, cap)) return true;
  *len = 0;
  return missing;
}

}  // namespace

bool profile_region(const settings::Settings& s, char* buf, char* out, size_t cap, char* err, size_t err_cap) {
  out[0] = '\0';
  char path[4200] = "";
  if (!shared_path(s.config_file, s.home, "config", path, sizeof path)) path[0] = '\0';
  size_t len = 0;
  if (!load_shared(path, "AWS_CONFIG_FILE", buf, &len, err, err_cap)) return false;
  std::string_view profile = s.profile.empty() ? std::string_view("default") : s.profile;
  std::string_view v;
  bool ok = true;
  if (profile_value(std::string_view(buf, len), SharedFile::kConfig, profile, "region", &v) && !v.empty()) {
    bool valid = v.size() <= endpoints::kMaxRegionBytes && v.front() >= 'a' && v.front() <= 'z' && v.back() != '-';
    for (char c : v) valid = valid && ((c >= 'a' && c <= 'z') || text::is_digit(c) || c == '-');
    if (!valid) {
      error::fail(err, err_cap, "profile %.*s in %s has region \"%.*s\": not a valid AWS region (us-east-1)",
                  static_cast<int>(profile.size()), profile.data(), path,
                  static_cast<int>(v.size() < 40 ? v.size() : 40), v.data());
      ok = false;
    } else {
      copy_str(v, out, cap);
    }
  }
  crypto::secure_wipe(buf, len);
  return ok;
}

// ---- Chain

namespace {

// A profile name as quoted in errors: cut at 128 bytes.
int shown(std::string_view name) { return static_cast<int>(name.size() < 128 ? name.size() : 128); }

// A credential_source base (botocore's names): Environment, EcsContainer or Ec2InstanceMetadata.
bool init_credential_source(Provider& base, loop::Loop* lp, http_client::Client* client, const settings::Settings& s,
                            std::string_view name, std::string_view source, char* err, size_t cap) {
  if (source == "Environment") {
    if (s.access_key_id.empty())
      return error::fail(err, cap, "profile %.*s: credential_source = Environment but AWS_ACCESS_KEY_ID is not set",
                         shown(name), name.data());
    return base.init_from_settings(lp, client, s, err, cap);
  }
  if (source == "EcsContainer") {
    if (base.init_container(lp, client, s, err, cap)) return true;
    if (err != nullptr && cap > 0 && err[0] == '\0')
      error::fail(err, cap, "profile %.*s: credential_source = EcsContainer but no AWS_CONTAINER_CREDENTIALS_* is set",
                  shown(name), name.data());
    return false;
  }
  if (source == "Ec2InstanceMetadata") return base.init_imds(lp, client, s, err, cap);
  return error::fail(err, cap,
                     "profile %.*s: credential_source \"%.*s\" is not one of Environment, EcsContainer, "
                     "Ec2InstanceMetadata",
                     shown(name), name.data(), static_cast<int>(source.size() < 40 ? source.size() : 40),
                     source.data());
}

// duration_seconds: empty means 0 (STS's default); else kMinDurationS..kMaxDurationS.
bool parse_duration(std::string_view name, std::string_view duration, uint32_t* out, char* err, size_t cap) {
  *out = 0;
  if (duration.empty()) return true;
  uint64_t d = 0;
  if (duration.size() > 6 || !text::parse_u64(duration, &d) || d < kMinDurationS || d > kMaxDurationS)
    return error::fail(err, cap, "profile %.*s: duration_seconds must be %u to %u", shown(name), name.data(),
                       kMinDurationS, kMaxDurationS);
  *out = static_cast<uint32_t>(d);
  return true;
}

}  // namespace

// The keys of one profile that choose where its credentials come from.
struct Chain::ProfileKeys {
  std::string_view role_arn, source_profile, credential_source, token_file;
  std::string_view key, secret, token;  // aws_access_key_id, aws_secret_access_key, aws_session_token
  std::string_view session_name, external_id, duration;
  bool has_static() const { return !key.empty() && !secret.empty(); }
};

Provider* Chain::add() { return used_ < kMaxChainProviders ? &providers_[used_++] : nullptr; }

Provider* Chain::add_for(std::string_view profile, char* err, size_t cap) {
  Provider* p = add();
  if (p == nullptr)
    error::fail(err, cap, "profile %.*s: too many providers in the chain", shown(profile), profile.data());
  return p;
}

void Chain::describe(const char* fmt, std::string_view name) {
  size_t len = strlen(description_);
  if (len < sizeof description_)
    snprintf(description_ + len, sizeof description_ - len, fmt,
             static_cast<int>(name.size() < 200 ? name.size() : 200), name.data());
}

bool Chain::profile_get(std::string_view profile, const char* key, std::string_view* v) const {
  return profile_value({credentials_file_, credentials_len_}, SharedFile::kCredentials, profile, key, v) ||
         profile_value({config_file_, config_len_}, SharedFile::kConfig, profile, key, v);
}

bool Chain::init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap) {
  used_ = 0;
  description_[0] = '\0';
  lp_ = lp;
  client_ = client;
  // 1. Environment keys (a partial pair is an error there).
  if (!s.access_key_id.empty() || !s.secret_access_key.empty()) {
    if (!add()->init_from_settings(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "environment (AWS_ACCESS_KEY_ID)");
    return true;
  }
  // 2. Web identity (EKS IRSA).
  if (!s.web_identity_token_file.empty()) return from_web_identity_variables(s, err, cap);
  // 3. Shared files.
  bool chosen = false;
  if (!from_shared_files(s, &chosen, err, cap)) return false;
  if (chosen) return true;
  // 4. Container endpoint.
  if (!s.container_credentials_full_uri.empty() || !s.container_credentials_relative_uri.empty()) {
    if (!add()->init_container(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "container endpoint (%s)",
             s.container_credentials_full_uri.empty() ? "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
                                                      : "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    return true;
  }
  // 5. Instance metadata: the agent only (Lambda has none).
  if (s.mode == settings::Mode::kAgent && !s.ec2_metadata_disabled) {
    Provider* p = add();
    if (!p->init_imds(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "instance metadata (IMDS at %s)", p->imds_where());
    return true;
  }
  add()->init_from_settings(lp, client, s, err, cap);  // source none: get() reports it
  snprintf(description_, sizeof description_, "none");
  return true;
}

// AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN. AWS_ROLE_ARN alone is left alone (other tools read
// it); a token file without a role is a mistake (aws-sdk-go-v2 refuses it too).
bool Chain::from_web_identity_variables(const settings::Settings& s, char* err, size_t cap) {
  if (s.aws_role_arn.empty()) {
    return error::fail(
        err, cap, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: both are needed for web identity");
  }
  endpoints::Endpoint sts;
  if (!endpoints::sts(s, sts, err, cap)) return false;
  if (!add()->init_web_identity(lp_, client_, s.web_identity_token_file, s.aws_role_arn, s.aws_role_session_name, sts,
                                err, cap))
    return false;
  snprintf(description_, sizeof description_, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, role %.*s)",
           static_cast<int>(s.aws_role_arn.size() < 300 ? s.aws_role_arn.size() : 300), s.aws_role_arn.data());
  return true;
}

// The AWS_PROFILE (else "default") profile, when it exists in either file and has a credential
// key; an explicit AWS_PROFILE that names no profile is an error. The files are read here and
// wiped before returning.
bool Chain::from_shared_files(const settings::Settings& s, bool* chosen, char* err, size_t cap) {
  char cred_path[4200] = "", config_path[4200] = "";
  if (!shared_path(s.shared_credentials_file, s.home, "credentials", cred_path, sizeof cred_path)) cred_path[0] = '\0';
  if (!shared_path(s.config_file, s.home, "config", config_path, sizeof config_path)) config_path[0] = '\0';
  if (!load_shared(cred_path, "AWS_SHARED_CREDENTIALS_FILE", credentials_file_, &credentials_len_, err, cap) ||
      !load_shared(config_path, "AWS_CONFIG_FILE", config_file_, &config_len_, err, cap)) {
    crypto::secure_wipe(credentials_file_, credentials_len_ + 1);
    return false;
  }
  std::string_view name = s.profile.empty() ? std::string_view("default") : s.profile;
  std::string_view cf(credentials_file_, credentials_len_), kf(config_file_, config_len_);
  bool exists = profile_exists(cf, SharedFile::kCredentials, name) || profile_exists(kf, SharedFile::kConfig, name);
  bool has_credentials = false;
  for (const char* key : {"aws_access_key_id", "aws_secret_access_key", "role_arn", "credential_process",
                          "sso_start_url", "sso_session", "credential_source", "source_profile",
                          "web_identity_token_file"}) {
    std::string_view v;
    has_credentials = has_credentials || profile_get(name, key, &v);
  }
  bool ok = true;
  if (exists && has_credentials) {
    Provider* top = nullptr;
    snprintf(description_, sizeof description_, "shared profile %.*s", static_cast<int>(name.size()), name.data());
    ok = from_profile(s, name, 0, &top, err, cap);
    *chosen = ok;
  } else if (s.profile_explicit && !exists) {
    ok = error::fail(err, cap, "AWS_PROFILE=%.*s: no such profile in %s or %s", static_cast<int>(name.size()),
                     name.data(), cred_path[0] != '\0' ? cred_path : "(no credentials file)",
                     config_path[0] != '\0' ? config_path : "(no config file)");
  }
  crypto::secure_wipe(credentials_file_, credentials_len_ + 1);
  crypto::secure_wipe(config_file_, config_len_ + 1);
  credentials_len_ = config_len_ = 0;
  return ok;
}

// One profile: a role (over source_profile, credential_source or a web identity token file),
// else static keys, else an error that says why the profile gives no credentials.
bool Chain::from_profile(const settings::Settings& s, std::string_view name, size_t depth, Provider** out, char* err,
                         size_t cap) {
  const int nl = shown(name);
  if (depth > kMaxProfileChainDepth) {
    return error::fail(err, cap, "profile %.*s: the role chain is longer than %zu source_profile hops (a cycle?)", nl,
                       name.data(), kMaxProfileChainDepth);
  }
  if (!profile_exists({credentials_file_, credentials_len_}, SharedFile::kCredentials, name) &&
      !profile_exists({config_file_, config_len_}, SharedFile::kConfig, name)) {
    return error::fail(err, cap,
                       "profile %.*s (a source_profile) does not exist in the shared credentials or config file", nl,
                       name.data());
  }
  ProfileKeys k;
  profile_get(name, "role_arn", &k.role_arn);
  profile_get(name, "source_profile", &k.source_profile);
  profile_get(name, "credential_source", &k.credential_source);
  profile_get(name, "web_identity_token_file", &k.token_file);
  profile_get(name, "aws_access_key_id", &k.key);
  profile_get(name, "aws_secret_access_key", &k.secret);
  profile_get(name, "aws_session_token", &k.token);
  profile_get(name, "role_session_name", &k.session_name);
  profile_get(name, "external_id", &k.external_id);
  profile_get(name, "duration_seconds", &k.duration);
  if (!k.role_arn.empty()) return from_role(s, name, k, depth, out, err, cap);
  if (k.has_static()) {
    if (!add_static_keys(name, k, "aws_access_key_id / aws_secret_access_key / aws_session_token", out, err, cap))
      return false;
    describe(depth == 0 ? " (static keys)" : " (static keys of %.*s)", name);
    return true;
  }
  return refuse_profile(name, k, err, cap);
}

// role_arn: AssumeRole over the base of source_profile or credential_source, or web identity with
// the profile's web_identity_token_file.
bool Chain::from_role(const settings::Settings& s, std::string_view name, const ProfileKeys& k, size_t depth,
                      Provider** out, char* err, size_t cap) {
  const int nl = shown(name);
  endpoints::Endpoint sts;
  if (!endpoints::sts(s, sts, err, cap)) return false;
  if (!k.source_profile.empty() && !k.credential_source.empty()) {
    return error::fail(err, cap, "profile %.*s sets both source_profile and credential_source: keep one", nl,
                       name.data());
  }
  if (k.source_profile.empty() && k.credential_source.empty()) {
    if (k.token_file.empty()) {
      return error::fail(
          err, cap, "profile %.*s has role_arn but no source_profile, credential_source or web_identity_token_file", nl,
          name.data());
    }
    Provider* p = add_for(name, err, cap);
    if (p == nullptr) return false;
    if (!p->init_web_identity(lp_, client_, k.token_file, k.role_arn, k.session_name, sts, err, cap)) return false;
    describe(" -> web identity %.*s", k.role_arn);
    *out = p;
    return true;
  }
  Provider* base = nullptr;
  if (!role_base(s, name, k, depth, &base, err, cap)) return false;
  uint32_t duration_s = 0;
  if (!parse_duration(name, k.duration, &duration_s, err, cap)) return false;
  Provider* p = add_for(name, err, cap);
  if (p == nullptr) return false;
  char why[kMaxErrorBytes];
  if (!p->init_assume_role(lp_, client_, base, k.role_arn, k.external_id, k.session_name, duration_s, sts, why,
                           sizeof why)) {
    return error::fail(err, cap, "profile %.*s: %s", nl, name.data(), why);
  }
  describe(" -> AssumeRole %.*s", k.role_arn);
  *out = p;
  return true;
}

// The provider a role is assumed with: the profile's own static keys (a source_profile naming
// itself: botocore allows this one self-reference), the source_profile's chain, or the
// credential_source.
bool Chain::role_base(const settings::Settings& s, std::string_view name, const ProfileKeys& k, size_t depth,
                      Provider** base, char* err, size_t cap) {
  if (!k.source_profile.empty()) {
    if (k.source_profile == name && k.has_static()) {
      if (!add_static_keys(name, k, "aws_access_key_id / aws_secret_access_key", base, err, cap)) return false;
      describe(" (static keys of %.*s)", name);
      return true;
    }
    return from_profile(s, k.source_profile, depth + 1, base, err, cap);
  }
  *base = add_for(name, err, cap);
  if (*base == nullptr) return false;
  if (!init_credential_source(**base, lp_, client_, s, name, k.credential_source, err, cap)) return false;
  describe(" (credential_source %.*s)", k.credential_source);
  return true;
}

// A Provider with the profile's static keys; `keys` names them in the error.
bool Chain::add_static_keys(std::string_view name, const ProfileKeys& k, const char* keys, Provider** out, char* err,
                            size_t cap) {
  Creds c{};
  if (!copy_str(k.key, c.access_key_id, sizeof c.access_key_id) ||
      !copy_str(k.secret, c.secret_access_key, sizeof c.secret_access_key) ||
      !copy_str(k.token, c.session_token, sizeof c.session_token) || !check_creds(c, err, cap)) {
    crypto::secure_wipe(&c, sizeof c);
    return error::fail(err, cap, "profile %.*s: %s are too long or not printable", shown(name), name.data(), keys);
  }
  Provider* p = add_for(name, err, cap);
  if (p != nullptr) p->init_static(lp_, client_, c, Source::kProfile);
  crypto::secure_wipe(&c, sizeof c);
  if (p == nullptr) return false;
  *out = p;
  return true;
}

// Why a profile without role_arn or a static key pair gives no credentials (always false).
bool Chain::refuse_profile(std::string_view name, const ProfileKeys& k, char* err, size_t cap) const {
  const int nl = shown(name);
  std::string_view v;
  if (!k.key.empty() || !k.secret.empty()) {
    return error::fail(err, cap, "profile %.*s has only one of aws_access_key_id and aws_secret_access_key", nl,
                       name.data());
  }
  if (profile_get(name, "credential_process", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s uses credential_process, which is not supported (running a program would block the agent): "
        "use a role, static keys or web identity",
        nl, name.data());
  }
  if (profile_get(name, "sso_start_url", &v) || profile_get(name, "sso_session", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s is an IAM Identity Center (SSO) profile, which is not supported: run `aws configure "
        "export-credentials` or use a role",
        nl, name.data());
  }
  return error::fail(err, cap, "profile %.*s has no credentials (aws_access_key_id, role_arn, ...)", nl, name.data());
}

}  // namespace appconfig::credentials
