// loop: the one poll(2) event loop that owns every file descriptor and timer.
//
// Owns: the poll set, one-shot timers, the monotonic clock reading for the
// current iteration, and the termination signals (SIGTERM/SIGINT/SIGHUP via a
// signalfd, so they arrive as ordinary events instead of interrupting code).
// Knows nothing of HTTP or AWS. Single-threaded: callbacks run one at a time
// from run_once(); a callback may add or remove any fd or timer, including its
// own, and the loop re-reads the registration after every callback (redis ae.c).
// EINTR is handled here and nowhere else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <csignal>
#include <poll.h>

namespace appconfig::loop {

// The highest fd number we track. Lambda's default RLIMIT_NOFILE is 1024; the
// agent may serve up to http_server::kMaxConnections (16,384) clients plus a
// few dozen sockets of its own. The tables are reserved address space: only the
// entries of fds in use are ever touched (24 + 8 bytes each).
constexpr int kMaxFd = 32768;
// Timers in flight at once: one per connection deadline plus a handful of
// protocol timers; the server caps connections well below this.
constexpr size_t kMaxTimers = 1024;

using FdCallback = void (*)(void* ctx, int fd, short revents);
using TimerCallback = void (*)(void* ctx);
using SignalCallback = void (*)(void* ctx, int signo);
// poll(2) failed with something other than EINTR (EINVAL, ENOMEM, EFAULT): the
// loop cannot go on. Called once, with the errno.
using FailureCallback = void (*)(void* ctx, int err);

// A timer handle: index + generation so a stale handle never cancels a reused slot.
struct TimerId {
  uint32_t index = 0;
  uint32_t generation = 0;  // 0 = no timer
  bool valid() const { return generation != 0; }
};

// CLOCK_MONOTONIC in milliseconds. It keeps counting while Lambda freezes the
// sandbox, so intervals measured with it include frozen time (spec §3).
uint64_t monotonic_ms();
// CLOCK_REALTIME in milliseconds, only for protocols that need wall time.
uint64_t wall_ms();

class Loop {
 public:
  // Blocks SIGTERM/SIGINT/SIGHUP, ignores SIGPIPE, creates the signalfd.
  bool init();
  ~Loop();

  bool add_fd(int fd, short events, FdCallback cb, void* ctx);
  bool set_events(int fd, short events);
  void remove_fd(int fd);  // does not close it

  TimerId add_timer(uint64_t delay_ms, TimerCallback cb, void* ctx);
  void cancel_timer(TimerId& id);  // resets id; a no-op for a fired or invalid id

  void on_signal(SignalCallback cb, void* ctx) { signal_cb_ = cb; signal_ctx_ = ctx; }
  // What to do when poll(2) fails for good. Without a callback the loop stops.
  // The callback may keep the loop running to report the failure (Lambda's
  // /exit/error); should poll(2) fail again the loop stops at once, so a
  // failure is never a busy spin.
  void on_failure(FailureCallback cb, void* ctx) { failure_cb_ = cb; failure_ctx_ = ctx; }
  int poll_errno() const { return poll_errno_; }  // 0 until poll(2) failed

  // Waits at most max_wait_ms (-1: until something happens) and dispatches.
  void run_once(int max_wait_ms);
  void run();   // until stop()
  void stop() { stopping_ = true; }
  bool stopping() const { return stopping_; }
  // The monotonic time read at the top of this iteration (cheap, used for deadlines).
  uint64_t now_ms() const { return now_ms_; }
  void refresh_now() { now_ms_ = monotonic_ms(); }

 private:
  struct FdSlot {
    FdCallback cb = nullptr;
    void* ctx = nullptr;
    short events = 0;
    int poll_index = 0;  // index into pollfds_; meaningful only while cb != nullptr
  };
  struct Timer {
    uint64_t due_ms = 0;
    TimerCallback cb = nullptr;
    void* ctx = nullptr;
    uint32_t generation = 0;
    uint64_t seq = 0;  // order of arming; a pass fires only timers armed before it began
    bool armed = false;
  };
  void handle_signals();
  int next_timeout_ms(int max_wait_ms) const;
  void fire_timers();

  FdSlot* slots_ = nullptr;          // kMaxFd entries
  ::pollfd* pollfds_ = nullptr;  // dense array, kMaxFd entries
  int num_pollfds_ = 0;
  Timer* timers_ = nullptr;          // kMaxTimers entries
  size_t timer_high_ = 0;            // slots [0, timer_high_) may be armed
  uint32_t timer_generation_ = 0;
  uint64_t timer_seq_ = 0;  // 64-bit: never wraps
  int signal_fd_ = -1;
  sigset_t saved_mask_;
  bool mask_saved_ = false;
  SignalCallback signal_cb_ = nullptr;
  void* signal_ctx_ = nullptr;
  FailureCallback failure_cb_ = nullptr;
  void* failure_ctx_ = nullptr;
  int poll_errno_ = 0;
  uint64_t now_ms_ = 0;
  bool stopping_ = false;
};

}  // namespace appconfig::loop
