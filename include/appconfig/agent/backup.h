// backup: atomic file writes (manifest writeTo) and the BACKUP_DIRECTORY store (spec §2, §7;
// docs/manifest-and-backups.md).
//
// Owns: write_atomic (temp file + fsync + rename + directory fsync), the backup file format
// (a checksummed header, then the configuration bytes), safe file names derived from keys, and
// loading backups back (skipping anything corrupt, truncated or foreign).
// Knows nothing of the cache's arena, AppConfig sessions, refresh timing or when to load (the
// caller decides: PRELOAD_BACKUPS at start, or load_one when the service is unreachable).
//
// All calls do blocking local file-system I/O (fsync included): call them at start-up, or from the
// Writer thread below, never on the loop per read. A 4 MiB write_atomic costs 25..100 ms on this
// machine's disk (two fsyncs), which is why the loop hands writes to the Writer.
//
// Lifetimes: the views in a Loaded (key names, content type, version label, bytes) point into a
// heap buffer holding one file; they are valid only during the LoadCallback call that receives
// them (cache::Cache::put copies, so storing them from the callback is the intended use). The
// buffer is malloc'ed per file and freed when the callback returns.
#pragma once
#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "appconfig/agent/cache.h"

namespace appconfig::backup {

// Paths we build (directory + '/' + file name, or a temp name next to a target) must fit
// PATH_MAX (4096 including the NUL) with room for the temporary suffix.
constexpr size_t kMaxPathBytes = 4000;
// AppConfig names and IDs are 1..128 bytes (spec §1), as settings::kMaxNameBytes.
constexpr size_t kMaxNameBytes = 128;
// Content-Type values from the service are short ("application/json"); anything longer than a
// header line we would send is not a content type.
constexpr size_t kMaxContentTypeBytes = 256;
// Version labels are user-chosen strings; AppConfig caps them far below this.
constexpr size_t kMaxVersionLabelBytes = 1024;
// The configuration itself: the service maximum (cache::kMaxConfigBytes, 4 MiB).
constexpr size_t kMaxBytes = cache::kMaxConfigBytes;
// Fixed part of the backup header (magic, version, lengths, checksum); see docs.
constexpr size_t kHeaderBytes = 40;
// Largest backup file we read: header + three names + content type + label + bytes.
constexpr size_t kMaxFileBytes =
    kHeaderBytes + 3 * kMaxNameBytes + kMaxContentTypeBytes + kMaxVersionLabelBytes + kMaxBytes;
// Backup format version written by save(); files with any other version are skipped.
constexpr uint32_t kFormatVersion = 1;
// Every backup file name ends with this; other files in the directory are ignored.
constexpr std::string_view kFileSuffix = ".backup";
// A file name fits NAME_MAX (255); encoded keys longer than this are shortened with a hash.
constexpr size_t kMaxFileNameBytes = 240;

// Writes bytes to path atomically: a temp file in the same directory (".<name>.tmp.<pid>.<n>",
// O_EXCL, mode 0644, or the mode of the existing regular file it replaces), all bytes written,
// fsync, rename over path, fsync of the directory. Missing parent directories are created (0755).
// A reader never sees a partial file: it opens either the old file or the new one. If path is a
// symlink, the link itself is replaced. On failure the temp file is removed, the old file is
// untouched, and err (NUL-terminated, truncated to err_cap) names the path and the errno text.
bool write_atomic(const char* path, std::string_view bytes, char* err, size_t err_cap);

// Writes the backup of one key into dir (created if missing) with write_atomic. Fails on a key
// name outside 1..kMaxNameBytes, a content type / version label / body over its limit, or I/O.
bool save(const char* dir, const cache::Key& key, std::string_view content_type, std::string_view version_label,
          std::string_view bytes, char* err, size_t err_cap);

// The file name (no directory) save() uses for key: each name percent-encoded (every byte outside
// [A-Za-z0-9._-] as %XX, and a leading '.' as %2E so no backup is a hidden file), joined with ':',
// then kFileSuffix. An encoded key over kMaxFileNameBytes is cut and ends in "~<16 hex FNV-1a of
// the key>" ('~' never appears in the long form). The name is a locator only: the key in the
// header is authoritative and checked on load. Returns the length, or 0 if cap is too small
// (kMaxFileNameBytes + 1 always suffices) or a name is empty/too long. Writes a NUL terminator.
size_t file_name(const cache::Key& key, char* out, size_t cap);

struct Loaded {
  cache::Key key;
  std::string_view content_type, version_label, bytes;
};

// Decodes one backup file's bytes (exposed for tests and fuzzing). Checks the magic, format
// version, every length against its limit and against the file size (exact: no trailing bytes),
// and the checksum. The views point into file_bytes. On failure err says why.
bool decode(std::string_view file_bytes, Loaded& out, char* err, size_t err_cap);

using LoadCallback = void (*)(void* ctx, const Loaded& b);
using WarnCallback = void (*)(void* ctx, const char* message);

// Loads every "*" kFileSuffix regular file in dir (not following symlinks; names starting with '.'
// — our temp files — and other names are ignored silently). A file that does not decode, or whose
// name is not file_name() of the key it holds, is skipped with a warning (one line naming the file
// and the reason); it is never handed to cb. Each good backup is handed to cb. Returns the number
// loaded. A missing dir loads 0 without a warning; an unreadable one warns once. warn may be null.
// Budget: files are read until max_bytes have been read (the caller passes its cache arena size:
// more could not be held anyway); the rest are skipped with one warning. Cost: each byte is read
// once and checksummed once (FNV-1a), ~2.5 ms per maximum-size (4 MiB) backup in the release
// build, ~8 ms in the ASan build; names that are not "*.backup" cost one readdir entry each.
size_t load_all(const char* dir, LoadCallback cb, WarnCallback warn, void* ctx, size_t max_bytes = SIZE_MAX);

// Loads the backup of one key (for "use backups only when the service is unreachable"). False,
// with err naming the file and the reason, when it is missing, corrupt, or holds another key.
bool load_one(const char* dir, const cache::Key& key, LoadCallback cb, void* ctx, char* err, size_t err_cap);

// Writes queued by the loop: at most this many jobs and bytes pending (written or waiting). Four
// maximum-size backups; a burst beyond it makes submit() wait for room (the loop stalls for as
// long as the disk needs to write what is ahead, ~16 MiB: 0.1..0.5 s here), never drops a write.
constexpr size_t kMaxQueuedJobs = 16;
constexpr size_t kMaxQueuedBytes = 4 * kMaxFileBytes;
// At exit, pending writes get this long to reach the disk (Lambda gives an extension 500 ms ..
// 2 s after SHUTDOWN); what is left then is reported, not waited for.
constexpr uint64_t kDrainTimeoutMs = 1500;

// The one thread besides the loop (docs/architecture.md): it performs write_atomic() for jobs the
// loop submits, in order, so fsync never stalls reads. Shared state is the job queue below, guarded
// by one mutex; a job's bytes belong to the queue once submitted. The thread blocks every signal
// (the loop's signalfd receives them) and logs each outcome itself (log lines are one write(2)).
// A job for a path that is still waiting (not started) is replaced by a newer one for the same
// path: the older bytes are obsolete, and the order of writes per path is kept.
class Writer {
 public:
  Writer() = default;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() { stop(); }

  // Starts the thread (idempotent). False with err when it cannot.
  bool start(char* err, size_t err_cap);
  // Queues a copy of bytes for write_atomic(path). `what` names the write in log lines
  // ("writeTo App:Env:Prof"). The copy is the only work left on the caller (~2.5 ms per 4 MiB in
  // the ASan build, most of it the kernel zeroing fresh pages; copies of 64 KiB and more are
  // mmap'ed with MAP_POPULATE, so they take no page fault per page). Waits for room only when kMaxQueuedJobs/kMaxQueuedBytes are reached (the copy in hand
  // comes on top). If the thread is not running (start failed) or the copy cannot be made, writes
  // now on the caller's thread.
  void submit(const char* path, std::string_view bytes, std::string_view what);
  // Queues save(dir, key, content_type, version_label, a copy of bytes): the checksum and the
  // write both run on the thread. False (err set) when save() would refuse the key or a length.
  bool submit_backup(const char* dir, const cache::Key& key, std::string_view content_type,
                     std::string_view version_label, std::string_view bytes, std::string_view what, char* err,
                     size_t err_cap);
  // Waits until every submitted job is written or timeout_ms passes; true when the queue is empty.
  bool drain(uint64_t timeout_ms);
  // drain(kDrainTimeoutMs), then ends the thread (if the queue emptied) or leaves it (exit ends it).
  void stop();

  struct Stats {
    uint64_t written, failed, replaced, waited_for_room;
    uint64_t max_write_ms;  // the slowest write_atomic so far
  };
  Stats stats();

 private:
  struct Job;
  static void* run(void* self);
  void write_one(Job& j);
  Job* enqueue(const char* path, char* bytes, size_t len, std::string_view what);

  bool started_ = false;
  bool stopping_ = false;
  pthread_t thread_{};
  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t work_ = PTHREAD_COND_INITIALIZER;  // a job was queued, or stopping
  pthread_cond_t room_ = PTHREAD_COND_INITIALIZER;  // a job finished (room, or drained)
  Job* jobs_ = nullptr;                             // kMaxQueuedJobs, allocated by start()
  size_t queued_bytes_ = 0;
  size_t queued_jobs_ = 0;
  uint64_t next_seq_ = 1;
  Stats stats_{};
};

}  // namespace appconfig::backup
