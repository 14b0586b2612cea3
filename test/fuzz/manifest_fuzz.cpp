// libFuzzer target for manifest::parse() and backup::decode() (the backup header parser).
// The first byte picks the target (even: manifest, odd: backup); the rest is the input.
// Invariants checked on every input:
// - manifest: parse() never faults; on success every entry has 1..128-byte names, views that lie
//   inside Manifest::storage, validated role/duration/path fields, storage use no larger than the
//   text, and an empty message; on failure a NUL-terminated message starting "manifest" and no
//   entries; a second parse of the same text gives the same answer and message.
// - backup: decode() never reads outside the input; on success the views tile the input exactly
//   after the 40-byte header, and file_name() of the key is a single safe path component.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "appconfig/agent/backup.h"
#include "appconfig/agent/manifest.h"

namespace manifest = appconfig::manifest;
namespace backup = appconfig::backup;

#define CHECK(cond)     \
  do {                  \
    if (!(cond)) {      \
      __builtin_trap(); \
    }                   \
  } while (0)

namespace {

manifest::Manifest g_manifest;  // ~265 KiB: static, as in production

bool inside(std::string_view s, const char* lo, const char* hi) {
  return s.empty() || (s.data() >= lo && s.data() + s.size() <= hi);
}

void fuzz_manifest(std::string_view text) {
  char err[512];
  bool ok = manifest::parse(text, g_manifest, err, sizeof err);
  CHECK(memchr(err, '\0', sizeof err) != nullptr);
  if (!ok) {
    CHECK(strncmp(err, "manifest", 8) == 0);
    CHECK(g_manifest.num_entries == 0);
  } else {
    CHECK(err[0] == '\0');
    CHECK(g_manifest.num_entries <= manifest::kMaxEntries);
    CHECK(g_manifest.used <= text.size());
    const char* lo = g_manifest.storage;
    const char* hi = g_manifest.storage + g_manifest.used;
    for (size_t i = 0; i < g_manifest.num_entries; ++i) {
      const manifest::Entry& e = g_manifest.entries[i];
      for (std::string_view n : {e.application, e.environment, e.profile}) {
        CHECK(!n.empty() && n.size() <= 128);
        CHECK(inside(n, lo, hi));
      }
      CHECK(inside(e.role_arn, lo, hi) && inside(e.external_id, lo, hi) && inside(e.session_name, lo, hi) &&
            inside(e.write_to_path, lo, hi));
      CHECK(e.has_role == !e.role_arn.empty());
      if (e.has_role) CHECK(e.role_arn.substr(0, 4) == "arn:");
      CHECK(e.duration_s == 0 || (e.duration_s >= manifest::kMinDurationS && e.duration_s <= manifest::kMaxDurationS));
      CHECK(e.has_write_to == !e.write_to_path.empty());
      if (e.has_write_to) {
        CHECK(e.write_to_path.front() == '/' && e.write_to_path.back() != '/');
        CHECK(e.write_to_path.find('\0') == std::string_view::npos);
        CHECK(e.write_to_path.find("/../") == std::string_view::npos);
      }
      for (size_t j = 0; j < i; ++j) {
        const manifest::Entry& o = g_manifest.entries[j];
        CHECK(!(o.application == e.application && o.environment == e.environment && o.profile == e.profile));
      }
    }
  }
  char err2[512];
  bool ok2 = manifest::parse(text, g_manifest, err2, sizeof err2);
  CHECK(ok == ok2);
  CHECK(strcmp(err, err2) == 0);
}

void fuzz_backup(std::string_view file) {
  backup::Loaded b;
  char err[256];
  bool ok = backup::decode(file, b, err, sizeof err);
  CHECK(memchr(err, '\0', sizeof err) != nullptr);
  if (!ok) {
    CHECK(err[0] != '\0');
    return;
  }
  const char* p = file.data() + backup::kHeaderBytes;
  for (std::string_view s : {b.key.application, b.key.environment, b.key.profile, b.content_type, b.version_label,
                             b.bytes}) {
    CHECK(s.data() == p || s.empty());
    p += s.size();
  }
  CHECK(p == file.data() + file.size());
  char name[backup::kMaxFileNameBytes + 1];
  size_t n = backup::file_name(b.key, name, sizeof name);
  CHECK(n > 0 && n <= backup::kMaxFileNameBytes && strlen(name) == n);
  CHECK(name[0] != '.' && strchr(name, '/') == nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Copy to an exact-size heap block so ASan catches any read past the end.
  size_t len = size - 1;
  char* buf = static_cast<char*>(malloc(len == 0 ? 1 : len));
  if (buf == nullptr) return 0;
  memcpy(buf, data + 1, len);
  if (data[0] % 2 == 0) {
    fuzz_manifest(std::string_view(buf, len));
  } else {
    fuzz_backup(std::string_view(buf, len));
  }
  free(buf);
  return 0;
}
