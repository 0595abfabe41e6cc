// One-shot timers (struct lkl_timer), all served by one host thread.
//
// The thread exists only while at least one timer does: it starts with the
// first timer_alloc() and is stopped (and joined) when the last timer is
// freed, so a halted kernel leaves no host thread behind.

#include <lkl_host.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "internal.hpp"

namespace {
namespace timer {

// steady_clock is CLOCK_MONOTONIC, the clock the kernel reads via time().
using Clock = std::chrono::steady_clock;

struct Timer;
using Queue = std::multimap<Clock::time_point, Timer *>;

struct Timer {
	void (*fn)(void *) = nullptr;
	void *arg = nullptr;
	// The timer's queue entry, allocated once in timer_alloc(): owned here
	// while disarmed, in the queue (at pos) while armed, so (re)arming
	// never allocates and cannot fail.
	Queue::node_type node;
	Queue::iterator pos;
	bool armed = false;
	// Set by timer_free(); later timer_set_oneshot() calls are ignored.
	bool freed = false;
	// The thread running fn now, if any.
	std::thread::id firing_on;
	// timer_free() was called from fn itself: the worker frees the timer
	// once fn returns.
	bool free_after_firing = false;
};

class Service {
public:
	static Service &instance() noexcept
	{
		static host::Immortal<Service> service;
		return service.get();
	}

	lkl_timer *alloc(void (*fn)(void *), void *arg) noexcept
	{
		auto timer = host::try_make<Timer>();
		if (!timer)
			return nullptr;
		timer->fn = fn;
		timer->arg = arg;
		try {
			Queue scratch;
			timer->node = scratch.extract(scratch.emplace(Clock::time_point{}, timer.get()));
			std::lock_guard lock(mutex_);
			if (!worker_.joinable())
				worker_ = std::thread(&Service::run, this, generation_);
			++timers_;
		} catch (...) {
			return nullptr;
		}
		return host::to_handle<lkl_timer>(std::move(timer));
	}

	void set_oneshot(Timer &timer, unsigned long long delta_ns) noexcept
	{
		// Clamp "practically never" so that now + delta cannot overflow.
		constexpr unsigned long long max_delta = 100ULL * 365 * 24 * 3600 * 1'000'000'000ULL;
		const auto due = Clock::now() + std::chrono::nanoseconds(
				delta_ns < max_delta ? delta_ns : max_delta);
		std::lock_guard lock(mutex_);
		if (timer.freed)
			return;
		disarm(timer);
		timer.node.key() = due;
		timer.pos = queue_.insert(std::move(timer.node));
		timer.armed = true;
		// The worker sleeps until the earliest expiry; only a new earliest
		// one needs to wake it.
		if (timer.pos == queue_.begin())
			wake_.notify_all();
	}

	void free(Timer &timer) noexcept
	{
		std::unique_lock lock(mutex_);
		timer.freed = true;
		disarm(timer);
		const auto self = std::this_thread::get_id();
		if (timer.firing_on == self) {
			// Called from the timer's own callback: waiting would deadlock.
			timer.free_after_firing = true;
		} else {
			// freed makes a re-arm from the running callback a no-op.
			fired_.wait(lock, [&] { return timer.firing_on == std::thread::id{}; });
			host::adopt_handle<Timer>(&timer);
		}
		if (--timers_ != 0)
			return;

		// The last timer is gone: retire the worker.
		++generation_;
		wake_.notify_all();
		std::thread worker = std::move(worker_);
		if (worker.get_id() == self) {
			// We are inside a callback on the worker; it cannot join
			// itself, but it sees the new generation and exits as soon as
			// the callback returns.
			worker.detach();
			return;
		}
		lock.unlock();
		worker.join();
	}

private:
	void disarm(Timer &timer) noexcept
	{
		if (!timer.armed)
			return;
		timer.node = queue_.extract(timer.pos);
		timer.armed = false;
	}

	// The worker of one generation: it exits when free() retires it.
	void run(std::uint64_t generation) noexcept
	{
		std::unique_lock lock(mutex_);
		while (generation_ == generation) {
			if (queue_.empty()) {
				wake_.wait(lock);
				continue;
			}
			// A copy: wait_until() reads its argument after waking, when
			// this queue entry may be gone.
			const Clock::time_point due = queue_.begin()->first;
			if (Clock::now() < due) {
				wake_.wait_until(lock, due);
				continue;
			}
			Timer &timer = *queue_.begin()->second;
			disarm(timer);
			timer.firing_on = std::this_thread::get_id();
			lock.unlock();
			timer.fn(timer.arg);
			lock.lock();
			if (timer.free_after_firing) {
				host::adopt_handle<Timer>(&timer);
			} else {
				timer.firing_on = {};
				fired_.notify_all();
			}
		}
	}

	std::mutex mutex_;
	// The worker waits here for an earlier expiry or for retirement.
	std::condition_variable wake_;
	// free() waits here for a running callback to return.
	std::condition_variable fired_;
	Queue queue_;
	std::thread worker_;
	// Bumped to retire the current worker; its successor gets the new value.
	std::uint64_t generation_ = 0;
	std::size_t timers_ = 0;
};

Timer &get(lkl_timer *handle) noexcept
{
	return *host::from_handle<Timer>(handle);
}

lkl_timer *alloc(void (*fn)(void *), void *arg) noexcept
{
	return Service::instance().alloc(fn, arg);
}

void set_oneshot(lkl_timer *timer, unsigned long long delta_ns) noexcept
{
	Service::instance().set_oneshot(get(timer), delta_ns);
}

void destroy(lkl_timer *timer) noexcept
{
	Service::instance().free(get(timer));
}

} // namespace timer
} // namespace
