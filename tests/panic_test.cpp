// A kernel panic or BUG() with a panic handler that returns: the handler
// runs on the thread that ran the failing code, can read the kernel's last
// messages, and afterwards every system call fails with -ENODEV until
// lkl_sys_halt() releases the dead kernel; then a fresh one boots.
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::atomic<int> panics{0};
std::string last_messages;
std::thread::id panicked_on;

void on_panic()
{
	static char buf[8192];
	long len = lkl_kernel_messages(buf, sizeof(buf));
	last_messages = len >= 0 ? std::string(buf, static_cast<size_t>(len))
				 : "lkl_kernel_messages: " + std::to_string(len);
	panicked_on = std::this_thread::get_id();
	panics++;
}

class Panic : public ::testing::Test {
protected:
	void SetUp() override
	{
		panics = 0;
		last_messages.clear();
		lkl_host_ops.panic = on_panic;
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
	}

	// The kernel is dead but the program lives on, and boots again.
	void expect_stopped_then_reboot()
	{
		EXPECT_EQ(panics.load(), 1);
		EXPECT_FALSE(lkl_is_running());
		EXPECT_EQ(lkl_sys_getpid(), -LKL_ENODEV);
		// The log stays readable until the kernel is released.
		char buf[256];
		EXPECT_GT(lkl_kernel_messages(buf, sizeof(buf)), 0);
		EXPECT_EQ(lkl_sys_halt(), 0);
		EXPECT_EQ(lkl_kernel_messages(buf, sizeof(buf)), -LKL_ENODEV);
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
		EXPECT_EQ(lkl_sys_getpid(), 1);
		EXPECT_EQ(lkl_sys_halt(), 0);
		lkl_cleanup();
	}
};

} // namespace

TEST_F(Panic, FromASystemCall)
{
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_PANIC, 0), -LKL_ENODEV);
	EXPECT_EQ(panicked_on, std::this_thread::get_id());
	EXPECT_NE(last_messages.find("Kernel panic - not syncing: lkl_debug: "
				     "panic on request"),
		  std::string::npos)
		<< last_messages;
	expect_stopped_then_reboot();
}

TEST_F(Panic, FromBug)
{
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_BUG, 0), -LKL_ENODEV);
	EXPECT_NE(last_messages.find("BUG: failure at"), std::string::npos)
		<< last_messages;
	expect_stopped_then_reboot();
}

// The BUG() is in a timer callback, run as a softirq on the stack of
// whichever host thread delivers the timer interrupt (not the caller's):
// that thread gets its stack back, and the caller's waiting call fails.
TEST_F(Panic, FromSoftirqOnAnotherThread)
{
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_BUG_IN_SOFTIRQ, 0), -LKL_ENODEV);
	EXPECT_NE(last_messages.find("BUG: failure at"), std::string::npos)
		<< last_messages;
	expect_stopped_then_reboot();
}

// Other threads' calls, waiting in the kernel when it dies, return too.
TEST_F(Panic, WaitingCallsReturn)
{
	long pipe_fds[2];
	int fds[2];
	ASSERT_EQ(lkl_sys_pipe2(fds, 0), 0);
	pipe_fds[0] = fds[0];
	pipe_fds[1] = fds[1];
	std::atomic<long> read_result{1};
	std::thread reader([&] {
		char c;
		read_result = lkl_sys_read(static_cast<int>(pipe_fds[0]), &c, 1);
	});
	std::this_thread::sleep_for(50ms);
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_PANIC, 0), -LKL_ENODEV);
	reader.join();
	EXPECT_EQ(read_result.load(), -LKL_ENODEV);
	expect_stopped_then_reboot();
}
