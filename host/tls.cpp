// Host thread-local storage on pthread keys, whose destructors run when a
// host thread exits: that is how a thread's kernel task gets released.

#include <lkl_host.h>

#include <pthread.h>

#include <climits>

#include "internal.hpp"

namespace {
namespace tls {

int alloc(void (*destructor)(void *)) noexcept
{
	pthread_key_t key;
	if (::pthread_key_create(&key, destructor) != 0)
		return -1;
	// The interface hands keys out as non-negative ints.
	if (key > static_cast<pthread_key_t>(INT_MAX)) {
		::pthread_key_delete(key);
		return -1;
	}
	return static_cast<int>(key);
}

void release(int key) noexcept
{
	::pthread_key_delete(static_cast<pthread_key_t>(key));
}

void set(int key, void *data) noexcept
{
	::pthread_setspecific(static_cast<pthread_key_t>(key), data);
}

void *get(int key) noexcept
{
	return ::pthread_getspecific(static_cast<pthread_key_t>(key));
}

} // namespace tls
} // namespace
