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
#include <sys/wait.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::Mounted;

namespace {

std::string writer_path;

TEST(CrashConsistency, FsyncedFilesSurviveSigkillTwentyRounds)
{
	if (!lkl_test::have("mkfs.xfs") || !lkl_test::have("xfs_repair"))
		GTEST_SKIP() << "xfsprogs (mkfs.xfs, xfs_repair) not installed";
	std::mt19937 rng(12345);
	size_t total_synced = 0;
	for (int round = 0; round < 20; round++) {
		SCOPED_TRACE("round " + std::to_string(round));
		Image img(512ULL << 20);
		std::string record = img.path() + ".record", out;
		ASSERT_EQ(lkl_test::run("mkfs.xfs -q -f '" + img.path() + "'",
					&out), 0) << out;

		pid_t pid = fork();
		if (pid == 0) {
			execl(writer_path.c_str(), "crash_writer",
			      img.path().c_str(), record.c_str(), nullptr);
			_exit(127);
		}
		// Kill it some time after it started writing.
		auto deadline = std::chrono::steady_clock::now() +
				std::chrono::seconds(20);
		std::string first;
		while (first != "start" &&
		       std::chrono::steady_clock::now() < deadline) {
			std::this_thread::sleep_for(std::chrono::milliseconds(2));
			std::ifstream f(record);
			std::getline(f, first);
		}
		ASSERT_EQ(first, "start") << "the writer did not start";
		std::this_thread::sleep_for(std::chrono::milliseconds(
			std::uniform_int_distribution<int>(20, 400)(rng)));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself";

		std::vector<unsigned> synced;
		std::ifstream f(record);
		std::string line;
		std::getline(f, line);
		while (std::getline(f, line))
			synced.push_back(std::stoul(line));

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

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	std::string self = argv[0];
	writer_path = self.substr(0, self.rfind('/') + 1) + "crash_writer";
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}
