// Boot, identity, the kernel log, /proc and time.
#include "test_util.hpp"

#include <lkl/linux/random.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <string>

using lkl_test::kernel_log;

TEST(Boot, UnameReportsLinux61OnLkl)
{
	struct lkl_new_utsname uts;
	ASSERT_EQ(lkl_sys_uname(&uts), 0);
	EXPECT_STREQ(uts.sysname, "Linux");
	EXPECT_EQ(std::string(uts.release).rfind("6.1.", 0), 0u) << uts.release;
	EXPECT_STREQ(uts.machine, "lkl");
}

TEST(Boot, KernelLogReachesHostPrint)
{
	std::string log = kernel_log();
	EXPECT_NE(log.find("Linux version 6.1."), std::string::npos) << log;
}

TEST(Boot, ProcVersionIsReadable)
{
	long err = lkl_mount_fs(const_cast<char *>("proc"));
	ASSERT_EQ(err, 0) << lkl_strerror(err);
	int fd = lkl_sys_open("/proc/version", LKL_O_RDONLY, 0);
	ASSERT_GE(fd, 0) << lkl_strerror(fd);
	char buf[512] = {};
	long n = lkl_sys_read(fd, buf, sizeof(buf) - 1);
	ASSERT_GT(n, 0);
	EXPECT_EQ(std::string(buf).rfind("Linux version 6.1.", 0), 0u) << buf;
	EXPECT_EQ(lkl_sys_close(fd), 0);
}

// Seeded by the host at boot: random numbers without waiting, and no two
// boots alike.
TEST(Boot, RandomNumbersAreReadyAtOnce)
{
	unsigned char a[32] = {}, b[32] = {};
	ASSERT_EQ(lkl_sys_getrandom(reinterpret_cast<char *>(a), sizeof(a),
				    LKL_GRND_NONBLOCK), (long)sizeof(a));
	ASSERT_EQ(lkl_sys_getrandom(reinterpret_cast<char *>(b), sizeof(b),
				    LKL_GRND_NONBLOCK), (long)sizeof(b));
	EXPECT_NE(memcmp(a, b, sizeof(a)), 0);
}

TEST(Boot, RealtimeClockFollowsTheHost)
{
	struct __lkl__kernel_timespec ts;
	ASSERT_EQ(lkl_sys_clock_gettime(LKL_CLOCK_REALTIME, &ts), 0);
	struct timespec host;
	clock_gettime(CLOCK_REALTIME, &host);
	double diff = (double)(ts.tv_sec - host.tv_sec) +
		      (double)(ts.tv_nsec - host.tv_nsec) / 1e9;
	EXPECT_LT(diff < 0 ? -diff : diff, 1.0);
}

TEST(Boot, NanosleepSleepsTheRequestedTime)
{
	struct __lkl__kernel_timespec req = { 0, 10 * 1000 * 1000 };
	auto start = std::chrono::steady_clock::now();
	ASSERT_EQ(lkl_sys_nanosleep(&req, nullptr), 0);
	auto ms = std::chrono::duration<double, std::milli>(
		std::chrono::steady_clock::now() - start).count();
	EXPECT_GE(ms, 10.0);
	EXPECT_LT(ms, 200.0);
}

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment();
	return RUN_ALL_TESTS();
}
