// Plain host threads on pthreads: upstream LKL's thread_* host operations,
// which programs call directly (lkl_host_ops.thread_create(...)). The kernel
// runs on execution contexts (context.cpp) and never uses these.

#include <lkl_host.h>

#include <pthread.h>
#include <unistd.h>

#include <memory>

#include "internal.hpp"

namespace {
namespace threads {

static_assert(sizeof(pthread_t) <= sizeof(lkl_thread_t),
	      "a pthread_t is handed out as an lkl_thread_t");

struct Start {
	void (*fn)(void *);
	void *arg;
};

// Not noexcept, like exit_thread(): pthread_exit() unwinds this frame.
void *trampoline(void *start)
{
	const Start what = *host::adopt_handle<Start>(static_cast<Start *>(start));
	what.fn(what.arg);
	return nullptr;
}

lkl_thread_t create(void (*fn)(void *), void *arg) noexcept
{
	auto start = host::try_make<Start>(Start{fn, arg});
	if (!fn || !start)
		return 0;
	pthread_t thread;
	if (::pthread_create(&thread, nullptr, trampoline, start.get()) != 0)
		return 0;
	// The new thread owns it now.
	start.release();
	return static_cast<lkl_thread_t>(thread);
}

void detach() noexcept
{
	::pthread_detach(::pthread_self());
}

[[noreturn]] void exit_thread()
{
	::pthread_exit(nullptr);
}

int join(lkl_thread_t thread) noexcept
{
	return ::pthread_join(static_cast<pthread_t>(thread), nullptr) == 0 ? 0 : -1;
}

lkl_thread_t self() noexcept
{
	return static_cast<lkl_thread_t>(::pthread_self());
}

int equal(lkl_thread_t a, lkl_thread_t b) noexcept
{
	return ::pthread_equal(static_cast<pthread_t>(a), static_cast<pthread_t>(b));
}

long host_tid() noexcept
{
	return static_cast<long>(::gettid());
}

} // namespace threads
} // namespace
