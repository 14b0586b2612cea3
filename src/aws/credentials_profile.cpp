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

Provider* Chain::add() { return used_ < kMaxChainProviders ? &providers_[used_++] : nullptr; }

bool Chain::init(loop::Loop* lp, http_client::Client* client, const settings::Settings& s, char* err, size_t cap) {
  used_ = 0;
  description_[0] = '\0';
  // 1. Environment keys (a partial pair is an error there).
  if (!s.access_key_id.empty() || !s.secret_access_key.empty()) {
    if (!add()->init_from_settings(lp, client, s, err, cap)) return false;
    snprintf(description_, sizeof description_, "environment (AWS_ACCESS_KEY_ID)");
    return true;
  }
  // 2. Web identity (EKS IRSA). AWS_ROLE_ARN alone is left alone (other tools read it); a token
  // file without a role is a mistake (aws-sdk-go-v2 refuses it too).
  if (!s.web_identity_token_file.empty()) {
    if (s.aws_role_arn.empty()) {
      return error::fail(
          err, cap, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not: both are needed for web identity");
    }
    endpoints::Endpoint sts;
    if (!endpoints::sts(s, sts, err, cap)) return false;
    if (!add()->init_web_identity(lp, client, s.web_identity_token_file, s.aws_role_arn, s.aws_role_session_name, sts,
                                  err, cap))
      return false;
    snprintf(description_, sizeof description_, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE, role %.*s)",
             static_cast<int>(s.aws_role_arn.size() < 300 ? s.aws_role_arn.size() : 300), s.aws_role_arn.data());
    return true;
  }
  // 3. Shared files.
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
    has_credentials = has_credentials || profile_value(cf, SharedFile::kCredentials, name, key, &v) ||
                      profile_value(kf, SharedFile::kConfig, name, key, &v);
  }
  bool ok = true, chosen = false;
  if (exists && has_credentials) {
    Provider* top = nullptr;
    int n = snprintf(description_, sizeof description_, "shared profile %.*s", static_cast<int>(name.size()),
                     name.data());
    (void)n;
    ok = from_profile(lp, client, s, name, 0, &top, err, cap);
    chosen = ok;
  } else if (s.profile_explicit && !exists) {
    error::fail(err, cap, "AWS_PROFILE=%.*s: no such profile in %s or %s", static_cast<int>(name.size()), name.data(),
                cred_path[0] != '\0' ? cred_path : "(no credentials file)",
                config_path[0] != '\0' ? config_path : "(no config file)");
    ok = false;
  }
  crypto::secure_wipe(credentials_file_, credentials_len_ + 1);
  crypto::secure_wipe(config_file_, config_len_ + 1);
  credentials_len_ = config_len_ = 0;
  if (!ok || chosen) return ok;
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

bool Chain::from_profile(loop::Loop* lp, http_client::Client* client, const settings::Settings& s,
                         std::string_view name, size_t depth, Provider** out, char* err, size_t cap) {
  std::string_view cf(credentials_file_, credentials_len_), kf(config_file_, config_len_);
  const int nl = static_cast<int>(name.size() < 128 ? name.size() : 128);
  if (depth > kMaxProfileChainDepth) {
    return error::fail(err, cap, "profile %.*s: the role chain is longer than %zu source_profile hops (a cycle?)", nl,
                       name.data(), kMaxProfileChainDepth);
  }
  if (!profile_exists(cf, SharedFile::kCredentials, name) && !profile_exists(kf, SharedFile::kConfig, name)) {
    return error::fail(err, cap,
                       "profile %.*s (a source_profile) does not exist in the shared credentials or config file", nl,
                       name.data());
  }
  auto get = [&](const char* key, std::string_view* v) {
    return profile_value(cf, SharedFile::kCredentials, name, key, v) || profile_value(kf, SharedFile::kConfig, name, key, v);
  };
  auto append = [&](const char* fmt, std::string_view a) {
    size_t len = strlen(description_);
    if (len < sizeof description_)
      snprintf(description_ + len, sizeof description_ - len, fmt, static_cast<int>(a.size() < 200 ? a.size() : 200),
               a.data());
  };
  std::string_view role_arn, source_profile, credential_source, token_file, key, secret, token, v;
  get("role_arn", &role_arn);
  get("source_profile", &source_profile);
  get("credential_source", &credential_source);
  get("web_identity_token_file", &token_file);
  get("aws_access_key_id", &key);
  get("aws_secret_access_key", &secret);
  get("aws_session_token", &token);
  std::string_view session_name, external_id, duration;
  get("role_session_name", &session_name);
  get("external_id", &external_id);
  get("duration_seconds", &duration);
  const bool has_static = !key.empty() && !secret.empty();
  if (!role_arn.empty()) {
    endpoints::Endpoint sts;
    if (!endpoints::sts(s, sts, err, cap)) return false;
    Provider* base = nullptr;
    if (!source_profile.empty() && !credential_source.empty()) {
      return error::fail(err, cap, "profile %.*s sets both source_profile and credential_source: keep one", nl,
                         name.data());
    }
    if (!source_profile.empty()) {
      if (source_profile == name && has_static) {
        // A profile may assume a role with its own keys (botocore allows this one self-reference).
        Creds c{};
        if (!copy_str(key, c.access_key_id, sizeof c.access_key_id) ||
            !copy_str(secret, c.secret_access_key, sizeof c.secret_access_key) ||
            !copy_str(token, c.session_token, sizeof c.session_token) || !check_creds(c, err, cap)) {
          crypto::secure_wipe(&c, sizeof c);
          return error::fail(err, cap,
                             "profile %.*s: aws_access_key_id / aws_secret_access_key are too long or not printable",
                             nl, name.data());
        }
        base = add();
        if (base == nullptr) {
          crypto::secure_wipe(&c, sizeof c);
          return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
        }
        base->init_static(lp, client, c, Source::kProfile);
        crypto::secure_wipe(&c, sizeof c);
        append(" (static keys of %.*s)", name);
      } else {
        if (!from_profile(lp, client, s, source_profile, depth + 1, &base, err, cap)) return false;
      }
    } else if (!credential_source.empty()) {
      base = add();
      if (base == nullptr) {
        return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
      }
      if (credential_source == "Environment") {
        if (s.access_key_id.empty() || !base->init_from_settings(lp, client, s, err, cap)) {
          if (s.access_key_id.empty())
            error::fail(err, cap, "profile %.*s: credential_source = Environment but AWS_ACCESS_KEY_ID is not set", nl,
                        name.data());
          return false;
        }
      } else if (credential_source == "EcsContainer") {
        if (!base->init_container(lp, client, s, err, cap)) {
          if (err != nullptr && cap > 0 && err[0] == '\0')
            error::fail(err, cap,
                        "profile %.*s: credential_source = EcsContainer but no AWS_CONTAINER_CREDENTIALS_* is set", nl,
                        name.data());
          return false;
        }
      } else if (credential_source == "Ec2InstanceMetadata") {
        if (!base->init_imds(lp, client, s, err, cap)) return false;
      } else {
        return error::fail(
            err, cap,
            "profile %.*s: credential_source \"%.*s\" is not one of Environment, EcsContainer, Ec2InstanceMetadata", nl,
            name.data(), static_cast<int>(credential_source.size() < 40 ? credential_source.size() : 40),
            credential_source.data());
      }
      append(" (credential_source %.*s)", credential_source);
    } else if (!token_file.empty()) {
      Provider* p = add();
      if (p == nullptr) {
        return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
      }
      if (!p->init_web_identity(lp, client, token_file, role_arn, session_name, sts, err, cap)) return false;
      append(" -> web identity %.*s", role_arn);
      *out = p;
      return true;
    } else {
      return error::fail(
          err, cap, "profile %.*s has role_arn but no source_profile, credential_source or web_identity_token_file", nl,
          name.data());
    }
    uint32_t duration_s = 0;
    if (!duration.empty()) {
      uint64_t d = 0;
      if (duration.size() > 6 || !text::parse_u64(duration, &d) || d < kMinDurationS || d > kMaxDurationS) {
        return error::fail(err, cap, "profile %.*s: duration_seconds must be %u to %u", nl, name.data(), kMinDurationS,
                           kMaxDurationS);
      }
      duration_s = static_cast<uint32_t>(d);
    }
    Provider* p = add();
    if (p == nullptr) {
      return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
    }
    char why[kMaxErrorBytes];
    if (!p->init_assume_role(lp, client, base, role_arn, external_id, session_name, duration_s, sts, why, sizeof why)) {
      return error::fail(err, cap, "profile %.*s: %s", nl, name.data(), why);
    }
    append(" -> AssumeRole %.*s", role_arn);
    *out = p;
    return true;
  }
  if (has_static) {
    Creds c{};
    if (!copy_str(key, c.access_key_id, sizeof c.access_key_id) ||
        !copy_str(secret, c.secret_access_key, sizeof c.secret_access_key) ||
        !copy_str(token, c.session_token, sizeof c.session_token) || !check_creds(c, err, cap)) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(
          err, cap,
          "profile %.*s: aws_access_key_id / aws_secret_access_key / aws_session_token are too long or not "
          "printable",
          nl, name.data());
    }
    Provider* p = add();
    if (p == nullptr) {
      crypto::secure_wipe(&c, sizeof c);
      return error::fail(err, cap, "profile %.*s: too many providers in the chain", nl, name.data());
    }
    p->init_static(lp, client, c, Source::kProfile);
    crypto::secure_wipe(&c, sizeof c);
    append(depth == 0 ? " (static keys)" : " (static keys of %.*s)", name);
    *out = p;
    return true;
  }
  if (!key.empty() || !secret.empty()) {
    return error::fail(err, cap, "profile %.*s has only one of aws_access_key_id and aws_secret_access_key", nl,
                       name.data());
  }
  if (get("credential_process", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s uses credential_process, which is not supported (running a program would block the agent): "
        "use a role, static keys or web identity",
        nl, name.data());
  }
  if (get("sso_start_url", &v) || get("sso_session", &v)) {
    return error::fail(
        err, cap,
        "profile %.*s is an IAM Identity Center (SSO) profile, which is not supported: run `aws configure "
        "export-credentials` or use a role",
        nl, name.data());
  }
  return error::fail(err, cap, "profile %.*s has no credentials (aws_access_key_id, role_arn, ...)", nl, name.data());
}

}  // namespace appconfig::credentials
