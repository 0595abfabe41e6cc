// The host kernel as the oracle: what lkl writes to an XFS image, the host
// kernel reads back identically through a loop mount, and the reverse.
// Needs root and loop devices; skipped with the reason where they are
// missing.
#include "image_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::Mounted;
using lkl_test::run;

namespace {

// One entry of the tree both sides write and check.
struct Entry {
	std::string name;
	enum { File, Dir, Symlink } kind;
	unsigned mode;
	unsigned uid, gid;
	long long mtime_sec, mtime_nsec;
	std::string content; // file data or symlink target
	std::string xattr;   // value of user.oracle, if any
};

const std::vector<Entry> tree = {
	{ "dir", Entry::Dir, 0750, 1000, 100, 1600000000, 123456789, "", "dirattr" },
	{ "dir/small", Entry::File, 0640, 1234, 5678, 1500000000, 1, "hello oracle\n", "v1" },
	{ "dir/big", Entry::File, 0600, 0, 0, 1700000000, 999999999,
	  std::string(3 << 20, 'z') + "tail", std::string(3000, 'x') },
	{ "empty", Entry::File, 0444, 65534, 65534, 1234567890, 500, "", "" },
	{ "link", Entry::Symlink, 0777, 42, 43, 1400000000, 0, "dir/small", "" },
};

// Host mount of an image; skips the test where loop mounts are refused.
class HostMount {
public:
	explicit HostMount(const std::string &image)
	{
		char tmpl[] = "/tmp/lkl-oracle-XXXXXX";
		dir_ = mkdtemp(tmpl) ? tmpl : "";
		std::string out;
		ok_ = !dir_.empty() && geteuid() == 0 &&
		      run("mount -o loop -t xfs '" + image + "' '" + dir_ + "'",
			  &out) == 0;
		why_ = geteuid() != 0 ? "not root" : out;
	}
	~HostMount()
	{
		if (ok_)
			run("umount '" + dir_ + "'");
		if (!dir_.empty())
			rmdir(dir_.c_str());
	}
	bool ok() const { return ok_; }
	const std::string &why() const { return why_; }
	std::string path(const std::string &rel) const { return dir_ + "/" + rel; }

private:
	std::string dir_, why_;
	bool ok_ = false;
};

void write_with_lkl(const Mounted &m)
{
	for (const Entry &e : tree) {
		std::string p = m.path(e.name);
		if (e.kind == Entry::Dir) {
			ASSERT_EQ(lkl_sys_mkdir(p.c_str(), e.mode), 0);
		} else if (e.kind == Entry::Symlink) {
			ASSERT_EQ(lkl_sys_symlink(e.content.c_str(), p.c_str()), 0);
		} else {
			int fd = lkl_sys_open(p.c_str(), LKL_O_CREAT | LKL_O_WRONLY, 0600);
			ASSERT_GE(fd, 0);
			ASSERT_EQ(lkl_test::write_all(fd, e.content.data(),
						      e.content.size()),
				  (long)e.content.size());
			ASSERT_EQ(lkl_sys_close(fd), 0);
		}
		if (!e.xattr.empty())
			ASSERT_EQ(lkl_sys_setxattr(p.c_str(), "user.oracle",
						   e.xattr.data(), e.xattr.size(), 0), 0);
		ASSERT_EQ(lkl_sys_fchownat(LKL_AT_FDCWD, p.c_str(), e.uid, e.gid,
					   LKL_AT_SYMLINK_NOFOLLOW), 0);
		if (e.kind != Entry::Symlink)
			ASSERT_EQ(lkl_sys_chmod(p.c_str(), e.mode), 0);
	}
	// Times last: creating entries changes their directory's mtime.
	for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
		struct __lkl__kernel_timespec ts[2] = {
			{ it->mtime_sec, it->mtime_nsec },
			{ it->mtime_sec, it->mtime_nsec } };
		ASSERT_EQ(lkl_sys_utimensat(LKL_AT_FDCWD, m.path(it->name).c_str(),
					    ts, LKL_AT_SYMLINK_NOFOLLOW), 0);
	}
}

void write_with_host(const HostMount &h)
{
	for (const Entry &e : tree) {
		std::string p = h.path(e.name);
		if (e.kind == Entry::Dir) {
			ASSERT_EQ(mkdir(p.c_str(), e.mode), 0);
		} else if (e.kind == Entry::Symlink) {
			ASSERT_EQ(symlink(e.content.c_str(), p.c_str()), 0);
		} else {
			int fd = open(p.c_str(), O_CREAT | O_WRONLY, 0600);
			ASSERT_GE(fd, 0);
			ASSERT_EQ(write(fd, e.content.data(), e.content.size()),
				  (ssize_t)e.content.size());
			ASSERT_EQ(close(fd), 0);
		}
		if (!e.xattr.empty())
			ASSERT_EQ(lsetxattr(p.c_str(), "user.oracle", e.xattr.data(),
					    e.xattr.size(), 0), 0);
		ASSERT_EQ(lchown(p.c_str(), e.uid, e.gid), 0);
		if (e.kind != Entry::Symlink)
			ASSERT_EQ(chmod(p.c_str(), e.mode), 0);
	}
	for (auto it = tree.rbegin(); it != tree.rend(); ++it) {
		struct timespec ts[2] = { { it->mtime_sec, it->mtime_nsec },
					  { it->mtime_sec, it->mtime_nsec } };
		ASSERT_EQ(utimensat(AT_FDCWD, h.path(it->name).c_str(), ts,
				    AT_SYMLINK_NOFOLLOW), 0);
	}
}

void check_with_host(const HostMount &h)
{
	for (const Entry &e : tree) {
		SCOPED_TRACE(e.name);
		std::string p = h.path(e.name);
		struct stat st;
		ASSERT_EQ(lstat(p.c_str(), &st), 0);
		EXPECT_EQ(st.st_uid, e.uid);
		EXPECT_EQ(st.st_gid, e.gid);
		EXPECT_EQ(st.st_mtim.tv_sec, e.mtime_sec);
		EXPECT_EQ(st.st_mtim.tv_nsec, e.mtime_nsec);
		if (e.kind != Entry::Symlink)
			EXPECT_EQ(st.st_mode & 07777, e.mode);
		std::vector<char> buf(e.content.size() + 16);
		if (e.kind == Entry::Symlink) {
			EXPECT_TRUE(S_ISLNK(st.st_mode));
			ssize_t n = readlink(p.c_str(), buf.data(), buf.size());
			EXPECT_EQ(std::string(buf.data(), n > 0 ? n : 0), e.content);
		} else if (e.kind == Entry::File) {
			int fd = open(p.c_str(), O_RDONLY);
			ASSERT_GE(fd, 0);
			size_t got = 0;
			ssize_t n;
			while ((n = read(fd, buf.data() + got, buf.size() - got)) > 0)
				got += n;
			close(fd);
			EXPECT_EQ(std::string(buf.data(), got), e.content);
		}
		if (!e.xattr.empty()) {
			std::vector<char> x(e.xattr.size() + 16);
			ssize_t n = lgetxattr(p.c_str(), "user.oracle", x.data(), x.size());
			EXPECT_EQ(std::string(x.data(), n > 0 ? n : 0), e.xattr);
		}
	}
}

void check_with_lkl(const Mounted &m)
{
	for (const Entry &e : tree) {
		SCOPED_TRACE(e.name);
		std::string p = m.path(e.name);
		struct lkl_stat st;
		ASSERT_EQ(lkl_sys_lstat(p.c_str(), &st), 0);
		EXPECT_EQ(st.st_uid, e.uid);
		EXPECT_EQ(st.st_gid, e.gid);
		EXPECT_EQ((long long)st.lkl_st_mtime, e.mtime_sec);
		EXPECT_EQ((long long)st.st_mtime_nsec, e.mtime_nsec);
		if (e.kind != Entry::Symlink)
			EXPECT_EQ(st.st_mode & 07777, e.mode);
		std::vector<char> buf(e.content.size() + 16);
		if (e.kind == Entry::Symlink) {
			EXPECT_TRUE(LKL_S_ISLNK(st.st_mode));
			long n = lkl_sys_readlink(p.c_str(), buf.data(), buf.size());
			EXPECT_EQ(std::string(buf.data(), n > 0 ? n : 0), e.content);
		} else if (e.kind == Entry::File) {
			int fd = lkl_sys_open(p.c_str(), LKL_O_RDONLY, 0);
			ASSERT_GE(fd, 0);
			long got = lkl_test::read_all(fd, buf.data(), buf.size());
			lkl_sys_close(fd);
			EXPECT_EQ(std::string(buf.data(), got > 0 ? got : 0), e.content);
		}
		if (!e.xattr.empty()) {
			std::vector<char> x(e.xattr.size() + 16);
			long n = lkl_sys_lgetxattr(p.c_str(), "user.oracle", x.data(),
						   x.size());
			EXPECT_EQ(std::string(x.data(), n > 0 ? n : 0), e.xattr);
		}
	}
}

class Oracle : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!lkl_test::have("mkfs.xfs"))
			GTEST_SKIP() << "mkfs.xfs not installed";
	}
};

TEST_F(Oracle, HostReadsWhatLklWrote)
{
	Image img(512ULL << 20);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	{
		Mounted m(img.path(), "xfs");
		ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
		write_with_lkl(m);
		if (HasFatalFailure())
			return;
	}
	HostMount h(img.path());
	if (!h.ok())
		GTEST_SKIP() << "loop mount unavailable: " << h.why();
	check_with_host(h);
}

TEST_F(Oracle, LklReadsWhatHostWrote)
{
	Image img(512ULL << 20);
	ASSERT_EQ(img.format("mkfs.xfs -q -f"), "");
	{
		HostMount h(img.path());
		if (!h.ok())
			GTEST_SKIP() << "loop mount unavailable: " << h.why();
		write_with_host(h);
		if (HasFatalFailure())
			return;
	}
	Mounted m(img.path(), "xfs");
	ASSERT_EQ(m.error(), 0) << lkl_strerror(m.error());
	check_with_lkl(m);
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}
