// POSIX behaviour through lklfuse as a kernel mount of the same file system
// shows it: each test is a failure pjdfstest, fstests or a public bug
// report found in the path-based lklfuse, turned into a check of its own.
#include "lklfuse_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <libaio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

class FusePosix : public FuseImage {};

bool needs_root()
{
	return getuid() != 0;
}

// One name per inode was the path-based design's: the other name of a
// hard link showed the old link count, mode and owner.
TEST_P(FusePosix, HardLinksShareAttributesAtOnce)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("a"), "one"));
	struct stat a, b;
	ASSERT_EQ(stat(m.path("a").c_str(), &a), 0);
	ASSERT_EQ(link(m.path("a").c_str(), m.path("b").c_str()), 0);
	ASSERT_EQ(stat(m.path("a").c_str(), &a), 0);
	EXPECT_EQ(a.st_nlink, 2u);
	ASSERT_EQ(chmod(m.path("a").c_str(), 0600), 0);
	ASSERT_EQ(chown(m.path("b").c_str(), 4321, 8765), 0);
	ASSERT_EQ(stat(m.path("b").c_str(), &b), 0);
	ASSERT_EQ(stat(m.path("a").c_str(), &a), 0);
	EXPECT_EQ(b.st_mode & 07777, 0600u);
	EXPECT_EQ(a.st_uid, 4321u);
	EXPECT_EQ(a.st_gid, 8765u);
	EXPECT_EQ(a.st_ino, b.st_ino);
	// Data through one name, read through the other, both open at once.
	int fa = open(m.path("a").c_str(), O_RDWR);
	int fb = open(m.path("b").c_str(), O_RDONLY);
	ASSERT_GE(fa, 0);
	ASSERT_GE(fb, 0);
	char buf[8] = {};
	ASSERT_EQ(pread(fb, buf, 3, 0), 3);
	ASSERT_EQ(pwrite(fa, "TWO", 3, 0), 3);
	ASSERT_EQ(pread(fb, buf, 3, 0), 3);
	EXPECT_STREQ(buf, "TWO");
	close(fa);
	close(fb);
	ASSERT_EQ(unlink(m.path("a").c_str()), 0);
	ASSERT_EQ(stat(m.path("b").c_str(), &b), 0);
	EXPECT_EQ(b.st_nlink, 1u);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// pjdfstest */03.t: a path of PATH_MAX - 1 bytes, relative to a directory
// in the mount, made of 255-byte names. The path-based design prefixed the
// mount point inside its kernel and got ENAMETOOLONG.
TEST_P(FusePosix, PathOfPathMaxMinusOneBytes)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	int top = open(m.path().c_str(), O_RDONLY | O_DIRECTORY);
	ASSERT_GE(top, 0);
	const std::string dir_name(255, 'd');
	std::string path;
	// 15 directories of 255 bytes and a slash each, then a 255-byte
	// name: 15 * 256 + 255 = 4095 bytes.
	for (int i = 0; i < 15; i++) {
		path += (i ? "/" : "") + dir_name;
		ASSERT_EQ(mkdirat(top, path.c_str(), 0755), 0) << i << strerror(errno);
	}
	std::string file = path + "/" + std::string(255, 'f');
	std::string renamed = path + "/" + std::string(255, 'g');
	ASSERT_EQ(file.size(), size_t(PATH_MAX - 1));
	int fd = openat(top, file.c_str(), O_CREAT | O_WRONLY, 0644);
	ASSERT_GE(fd, 0) << strerror(errno);
	ASSERT_EQ(write(fd, "deep", 4), 4);
	close(fd);
	struct stat st;
	ASSERT_EQ(fstatat(top, file.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0);
	EXPECT_EQ(st.st_size, 4);
	ASSERT_EQ(fchmodat(top, file.c_str(), 0600, 0), 0);
	ASSERT_EQ(renameat(top, file.c_str(), top, renamed.c_str()), 0) << strerror(errno);
	EXPECT_NE(fstatat(top, file.c_str(), &st, 0), 0);
	EXPECT_EQ(errno, ENOENT);
	ASSERT_EQ(fstatat(top, renamed.c_str(), &st, 0), 0);
	EXPECT_EQ(st.st_mode & 07777, 0600u);
	ASSERT_EQ(unlinkat(top, renamed.c_str(), 0), 0);
	for (int i = 14; i >= 0; i--) {
		ASSERT_EQ(unlinkat(top, path.c_str(), AT_REMOVEDIR), 0) << i;
		path.resize(path.size() > 256 ? path.size() - 256 : 0);
	}
	close(top);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

int append_as_user(const std::string &path)
{
	int fd = open(path.c_str(), O_WRONLY | O_APPEND);
	if (fd < 0)
		return 10 + errno % 100;
	int ok = write(fd, "x", 1) == 1;
	return close(fd) == 0 && ok ? 0 : 2;
}

int truncate_as_user(const std::string &path)
{
	return truncate(path.c_str(), 1) == 0 ? 0 : 10 + errno % 100;
}

int ftruncate_as_user(const std::string &path)
{
	int fd = open(path.c_str(), O_WRONLY);
	if (fd < 0)
		return 10 + errno % 100;
	int ret = ftruncate(fd, 2) == 0 ? 0 : 10 + errno % 100;
	close(fd);
	return ret;
}

int open_trunc_as_user(const std::string &path)
{
	int fd = open(path.c_str(), O_WRONLY | O_TRUNC);
	if (fd < 0)
		return 10 + errno % 100;
	close(fd);
	return 0;
}

mode_t mode_of(const std::string &path)
{
	struct stat st;
	return stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0;
}

// pjdfstest and fstests (generic/683-687): a writer who does not own a
// set-ID file may write and truncate it, and the kernel clears the bits
// (set-group-ID only with group execute), as XFS does.
TEST_P(FusePosix, NonOwnerWriteAndTruncateClearSetId)
{
	if (needs_root())
		GTEST_SKIP() << "needs root to act as another user";
	Lklfuse m(*img_, "allow_other,default_permissions");
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(chmod(m.path().c_str(), 0777), 0);
	struct Case {
		const char *name;
		mode_t mode;
		int (*how)(const std::string &);
		mode_t after;
	};
	const Case cases[] = {
		{"w4777", 04777, append_as_user, 0777},
		{"w6777", 06777, append_as_user, 0777},
		{"t2777", 02777, truncate_as_user, 0777},
		{"t6777", 06777, truncate_as_user, 0777},
		{"f2777", 02777, ftruncate_as_user, 0777},
		{"o4777", 04777, open_trunc_as_user, 0777},
	};
	for (const Case &c : cases) {
		std::string path = m.path(c.name);
		ASSERT_TRUE(write_file(path, "data"));
		ASSERT_EQ(chmod(path.c_str(), c.mode), 0);
		EXPECT_EQ(as_user(65534, 65534, c.how, path), 0) << c.name;
		EXPECT_EQ(mode_of(path), c.after) << c.name;
	}
	// Set-group-ID without group execute stays for a writer in the
	// file's group (Linux 6.1 and later kernels agree on that case; for
	// others, 6.2 changed the rule).
	std::string path2 = m.path("w2767");
	ASSERT_TRUE(write_file(path2, "data"));
	ASSERT_EQ(chown(path2.c_str(), 0, 65534), 0);
	ASSERT_EQ(chmod(path2.c_str(), 02767), 0);
	EXPECT_EQ(as_user(65534, 65534, append_as_user, path2), 0);
	EXPECT_EQ(mode_of(path2), 02767u);
	// Root keeps them: it has CAP_FSETID.
	std::string path = m.path("root");
	ASSERT_TRUE(write_file(path, "data"));
	ASSERT_EQ(chmod(path.c_str(), 06777), 0);
	EXPECT_EQ(append_as_user(path), 0);
	EXPECT_EQ(mode_of(path), 06777u);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// The names the renames below work on, by the user 65534, in a mount
// where root made: /sticky (1777) with "root-file" (root's) and
// "own-file" (the user's), /mine (the user's, 0755) and /mine/root-dir
// (root's, 0755).
int renames_as_user(const std::string &top)
{
	auto gone = [](const std::string &p) {
		struct stat st;
		return lstat(p.c_str(), &st) != 0 && errno == ENOENT;
	};
	auto there = [](const std::string &p) {
		struct stat st;
		return lstat(p.c_str(), &st) == 0;
	};
	// Sticky directory: another's file may not be renamed away...
	if (rename((top + "/sticky/root-file").c_str(), (top + "/mine/stolen").c_str()) == 0 ||
	    errno != EPERM)
		return 2;
	if (!there(top + "/sticky/root-file") || !gone(top + "/mine/stolen"))
		return 3;
	// ...one's own may.
	if (rename((top + "/sticky/own-file").c_str(), (top + "/mine/moved").c_str()) != 0)
		return 4;
	if (!gone(top + "/sticky/own-file") || !there(top + "/mine/moved"))
		return 5;
	// A directory one may not write cannot change parent (its ".."
	// changes)...
	if (rename((top + "/mine/root-dir").c_str(), (top + "/sticky/root-dir").c_str()) == 0 ||
	    errno != EACCES)
		return 6;
	if (!there(top + "/mine/root-dir") || !gone(top + "/sticky/root-dir"))
		return 7;
	// ...but may be renamed within its parent.
	if (rename((top + "/mine/root-dir").c_str(), (top + "/mine/renamed-dir").c_str()) != 0)
		return 8;
	if (!gone(top + "/mine/root-dir") || !there(top + "/mine/renamed-dir"))
		return 9;
	// And back and forth again, to catch any stale name.
	if (rename((top + "/mine/moved").c_str(), (top + "/sticky/own-file").c_str()) != 0 ||
	    !there(top + "/sticky/own-file") || !gone(top + "/mine/moved"))
		return 10;
	return 0;
}

// pjdfstest rename/21.t and friends: renames by an unprivileged user
// between sticky and other directories give the kernel's answers, and
// every name points where the kernel says afterwards.
TEST_P(FusePosix, UnprivilegedRenamesLeaveNamesRight)
{
	if (needs_root())
		GTEST_SKIP() << "needs root to act as another user";
	Lklfuse m(*img_, "allow_other,default_permissions");
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(chmod(m.path().c_str(), 0755), 0);
	ASSERT_EQ(mkdir(m.path("sticky").c_str(), 01777), 0);
	ASSERT_EQ(chmod(m.path("sticky").c_str(), 01777), 0);
	ASSERT_TRUE(write_file(m.path("sticky/root-file"), "r"));
	ASSERT_TRUE(write_file(m.path("sticky/own-file"), "o"));
	ASSERT_EQ(chown(m.path("sticky/own-file").c_str(), 65534, 65534), 0);
	ASSERT_EQ(mkdir(m.path("mine").c_str(), 0755), 0);
	ASSERT_EQ(chown(m.path("mine").c_str(), 65534, 65534), 0);
	ASSERT_EQ(mkdir(m.path("mine/root-dir").c_str(), 0755), 0);
	// Root looks everything up first, so that the host has every name
	// cached when the user renames.
	struct stat st;
	for (const char *p : {"sticky/root-file", "sticky/own-file", "mine/root-dir"})
		ASSERT_EQ(stat(m.path(p).c_str(), &st), 0) << p;
	EXPECT_EQ(as_user(65534, 65534, renames_as_user, m.path()), 0);
	// What root sees afterwards.
	EXPECT_EQ(read_file(m.path("sticky/own-file")), "o");
	EXPECT_EQ(read_file(m.path("sticky/root-file")), "r");
	EXPECT_EQ(stat(m.path("mine/renamed-dir").c_str(), &st), 0);
	EXPECT_NE(stat(m.path("mine/root-dir").c_str(), &st), 0);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

int link_as_user(const std::string &top)
{
	return link((top + "/roots").c_str(), (top + "/open/link").c_str()) == 0
		       ? 0
		       : 10 + errno % 100;
}

// Sets a host sysctl for the life of the object and puts the old value
// back (fstests generic/597 changes the same settings the same way). The
// setting is the whole host's: tests running in parallel (ctest -j, one
// instance per file system) take turns through a lock file.
class HostSysctl {
public:
	HostSysctl(const std::string &name, const std::string &value)
		: path_("/proc/sys/" + name)
	{
		std::string lock = name;
		std::replace(lock.begin(), lock.end(), '/', '.');
		lock = "/tmp/lkl-test-sysctl-" + lock;
		lock_fd_ = open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (lock_fd_ >= 0)
			flock(lock_fd_, LOCK_EX);
		old_ = read_file(path_);
		set_ = !old_.empty() && write_file(path_, value);
	}
	~HostSysctl()
	{
		if (set_)
			write_file(path_, old_);
		if (lock_fd_ >= 0)
			close(lock_fd_);
	}
	HostSysctl(const HostSysctl &) = delete;
	HostSysctl &operator=(const HostSysctl &) = delete;
	bool set() const { return set_; }

private:
	std::string path_, old_;
	int lock_fd_ = -1;
	bool set_ = false;
};

// fstests generic/597: whether a user may hard-link a file it does not
// own is the host kernel's fs.protected_hardlinks to decide. The kernel
// inside has its own setting (1 by default, as Debian builds it) and must
// not refuse what the host allowed. Checked with the host's setting at 0
// (the host refuses by itself with 1) and at 1.
TEST_P(FusePosix, ProtectedHardLinksAreTheHostsSetting)
{
	if (needs_root())
		GTEST_SKIP() << "needs root to act as another user";
	Lklfuse m(*img_, "allow_other,default_permissions");
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(chmod(m.path().c_str(), 0755), 0);
	ASSERT_TRUE(write_file(m.path("roots"), "r"));
	ASSERT_EQ(chmod(m.path("roots").c_str(), 0600), 0);
	ASSERT_EQ(mkdir(m.path("open").c_str(), 0777), 0);
	ASSERT_EQ(chmod(m.path("open").c_str(), 0777), 0);
	{
		HostSysctl protect("fs/protected_hardlinks", "1");
		if (!protect.set())
			GTEST_SKIP() << "cannot set the host's fs.protected_hardlinks";
		EXPECT_EQ(as_user(65534, 65534, link_as_user, m.path()), 10 + EPERM);
	}
	{
		HostSysctl allow("fs/protected_hardlinks", "0");
		ASSERT_TRUE(allow.set());
		EXPECT_EQ(as_user(65534, 65534, link_as_user, m.path()), 0);
	}
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// A public bug report: the kernel inside applied its own umask (022) on
// top of the caller's, and under a default ACL granting everything the
// caller's umask, which the ACL replaces.
TEST_P(FusePosix, ModesAreTheCallersUmaskOrDefaultAcl)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	mode_t old = umask(002);
	ASSERT_EQ(mkdir(m.path("d").c_str(), 0777), 0);
	ASSERT_TRUE(write_file(m.path("f"), ""));
	EXPECT_EQ(mode_of(m.path("d")), 0775u);
	EXPECT_EQ(mode_of(m.path("f")), 0664u);
	if (have("setfacl")) {
		ASSERT_EQ(mkdir(m.path("acl").c_str(), 0777), 0);
		ASSERT_EQ(run("setfacl -d -m u::rwx,g::rwx,o::rwx " + quote(m.path("acl"))), 0);
		umask(077);
		ASSERT_EQ(mkdir(m.path("acl/d").c_str(), 0777), 0);
		ASSERT_TRUE(write_file(m.path("acl/f"), ""));
		EXPECT_EQ(mode_of(m.path("acl/d")), 0777u);
		EXPECT_EQ(mode_of(m.path("acl/f")), 0666u);
	}
	umask(old);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// fstests generic/062: extended attributes of a symbolic link itself (not
// of its target), also after the link was renamed into another directory.
TEST_P(FusePosix, XattrsOfSymbolicLinks)
{
	if (needs_root())
		GTEST_SKIP() << "trusted.* attributes need CAP_SYS_ADMIN";
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("target"), "t"));
	ASSERT_EQ(symlink("target", m.path("link").c_str()), 0);
	ASSERT_EQ(lsetxattr(m.path("link").c_str(), "trusted.on_link", "1", 1, 0), 0)
		<< strerror(errno);
	char value[8] = {};
	EXPECT_EQ(getxattr(m.path("target").c_str(), "trusted.on_link", value,
			   sizeof(value)), -1);
	EXPECT_EQ(errno, ENODATA);
	// user.* attributes are not allowed on links, as on a kernel mount.
	EXPECT_EQ(lsetxattr(m.path("link").c_str(), "user.x", "1", 1, 0), -1);
	EXPECT_EQ(errno, EPERM);
	ASSERT_EQ(mkdir(m.path("dir").c_str(), 0755), 0);
	ASSERT_EQ(rename(m.path("link").c_str(), m.path("dir/moved").c_str()), 0);
	EXPECT_EQ(lgetxattr(m.path("dir/moved").c_str(), "trusted.on_link", value,
			    sizeof(value)), 1);
	EXPECT_STREQ(value, "1");
	char names[64];
	ssize_t len = llistxattr(m.path("dir/moved").c_str(), names, sizeof(names));
	EXPECT_EQ(std::string(names, len > 0 ? len : 0), std::string("trusted.on_link", 16));
	EXPECT_EQ(lremovexattr(m.path("dir/moved").c_str(), "trusted.on_link"), 0);
	EXPECT_EQ(lgetxattr(m.path("dir/moved").c_str(), "trusted.on_link", value,
			    sizeof(value)), -1);
	EXPECT_EQ(errno, ENODATA);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// fstests generic/426, 467, 477: a file handle outlives the host's cache
// of the inode (dropped here), as on a kernel mount.
TEST_P(FusePosix, FileHandlesOutliveTheCache)
{
	if (needs_root())
		GTEST_SKIP() << "open_by_handle_at needs CAP_DAC_READ_SEARCH";
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(mkdir(m.path("dir").c_str(), 0755), 0);
	ASSERT_TRUE(write_file(m.path("dir/file"), "by handle"));
	ASSERT_TRUE(write_file(m.path("gone"), "x"));
	struct {
		file_handle h;
		unsigned char bytes[MAX_HANDLE_SZ];
	} fh, dh, gh;
	int mount_id;
	for (auto [h, name] : {std::pair{&fh, "dir/file"}, {&dh, "dir"}, {&gh, "gone"}}) {
		h->h.handle_bytes = MAX_HANDLE_SZ;
		ASSERT_EQ(name_to_handle_at(AT_FDCWD, m.path(name).c_str(), &h->h,
					    &mount_id, 0), 0) << name << strerror(errno);
	}
	ASSERT_EQ(unlink(m.path("gone").c_str()), 0);
	// Every unused inode and dentry of the host goes: FUSE forgets them.
	sync();
	ASSERT_EQ(run("echo 2 > /proc/sys/vm/drop_caches"), 0);
	int top = open(m.path().c_str(), O_RDONLY | O_DIRECTORY);
	ASSERT_GE(top, 0);
	int fd = open_by_handle_at(top, &fh.h, O_RDONLY);
	EXPECT_GE(fd, 0) << strerror(errno);
	char buf[16] = {};
	EXPECT_EQ(read(fd, buf, sizeof(buf)), 9);
	EXPECT_STREQ(buf, "by handle");
	if (fd >= 0)
		close(fd);
	fd = open_by_handle_at(top, &dh.h, O_RDONLY | O_DIRECTORY);
	EXPECT_GE(fd, 0) << strerror(errno);
	if (fd >= 0) {
		struct stat st;
		EXPECT_EQ(fstatat(fd, "file", &st, 0), 0);
		close(fd);
	}
	EXPECT_EQ(open_by_handle_at(top, &gh.h, O_RDONLY), -1);
	EXPECT_EQ(errno, ESTALE);
	close(top);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// fstests generic/451: what a direct write wrote, a buffered read of the
// same range sees at once, even with buffered reads racing with the
// asynchronous direct writes (which filled the host's cache with the old
// bytes behind the write when FUSE made direct I/O asynchronous).
TEST_P(FusePosix, BufferedReadsSeeAsyncDirectWrites)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	const size_t size = 1 << 20;
	std::string file = m.path("mixed");
	ASSERT_TRUE(write_file(file, std::string(size, '\0')));
	int dfd = open(file.c_str(), O_RDWR | O_DIRECT);
	ASSERT_GE(dfd, 0) << strerror(errno);
	void *buf;
	ASSERT_EQ(posix_memalign(&buf, 4096, size), 0);
	io_context_t ctx = {};
	ASSERT_EQ(io_setup(4, &ctx), 0);
	std::atomic<bool> stop{false};
	std::thread reader([&] {
		std::vector<char> rb(size);
		int rfd = open(file.c_str(), O_RDONLY);
		while (!stop)
			pread(rfd, rb.data(), size, 0);
		close(rfd);
	});
	int stale = 0;
	for (int round = 1; round <= 40 && !stale; round++) {
		memset(buf, 'a' + round % 26, size);
		struct iocb cb, *cbs[1] = {&cb};
		io_prep_pwrite(&cb, dfd, buf, size, 0);
		ASSERT_EQ(io_submit(ctx, 1, cbs), 1);
		struct io_event ev;
		ASSERT_EQ(io_getevents(ctx, 1, 1, &ev, nullptr), 1);
		ASSERT_EQ(ev.res, size);
		std::string got = read_file(file);
		stale += got != std::string(size, static_cast<char>('a' + round % 26));
	}
	stop = true;
	reader.join();
	EXPECT_EQ(stale, 0);
	io_destroy(ctx);
	free(buf);
	close(dfd);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

INSTANTIATE_TEST_SUITE_P(Images, FusePosix, ::testing::Values("xfs", "ext4"),
			 [](const auto &info) { return info.param; });

} // namespace
