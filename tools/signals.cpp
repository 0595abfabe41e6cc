#include "signals.hpp"

#include <atomic>
#include <csignal>

namespace lkl_tools {

namespace {

std::atomic<int> first_signal{0};

// Before the StopSignals member starts taking signals.
int reset()
{
	::signal(SIGPIPE, SIG_IGN);
	first_signal.store(0);
	return 0;
}

} // namespace

SignalWatcher::SignalWatcher()
	: signals_((reset(), [](int sig) {
		  int none = 0;
		  first_signal.compare_exchange_strong(none, sig);
	  }))
{
}

int SignalWatcher::signal()
{
	return first_signal.load(std::memory_order_relaxed);
}

} // namespace lkl_tools
