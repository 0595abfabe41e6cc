// The tools stop when asked, even when the kernel is stuck, and a kernel
// panic is a clear failure: cptofs, cpfromfs and lklfuse given SIGTERM
// while their disk I/O hangs (a preloaded library, stall_io.c, makes it
// hang) exit within the grace period with 128 + 15 and say whether the image
// may need a repair; the shared helper (tools/emergency_exit.cpp) does the
// same for a kernel spinning in a loop, and turns a panic or BUG() into the
// kernel's last messages and exit status 3.
#include "emergency_exit.hpp"
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace std::chrono_literals;
using lkl_test::Image;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

std::string slurp(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream s;
	s << in.rdbuf();
	return s.str();
}

// A tool run in the background with stall_io preloaded, its stderr kept.
class Stalled {
public:
	Stalled(const std::vector<std::string> &args, const std::string &dir,
		const std::string &stall_reads, const std::string &stall_writes)
		: log_(dir + "/stderr")
	{
		pid_ = fork();
		if (pid_ == 0) {
			int fd = open(log_.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
			dup2(fd, 2);
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			setenv("LD_PRELOAD", STALL_IO_LIB, 1);
			setenv("LKL_STALL_READS_AFTER", stall_reads.c_str(), 1);
			setenv("LKL_STALL_WRITES_AFTER", stall_writes.c_str(), 1);
			setenv("LKL_STOP_GRACE", "1", 1);
			std::vector<const char *> argv;
			for (const auto &a : args)
				argv.push_back(a.c_str());
			argv.push_back(nullptr);
			execv(argv[0], const_cast<char **>(argv.data()));
			_exit(127);
		}
	}
	~Stalled()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
	}

	// SIGTERM, then the exit status, or -1 if still running after @limit.
	int stop(std::chrono::seconds limit)
	{
		kill(pid_, SIGTERM);
		auto deadline = std::chrono::steady_clock::now() + limit;
		while (std::chrono::steady_clock::now() < deadline) {
			int status;
			if (waitpid(pid_, &status, WNOHANG) == pid_) {
				pid_ = -1;
				return WIFEXITED(status) ? WEXITSTATUS(status)
							 : 128 + WTERMSIG(status);
			}
			std::this_thread::sleep_for(20ms);
		}
		return -1;
	}

	pid_t pid() const { return pid_; }
	std::string output() const { return slurp(log_); }

private:
	std::string log_;
	pid_t pid_ = -1;
};

std::string tempdir()
{
	char tmpl[] = "/tmp/emergency-exit-XXXXXX";
	return mkdtemp(tmpl) ? tmpl : "";
}

void write_big_file(const std::string &path, unsigned long long size)
{
	std::string chunk(MiB, 'x');
	std::ofstream out(path);
	for (unsigned long long done = 0; done < size; done += MiB)
		out << chunk;
}

// An ext4 image holding /big, @size bytes; "" or what went wrong.
std::string ext4_with_big_file(const Image &image, const std::string &dir,
			       unsigned long long size)
{
	std::string err = image.format("mkfs.ext4 -q -F");
	if (!err.empty())
		return err;
	write_big_file(dir + "/big", size);
	if (lkl_test::run(std::string(CPTOFS_BIN) + " -i " + image.path() + " " +
			  dir + "/big /"))
		return "cptofs failed";
	return "";
}

} // namespace

// cpfromfs reads a big file out of the image; the disk stops answering in
// the middle. The image was opened read-only, so it is unchanged.
TEST(StopSignals, CpfromfsWithHungDiskExitsAndTheImageIsUnchanged)
{
	if (!lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	std::string dir = tempdir();
	Image image(256 * MiB);
	ASSERT_EQ(ext4_with_big_file(image, dir, 64 * MiB), "");
	std::string before = image.sha256();

	Stalled tool({CPFROMFS_BIN, "-i", image.path(), "/big", dir + "/out"}, dir,
		     dir + "/stall", "/nonexistent");
	// Once the copy is under way, the disk hangs.
	struct stat st {};
	for (int i = 0; i < 500 && (stat((dir + "/out").c_str(), &st) || !st.st_size); i++)
		std::this_thread::sleep_for(10ms);
	ASSERT_GT(st.st_size, 0) << tool.output();
	std::ofstream(dir + "/stall");
	std::this_thread::sleep_for(300ms);

	EXPECT_EQ(tool.stop(10s), 128 + SIGTERM) << tool.output();
	std::string out = tool.output();
	EXPECT_NE(out.find("cpfromfs: Terminated: the kernel did not finish in time"),
		  std::string::npos)
		<< out;
	EXPECT_NE(out.find(image.path() + " was opened read-only and is unchanged"),
		  std::string::npos)
		<< out;
	EXPECT_EQ(image.sha256(), before);
	lkl_test::run("rm -rf " + dir);
}

// cptofs writes into the image and no write comes back: the image may be
// half written, and the message says so and how to check it.
TEST(StopSignals, CptofsWithHungDiskExitsAndSaysTheImageMayNeedARepair)
{
	if (!lkl_test::have("mkfs.xfs"))
		GTEST_SKIP() << "mkfs.xfs not installed";
	std::string dir = tempdir();
	Image image(512 * MiB);
	ASSERT_EQ(image.format("mkfs.xfs -q -f"), "");
	write_big_file(dir + "/big", 64 * MiB);
	std::ofstream(dir + "/stall");

	// Typed, so that the message can name the checker even if the
	// mount is what hangs.
	Stalled tool({CPTOFS_BIN, "-i", image.path(), "-t", "xfs", dir + "/big", "/"},
		     dir, "/nonexistent", dir + "/stall");
	std::this_thread::sleep_for(1s);
	EXPECT_EQ(tool.stop(10s), 128 + SIGTERM) << tool.output();
	std::string out = tool.output();
	EXPECT_NE(out.find("cptofs: Terminated: the kernel did not finish in time; "
			   "exiting without unmounting " + image.path()),
		  std::string::npos)
		<< out;
	EXPECT_NE(out.find("may need a repair before it is used again (xfs_repair " +
			   image.path() + ")"),
		  std::string::npos)
		<< out;
	lkl_test::run("rm -rf " + dir);
}

// lklfuse serves a read that never completes; SIGTERM unmounts FUSE and the
// stuck kernel call makes the orderly end impossible: it exits in time.
TEST(StopSignals, LklfuseWithHungDiskExits)
{
#ifndef LKLFUSE_PATH
	GTEST_SKIP() << "lklfuse is not built";
#else
	if (access("/dev/fuse", R_OK | W_OK) != 0 || !lkl_test::have("fusermount3"))
		GTEST_SKIP() << "no usable /dev/fuse or fusermount3";
	if (!lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	std::string dir = tempdir();
	Image image(256 * MiB);
	ASSERT_EQ(ext4_with_big_file(image, dir, 16 * MiB), "");
	std::string mnt = dir + "/mnt";
	mkdir(mnt.c_str(), 0755);
	Stalled tool({LKLFUSE_PATH, image.path(), mnt, "-f", "-o", "ro"}, dir,
		     dir + "/stall", "/nonexistent");
	struct statfs sf {};
	for (int i = 0; i < 500; i++) {
		if (statfs(mnt.c_str(), &sf) == 0 && sf.f_type == 0x65735546)
			break;
		std::this_thread::sleep_for(10ms);
	}
	ASSERT_EQ(sf.f_type, 0x65735546) << tool.output();
	std::ofstream(dir + "/stall");
	// A reader that the hung disk leaves waiting (FUSE ends it when
	// lklfuse exits).
	pid_t reader = fork();
	if (reader == 0) {
		int fd = open((mnt + "/big").c_str(), O_RDONLY);
		char buf[65536];
		while (fd >= 0 && read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(0);
	}
	std::this_thread::sleep_for(500ms);
	EXPECT_EQ(tool.stop(10s), 128 + SIGTERM) << tool.output();
	std::string out = tool.output();
	EXPECT_NE(out.find("lklfuse: Terminated: the kernel did not finish in time"),
		  std::string::npos)
		<< out;
	EXPECT_NE(out.find("was opened read-only and is unchanged"), std::string::npos)
		<< out;
	int status;
	waitpid(reader, &status, 0);
	lkl_test::run("fusermount3 -u " + mnt + " 2>/dev/null; rm -rf " + dir);
#endif
}

// A kernel that never leaves a loop: the helper's grace period ends the
// process, naming the image and what became of it.
TEST(StopSignalsDeathTest, KernelSpinningForEver)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
		{
			setenv("LKL_STOP_GRACE", "0.5", 1);
			lkl_tools::emergency_program("tool");
			lkl_tools::emergency_image("/some/disk.img", false);
			lkl_tools::emergency_fstype("ext4");
			lkl_tools::StopSignals signals([](int) {});
			if (lkl_test::boot("mem=32M"))
				_exit(1);
			std::thread([] { lkl_sys_lkl_debug(LKL_DEBUG_SPIN, 0); }).detach();
			std::this_thread::sleep_for(100ms);
			kill(getpid(), SIGTERM);
			// The orderly end waits for the kernel, which never ends.
			lkl_sys_halt();
			_exit(0);
		},
		::testing::ExitedWithCode(128 + SIGTERM),
		"tool: Terminated: the kernel did not finish in time; exiting "
		"without unmounting /some/disk.img.\n"
		"tool: /some/disk.img was not unmounted: it may need a repair "
		"before it is used again \\(e2fsck -f /some/disk.img\\)");
}

// A second signal does not wait for the grace period.
TEST(StopSignalsDeathTest, SecondSignalExitsAtOnce)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
		{
			setenv("LKL_STOP_GRACE", "1000", 1);
			lkl_tools::emergency_program("tool");
			lkl_tools::emergency_image("/some/disk.img", true);
			lkl_tools::StopSignals signals([](int) {});
			kill(getpid(), SIGINT);
			// Two pending SIGINTs would be one: wait for the first.
			while (!signals.signal())
				std::this_thread::sleep_for(1ms);
			kill(getpid(), SIGINT);
			std::this_thread::sleep_for(10s);
			_exit(0);
		},
		::testing::ExitedWithCode(128 + SIGINT),
		"/some/disk.img was opened read-only and is unchanged");
}

// A BUG() while an image is mounted: the kernel's last messages, the image
// named as the likely cause, and exit status 3.
TEST(KernelPanicDeathTest, ToolsReportItAndExit)
{
	GTEST_FLAG_SET(death_test_style, "threadsafe");
	EXPECT_EXIT(
		{
			lkl_tools::emergency_program("tool");
			lkl_tools::emergency_image("/some/disk.img", true);
			lkl_tools::emergency_fstype("xfs");
			lkl_tools::exit_on_kernel_panic();
			if (lkl_test::boot("mem=32M"))
				_exit(1);
			lkl_sys_lkl_debug(LKL_DEBUG_BUG, 0);
			_exit(0);
		},
		::testing::ExitedWithCode(lkl_tools::kernel_panic_status),
		"tool: the kernel stopped with a panic while working on "
		"/some/disk.img.\n"
		"tool: the image is the likely cause: .*xfs code does not handle.\n"
		"tool: the kernel's last messages:\n"
		"(    .*\n)*    .*BUG: failure at .*\n(    .*\n)*"
		"tool: /some/disk.img was opened read-only and is unchanged.");
}

// A panic while booting (lklfuse asked for more memory than the host can
// map) is not blamed on the image.
TEST(KernelPanic, LklfuseBootPanicIsReported)
{
#ifndef LKLFUSE_PATH
	GTEST_SKIP() << "lklfuse is not built";
#else
	if (!lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	Image image(64 * MiB);
	ASSERT_EQ(image.format("mkfs.ext4 -q -F"), "");
	std::string mnt = image.path() + ".mnt";
	mkdir(mnt.c_str(), 0755);
	std::string out;
	int status = lkl_test::run(std::string(LKLFUSE_PATH) + " " + image.path() +
					   " " + mnt + " -f -o mb=4000000000 2>&1",
				   &out);
	rmdir(mnt.c_str());
	EXPECT_EQ(status, lkl_tools::kernel_panic_status) << out;
	EXPECT_NE(out.find("lklfuse: the kernel stopped with a panic while booting."),
		  std::string::npos)
		<< out;
	EXPECT_NE(out.find("lkl: cannot reserve"), std::string::npos) << out;
	EXPECT_EQ(out.find("likely cause"), std::string::npos) << out;
	EXPECT_NE(out.find(image.path() + " was not changed."), std::string::npos)
		<< out;
#endif
}
