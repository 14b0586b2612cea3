// localdev: files that cannot be served never crash or block the loop (FIFOs, links, directories),
// misses never rescan the directory, content types a header can carry, and 404 messages that name
// the file only.
#include "appconfig/agent/localdev.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

using namespace appconfig;

namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/localdev_test.XXXXXX";
    const char* d = mkdtemp(tmpl);
    EXPECT_NE(d, nullptr);
    path = d ? d : "/tmp";
  }
  ~Dir() {
    DIR* d = opendir(path.c_str());
    if (d != nullptr) {
      while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string p = path + "/" + n;
        if (rmdir(p.c_str()) != 0) unlink(p.c_str());
      }
      closedir(d);
    }
    rmdir(path.c_str());
  }
  void write(const std::string& name, const std::string& bytes) const {
    FILE* f = fopen((path + "/" + name).c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(bytes.data(), 1, bytes.size(), f);
    fclose(f);
  }
};

// Lets the directory's mtime fall out of the racy window, so the next miss builds a settled index.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(60)); }

struct Fixture {
  Dir dir;
  cache::Cache cache;
  localdev::Source src;
  bool init(uint64_t interval_ms = 1000) {
    char err[300];
    if (!cache.init(16u << 20, 1024)) return false;
    return src.init(dir.path, interval_ms, &cache, err, sizeof err);
  }
};

cache::Key key(const char* a, const char* e, const char* p) { return cache::Key{a, e, p}; }

}  // namespace

TEST(LocalDev, ServesPlainFilesAndContentTypes) {
  Fixture f;
  f.dir.write("A:E:P.json", "{\"a\":1}");
  f.dir.write("A:E:T.text%plain", "hi");
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  ASSERT_EQ(f.src.ensure(key("A", "E", "P"), 1, out), localdev::Status::kOk) << out.message;
  const cache::Entry* e = f.cache.find(key("A", "E", "P"), 1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(f.cache.view(e).bytes, "{\"a\":1}");
  EXPECT_EQ(f.cache.view(e).content_type, "application/json");
  ASSERT_EQ(f.src.ensure(key("A", "E", "T"), 1, out), localdev::Status::kOk) << out.message;
  EXPECT_EQ(f.cache.view(f.cache.find(key("A", "E", "T"), 1)).content_type, "text/plain");
}

TEST(LocalDev, FifoNamedLikeAConfigurationDoesNotBlock) {
  Fixture f;
  ASSERT_EQ(mkfifo((f.dir.path + "/A:E:Fifo.json").c_str(), 0644), 0);
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  auto t0 = std::chrono::steady_clock::now();
  // Before the fix this open() blocked forever (no writer): run it where a stuck call can be freed.
  localdev::Status s = localdev::Status::kOk;
  std::atomic<bool> done{false};
  std::thread t([&] {
    s = f.src.ensure(key("A", "E", "Fifo"), 1, out);
    done = true;
  });
  for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done) {
    int w = open((f.dir.path + "/A:E:Fifo.json").c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) close(w);
  }
  t.join();
  EXPECT_TRUE(done);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << "open() blocked on the FIFO";
  EXPECT_EQ(s, localdev::Status::kNotServed);
  EXPECT_NE(strstr(out.message, "A:E:Fifo.json is not a regular file (a FIFO)"), nullptr) << out.message;
  // Remembered: asking again within the interval and after it answers the same, still without blocking.
  EXPECT_EQ(f.src.ensure(key("A", "E", "Fifo"), 2, out), localdev::Status::kNotServed);
  EXPECT_EQ(f.src.ensure(key("A", "E", "Fifo"), 5000, out), localdev::Status::kNotServed);
}

TEST(LocalDev, SymlinksAreNotFollowed) {
  Fixture f;
  f.dir.write("target", "secret");
  ASSERT_EQ(symlink("/etc/passwd", (f.dir.path + "/A:E:L.json").c_str()), 0);
  ASSERT_EQ(symlink((f.dir.path + "/target").c_str(), (f.dir.path + "/A:E:L2").c_str()), 0);
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  EXPECT_EQ(f.src.ensure(key("A", "E", "L"), 1, out), localdev::Status::kNotServed);
  EXPECT_NE(strstr(out.message, "A:E:L.json is a symbolic link"), nullptr) << out.message;
  EXPECT_EQ(f.cache.find(key("A", "E", "L"), 1), nullptr);
  EXPECT_EQ(f.src.ensure(key("A", "E", "L2"), 1, out), localdev::Status::kNotServed);
  EXPECT_EQ(f.cache.find(key("A", "E", "L2"), 1), nullptr);
}

TEST(LocalDev, FileReplacedByALinkIsTakenOutOfService) {
  Fixture f;
  f.dir.write("A:E:P.json", "{}");
  ASSERT_TRUE(f.init(1000));
  localdev::Outcome out;
  ASSERT_EQ(f.src.ensure(key("A", "E", "P"), 1, out), localdev::Status::kOk);
  std::string p = f.dir.path + "/A:E:P.json";
  ASSERT_EQ(unlink(p.c_str()), 0);
  ASSERT_EQ(symlink("/etc/passwd", p.c_str()), 0);
  EXPECT_EQ(f.src.ensure(key("A", "E", "P"), 2000, out), localdev::Status::kNotServed);
  EXPECT_EQ(f.cache.find(key("A", "E", "P"), 2000), nullptr);
}

TEST(LocalDev, DirectoryNamedLikeAConfigurationIsRefused) {
  Fixture f;
  ASSERT_EQ(mkdir((f.dir.path + "/A:E:D").c_str(), 0755), 0);
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  EXPECT_EQ(f.src.ensure(key("A", "E", "D"), 1, out), localdev::Status::kNotServed);
  EXPECT_NE(strstr(out.message, "a directory"), nullptr) << out.message;
}

TEST(LocalDev, NotFoundNamesTheFileNotTheDirectory) {
  Fixture f;
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  EXPECT_EQ(f.src.ensure(key("A", "E", "Missing"), 1, out), localdev::Status::kNotFound);
  EXPECT_NE(strstr(out.message, "A:E:Missing"), nullptr) << out.message;
  EXPECT_EQ(strstr(out.message, f.dir.path.c_str()), nullptr) << out.message;
  EXPECT_EQ(strstr(out.message, "/tmp"), nullptr) << out.message;
  EXPECT_EQ(f.src.ensure(key("A/..", "E", "x"), 1, out), localdev::Status::kNotFound);
  EXPECT_EQ(strstr(out.message, "/tmp"), nullptr) << out.message;
}

TEST(LocalDev, ContentTypesAreVisibleAscii) {
  char ct[localdev::kMaxContentType];
  EXPECT_TRUE(localdev::content_type_for("text%plain%charset=utf-8", ct, sizeof ct));
  EXPECT_STREQ(ct, "text/plain;charset=utf-8");
  for (const char* bad : {"text%pl\x01" "ain", "text%pl\x7f" "ain", "text%pl\xc3\xa9", "text%pl ain", "te\txt%x"}) {
    EXPECT_FALSE(localdev::content_type_for(bad, ct, sizeof ct)) << bad;
    EXPECT_STREQ(ct, "application/octet-stream");
  }
  // The longest extension a file name can carry is never cut.
  std::string ext = "a%" + std::string(250, 'b');
  EXPECT_TRUE(localdev::content_type_for(ext, ct, sizeof ct));
  EXPECT_EQ(strlen(ct), ext.size());
}

TEST(LocalDev, ControlBytesInAFileNameNeverReachTheContentType) {
  Fixture f;
  f.dir.write("A:E:C.text%ht\x01ml\x80", "x");
  ASSERT_TRUE(f.init());
  localdev::Outcome out;
  ASSERT_EQ(f.src.ensure(key("A", "E", "C"), 1, out), localdev::Status::kOk) << out.message;
  EXPECT_EQ(f.cache.view(f.cache.find(key("A", "E", "C"), 1)).content_type, "application/octet-stream");
}

TEST(LocalDev, MissesDoNotRescanTheDirectory) {
  Fixture f;
  constexpr int kFiles = 3000;
  for (int i = 0; i < kFiles; ++i) f.dir.write("App:Env:P" + std::to_string(i) + (i % 2 ? ".json" : ""), "{}");
  settle();
  ASSERT_TRUE(f.init(60'000));
  localdev::Outcome out;
  uint64_t before = f.src.directory_reads();
  // Distinct missing keys (more than the tracked table holds) and present ones, within one interval.
  for (int i = 0; i < 2000; ++i) {
    std::string miss = "Missing" + std::to_string(i);
    EXPECT_EQ(f.src.ensure(cache::Key{"App", "Env", miss}, 10 + i, out), localdev::Status::kNotFound);
  }
  for (int i = 0; i < kFiles; i += 97) {
    std::string p = "P" + std::to_string(i);
    EXPECT_EQ(f.src.ensure(cache::Key{"App", "Env", p}, 3000, out), localdev::Status::kOk) << out.message;
  }
  EXPECT_LE(f.src.directory_reads() - before, 1u) << "a miss read the directory";
  // A new file is found by the next read at once (the directory's mtime changed).
  f.dir.write("App:Env:New.json", "[1]");
  EXPECT_EQ(f.src.ensure(cache::Key{"App", "Env", "New"}, 3001, out), localdev::Status::kOk) << out.message;
  // An exact name wins over extensions; among extensions the first in byte order.
  f.dir.write("App:Env:X.b", "b");
  f.dir.write("App:Env:X.a", "a");
  f.dir.write("App:Env:X-", "dash");  // sorts between "X" and "X." and must not confuse the search
  EXPECT_EQ(f.src.ensure(cache::Key{"App", "Env", "X"}, 3500, out), localdev::Status::kOk) << out.message;
  EXPECT_EQ(f.cache.view(f.cache.find(cache::Key{"App", "Env", "X"}, 3500)).bytes, "a");
  EXPECT_LE(f.src.directory_reads() - before, 5u);
}

TEST(LocalDev, InvalidFlagFileIsNotRecompiledPerRead) {
  Fixture f;
  f.dir.write("A:E:F.application%ion%type=AWS.AppConfig.FeatureFlags", "'flag'::[ (");
  ASSERT_TRUE(f.init(1000));
  localdev::Outcome out;
  EXPECT_EQ(f.src.ensure(key("A", "E", "F"), 1, out), localdev::Status::kInvalid);
  std::string first = out.message;
  // After the interval the unchanged file answers from memory with the same message.
  EXPECT_EQ(f.src.ensure(key("A", "E", "F"), 5000, out), localdev::Status::kInvalid);
  EXPECT_EQ(first, out.message);
}
