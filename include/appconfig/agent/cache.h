// cache: the fixed-arena configuration cache (docs/cache.md).
//
// Owns: one virtual region reserved at init() with mmap (pages are touched only
// as entries are written; whole pages of freed blocks are handed back with
// madvise(MADV_DONTNEED) so RSS falls), a fixed entry table, a hash index and
// an LRU list. Every byte of an entry (key strings, body, content type, version
// label) lives in one 16-byte-aligned arena block. Nothing is allocated after
// init(). Single-threaded.
// Knows nothing of networking, HTTP, AppConfig sessions or refresh intervals.
//
// Lifetimes:
//  - An Entry* from find() stays valid until the next put() or remove() of ANY
//    key (a put may evict it), unless it is pinned: a pinned entry's bytes stay
//    valid and unmoved until its last unpin(), even if it is replaced or removed
//    meanwhile (it is then "retired": no longer found, freed at the last unpin).
//  - The string_views in a View point into the arena and follow the Entry's
//    lifetime.
//  - Value passed to put() must not point into this cache's arena (put copies
//    it; when it does alias, put neither evicts nor reuses space and may answer
//    kNoSpace instead).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace appconfig::cache {

// The configuration size limit accepted anywhere: 4 MiB service maximum (spec §4).
constexpr size_t kMaxConfigBytes = 4u * 1024 * 1024;
// Arena blocks are aligned (and sized in multiples of) 16 bytes: enough for any
// scalar and SIMD loads over the body.
constexpr size_t kAlignment = 16;
// Entry indices are 32-bit; far more than any Lambda function configures.
constexpr size_t kMaxEntries = size_t{1} << 20;

struct Key {
  std::string_view application, environment, profile;
};

struct Value {
  std::string_view bytes, content_type, version_label;
  bool feature_flags = false;
  // bytes are a compiled multi-variant flag blob (module variants), evaluated per request
  bool variants = false;
};

struct Entry;  // opaque

struct View {
  std::string_view bytes, content_type, version_label;
  uint64_t stored_ms;      // now_ms given to the put() that stored it
  uint64_t generation;     // unique per put(), strictly increasing (1, 2, ...)
  bool feature_flags;
  bool variants;
  uint64_t content_hash;   // hash_bytes(bytes), computed at put
  // 0: the current version. Else when a newer version of this key could not be stored
  // (mark_stale): readers are told (service adds Warning/Age headers, /ping counts them).
  uint64_t stale_since_ms;
};

enum class PutStatus : uint8_t {
  kStored,
  kTooLarge,   // the entry is larger than the whole arena
  kNoSpace,    // does not fit even after evicting every unpinned entry it may evict
  kTableFull,  // max_entries live entries, or every spare slot holds a retired (pinned) entry
};
const char* status_message(PutStatus s);

// An entry's strings, in the order of its arena block: body, application, environment, profile,
// content type, version label.
constexpr size_t kEntryParts = 6;

struct PutResult {
  PutStatus status;
  size_t needed_bytes;  // the arena block the entry needs (all its strings, rounded to kAlignment)
  size_t arena_bytes;   // arena capacity
  size_t free_bytes;    // free arena bytes after the call
};

// 64-bit FNV-1a (the content_hash of a View). Stable across runs and builds.
// FNV-1a 64 continued over more bytes (start from kFnvOffset); hash_bytes()
// is fnv1a_64(kFnvOffset, bytes). Backups use it for their checksums.
constexpr uint64_t kFnvOffset = 14695981039346656037ull;
uint64_t fnv1a_64(uint64_t h, std::string_view bytes);
uint64_t hash_bytes(std::string_view bytes);

class Cache {
 public:
  Cache() = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  ~Cache();

  // Reserves arena_bytes (rounded up to kAlignment) of address space and the
  // tables for max_entries live entries (plus as many retired ones). False on
  // mmap failure (errno kept) or on arena_bytes == 0 / max_entries outside
  // [1, kMaxEntries] (errno = EINVAL). Calling it again re-initialises (all
  // entries are dropped; no entry may be pinned then).
  bool init(size_t arena_bytes, size_t max_entries);

  // nullptr if absent. Marks the entry as read now (moves it to the LRU head).
  const Entry* find(const Key& key, uint64_t now_ms);
  View view(const Entry* e) const;

  // A pinned entry's bytes stay valid and unmoved (a response is being written
  // from them with writev). Pins nest; each pin() needs one unpin().
  void pin(const Entry* e);
  void unpin(const Entry* e);

  // Replaces or inserts. Atomic for readers: find() returns either the old
  // complete entry or the new one; on any failure the old entry stays as it was.
  // If the old one is pinned it is retired (kept readable for its pinners, freed
  // at its last unpin). A replacement keeps the old entry's LRU position (a
  // refresh is not a read); a new key starts as most recently used.
  // When the arena cannot hold it: first the old (unpinned) version's space is
  // offered, then least-recently-read unpinned entries are evicted (never the
  // key being replaced) until a free range is large enough, and the allocation
  // is retried once; else kNoSpace with the sizes. If even evicting everything
  // allowed could not free enough bytes, nothing is evicted.
  PutResult put(const Key& key, const Value& v, uint64_t now_ms);

  // True if the key was present. A pinned entry is retired, not freed.
  bool remove(const Key& key);

  // The live entry of key is no longer the newest version (a newer one could not be
  // stored: arena full of pinned entries, too large). Cleared by the next successful put()
  // of the key (a new entry). False if the key is not cached.
  bool mark_stale(const Key& key, uint64_t now_ms);
  size_t stale_count() const { return stale_count_; }  // live entries marked stale

  size_t arena_bytes() const { return arena_bytes_; }
  size_t used_bytes() const { return used_bytes_; }     // includes retired entries
  size_t entry_count() const { return live_count_; }   // live entries only

  // Visits every live entry (not retired ones) as f(const Entry*, const View&).
  // f may call find/pin/unpin; if it calls put/remove, entries added during the
  // walk may or may not be visited and removed ones are not visited afterwards.
  template <class F>
  void for_each(F&& f) const {
    for (uint32_t i = 0; i < slot_count_; ++i) {
      const Entry* e = live_entry_at(i);
      if (e != nullptr) f(e, view(e));
    }
  }

 private:
  struct FreeRange {
    size_t offset;
    size_t length;
  };
  static constexpr uint32_t kNone = UINT32_MAX;

  const Entry* live_entry_at(uint32_t slot) const;
  void release();
  uint32_t lookup(uint64_t key_hash, const Key& key) const;
  void index_insert(uint32_t slot);
  void index_erase(uint32_t slot);
  void index_replace(uint32_t old_slot, uint32_t new_slot);
  void lru_unlink(uint32_t slot);
  void lru_push_front(uint32_t slot);
  void lru_insert_after(uint32_t prev, uint32_t slot);
  uint32_t slot_alloc();
  void slot_free(uint32_t slot);
  void drop_live(uint32_t slot);  // unindex + unlink; retire if pinned, else free
  void unstale(uint32_t slot);    // a live entry leaves the live set: keep stale_count_ true
  // Arena allocator: a sorted table of free ranges, best fit, coalescing.
  bool range_alloc(size_t length, size_t& offset);
  size_t range_free(size_t offset, size_t length, bool release_pages);  // returns merged length
  bool range_reserve_at(size_t offset, size_t length);
  void release_pages(size_t lo, size_t hi);
  bool aliases_arena(std::string_view s) const;
  // put()'s steps, defined in cache.cpp and used only there (inline: no code of their own beside
  // put's); parts are the entry's strings in block order.
  inline PutStatus make_room(size_t need, uint32_t old, const std::string_view (&parts)[kEntryParts], size_t& offset,
                             bool& old_offered);
  inline void evict_until(size_t need, uint32_t keep);
  inline uint32_t store_entry(uint64_t key_hash, const Key& key, const Value& v,
                              const std::string_view (&parts)[kEntryParts], size_t offset, size_t need,
                              uint64_t now_ms);
  inline void link_entry(uint32_t slot, uint32_t old, bool old_offered);

  uint8_t* arena_ = nullptr;
  size_t arena_bytes_ = 0;
  size_t map_bytes_ = 0;
  size_t page_bytes_ = 4096;
  size_t used_bytes_ = 0;

  void* meta_ = nullptr;  // one mapping for the tables below
  size_t meta_bytes_ = 0;
  Entry* slots_ = nullptr;
  uint32_t slot_count_ = 0;     // capacity: 2 * max_entries
  uint32_t slot_free_head_ = kNone;
  uint32_t* index_ = nullptr;   // open addressing, linear probing, kNone = empty
  uint32_t index_mask_ = 0;
  FreeRange* ranges_ = nullptr;
  size_t range_count_ = 0;
  size_t range_cap_ = 0;

  uint32_t lru_head_ = kNone;   // most recently read
  uint32_t lru_tail_ = kNone;   // least recently read
  size_t live_count_ = 0;
  size_t stale_count_ = 0;
  size_t max_entries_ = 0;
  uint64_t generation_ = 0;
  // While a put() offers the old version's block provisionally, its pages must
  // not be released (the bytes are restored if the put fails).
  size_t protect_lo_ = 0, protect_hi_ = 0;
};

}  // namespace appconfig::cache
