// sysfile::read_prefix: a FIFO, a directory or a missing file is 0 at once (never a blocked open);
// a regular file gives its first cap bytes.
#include "appconfig/core/sysfile.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace sysfile = appconfig::sysfile;

namespace {
std::string temp_dir() {
  char tmpl[] = "/tmp/sysfile_test.XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d != nullptr ? d : "";
}
}  // namespace

TEST(Sysfile, RegularFilePrefixAndCut) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/hosts";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("127.0.0.1 localhost\n", f);
  fclose(f);
  char buf[64];
  EXPECT_EQ(sysfile::read_prefix(path.c_str(), buf, sizeof buf), 20u);
  EXPECT_EQ(std::string(buf, 9), "127.0.0.1");
  EXPECT_EQ(sysfile::read_prefix(path.c_str(), buf, 5), 5u);  // cut at cap
  unlink(path.c_str());
  rmdir(dir.c_str());
}

TEST(Sysfile, FifoDirectoryAndMissingAreRefusedAtOnce) {
  const std::string dir = temp_dir();
  const std::string fifo = dir + "/hosts";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  char buf[64];
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(sysfile::read_prefix(fifo.c_str(), buf, sizeof buf), 0u);  // a blocking open would hang here
  EXPECT_EQ(sysfile::read_prefix(dir.c_str(), buf, sizeof buf), 0u);
  EXPECT_EQ(sysfile::read_prefix((dir + "/missing").c_str(), buf, sizeof buf), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  unlink(fifo.c_str());
  rmdir(dir.c_str());
}
