#include "appconfig/core/loop.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <poll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace appconfig::loop {

uint64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

uint64_t wall_ms() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
}

namespace {
// Zeroed pages that become resident only when touched: the tables are sized
// for the worst case but a function uses a handful of fds and timers.
void* reserve_zeroed(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}
void release(void* p, size_t bytes) {
  if (p != nullptr) munmap(p, bytes);
}
}  // namespace

bool Loop::init() {
  slots_ = static_cast<FdSlot*>(reserve_zeroed(kMaxFd * sizeof(FdSlot)));
  pollfds_ = static_cast<::pollfd*>(reserve_zeroed((kMaxFd + 1) * sizeof(::pollfd)));  // +1: the signalfd
  timers_ = static_cast<Timer*>(reserve_zeroed(kMaxTimers * sizeof(Timer)));
  if (slots_ == nullptr || pollfds_ == nullptr || timers_ == nullptr) return false;

  // A peer that closes while we write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &set, &saved_mask_) != 0) return false;
  mask_saved_ = true;
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) return false;
  now_ms_ = monotonic_ms();
  return true;
}

Loop::~Loop() {
  if (signal_fd_ >= 0) close(signal_fd_);
  // Hand the signals back (tests create and destroy loops in one process).
  if (mask_saved_) sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
  release(slots_, kMaxFd * sizeof(FdSlot));
  release(pollfds_, (kMaxFd + 1) * sizeof(::pollfd));
  release(timers_, kMaxTimers * sizeof(Timer));
}

bool Loop::add_fd(int fd, short events, FdCallback cb, void* ctx) {
  if (fd < 0 || fd >= kMaxFd || slots_[fd].cb != nullptr || cb == nullptr) return false;
  FdSlot& s = slots_[fd];
  s.cb = cb;
  s.ctx = ctx;
  s.events = events;
  s.poll_index = num_pollfds_;
  pollfds_[num_pollfds_].fd = fd;
  pollfds_[num_pollfds_].events = events;
  pollfds_[num_pollfds_].revents = 0;
  ++num_pollfds_;
  return true;
}

bool Loop::set_events(int fd, short events) {
  if (fd < 0 || fd >= kMaxFd || slots_[fd].cb == nullptr) return false;
  slots_[fd].events = events;
  pollfds_[slots_[fd].poll_index].events = events;
  return true;
}

void Loop::remove_fd(int fd) {
  if (fd < 0 || fd >= kMaxFd || slots_[fd].cb == nullptr) return;
  // Swap the last pollfd into the hole to keep the array dense.
  int idx = slots_[fd].poll_index;
  int last = num_pollfds_ - 1;
  if (idx != last) {
    pollfds_[idx] = pollfds_[last];
    slots_[pollfds_[idx].fd].poll_index = idx;
  }
  --num_pollfds_;
  slots_[fd] = FdSlot{};
}

TimerId Loop::add_timer(uint64_t delay_ms, TimerCallback cb, void* ctx) {
  size_t i = 0;
  while (i < kMaxTimers && timers_[i].armed) ++i;
  if (i == kMaxTimers) return TimerId{};
  if (++timer_generation_ == 0) timer_generation_ = 1;
  Timer& t = timers_[i];
  t.due_ms = monotonic_ms() + delay_ms;
  t.cb = cb;
  t.ctx = ctx;
  t.generation = timer_generation_;
  t.seq = ++timer_seq_;
  t.armed = true;
  if (i + 1 > timer_high_) timer_high_ = i + 1;
  return TimerId{static_cast<uint32_t>(i), t.generation};
}

void Loop::cancel_timer(TimerId& id) {
  if (id.valid() && id.index < kMaxTimers) {
    Timer& t = timers_[id.index];
    if (t.armed && t.generation == id.generation) t.armed = false;
  }
  id = TimerId{};
}

int Loop::next_timeout_ms(int max_wait_ms) const {
  int64_t best = max_wait_ms < 0 ? -1 : max_wait_ms;
  for (size_t i = 0; i < timer_high_; ++i) {
    if (!timers_[i].armed) continue;
    int64_t left = timers_[i].due_ms > now_ms_ ? static_cast<int64_t>(timers_[i].due_ms - now_ms_) : 0;
    if (best < 0 || left < best) best = left;
  }
  return static_cast<int>(best);
}

void Loop::fire_timers() {
  // A timer armed by a callback of this pass waits for the next one, even when
  // it is already due (redis ae.c's maxId): a callback that re-arms itself with
  // a zero delay must not keep this pass, and the poll(2) of the next
  // iteration, from ever running.
  const uint64_t last_seq = timer_seq_;
  for (size_t i = 0; i < timer_high_; ++i) {
    Timer& t = timers_[i];
    if (!t.armed || t.due_ms > now_ms_ || t.seq > last_seq) continue;
    t.armed = false;  // one-shot; the callback may re-arm this very slot
    t.cb(t.ctx);
  }
  while (timer_high_ > 0 && !timers_[timer_high_ - 1].armed) --timer_high_;
}

void Loop::handle_signals() {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    if (signal_cb_ != nullptr) signal_cb_(signal_ctx_, static_cast<int>(info.ssi_signo));
  }
}

void Loop::run_once(int max_wait_ms) {
  now_ms_ = monotonic_ms();
  int timeout = next_timeout_ms(max_wait_ms);
  // The signalfd rides at the end of the set for this call only.
  pollfds_[num_pollfds_].fd = signal_fd_;
  pollfds_[num_pollfds_].events = POLLIN;
  pollfds_[num_pollfds_].revents = 0;
  int n = poll(pollfds_, static_cast<nfds_t>(num_pollfds_ + 1), timeout);
  now_ms_ = monotonic_ms();
  if (n < 0) {
    if (errno == EINTR) return;  // the one place EINTR is handled
    // EINVAL (more fds than RLIMIT_NOFILE), ENOMEM, EFAULT: retrying at once
    // would spin at 100 % CPU doing nothing. The first failure goes to the
    // owner (log, report, exit non-zero); a second one stops the loop.
    if (poll_errno_ != 0 || failure_cb_ == nullptr) {
      if (poll_errno_ == 0) poll_errno_ = errno;
      stopping_ = true;
      return;
    }
    poll_errno_ = errno;
    failure_cb_(failure_ctx_, poll_errno_);
    return;
  }
  if (n > 0) {
    if (pollfds_[num_pollfds_].revents != 0) handle_signals();
    // Dispatch in reverse so swap-removal during a callback never skips a ready
    // fd that has not been looked at yet; re-read each slot before calling.
    for (int i = num_pollfds_ - 1; i >= 0; --i) {
      if (i >= num_pollfds_) continue;
      short rev = pollfds_[i].revents;
      if (rev == 0) continue;
      pollfds_[i].revents = 0;
      int fd = pollfds_[i].fd;
      FdSlot& s = slots_[fd];
      if (s.poll_index != i || s.cb == nullptr) continue;
      s.cb(s.ctx, fd, rev);
    }
  }
  fire_timers();
}

void Loop::run() {
  while (!stopping_) run_once(-1);
}

}  // namespace appconfig::loop
