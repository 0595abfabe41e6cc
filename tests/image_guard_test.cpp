// The tools guard the images they are given: an image the host itself uses
// (mounted through a loop device or as a block device) is never written,
// and a failure says why and what to do (a dirty log on a read-only open,
// an immutable file, a partition table, a signature lkl does not mount).
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <string>

#include <sys/stat.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

const std::string cptofs = CPTOFS_BIN;
const std::string cpfromfs = CPFROMFS_BIN;

bool contains(const std::string &text, const std::string &part)
{
	return text.find(part) != std::string::npos;
}

struct Fs {
	const char *name, *mkfs, *check;
	unsigned long long size;
};
const Fs xfs{"xfs", "mkfs.xfs -q -f", "xfs_repair -n", 320 * MiB};
const Fs ext4{"ext4", "mkfs.ext4 -q -F", "e2fsck -fn", 64 * MiB};

void PrintTo(const Fs &fs, std::ostream *os)
{
	*os << fs.name;
}

std::string check(const Fs &fs, const Image &image)
{
	std::string out;
	return run(std::string(fs.check) + " " + quote(image.path()), &out) == 0 ? "" : out;
}

class HostUse : public ::testing::TestWithParam<Fs> {
protected:
	void SetUp() override
	{
		std::string why = no_host_mounts(GetParam().name);
		std::string checker = GetParam().check;
		checker.resize(checker.find(' '));
		if (why.empty() && !have(checker.c_str()))
			why = checker + " is missing";
		if (!why.empty())
			GTEST_SKIP() << why;
		ASSERT_EQ(image_.format(GetParam().mkfs), "");
		run("echo data > " + quote(dir_ / "f"));
	}

	Image image_{GetParam().size};
	TempDir dir_;
};

// cptofs -i /dev/loopN while the host has it mounted: refused, image clean.
TEST_P(HostUse, MountedBlockDeviceIsNotWritten)
{
	LoopDevice loop(image_.path());
	ASSERT_FALSE(loop.path().empty());
	{
		HostMount host(loop.path(), dir_ / "mnt");
		ASSERT_TRUE(host.mounted()) << host.errors();
		run("mkdir " + quote(dir_ / "mnt/a") + "; sync");
		Result r = run_on_image(cptofs, loop.path(), quote(dir_ / "f") + " /b");
		EXPECT_EQ(r.status, 1) << r.output;
		EXPECT_TRUE(contains(r.output, "in use by the host")) << r.output;
		EXPECT_NE(access((dir_ / "mnt/b").c_str(), F_OK), 0)
			<< "the copy reached the host's mount";
		ASSERT_TRUE(host.unmount());
	}
	EXPECT_EQ(check(GetParam(), image_), "");
	// Unmounted, the same device may be written.
	Result r = run_on_image(cptofs, loop.path(), quote(dir_ / "f") + " /b");
	EXPECT_EQ(r.status, 0) << r.output;
	EXPECT_EQ(check(GetParam(), image_), "");
}

// cptofs -i FILE while a loop device backed by FILE is mounted: refused;
// cpfromfs reads it, with a warning; the image stays clean.
TEST_P(HostUse, MountedImageFileIsNotWritten)
{
	{
		HostMount host(image_.path(), dir_ / "mnt", "loop");
		ASSERT_TRUE(host.mounted()) << host.errors();
		run("mkdir " + quote(dir_ / "mnt/a") + "; sync");
		Result r = run_on_image(cptofs, image_.path(), quote(dir_ / "f") + " /");
		EXPECT_EQ(r.status, 1) << r.output;
		EXPECT_TRUE(contains(r.output, "backed by this file, is mounted or held"))
			<< r.output;
		Result read = run_on_image(cpfromfs, image_.path(), "/ " + quote(dir_ / "out"));
		if (read.status == 0)
			EXPECT_TRUE(contains(read.output, "what is read may be stale"))
				<< read.output;
		else // a journal the host has not checkpointed yet
			EXPECT_TRUE(contains(read.output, "in use by the host"))
				<< read.output;
		ASSERT_TRUE(host.unmount());
	}
	EXPECT_EQ(check(GetParam(), image_), "");
	Result r = run_on_image(cpfromfs, image_.path(), "/f " + quote(dir_ / "out-f"));
	EXPECT_NE(r.status, 0) << "the refused copy was written";
}

// While a tool writes an image file, the host cannot mount a loop device
// backed by it: the tool holds the device exclusively.
TEST_P(HostUse, AttachedLoopDeviceIsClaimedWhileWritten)
{
#ifndef LKLFUSE_PATH
	GTEST_SKIP() << "lklfuse is not built (no libfuse3)";
#else
	if (access("/dev/fuse", R_OK | W_OK) != 0 || !have("fusermount3"))
		GTEST_SKIP() << "no usable /dev/fuse or fusermount3";
	LoopDevice loop(image_.path());
	ASSERT_FALSE(loop.path().empty());
	run("mkdir -p " + quote(dir_ / "fuse"));
	std::string out;
	ASSERT_EQ(run(std::string(LKLFUSE_PATH) + " " + quote(image_.path()) + " " +
		      quote(dir_ / "fuse"), &out), 0) << out;
	{
		HostMount host(loop.path(), dir_ / "mnt");
		EXPECT_FALSE(host.mounted()) << "mounted under a writing lklfuse";
	}
	run("fusermount3 -u " + quote(dir_ / "fuse"));
	// The daemon unmounts inside its kernel and exits: the claim goes.
	bool mounted = false;
	for (int i = 0; i < 100 && !mounted; i++) {
		HostMount host(loop.path(), dir_ / "mnt");
		mounted = host.mounted();
		if (!mounted)
			usleep(50000);
	}
	EXPECT_TRUE(mounted);
	EXPECT_EQ(check(GetParam(), image_), "");
#endif
}

// A file system the host shut down without checkpointing its log: a
// read-only open says what to do, norecovery reads the last checkpoint
// without changing the image, and a read-write open replays the log.
TEST_P(HostUse, DirtyLogOnReadOnlyOpenSaysWhatToDo)
{
	if (!have("xfs_io"))
		GTEST_SKIP() << "xfs_io (xfsprogs) is missing";
	{
		HostMount host(image_.path(), dir_ / "mnt", "loop");
		ASSERT_TRUE(host.mounted()) << host.errors();
		ASSERT_EQ(run("mkdir " + quote(dir_ / "mnt/logged") + " && sync && "
			      "xfs_io -x -c shutdown " + quote(dir_ / "mnt")), 0);
		ASSERT_TRUE(host.unmount());
	}
	const std::string before = image_.sha256();
	Result r = run_on_image(cpfromfs, image_.path(), "/logged " + quote(dir_ / "out"));
	EXPECT_EQ(r.status, 1) << r.output;
	EXPECT_TRUE(contains(r.output, "log must be replayed")) << r.output;
	EXPECT_TRUE(contains(r.output, "norecovery")) << r.output;
	EXPECT_TRUE(contains(r.output, "the kernel said")) << r.output;

	Result nr = run_on_image(cpfromfs, image_.path(), "--norecovery / " + quote(dir_ / "nr"));
	EXPECT_EQ(nr.status, 0) << nr.output;
	EXPECT_EQ(image_.sha256(), before) << "a read-only open changed the image";
	Result w = run_on_image(cptofs, image_.path(), "--norecovery " + quote(dir_ / "f") + " /");
	EXPECT_EQ(w.status, 1);
	EXPECT_TRUE(contains(w.output, "needs a read-only open")) << w.output;

	Result replay = run_on_image(cptofs, image_.path(), quote(dir_ / "f") + " /");
	EXPECT_EQ(replay.status, 0) << replay.output;
	EXPECT_EQ(check(GetParam(), image_), "");
	Result after = run_on_image(cpfromfs, image_.path(), "/logged " + quote(dir_ / "out"));
	EXPECT_EQ(after.status, 0) << "the replayed log lost a directory: " << after.output;
}

INSTANTIATE_TEST_SUITE_P(Images, HostUse, ::testing::Values(xfs, ext4),
			 [](const auto &info) { return std::string(info.param.name); });

// A fresh ext4 image and a host directory.
class Explained : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!have("mkfs.ext4"))
			GTEST_SKIP() << "mkfs.ext4 is missing";
		ASSERT_EQ(image.format(ext4.mkfs), "");
	}

	Image image{64 * MiB};
	TempDir dir;
};

TEST_F(Explained, ImmutableImage)
{
	if (geteuid() != 0 || !have("chattr"))
		GTEST_SKIP() << "needs root and chattr";
	if (run("chattr +i " + quote(image.path())) != 0)
		GTEST_SKIP() << "the host file system has no immutable attribute";
	Result w = run_on_image(cptofs, image.path(), "/etc/hostname /");
	Result r = run_on_image(cpfromfs, image.path(), "/ /nonexistent-dir/x");
	run("chattr -i " + quote(image.path()));
	EXPECT_EQ(w.status, 1);
	EXPECT_TRUE(contains(w.output, "immutable (chattr +i)")) << w.output;
	EXPECT_TRUE(contains(w.output, "can still be opened read-only")) << w.output;
	EXPECT_FALSE(contains(r.output, "immutable")) << r.output;
}

TEST(ExplainedProbe, PartitionTableAndForeignSignatures)
{
	if (!have("sfdisk") || !have("mkswap"))
		GTEST_SKIP() << "sfdisk or mkswap is missing";
	Image disk(64 * MiB);
	ASSERT_EQ(run("printf 'label: gpt\\nsize=20M\\nsize=20M\\n' | sfdisk -q " +
		      quote(disk.path())), 0);
	Result r = run_on_image(cpfromfs, disk.path(), "/ /tmp");
	EXPECT_EQ(r.status, 1);
	EXPECT_TRUE(contains(r.output, "holds a gpt partition table")) << r.output;
	EXPECT_TRUE(contains(r.output, "(1, 2)")) << r.output;
	Result p = run_on_image(cpfromfs, disk.path(), "-P 2 / /tmp");
	EXPECT_TRUE(contains(p.output, "(partition 2): no xfs, ext4, btrfs or vfat"))
		<< p.output;
	Result none = run_on_image(cpfromfs, disk.path(), "-P 7 / /tmp");
	EXPECT_TRUE(contains(none.output, "no partition 7")) << none.output;

	Image swap(16 * MiB);
	ASSERT_EQ(swap.format("mkswap"), "");
	Result s = run_on_image(cpfromfs, swap.path(), "/ /tmp");
	EXPECT_EQ(s.status, 1);
	EXPECT_TRUE(contains(s.output, "holds swap, not a file system lkl mounts"))
		<< s.output;
}

TEST_F(Explained, KernelMemoryOption)
{
	// -p shows the kernel's messages, its memory line among them.
	Result r = run_on_image(cpfromfs, image.path(), "-m 256 -p / " + quote(dir / "out"));
	EXPECT_EQ(r.status, 0) << r.output;
	EXPECT_TRUE(contains(r.output, "/262144K available")) << r.output;
	EXPECT_EQ(run_on_image(cptofs, image.path(), "--mb 8 /etc/hostname /").status, 2);
	EXPECT_EQ(run_on_image(cptofs, image.path(), "-m lots /etc/hostname /").status, 2);
}

#ifdef LKLFUSE_PATH
TEST_F(Explained, RefusedMountOptions)
{
	run("mkdir " + quote(dir / "mnt"));
	std::string out;
	EXPECT_EQ(run(std::string(LKLFUSE_PATH) + " " + quote(image.path()) + " " +
		      quote(dir / "mnt") + " -o opts=no_such_option", &out), 1);
	EXPECT_TRUE(contains(out, "ext4 refused the mount options \"no_such_option\""))
		<< out;
}
#endif

} // namespace
