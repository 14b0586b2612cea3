#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/agent/cache.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace cache = appconfig::cache;
using cache::Cache;
using cache::Key;
using cache::PutStatus;
using cache::Value;

namespace {

size_t block_for(size_t total) { return std::max<size_t>(16, (total + 15) / 16 * 16); }

size_t block_for(const Key& k, const Value& v) {
  return block_for(k.application.size() + k.environment.size() + k.profile.size() + v.bytes.size() +
                   v.content_type.size() + v.version_label.size());
}

std::string view_body(Cache& c, const Key& k, uint64_t now = 1) {
  const cache::Entry* e = c.find(k, now);
  if (e == nullptr) return "<absent>";
  return std::string(c.view(e).bytes);
}

// Resident pages of [p, p+n) according to mincore(2).
size_t resident_pages(const void* p, size_t n) {
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  auto start = reinterpret_cast<uintptr_t>(p) / page * page;
  auto end = (reinterpret_cast<uintptr_t>(p) + n + page - 1) / page * page;
  std::vector<unsigned char> vec((end - start) / page);
  if (mincore(reinterpret_cast<void*>(start), end - start, vec.data()) != 0) return SIZE_MAX;
  size_t r = 0;
  for (unsigned char c : vec) r += c & 1;
  return r;
}

}  // namespace

TEST(CacheHash, Fnv1a64KnownVectors) {
  // Reference values of 64-bit FNV-1a (Fowler/Noll/Vo test suite).
  EXPECT_EQ(cache::hash_bytes(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(cache::hash_bytes("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(cache::hash_bytes("foobar"), 0x85944171f73967e8ull);
}

TEST(Cache, InitRejectsBadSizes) {
  Cache c;
  errno = 0;
  EXPECT_FALSE(c.init(0, 4));
  EXPECT_EQ(errno, EINVAL);
  EXPECT_FALSE(c.init(4096, 0));
  EXPECT_FALSE(c.init(4096, cache::kMaxEntries + 1));
  // Not initialised: put refuses, find finds nothing.
  Key k{"a", "e", "p"};
  EXPECT_EQ(c.find(k, 1), nullptr);
  EXPECT_NE(c.put(k, Value{"x", "t", "v"}, 1).status, PutStatus::kStored);
  EXPECT_TRUE(c.init(1000, 4));
  EXPECT_EQ(c.arena_bytes(), 1008u);  // rounded up to kAlignment
  EXPECT_TRUE(c.init(64, 1));         // re-init
  EXPECT_EQ(c.arena_bytes(), 64u);
}

TEST(Cache, PutFindView) {
  Cache c;
  ASSERT_TRUE(c.init(1 << 20, 8));
  Key k{"app", "env", "prof"};
  Value v{.bytes = "{\"a\":1}", .content_type = "application/json", .version_label = "v7", .feature_flags = true};
  auto r = c.put(k, v, 1234);
  ASSERT_EQ(r.status, PutStatus::kStored);
  EXPECT_EQ(r.needed_bytes, block_for(k, v));
  EXPECT_EQ(r.arena_bytes, size_t{1} << 20);
  EXPECT_EQ(r.free_bytes, (size_t{1} << 20) - r.needed_bytes);
  EXPECT_EQ(c.used_bytes(), r.needed_bytes);
  EXPECT_EQ(c.entry_count(), 1u);

  const cache::Entry* e = c.find(k, 2000);
  ASSERT_NE(e, nullptr);
  cache::View w = c.view(e);
  EXPECT_EQ(w.bytes, v.bytes);
  EXPECT_EQ(w.content_type, v.content_type);
  EXPECT_EQ(w.version_label, v.version_label);
  EXPECT_TRUE(w.feature_flags);
  EXPECT_EQ(w.stored_ms, 1234u);
  EXPECT_EQ(w.generation, 1u);
  EXPECT_EQ(w.content_hash, cache::hash_bytes(v.bytes));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.bytes.data()) % cache::kAlignment, 0u);
  // The view points into the arena, not at the caller's buffer.
  EXPECT_NE(w.bytes.data(), v.bytes.data());

  // Keys differing only in how the parts split are distinct.
  EXPECT_EQ(c.find(Key{"ap", "penv", "prof"}, 1), nullptr);
  EXPECT_EQ(c.find(Key{"app", "en", "vprof"}, 1), nullptr);
  EXPECT_EQ(c.find(Key{"App", "env", "prof"}, 1), nullptr);  // case-sensitive
  ASSERT_EQ(c.put(Key{"ap", "penv", "prof"}, Value{"other", "", ""}, 5).status, PutStatus::kStored);
  EXPECT_EQ(view_body(c, k), v.bytes);
  EXPECT_EQ(view_body(c, Key{"ap", "penv", "prof"}), "other");

  // Empty everything still works (a 0-byte configuration is legal).
  Key empty{"", "", ""};
  auto r2 = c.put(empty, Value{}, 9);
  ASSERT_EQ(r2.status, PutStatus::kStored);
  EXPECT_EQ(r2.needed_bytes, 16u);
  const cache::Entry* ee = c.find(empty, 9);
  ASSERT_NE(ee, nullptr);
  EXPECT_EQ(c.view(ee).bytes.size(), 0u);
  EXPECT_EQ(c.view(ee).generation, 3u);
}

TEST(Cache, ReplaceUnpinned) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 4));
  Key k{"a", "e", "p"};
  ASSERT_EQ(c.put(k, Value{std::string(100, 'x'), "t", "1"}, 1).status, PutStatus::kStored);
  const std::string flags_body(300, 'y');
  const Value flags_value{.bytes = flags_body, .content_type = "t", .version_label = "2", .feature_flags = true};
  ASSERT_EQ(c.put(k, flags_value, 2).status, PutStatus::kStored);
  EXPECT_EQ(c.entry_count(), 1u);
  EXPECT_EQ(c.used_bytes(), block_for(3 + 300 + 1 + 1));
  const cache::Entry* e = c.find(k, 3);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(c.view(e).bytes, std::string(300, 'y'));
  EXPECT_EQ(c.view(e).version_label, "2");
  EXPECT_EQ(c.view(e).stored_ms, 2u);
  EXPECT_EQ(c.view(e).generation, 2u);
  EXPECT_TRUE(c.remove(k));
  EXPECT_FALSE(c.remove(k));
  EXPECT_EQ(c.used_bytes(), 0u);
  EXPECT_EQ(c.entry_count(), 0u);
}

TEST(Cache, ReplaceWhilePinnedKeepsOldBytesUntilUnpin) {
  Cache c;
  ASSERT_TRUE(c.init(64 * 1024, 4));
  Key k{"a", "e", "p"};
  std::string old_body(10000, 'o');
  ASSERT_EQ(c.put(k, Value{old_body, "text/plain", "v1"}, 1).status, PutStatus::kStored);
  const cache::Entry* old_e = c.find(k, 2);
  ASSERT_NE(old_e, nullptr);
  c.pin(old_e);
  c.pin(old_e);  // pins nest
  cache::View old_v = c.view(old_e);
  const char* old_ptr = old_v.bytes.data();

  size_t used_one = c.used_bytes();
  ASSERT_EQ(c.put(k, Value{std::string(10000, 'n'), "text/plain", "v2"}, 3).status, PutStatus::kStored);
  ASSERT_EQ(c.put(k, Value{std::string(12000, 'm'), "text/plain", "v3"}, 4).status, PutStatus::kStored);
  EXPECT_EQ(c.entry_count(), 1u);
  // Old bytes intact and unmoved.
  EXPECT_EQ(c.view(old_e).bytes.data(), old_ptr);
  EXPECT_EQ(c.view(old_e).bytes, old_body);
  EXPECT_EQ(c.view(old_e).version_label, "v1");
  EXPECT_EQ(view_body(c, k), std::string(12000, 'm'));
  // for_each sees the live entry only.
  int visits = 0;
  c.for_each([&](const cache::Entry* e, const cache::View& v) {
    ++visits;
    EXPECT_NE(e, old_e);
    EXPECT_EQ(v.version_label, "v3");
  });
  EXPECT_EQ(visits, 1);
  size_t live_block = block_for(3 + 12000 + 10 + 2);
  EXPECT_EQ(c.used_bytes(), used_one + live_block);

  c.unpin(old_e);
  EXPECT_EQ(c.view(old_e).bytes, old_body);  // one pin left
  EXPECT_EQ(c.used_bytes(), used_one + live_block);
  c.unpin(old_e);
  EXPECT_EQ(c.used_bytes(), live_block);  // reclaimed at the last unpin
  EXPECT_TRUE(c.remove(k));
  EXPECT_EQ(c.used_bytes(), 0u);
}

TEST(Cache, RemovePinnedRetires) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 2));
  Key k{"a", "e", "p"};
  ASSERT_EQ(c.put(k, Value{"body", "", ""}, 1).status, PutStatus::kStored);
  const cache::Entry* e = c.find(k, 1);
  c.pin(e);
  EXPECT_TRUE(c.remove(k));
  EXPECT_EQ(c.find(k, 1), nullptr);
  EXPECT_EQ(c.entry_count(), 0u);
  EXPECT_EQ(c.view(e).bytes, "body");
  EXPECT_GT(c.used_bytes(), 0u);
  // A new entry of the same key coexists with the retired one.
  ASSERT_EQ(c.put(k, Value{"new", "", ""}, 2).status, PutStatus::kStored);
  EXPECT_EQ(c.view(e).bytes, "body");
  c.unpin(e);
  EXPECT_EQ(c.used_bytes(), 16u);
  EXPECT_EQ(view_body(c, k), "new");
}

TEST(Cache, EvictsLeastRecentlyReadFirst) {
  Cache c;
  // Each entry: 1 + 1 + 1 + 1021 = 1024 bytes; the arena holds exactly four.
  ASSERT_TRUE(c.init(4096, 16));
  auto key = [](char id) { return Key{std::string_view(&"ABCDEFGH"[id - 'A'], 1), "e", "p"}; };
  std::string body(1021, '.');
  for (char id : {'A', 'B', 'C', 'D'}) {
    ASSERT_EQ(c.put(key(id), Value{body, "", ""}, 1).status, PutStatus::kStored) << id;
  }
  EXPECT_EQ(c.used_bytes(), 4096u);
  // Read order: D newest put; now read A then C. LRU order (oldest first): B, D, A, C.
  // (Put order: A B C D, so before reads the order oldest-first is A B C D.)
  ASSERT_NE(c.find(key('A'), 10), nullptr);
  ASSERT_NE(c.find(key('C'), 11), nullptr);
  ASSERT_EQ(c.put(key('E'), Value{body, "", ""}, 12).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('B'), 13), nullptr);  // evicted
  EXPECT_EQ(c.entry_count(), 4u);
  // Now oldest-first: D, E? No: E was put at 12 (most recent), then nothing read besides the failed B.
  // Order: D, A, C, E.
  ASSERT_EQ(c.put(key('F'), Value{body, "", ""}, 14).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('D'), 15), nullptr);
  // Order now: A, C, E, F. Read A -> C, E, F, A. A double-size entry evicts two: C and E.
  ASSERT_NE(c.find(key('A'), 16), nullptr);
  std::string big(2045, '#');
  ASSERT_EQ(c.put(key('G'), Value{big, "", ""}, 17).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('C'), 18), nullptr);
  EXPECT_EQ(c.find(key('E'), 18), nullptr);
  EXPECT_NE(c.find(key('F'), 18), nullptr);
  EXPECT_NE(c.find(key('A'), 18), nullptr);
  EXPECT_NE(c.find(key('G'), 18), nullptr);
  EXPECT_EQ(c.used_bytes(), 4096u);
}

TEST(Cache, ReplacementKeepsLruPositionAndReusesOwnSpace) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 16));
  auto key = [](char id) { return Key{std::string_view(&"ABCDEFGH"[id - 'A'], 1), "e", "p"}; };
  std::string body(1021, '.');
  for (char id : {'A', 'B', 'C', 'D'}) ASSERT_EQ(c.put(key(id), Value{body, "", ""}, 1).status, PutStatus::kStored);
  // Replacing A in a full arena reuses A's own block: nothing else is evicted.
  ASSERT_EQ(c.put(key('A'), Value{std::string(1021, 'a'), "", ""}, 2).status, PutStatus::kStored);
  EXPECT_EQ(c.entry_count(), 4u);
  // A's refresh did not count as a read: A is still the least recently used.
  ASSERT_EQ(c.put(key('E'), Value{body, "", ""}, 3).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('A'), 4), nullptr);
  EXPECT_NE(c.find(key('B'), 4), nullptr);
}

TEST(Cache, PinnedEntriesAreNeverEvicted) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 16));
  auto key = [](char id) { return Key{std::string_view(&"ABCDEFGH"[id - 'A'], 1), "e", "p"}; };
  std::string body(1021, '.');
  for (char id : {'A', 'B', 'C', 'D'}) ASSERT_EQ(c.put(key(id), Value{body, "", ""}, 1).status, PutStatus::kStored);
  const cache::Entry* a = c.find(key('A'), 2);
  const cache::Entry* b = c.find(key('B'), 3);
  c.pin(a);
  c.pin(b);
  // LRU oldest-first: C D A B; A and B pinned. E evicts C.
  ASSERT_EQ(c.put(key('E'), Value{body, "", ""}, 4).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('C'), 5), nullptr);
  EXPECT_NE(c.find(key('D'), 5), nullptr);
  // Now oldest: A(pinned) B(pinned) E D. F evicts E (skipping A and B).
  ASSERT_EQ(c.put(key('F'), Value{body, "", ""}, 6).status, PutStatus::kStored);
  EXPECT_EQ(c.find(key('E'), 7), nullptr);
  // A 3 KiB entry cannot be made: only D and F (2 KiB) are evictable. Nothing is evicted.
  auto r = c.put(key('G'), Value{std::string(3000, 'g'), "", ""}, 8);
  EXPECT_EQ(r.status, PutStatus::kNoSpace);
  EXPECT_EQ(r.needed_bytes, block_for(3 + 3000));
  EXPECT_EQ(r.arena_bytes, 4096u);
  EXPECT_EQ(r.free_bytes, 0u);
  EXPECT_NE(c.find(key('D'), 9), nullptr);
  EXPECT_NE(c.find(key('F'), 9), nullptr);
  EXPECT_EQ(c.view(a).bytes, body);
  EXPECT_EQ(c.view(b).bytes, body);
  c.unpin(a);
  c.unpin(b);
  // With the pins gone it fits. Layout is A B F D (F took E's block, E took C's), LRU
  // oldest-first A B D F: evicting A, B, D leaves two 2 KiB/1 KiB holes around F, so F
  // goes too: eviction follows LRU order, not the cheapest set of blocks.
  ASSERT_EQ(c.put(key('G'), Value{std::string(3000, 'g'), "", ""}, 10).status, PutStatus::kStored);
  EXPECT_EQ(c.entry_count(), 1u);
  EXPECT_EQ(view_body(c, key('G')), std::string(3000, 'g'));
}

TEST(Cache, TooLargeReportsSizes) {
  Cache c;
  ASSERT_TRUE(c.init(1000, 4));
  Key k{"app", "env", "prof"};
  auto r = c.put(k, Value{std::string(1000, 'x'), "application/json", "1"}, 1);
  EXPECT_EQ(r.status, PutStatus::kTooLarge);
  EXPECT_EQ(r.needed_bytes, block_for(10 + 1000 + 16 + 1));
  EXPECT_EQ(r.arena_bytes, 1008u);
  EXPECT_EQ(r.free_bytes, 1008u);
  EXPECT_EQ(c.entry_count(), 0u);
  // Exactly the arena size fits.
  auto r2 = c.put(k, Value{std::string(1008 - 10, 'x'), "", ""}, 1);
  EXPECT_EQ(r2.status, PutStatus::kStored);
  EXPECT_EQ(r2.free_bytes, 0u);
  EXPECT_STRNE(cache::status_message(PutStatus::kTooLarge), cache::status_message(PutStatus::kNoSpace));
}

TEST(Cache, TableFull) {
  Cache c;
  ASSERT_TRUE(c.init(1 << 16, 2));
  ASSERT_EQ(c.put(Key{"a", "", ""}, Value{"1", "", ""}, 1).status, PutStatus::kStored);
  ASSERT_EQ(c.put(Key{"b", "", ""}, Value{"2", "", ""}, 1).status, PutStatus::kStored);
  auto r = c.put(Key{"c", "", ""}, Value{"3", "", ""}, 1);
  EXPECT_EQ(r.status, PutStatus::kTableFull);
  EXPECT_EQ(view_body(c, Key{"a", "", ""}), "1");
  // Replacement of an existing key is still allowed when the table is full.
  ASSERT_EQ(c.put(Key{"a", "", ""}, Value{"1b", "", ""}, 2).status, PutStatus::kStored);
  // Retired entries use the spare slots: two pinned old versions exhaust them.
  const cache::Entry* a = c.find(Key{"a", "", ""}, 3);
  const cache::Entry* b = c.find(Key{"b", "", ""}, 3);
  c.pin(a);
  c.pin(b);
  ASSERT_EQ(c.put(Key{"a", "", ""}, Value{"1c", "", ""}, 4).status, PutStatus::kStored);
  ASSERT_EQ(c.put(Key{"b", "", ""}, Value{"2c", "", ""}, 4).status, PutStatus::kStored);
  EXPECT_EQ(c.put(Key{"a", "", ""}, Value{"1d", "", ""}, 5).status, PutStatus::kTableFull);
  EXPECT_EQ(view_body(c, Key{"a", "", ""}), "1c");
  c.unpin(a);
  EXPECT_EQ(c.put(Key{"a", "", ""}, Value{"1d", "", ""}, 5).status, PutStatus::kStored);
  c.unpin(b);
  EXPECT_TRUE(c.remove(Key{"a", "", ""}));
  EXPECT_EQ(c.put(Key{"c", "", ""}, Value{"3", "", ""}, 6).status, PutStatus::kStored);
}

TEST(Cache, FailedReplaceRestoresOldVersionIntact) {
  // Layout (U = 5008 bytes, not page-aligned so blocks share pages):
  //   A [0,U)  B(old) [U,2U)  P(pinned) [2U,3U)  free [3U,4U)
  // Replacing B with a 3U entry: reachable bytes = free + B + A = 3U, so eviction is
  // tried, but the pinned P splits the arena and no range of 3U can exist. B must
  // come back byte-for-byte (its pages were not released while A was evicted).
  constexpr size_t U = 5008;
  Cache c;
  ASSERT_TRUE(c.init(4 * U, 8));
  auto body_of = [](char ch) { return std::string(U - 1, ch); };  // block = 1 + body = U
  ASSERT_EQ(c.put(Key{"A", "", ""}, Value{body_of('a'), "", ""}, 1).status, PutStatus::kStored);
  std::string b_body(U - 3, 'b');  // + "B" + "vb" = U
  for (size_t i = 0; i < b_body.size(); i += 7) b_body[i] = static_cast<char>('0' + i % 10);
  ASSERT_EQ(c.put(Key{"B", "", ""}, Value{b_body, "", "vb"}, 1).status, PutStatus::kStored);
  ASSERT_EQ(c.put(Key{"P", "", ""}, Value{body_of('p'), "", ""}, 1).status, PutStatus::kStored);
  const cache::Entry* p = c.find(Key{"P", "", ""}, 2);
  c.pin(p);
  const cache::Entry* b = c.find(Key{"B", "", ""}, 3);
  ASSERT_NE(b, nullptr);
  std::string b_expected(c.view(b).bytes);
  const char* b_ptr = c.view(b).bytes.data();

  auto r = c.put(Key{"B", "", ""}, Value{std::string(3 * U - 1, 'n'), "", ""}, 4);
  EXPECT_EQ(r.status, PutStatus::kNoSpace);
  const cache::Entry* b2 = c.find(Key{"B", "", ""}, 5);
  ASSERT_NE(b2, nullptr);
  EXPECT_EQ(c.view(b2).bytes.data(), b_ptr);
  EXPECT_EQ(c.view(b2).bytes, b_expected);
  EXPECT_EQ(c.view(b2).version_label, "vb");
  EXPECT_EQ(c.view(p).bytes, body_of('p'));
  EXPECT_EQ(c.find(Key{"A", "", ""}, 6), nullptr);  // evicted trying (documented)
  EXPECT_EQ(c.used_bytes(), 2 * U);
  c.unpin(p);
}

TEST(Cache, FreedPagesLeaveRss) {
  Cache c;
  ASSERT_TRUE(c.init(8 << 20, 4));
  std::string body(2 << 20, 'r');
  Key k{"a", "e", "p"};
  ASSERT_EQ(c.put(k, Value{body, "", ""}, 1).status, PutStatus::kStored);
  const cache::Entry* e = c.find(k, 1);
  const char* data = c.view(e).bytes.data();
  size_t pages = resident_pages(data, body.size());
  ASSERT_NE(pages, SIZE_MAX);
  EXPECT_GE(pages, body.size() / static_cast<size_t>(sysconf(_SC_PAGESIZE)) - 1);
  ASSERT_TRUE(c.remove(k));
  EXPECT_LE(resident_pages(data, body.size()), 1u);
  // Untouched arena is never resident (MAP_NORESERVE, lazily touched).
  EXPECT_EQ(resident_pages(data + (4 << 20), 4 << 20), 0u);
}

// Random operations against a std::map model.
TEST(Cache, RandomOperationsAgainstModel) {
  uint64_t seed = std::random_device{}();
  if (const char* s = getenv("CACHE_TEST_SEED")) seed = strtoull(s, nullptr, 10);
  printf("cache random seed: %llu (set CACHE_TEST_SEED to replay)\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  auto rnd = [&](uint64_t n) { return rng() % n; };

  constexpr size_t kArena = 64 * 1024;
  constexpr size_t kMaxLive = 12;
  Cache c;
  ASSERT_TRUE(c.init(kArena, kMaxLive));

  struct Expected {
    std::string body, type, version;
    bool ff;
  };
  std::vector<std::string> names;
  for (int i = 0; i < 16; ++i) names.push_back("app" + std::to_string(i));
  auto key_of = [&](size_t i) { return Key{names[i], i % 2 ? "prod" : "dev", "profile"}; };
  std::map<size_t, Expected> model;  // what is live (or may have been evicted: see present set)
  struct Pin {
    const cache::Entry* e;
    Expected want;
    size_t key;
  };
  std::vector<Pin> pins;
  uint64_t last_generation = 0;
  size_t stored = 0, evictions = 0, nospace = 0, tablefull = 0;

  // Present keys as seen by for_each (does not disturb LRU). Bodies start with the key index.
  auto snapshot = [&]() {
    std::map<size_t, Expected> seen;
    c.for_each([&](const cache::Entry*, const cache::View& v) {
      size_t bar = v.bytes.find('|');
      EXPECT_NE(bar, std::string_view::npos);
      size_t idx = std::stoul(std::string(v.bytes.substr(0, bar)));
      EXPECT_EQ(v.content_hash, cache::hash_bytes(v.bytes));
      EXPECT_TRUE(seen.emplace(idx, Expected{std::string(v.bytes), std::string(v.content_type),
                                             std::string(v.version_label), v.feature_flags})
                      .second);
    });
    return seen;
  };
  auto check = [&](const std::map<size_t, Expected>& seen) {
    size_t used = 0;
    for (auto& [idx, ex] : seen) {
      auto it = model.find(idx);
      ASSERT_NE(it, model.end()) << "unexpected key " << idx;
      EXPECT_EQ(ex.body, it->second.body);
      EXPECT_EQ(ex.type, it->second.type);
      EXPECT_EQ(ex.version, it->second.version);
      EXPECT_EQ(ex.ff, it->second.ff);
      Key k = key_of(idx);
      used += block_for(
          k, Value{.bytes = ex.body, .content_type = ex.type, .version_label = ex.version, .feature_flags = ex.ff});
    }
    std::set<const cache::Entry*> retired;
    for (auto& p : pins) {
      cache::View v = c.view(p.e);
      EXPECT_EQ(v.bytes, p.want.body);
      EXPECT_EQ(v.version_label, p.want.version);
      bool live = false;
      c.for_each([&](const cache::Entry* e, const cache::View&) { live = live || e == p.e; });
      if (!live && retired.insert(p.e).second)
        used += block_for(key_of(p.key), Value{.bytes = p.want.body,
                                               .content_type = p.want.type,
                                               .version_label = p.want.version,
                                               .feature_flags = p.want.ff});
    }
    EXPECT_EQ(c.used_bytes(), used);
    EXPECT_EQ(c.entry_count(), seen.size());
    EXPECT_LE(seen.size(), kMaxLive);
  };

  for (int step = 0; step < 20000 && !HasFailure(); ++step) {
    auto before = snapshot();
    uint64_t op = rnd(100);
    size_t idx = rnd(names.size());
    Key k = key_of(idx);
    if (op < 40) {
      uint64_t shape = rnd(100);
      size_t len = shape < 3 ? rnd(70000) : shape < 15 ? rnd(30000) : rnd(3000);
      Expected ex;
      ex.body = std::to_string(idx) + "|";
      char fill = static_cast<char>('a' + rnd(26));
      ex.body += std::string(len, fill);
      ex.type = rnd(2) ? "application/json" : "";
      ex.version = rnd(3) ? std::to_string(step) : "";
      ex.ff = rnd(2);
      const Value v{.bytes = ex.body, .content_type = ex.type, .version_label = ex.version, .feature_flags = ex.ff};
      auto r = c.put(k, v, static_cast<uint64_t>(step));
      auto after = snapshot();
      EXPECT_EQ(r.arena_bytes, c.arena_bytes());
      EXPECT_EQ(r.free_bytes, c.arena_bytes() - c.used_bytes());
      EXPECT_EQ(r.needed_bytes, block_for(k, v));
      if (r.status == PutStatus::kStored) {
        ++stored;
        model[idx] = ex;
        ASSERT_TRUE(after.count(idx));
        const cache::Entry* e = c.find(k, step);
        EXPECT_GT(c.view(e).generation, last_generation);
        last_generation = c.view(e).generation;
      } else {
        if (r.status == PutStatus::kNoSpace) ++nospace;
        if (r.status == PutStatus::kTableFull) {
          ++tablefull;
          EXPECT_EQ(after.size(), before.size());  // nothing evicted
        }
        // The old version (if still there before) survives a failed put.
        if (before.count(idx)) {
          EXPECT_TRUE(after.count(idx));
        }
      }
      // Evicted keys leave the model.
      for (auto& [i, ex2] : before)
        if (!after.count(i) && i != idx) {
          ++evictions;
          model.erase(i);
          // A pinned live entry is never evicted.
          for (auto& p : pins) EXPECT_FALSE(p.key == i && p.want.body == ex2.body && p.want.version == ex2.version);
        }
      check(after);
    } else if (op < 70) {
      const cache::Entry* e = c.find(k, step);
      EXPECT_EQ(e != nullptr, before.count(idx) == 1);
      if (e != nullptr) {
        EXPECT_EQ(c.view(e).bytes, model[idx].body);
        if (rnd(3) == 0 && pins.size() < 6) {
          c.pin(e);
          pins.push_back(Pin{e, model[idx], idx});
        }
      }
      EXPECT_EQ(snapshot().size(), before.size());
    } else if (op < 80) {
      bool removed = c.remove(k);
      EXPECT_EQ(removed, before.count(idx) == 1);
      model.erase(idx);
      check(snapshot());
    } else if (!pins.empty()) {
      size_t which = rnd(pins.size());
      c.unpin(pins[which].e);
      pins.erase(pins.begin() + static_cast<long>(which));
      check(snapshot());
    }
  }
  printf("stored %zu, evicted %zu, no-space %zu, table-full %zu\n", stored, evictions, nospace, tablefull);
  EXPECT_GT(evictions, 100u);
  EXPECT_GT(nospace, 3u);
  EXPECT_GT(tablefull, 10u);
  for (auto& p : pins) c.unpin(p.e);
  pins.clear();
  for (size_t i = 0; i < names.size(); ++i) c.remove(key_of(i));
  EXPECT_EQ(c.used_bytes(), 0u);
  EXPECT_EQ(c.entry_count(), 0u);
  // After everything is freed, the free ranges coalesced back to one: the whole arena fits.
  Key big{"big", "", ""};
  EXPECT_EQ(c.put(big, Value{std::string(kArena - 3, 'z'), "", ""}, 1).status, PutStatus::kStored);
}

TEST(Cache, ManyKeysIndexIntegrity) {
  // Fills the table, removes a random half (exercising backward-shift deletion in
  // long probe runs), and checks every remaining key is still found and every
  // removed one is not; then refills.
  uint64_t seed = std::random_device{}();
  printf("index seed: %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  constexpr size_t kN = 2000;
  Cache c;
  ASSERT_TRUE(c.init(kN * 64, kN));
  std::vector<std::string> apps;
  for (size_t i = 0; i < kN; ++i) apps.push_back("a" + std::to_string(rng()));
  for (size_t i = 0; i < kN; ++i)
    ASSERT_EQ(c.put(Key{apps[i], "e", "p"}, Value{std::to_string(i), "", ""}, 1).status, PutStatus::kStored);
  EXPECT_EQ(c.put(Key{"one-more", "e", "p"}, Value{"x", "", ""}, 1).status, PutStatus::kTableFull);
  std::vector<bool> present(kN, true);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < kN; ++i)
      if (present[i] && rng() % 2) {
        ASSERT_TRUE(c.remove(Key{apps[i], "e", "p"}));
        present[i] = false;
      }
    for (size_t i = 0; i < kN; ++i) {
      const cache::Entry* e = c.find(Key{apps[i], "e", "p"}, 2);
      ASSERT_EQ(e != nullptr, present[i]) << i;
      if (e) {
        ASSERT_EQ(c.view(e).bytes, std::to_string(i));
      }
    }
    for (size_t i = 0; i < kN; ++i)
      if (!present[i] && rng() % 2) {
        ASSERT_EQ(c.put(Key{apps[i], "e", "p"}, Value{std::to_string(i), "", ""}, 3).status, PutStatus::kStored);
        present[i] = true;
      }
  }
  size_t n = 0;
  c.for_each([&](const cache::Entry*, const cache::View&) { ++n; });
  EXPECT_EQ(n, c.entry_count());
  EXPECT_EQ(n, static_cast<size_t>(std::count(present.begin(), present.end(), true)));
}

TEST(Cache, ValueAliasingTheArena) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 8));
  Key a{"a", "", ""}, b{"b", "", ""};
  ASSERT_EQ(c.put(a, Value{std::string(1000, 'q'), "t", "v"}, 1).status, PutStatus::kStored);
  cache::View va = c.view(c.find(a, 1));
  // Copying one entry's bytes into another key works while there is room.
  ASSERT_EQ(c.put(b, Value{va.bytes, va.content_type, va.version_label}, 2).status, PutStatus::kStored);
  EXPECT_EQ(view_body(c, b), std::string(1000, 'q'));
  ASSERT_EQ(c.put(Key{"c", "", ""}, Value{std::string(2000, 'c'), "", ""}, 3).status, PutStatus::kStored);
  // Arena nearly full: an aliasing put neither evicts (it could free its own source) nor reuses.
  cache::View vb = c.view(c.find(b, 4));
  auto r = c.put(a, Value{std::string_view(vb.bytes.data(), 1000), "", ""}, 5);
  // 4096 - (1008 + 1008 + 2016) = 64 bytes free. Replacing a (unpinned) would normally
  // reuse a's block, but the value aliases the arena, so: kNoSpace, a intact.
  EXPECT_EQ(r.status, PutStatus::kNoSpace);
  EXPECT_EQ(r.free_bytes, 64u);
  EXPECT_EQ(view_body(c, a), std::string(1000, 'q'));
  // The same value copied out of the arena first replaces a in place.
  std::string copy(vb.bytes);
  EXPECT_EQ(c.put(a, Value{copy, "", ""}, 5).status, PutStatus::kStored);
  EXPECT_EQ(c.entry_count(), 3u);
  std::string big(1500, 'z');
  // b's whole body as a prefix of a larger value: does not fit in the free bytes -> kNoSpace, nothing evicted.
  std::string_view alias(vb.bytes.data(), 1000);
  auto r2 = c.put(Key{"d", "", ""}, Value{alias, big, ""}, 6);
  EXPECT_EQ(r2.status, PutStatus::kNoSpace);
  EXPECT_EQ(c.entry_count(), 3u);
  EXPECT_EQ(view_body(c, b), std::string(1000, 'q'));
}

TEST(Cache, ForEachMayRemoveDuringWalk) {
  Cache c;
  ASSERT_TRUE(c.init(1 << 16, 16));
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(c.put(Key{"k" + std::to_string(i), "", ""}, Value{std::to_string(i), "", ""}, 1).status,
              PutStatus::kStored);
  int visited = 0;
  c.for_each([&](const cache::Entry*, const cache::View& v) {
    ++visited;
    int i = std::stoi(std::string(v.bytes));
    if (i % 2 == 0) c.remove(Key{"k" + std::to_string(i), "", ""});
  });
  EXPECT_EQ(visited, 10);
  EXPECT_EQ(c.entry_count(), 5u);
}

TEST(Cache, StaleMarksLastUntilTheNextVersionIsStored) {
  Cache c;
  ASSERT_TRUE(c.init(4096, 16));
  Key a{"a", "e", "p"}, b{"b", "e", "p"};
  ASSERT_EQ(c.put(a, Value{std::string(1000, 'a'), "", ""}, 1).status, PutStatus::kStored);
  ASSERT_EQ(c.put(b, Value{std::string(1000, 'b'), "", ""}, 1).status, PutStatus::kStored);
  EXPECT_FALSE(c.mark_stale(Key{"x", "e", "p"}, 5));
  EXPECT_EQ(c.stale_count(), 0u);
  // Readers pin a and b; a's newer 3 KiB version cannot be stored: a is served, marked stale.
  const cache::Entry* ea = c.find(a, 2);
  const cache::Entry* eb = c.find(b, 2);
  c.pin(ea);
  c.pin(eb);
  EXPECT_EQ(c.put(a, Value{std::string(3000, 'A'), "", ""}, 3).status, PutStatus::kNoSpace);
  EXPECT_TRUE(c.mark_stale(a, 3));
  EXPECT_TRUE(c.mark_stale(a, 4));  // marking twice keeps the first time and counts once
  EXPECT_EQ(c.stale_count(), 1u);
  EXPECT_EQ(c.view(c.find(a, 5)).stale_since_ms, 3u);
  EXPECT_EQ(c.view(c.find(b, 5)).stale_since_ms, 0u);
  c.unpin(ea);
  c.unpin(eb);
  // The next version stored is current again.
  ASSERT_EQ(c.put(a, Value{std::string(2000, 'A'), "", ""}, 6).status, PutStatus::kStored);
  EXPECT_EQ(c.view(c.find(a, 7)).stale_since_ms, 0u);
  EXPECT_EQ(c.stale_count(), 0u);
  // Removal and eviction of a stale entry keep the count true.
  EXPECT_TRUE(c.mark_stale(b, 8));
  EXPECT_EQ(c.stale_count(), 1u);
  EXPECT_TRUE(c.remove(b));
  EXPECT_EQ(c.stale_count(), 0u);
  ASSERT_EQ(c.put(b, Value{std::string(1000, 'b'), "", ""}, 9).status, PutStatus::kStored);
  EXPECT_TRUE(c.mark_stale(b, 10));
  c.find(a, 11);  // b is now least recently read: a large put evicts it
  ASSERT_EQ(c.put(Key{"c", "e", "p"}, Value{std::string(1900, 'c'), "", ""}, 12).status, PutStatus::kStored);
  EXPECT_EQ(c.find(b, 13), nullptr);
  EXPECT_EQ(c.stale_count(), 0u);
}
