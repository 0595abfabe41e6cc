// Bad input gives errors, never crashes: before boot, during, after halt.
// One sequential test, since boot and halt happen once per process.
#include "test_util.hpp"

#include <gtest/gtest.h>

TEST(Errors, BeforeBootDuringAndAfterHalt)
{
	ASSERT_FALSE(lkl_is_running());
	EXPECT_LT(lkl_sys_getpid(), 0);
	long params[6] = {};
	EXPECT_LT(lkl_syscall(__lkl__NR_getpid, params), 0);

	ASSERT_EQ(lkl_test::boot(), 0);
	ASSERT_TRUE(lkl_is_running());

	struct lkl_stat st;
	EXPECT_EQ(lkl_sys_stat("/no/such/file", &st), -LKL_ENOENT);
	EXPECT_EQ(lkl_sys_open("/missing", LKL_O_RDONLY, 0), -LKL_ENOENT);
	EXPECT_EQ(lkl_sys_close(12345), -LKL_EBADF);
	char c;
	EXPECT_EQ(lkl_sys_read(-1, &c, 1), -LKL_EBADF);
	EXPECT_EQ(lkl_syscall(100000, params), -LKL_ENOSYS);
	EXPECT_EQ(lkl_syscall(-1, params), -LKL_ENOSYS);
	EXPECT_STREQ(lkl_strerror(-LKL_ENOENT), lkl_strerror(LKL_ENOENT));

	EXPECT_EQ(lkl_sys_halt(), 0);
	EXPECT_FALSE(lkl_is_running());
	EXPECT_LT(lkl_sys_getpid(), 0);
	EXPECT_LT(lkl_sys_halt(), 0);
	lkl_cleanup();
}
