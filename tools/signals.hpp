// Stopping a tool cleanly on a signal: SIGINT, SIGTERM and SIGHUP are
// blocked in every thread (the kernel's host threads inherit the mask, so
// none of their system calls is interrupted) and taken by one thread with
// sigwait, which records the first one. The tool polls stopping() between
// files and chunks, unmounts the image, and exits with 128 + the signal.
#pragma once

#include <csignal>
#include <thread>

namespace lkl_tools {

class SignalWatcher {
public:
	// Also ignores SIGPIPE: a closed stderr or output pipe must not kill
	// the tool with the image mounted (writes fail with EPIPE instead).
	SignalWatcher();
	~SignalWatcher();
	SignalWatcher(const SignalWatcher &) = delete;
	SignalWatcher &operator=(const SignalWatcher &) = delete;

	// The first signal taken, or 0.
	static int signal();
	static bool stopping() { return signal() != 0; }
	// Forgets the signal taken (an interactive shell goes on after an
	// interrupted command).
	static void clear();

private:
	sigset_t set_;
	std::thread thread_;
};

} // namespace lkl_tools
