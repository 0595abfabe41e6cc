// Booting again in the same process: lkl_sys_halt() then lkl_start_kernel()
// gives a fresh kernel, with its data as before the first boot, and each
// life releases everything it took from the host (threads, descriptors,
// mappings, memory). LKL_REBOOT_CYCLES sets the number of cycles of the
// long test (the "stress" run uses 10,000).
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

using namespace std::chrono_literals;

namespace {

long count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	long n = 0;
	while (struct dirent *e = readdir(d))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

// What the process holds of the host.
struct Usage {
	long threads, fds, maps;
	long rss_kib;

	static Usage now()
	{
		Usage u;
		u.threads = count_entries("/proc/self/task");
		// opendir's own descriptor is counted: the same every time.
		u.fds = count_entries("/proc/self/fd");
		std::ifstream maps("/proc/self/maps");
		std::string line;
		u.maps = 0;
		while (std::getline(maps, line))
			u.maps++;
		long pages = 0, resident = 0;
		std::ifstream("/proc/self/statm") >> pages >> resident;
		u.rss_kib = resident * (sysconf(_SC_PAGESIZE) / 1024);
		return u;
	}
};

std::string hostname()
{
	struct lkl_new_utsname uts = {};
	if (lkl_sys_uname(&uts) < 0)
		return "?";
	return uts.nodename;
}

unsigned long cycles()
{
	const char *env = getenv("LKL_REBOOT_CYCLES");
	return env ? strtoul(env, nullptr, 10) : 200;
}

} // namespace

// What one life changes, the next one does not see: the kernel's data is
// back to what it was before the first boot, not just re-initialized.
TEST(Reboot, EachLifeStartsFromPristineData)
{
	for (int life = 0; life < 3; life++) {
		SCOPED_TRACE("life " + std::to_string(life));
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
		EXPECT_EQ(lkl_sys_getpid(), 1);
		EXPECT_EQ(hostname(), "lkl");
		// Upstream's convention, kept in each life: the first open is 0.
		long fd = lkl_sys_open("/", LKL_O_RDONLY, 0);
		EXPECT_EQ(fd, 0);
		lkl_sys_close(fd);
		struct lkl_stat st;
		EXPECT_EQ(lkl_sys_stat("/left-by-last-life", &st), -LKL_ENOENT);

		char name[] = "changed";
		ASSERT_EQ(lkl_sys_sethostname(name, sizeof(name) - 1), 0);
		fd = lkl_sys_open("/left-by-last-life", LKL_O_CREAT | LKL_O_WRONLY,
				  0644);
		ASSERT_GE(fd, 0);
		lkl_sys_close(fd);
		ASSERT_EQ(lkl_sys_halt(), 0);
		EXPECT_FALSE(lkl_is_running());
		EXPECT_EQ(lkl_sys_getpid(), -LKL_ENODEV);
	}
	lkl_cleanup();
}

// A file written to a disk image in one life is read back in the next,
// with each life's own mount: the image, not the kernel, keeps it.
TEST(Reboot, MountInEachLife)
{
	if (!lkl_test::have("mkfs.xfs"))
		GTEST_SKIP() << "mkfs.xfs not installed";
	lkl_test::Image image(512ULL << 20);
	ASSERT_EQ(image.format("mkfs.xfs -q -f"), "");
	const std::string text = "written in life ";

	for (int life = 0; life < 3; life++) {
		SCOPED_TRACE("life " + std::to_string(life));
		ASSERT_EQ(lkl_test::boot("mem=64M"), 0);
		{
			lkl_test::Mounted mnt(image.path(), "xfs");
			ASSERT_EQ(mnt.error(), 0);
			std::string path = mnt.path("life");
			if (life > 0) {
				long fd = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
				ASSERT_GE(fd, 0);
				char buf[64] = {};
				EXPECT_GT(lkl_test::read_all(fd, buf, sizeof(buf) - 1), 0);
				EXPECT_EQ(std::string(buf),
					  text + std::to_string(life - 1));
				lkl_sys_close(fd);
			}
			long fd = lkl_sys_open(path.c_str(),
					       LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC,
					       0644);
			ASSERT_GE(fd, 0);
			std::string line = text + std::to_string(life);
			EXPECT_EQ(lkl_test::write_all(fd, line.data(), line.size()),
				  (long)line.size());
			lkl_sys_close(fd);
			EXPECT_EQ(mnt.release(), 0);
		}
		ASSERT_EQ(lkl_sys_halt(), 0);
	}
	lkl_cleanup();
	std::string out;
	EXPECT_EQ(lkl_test::run("xfs_repair -n " + image.path() + " 2>&1", &out), 0)
		<< out;
}

// Many lives, each mounting XFS and ext4: the process ends with the
// threads, descriptors and mappings it had after the first few, and its
// resident memory does not grow.
TEST(Reboot, ManyCyclesReleaseEverything)
{
	if (!lkl_test::have("mkfs.xfs") || !lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.xfs or mkfs.ext4 not installed";
	lkl_test::Image xfs(512ULL << 20, "xfs.img"), ext4(64ULL << 20, "ext4.img");
	ASSERT_EQ(xfs.format("mkfs.xfs -q -f"), "");
	ASSERT_EQ(ext4.format("mkfs.ext4 -q -F"), "");

	const unsigned long n = cycles();
	const unsigned long warmup = 10;
	Usage before{}, middle{};
	double reboot_ms = 0;
	for (unsigned long i = 0; i < n + warmup; i++) {
		if (i == warmup)
			before = Usage::now();
		if (i == warmup + n / 2)
			middle = Usage::now();
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0) << "cycle " << i;
		{
			bool x = i % 2;
			lkl_test::Mounted mnt(x ? xfs.path() : ext4.path(),
					      x ? "xfs" : "ext4");
			ASSERT_EQ(mnt.error(), 0) << "cycle " << i;
			struct lkl_stat st;
			ASSERT_EQ(lkl_sys_stat(mnt.path().c_str(), &st), 0);
			ASSERT_EQ(mnt.release(), 0);
		}
		auto start = std::chrono::steady_clock::now();
		ASSERT_EQ(lkl_sys_halt(), 0) << "cycle " << i;
		if (i >= warmup)
			reboot_ms += std::chrono::duration<double, std::milli>(
					     std::chrono::steady_clock::now() - start)
					     .count();
	}
	lkl_cleanup();
	Usage after = Usage::now();
	printf("%lu cycles: halt and release %.3f ms each; RSS %ld -> %ld -> "
	       "%ld KiB, threads %ld -> %ld, fds %ld -> %ld, maps %ld -> %ld\n",
	       n, reboot_ms / n, before.rss_kib, middle.rss_kib, after.rss_kib,
	       before.threads, after.threads, before.fds, after.fds, before.maps,
	       after.maps);
	EXPECT_EQ(after.threads, before.threads);
	EXPECT_EQ(after.fds, before.fds);
	// malloc may map an arena or two more; a leaked stack per life would
	// be hundreds.
	EXPECT_LE(after.maps, before.maps + 4);
	// The second half of the run must not add what a leak of a few
	// kilobytes per life would (the first half warms malloc up).
	EXPECT_LE(after.rss_kib, middle.rss_kib + 2048);
}

// Halting without unmounting is a crash, and the next life's mount
// recovers the log. Files held open after unlink sit on the inode
// unlinked lists, whose inode clusters the log holds as buffers; inode
// recovery then reads the same clusters mapped (patches/0005 makes such a
// buffer one block then). The image must come out clean.
TEST(Reboot, HaltWithoutUnmountIsACrash)
{
	if (!lkl_test::have("mkfs.xfs"))
		GTEST_SKIP() << "mkfs.xfs not installed";
	lkl_test::Image image(512ULL << 20);
	ASSERT_EQ(image.format("mkfs.xfs -q -f"), "");

	ASSERT_EQ(lkl_test::boot("mem=64M"), 0);
	{
		lkl_test::Mounted mnt(image.path(), "xfs");
		ASSERT_EQ(mnt.error(), 0);
		for (int i = 0; i < 3000; i++) {
			std::string path = mnt.path("f" + std::to_string(i));
			long fd = lkl_sys_open(path.c_str(),
					       LKL_O_CREAT | LKL_O_WRONLY, 0644);
			ASSERT_GE(fd, 0);
			EXPECT_EQ(lkl_sys_write(fd, "x", 1), 1);
			if (i % 3 == 0)
				EXPECT_EQ(lkl_sys_fsync(fd), 0);
			lkl_sys_close(fd);
		}
		// 800 held open: within the default limit of 1,024 descriptors.
		for (int i = 0; i < 1600; i += 2) {
			std::string path = mnt.path("f" + std::to_string(i));
			ASSERT_GE(lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0), 0);
			ASSERT_EQ(lkl_sys_unlink(path.c_str()), 0);
		}
		// A change to f1 after the unlinks: its fsync forces the log
		// up to it, so the unlinks too.
		long fd = lkl_sys_open(mnt.path("f1").c_str(), LKL_O_WRONLY, 0);
		ASSERT_EQ(lkl_sys_write(fd, "y", 1), 1);
		ASSERT_EQ(lkl_sys_fsync(fd), 0);
		// The crash: no unmount, no sync.
		ASSERT_EQ(lkl_sys_halt(), 0);
	}

	ASSERT_EQ(lkl_test::boot("mem=64M"), 0);
	{
		lkl_test::Mounted mnt(image.path(), "xfs");
		ASSERT_EQ(mnt.error(), 0) << lkl_test::kernel_log();
		struct lkl_stat st;
		// Synced before the crash: there; unlinked (and synced by the
		// last fsync's log force): gone.
		EXPECT_EQ(lkl_sys_stat(mnt.path("f3").c_str(), &st), 0);
		EXPECT_EQ(lkl_sys_stat(mnt.path("f2").c_str(), &st), -LKL_ENOENT);
		EXPECT_EQ(mnt.release(), 0);
	}
	ASSERT_EQ(lkl_sys_halt(), 0);
	lkl_cleanup();
	std::string out;
	EXPECT_EQ(lkl_test::run("xfs_repair -n " + image.path() + " 2>&1", &out), 0)
		<< out;
}
