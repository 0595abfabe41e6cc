// Stopping a tool cleanly on a signal, as the tools poll for it: the
// signals are taken by emergency_exit.hpp's StopSignals (SIGINT, SIGTERM,
// SIGHUP blocked in every thread, so the kernel's host threads are never
// interrupted; a grace period, then an exit that says what became of the
// image; a second signal exits at once). This records the first one for
// the tool, which polls stopping() between files and chunks, unmounts the
// image and exits with 128 + the signal.
#pragma once

#include "emergency_exit.hpp"

namespace lkl_tools {

class SignalWatcher {
public:
	// Also ignores SIGPIPE: a closed stderr or output pipe must not kill
	// the tool with the image mounted (writes fail with EPIPE instead).
	// Forgets the signal an earlier watcher took.
	SignalWatcher();
	SignalWatcher(const SignalWatcher &) = delete;
	SignalWatcher &operator=(const SignalWatcher &) = delete;

	// The first signal taken since the watcher was made, or 0.
	static int signal();
	static bool stopping() { return signal() != 0; }

private:
	StopSignals signals_;
};

} // namespace lkl_tools
