// Many small files into a small kernel memory: the file system's caches
// fill it, and the kernel must reclaim them as it goes. It used to wait
// instead until a periodic timer (XFS's 30-second log worker) freed some:
// a copy of 40,000 empty files took 0.7 s or 30 s, and here 20,000 files
// into XFS with mem=32M took 30 or 60 s in some runs, because XFS kept
// more dirty inodes than memory could hold (patches/0006). Each run boots
// a fresh kernel and creates files the way cptofs does (create, chown,
// close). The peer is the same copy with memory to spare (mem=256M): no
// run under pressure may take much longer than the peer's median or its
// own. The bound is loose (five times, plus two seconds for a busy
// machine): it catches a stall, not a slowdown.
// LKL_MEMORY_PRESSURE_RUNS sets the number of runs under pressure (default
// 5), for a longer soak.
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Case {
	const char *fstype;
	const char *mkfs;
	unsigned long long image_size;
	int files;
};

// Seconds to create @files empty files in a fresh kernel.
double one_run(const Case &c, const std::string &image, const char *cmdline)
{
	EXPECT_EQ(lkl_test::boot(cmdline), 0);
	double seconds = -1;
	{
		lkl_test::Mounted mnt(image, c.fstype);
		EXPECT_EQ(mnt.error(), 0);
		if (mnt.error())
			return -1;
		std::string dir = mnt.path("d");
		EXPECT_EQ(lkl_sys_mkdir(dir.c_str(), 0755), 0);
		auto start = std::chrono::steady_clock::now();
		for (int i = 0; i < c.files; i++) {
			std::string path = dir + "/" + std::to_string(i);
			long fd = lkl_sys_open(path.c_str(),
					       LKL_O_CREAT | LKL_O_EXCL | LKL_O_WRONLY,
					       0644);
			if (fd < 0) {
				ADD_FAILURE() << path << ": " << lkl_strerror((int)fd);
				break;
			}
			lkl_sys_fchown((unsigned int)fd, 1000, 1000);
			lkl_sys_close((unsigned int)fd);
		}
		seconds = std::chrono::duration<double>(
				  std::chrono::steady_clock::now() - start)
				  .count();
		EXPECT_EQ(mnt.release(), 0);
	}
	EXPECT_EQ(lkl_sys_halt(), 0);
	return seconds;
}

// Seconds of each of @n runs with @cmdline, each on a fresh image that
// must come out clean.
std::vector<double> runs(const Case &c, const char *cmdline, int n)
{
	std::vector<double> seconds;
	for (int run = 0; run < n; run++) {
		lkl_test::Image image(c.image_size);
		EXPECT_EQ(image.format(c.mkfs), "");
		double s = one_run(c, image.path(), cmdline);
		EXPECT_GE(s, 0);
		seconds.push_back(s);
		std::string out;
		EXPECT_EQ(lkl_test::run((std::string(c.fstype) == "xfs"
						 ? "xfs_repair -n "
						 : "e2fsck -fn ") +
						image.path() + " 2>&1",
					&out),
			  0)
			<< out;
	}
	return seconds;
}

int pressed_runs()
{
	const char *env = getenv("LKL_MEMORY_PRESSURE_RUNS");
	return env ? std::max(1, atoi(env)) : 5;
}

double median(std::vector<double> seconds)
{
	std::sort(seconds.begin(), seconds.end());
	return seconds[seconds.size() / 2];
}

std::string list(const std::vector<double> &seconds)
{
	std::string all;
	for (double s : seconds)
		all += " " + std::to_string(s);
	return all;
}

void no_stalls(const Case &c)
{
	std::string mkfs = std::string(c.mkfs).substr(0, std::string(c.mkfs).find(' '));
	if (!lkl_test::have(mkfs.c_str()))
		GTEST_SKIP() << mkfs << " not installed";
	std::vector<double> spare = runs(c, "mem=256M", 3);
	std::vector<double> pressed = runs(c, "mem=32M", pressed_runs());
	lkl_cleanup();
	double spare_median = median(spare);
	double pressed_median = median(pressed);
	printf("%s, %d files: runs (s) with mem=256M:%s; with mem=32M:%s\n",
	       c.fstype, c.files, list(spare).c_str(), list(pressed).c_str());
	for (double s : pressed) {
		EXPECT_LE(s, 5 * spare_median + 2.0)
			<< "mem=256M:" << list(spare) << "; mem=32M:" << list(pressed);
		EXPECT_LE(s, 5 * pressed_median + 2.0)
			<< "mem=32M:" << list(pressed);
	}
}

} // namespace

TEST(MemoryPressure, ManySmallFilesIntoXfs)
{
	no_stalls({"xfs", "mkfs.xfs -q -f", 1ULL << 30, 20000});
}

TEST(MemoryPressure, ManySmallFilesIntoExt4)
{
	no_stalls({"ext4", "mkfs.ext4 -q -F -N 40000", 256ULL << 20, 20000});
}
