// Real file systems on real images: made by mkfs, written and read back
// through lkl, checked by the file system's own checker afterwards.
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl/kernel.hpp>
#include <lkl/linux/falloc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::Mounted;
using lkl_test::have;
using lkl_test::run;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

char pattern_byte(unsigned long long off, unsigned seed)
{
	return static_cast<char>((off * 2654435761ULL + seed) >> 7);
}

std::vector<char> pattern(size_t len, unsigned long long off, unsigned seed)
{
	std::vector<char> v(len);
	for (size_t i = 0; i < len; i++)
		v[i] = pattern_byte(off + i, seed);
	return v;
}

// Writes @size bytes of pattern @seed to @path, 1 MiB at a time.
long write_file(const std::string &path, unsigned long long size,
		unsigned seed)
{
	int fd = lkl_sys_open(path.c_str(),
			      LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644);
	if (fd < 0)
		return fd;
	for (unsigned long long off = 0; off < size; off += MiB) {
		auto chunk = pattern(std::min(MiB, size - off), off, seed);
		long n = lkl_test::write_all(fd, chunk.data(), chunk.size());
		if (n < 0) {
			lkl_sys_close(fd);
			return n;
		}
	}
	return lkl_sys_close(fd);
}

// Compares @path with pattern @seed; returns a failure message or "".
std::string check_file(const std::string &path, unsigned long long size,
		       unsigned seed)
{
	int fd = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		return path + ": open: " + lkl_strerror(fd);
	struct lkl_stat st;
	if (lkl_sys_fstat(fd, &st) || (unsigned long long)st.st_size != size) {
		lkl_sys_close(fd);
		return path + ": wrong size " + std::to_string(st.st_size);
	}
	std::vector<char> buf(MiB);
	for (unsigned long long off = 0; off < size; off += MiB) {
		size_t len = std::min(MiB, size - off);
		if (lkl_test::read_all(fd, buf.data(), len) != (long)len) {
			lkl_sys_close(fd);
			return path + ": short read at " + std::to_string(off);
		}
		auto want = pattern(len, off, seed);
		if (memcmp(buf.data(), want.data(), len)) {
			lkl_sys_close(fd);
			return path + ": content differs in MiB at " +
			       std::to_string(off);
		}
	}
	lkl_sys_close(fd);
	return "";
}

struct TreeSpec {
	int entries;		   // files in the big directory
	unsigned long long big;	   // the largest file
	bool links = true;	   // symlinks and hard links
	bool xattrs = true;	   // a small xattr and a big one
	size_t big_xattr = 65000;  // XFS: remote attribute blocks
	bool sparse = true;
};

const std::vector<unsigned long long> sizes = { 0, 1, 4095, 4096, 65537,
						MiB + 3 };

void write_tree(const Mounted &m, const TreeSpec &spec)
{
	ASSERT_EQ(lkl_sys_mkdir(m.path("tree").c_str(), 0755), 0);
	for (size_t i = 0; i < sizes.size(); i++)
		ASSERT_EQ(write_file(m.path("tree/f" + std::to_string(i)),
				     sizes[i], i), 0);
	ASSERT_EQ(write_file(m.path("tree/big"), spec.big, 99), 0);

	ASSERT_EQ(lkl_sys_mkdir(m.path("tree/dir").c_str(), 0700), 0);
	for (int i = 0; i < spec.entries; i++) {
		std::string p = m.path("tree/dir/entry-with-a-long-name-" +
				       std::to_string(i));
		int fd = lkl_sys_open(p.c_str(), LKL_O_CREAT | LKL_O_WRONLY, 0600);
		ASSERT_GE(fd, 0) << p << ": " << lkl_strerror(fd);
		ASSERT_EQ(lkl_sys_close(fd), 0);
	}

	if (spec.sparse) {
		int fd = lkl_sys_open(m.path("tree/sparse").c_str(),
				      LKL_O_CREAT | LKL_O_WRONLY, 0644);
		ASSERT_GE(fd, 0);
		auto a = pattern(4096, 0, 7);
		ASSERT_EQ(lkl_sys_pwrite64(fd, a.data(), a.size(), 0), 4096);
		ASSERT_EQ(lkl_sys_pwrite64(fd, a.data(), a.size(), 100 * MiB),
			  4096);
		ASSERT_EQ(lkl_sys_close(fd), 0);
	}
	if (spec.links) {
		ASSERT_EQ(lkl_sys_symlink("f4", m.path("tree/sym").c_str()), 0);
		ASSERT_EQ(lkl_sys_link(m.path("tree/f4").c_str(),
				       m.path("tree/hard").c_str()), 0);
	}
	if (spec.xattrs) {
		auto small = pattern(100, 0, 3),
		     remote = pattern(spec.big_xattr, 0, 4);
		ASSERT_EQ(lkl_sys_setxattr(m.path("tree/f1").c_str(), "user.small",
					   small.data(), small.size(), 0), 0);
		ASSERT_EQ(lkl_sys_setxattr(m.path("tree/f1").c_str(), "user.remote",
					   remote.data(), remote.size(), 0), 0);
	}
	ASSERT_EQ(lkl_sys_sync(), 0);
}

void verify_tree(const Mounted &m, const TreeSpec &spec)
{
	for (size_t i = 0; i < sizes.size(); i++)
		EXPECT_EQ(check_file(m.path("tree/f" + std::to_string(i)),
				     sizes[i], i), "");
	EXPECT_EQ(check_file(m.path("tree/big"), spec.big, 99), "");

	int err = 0;
	struct lkl_dir *dir = lkl_opendir(m.path("tree/dir").c_str(), &err);
	ASSERT_NE(dir, nullptr) << lkl_strerror(err);
	std::vector<bool> seen(spec.entries);
	int count = 0;
	const std::string prefix = "entry-with-a-long-name-";
	while (struct lkl_linux_dirent64 *d = lkl_readdir(dir)) {
		std::string name = d->d_name;
		if (name == "." || name == "..")
			continue;
		ASSERT_EQ(name.rfind(prefix, 0), 0u) << name;
		int i = std::stoi(name.substr(prefix.size()));
		ASSERT_TRUE(i >= 0 && i < spec.entries && !seen[i]) << name;
		seen[i] = true;
		count++;
	}
	EXPECT_EQ(lkl_errdir(dir), 0);
	lkl_closedir(dir);
	EXPECT_EQ(count, spec.entries);

	if (spec.sparse) {
		struct lkl_stat st;
		ASSERT_EQ(lkl_sys_stat(m.path("tree/sparse").c_str(), &st), 0);
		EXPECT_EQ(st.st_size, (long long)(100 * MiB + 4096));
		EXPECT_LT(st.st_blocks * 512, (long long)(1 * MiB));
		int fd = lkl_sys_open(m.path("tree/sparse").c_str(),
				      LKL_O_RDONLY, 0);
		std::vector<char> buf(4096);
		ASSERT_EQ(lkl_sys_pread64(fd, buf.data(), 4096, 50 * MiB), 4096);
		EXPECT_TRUE(std::all_of(buf.begin(), buf.end(),
					[](char c) { return c == 0; }));
		ASSERT_EQ(lkl_sys_pread64(fd, buf.data(), 4096, 100 * MiB), 4096);
		EXPECT_TRUE(buf == pattern(4096, 0, 7));
		lkl_sys_close(fd);
	}
	if (spec.links) {
		char target[16] = {};
		EXPECT_EQ(lkl_sys_readlink(m.path("tree/sym").c_str(), target,
					   sizeof(target)), 2);
		EXPECT_STREQ(target, "f4");
		struct lkl_stat a, b;
		ASSERT_EQ(lkl_sys_stat(m.path("tree/f4").c_str(), &a), 0);
		ASSERT_EQ(lkl_sys_stat(m.path("tree/hard").c_str(), &b), 0);
		EXPECT_EQ(a.st_ino, b.st_ino);
		EXPECT_EQ(a.st_nlink, 2u);
	}
	if (spec.xattrs) {
		std::vector<char> buf(70000);
		EXPECT_EQ(lkl_sys_getxattr(m.path("tree/f1").c_str(), "user.small",
					   buf.data(), buf.size()), 100);
		EXPECT_EQ(memcmp(buf.data(), pattern(100, 0, 3).data(), 100), 0);
		EXPECT_EQ(lkl_sys_getxattr(m.path("tree/f1").c_str(), "user.remote",
					   buf.data(), buf.size()),
			  (long)spec.big_xattr);
		EXPECT_EQ(memcmp(buf.data(), pattern(spec.big_xattr, 0, 4).data(),
				 spec.big_xattr), 0);
	}
}

// Write, unmount, mount again (nothing cached), verify, unmount, check.
void round_trip(const char *fstype, const std::string &mkfs,
		const std::string &fsck, unsigned long long size,
		const TreeSpec &spec, bool direct = false)
{
	Image img(size);
	std::string out;
	ASSERT_EQ(img.format(mkfs), "");
	{
		Mounted m(img.path(), fstype, false, direct);
		ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
		write_tree(m, spec);
		if (::testing::Test::HasFatalFailure())
			return;
		ASSERT_EQ(m.release(), 0);
	}
	{
		Mounted m(img.path(), fstype, false, direct);
		ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
		verify_tree(m, spec);
		ASSERT_EQ(m.release(), 0);
	}
	out.clear();
	EXPECT_EQ(run(fsck + " '" + img.path() + "'", &out), 0) << out;
}

// Every XFS geometry gets the whole tree: a 20,000-entry directory and
// files from 0 bytes to 256 MiB.
const TreeSpec xfs_tree = { .entries = 20000, .big = 256 * MiB };

class Xfs : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!have("mkfs.xfs") || !have("xfs_repair"))
			GTEST_SKIP() << "xfsprogs (mkfs.xfs, xfs_repair) not installed";
	}
};

TEST_F(Xfs, DefaultGeometry)
{
	round_trip("xfs", "mkfs.xfs -q -f", "xfs_repair -n", 1024 * MiB,
		   xfs_tree);
}

// 64 KiB directory blocks: every directory buffer spans 16 pages, which
// without the no-MMU patch means vm_map_ram(), a BUG() on no-MMU.
TEST_F(Xfs, SixtyFourKiBDirectoryBlocks)
{
	round_trip("xfs", "mkfs.xfs -q -f -n size=65536", "xfs_repair -n",
		   512 * MiB, xfs_tree);
}

// The same through the O_DIRECT/libaio backend (cache=none).
TEST_F(Xfs, SixtyFourKiBDirectoryBlocksDirectIo)
{
	Image probe(1 << 20);
	int fd = open(probe.path().c_str(), O_RDWR | O_DIRECT);
	if (fd < 0)
		GTEST_SKIP() << "O_DIRECT refused on " << probe.path() << ": "
			     << strerror(errno);
	close(fd);
	round_trip("xfs", "mkfs.xfs -q -f -n size=65536", "xfs_repair -n",
		   512 * MiB, xfs_tree, true);
}

TEST_F(Xfs, OneKiBBlocks)
{
	round_trip("xfs", "mkfs.xfs -q -f -b size=1024", "xfs_repair -n",
		   512 * MiB, xfs_tree);
}

// 2 KiB inodes: inode cluster buffers span several pages.
TEST_F(Xfs, TwoKiBInodes)
{
	round_trip("xfs", "mkfs.xfs -q -f -i size=2048", "xfs_repair -n",
		   512 * MiB, xfs_tree);
}

TEST_F(Xfs, ReflinkAndRmapbt)
{
	round_trip("xfs", "mkfs.xfs -q -f -m reflink=1,rmapbt=1",
		   "xfs_repair -n", 512 * MiB,
		   xfs_tree);
}

TEST_F(Xfs, ReadOnlyMountLeavesImageBitIdentical)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	{
		Mounted m(img.path(), "xfs");
		ASSERT_EQ(m.error(), 0);
		ASSERT_EQ(write_file(m.path("data"), 3 * MiB + 5, 5), 0);
	}
	std::string before = img.sha256();
	{
		Mounted m(img.path(), "xfs", true);
		ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
		EXPECT_EQ(check_file(m.path("data"), 3 * MiB + 5, 5), "");
		EXPECT_EQ(write_file(m.path("new"), 10, 1), -LKL_EROFS);
	}
	EXPECT_EQ(img.sha256(), before);
}

TEST_F(Xfs, CorruptSuperblockIsAnErrorNotACrash)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	ASSERT_EQ(run("printf 'garbage!garbage!' | dd of='" + img.path() +
		      "' bs=1 seek=32 conv=notrunc status=none"), 0);
	Mounted m(img.path(), "xfs");
	EXPECT_TRUE(m.error() == -LKL_EUCLEAN || m.error() == -LKL_EINVAL ||
		    m.error() == -LKL_EIO)
		<< lkl_strerror(m.error());
}

// Errors that corruption may legitimately give; anything is better than a
// crash, but silence is not acceptable either.
bool corruption_error(long err)
{
	return err == -LKL_EUCLEAN || err == -LKL_EIO || err == -LKL_EINVAL ||
	       err == -LKL_ENOSPC || err == -LKL_EBADMSG;
}

TEST_F(Xfs, CorruptAgHeaderGivesErrorsNotACrash)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	// AG 0's free-space header (AGF) and inode header (AGI): sectors 1, 2.
	ASSERT_EQ(run("head -c 1024 /dev/urandom | dd of='" + img.path() +
		      "' bs=512 seek=1 conv=notrunc status=none"), 0);
	Mounted m(img.path(), "xfs");
	long first_error = m.error();
	if (!first_error) {
		for (int i = 0; i < 50 && !first_error; i++) {
			long err = write_file(m.path("f" + std::to_string(i)),
					      100000, i);
			if (err == 0)
				err = lkl_sys_sync();
			first_error = err;
		}
	}
	EXPECT_TRUE(corruption_error(first_error)) << lkl_strerror(first_error);
}

TEST_F(Xfs, CorruptDirectoryBlockGivesErrorsNotACrash)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	{
		Mounted m(img.path(), "xfs");
		ASSERT_EQ(m.error(), 0);
		ASSERT_EQ(lkl_sys_mkdir(m.path("d").c_str(), 0755), 0);
		for (int i = 0; i < 100; i++) {
			int fd = lkl_sys_open(m.path("d/zzmarker" + std::to_string(i)).c_str(),
					      LKL_O_CREAT | LKL_O_WRONLY, 0644);
			ASSERT_GE(fd, 0);
			lkl_sys_close(fd);
		}
	}
	// Find the directory block by its names and break its header.
	std::string out;
	ASSERT_EQ(run("grep -obUa zzmarker50 '" + img.path() + "' | head -1 | cut -d: -f1",
		      &out), 0);
	ASSERT_FALSE(out.empty());
	long long block = std::stoll(out) / 4096 * 4096;
	ASSERT_EQ(run("printf 'BADMAGIC' | dd of='" + img.path() + "' bs=1 seek=" +
		      std::to_string(block) + " conv=notrunc status=none"), 0);

	Mounted m(img.path(), "xfs");
	ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
	int err = 0;
	struct lkl_dir *dir = lkl_opendir(m.path("d").c_str(), &err);
	long result = err;
	if (dir) {
		while (lkl_readdir(dir))
			;
		result = lkl_errdir(dir);
		lkl_closedir(dir);
	}
	if (result == 0) {
		struct lkl_stat st;
		result = lkl_sys_stat(m.path("d/zzmarker50").c_str(), &st);
	}
	EXPECT_TRUE(corruption_error(result)) << lkl_strerror(result);
}

// Where @path first differs from @want, or "" when it is the same.
std::string compare_file(const std::string &path, const std::vector<char> &want)
{
	int fd = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		return path + ": open: " + lkl_strerror(fd);
	std::vector<char> got(want.size() + 1);
	long n = lkl_test::read_all(fd, got.data(), got.size());
	lkl_sys_close(fd);
	if (n != (long)want.size())
		return path + ": read " + std::to_string(n) + " bytes, want " +
		       std::to_string(want.size());
	auto diff = std::mismatch(want.begin(), want.end(), got.begin());
	if (diff.first != want.end())
		return path + ": differs at byte " +
		       std::to_string(diff.first - want.begin());
	return "";
}

// Sequential reads fill XFS's page cache with large folios of up to 1 MiB
// (patches/0002). Without THP such a folio cannot be split, so a truncate
// or a hole punched inside one must keep what lies before the cut, dirty
// or clean, and what lies past it must read back as zeros.
TEST_F(Xfs, CutsInsideLargeFoliosKeepTheRest)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	// Readahead starts with small folios and grows them window by
	// window; 48 MiB into a file they are 1 MiB.
	const unsigned long long size = 64 * MiB, at = 48 * MiB;
	{
		Mounted m(img.path(), "xfs");
		ASSERT_EQ(m.error(), 0);
		ASSERT_EQ(write_file(m.path("cut"), size, 5), 0);
		ASSERT_EQ(write_file(m.path("hole"), size, 6), 0);
		ASSERT_EQ(m.release(), 0);
	}
	std::vector<char> cut = pattern(size, 0, 5), hole = pattern(size, 0, 6);
	const std::vector<char> dirt(100, 'D');
	auto scribble = [&](int fd, std::vector<char> &model, unsigned long long off) {
		ASSERT_EQ(lkl_sys_pwrite64(fd, dirt.data(), dirt.size(), off),
			  (long)dirt.size());
		std::copy(dirt.begin(), dirt.end(), model.begin() + off);
	};
	{
		Mounted m(img.path(), "xfs");
		ASSERT_EQ(m.error(), 0);
		// From a cold cache, so that readahead allocates large folios.
		ASSERT_EQ(check_file(m.path("cut"), size, 5), "");
		ASSERT_EQ(check_file(m.path("hole"), size, 6), "");

		int fd = lkl_sys_open(m.path("cut").c_str(), LKL_O_RDWR, 0);
		ASSERT_GE(fd, 0);
		scribble(fd, cut, at + 1000);
		ASSERT_EQ(lkl_sys_ftruncate(fd, at + 300000), 0);
		cut.resize(at + 300000);
		ASSERT_EQ(lkl_sys_ftruncate(fd, at + 2 * MiB), 0);
		cut.resize(at + 2 * MiB, 0);
		scribble(fd, cut, at + MiB + 5000);
		ASSERT_EQ(lkl_sys_close(fd), 0);

		fd = lkl_sys_open(m.path("hole").c_str(), LKL_O_RDWR, 0);
		ASSERT_GE(fd, 0);
		scribble(fd, hole, at + 100);
		ASSERT_EQ(lkl_sys_fallocate(fd, LKL_FALLOC_FL_PUNCH_HOLE |
						LKL_FALLOC_FL_KEEP_SIZE,
					    at + 65536, 131072), 0);
		std::fill_n(hole.begin() + at + 65536, 131072, 0);
		scribble(fd, hole, at + 900000);
		ASSERT_EQ(lkl_sys_close(fd), 0);

		EXPECT_EQ(compare_file(m.path("cut"), cut), "");
		EXPECT_EQ(compare_file(m.path("hole"), hole), "");
		ASSERT_EQ(m.release(), 0);
	}
	{
		Mounted m(img.path(), "xfs", true);
		ASSERT_EQ(m.error(), 0);
		EXPECT_EQ(compare_file(m.path("cut"), cut), "");
		EXPECT_EQ(compare_file(m.path("hole"), hole), "");
		ASSERT_EQ(m.release(), 0);
	}
	std::string out;
	EXPECT_EQ(run("xfs_repair -n '" + img.path() + "'", &out), 0) << out;
}

TEST_F(Xfs, EightThreadsInOneMount)
{
	Image img(512 * MiB);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	Mounted m(img.path(), "xfs");
	ASSERT_EQ(m.error(), 0);
	std::atomic<int> failures{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < 8; t++) {
		threads.emplace_back([&, t] {
			for (int i = 0; i < 40; i++) {
				std::string p = m.path("t" + std::to_string(t) +
						       "-" + std::to_string(i));
				unsigned long long size = (i % 5) * 70000 + 1;
				if (write_file(p, size, t * 100 + i) ||
				    check_file(p, size, t * 100 + i) != "" ||
				    (i % 3 == 0 && lkl_sys_unlink(p.c_str())))
					failures++;
			}
		});
	}
	for (auto &th : threads)
		th.join();
	EXPECT_EQ(failures.load(), 0);
	ASSERT_EQ(m.release(), 0);
	std::string out;
	EXPECT_EQ(run("xfs_repair -n '" + img.path() + "'", &out), 0) << out;
}

// The kernel's periodic writeback (delayed work on the timer wheel) must
// reach the image without any sync from the program: this needs the tick
// to run the timer wheel long after boot.
TEST(Writeback, DirtyDataReachesTheImageByItself)
{
	if (!have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	Image img(256 * MiB);
	ASSERT_EQ(img.format("mkfs.ext4 -q -F"), "");
	ASSERT_GE(lkl_mount_fs(const_cast<char *>("proc")), 0);
	for (const char *knob : { "/proc/sys/vm/dirty_expire_centisecs",
				  "/proc/sys/vm/dirty_writeback_centisecs" }) {
		int fd = lkl_sys_open(knob, LKL_O_WRONLY, 0);
		ASSERT_GE(fd, 0) << knob;
		ASSERT_EQ(lkl_sys_write(fd, "5\n", 2), 2);
		lkl_sys_close(fd);
	}
	Mounted m(img.path(), "ext4");
	ASSERT_EQ(m.error(), 0);
	const std::string marker = "lkl-writeback-marker-1f3a9c";
	int fd = lkl_sys_open(m.path("f").c_str(), LKL_O_CREAT | LKL_O_WRONLY, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(lkl_sys_write(fd, marker.data(), marker.size()), (long)marker.size());
	ASSERT_EQ(lkl_sys_close(fd), 0);
	bool found = false;
	for (int i = 0; i < 100 && !found; i++) {
		usleep(50000);
		found = run("grep -q " + marker + " '" + img.path() + "'") == 0;
	}
	EXPECT_TRUE(found) << "periodic writeback never wrote the file";
}

TEST(Ext4, RoundTripAndE2fsckClean)
{
	if (!have("mkfs.ext4") || !have("e2fsck"))
		GTEST_SKIP() << "e2fsprogs not installed";
	round_trip("ext4", "mkfs.ext4 -q -F", "e2fsck -fn", 512 * MiB,
		   { .entries = 3000, .big = 32 * MiB, .big_xattr = 3000 });
}

TEST(Btrfs, RoundTripAndCheckClean)
{
	if (!have("mkfs.btrfs") || !have("btrfs"))
		GTEST_SKIP() << "btrfs-progs not installed";
	round_trip("btrfs", "mkfs.btrfs -q -f", "btrfs check", 512 * MiB,
		   { .entries = 2000, .big = 32 * MiB, .big_xattr = 3000 });
}

TEST(Vfat, RoundTripAndFsckClean)
{
	if (!have("mkfs.vfat") || !have("fsck.vfat"))
		GTEST_SKIP() << "dosfstools not installed";
	round_trip("vfat", "mkfs.vfat", "fsck.vfat -n", 256 * MiB,
		   { .entries = 500, .big = 16 * MiB, .links = false,
		     .xattrs = false, .sparse = false });
}

// Two partitions with different file systems, each mounted by number; the
// kernel's own GPT parser finds them.
TEST(Partitions, GptWithExt4AndVfat)
{
	if (!have("sfdisk") || !have("mkfs.ext4") || !have("mkfs.vfat"))
		GTEST_SKIP() << "sfdisk, mkfs.ext4 or mkfs.vfat not installed";
	Image disk(200 * MiB, "gpt.img"), p1(96 * MiB, "p1.img"),
		p2(64 * MiB, "p2.img");
	std::string out;
	ASSERT_EQ(run("printf 'label: gpt\\nstart=2048, size=196608\\n"
		      "start=198656, size=131072\\n' | sfdisk -q '" +
		      disk.path() + "'", &out), 0) << out;
	ASSERT_EQ(p1.format("mkfs.ext4 -q -F"), "");
	ASSERT_EQ(p2.format("mkfs.vfat"), "");
	ASSERT_EQ(run("dd if='" + p1.path() + "' of='" + disk.path() +
		      "' bs=512 seek=2048 conv=notrunc,sparse status=none"), 0);
	ASSERT_EQ(run("dd if='" + p2.path() + "' of='" + disk.path() +
		      "' bs=512 seek=198656 conv=notrunc,sparse status=none"), 0);

	struct lkl_disk d = {};
	d.fd = open(disk.path().c_str(), O_RDWR);
	ASSERT_GE(d.fd, 0);
	int id = lkl_disk_add(&d);
	ASSERT_GE(id, 0) << lkl_strerror(id);
	char m1[64], m2[64];
	ASSERT_EQ(lkl_mount_dev(id, 1, "ext4", 0, nullptr, m1, sizeof(m1)), 0);
	ASSERT_EQ(lkl_mount_dev(id, 2, nullptr, 0, nullptr, m2, sizeof(m2)), 0);
	struct lkl_statfs s1, s2;
	ASSERT_EQ(lkl_sys_statfs(m1, &s1), 0);
	ASSERT_EQ(lkl_sys_statfs(m2, &s2), 0);
	EXPECT_EQ(s1.f_type, 0xEF53);	  // ext4
	EXPECT_EQ(s2.f_type, 0x4d44);	  // msdos/vfat
	EXPECT_EQ(write_file(std::string(m1) + "/a", 100000, 1), 0);
	EXPECT_EQ(write_file(std::string(m2) + "/b", 100000, 2), 0);
	// A disk with a mounted partition is not pulled from under it.
	EXPECT_EQ(lkl_umount_dev(id, 1, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(d), -LKL_EBUSY);
	EXPECT_EQ(write_file(std::string(m2) + "/c", 100000, 3), 0);
	EXPECT_EQ(lkl_umount_dev(id, 2, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(d), 0);
	close(d.fd);
}

// The C++ layer: Disk and Mount own the image and the mount, in both cache
// modes; Cache::none falls back to buffered on a host fs without O_DIRECT.
TEST(Cxx, DiskAndMountRaii)
{
	if (!have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	Image img(64 * MiB);
	ASSERT_EQ(img.format("mkfs.ext4 -q -F"), "");
	int round = 0;
	for (auto cache : {lkl::Disk::Cache::writeback, lkl::Disk::Cache::none}) {
		std::error_code ec;
		std::string dir = "/d" + std::to_string(round++);
		auto disk = lkl::Disk::open(img.path().c_str(), false, ec, cache);
		ASSERT_FALSE(ec) << ec.message();
		auto mnt = lkl::Mount::mount(disk, 0, nullptr, 0, nullptr, ec);
		ASSERT_FALSE(ec) << ec.message();
		ASSERT_EQ(mnt.path().rfind("/mnt/", 0), 0u) << mnt.path();
		EXPECT_FALSE(lkl::mkdir((mnt.path() + dir).c_str(), 0755));
		auto st = lkl::stat((mnt.path() + dir).c_str(), ec);
		EXPECT_FALSE(ec);
		EXPECT_TRUE(LKL_S_ISDIR(st.st_mode));
		auto moved = std::move(mnt);
		EXPECT_FALSE(mnt);
		EXPECT_FALSE(moved.unmount());
		EXPECT_FALSE(moved);
		EXPECT_FALSE(disk.remove());
	}
	std::error_code ec;
	auto none = lkl::Disk::open("/nonexistent/image", true, ec);
	EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
	EXPECT_FALSE(none);
	std::string out;
	EXPECT_EQ(run("e2fsck -fn '" + img.path() + "'", &out), 0) << out;
	int shm = open("/dev/shm", O_RDONLY | O_DIRECTORY);
	if (shm < 0)
		return;
	close(shm);
	std::string tmpfs_img = "/dev/shm/lkl-disk-test-" + std::to_string(getpid());
	ASSERT_EQ(run("cp '" + img.path() + "' '" + tmpfs_img + "'"), 0);
	auto disk = lkl::Disk::open(tmpfs_img.c_str(), true, ec,
				    lkl::Disk::Cache::none);
	EXPECT_FALSE(ec) << "tmpfs refuses O_DIRECT; open must fall back";
	auto mnt = lkl::Mount::mount(disk, 0, "ext4", LKL_MS_RDONLY, nullptr, ec);
	EXPECT_FALSE(ec) << ec.message();
	mnt.unmount();
	disk.remove();
	unlink(tmpfs_img.c_str());
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}

namespace {

// An image held in the test's memory, served by the program's own ops.
struct MemoryDisk {
	static inline std::vector<char> bytes;

	static int capacity(struct lkl_disk, unsigned long long *res)
	{
		*res = bytes.size();
		return 0;
	}

	static int request(struct lkl_disk, struct lkl_blk_req *req)
	{
		unsigned long long off = req->sector * 512;
		for (int i = 0; i < req->count; i++) {
			char *buf = static_cast<char *>(req->buf[i].iov_base);
			size_t len = req->buf[i].iov_len;
			if (off + len > bytes.size())
				return LKL_DEV_BLK_STATUS_IOERR;
			if (req->type == LKL_DEV_BLK_TYPE_READ)
				memcpy(buf, bytes.data() + off, len);
			else if (req->type == LKL_DEV_BLK_TYPE_WRITE)
				memcpy(bytes.data() + off, buf, len);
			else
				return LKL_DEV_BLK_STATUS_OK; // flush: nothing to do
			off += len;
		}
		return LKL_DEV_BLK_STATUS_OK;
	}

	static inline struct lkl_dev_blk_ops ops = {capacity, request};
};

size_t host_threads()
{
	size_t n = 0;
	for (const auto &entry : std::filesystem::directory_iterator("/proc/self/task")) {
		(void)entry;
		n++;
	}
	return n;
}

} // namespace

// LKL_DISK_OPS_INLINE: the program's request() runs in the kernel's
// submitting context, so the disk gets no host threads (the default pool
// makes some), and a file system on it works as on any disk: written,
// unmounted, and found clean by its checker.
TEST(InlineOps, NoThreadsAndTheDataIsRight)
{
	if (!have("mkfs.ext4") || !have("e2fsck"))
		GTEST_SKIP() << "e2fsprogs not installed";
	Image img(64 * MiB);
	ASSERT_EQ(img.format("mkfs.ext4 -q -F"), "");
	{
		std::ifstream in(img.path(), std::ios::binary);
		MemoryDisk::bytes.assign(std::istreambuf_iterator<char>(in), {});
	}
	ASSERT_EQ(MemoryDisk::bytes.size(), 64 * MiB);

	struct lkl_disk pooled = {};
	pooled.ops = &MemoryDisk::ops;
	size_t before = host_threads();
	ASSERT_GE(lkl_disk_add(&pooled), 0);
	EXPECT_GT(host_threads(), before) << "the default backend has no pool?";
	ASSERT_EQ(lkl_disk_remove(pooled), 0);

	struct lkl_disk disk = {};
	disk.ops = &MemoryDisk::ops;
	struct lkl_disk_opts opts = {};
	opts.flags = LKL_DISK_OPS_INLINE;
	before = host_threads();
	int id = lkl_disk_add_opts(&disk, &opts);
	ASSERT_GE(id, 0) << lkl_strerror(id);
	EXPECT_EQ(host_threads(), before);
	char mnt[64];
	ASSERT_EQ(lkl_mount_dev(id, 0, "ext4", 0, nullptr, mnt, sizeof(mnt)), 0);
	EXPECT_EQ(write_file(std::string(mnt) + "/f", 8 * MiB, 7), 0);
	EXPECT_EQ(host_threads(), before);
	ASSERT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	ASSERT_EQ(lkl_disk_remove(disk), 0);

	{
		std::ofstream out(img.path(), std::ios::binary | std::ios::trunc);
		out.write(MemoryDisk::bytes.data(),
			  static_cast<std::streamsize>(MemoryDisk::bytes.size()));
	}
	std::string out;
	EXPECT_EQ(run("e2fsck -fn '" + img.path() + "'", &out), 0) << out;
	Mounted m(img.path(), "ext4", true);
	ASSERT_EQ(m.error(), 0);
	int fd = lkl_sys_open(m.path("f").c_str(), LKL_O_RDONLY, 0);
	ASSERT_GE(fd, 0);
	std::vector<char> got(8 * MiB);
	EXPECT_EQ(lkl_test::read_all(fd, got.data(), got.size()), (long)got.size());
	lkl_sys_close(fd);
	EXPECT_TRUE(got == pattern(got.size(), 0, 7));
}

TEST(InlineOps, NeedsOps)
{
	Image img(MiB);
	struct lkl_disk disk = {};
	disk.fd = open(img.path().c_str(), O_RDWR);
	ASSERT_GE(disk.fd, 0);
	struct lkl_disk_opts opts = {};
	opts.flags = LKL_DISK_OPS_INLINE;
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_EINVAL);
	close(disk.fd);
}
