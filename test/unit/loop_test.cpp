// Tests for appconfig::loop: timer ordering within a pass (redis ae.c's maxId
// rule) and what happens when poll(2) fails.
#include "appconfig/core/loop.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include <vector>

namespace loop = appconfig::loop;

namespace {

struct Chain {
  loop::Loop* lp = nullptr;
  int fired = 0;
  int rearms_left = 0;
  int arms_per_fire = 1;
};

void on_chain(void* ctx) {
  auto* c = static_cast<Chain*>(ctx);
  ++c->fired;
  if (c->rearms_left <= 0) return;
  --c->rearms_left;
  for (int k = 0; k < c->arms_per_fire; ++k) c->lp->add_timer(0, &on_chain, c);
}

void on_nothing(void*) {}

}  // namespace

// A zero-delay timer armed inside a timer callback is due at once, but it must
// wait for the next pass: otherwise a callback that re-arms itself keeps the
// pass (and the poll(2) of every fd) from ever ending.
TEST(LoopTimers, ArmedInCallbackWaitsForNextPass) {
  loop::Loop lp;
  ASSERT_TRUE(lp.init());
  // Slot 0 is held by a far timer so re-armed timers land in later slots, the
  // ones the firing pass has not reached yet.
  lp.add_timer(3'600'000, &on_nothing, nullptr);
  Chain c;
  c.lp = &lp;
  c.rearms_left = 1000;
  c.arms_per_fire = 2;
  lp.add_timer(0, &on_chain, &c);
  lp.run_once(0);
  EXPECT_EQ(c.fired, 1) << "timers armed by a callback fired in the same pass";
  lp.run_once(0);
  EXPECT_EQ(c.fired, 3);  // the two armed by the first callback, nothing they armed
  lp.run_once(0);
  EXPECT_EQ(c.fired, 7);
}

TEST(LoopTimers, SelfRearmingTimerLetsFdsRun) {
  loop::Loop lp;
  ASSERT_TRUE(lp.init());
  Chain c;
  c.lp = &lp;
  c.rearms_left = 1'000'000;
  lp.add_timer(0, &on_chain, &c);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  int reads = 0;
  ASSERT_TRUE(lp.add_fd(
      fds[0], POLLIN,
      [](void* ctx, int fd, short) {
        char b;
        if (read(fd, &b, 1) == 1) ++*static_cast<int*>(ctx);
      },
      &reads));
  for (int i = 0; i < 3; ++i) lp.run_once(0);
  EXPECT_EQ(reads, 1);
  EXPECT_LE(c.fired, 3);
  lp.remove_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

namespace {
struct Failures {
  int calls = 0;
  int err = 0;
};
void on_failure(void* ctx, int err) {
  auto* f = static_cast<Failures*>(ctx);
  ++f->calls;
  f->err = err;
}

// Makes poll(2) fail with EINVAL: more pollfds than RLIMIT_NOFILE allows.
struct PollBreaker {
  std::vector<int> fds;
  rlimit saved{};
  bool ok = false;
  explicit PollBreaker(loop::Loop& lp) {
    if (getrlimit(RLIMIT_NOFILE, &saved) != 0) return;
    for (int i = 0; i < 40; ++i) {
      int p[2];
      if (pipe(p) != 0) return;
      fds.push_back(p[0]);
      fds.push_back(p[1]);
      if (!lp.add_fd(p[0], POLLIN, [](void*, int, short) {}, nullptr)) return;
    }
    rlimit low = saved;
    low.rlim_cur = 16;  // open fds above the limit stay open; poll(2) refuses nfds > 16
    ok = setrlimit(RLIMIT_NOFILE, &low) == 0;
  }
  ~PollBreaker() {
    setrlimit(RLIMIT_NOFILE, &saved);
    for (int fd : fds) close(fd);
  }
};
}  // namespace

// EINVAL used to make run_once() return and run() call it again at once: a
// silent 100 % CPU spin. Now the owner hears of it once and the loop stops.
TEST(LoopPoll, FailureIsReportedOnceThenStops) {
  loop::Loop lp;
  ASSERT_TRUE(lp.init());
  Failures f;
  lp.on_failure(&on_failure, &f);
  PollBreaker breaker(lp);
  ASSERT_TRUE(breaker.ok);
  lp.run_once(0);
  EXPECT_EQ(f.calls, 1);
  EXPECT_EQ(f.err, EINVAL);
  EXPECT_EQ(lp.poll_errno(), EINVAL);
  EXPECT_FALSE(lp.stopping()) << "the owner may keep the loop to report the failure";
  lp.run_once(0);  // failing again: no second report, the loop stops
  EXPECT_EQ(f.calls, 1);
  EXPECT_TRUE(lp.stopping());
  lp.run();  // returns at once instead of spinning
}

TEST(LoopPoll, FailureWithoutOwnerStopsRun) {
  loop::Loop lp;
  ASSERT_TRUE(lp.init());
  PollBreaker breaker(lp);
  ASSERT_TRUE(breaker.ok);
  lp.run();  // before: never returned
  EXPECT_TRUE(lp.stopping());
  EXPECT_EQ(lp.poll_errno(), EINVAL);
}

namespace {
void on_alarm(int) {}
}  // namespace

// EINTR is not a failure: the loop goes on.
TEST(LoopPoll, InterruptedPollIsRetried) {
  loop::Loop lp;
  ASSERT_TRUE(lp.init());
  Failures f;
  lp.on_failure(&on_failure, &f);
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = &on_alarm;  // no SA_RESTART: poll(2) returns EINTR
  sigaction(SIGALRM, &sa, &old);
  itimerval it{};
  it.it_value.tv_usec = 20'000;
  setitimer(ITIMER_REAL, &it, nullptr);
  lp.run_once(2'000);
  sigaction(SIGALRM, &old, nullptr);
  EXPECT_EQ(f.calls, 0);
  EXPECT_EQ(lp.poll_errno(), 0);
  EXPECT_FALSE(lp.stopping());
}
