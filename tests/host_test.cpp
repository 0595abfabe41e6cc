// Tests of the host layer alone (host/), without a kernel: each operation
// is reached through lkl_host_ops, as the kernel reaches it.
//
// Build (tests/CMakeLists.txt):
//
//   add_executable(host_test host_test.cpp)
//   target_compile_features(host_test PRIVATE cxx_std_20)
//   target_link_libraries(host_test PRIVATE lkl_host GTest::gtest_main)
//   gtest_discover_tests(host_test)   # after include(GoogleTest)
//
// lkl_host brings <asm/host_ops.h> onto the include path, Boost::context
// and Threads::Threads.

#include <asm/host_ops.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" struct lkl_host_operations lkl_host_ops;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const lkl_host_operations &ops = lkl_host_ops;

// ---------------------------------------------------------------- contexts

struct PingPong {
	lkl_ctx *host = nullptr;
	lkl_ctx *ctx = nullptr;
	long turns = 0; // written by the context, checked by the host side
};

[[noreturn]] void ping_pong_body(void *arg)
{
	auto *state = static_cast<PingPong *>(arg);
	// A local on the context's own stack must survive every switch.
	long own = 0;
	for (;;) {
		++own;
		state->turns = own;
		ops.ctx_switch(state->ctx, state->host);
	}
}

TEST(Context, PingPongKeepsState)
{
	PingPong state;
	state.host = ops.ctx_create_host();
	state.ctx = ops.ctx_create(ping_pong_body, &state);
	ASSERT_NE(state.host, nullptr);
	ASSERT_NE(state.ctx, nullptr);

	constexpr long rounds = 100000;
	for (long i = 1; i <= rounds; ++i) {
		ops.ctx_switch(state.host, state.ctx);
		ASSERT_EQ(state.turns, i);
	}
	ops.ctx_free(state.ctx);
	ops.ctx_free(state.host);
}

TEST(Context, StackSizeIsAdvertised)
{
	// The kernel sizes its expectations on this; XFS needs deep stacks.
	EXPECT_GE(ops.ctx_stack_size, 256UL * 1024);
	EXPECT_EQ(ops.ctx_stack_size % static_cast<unsigned long>(::sysconf(_SC_PAGESIZE)), 0UL);
}

struct Migrating {
	lkl_ctx *ctx = nullptr;
	lkl_ctx *back = nullptr; // the host context to return to this time
	std::vector<pid_t> ran_on;
	std::vector<int> locals;
};

[[noreturn]] void migrating_body(void *arg)
{
	auto *state = static_cast<Migrating *>(arg);
	int local = 0;
	for (;;) {
		// Not std::this_thread::get_id(): glibc declares pthread_self()
		// const, so the compiler may reuse its value across the switch,
		// which is exactly the cached-TLS trap. gettid() is a real call.
		state->ran_on.push_back(::gettid());
		state->locals.push_back(++local);
		ops.ctx_switch(state->ctx, state->back);
	}
}

TEST(Context, ResumesOnAnotherHostThread)
{
	Migrating state;
	state.ctx = ops.ctx_create(migrating_body, &state);
	ASSERT_NE(state.ctx, nullptr);

	// Both threads stay alive to the end, so their ids cannot be reused;
	// they visit one after the other.
	std::atomic<int> visits{0};
	std::atomic<bool> release{false};
	pid_t visitor[2] = {};
	auto visit = [&](int turn) {
		while (visits.load() != turn)
			std::this_thread::sleep_for(1ms);
		visitor[turn] = ::gettid();
		lkl_ctx *self = ops.ctx_create_host();
		state.back = self;
		ops.ctx_switch(self, state.ctx);
		ops.ctx_free(self);
		++visits;
		while (!release.load())
			std::this_thread::sleep_for(1ms);
	};
	std::thread first(visit, 0);
	std::thread second(visit, 1);
	while (visits.load() != 2)
		std::this_thread::sleep_for(1ms);
	release = true;
	first.join();
	second.join();
	const pid_t first_id = visitor[0], second_id = visitor[1];

	ASSERT_EQ(state.ran_on.size(), 2U);
	EXPECT_EQ(state.ran_on[0], first_id);
	EXPECT_EQ(state.ran_on[1], second_id);
	EXPECT_NE(first_id, second_id);
	// The suspended stack came along: its local kept counting.
	EXPECT_EQ(state.locals, (std::vector<int>{1, 2}));
	ops.ctx_free(state.ctx);
}

// The guard-page test runs in a child process (a death test). Everything it
// needs is in globals, since the overflow ends on a signal stack.
struct Range {
	std::uintptr_t lo = 0, hi = 0;
};
Range guard_range;
Range stack_range;
lkl_ctx *overflow_host;

// Finds, in /proc/self/maps, the mapping holding @addr and the one
// directly below it; returns false if there is none below.
bool mappings_around(std::uintptr_t addr, Range &holding, Range &below,
		     std::string &below_perms)
{
	std::ifstream maps("/proc/self/maps");
	std::string line;
	std::vector<std::pair<Range, std::string>> all;
	while (std::getline(maps, line)) {
		std::istringstream in(line);
		std::string span, perms;
		in >> span >> perms;
		Range r;
		r.lo = std::stoull(span.substr(0, span.find('-')), nullptr, 16);
		r.hi = std::stoull(span.substr(span.find('-') + 1), nullptr, 16);
		all.emplace_back(r, perms);
	}
	for (const auto &[r, perms] : all)
		if (r.lo <= addr && addr < r.hi)
			holding = r;
	for (const auto &[r, perms] : all)
		if (r.hi == holding.lo) {
			below = r;
			below_perms = perms;
			return true;
		}
	return false;
}

void on_segv(int, siginfo_t *info, void *)
{
	const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
	if (guard_range.lo <= addr && addr < guard_range.hi) {
		static constexpr char msg[] = "overflow faulted in the guard page\n";
		(void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
		::_exit(42);
	}
	static constexpr char msg[] = "fault outside the guard page\n";
	(void)!::write(STDERR_FILENO, msg, sizeof(msg) - 1);
	::_exit(1);
}

volatile bool keep_recursing = true;

[[gnu::noinline]] int recurse(int depth)
{
	volatile char frame[512];
	frame[0] = static_cast<char>(depth);
	frame[sizeof(frame) - 1] = static_cast<char>(depth);
	int below = keep_recursing ? recurse(depth + 1) : 0;
	asm volatile("" ::: "memory");
	return below + frame[0] + frame[sizeof(frame) - 1];
}

[[noreturn]] void overflow_body(void *)
{
	int marker = 0;
	Range below;
	std::string perms;
	if (!mappings_around(reinterpret_cast<std::uintptr_t>(&marker), stack_range, below, perms) ||
	    perms.substr(0, 3) != "---") {
		std::fprintf(stderr, "no guard page below the context's stack\n");
		std::_Exit(2);
	}
	if (stack_range.hi - stack_range.lo < ops.ctx_stack_size) {
		std::fprintf(stderr, "context stack smaller than ctx_stack_size\n");
		std::_Exit(3);
	}
	guard_range = below;
	std::printf("%d\n", recurse(0)); // not reached: the stack overflows
	std::_Exit(4);
}

void overflow_a_context_stack()
{
	static std::vector<char> alt(64 * 1024);
	stack_t ss{};
	ss.ss_sp = alt.data();
	ss.ss_size = alt.size();
	::sigaltstack(&ss, nullptr);
	struct sigaction sa{};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	::sigaction(SIGSEGV, &sa, nullptr);

	overflow_host = ops.ctx_create_host();
	lkl_ctx *ctx = ops.ctx_create(overflow_body, nullptr);
	if (!ctx)
		std::_Exit(5);
	ops.ctx_switch(overflow_host, ctx);
}

TEST(ContextDeathTest, OverflowFaultsInGuardPage)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(overflow_a_context_stack(), testing::ExitedWithCode(42),
		    "overflow faulted in the guard page");
}

void returns(void *) {}

[[noreturn]] void park_body(void *sem)
{
	for (;;)
		ops.sem_down(static_cast<lkl_sem *>(sem));
}

TEST(ContextDeathTest, ReturningFunctionAborts)
{
	EXPECT_DEATH(
		{
			lkl_ctx *self = ops.ctx_create_host();
			ops.ctx_switch(self, ops.ctx_create(returns, nullptr));
		},
		"function returned");
}

TEST(ContextDeathTest, SwitchToRunningContextAborts)
{
	EXPECT_DEATH(
		{
			lkl_ctx *self = ops.ctx_create_host();
			ops.ctx_switch(self, self);
		},
		"running or never ran");
}

// A host context holds its thread's own frames: resuming it on another
// host thread would run that thread's code with the wrong TLS.
TEST(ContextDeathTest, HostContextResumedOnAnotherThreadAborts)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_DEATH(
		{
			Migrating state;
			state.ctx = ops.ctx_create(migrating_body, &state);
			lkl_ctx *main_host = ops.ctx_create_host();
			state.back = main_host;
			ops.ctx_switch(main_host, state.ctx); // fine: back here
			std::thread([&] {
				std::this_thread::sleep_for(50ms);
				lkl_ctx *self = ops.ctx_create_host();
				// state.back still names the main thread's context,
				// which is suspended below: resuming it here is wrong.
				ops.ctx_switch(self, state.ctx);
			}).detach();
			lkl_sem *never = ops.sem_alloc(0);
			lkl_ctx *parked = ops.ctx_create(park_body, never);
			ops.ctx_switch(main_host, parked);
		},
		"host context from another host thread");
}

// ------------------------------------------------------ semaphores, mutexes

TEST(Semaphore, DownBlocksUntilUp)
{
	lkl_sem *sem = ops.sem_alloc(0);
	ASSERT_NE(sem, nullptr);
	std::atomic<bool> passed{false};
	std::thread waiter([&] {
		ops.sem_down(sem);
		passed = true;
	});
	std::this_thread::sleep_for(50ms);
	EXPECT_FALSE(passed.load());
	ops.sem_up(sem);
	waiter.join();
	EXPECT_TRUE(passed.load());
	ops.sem_free(sem);
}

TEST(Semaphore, InitialCountIsConsumedWithoutBlocking)
{
	lkl_sem *sem = ops.sem_alloc(3);
	ASSERT_NE(sem, nullptr);
	ops.sem_down(sem);
	ops.sem_down(sem);
	ops.sem_down(sem);
	std::atomic<bool> passed{false};
	std::thread waiter([&] {
		ops.sem_down(sem);
		passed = true;
	});
	std::this_thread::sleep_for(50ms);
	EXPECT_FALSE(passed.load()); // the fourth down has to wait
	ops.sem_up(sem);
	waiter.join();
	ops.sem_free(sem);
	EXPECT_EQ(ops.sem_alloc(-1), nullptr);
}

TEST(Semaphore, PingPongAcrossThreadsLosesNoWakeup)
{
	lkl_sem *ping = ops.sem_alloc(0);
	lkl_sem *pong = ops.sem_alloc(0);
	constexpr int rounds = 20000;
	int last_seen = 0;
	int shared = 0;
	std::thread other([&] {
		for (int i = 1; i <= rounds; ++i) {
			ops.sem_down(ping);
			shared = i;
			ops.sem_up(pong);
		}
	});
	for (int i = 1; i <= rounds; ++i) {
		ops.sem_up(ping);
		ops.sem_down(pong);
		if (shared != i)
			break;
		last_seen = shared;
	}
	other.join();
	EXPECT_EQ(last_seen, rounds);
	ops.sem_free(ping);
	ops.sem_free(pong);
}

TEST(Semaphore, ManyProducersManyConsumers)
{
	lkl_sem *sem = ops.sem_alloc(0);
	constexpr int per_thread = 20000, threads = 4;
	std::atomic<int> consumed{0};
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; ++t) {
		pool.emplace_back([&] {
			for (int i = 0; i < per_thread; ++i)
				ops.sem_up(sem);
		});
		pool.emplace_back([&] {
			for (int i = 0; i < per_thread; ++i) {
				ops.sem_down(sem);
				++consumed;
			}
		});
	}
	for (auto &t : pool)
		t.join(); // hangs (and the test times out) if a wakeup is lost
	EXPECT_EQ(consumed.load(), per_thread * threads);
	ops.sem_free(sem);
}

TEST(Mutex, ExcludesAcrossThreads)
{
	lkl_mutex *mutex = ops.mutex_alloc(0);
	ASSERT_NE(mutex, nullptr);
	constexpr int per_thread = 50000, threads = 4;
	long counter = 0; // deliberately not atomic: the mutex guards it
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; ++t)
		pool.emplace_back([&] {
			for (int i = 0; i < per_thread; ++i) {
				ops.mutex_lock(mutex);
				long v = counter;
				asm volatile("" ::: "memory");
				counter = v + 1;
				ops.mutex_unlock(mutex);
			}
		});
	for (auto &t : pool)
		t.join();
	EXPECT_EQ(counter, long{per_thread} * threads);
	ops.mutex_free(mutex);
}

TEST(Mutex, MayBeUnlockedByAnotherThread)
{
	// A kernel context can lock on one host thread and be resumed, and
	// unlock, on another.
	lkl_mutex *mutex = ops.mutex_alloc(0);
	ops.mutex_lock(mutex);
	std::atomic<bool> got{false};
	std::thread waiter([&] {
		ops.mutex_lock(mutex);
		got = true;
		ops.mutex_unlock(mutex);
	});
	std::this_thread::sleep_for(30ms);
	EXPECT_FALSE(got.load());
	std::thread([&] { ops.mutex_unlock(mutex); }).join();
	waiter.join();
	EXPECT_TRUE(got.load());
	ops.mutex_free(mutex);
}

TEST(Mutex, RecursiveMayBeRelockedByItsHolderOnly)
{
	lkl_mutex *mutex = ops.mutex_alloc(1);
	ASSERT_NE(mutex, nullptr);
	ops.mutex_lock(mutex);
	ops.mutex_lock(mutex); // a plain mutex would deadlock here
	std::atomic<bool> got{false};
	std::thread other([&] {
		ops.mutex_lock(mutex);
		got = true;
		ops.mutex_unlock(mutex);
	});
	ops.mutex_unlock(mutex);
	std::this_thread::sleep_for(30ms);
	EXPECT_FALSE(got.load()) << "released after one unlock of two locks";
	ops.mutex_unlock(mutex);
	other.join();
	EXPECT_TRUE(got.load());
	ops.mutex_free(mutex);
}

TEST(Mutex, RecursiveExcludesAcrossThreads)
{
	lkl_mutex *mutex = ops.mutex_alloc(1);
	constexpr int per_thread = 20000, threads = 4;
	long counter = 0;
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; ++t)
		pool.emplace_back([&] {
			for (int i = 0; i < per_thread; ++i) {
				ops.mutex_lock(mutex);
				ops.mutex_lock(mutex);
				long v = counter;
				asm volatile("" ::: "memory");
				counter = v + 1;
				ops.mutex_unlock(mutex);
				ops.mutex_unlock(mutex);
			}
		});
	for (auto &t : pool)
		t.join();
	EXPECT_EQ(counter, long{per_thread} * threads);
	ops.mutex_free(mutex);
}

// ----------------------------------------------------------- host threads

TEST(Thread, CreateRunsTheFunctionAndJoinWaitsForIt)
{
	struct Arg {
		std::atomic<int> ran{0};
		lkl_thread_t seen_self = 0;
		long tid = 0;
	} arg;
	lkl_thread_t t = ops.thread_create(
		[](void *p) {
			auto *a = static_cast<Arg *>(p);
			a->seen_self = ops.thread_self();
			a->tid = ops.gettid();
			a->ran = 1;
		},
		&arg);
	ASSERT_NE(t, 0UL);
	EXPECT_EQ(ops.thread_join(t), 0);
	EXPECT_EQ(arg.ran.load(), 1);
	EXPECT_TRUE(ops.thread_equal(arg.seen_self, t));
	EXPECT_FALSE(ops.thread_equal(ops.thread_self(), t));
	EXPECT_NE(arg.tid, ops.gettid());
	EXPECT_EQ(ops.gettid(), static_cast<long>(::gettid()));
}

TEST(Thread, ExitEndsTheThreadAndDetachedThreadsRun)
{
	static std::atomic<int> after_exit{0};
	lkl_thread_t t = ops.thread_create(
		[](void *) {
			ops.thread_exit();
			after_exit = 1;
		},
		nullptr);
	ASSERT_NE(t, 0UL);
	EXPECT_EQ(ops.thread_join(t), 0);
	EXPECT_EQ(after_exit.load(), 0);

	static std::atomic<int> detached_ran{0};
	t = ops.thread_create(
		[](void *) {
			ops.thread_detach();
			detached_ran = 1;
		},
		nullptr);
	ASSERT_NE(t, 0UL);
	for (int i = 0; i < 1000 && !detached_ran.load(); i++)
		std::this_thread::sleep_for(1ms);
	EXPECT_EQ(detached_ran.load(), 1);
	EXPECT_EQ(ops.thread_create(nullptr, nullptr), 0UL);
}

// ------------------------------------------------------------------ timers

// Counts firings and remembers when; tests wait on it with a deadline.
struct Probe {
	std::mutex mutex;
	std::condition_variable changed;
	int fired = 0;
	Clock::time_point last_fire;
	std::thread::id fired_on;

	static void callback(void *arg)
	{
		auto *probe = static_cast<Probe *>(arg);
		std::lock_guard lock(probe->mutex);
		++probe->fired;
		probe->last_fire = Clock::now();
		probe->fired_on = std::this_thread::get_id();
		probe->changed.notify_all();
	}

	bool wait_for_count(int count, Clock::duration limit)
	{
		std::unique_lock lock(mutex);
		return changed.wait_for(lock, limit, [&] { return fired >= count; });
	}

	int count()
	{
		std::lock_guard lock(mutex);
		return fired;
	}
};

// Threads of this process, from /proc: the timer thread must come and go.
int thread_count()
{
	int n = 0;
	if (DIR *dir = ::opendir("/proc/self/task")) {
		while (const dirent *entry = ::readdir(dir))
			if (entry->d_name[0] != '.')
				++n;
		::closedir(dir);
	}
	return n;
}

// A joined thread can linger in /proc for a moment after pthread_join()
// (the kernel wakes the joiner before it reaps the task), so poll.
int settled_thread_count(int expected)
{
	const auto limit = Clock::now() + 2s;
	int n;
	while ((n = thread_count()) != expected && Clock::now() < limit)
		std::this_thread::sleep_for(1ms);
	return n;
}

TEST(Timer, FiresOnceNotBeforeTheDelay)
{
	Probe probe;
	lkl_timer *timer = ops.timer_alloc(Probe::callback, &probe);
	ASSERT_NE(timer, nullptr);
	const auto armed = Clock::now();
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(30ms).count());
	ASSERT_TRUE(probe.wait_for_count(1, 5s));
	EXPECT_GE(probe.last_fire - armed, 30ms);
	EXPECT_NE(probe.fired_on, std::this_thread::get_id());
	std::this_thread::sleep_for(100ms);
	EXPECT_EQ(probe.count(), 1); // one-shot: no second firing
	ops.timer_free(timer);
}

TEST(Timer, RearmingReplacesTheEarlierExpiry)
{
	Probe probe;
	lkl_timer *timer = ops.timer_alloc(Probe::callback, &probe);
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(20ms).count());
	const auto rearmed = Clock::now();
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(300ms).count());
	EXPECT_FALSE(probe.wait_for_count(1, 150ms)); // the 20 ms expiry is gone
	ASSERT_TRUE(probe.wait_for_count(1, 5s));
	EXPECT_GE(probe.last_fire - rearmed, 300ms);
	std::this_thread::sleep_for(50ms);
	EXPECT_EQ(probe.count(), 1);
	ops.timer_free(timer);
}

TEST(Timer, EarlierRearmIsHonoured)
{
	// The worker sleeps until the first expiry; a sooner one must wake it.
	Probe probe;
	lkl_timer *timer = ops.timer_alloc(Probe::callback, &probe);
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(10s).count());
	std::this_thread::sleep_for(20ms); // let the worker go to sleep
	const auto rearmed = Clock::now();
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(20ms).count());
	ASSERT_TRUE(probe.wait_for_count(1, 2s));
	EXPECT_GE(probe.last_fire - rearmed, 20ms);
	ops.timer_free(timer);
}

TEST(Timer, FreeWhileArmedNeverRuns)
{
	// A second, later timer keeps the timer thread busy past the first
	// expiry, so the freed one would have had its chance to fire.
	Probe probe, keeper_probe;
	lkl_timer *keeper = ops.timer_alloc(Probe::callback, &keeper_probe);
	ops.timer_set_oneshot(keeper, std::chrono::nanoseconds(150ms).count());
	lkl_timer *timer = ops.timer_alloc(Probe::callback, &probe);
	ops.timer_set_oneshot(timer, std::chrono::nanoseconds(50ms).count());
	ops.timer_free(timer);
	ASSERT_TRUE(keeper_probe.wait_for_count(1, 5s));
	EXPECT_EQ(probe.count(), 0);
	ops.timer_free(keeper);
}

TEST(Timer, ManyTimersFireInDeadlineOrder)
{
	std::mutex mutex;
	std::vector<int> order;
	struct Slot {
		int id;
		std::mutex *mutex;
		std::vector<int> *order;
	};
	std::vector<Slot> slots;
	for (int i = 0; i < 5; ++i)
		slots.push_back({i, &mutex, &order});
	auto record = [](void *arg) {
		auto *slot = static_cast<Slot *>(arg);
		std::lock_guard lock(*slot->mutex);
		slot->order->push_back(slot->id);
	};
	std::vector<lkl_timer *> timers;
	for (auto &slot : slots)
		timers.push_back(ops.timer_alloc(record, &slot));
	// Armed in scrambled order, 30 ms apart.
	const int delays[] = {4, 1, 3, 0, 2};
	for (int i = 0; i < 5; ++i)
		ops.timer_set_oneshot(timers[i],
				      std::chrono::nanoseconds(30ms).count() * (delays[i] + 1));
	std::this_thread::sleep_for(400ms);
	for (auto *timer : timers)
		ops.timer_free(timer);
	EXPECT_EQ(order, (std::vector<int>{3, 1, 4, 2, 0}));
}

struct Rearming {
	lkl_timer *timer = nullptr;
	Probe probe;
};

void rearm_three_times(void *arg)
{
	auto *state = static_cast<Rearming *>(arg);
	Probe::callback(&state->probe);
	if (state->probe.count() < 3)
		ops.timer_set_oneshot(state->timer, std::chrono::nanoseconds(5ms).count());
}

TEST(Timer, CallbackMayRearmItsOwnTimer)
{
	Rearming state;
	state.timer = ops.timer_alloc(rearm_three_times, &state);
	ops.timer_set_oneshot(state.timer, std::chrono::nanoseconds(5ms).count());
	ASSERT_TRUE(state.probe.wait_for_count(3, 5s));
	std::this_thread::sleep_for(50ms);
	EXPECT_EQ(state.probe.count(), 3);
	ops.timer_free(state.timer);
}

struct Slow {
	std::atomic<bool> started{false};
	std::atomic<bool> finished{false};
};

void slow_callback(void *arg)
{
	auto *slow = static_cast<Slow *>(arg);
	slow->started = true;
	std::this_thread::sleep_for(100ms);
	slow->finished = true;
}

TEST(Timer, FreeWaitsForARunningCallback)
{
	// Another live timer, so that freeing this one does not also stop
	// (and join) the timer thread, which would hide a missing wait.
	Probe idle;
	lkl_timer *keeper = ops.timer_alloc(Probe::callback, &idle);
	Slow slow;
	lkl_timer *timer = ops.timer_alloc(slow_callback, &slow);
	ops.timer_set_oneshot(timer, 0);
	while (!slow.started)
		std::this_thread::yield();
	ops.timer_free(timer);
	EXPECT_TRUE(slow.finished.load());
	ops.timer_free(keeper);
}

struct SelfFreeing {
	lkl_timer *timer = nullptr;
	std::atomic<bool> done{false};
};

void free_own_timer(void *arg)
{
	auto *state = static_cast<SelfFreeing *>(arg);
	ops.timer_free(state->timer); // must neither deadlock nor crash
	state->done = true;
}

TEST(Timer, CallbackMayFreeItsOwnTimer)
{
	const int before = thread_count();
	SelfFreeing state;
	state.timer = ops.timer_alloc(free_own_timer, &state);
	ops.timer_set_oneshot(state.timer, 0);
	const auto limit = Clock::now() + 5s;
	while (!state.done && Clock::now() < limit)
		std::this_thread::sleep_for(1ms);
	ASSERT_TRUE(state.done.load());
	// The worker, retired from inside its callback, exits on its own.
	EXPECT_EQ(settled_thread_count(before), before);
}

TEST(Timer, LastFreeStopsTheTimerThread)
{
	const int before = thread_count();
	Probe probe;
	lkl_timer *a = ops.timer_alloc(Probe::callback, &probe);
	lkl_timer *b = ops.timer_alloc(Probe::callback, &probe);
	EXPECT_EQ(thread_count(), before + 1); // one thread for all timers
	ops.timer_set_oneshot(a, 0);
	ASSERT_TRUE(probe.wait_for_count(1, 5s));
	ops.timer_free(a);
	EXPECT_EQ(thread_count(), before + 1); // b still needs it
	ops.timer_free(b);
	EXPECT_EQ(settled_thread_count(before), before);

	// And it comes back for the next timer.
	lkl_timer *c = ops.timer_alloc(Probe::callback, &probe);
	ops.timer_set_oneshot(c, 0);
	EXPECT_TRUE(probe.wait_for_count(2, 5s));
	ops.timer_free(c);
	EXPECT_EQ(settled_thread_count(before), before);
}

// ------------------------------------------------- TLS, memory, clock, console

std::atomic<int> tls_destroyed{0};
std::atomic<void *> tls_destroyed_value{nullptr};

void tls_destructor(void *value)
{
	tls_destroyed_value = value;
	++tls_destroyed;
}

TEST(Tls, ValuesArePerThreadAndDestructorRunsAtExit)
{
	const int key = ops.tls_alloc(tls_destructor);
	ASSERT_GE(key, 0);
	int mine = 1, theirs = 2;
	ops.tls_set(key, &mine);
	void *seen_there = &mine;
	std::thread([&] {
		seen_there = ops.tls_get(key);
		ops.tls_set(key, &theirs);
	}).join();
	EXPECT_EQ(seen_there, nullptr);
	EXPECT_EQ(ops.tls_get(key), &mine);
	EXPECT_EQ(tls_destroyed.load(), 1);
	EXPECT_EQ(tls_destroyed_value.load(), &theirs);

	// No value set: no destructor call.
	std::thread([] {}).join();
	EXPECT_EQ(tls_destroyed.load(), 1);
	ops.tls_set(key, nullptr);
	ops.tls_free(key);
}

// The LazyFree kB of the mapping that holds @addr (/proc/self/smaps), or
// -1 if no mapping holds it.
static long lazy_free_kib(const void *addr)
{
	const auto a = reinterpret_cast<std::uintptr_t>(addr);
	std::ifstream smaps("/proc/self/smaps");
	std::string line;
	bool inside = false;
	while (std::getline(smaps, line)) {
		unsigned long start, end;
		if (std::sscanf(line.c_str(), "%lx-%lx ", &start, &end) == 2 &&
		    line.find(':') > line.find(' ')) {
			inside = start <= a && a < end;
			continue;
		}
		long kib;
		if (inside && std::sscanf(line.c_str(), "LazyFree: %ld kB", &kib) == 1)
			return kib;
	}
	return -1;
}

// A released pool is kept, one at a time, for the next pool of its size
// (the next boot): its pages go back to the host lazily (MADV_FREE), the
// mapping stays. A second one released meanwhile is unmapped.
TEST(Memory, PoolIsPageAlignedWritableAndReleasable)
{
	constexpr unsigned long size = 64UL << 20;
	void *pool = ops.pool_reserve(size);
	ASSERT_NE(pool, nullptr);
	const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
	EXPECT_EQ(reinterpret_cast<std::uintptr_t>(pool) % page, 0U);
	auto *bytes = static_cast<unsigned char *>(pool);
	bytes[0] = 1;
	bytes[size - 1] = 2;
	EXPECT_EQ(bytes[0] + bytes[size - 1], 3);
	EXPECT_EQ(lazy_free_kib(pool), 0);
	ops.pool_release(pool, size);
	EXPECT_GT(lazy_free_kib(pool), 0) << "released pages not given back";

	EXPECT_EQ(ops.pool_reserve(size), pool);
	void *other = ops.pool_reserve(size);
	ASSERT_NE(other, nullptr);
	EXPECT_NE(other, pool);
	ops.pool_release(pool, size);
	ops.pool_release(other, size);
	// Unmapped: mincore() fails with ENOMEM on a hole.
	unsigned char vec;
	EXPECT_EQ(::mincore(other, page, &vec), -1);
	// Take the kept one back and unmap it: the next run starts afresh.
	EXPECT_EQ(ops.pool_reserve(size), pool);
	::munmap(pool, size);
	EXPECT_EQ(ops.pool_reserve(0), nullptr);
	EXPECT_EQ(ops.pool_reserve(~0UL), nullptr);

	void *small = ops.mem_alloc(100);
	ASSERT_NE(small, nullptr);
	std::memset(small, 0xa5, 100);
	ops.mem_free(small);
}

// The kernel's memcpy: small copies go to libc, large ones may take the
// CPU's string instruction; both must copy exactly, at any alignment,
// and return the destination.
TEST(Memory, CopyIsExactAtEverySizeAndAlignment)
{
	constexpr size_t max = (2 << 20) + 64;
	std::vector<unsigned char> src(max), dst(max + 64);
	for (size_t i = 0; i < max; i++)
		src[i] = static_cast<unsigned char>(i * 131 + (i >> 9));
	for (size_t size : { 0UL, 1UL, 63UL, 4096UL, 65535UL, 65536UL, 65537UL,
			     1UL << 20, (1UL << 20) + 13, 2UL << 20 }) {
		for (size_t src_off : { 0UL, 3UL, 64UL }) {
			for (size_t dst_off : { 0UL, 16UL, 61UL }) {
				std::fill(dst.begin(), dst.end(), 0xee);
				void *ret = ops.memcpy(dst.data() + dst_off,
						       src.data() + src_off, size);
				ASSERT_EQ(ret, dst.data() + dst_off);
				ASSERT_EQ(std::memcmp(dst.data() + dst_off,
						      src.data() + src_off, size), 0)
					<< size << " " << src_off << " " << dst_off;
				// Nothing before or after the destination touched.
				for (size_t i = 0; i < dst_off; i++)
					ASSERT_EQ(dst[i], 0xee);
				ASSERT_EQ(dst[dst_off + size], 0xee) << size;
			}
		}
	}
}

TEST(Clock, MonotonicAndRealtimeTrackTheHostClocks)
{
	const unsigned long long a = ops.time();
	std::this_thread::sleep_for(10ms);
	const unsigned long long b = ops.time();
	EXPECT_GE(b - a, 10'000'000ULL);
	EXPECT_LT(b - a, 10'000'000'000ULL);

	const auto sys = std::chrono::duration_cast<std::chrono::nanoseconds>(
				 std::chrono::system_clock::now().time_since_epoch())
				 .count();
	const long long diff = static_cast<long long>(ops.realtime_ns()) - sys;
	EXPECT_LT(std::llabs(diff), 1'000'000'000LL);
}

TEST(Console, PrintWritesExactlyLenBytesToStderr)
{
	testing::internal::CaptureStderr();
	ops.print("hello, kernel log!", 13); // not NUL-terminated at 13
	const std::string out = testing::internal::GetCapturedStderr();
	EXPECT_EQ(out, "hello, kernel");
}

TEST(ConsoleDeathTest, DefaultPanicAborts)
{
	EXPECT_EXIT(ops.panic(), testing::KilledBySignal(SIGABRT), "");
}

} // namespace
