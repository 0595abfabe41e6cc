// Crash consistency: a writer process fsyncs files and records each fsync
// that returned; it is killed with SIGKILL at a random moment. Mounting the
// image again replays the XFS log; every recorded file must be there with
// its content, and xfs_repair -n must find the image clean.
#include "crash_pattern.hpp"
#include "image_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <csignal>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::Mounted;

namespace {

std::string writer_path;

// Starts crash_writer on @image and kills it @ms milliseconds after it
// started writing; returns the file numbers it recorded as fsynced.
std::vector<unsigned> write_and_kill(const std::string &image, int ms)
{
	std::string record = image + ".record";
	pid_t pid = fork();
	if (pid == 0) {
		execl(writer_path.c_str(), "crash_writer", image.c_str(),
		      record.c_str(), nullptr);
		_exit(127);
	}
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
	std::string first;
	while (first != "start" && std::chrono::steady_clock::now() < deadline) {
		std::this_thread::sleep_for(std::chrono::milliseconds(2));
		std::ifstream f(record);
		std::getline(f, first);
	}
	if (first == "start")
		std::this_thread::sleep_for(std::chrono::milliseconds(ms));
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	EXPECT_EQ(first, "start") << "the writer did not start";
	EXPECT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself";

	std::vector<unsigned> synced;
	std::ifstream f(record);
	std::string line;
	std::getline(f, line);
	while (std::getline(f, line))
		synced.push_back(std::stoul(line));
	return synced;
}

TEST(CrashConsistency, FsyncedFilesSurviveSigkillTwentyRounds)
{
	if (!lkl_test::have("mkfs.xfs") || !lkl_test::have("xfs_repair"))
		GTEST_SKIP() << "xfsprogs (mkfs.xfs, xfs_repair) not installed";
	std::mt19937 rng(12345);
	size_t total_synced = 0;
	for (int round = 0; round < 20; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		Image img(512ULL << 20);
		std::string out;
		ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");

		std::vector<unsigned> synced = write_and_kill(
			img.path(), std::uniform_int_distribution<int>(20, 400)(rng));
		if (HasFailure())
			return;

		{
			Mounted m(img.path(), "xfs");
			ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
			for (unsigned i : synced) {
				std::string p = m.path("f" + std::to_string(i));
				std::vector<char> want = crash_pattern(i), got(want.size() + 1);
				int fd = lkl_sys_open(p.c_str(), LKL_O_RDONLY, 0);
				ASSERT_GE(fd, 0) << p << " was fsynced but is lost";
				long n = lkl_test::read_all(fd, got.data(), got.size());
				lkl_sys_close(fd);
				ASSERT_EQ(n, (long)want.size()) << p;
				ASSERT_EQ(memcmp(got.data(), want.data(), want.size()), 0)
					<< p << " content differs";
			}
			ASSERT_EQ(m.release(), 0);
		}
		out.clear();
		EXPECT_EQ(lkl_test::run("xfs_repair -n '" + img.path() + "'", &out),
			  0) << out;
		RecordProperty("round" + std::to_string(round) + "_fsynced",
			       (int)synced.size());
		total_synced += synced.size();
	}
	// Killed too early every time would prove nothing.
	EXPECT_GT(total_synced, 100u);
}

// A read-only mount must not write the image, even when the log is dirty
// and recovery would want to replay it.
TEST(CrashConsistency, ReadOnlyMountOfDirtyLogLeavesImageIdentical)
{
	if (!lkl_test::have("mkfs.xfs"))
		GTEST_SKIP() << "mkfs.xfs not installed";
	Image img(512ULL << 20);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	std::vector<unsigned> synced = write_and_kill(img.path(), 200);
	ASSERT_FALSE(synced.empty());
	std::string before = img.sha256();

	struct lkl_disk disk = {};
	disk.fd = open(img.path().c_str(), O_RDONLY);
	ASSERT_GE(disk.fd, 0);
	int id = lkl_disk_add(&disk);
	ASSERT_GE(id, 0);
	char mnt[64];
	// Plain: XFS refuses to replay the log on a read-only device.
	long err = lkl_mount_dev(id, 0, "xfs", LKL_MS_RDONLY, nullptr, mnt,
				 sizeof(mnt));
	if (err == 0)
		EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	else
		EXPECT_TRUE(err == -LKL_EROFS || err == -LKL_EINVAL)
			<< lkl_strerror(err);
	// norecovery: mounts the last checkpoint as it is.
	ASSERT_EQ(lkl_mount_dev(id, 0, "xfs", LKL_MS_RDONLY, "norecovery", mnt,
				sizeof(mnt)), 0);
	struct lkl_stat st;
	EXPECT_EQ(lkl_sys_stat(mnt, &st), 0);
	EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	close(disk.fd);
	EXPECT_EQ(img.sha256(), before);
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	std::string self = argv[0];
	writer_path = self.substr(0, self.rfind('/') + 1) + "crash_writer";
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}
