// How a tool leaves when it cannot finish in order, and says what became of
// the image: after a stop signal (SIGINT, SIGTERM, SIGHUP) whose orderly end
// (copy stopped, image unmounted) did not come within a grace period, or a
// second such signal; or after a kernel panic or BUG(). Either way the
// process exits at once, without unmounting: the kernel may be stuck (a
// call that never returns, a loop that never ends), and waiting for it
// would never end either.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <signal.h>

namespace lkl_tools {

// The exit status after a kernel panic or BUG().
constexpr int kernel_panic_status = 3;

// What the tool has open, for the messages: set it before opening the
// image, and the file system type once it is mounted. An image opened
// read-only is never written, so it never needs a repair.
void emergency_image(const std::string &path, bool read_only);
void emergency_fstype(const std::string &type);

// How long the orderly end may take after a stop signal: LKL_STOP_GRACE
// (seconds, may have decimals) from the environment, else 10 seconds.
std::chrono::milliseconds stop_grace();

// Exits with 128 + @sig now, saying that the tool was stopped by @sig
// before it could finish in order and what became of the image.
[[noreturn]] void exit_stopped(int sig);

// Started by the first stop signal: if the orderly end has not come when
// it expires, exit_stopped(). One per process (grace_period()).
class GracePeriod {
public:
	GracePeriod() = default;
	~GracePeriod() { finish(); }
	GracePeriod(const GracePeriod &) = delete;
	GracePeriod &operator=(const GracePeriod &) = delete;

	// The first call starts the grace period for @sig; later ones, and
	// any after finish(), do nothing.
	void start(int sig);
	// The orderly end has come: the process is no longer made to exit.
	void finish();

private:
	std::mutex mutex_;
	std::condition_variable ended_;
	bool done_ = false;
	std::thread timer_;
};

GracePeriod &grace_period();

// SIGINT, SIGTERM and SIGHUP, blocked in the calling thread (and so in the
// threads it starts later: the kernel's host threads, whose calls must not
// be interrupted) and taken by a watcher thread. The first one runs
// @on_stop(sig) there, which asks the work to stop, and starts the grace
// period; a second one exits at once (exit_stopped()). Destroying it marks
// the orderly end (grace_period().finish()).
class StopSignals {
public:
	explicit StopSignals(std::function<void(int)> on_stop);
	~StopSignals();
	StopSignals(const StopSignals &) = delete;
	StopSignals &operator=(const StopSignals &) = delete;

	// The first stop signal taken, or 0.
	int signal() const;

private:
	sigset_t set_;
	std::function<void(int)> on_stop_;
	int first_ = 0;
	std::thread watcher_;
};

// The signals StopSignals takes (SIGUSR1 only ends the watcher).
sigset_t stop_signal_set();

// Replaces the kernel's panic handler (lkl_host_ops.panic): on a panic or
// BUG() the tool prints the kernel's last messages, names the image as the
// likely cause and what became of it, and exits with kernel_panic_status.
void exit_on_kernel_panic();

// The name the messages start with.
void emergency_program(const char *prog);
// From now on the messages go to syslog (a daemon without a terminal).
void emergency_to_syslog();

} // namespace lkl_tools
