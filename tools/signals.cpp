#include "signals.hpp"

#include <atomic>

#include <pthread.h>

namespace lkl_tools {

namespace {

std::atomic<int> stop_signal{0};

} // namespace

SignalWatcher::SignalWatcher()
{
	::signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set_);
	for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1})
		sigaddset(&set_, sig);
	pthread_sigmask(SIG_BLOCK, &set_, nullptr);
	thread_ = std::thread([this] {
		for (;;) {
			int sig = 0;
			if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1)
				return;
			int none = 0;
			stop_signal.compare_exchange_strong(none, sig);
		}
	});
}

SignalWatcher::~SignalWatcher()
{
	pthread_kill(thread_.native_handle(), SIGUSR1);
	thread_.join();
}

int SignalWatcher::signal()
{
	return stop_signal.load(std::memory_order_relaxed);
}

void SignalWatcher::clear()
{
	stop_signal.store(0);
}

} // namespace lkl_tools
