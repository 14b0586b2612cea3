#include "appconfig/agent/cache.h"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>
#include <sys/mman.h>
#include <unistd.h>

namespace appconfig::cache {

namespace {

enum class SlotState : uint8_t { kFree, kLive, kRetired };


// Lengths are prefixed so ("ab","c") and ("a","bc") hash differently.
uint64_t key_hash_of(const Key& k) {
  uint64_t h = kFnvOffset;
  for (std::string_view part : {k.application, k.environment, k.profile}) {
    uint64_t n = part.size();
    h = fnv1a_64(h, std::string_view(reinterpret_cast<const char*>(&n), sizeof n));
    h = fnv1a_64(h, part);
  }
  return h;
}

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }
size_t round_down(size_t n, size_t a) { return n / a * a; }

}  // namespace

// Block layout: [body][application][environment][profile][content type][version label]
// The body comes first so it starts 16-byte aligned.
struct Entry {
  uint64_t key_hash;
  uint64_t content_hash;
  uint64_t stored_ms;
  uint64_t last_read_ms;
  uint64_t generation;
  uint64_t stale_since_ms;  // 0: current
  size_t block_offset;
  size_t block_length;
  size_t body_len;
  uint32_t app_len, env_len, profile_len, type_len, version_len;
  uint32_t pins;
  uint32_t lru_prev, lru_next;  // live entries only
  uint32_t next_free;           // free slots only
  SlotState state;
  bool feature_flags;
  bool variants;
};

uint64_t fnv1a_64(uint64_t h, std::string_view bytes) {
  constexpr uint64_t kFnvPrime = 1099511628211ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

uint64_t hash_bytes(std::string_view bytes) { return fnv1a_64(kFnvOffset, bytes); }

const char* status_message(PutStatus s) {
  switch (s) {
    case PutStatus::kStored: return "stored";
    case PutStatus::kTooLarge: return "configuration is larger than the whole cache arena";
    case PutStatus::kNoSpace: return "cache arena has no room even after evicting unpinned entries";
    case PutStatus::kTableFull: return "cache entry table is full";
  }
  return "unknown cache status";
}

Cache::~Cache() { release(); }

void Cache::release() {
  if (arena_ != nullptr) munmap(arena_, map_bytes_);
  if (meta_ != nullptr) munmap(meta_, meta_bytes_);
  arena_ = nullptr;
  meta_ = nullptr;
  arena_bytes_ = map_bytes_ = meta_bytes_ = used_bytes_ = 0;
  slots_ = nullptr;
  index_ = nullptr;
  ranges_ = nullptr;
  slot_count_ = 0;
  slot_free_head_ = lru_head_ = lru_tail_ = kNone;
  index_mask_ = 0;
  range_count_ = range_cap_ = 0;
  live_count_ = max_entries_ = 0;
  stale_count_ = 0;
  protect_lo_ = protect_hi_ = 0;
}

bool Cache::init(size_t arena_bytes, size_t max_entries) {
  release();
  if (arena_bytes == 0 || max_entries == 0 || max_entries > kMaxEntries ||
      arena_bytes > std::numeric_limits<size_t>::max() / 2) {
    errno = EINVAL;
    return false;
  }
  long page = sysconf(_SC_PAGESIZE);
  page_bytes_ = page > 0 ? static_cast<size_t>(page) : 4096;
  arena_bytes_ = round_up(arena_bytes, kAlignment);
  map_bytes_ = round_up(arena_bytes_, page_bytes_);
  void* a = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a == MAP_FAILED) {
    int saved = errno;
    release();
    errno = saved;
    return false;
  }
  arena_ = static_cast<uint8_t*>(a);

  // Slots: max_entries live ones plus as many retired (pinned, replaced) ones.
  slot_count_ = static_cast<uint32_t>(2 * max_entries);
  // Index: at most max_entries live keys at load <= 1/2 keeps linear probes short.
  size_t index_cap = 1;
  while (index_cap < 2 * max_entries) index_cap <<= 1;
  index_mask_ = static_cast<uint32_t>(index_cap - 1);
  // Free ranges never outnumber allocated blocks + 1 (ranges are coalesced).
  range_cap_ = size_t{slot_count_} + 2;

  size_t slots_bytes = round_up(sizeof(Entry) * slot_count_, 64);
  size_t index_bytes = round_up(sizeof(uint32_t) * index_cap, 64);
  size_t ranges_bytes = round_up(sizeof(FreeRange) * range_cap_, 64);
  meta_bytes_ = slots_bytes + index_bytes + ranges_bytes;
  void* m = mmap(nullptr, meta_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) {
    int saved = errno;
    meta_ = nullptr;
    release();
    errno = saved;
    return false;
  }
  meta_ = m;
  auto* bytes = static_cast<uint8_t*>(m);
  slots_ = reinterpret_cast<Entry*>(bytes);
  index_ = reinterpret_cast<uint32_t*>(bytes + slots_bytes);
  ranges_ = reinterpret_cast<FreeRange*>(bytes + slots_bytes + index_bytes);

  for (uint32_t i = 0; i < slot_count_; ++i) {
    slots_[i] = Entry{};
    slots_[i].state = SlotState::kFree;
    slots_[i].next_free = i + 1 < slot_count_ ? i + 1 : kNone;
  }
  slot_free_head_ = 0;
  for (size_t i = 0; i < index_cap; ++i) index_[i] = kNone;
  ranges_[0] = FreeRange{0, arena_bytes_};
  range_count_ = 1;
  max_entries_ = max_entries;
  return true;
}

// ---------------------------------------------------------------- entry slots

uint32_t Cache::slot_alloc() {
  uint32_t s = slot_free_head_;
  if (s == kNone) return kNone;
  slot_free_head_ = slots_[s].next_free;
  return s;
}

void Cache::slot_free(uint32_t s) {
  slots_[s].state = SlotState::kFree;
  slots_[s].next_free = slot_free_head_;
  slot_free_head_ = s;
}

const Entry* Cache::live_entry_at(uint32_t slot) const {
  if (slot >= slot_count_ || slots_[slot].state != SlotState::kLive) return nullptr;
  return &slots_[slot];
}

// ---------------------------------------------------------------- hash index

uint32_t Cache::lookup(uint64_t key_hash, const Key& key) const {
  if (index_ == nullptr) return kNone;
  for (uint32_t i = static_cast<uint32_t>(key_hash) & index_mask_;; i = (i + 1) & index_mask_) {
    uint32_t s = index_[i];
    if (s == kNone) return kNone;
    const Entry& e = slots_[s];
    if (e.key_hash != key_hash || e.app_len != key.application.size() || e.env_len != key.environment.size() ||
        e.profile_len != key.profile.size())
      continue;
    const char* p = reinterpret_cast<const char*>(arena_ + e.block_offset + e.body_len);
    if (memcmp(p, key.application.data(), e.app_len) == 0 &&
        memcmp(p + e.app_len, key.environment.data(), e.env_len) == 0 &&
        memcmp(p + e.app_len + e.env_len, key.profile.data(), e.profile_len) == 0)
      return s;
  }
}

void Cache::index_insert(uint32_t slot) {
  uint32_t i = static_cast<uint32_t>(slots_[slot].key_hash) & index_mask_;
  while (index_[i] != kNone) i = (i + 1) & index_mask_;
  index_[i] = slot;
}

void Cache::index_replace(uint32_t old_slot, uint32_t new_slot) {
  uint32_t i = static_cast<uint32_t>(slots_[old_slot].key_hash) & index_mask_;
  while (index_[i] != old_slot) i = (i + 1) & index_mask_;
  index_[i] = new_slot;
}

// Backward-shift deletion keeps linear probing free of tombstones (Knuth 6.4, Algorithm R).
void Cache::index_erase(uint32_t slot) {
  uint32_t i = static_cast<uint32_t>(slots_[slot].key_hash) & index_mask_;
  while (index_[i] != slot) i = (i + 1) & index_mask_;
  uint32_t j = i;
  for (;;) {
    j = (j + 1) & index_mask_;
    if (index_[j] == kNone) break;
    uint32_t home = static_cast<uint32_t>(slots_[index_[j]].key_hash) & index_mask_;
    // Move index_[j] into the hole at i unless its home lies cyclically in (i, j].
    bool home_in_between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!home_in_between) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = kNone;
}

// ---------------------------------------------------------------- LRU list

void Cache::lru_unlink(uint32_t s) {
  Entry& e = slots_[s];
  if (e.lru_prev != kNone) slots_[e.lru_prev].lru_next = e.lru_next; else lru_head_ = e.lru_next;
  if (e.lru_next != kNone) slots_[e.lru_next].lru_prev = e.lru_prev; else lru_tail_ = e.lru_prev;
  e.lru_prev = e.lru_next = kNone;
}

void Cache::lru_push_front(uint32_t s) {
  Entry& e = slots_[s];
  e.lru_prev = kNone;
  e.lru_next = lru_head_;
  if (lru_head_ != kNone) slots_[lru_head_].lru_prev = s; else lru_tail_ = s;
  lru_head_ = s;
}

void Cache::lru_insert_after(uint32_t prev, uint32_t s) {
  if (prev == kNone) {
    lru_push_front(s);
    return;
  }
  Entry& e = slots_[s];
  e.lru_prev = prev;
  e.lru_next = slots_[prev].lru_next;
  if (e.lru_next != kNone) slots_[e.lru_next].lru_prev = s; else lru_tail_ = s;
  slots_[prev].lru_next = s;
}

// ---------------------------------------------------------------- arena allocator
// ranges_[0..range_count_) are the free ranges, sorted by offset, never adjacent.

bool Cache::range_alloc(size_t length, size_t& offset) {
  size_t best = range_count_;
  for (size_t i = 0; i < range_count_; ++i) {
    if (ranges_[i].length >= length && (best == range_count_ || ranges_[i].length < ranges_[best].length)) {
      best = i;
      if (ranges_[i].length == length) break;
    }
  }
  if (best == range_count_) return false;
  offset = ranges_[best].offset;
  if (ranges_[best].length == length) {
    memmove(&ranges_[best], &ranges_[best + 1], (range_count_ - best - 1) * sizeof(FreeRange));
    --range_count_;
  } else {
    ranges_[best].offset += length;
    ranges_[best].length -= length;
  }
  used_bytes_ += length;
  return true;
}

void Cache::release_pages(size_t lo, size_t hi) {
  // Pages inside the protected range still hold bytes put() may restore.
  auto release = [&](size_t a, size_t b) {
    size_t start = round_up(a, page_bytes_);
    size_t end = round_down(b, page_bytes_);
    if (end > start) madvise(arena_ + start, end - start, MADV_DONTNEED);
  };
  if (protect_hi_ <= lo || protect_lo_ >= hi) {
    release(lo, hi);
    return;
  }
  if (lo < protect_lo_) release(lo, protect_lo_);
  if (protect_hi_ < hi) release(protect_hi_, hi);
}

size_t Cache::range_free(size_t offset, size_t length, bool release) {
  // First range with offset > the freed block.
  size_t lo = 0, hi = range_count_;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (ranges_[mid].offset > offset) hi = mid; else lo = mid + 1;
  }
  size_t at = lo;
  bool merge_prev = at > 0 && ranges_[at - 1].offset + ranges_[at - 1].length == offset;
  bool merge_next = at < range_count_ && offset + length == ranges_[at].offset;
  size_t merged_index;
  if (merge_prev && merge_next) {
    ranges_[at - 1].length += length + ranges_[at].length;
    memmove(&ranges_[at], &ranges_[at + 1], (range_count_ - at - 1) * sizeof(FreeRange));
    --range_count_;
    merged_index = at - 1;
  } else if (merge_prev) {
    ranges_[at - 1].length += length;
    merged_index = at - 1;
  } else if (merge_next) {
    ranges_[at].offset = offset;
    ranges_[at].length += length;
    merged_index = at;
  } else {
    assert(range_count_ < range_cap_);
    memmove(&ranges_[at + 1], &ranges_[at], (range_count_ - at) * sizeof(FreeRange));
    ranges_[at] = FreeRange{offset, length};
    ++range_count_;
    merged_index = at;
  }
  used_bytes_ -= length;
  const FreeRange& m = ranges_[merged_index];
  if (release) {
    // Only pages this block touched can have become wholly free; a neighbour's
    // free bytes may complete a page the block shares with it.
    size_t a = std::max(m.offset, round_down(offset, page_bytes_));
    size_t b = std::min(m.offset + m.length, round_up(offset + length, page_bytes_));
    release_pages(a, b);
  }
  return m.length;
}

bool Cache::range_reserve_at(size_t offset, size_t length) {
  for (size_t i = 0; i < range_count_; ++i) {
    FreeRange r = ranges_[i];
    if (r.offset > offset || r.offset + r.length < offset + length) continue;
    size_t before = offset - r.offset;
    size_t after = r.offset + r.length - (offset + length);
    if (before == 0 && after == 0) {
      memmove(&ranges_[i], &ranges_[i + 1], (range_count_ - i - 1) * sizeof(FreeRange));
      --range_count_;
    } else if (before == 0) {
      ranges_[i] = FreeRange{offset + length, after};
    } else if (after == 0) {
      ranges_[i].length = before;
    } else {
      if (range_count_ >= range_cap_) return false;
      memmove(&ranges_[i + 2], &ranges_[i + 1], (range_count_ - i - 1) * sizeof(FreeRange));
      ranges_[i].length = before;
      ranges_[i + 1] = FreeRange{offset + length, after};
      ++range_count_;
    }
    used_bytes_ += length;
    return true;
  }
  return false;
}

bool Cache::aliases_arena(std::string_view s) const {
  if (s.empty()) return false;
  auto p = reinterpret_cast<uintptr_t>(s.data());
  auto base = reinterpret_cast<uintptr_t>(arena_);
  return p < base + map_bytes_ && p + s.size() > base;
}

// ---------------------------------------------------------------- public operations

const Entry* Cache::find(const Key& key, uint64_t now_ms) {
  uint32_t s = lookup(key_hash_of(key), key);
  if (s == kNone) return nullptr;
  if (lru_head_ != s) {
    lru_unlink(s);
    lru_push_front(s);
  }
  slots_[s].last_read_ms = now_ms;
  return &slots_[s];
}

View Cache::view(const Entry* e) const {
  const char* p = reinterpret_cast<const char*>(arena_ + e->block_offset);
  size_t key_len = size_t{e->app_len} + e->env_len + e->profile_len;
  View v;
  v.bytes = std::string_view(p, e->body_len);
  v.content_type = std::string_view(p + e->body_len + key_len, e->type_len);
  v.version_label = std::string_view(p + e->body_len + key_len + e->type_len, e->version_len);
  v.stored_ms = e->stored_ms;
  v.generation = e->generation;
  v.feature_flags = e->feature_flags;
  v.variants = e->variants;
  v.content_hash = e->content_hash;
  v.stale_since_ms = e->stale_since_ms;
  return v;
}

void Cache::pin(const Entry* e) {
  Entry* m = const_cast<Entry*>(e);
  assert(m->state != SlotState::kFree);
  ++m->pins;
}

void Cache::unpin(const Entry* e) {
  Entry* m = const_cast<Entry*>(e);
  assert(m->pins > 0 && m->state != SlotState::kFree);
  if (m->pins == 0 || m->state == SlotState::kFree) return;  // programmer bug; tolerated in release
  if (--m->pins == 0 && m->state == SlotState::kRetired) {
    range_free(m->block_offset, m->block_length, true);
    slot_free(static_cast<uint32_t>(m - slots_));
  }
}

void Cache::unstale(uint32_t s) {
  if (slots_[s].stale_since_ms != 0) {
    slots_[s].stale_since_ms = 0;
    --stale_count_;
  }
}

bool Cache::mark_stale(const Key& key, uint64_t now_ms) {
  uint32_t s = lookup(key_hash_of(key), key);
  if (s == kNone) return false;
  if (slots_[s].stale_since_ms == 0) {
    slots_[s].stale_since_ms = now_ms == 0 ? 1 : now_ms;
    ++stale_count_;
  }
  return true;
}

void Cache::drop_live(uint32_t s) {
  unstale(s);
  Entry& e = slots_[s];
  index_erase(s);
  lru_unlink(s);
  --live_count_;
  if (e.pins > 0) {
    e.state = SlotState::kRetired;
    return;
  }
  range_free(e.block_offset, e.block_length, true);
  slot_free(s);
}

bool Cache::remove(const Key& key) {
  uint32_t s = lookup(key_hash_of(key), key);
  if (s == kNone) return false;
  drop_live(s);
  return true;
}

namespace {

// The arena block an entry needs: all its strings, rounded up to kAlignment (at least one unit).
// SIZE_MAX when the sum overflows or a key, type or version length exceeds 32 bits (Entry keeps
// those in uint32_t; no arena we map could hold them anyway).
size_t block_bytes(const std::string_view (&parts)[kEntryParts]) {
  constexpr size_t k32 = UINT32_MAX;
  size_t total = 0;
  bool overflow = false;
  for (std::string_view p : parts) {
    if (p.size() > std::numeric_limits<size_t>::max() - total - kAlignment) overflow = true;
    else total += p.size();
  }
  for (size_t i = 1; i < kEntryParts; ++i)
    if (parts[i].size() > k32) overflow = true;
  return overflow ? std::numeric_limits<size_t>::max() : std::max(round_up(total, kAlignment), kAlignment);
}

}  // namespace

PutResult Cache::put(const Key& key, const Value& v, uint64_t now_ms) {
  PutResult r{.status = PutStatus::kStored,
              .needed_bytes = 0,
              .arena_bytes = arena_bytes_,
              .free_bytes = arena_bytes_ - used_bytes_};
  // In block order (see Entry): the body first, so it starts aligned.
  const std::string_view parts[kEntryParts] = {v.bytes,         key.application, key.environment,
                                               key.profile,     v.content_type,  v.version_label};
  const size_t need = block_bytes(parts);
  r.needed_bytes = need;
  if (arena_ == nullptr || need == std::numeric_limits<size_t>::max() || need > arena_bytes_) {
    r.status = PutStatus::kTooLarge;
    return r;
  }

  const uint64_t kh = key_hash_of(key);
  const uint32_t old = lookup(kh, key);
  if ((old == kNone && live_count_ >= max_entries_) || slot_free_head_ == kNone) {
    // Too many live entries, or every spare slot holds a retired entry.
    r.status = PutStatus::kTableFull;
    return r;
  }

  size_t offset = 0;
  bool old_offered = false;  // old's block was freed provisionally
  if (!range_alloc(need, offset)) {
    r.status = make_room(need, old, parts, offset, old_offered);
    if (r.status != PutStatus::kStored) {
      r.free_bytes = arena_bytes_ - used_bytes_;
      return r;
    }
  }
  const uint32_t s = store_entry(kh, key, v, parts, offset, need, now_ms);
  link_entry(s, old, old_offered);
  protect_lo_ = protect_hi_ = 0;
  r.free_bytes = arena_bytes_ - used_bytes_;
  return r;
}

// put() found no free range of need bytes: offer old's block (when nothing pins it), then evict
// from the LRU tail, and retry the allocation once. Never evicts when the evictable bytes could
// not make room anyway, nor when a part aliases the arena (the memcpy would read freed bytes).
PutStatus Cache::make_room(size_t need, uint32_t old, const std::string_view (&parts)[kEntryParts], size_t& offset,
                           bool& old_offered) {
  bool aliasing = false;
  for (std::string_view p : parts) aliasing = aliasing || aliases_arena(p);
  const bool may_offer_old = old != kNone && slots_[old].pins == 0 && !aliasing;
  size_t reachable = arena_bytes_ - used_bytes_;
  if (may_offer_old) reachable += slots_[old].block_length;
  if (!aliasing) {
    for (uint32_t s = lru_tail_; s != kNone; s = slots_[s].lru_prev)
      if (s != old && slots_[s].pins == 0) reachable += slots_[s].block_length;
  }
  if (reachable < need) return PutStatus::kNoSpace;

  if (may_offer_old) {
    const Entry& o = slots_[old];
    protect_lo_ = o.block_offset;
    protect_hi_ = o.block_offset + o.block_length;
    range_free(o.block_offset, o.block_length, false);
    old_offered = true;
    if (range_alloc(need, offset)) return PutStatus::kStored;
  }
  evict_until(need, old);
  if (range_alloc(need, offset)) return PutStatus::kStored;  // the one retry
  if (old_offered) {
    bool restored = range_reserve_at(slots_[old].block_offset, slots_[old].block_length);
    assert(restored);
    (void)restored;
  }
  protect_lo_ = protect_hi_ = 0;
  return PutStatus::kNoSpace;
}

// Evicts unpinned entries other than keep from the LRU tail until one coalesced free range can
// hold need bytes (or none is left).
void Cache::evict_until(size_t need, uint32_t keep) {
  uint32_t s = lru_tail_;
  while (s != kNone) {
    uint32_t prev = slots_[s].lru_prev;
    if (s != keep && slots_[s].pins == 0) {
      size_t off = slots_[s].block_offset, len = slots_[s].block_length;
      unstale(s);
      index_erase(s);
      lru_unlink(s);
      --live_count_;
      slot_free(s);
      if (range_free(off, len, true) >= need) break;
    }
    s = prev;
  }
}

// Copies the parts into the block at offset and fills a new slot for them (not yet indexed).
uint32_t Cache::store_entry(uint64_t key_hash, const Key& key, const Value& v,
                            const std::string_view (&parts)[kEntryParts], size_t offset, size_t need,
                            uint64_t now_ms) {
  // Value never aliases a block freed by make_room (checked), so memcpy is safe.
  uint8_t* dst = arena_ + offset;
  for (std::string_view p : parts) {
    if (!p.empty()) memcpy(dst, p.data(), p.size());
    dst += p.size();
  }

  uint32_t s = slot_alloc();  // cannot fail: checked by put() and evictions only add slots
  Entry& e = slots_[s];
  e = Entry{};
  e.key_hash = key_hash;
  e.content_hash = hash_bytes(v.bytes);
  e.stored_ms = now_ms;
  e.last_read_ms = 0;
  e.generation = ++generation_;
  e.block_offset = offset;
  e.block_length = need;
  e.body_len = v.bytes.size();
  e.app_len = static_cast<uint32_t>(key.application.size());
  e.env_len = static_cast<uint32_t>(key.environment.size());
  e.profile_len = static_cast<uint32_t>(key.profile.size());
  e.type_len = static_cast<uint32_t>(v.content_type.size());
  e.version_len = static_cast<uint32_t>(v.version_label.size());
  e.pins = 0;
  e.lru_prev = e.lru_next = kNone;
  e.next_free = kNone;
  e.state = SlotState::kLive;
  e.feature_flags = v.feature_flags;
  e.variants = v.variants;
  return s;
}

// Makes the new slot s live: a new key enters at the LRU front; a replacement takes old's index
// entry and LRU position, and old is freed (or retired while readers pin it).
void Cache::link_entry(uint32_t s, uint32_t old, bool old_offered) {
  Entry& e = slots_[s];
  if (old == kNone) {
    index_insert(s);
    lru_push_front(s);
    ++live_count_;
    return;
  }
  unstale(old);
  Entry& o = slots_[old];
  e.last_read_ms = o.last_read_ms;
  index_replace(old, s);
  lru_insert_after(o.lru_prev, s);  // the replacement takes the old LRU position
  lru_unlink(old);
  if (old_offered) {
    // Its block is already free (and possibly partly reused by the new one):
    // hand back the pages of it that the new block does not cover.
    size_t olo = o.block_offset, ohi = o.block_offset + o.block_length;
    protect_lo_ = e.block_offset;
    protect_hi_ = e.block_offset + e.block_length;
    release_pages(olo, ohi);
    slot_free(old);
  } else if (o.pins > 0) {
    o.state = SlotState::kRetired;
  } else {
    range_free(o.block_offset, o.block_length, true);
    slot_free(old);
  }
}

}  // namespace appconfig::cache
