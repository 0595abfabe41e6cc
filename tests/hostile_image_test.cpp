// Damaged images through cpfromfs, as a user would meet them: a small,
// metadata-dense image made by mkfs and filled by cptofs, then many copies
// of it, each with 8 random bytes changed in blocks the file system uses in
// its first 8 MiB (metadata, directories, small files), copied out whole.
// Every run must end, by itself, in one of three ways: everything copied
// (status 0), errors named on stderr (status 1), or a kernel BUG or panic
// in the file system's code, reported with the kernel's messages (status
// 3). A hang, a crash of the program, or a silent failure is a failure of
// the test, and each run that ends so is listed with the bytes it changed,
// to reproduce it. LKL_HOSTILE_RUNS sets the runs per file system (default
// 10, a few seconds; the "stress" test runs 300), LKL_HOSTILE_SEED the seed.
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

using lkl_test::have;
using lkl_test::Image;
using lkl_test::run;

extern char **environ;

namespace {

using namespace std::chrono_literals;

constexpr unsigned long long MiB = 1ULL << 20;
// Longer than any copy of the image takes: past it, the run hangs.
constexpr auto run_limit = 60s;

unsigned long env_or(const char *name, unsigned long fallback)
{
	const char *v = getenv(name);
	return v ? strtoul(v, nullptr, 10) : fallback;
}

std::string quote(const std::string &s)
{
	std::string q = "'";
	for (char c : s)
		q += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return q + "'";
}

// A host tree with many small objects: directories, files of a few sizes,
// symlinks, a hard link and an xattr (where the host file system has them).
// Returns "" or what failed.
std::string make_tree(const std::string &dir, bool posix)
{
	namespace fs = std::filesystem;
	std::error_code ec;
	fs::path tree = fs::path(dir) / "tree";
	fs::create_directories(tree / "deep/a/b/c/d/e", ec);
	for (int d = 1; d <= 12 && !ec; d++) {
		fs::path sub = tree / ("d" + std::to_string(d));
		fs::create_directory(sub, ec);
		for (int f = 1; f <= 25 && !ec; f++) {
			std::ofstream out(sub / ("f" + std::to_string(f)), std::ios::binary);
			for (int i = 0; i < f * 97 % 3000; i++)
				out.put(static_cast<char>(i * 13 + d * 7 + f));
			if (!out)
				return "cannot write " + (sub / ("f" + std::to_string(f))).string();
		}
	}
	if (ec)
		return ec.message();
	std::ofstream big(tree / "big", std::ios::binary);
	for (int i = 0; i < 300000; i++)
		big.put(static_cast<char>(i * 31 >> 3));
	std::ofstream(tree / "deep/a/b/c/d/e/leaf") << "x\n";
	if (posix) {
		for (int i = 1; i <= 20 && !ec; i++)
			fs::create_symlink("d1/f" + std::to_string(i),
					   tree / ("s" + std::to_string(i)), ec);
		if (!ec)
			fs::create_hard_link(tree / "d2/f3", tree / "hard", ec);
		if (ec)
			return ec.message();
		setxattr((tree / "d1/f1").c_str(), "user.note", "hello", 5, 0);
	}
	return "";
}

enum class Outcome { copied, named_errors, kernel_bug, failure };

struct Result {
	Outcome outcome;
	std::string detail;
};

// Runs @argv with stdout and stderr to @log; kills it past run_limit.
Result run_cpfromfs(const std::vector<std::string> &args, const std::string &log)
{
	std::vector<char *> argv;
	for (const std::string &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log.c_str(),
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return {Outcome::failure, std::string("spawn: ") + strerror(err)};

	auto deadline = std::chrono::steady_clock::now() + run_limit;
	int status = 0;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (std::chrono::steady_clock::now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return {Outcome::failure, "hung: killed after 60 s"};
		}
		std::this_thread::sleep_for(2ms);
	}
	std::string out;
	run("cat " + quote(log), &out);
	if (WIFSIGNALED(status))
		return {Outcome::failure, std::string("killed by signal ") +
						  strsignal(WTERMSIG(status)) + "\n" + out};
	switch (WEXITSTATUS(status)) {
	case 0:
		return {Outcome::copied, out};
	case 1:
		if (out.find("cpfromfs: ") == std::string::npos)
			return {Outcome::failure, "status 1 with no error named\n" + out};
		return {Outcome::named_errors, out};
	case 3:
		// The kernel's own report must be there, naming the image.
		if (out.find("the kernel's last messages") == std::string::npos)
			return {Outcome::failure, "status 3 without the kernel's messages\n" + out};
		return {Outcome::kernel_bug, out};
	default:
		return {Outcome::failure,
			"status " + std::to_string(WEXITSTATUS(status)) + "\n" + out};
	}
}

struct Fs {
	const char *name;
	const char *mkfs;
	unsigned long long size;
	bool posix;
};

class HostileImage : public ::testing::TestWithParam<Fs> {};

TEST_P(HostileImage, CpfromfsEndsCleanly)
{
	const Fs &fs = GetParam();
	std::string tool = std::string(fs.mkfs).substr(0, std::string(fs.mkfs).find(' '));
	if (!have(tool.c_str()))
		GTEST_SKIP() << tool << " not installed";

	Image image(fs.size, "pristine.img");
	ASSERT_EQ(image.format(fs.mkfs), "");
	std::string dir = image.path().substr(0, image.path().rfind('/'));
	ASSERT_EQ(make_tree(dir, fs.posix), "");
	std::string out;
	ASSERT_EQ(run(std::string(CPTOFS_BIN) + " -i " + quote(image.path()) + " " +
			      quote(dir + "/tree") + " / 2>&1",
		      &out),
		  0)
		<< out;

	// The blocks in use in the first 8 MiB: where a change matters.
	std::vector<unsigned long long> used;
	{
		int fd = open(image.path().c_str(), O_RDONLY | O_CLOEXEC);
		ASSERT_GE(fd, 0);
		std::vector<unsigned char> block(4096);
		for (unsigned long long off = 0; off < 8 * MiB; off += block.size()) {
			ASSERT_EQ(pread(fd, block.data(), block.size(), off),
				  (ssize_t)block.size());
			for (unsigned char c : block)
				if (c) {
					used.push_back(off);
					break;
				}
		}
		close(fd);
	}
	ASSERT_FALSE(used.empty());

	const unsigned long runs = env_or("LKL_HOSTILE_RUNS", 10);
	const unsigned long seed = env_or("LKL_HOSTILE_SEED", 12);
	std::mt19937_64 rng(seed);
	int fd = open(image.path().c_str(), O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	unsigned counts[4] = {};
	std::string failures, bugs;
	std::string log = dir + "/cpfromfs.log", dst = dir + "/out";
	auto start = std::chrono::steady_clock::now();
	for (unsigned long i = 0; i < runs; i++) {
		// Eight bytes, each at a random place in a random used block,
		// put back after the run (cpfromfs opens the image read-only).
		struct Change {
			unsigned long long off;
			unsigned char was, now;
		} changes[8];
		std::string what;
		for (Change &c : changes) {
			c.off = used[rng() % used.size()] + rng() % 4096;
			ASSERT_EQ(pread(fd, &c.was, 1, c.off), 1);
			c.now = (unsigned char)(c.was ^ (1 + rng() % 255));
			ASSERT_EQ(pwrite(fd, &c.now, 1, c.off), 1);
			char buf[48];
			snprintf(buf, sizeof(buf), " %llu:%02x->%02x", c.off, c.was, c.now);
			what += buf;
		}
		run("rm -rf " + quote(dst) + "; mkdir " + quote(dst));
		Result r = run_cpfromfs({CPFROMFS_BIN, "-t", fs.name, "-i", image.path(),
					 "/", dst},
					log);
		counts[static_cast<int>(r.outcome)]++;
		std::string head = "run " + std::to_string(i) + " (seed " +
				   std::to_string(seed) + ", offset:old->new" + what + ")";
		if (r.outcome == Outcome::failure)
			failures += head + ": " + r.detail.substr(0, 4000) + "\n";
		if (r.outcome == Outcome::kernel_bug)
			bugs += head + ":\n" + r.detail.substr(r.detail.size() > 3000 ?
								   r.detail.size() - 3000 : 0) + "\n";
		for (int j = 7; j >= 0; j--)
			ASSERT_EQ(pwrite(fd, &changes[j].was, 1, changes[j].off), 1);
	}
	close(fd);
	double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() -
						       start).count();
	printf("%s: %lu damaged images in %.1f s: %u copied, %u with named errors, "
	       "%u kernel BUGs or panics, %u failures\n",
	       fs.name, runs, seconds, counts[0], counts[1], counts[2], counts[3]);
	if (!bugs.empty())
		printf("The kernel's own BUGs (its messages, as cpfromfs showed them):\n%s",
		       bugs.c_str());
	EXPECT_EQ(counts[3], 0u) << failures;
	// The image is the pristine one again.
	run("rm -rf " + quote(dst) + "; mkdir " + quote(dst));
	EXPECT_EQ(run(std::string(CPFROMFS_BIN) + " -i " + quote(image.path()) + " / " +
		      quote(dst) + " >/dev/null 2>&1"),
		  0);
}

INSTANTIATE_TEST_SUITE_P(
	Fs, HostileImage,
	::testing::Values(Fs{"xfs", "mkfs.xfs -q -f", 300 * MiB, true},
			  Fs{"ext4", "mkfs.ext4 -q -F -b 1024", 32 * MiB, true},
			  Fs{"btrfs", "mkfs.btrfs -q -f", 128 * MiB, true},
			  Fs{"vfat", "mkfs.vfat", 32 * MiB, false}),
	[](const ::testing::TestParamInfo<Fs> &info) { return std::string(info.param.name); });

} // namespace
