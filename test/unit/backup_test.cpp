// backup: write_atomic (content, modes, parents, errors, a concurrent reader never sees a partial
// file), backup file names, save/load round trips with hostile keys, and corrupt backups (every
// flipped byte, every truncation, bad magic/version/lengths) skipped with a warning.
#ifndef TEST_DATA_DIR
#define TEST_DATA_DIR "test/data"
#endif
#include "appconfig/agent/backup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace appconfig;
using namespace appconfig::backup;

namespace {

std::string make_temp_dir() {
  char tmpl[] = "/tmp/backup_test.XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "/tmp";
}

void remove_tree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    chmod(path.c_str(), 0755);
    DIR* d = opendir(path.c_str());
    if (d) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") remove_tree(path + "/" + n);
      }
      closedir(d);
    }
    rmdir(path.c_str());
  } else {
    unlink(path.c_str());
  }
}

struct TempDir {
  std::string path = make_temp_dir();
  ~TempDir() { remove_tree(path); }
};

std::string read_all(const std::string& path) {
  std::string out;
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) return "<missing>";
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  fclose(f);
  return out;
}

void write_raw(const std::string& path, const std::string& bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  ASSERT_EQ(fwrite(bytes.data(), 1, bytes.size(), f), bytes.size());
  fclose(f);
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

mode_t mode_of(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// ---------------------------------------------------------------- write_atomic

TEST(WriteAtomic, WritesContentAndReplaces) {
  TempDir t;
  std::string p = t.path + "/config.json";
  char err[512];
  ASSERT_TRUE(write_atomic(p.c_str(), "{\"a\":1}", err, sizeof err)) << err;
  EXPECT_EQ(read_all(p), "{\"a\":1}");
  EXPECT_STREQ(err, "");
  ASSERT_TRUE(write_atomic(p.c_str(), "", err, sizeof err)) << err;
  EXPECT_EQ(read_all(p), "");
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 + 7);
  ASSERT_TRUE(write_atomic(p.c_str(), big, err, sizeof err)) << err;
  EXPECT_EQ(read_all(p), big);
  EXPECT_EQ(list_dir(t.path), std::vector<std::string>{"config.json"}) << "no temp file may be left behind";
}

TEST(WriteAtomic, ModeIs0644RegardlessOfUmaskAndKeptOnReplace) {
  TempDir t;
  std::string p = t.path + "/f";
  char err[512];
  mode_t old = umask(077);
  bool ok = write_atomic(p.c_str(), "x", err, sizeof err);
  umask(old);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(mode_of(p), 0644u);
  ASSERT_EQ(chmod(p.c_str(), 0600), 0);
  ASSERT_TRUE(write_atomic(p.c_str(), "y", err, sizeof err)) << err;
  EXPECT_EQ(mode_of(p), 0600u);
  EXPECT_EQ(read_all(p), "y");
  ASSERT_EQ(chmod(p.c_str(), 0640), 0);
  ASSERT_TRUE(write_atomic(p.c_str(), "z", err, sizeof err)) << err;
  EXPECT_EQ(mode_of(p), 0640u);
}

TEST(WriteAtomic, CreatesMissingParents) {
  TempDir t;
  std::string p = t.path + "/a/b//c/config.json";
  char err[512];
  mode_t old = umask(022);
  bool ok = write_atomic(p.c_str(), "hello", err, sizeof err);
  umask(old);
  ASSERT_TRUE(ok) << err;
  EXPECT_EQ(read_all(t.path + "/a/b/c/config.json"), "hello");
  EXPECT_EQ(mode_of(t.path + "/a"), 0755u);
  EXPECT_EQ(mode_of(t.path + "/a/b/c"), 0755u);
}

TEST(WriteAtomic, ReplacesASymlinkNotItsTarget) {
  TempDir t;
  std::string target = t.path + "/target";
  std::string link = t.path + "/link";
  write_raw(target, "original");
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  char err[512];
  ASSERT_TRUE(write_atomic(link.c_str(), "new", err, sizeof err)) << err;
  EXPECT_EQ(read_all(target), "original");
  struct stat st;
  ASSERT_EQ(lstat(link.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(read_all(link), "new");
}

TEST(WriteAtomic, Errors) {
  TempDir t;
  char err[512];
  EXPECT_FALSE(write_atomic("", "x", err, sizeof err));
  EXPECT_STREQ(err, "write: empty path");

  std::string dir_target = t.path + "/adir";
  ASSERT_EQ(mkdir(dir_target.c_str(), 0755), 0);
  EXPECT_FALSE(write_atomic(dir_target.c_str(), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("write " + dir_target + ": rename over the target failed: Is a directory"),
            std::string::npos) << err;

  std::string file_parent = t.path + "/plain";
  write_raw(file_parent, "I am a file");
  std::string under_file = file_parent + "/x/y";
  EXPECT_FALSE(write_atomic(under_file.c_str(), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("write " + under_file + ": "), std::string::npos) << err;
  EXPECT_NE(std::string(err).find("Not a directory"), std::string::npos) << err;
  EXPECT_EQ(read_all(file_parent), "I am a file");

  std::string trailing = t.path + "/dir/";
  EXPECT_FALSE(write_atomic(trailing.c_str(), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("does not name a file"), std::string::npos) << err;
  std::string dotdot = t.path + "/..";
  EXPECT_FALSE(write_atomic(dotdot.c_str(), "x", err, sizeof err));

  std::string too_long = "/" + std::string(kMaxPathBytes, 'x');
  EXPECT_FALSE(write_atomic(too_long.c_str(), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("longer than 4000 bytes"), std::string::npos) << err;

  if (geteuid() != 0) {  // root ignores permission bits
    std::string ro = t.path + "/ro";
    ASSERT_EQ(mkdir(ro.c_str(), 0555), 0);
    std::string p = ro + "/f";
    EXPECT_FALSE(write_atomic(p.c_str(), "x", err, sizeof err));
    EXPECT_NE(std::string(err).find("write " + p + ": cannot create temp file"), std::string::npos) << err;
    EXPECT_NE(std::string(err).find("Permission denied"), std::string::npos) << err;
  }
  // A base name over NAME_MAX: the temp file (cut name) is created, the rename fails and the temp
  // file is removed again. Unlike the permission case this also runs as root.
  std::string long_base = t.path + "/" + std::string(300, 'n');
  EXPECT_FALSE(write_atomic(long_base.c_str(), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("rename over the target failed: File name too long"), std::string::npos) << err;
  // Failures leave nothing behind.
  for (const auto& n : list_dir(t.path)) EXPECT_EQ(n.find(".tmp."), std::string::npos) << n;

  char tiny[6];
  EXPECT_FALSE(write_atomic("", "x", tiny, sizeof tiny));
  EXPECT_STREQ(tiny, "write");
  EXPECT_FALSE(write_atomic("", "x", nullptr, 0));
}

TEST(WriteAtomic, ConcurrentReaderNeverSeesPartialOrMixedFile) {
  TempDir t;
  std::string p = t.path + "/hot.json";
  const std::string a(1000, 'a');
  const std::string b(70001, 'b');  // larger than one pipe/page buffer, so a torn write would show
  char err[512];
  ASSERT_TRUE(write_atomic(p.c_str(), a, err, sizeof err)) << err;
  std::atomic<bool> stop{false};
  std::atomic<long> reads{0}, bad{0};
  std::string first_bad;
  std::thread reader([&] {
    std::vector<char> buf(200000);
    while (!stop.load()) {
      int fd = open(p.c_str(), O_RDONLY);
      if (fd < 0) {
        ++bad;
        continue;
      }
      size_t got = 0;
      ssize_t r;
      while ((r = read(fd, buf.data() + got, buf.size() - got)) > 0) got += static_cast<size_t>(r);
      close(fd);
      std::string s(buf.data(), got);
      if (s != a && s != b) {
        if (bad++ == 0) first_bad = s.substr(0, 64) + " (" + std::to_string(s.size()) + " bytes)";
      }
      ++reads;
    }
  });
  for (int i = 0; i < 1000; ++i) {
    if (!write_atomic(p.c_str(), (i % 2) ? a : b, err, sizeof err)) {
      ADD_FAILURE() << err;
      break;
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "first bad read: " << first_bad;
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(read_all(p), a);
  EXPECT_EQ(list_dir(t.path), std::vector<std::string>{"hot.json"});
  printf("concurrent reader: %ld reads during 1000 writes\n", reads.load());
}

// ---------------------------------------------------------------- file names

std::string name_of(const cache::Key& k) {
  char buf[kMaxFileNameBytes + 1];
  size_t n = file_name(k, buf, sizeof buf);
  return std::string(buf, n);
}

TEST(BackupFileName, EncodesEverythingOutsideTheSafeSet) {
  EXPECT_EQ(name_of({"App", "Env", "Prof"}), "App:Env:Prof.backup");
  EXPECT_EQ(name_of({"a/b", "..", "x y"}), "a%2Fb:..:x%20y.backup");
  EXPECT_EQ(name_of({"..", "e", "p"}), "%2E.:e:p.backup");
  EXPECT_EQ(name_of({".", ".", "."}), "%2E:.:..backup");
  EXPECT_EQ(name_of({"a:b", "%", "\xc3\xa9"}), "a%3Ab:%25:%C3%A9.backup");
  EXPECT_EQ(name_of({"A-Z_a.z0-9", "~", "\n"}), "A-Z_a.z0-9:%7E:%0A.backup");
  EXPECT_EQ(name_of({"", "e", "p"}), "");
  EXPECT_EQ(name_of({std::string(129, 'a'), "e", "p"}), "");
  char small[kMaxFileNameBytes];
  EXPECT_EQ(file_name({"a", "b", "c"}, small, sizeof small), 0u);
}

TEST(BackupFileName, LongKeysAreCutWithAHash) {
  std::string uni;
  while (uni.size() + 2 <= 128) uni += "\xc3\xa9";
  std::string n1 = name_of({uni, uni, uni + ""});
  ASSERT_FALSE(n1.empty());
  EXPECT_LE(n1.size(), kMaxFileNameBytes);
  EXPECT_NE(n1.find('~'), std::string::npos);
  EXPECT_EQ(n1.substr(n1.size() - 7), ".backup");
  std::string base(128, 'x');
  std::set<std::string> names;
  for (int i = 0; i < 200; ++i) {
    std::string p = base;
    p[127] = static_cast<char>('A' + i % 26);
    p[126] = static_cast<char>('A' + i / 26);
    std::string n = name_of({base, base, p});
    EXPECT_LE(n.size(), kMaxFileNameBytes);
    // Never a cut %XX escape before the '~'.
    size_t tilde = n.find('~');
    ASSERT_NE(tilde, std::string::npos);
    size_t pct = n.rfind('%', tilde);
    if (pct != std::string::npos) { EXPECT_GE(tilde - pct, 3u) << n; }
    names.insert(n);
  }
  EXPECT_EQ(names.size(), 200u) << "keys differing only past the cut must get different names";
  // Escape-boundary cut: a name of all escapes.
  std::string pct(128, '/');
  for (const auto& k : std::vector<cache::Key>{{pct, pct, pct}, {"a", pct, pct}, {"ab", pct, pct}}) {
    std::string n = name_of(k);
    size_t tilde = n.find('~');
    ASSERT_NE(tilde, std::string::npos) << n;
    EXPECT_EQ(n[tilde - 3], '%') << n;
  }
}

// ---------------------------------------------------------------- save / load

struct Collected {
  struct Item {
    std::string app, env, prof, ctype, label, bytes;
  };
  std::vector<Item> items;
  std::vector<std::string> warnings;
};

void collect(void* ctx, const Loaded& b) {
  static_cast<Collected*>(ctx)->items.push_back(
      {std::string(b.key.application), std::string(b.key.environment), std::string(b.key.profile),
       std::string(b.content_type), std::string(b.version_label), std::string(b.bytes)});
}
void warn_cb(void* ctx, const char* msg) { static_cast<Collected*>(ctx)->warnings.push_back(msg); }

std::string keystr(const std::string& a, const std::string& e, const std::string& p) { return a + "\x01" + e + "\x01" + p; }

TEST(Backup, RoundTripWithHostileKeys) {
  TempDir t;
  std::string dir = t.path + "/backups/nested";  // created by save
  std::string uni;
  while (uni.size() + 3 <= 128) uni += "\xe2\x82\xac";  // euro sign, 126 bytes
  struct K {
    std::string a, e, p;
  };
  std::vector<K> keys = {{"a/b", "..", "."},      {"..", "..", ".."},         {"../../etc", "passwd", "x"},
                         {"a:b", "c:d", "e%2Fx"}, {"\xc3\xbcnic\xc3\xb6" "de", "env", "\xf0\x9f\x98\x80"},
                         {".hidden", "e", "p"},   {uni, uni, uni},            {std::string(128, '/'), "e", "p"},
                         {"sp ace", "t\tab", "nl\n"}, {"App", "Env", "Prof"}};
  std::map<std::string, std::string> expected;
  char err[1024];
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string body = "body-" + std::to_string(i) + std::string(i * 37, static_cast<char>(i));
    std::string ctype = i % 3 == 0 ? "" : "application/json";
    std::string label = i % 2 ? "v" + std::to_string(i) : "";
    cache::Key k{keys[i].a, keys[i].e, keys[i].p};
    ASSERT_TRUE(save(dir.c_str(), k, ctype, label, body, err, sizeof err)) << i << ": " << err;
    expected[keystr(keys[i].a, keys[i].e, keys[i].p)] = ctype + "|" + label + "|" + body;
  }
  // Every file is directly inside dir, nothing escaped upwards.
  std::vector<std::string> files = list_dir(dir);
  EXPECT_EQ(files.size(), keys.size());
  for (const auto& f : files) {
    EXPECT_EQ(f.find('/'), std::string::npos);
    EXPECT_NE(f[0], '.');
    EXPECT_LE(f.size(), kMaxFileNameBytes);
  }
  EXPECT_EQ(list_dir(t.path + "/backups"), std::vector<std::string>{"nested"});
  EXPECT_EQ(list_dir(t.path), std::vector<std::string>{"backups"});

  Collected c;
  EXPECT_EQ(load_all(dir.c_str(), collect, warn_cb, &c), keys.size());
  EXPECT_TRUE(c.warnings.empty()) << c.warnings[0];
  ASSERT_EQ(c.items.size(), keys.size());
  for (const auto& it : c.items) {
    auto f = expected.find(keystr(it.app, it.env, it.prof));
    ASSERT_NE(f, expected.end()) << it.app;
    EXPECT_EQ(f->second, it.ctype + "|" + it.label + "|" + it.bytes);
  }
  for (const auto& k : keys) {
    Collected one;
    ASSERT_TRUE(load_one(dir.c_str(), {k.a, k.e, k.p}, collect, &one, err, sizeof err)) << err;
    ASSERT_EQ(one.items.size(), 1u);
    EXPECT_EQ(one.items[0].app, k.a);
    EXPECT_EQ(expected[keystr(k.a, k.e, k.p)], one.items[0].ctype + "|" + one.items[0].label + "|" + one.items[0].bytes);
  }
}

TEST(Backup, SaveOverwritesAndLimits) {
  TempDir t;
  char err[1024];
  cache::Key k{"A", "E", "P"};
  ASSERT_TRUE(save(t.path.c_str(), k, "text/plain", "1", "first", err, sizeof err)) << err;
  ASSERT_TRUE(save((t.path + "/").c_str(), k, "text/plain", "2", "second", err, sizeof err)) << err;
  Collected c;
  ASSERT_TRUE(load_one(t.path.c_str(), k, collect, &c, err, sizeof err)) << err;
  ASSERT_EQ(c.items.size(), 1u);
  EXPECT_EQ(c.items[0].bytes, "second");
  EXPECT_EQ(c.items[0].label, "2");
  EXPECT_EQ(list_dir(t.path).size(), 1u);

  std::string n129(129, 'n');
  EXPECT_FALSE(save(t.path.c_str(), {n129, "E", "P"}, "", "", "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("key names must be 1..128 bytes"), std::string::npos) << err;
  EXPECT_FALSE(save(t.path.c_str(), {"A", "", "P"}, "", "", "x", err, sizeof err));
  EXPECT_FALSE(save(t.path.c_str(), k, std::string(kMaxContentTypeBytes + 1, 'c'), "", "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("content type is 257 bytes"), std::string::npos) << err;
  EXPECT_FALSE(save(t.path.c_str(), k, "", std::string(kMaxVersionLabelBytes + 1, 'v'), "x", err, sizeof err));
  EXPECT_NE(std::string(err).find("version label is 1025 bytes"), std::string::npos) << err;
  std::string max_body(kMaxBytes, 'm');
  EXPECT_FALSE(save(t.path.c_str(), k, "", "", max_body + "m", err, sizeof err));
  EXPECT_NE(std::string(err).find("configuration is 4194305 bytes"), std::string::npos) << err;
  EXPECT_FALSE(save("", k, "", "", "x", err, sizeof err));
  // The maxima themselves round-trip.
  std::string n128(128, 'n');
  cache::Key big{n128, n128, n128};
  ASSERT_TRUE(save(t.path.c_str(), big, std::string(kMaxContentTypeBytes, 'c'), std::string(kMaxVersionLabelBytes, 'v'),
                   max_body, err, sizeof err)) << err;
  Collected c2;
  ASSERT_TRUE(load_one(t.path.c_str(), big, collect, &c2, err, sizeof err)) << err;
  ASSERT_EQ(c2.items.size(), 1u);
  EXPECT_EQ(c2.items[0].bytes, max_body);
  EXPECT_EQ(c2.items[0].ctype.size(), kMaxContentTypeBytes);
  EXPECT_EQ(c2.items[0].label.size(), kMaxVersionLabelBytes);
}

// An independent encoder of the documented format, for building files with chosen header fields
// and a correct checksum.
uint64_t fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}
struct Fields {
  std::string magic = "ACFGBKUP";
  uint32_t version = 1;
  uint16_t lens[6] = {0, 0, 0, 0, 0, 0};  // app env prof ctype label reserved
  uint64_t body_len = 0;
  bool auto_lens = true;
};
std::string encode(Fields f, const std::string& app, const std::string& env, const std::string& prof,
                   const std::string& ctype, const std::string& label, const std::string& body) {
  if (f.auto_lens) {
    f.lens[0] = static_cast<uint16_t>(app.size());
    f.lens[1] = static_cast<uint16_t>(env.size());
    f.lens[2] = static_cast<uint16_t>(prof.size());
    f.lens[3] = static_cast<uint16_t>(ctype.size());
    f.lens[4] = static_cast<uint16_t>(label.size());
    f.body_len = body.size();
  }
  std::string h = f.magic;
  for (int i = 0; i < 4; ++i) h += static_cast<char>(f.version >> (8 * i));
  for (int j = 0; j < 6; ++j) h += {static_cast<char>(f.lens[j] & 0xff), static_cast<char>(f.lens[j] >> 8)};
  for (int i = 0; i < 8; ++i) h += static_cast<char>(f.body_len >> (8 * i));
  std::string rest = app + env + prof + ctype + label + body;
  uint64_t sum = fnv(fnv(0xcbf29ce484222325ULL, h), rest);
  for (int i = 0; i < 8; ++i) h += static_cast<char>(sum >> (8 * i));
  return h + rest;
}

std::string decode_error(const std::string& file) {
  Loaded l;
  char err[256];
  if (decode(file, l, err, sizeof err)) return "";
  return err;
}

TEST(BackupDecode, FormatMatchesTheDocumentedLayout) {
  TempDir t;
  char err[512];
  ASSERT_TRUE(save(t.path.c_str(), {"A", "E", "P"}, "application/json", "v1", "{}", err, sizeof err)) << err;
  std::string saved = read_all(t.path + "/A:E:P.backup");
  EXPECT_EQ(saved, encode(Fields{}, "A", "E", "P", "application/json", "v1", "{}"));
  Loaded l;
  ASSERT_TRUE(decode(saved, l, err, sizeof err)) << err;
  EXPECT_EQ(l.key.application, "A");
  EXPECT_EQ(l.content_type, "application/json");
  EXPECT_EQ(l.version_label, "v1");
  EXPECT_EQ(l.bytes, "{}");
  EXPECT_EQ(l.bytes.data(), saved.data() + saved.size() - 2) << "views point into the file bytes";
}

TEST(BackupDecode, EveryFlippedByteAndEveryTruncationIsRejected) {
  const std::string good = encode(Fields{}, "app", "env", "prof", "text/plain", "7", "hello backup");
  ASSERT_EQ(decode_error(good), "");
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      EXPECT_NE(decode_error(bad), "") << "flip at " << i;
    }
  }
  for (size_t len = 0; len < good.size(); ++len) {
    std::string err = decode_error(good.substr(0, len));
    EXPECT_NE(err.find("truncated"), std::string::npos) << len << ": " << err;
  }
  EXPECT_NE(decode_error(good + "x").find("1 unexpected bytes after the"), std::string::npos);
}

TEST(BackupDecode, HeaderProblemsHaveSpecificMessages) {
  Fields f;
  f.magic = "ACFGBKUQ";
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")), "not a backup file (bad magic)");
  f = Fields{};
  f.version = 2;
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")), "format version 2 is not supported (expected 1)");
  f = Fields{};
  f.auto_lens = false;
  f.lens[0] = 1; f.lens[1] = 1; f.lens[2] = 1;
  f.body_len = 100;  // past the end of the file
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")),
            "truncated: the header describes 143 bytes, the file has 44");
  f.body_len = uint64_t{1} << 63;
  EXPECT_NE(decode_error(encode(f, "a", "e", "p", "", "", "x")).find("configuration length"), std::string::npos);
  f.body_len = 1;
  f.lens[3] = 60000;
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")), "content type length 60000 over 256");
  f.lens[3] = 0;
  f.lens[4] = 1025;
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")), "version label length 1025 over 1024");
  f.lens[4] = 0;
  f.lens[0] = 0;
  EXPECT_NE(decode_error(encode(f, "a", "e", "p", "", "", "x")).find("key name lengths 0/1/1"), std::string::npos);
  f.lens[0] = 129;
  EXPECT_NE(decode_error(encode(f, "a", "e", "p", "", "", "x")).find("outside 1..128"), std::string::npos);
  f.lens[0] = 1;
  f.lens[5] = 1;
  EXPECT_EQ(decode_error(encode(f, "a", "e", "p", "", "", "x")), "reserved header field is not zero");
  EXPECT_NE(decode_error("").find("truncated: 0 bytes"), std::string::npos);
}

TEST(BackupLoad, CorruptFilesAreSkippedWithAWarning) {
  TempDir t;
  char err[1024];
  ASSERT_TRUE(save(t.path.c_str(), {"Good", "E", "P"}, "text/plain", "1", "good bytes", err, sizeof err)) << err;
  ASSERT_TRUE(save(t.path.c_str(), {"Bad", "E", "P"}, "text/plain", "1", "soon corrupt", err, sizeof err)) << err;
  std::string bad_path = t.path + "/Bad:E:P.backup";
  const std::string original = read_all(bad_path);
  std::mt19937 rng(12345);
  // Every truncation and a flipped byte at every position: never served, always one warning.
  for (size_t len = 0; len <= original.size() * 2; ++len) {
    std::string mutated;
    if (len < original.size()) {
      mutated = original.substr(0, len);
    } else {
      size_t pos = len - original.size();
      if (pos >= original.size()) break;
      mutated = original;
      mutated[pos] = static_cast<char>(mutated[pos] ^ (1 + rng() % 255));
    }
    write_raw(bad_path, mutated);
    Collected c;
    ASSERT_EQ(load_all(t.path.c_str(), collect, warn_cb, &c), 1u) << len;
    ASSERT_EQ(c.items.size(), 1u);
    EXPECT_EQ(c.items[0].app, "Good");
    ASSERT_EQ(c.warnings.size(), 1u) << len;
    EXPECT_NE(c.warnings[0].find("backup " + bad_path + ": skipped: "), std::string::npos) << c.warnings[0];
    Collected one;
    EXPECT_FALSE(load_one(t.path.c_str(), {"Bad", "E", "P"}, collect, &one, err, sizeof err));
    EXPECT_TRUE(one.items.empty());
    EXPECT_NE(std::string(err).find("backup " + bad_path + ": not used: "), std::string::npos) << err;
  }
}

TEST(BackupLoad, JunkInTheDirectory) {
  TempDir t;
  const std::string& d = t.path;
  char err[1024];
  ASSERT_TRUE(save(d.c_str(), {"A", "E", "P"}, "application/json", "", "{\"ok\":true}", err, sizeof err)) << err;
  ASSERT_TRUE(save(d.c_str(), {"B", "E", "P"}, "", "", "b", err, sizeof err)) << err;
  write_raw(d + "/notes.txt", "not ours");                        // ignored silently
  write_raw(d + "/.A:E:P.backup.tmp.123.0", "half written");       // temp file: ignored
  write_raw(d + "/.backup", "hidden");                             // hidden: ignored
  write_raw(d + "/junk.backup", "garbage that is not a backup at all, longer than a header");  // warned
  write_raw(d + "/empty.backup", "");                              // warned
  ASSERT_EQ(mkdir((d + "/dir.backup").c_str(), 0755), 0);         // warned: not a regular file
  ASSERT_EQ(symlink((d + "/A:E:P.backup").c_str(), (d + "/link.backup").c_str()), 0);  // warned: symlink
  ASSERT_EQ(mkfifo((d + "/fifo.backup").c_str(), 0644), 0);       // warned, and must not block
  // A valid backup under another key's name: served under neither.
  write_raw(d + "/C:E:P.backup", read_all(d + "/B:E:P.backup"));
  Collected c;
  EXPECT_EQ(load_all(d.c_str(), collect, warn_cb, &c), 2u);
  std::set<std::string> apps;
  for (const auto& it : c.items) apps.insert(it.app);
  EXPECT_EQ(apps, (std::set<std::string>{"A", "B"}));
  std::string all;
  for (const auto& w : c.warnings) all += w + "\n";
  EXPECT_EQ(c.warnings.size(), 6u) << all;
  for (const char* n : {"junk.backup: skipped: not a backup file", "empty.backup: skipped: truncated",
                        "dir.backup: is not a regular file", "link.backup: is a symbolic link",
                        "fifo.backup: is not a regular file",
                        "C:E:P.backup: skipped: it holds another key (expected file name B:E:P.backup)"})
    EXPECT_NE(all.find(n), std::string::npos) << n << "\n" << all;
  EXPECT_EQ(all.find("notes.txt"), std::string::npos);
  EXPECT_EQ(all.find(".tmp."), std::string::npos);

  Collected one;
  EXPECT_FALSE(load_one(d.c_str(), {"C", "E", "P"}, collect, &one, err, sizeof err));
  EXPECT_NE(std::string(err).find("holds another key"), std::string::npos) << err;
  EXPECT_FALSE(load_one(d.c_str(), {"Z", "E", "P"}, collect, &one, err, sizeof err));
  EXPECT_NE(std::string(err).find("Z:E:P.backup: cannot open: No such file or directory"), std::string::npos) << err;
  EXPECT_TRUE(one.items.empty());
  // A null warn callback is allowed.
  Collected quiet;
  EXPECT_EQ(load_all(d.c_str(), collect, nullptr, &quiet), 2u);
}

TEST(BackupLoad, MissingOrUnreadableDirectory) {
  TempDir t;
  Collected c;
  EXPECT_EQ(load_all((t.path + "/nope").c_str(), collect, warn_cb, &c), 0u);
  EXPECT_TRUE(c.warnings.empty());
  write_raw(t.path + "/file", "x");
  EXPECT_EQ(load_all((t.path + "/file").c_str(), collect, warn_cb, &c), 0u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("cannot open: Not a directory"), std::string::npos) << c.warnings[0];
  char err[512];
  EXPECT_FALSE(load_one((t.path + "/nope").c_str(), {"a", "b", "c"}, collect, &c, err, sizeof err));
  EXPECT_NE(std::string(err).find("cannot open: No such file or directory"), std::string::npos) << err;
}


// ---------------------------------------------------------------- budgets

TEST(BackupLoad, ByteBudgetStopsReadingWithAWarning) {
  TempDir t;
  char err[1024];
  std::string body(1 << 20, 'b');
  for (const char* app : {"A", "B", "C", "D"})
    ASSERT_TRUE(save(t.path.c_str(), {app, "E", "P"}, "", "", body, err, sizeof err)) << err;
  Collected c;
  // Two files fit 2.5 MiB; the third starts past the budget and is not read.
  EXPECT_EQ(load_all(t.path.c_str(), collect, warn_cb, &c, (5u << 20) / 2), 3u);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("stopped after reading"), std::string::npos) << c.warnings[0];
  Collected all;
  EXPECT_EQ(load_all(t.path.c_str(), collect, warn_cb, &all), 4u);
  EXPECT_TRUE(all.warnings.empty());
}

TEST(BackupLoad, WorstCaseFilesAreBoundedBySize) {
  // The largest file a backup can be, and one byte more (refused before it is read).
  TempDir t;
  char err[1024];
  std::string n128(128, 'n');
  cache::Key big{n128, n128, n128};
  std::string max_body(kMaxBytes, 'm');
  ASSERT_TRUE(save(t.path.c_str(), big, std::string(kMaxContentTypeBytes, 'c'), std::string(kMaxVersionLabelBytes, 'v'),
                   max_body, err, sizeof err)) << err;
  char name[kMaxFileNameBytes + 1];
  ASSERT_GT(file_name(big, name, sizeof name), 0u);
  struct stat st;
  ASSERT_EQ(stat((t.path + "/" + name).c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kMaxFileBytes);
  write_raw(t.path + "/over.backup", std::string(kMaxFileBytes + 1, 'x'));
  Collected c;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(load_all(t.path.c_str(), collect, warn_cb, &c), 1u);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  printf("[ measured ] load_all of one maximum-size backup (+ one oversized file): %.1f ms\n", ms);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_NE(c.warnings[0].find("over.backup: " + std::to_string(kMaxFileBytes + 1) + " bytes is larger than any backup"),
            std::string::npos)
      << c.warnings[0];
}

// ---------------------------------------------------------------- Writer

TEST(BackupWriter, WritesEveryJobInOrderOffTheCallingThread) {
  TempDir t;
  Writer w;
  char err[256];
  ASSERT_TRUE(w.start(err, sizeof err)) << err;
  // More jobs than the queue holds, to distinct paths: every one is written.
  for (size_t i = 0; i < 3 * kMaxQueuedJobs; ++i) {
    std::string p = t.path + "/sub/f" + std::to_string(i);
    std::string body = "body " + std::to_string(i);
    w.submit(p.c_str(), body, "test");
  }
  ASSERT_TRUE(w.drain(10'000));
  for (size_t i = 0; i < 3 * kMaxQueuedJobs; ++i)
    EXPECT_EQ(read_all(t.path + "/sub/f" + std::to_string(i)), "body " + std::to_string(i));
  Writer::Stats s = w.stats();
  EXPECT_EQ(s.written + s.replaced, 3 * kMaxQueuedJobs);
  EXPECT_EQ(s.failed, 0u);
  w.stop();
}

TEST(BackupWriter, LaterBytesForOnePathWinAndNeverInterleave) {
  TempDir t;
  Writer w;
  char err[256];
  ASSERT_TRUE(w.start(err, sizeof err)) << err;
  std::string p = t.path + "/one";
  for (int i = 0; i < 200; ++i) {
    std::string body(1000 + i, static_cast<char>('a' + i % 26));
    w.submit(p.c_str(), body, "test");
  }
  ASSERT_TRUE(w.drain(10'000));
  EXPECT_EQ(read_all(p), std::string(1199, static_cast<char>('a' + 199 % 26)));
  Writer::Stats s = w.stats();
  EXPECT_EQ(s.written + s.replaced, 200u);
  EXPECT_EQ(list_dir(t.path), std::vector<std::string>{"one"});
  w.stop();
}

TEST(BackupWriter, BackupsRoundTripAndRefusalsAreImmediate) {
  TempDir t;
  Writer w;
  char err[256];
  ASSERT_TRUE(w.start(err, sizeof err)) << err;
  std::string body(kMaxBytes, 'q');
  for (int i = 0; i < 6; ++i) {  // 6 x 4 MiB: more than kMaxQueuedBytes, so the caller waits for room once
    std::string app = "App" + std::to_string(i);
    ASSERT_TRUE(w.submit_backup(t.path.c_str(), {app, "E", "P"}, "application/json", "v1", body, "test", err,
                                sizeof err)) << err;
  }
  EXPECT_FALSE(w.submit_backup(t.path.c_str(), {"", "E", "P"}, "", "", "abcd", "test", err, sizeof err));
  EXPECT_NE(std::string(err).find("key names must be 1..128 bytes"), std::string::npos) << err;
  ASSERT_TRUE(w.drain(30'000));
  Collected c;
  EXPECT_EQ(load_all(t.path.c_str(), collect, warn_cb, &c), 6u);
  for (const auto& it : c.items) {
    EXPECT_EQ(it.bytes.size(), body.size());
    EXPECT_EQ(it.label, "v1");
  }
  Writer::Stats s = w.stats();
  printf("[ measured ] 6 x 4 MiB backups: slowest write_atomic %llu ms, waited for room %llu time(s)\n",
         static_cast<unsigned long long>(s.max_write_ms), static_cast<unsigned long long>(s.waited_for_room));
  EXPECT_EQ(s.written, 6u);
  w.stop();
}

TEST(BackupWriter, WithoutAThreadWritesOnTheCaller) {
  TempDir t;
  Writer w;  // never started
  std::string p = t.path + "/x";
  w.submit(p.c_str(), "hi", "test");
  EXPECT_EQ(read_all(p), "hi");
  EXPECT_TRUE(w.drain(0));
}

}  // namespace
