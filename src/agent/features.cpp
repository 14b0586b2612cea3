#include "appconfig/agent/features.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sys/mman.h>

#include "appconfig/agent/backup.h"
#include "appconfig/core/error.h"
#include "appconfig/core/log.h"
#include "appconfig/agent/store.h"

namespace appconfig::features {

namespace {

void* reserve(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

bool same_key(const cache::Key& a, const cache::Key& b) {
  return a.application == b.application && a.environment == b.environment && a.profile == b.profile;
}

void copy_sv(std::string_view s, char* out, size_t cap) { snprintf(out, cap, "%.*s", static_cast<int>(s.size()), s.data()); }

// "writeTo App:Env:Prof" / "backup App:Env:Prof", for the writer's log lines.
void describe(char* out, size_t cap, const char* what, const cache::Key& k) {
  snprintf(out, cap, "%s %.*s:%.*s:%.*s", what, static_cast<int>(k.application.size()), k.application.data(),
           static_cast<int>(k.environment.size()), k.environment.data(), static_cast<int>(k.profile.size()),
           k.profile.data());
}

}  // namespace

bool Features::writer_ready() {
  if (writer_failed_) return false;
  char why[200];
  if (!writer_.start(why, sizeof why)) {
    writer_failed_ = true;
    LOG_ERROR("%s: files are written on the loop thread instead", why);
    return false;
  }
  return true;
}

// Both writes copy the bytes and queue them: the disk work (two fsyncs) runs on the writer thread.
void Features::write_to(const cache::Key& key, std::string_view path, std::string_view bytes) {
  char what[450];
  describe(what, sizeof what, "writeTo", key);
  char p[4096];
  copy_sv(path, p, sizeof p);
  writer_ready();  // when it cannot start, submit() writes on this thread
  writer_.submit(p, bytes, what);
}

void Features::write_backup(const cache::Key& key, std::string_view bytes, std::string_view content_type,
                            std::string_view version_label) {
  char what[450], why[400];
  describe(what, sizeof what, "backup", key);
  writer_ready();
  if (!writer_.submit_backup(backup_dir_, key, content_type, version_label, bytes, what, why, sizeof why))
    LOG_ERROR("%s: %s", what, why);
}

bool Features::init(loop::Loop* lp, http_client::Client* client, cache::Cache* cache, retrieval::Retriever* remote,
                    credentials::Provider* base, const settings::Settings& cfg, char* err, size_t cap) {
  loop_ = lp;
  client_ = client;
  cache_ = cache;
  remote_ = remote;
  base_ = base;
  cfg_ = &cfg;
  manifests_ = static_cast<manifest::Manifest*>(reserve(2 * sizeof(manifest::Manifest)));
  roles_ = static_cast<Role*>(reserve(manifest::kMaxEntries * (sizeof(Role) + sizeof(credentials::Provider))));
  if (manifests_ == nullptr || roles_ == nullptr) {
    return error::fail(err, cap, "out of memory for the manifest tables");
  }
  // STS for per-key roles; an error only matters once a manifest asks for a role.
  sts_ok_ = endpoints::sts(cfg, sts_, sts_err_, sizeof sts_err_);
  if (!cfg.manifest_path.empty()) {
    copy_sv(cfg.manifest_path, manifest_path_, sizeof manifest_path_);
  } else if (!cfg.manifest.empty() && !cfg.manifest_inline) {
    manifest_key_set_ = true;
    manifest_key_ = cache::Key{cfg.manifest_key.application, cfg.manifest_key.environment, cfg.manifest_key.profile};
  }
  if (!cfg.backup_directory.empty()) {
    copy_sv(cfg.backup_directory, backup_dir_, sizeof backup_dir_);
    preload_ = cfg.preload_backups;
  }
  remote_->on_stored(&Features::on_stored, this);
  if (backup_dir_[0] != '\0' && !preload_) remote_->on_unreachable(&Features::on_unreachable, this);
  if (manifest_path_[0] != '\0') return load_manifest_file(err, cap);
  if (cfg.manifest_inline) {
    // MANIFEST={...}: parsed once here, with the file form's rules and messages.
    char why[600];
    if (!manifest::load_inline(cfg.manifest, manifests_[active_ == 0 ? 1 : 0], why, sizeof why)) {
      return error::fail(err, cap, "%s: %s",
                         cfg.mode == settings::Mode::kAgent ? "MANIFEST" : "AWS_APPCONFIG_EXTENSION_MANIFEST", why);
    }
    return apply_manifest({}, err, cap);
  }
  return true;
}

bool Features::load_manifest_file(char* err, size_t cap) {
  if (manifest_path_[0] == '\0') {
    return error::fail(err, cap, "no file manifest to reload");
  }
  int next = active_ == 0 ? 1 : 0;
  char why[400];
  if (!manifest::load_file(manifest_path_, manifests_[next], why, sizeof why)) {
    return error::fail(err, cap, "AWS_APPCONFIG_EXTENSION_MANIFEST=file:%s: %s", manifest_path_, why);
  }
  return apply_manifest({}, err, cap) || false;
}

credentials::Provider* Features::provider_for(const manifest::Entry& e, char* err, size_t cap) {
  Role* free_slot = nullptr;
  for (size_t i = 0; i < manifest::kMaxEntries; ++i) {
    Role& r = roles_[i];
    if (!r.used) {
      if (free_slot == nullptr) free_slot = &r;
      continue;
    }
    if (e.role_arn == r.arn && e.external_id == r.external_id && e.session_name == r.session_name &&
        e.duration_s == r.duration_s)
      return r.provider;
  }
  if (!sts_ok_) {
    error::fail(err, cap, "%s", sts_err_);
    return nullptr;
  }
  if (free_slot == nullptr) {
    error::fail(err, cap, "too many distinct roles in the manifest (limit %zu)", manifest::kMaxEntries);
    return nullptr;
  }
  size_t index = static_cast<size_t>(free_slot - roles_);
  auto* mem = reinterpret_cast<char*>(roles_ + manifest::kMaxEntries) + index * sizeof(credentials::Provider);
  auto* p = new (mem) credentials::Provider();
  if (!p->init_assume_role(loop_, client_, base_, e.role_arn, e.external_id, e.session_name, e.duration_s, sts_, err,
                           cap)) {
    p->~Provider();
    return nullptr;
  }
  free_slot->used = true;
  copy_sv(e.role_arn, free_slot->arn, sizeof free_slot->arn);
  copy_sv(e.external_id, free_slot->external_id, sizeof free_slot->external_id);
  copy_sv(e.session_name, free_slot->session_name, sizeof free_slot->session_name);
  free_slot->duration_s = e.duration_s;
  free_slot->provider = p;
  return p;
}

// json empty: the manifest was already parsed into the inactive buffer.
bool Features::apply_manifest(std::string_view json, char* err, size_t cap) {
  int next = active_ == 0 ? 1 : 0;
  manifest::Manifest& m = manifests_[next];
  if (!json.empty() || manifest_key_set_) {
    char why[400];
    if (!manifest::parse(json, m, why, sizeof why)) {
      return error::fail(err, cap, "manifest %.*s:%.*s:%.*s: %s", static_cast<int>(manifest_key_.application.size()),
                         manifest_key_.application.data(), static_cast<int>(manifest_key_.environment.size()),
                         manifest_key_.environment.data(), static_cast<int>(manifest_key_.profile.size()),
                         manifest_key_.profile.data(), why);
    }
  }
  // Credentials first: a role that cannot be set up rejects the whole manifest.
  credentials::Provider* per_key[manifest::kMaxEntries] = {};
  for (size_t i = 0; i < m.num_entries; ++i) {
    const manifest::Entry& e = m.entries[i];
    if (!e.has_role) continue;
    char why[300];
    per_key[i] = provider_for(e, why, sizeof why);
    if (per_key[i] == nullptr) {
      return error::fail(err, cap, "manifest key %.*s:%.*s:%.*s: credentials: %s",
                         static_cast<int>(e.application.size()), e.application.data(),
                         static_cast<int>(e.environment.size()), e.environment.data(),
                         static_cast<int>(e.profile.size()), e.profile.data(), why);
    }
  }
  for (size_t i = 0; i < m.num_entries; ++i) {
    const manifest::Entry& e = m.entries[i];
    remote_->set_key_credentials(cache::Key{e.application, e.environment, e.profile}, per_key[i]);
  }
  active_ = next;
  LOG_INFO("manifest applied: %zu configuration(s)", m.num_entries);
  // Files for keys already cached are written now, not only on the next change.
  for (size_t i = 0; i < m.num_entries; ++i) {
    const manifest::Entry& e = m.entries[i];
    if (!e.has_write_to) continue;
    cache::Key key{e.application, e.environment, e.profile};
    const cache::Entry* ce = cache_->find(key, loop_->now_ms());
    if (ce == nullptr || cache_->view(ce).variants) continue;
    write_to(key, e.write_to_path, cache_->view(ce).bytes);
  }
  return true;
}

size_t Features::manifest_keys(cache::Key* out, size_t cap) const {
  if (active_ < 0) return 0;
  const manifest::Manifest& m = manifests_[active_];
  size_t n = 0;
  for (size_t i = 0; i < m.num_entries && n < cap; ++i)
    out[n++] = cache::Key{m.entries[i].application, m.entries[i].environment, m.entries[i].profile};
  return n;
}

void Features::on_stored(void* ctx, const cache::Key& key, std::string_view bytes, std::string_view content_type,
                         std::string_view version_label) {
  auto* self = static_cast<Features*>(ctx);
  char why[400];
  if (self->backup_dir_[0] != '\0') self->write_backup(key, bytes, content_type, version_label);
  if (self->manifest_key_set_ && same_key(key, self->manifest_key_)) {
    if (!self->apply_manifest(bytes, why, sizeof why))
      LOG_ERROR("%s (the previous manifest stays active)", why);
    else if (self->changed_ != nullptr)
      self->changed_(self->changed_ctx_);
  }
  if (self->active_ < 0) return;
  const manifest::Manifest& m = self->manifests_[self->active_];
  for (size_t i = 0; i < m.num_entries; ++i) {
    const manifest::Entry& e = m.entries[i];
    if (!e.has_write_to || !same_key(key, cache::Key{e.application, e.environment, e.profile})) continue;
    // The bytes as the service sent them, replaced atomically (temp + rename) by the writer thread.
    self->write_to(key, e.write_to_path, bytes);
  }
}

bool Features::on_unreachable(void* ctx, const cache::Key& key) {
  auto* self = static_cast<Features*>(ctx);
  struct Out {
    Features* self;
    bool stored;
  } out{.self = self, .stored = false};
  char why[300];
  bool found = backup::load_one(
      self->backup_dir_, key,
      [](void* c, const backup::Loaded& b) {
        auto* o = static_cast<Out*>(c);
        char msg[400];
        o->stored = store::put(*o->self->cache_, b.key, b.bytes, b.content_type, b.version_label,
                               o->self->loop_->now_ms(), msg, sizeof msg) == store::Status::kStored;
        if (!o->stored) LOG_WARN("backup: %s", msg);
      },
      &out, why, sizeof why);
  if (!found) LOG_DEBUG("no usable backup: %s", why);
  return found && out.stored;
}

size_t Features::preload_backups(cache::Key* out, size_t cap) {
  if (backup_dir_[0] == '\0' || !preload_) return 0;
  // Keys are copied into preloaded_names_: the loaded views die after each callback.
  struct Ctx {
    Features* self;
    cache::Key* out;
    size_t cap, n;
  } c{this, out, cap < retrieval::kMaxKeys ? cap : retrieval::kMaxKeys, 0};
  backup::load_all(
      backup_dir_,
      [](void* p, const backup::Loaded& b) {
        auto* c = static_cast<Ctx*>(p);
        char msg[400];
        if (store::put(*c->self->cache_, b.key, b.bytes, b.content_type, b.version_label, c->self->loop_->now_ms(), msg,
                       sizeof msg) != store::Status::kStored) {
          LOG_WARN("backup not loaded: %s", msg);
          return;
        }
        if (c->n == c->cap) return;
        auto& names = c->self->preloaded_names_[c->n];
        copy_sv(b.key.application, names[0], sizeof names[0]);
        copy_sv(b.key.environment, names[1], sizeof names[1]);
        copy_sv(b.key.profile, names[2], sizeof names[2]);
        c->out[c->n] = cache::Key{names[0], names[1], names[2]};
        ++c->n;
      },
      [](void*, const char* message) { LOG_WARN("backup ignored: %s", message); }, &c, cache_->arena_bytes());
  if (c.n > 0) LOG_INFO("preloaded %zu configuration(s) from backups; checking AWS AppConfig for newer ones", c.n);
  return c.n;
}

}  // namespace appconfig::features
