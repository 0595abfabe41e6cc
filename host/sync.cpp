// Semaphores (struct lkl_sem) and mutexes (struct lkl_mutex) on futexes.
//
// Both are a 32-bit word that uncontended operations change with one
// atomic instruction; only a thread that must sleep, or wake a sleeper,
// makes a system call. A plain mutex tracks no owner: a kernel context may
// take a lock on one host thread and release it after being resumed on
// another, which pthread mutexes (and so std::mutex) do not allow. Only a
// recursive mutex, which programs ask for (upstream LKL's mutex_alloc(1)),
// records the host thread that holds it.

#include <lkl_host.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include "internal.hpp"

namespace {
namespace locking {

using Word = std::atomic<std::uint32_t>;
static_assert(sizeof(Word) == sizeof(std::uint32_t) && Word::is_always_lock_free,
	      "the kernel's futex calls operate on the atomic's storage");

// Sleeps while *word == expected. Returns early on a wake, a signal or a
// mismatch; callers re-check their condition in a loop.
void futex_wait(Word &word, std::uint32_t expected) noexcept
{
	::syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

void futex_wake(Word &word, int waiters) noexcept
{
	::syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, waiters, nullptr, nullptr, 0);
}

class Semaphore {
public:
	explicit Semaphore(std::uint32_t count) noexcept : count_(count) {}

	void up() noexcept
	{
		// seq_cst pairs with down(): either we see its waiter count, or
		// it sees our increment before it sleeps. No wake is lost.
		count_.fetch_add(1, std::memory_order_seq_cst);
		if (sleepers_.load(std::memory_order_seq_cst) != 0)
			futex_wake(count_, 1);
	}

	void down() noexcept
	{
		std::uint32_t count = count_.load(std::memory_order_relaxed);
		for (;;) {
			while (count != 0) {
				if (count_.compare_exchange_weak(count, count - 1,
								 std::memory_order_acquire,
								 std::memory_order_relaxed))
					return;
			}
			sleepers_.fetch_add(1, std::memory_order_seq_cst);
			futex_wait(count_, 0);
			sleepers_.fetch_sub(1, std::memory_order_relaxed);
			count = count_.load(std::memory_order_relaxed);
		}
	}

private:
	Word count_;
	Word sleepers_{0};
};

// The three-state futex mutex: 0 free, 1 locked, 2 locked with possible
// sleepers (so only then does unlock() make a system call).
class Mutex {
public:
	void lock() noexcept
	{
		std::uint32_t state = 0;
		if (state_.compare_exchange_strong(state, 1, std::memory_order_acquire,
						   std::memory_order_relaxed))
			return;
		if (state != 2)
			state = state_.exchange(2, std::memory_order_acquire);
		while (state != 0) {
			futex_wait(state_, 2);
			state = state_.exchange(2, std::memory_order_acquire);
		}
	}

	void unlock() noexcept
	{
		if (state_.exchange(0, std::memory_order_release) == 2)
			futex_wake(state_, 1);
	}

private:
	Word state_{0};
};

// A Mutex that, if recursive, its holder may lock again.
class HostMutex {
public:
	explicit HostMutex(bool recursive) noexcept : recursive_(recursive) {}

	void lock() noexcept
	{
		if (!recursive_) {
			mutex_.lock();
			return;
		}
		const pthread_t self = ::pthread_self();
		// Only the holder itself can have stored its own id here.
		if (held_.load(std::memory_order_relaxed) &&
		    ::pthread_equal(owner_.load(std::memory_order_relaxed), self)) {
			depth_++;
			return;
		}
		mutex_.lock();
		owner_.store(self, std::memory_order_relaxed);
		held_.store(true, std::memory_order_relaxed);
		depth_ = 1;
	}

	void unlock() noexcept
	{
		if (recursive_) {
			if (--depth_ != 0)
				return;
			held_.store(false, std::memory_order_relaxed);
		}
		mutex_.unlock();
	}

private:
	Mutex mutex_;
	const bool recursive_;
	std::atomic<bool> held_{false};
	std::atomic<pthread_t> owner_{};
	unsigned depth_ = 0;
};

lkl_sem *sem_alloc(int count) noexcept
{
	if (count < 0)
		return nullptr;
	return host::to_handle<lkl_sem>(host::try_make<Semaphore>(static_cast<std::uint32_t>(count)));
}

void sem_free(lkl_sem *sem) noexcept
{
	host::adopt_handle<Semaphore>(sem);
}

void sem_up(lkl_sem *sem) noexcept
{
	host::from_handle<Semaphore>(sem)->up();
}

void sem_down(lkl_sem *sem) noexcept
{
	host::from_handle<Semaphore>(sem)->down();
}

lkl_mutex *mutex_alloc(int recursive) noexcept
{
	return host::to_handle<lkl_mutex>(host::try_make<HostMutex>(recursive != 0));
}

void mutex_free(lkl_mutex *mutex) noexcept
{
	host::adopt_handle<HostMutex>(mutex);
}

void mutex_lock(lkl_mutex *mutex) noexcept
{
	host::from_handle<HostMutex>(mutex)->lock();
}

void mutex_unlock(lkl_mutex *mutex) noexcept
{
	host::from_handle<HostMutex>(mutex)->unlock();
}

} // namespace locking
} // namespace
