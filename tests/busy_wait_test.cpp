// Kernel code that busy-waits cannot spin forever for lack of interrupts:
// with one lkl CPU and no preemption, the timer interrupt that moves
// jiffies only runs if the waiting loop lets it, from cpu_relax().
// lkl_debug(LKL_DEBUG_BUSY_WAIT_JIFFIES) is such a loop, in the shape the
// kernel uses (time_before(jiffies, end) around cpu_relax()), with nothing
// in it that sleeps or enables interrupts.
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>

using namespace std::chrono_literals;

namespace {

// The call on another thread; a hang fails the test and ends the process
// (the spinning thread holds the kernel, which can then never halt).
long call_or_die(unsigned int cmd, unsigned long arg)
{
	auto call = std::async(std::launch::async, [=] {
		return lkl_sys_lkl_debug(cmd, arg);
	});
	if (call.wait_for(20s) != std::future_status::ready) {
		fprintf(stderr, "lkl_debug(%u, %lu) still spinning after 20 s\n",
			cmd, arg);
		std::_Exit(3);
	}
	return call.get();
}

} // namespace

TEST(BusyWait, OnJiffiesReturns)
{
	ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
	// HZ is 100: 50 jiffies is half a second.
	auto start = std::chrono::steady_clock::now();
	long moved = call_or_die(LKL_DEBUG_BUSY_WAIT_JIFFIES, 50);
	auto took = std::chrono::steady_clock::now() - start;
	EXPECT_GE(moved, 50);
	EXPECT_GE(took, 400ms);
	EXPECT_EQ(lkl_sys_lkl_debug(0, 0), -LKL_EINVAL);
	EXPECT_EQ(lkl_sys_halt(), 0);
	lkl_cleanup();
}
