// Host clocks, in nanoseconds.

#include <lkl_host.h>

#include <time.h>

#include "internal.hpp"

namespace {
namespace clocks {

unsigned long long read_ns(clockid_t id) noexcept
{
	timespec now{};
	::clock_gettime(id, &now);
	return static_cast<unsigned long long>(now.tv_sec) * 1'000'000'000ULL +
	       static_cast<unsigned long long>(now.tv_nsec);
}

unsigned long long monotonic_ns() noexcept
{
	return read_ns(CLOCK_MONOTONIC);
}

unsigned long long realtime_ns() noexcept
{
	return read_ns(CLOCK_REALTIME);
}

} // namespace clocks
} // namespace
