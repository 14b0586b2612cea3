// features: the agent features on top of retrieval (spec §7) — the manifest,
// writeTo files and backups.
//
// Owns: the active manifest (two buffers, so a reload that fails keeps the
// previous one), one AssumeRole credentials provider per distinct manifest
// role (reserved memory, built on first use), the writeTo table, and the
// backup directory policy (preload at start, or use only when AWS is
// unreachable). Hooks into retrieval: stored bytes are written to writeTo
// paths and backups; a first fetch that cannot reach AWS may be answered from
// a backup. Knows nothing of HTTP.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/agent/backup.h"
#include "appconfig/agent/cache.h"
#include "appconfig/aws/credentials.h"
#include "appconfig/aws/endpoints.h"
#include "appconfig/net/http_client.h"
#include "appconfig/core/loop.h"
#include "appconfig/agent/manifest.h"
#include "appconfig/agent/retrieval.h"
#include "appconfig/core/settings.h"

namespace appconfig::features {

class Features {
 public:
  // base: the default credentials (roles in the manifest are assumed with them).
  bool init(loop::Loop* lp, http_client::Client* client, cache::Cache* cache, retrieval::Retriever* remote,
            credentials::Provider* base, const settings::Settings& cfg, char* err, size_t cap);
  // Applies manifest bytes (a file's or a fetched configuration's). On error
  // the previous manifest stays active and err names the key and the problem.
  bool apply_manifest(std::string_view json, char* err, size_t cap);
  // file:/path manifests: (re)reads the file (init and SIGHUP).
  bool load_manifest_file(char* err, size_t cap);
  bool manifest_from_appconfig() const { return manifest_key_set_; }
  const cache::Key& manifest_key() const { return manifest_key_; }
  // Keys to prefetch besides PREFETCH_LIST: the manifest's entries.
  size_t manifest_keys(cache::Key* out, size_t cap) const;
  // BACKUP_DIRECTORY with PRELOAD_BACKUPS: loads every good backup into the
  // cache; returns the keys loaded (the caller then checks the service).
  size_t preload_backups(cache::Key* out, size_t cap);
  // Called by main when a stored configuration is the manifest itself.
  void set_manifest_changed_hook(void (*cb)(void* ctx), void* ctx) { changed_ = cb; changed_ctx_ = ctx; }
  // writeTo files and backups are written by this thread, off the loop (docs/architecture.md).
  backup::Writer& writer() { return writer_; }

 private:
  static void on_stored(void* ctx, const cache::Key& key, std::string_view bytes, std::string_view content_type,
                        std::string_view version_label);
  static bool on_unreachable(void* ctx, const cache::Key& key);
  credentials::Provider* provider_for(const manifest::Entry& e, char* err, size_t cap);
  void write_to(const cache::Key& key, std::string_view path, std::string_view bytes);
  void write_backup(const cache::Key& key, std::string_view bytes, std::string_view content_type,
                    std::string_view version_label);
  bool writer_ready();

  backup::Writer writer_;
  bool writer_failed_ = false;

  loop::Loop* loop_ = nullptr;
  http_client::Client* client_ = nullptr;
  cache::Cache* cache_ = nullptr;
  retrieval::Retriever* remote_ = nullptr;
  credentials::Provider* base_ = nullptr;
  const settings::Settings* cfg_ = nullptr;
  endpoints::Endpoint sts_{};
  bool sts_ok_ = false;
  char sts_err_[300] = {};
  manifest::Manifest* manifests_ = nullptr;  // two, reserved memory
  int active_ = -1;                          // index of the active manifest, -1 none
  char manifest_path_[4096] = {};
  bool manifest_key_set_ = false;
  cache::Key manifest_key_{};
  char backup_dir_[4096] = {};
  bool preload_ = true;
  // preload_backups' copies of the keys it returns (the loaded views die after each callback); its
  // only user, called once at start-up, so the keys stay valid for the process. No initializer:
  // each name is written before it is read, and a zeroing constructor would touch all 99 KB at
  // start-up (RSS) for the usual case of no backups.
  char preloaded_names_[retrieval::kMaxKeys][3][settings::kMaxNameBytes + 1];
  // One provider per distinct (role, external id, session name, duration).
  struct Role {
    bool used;
    char arn[2049];
    char external_id[1225];
    char session_name[65];
    uint32_t duration_s;
    credentials::Provider* provider;
  };
  Role* roles_ = nullptr;  // manifest::kMaxEntries, reserved memory
  void (*changed_)(void* ctx) = nullptr;
  void* changed_ctx_ = nullptr;
};

}  // namespace appconfig::features
