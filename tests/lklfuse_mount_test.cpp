// lklfuse as people mount file systems: through the FUSE mount helper (as
// mount(8) and /etc/fstab run it), remounted read-only and back, mounted
// again right after an unmount, and with generic mount flags among the
// file system's options.
#include "lklfuse_util.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

class FuseMount : public FuseImage {};

// A field of /proc/self/mountinfo with its octal escapes (\043) undone.
std::string unescape(const std::string &f)
{
	std::string out;
	for (size_t i = 0; i < f.size(); i++) {
		if (f[i] == '\\' && i + 3 < f.size()) {
			out += static_cast<char>(std::stoi(f.substr(i + 1, 3), nullptr, 8));
			i += 3;
		} else {
			out += f[i];
		}
	}
	return out;
}

// The source and type /proc/self/mountinfo gives the mount at dir.
std::pair<std::string, std::string> mount_source_and_type(const std::string &dir)
{
	std::ifstream in("/proc/self/mountinfo");
	std::string line;
	while (std::getline(in, line)) {
		std::istringstream fields(line);
		std::string f, mountpoint;
		for (int i = 0; i < 5 && fields >> f; i++)
			if (i == 4)
				mountpoint = f;
		if (unescape(mountpoint) != dir)
			continue;
		while (fields >> f && f != "-")
			;
		std::string type, source;
		fields >> type >> source;
		return {unescape(source), type};
	}
	return {};
}

// Waits until no process holds the image's lock (a daemon has finished).
bool wait_until_free(const std::string &image)
{
	int fd = open(image.c_str(), O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < 2000 && fd >= 0; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			close(fd);
			return true;
		}
		usleep(10000);
	}
	if (fd >= 0)
		close(fd);
	return false;
}

bool writable(const std::string &path)
{
	return write_file(path, "w");
}

// mount.fuse3, the helper mount(8) runs for "-t fuse.lklfuse" and for the
// "lklfuse#IMAGE" form, finds lklfuse on PATH (here: this build's). The
// mount shows the caller's fsname and subtype (the helper gives "lklfuse"
// for "-t fuse.lklfuse"), else the image.
TEST_P(FuseMount, ThroughTheMountHelper)
{
	if (getuid() != 0 || !have("mount.fuse3"))
		GTEST_SKIP() << "needs root and mount.fuse3 (fuse3)";
	TempDir bin;
	ASSERT_EQ(symlink(LKLFUSE_PATH, (bin / "lklfuse").c_str()), 0);
	std::string env = "PATH=" + quote(bin.path()) + ":$PATH ";
	std::string mnt = img_->path() + ".helper";
	ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
	const std::string &image = img_->path();
	std::string out;

	ASSERT_EQ(run(env + "mount.fuse3 " + quote(image) + " " + quote(mnt) +
		      " -t fuse.lklfuse -o rw,allow_other", &out), 0) << out;
	EXPECT_EQ(mount_source_and_type(mnt),
		  std::make_pair(image, std::string("fuse.lklfuse")));
	EXPECT_TRUE(write_file(mnt + "/f", "via the helper"));
	ASSERT_EQ(run("umount " + quote(mnt), &out), 0) << out;
	ASSERT_TRUE(wait_until_free(image));

	std::string fsname = "lklfuse#" + image;
	ASSERT_EQ(run(env + "mount.fuse3 " + quote(fsname) + " " + quote(mnt) +
		      " -o fsname=" + quote(fsname), &out), 0)
		<< out;
	EXPECT_EQ(mount_source_and_type(mnt),
		  std::make_pair(fsname, std::string("fuse")));
	EXPECT_EQ(read_file(mnt + "/f"), "via the helper");

	// mount -o remount,ro runs the helper again: the daemon serving the
	// mount point remounts; no second one starts.
	ASSERT_EQ(run(env + "mount.fuse3 " + quote(fsname) + " " + quote(mnt) +
		      " -o remount,ro", &out), 0) << out;
	EXPECT_FALSE(writable(mnt + "/g"));
	EXPECT_EQ(errno, EROFS);
	ASSERT_EQ(run(env + "mount.fuse3 " + quote(fsname) + " " + quote(mnt) +
		      " -o remount,rw", &out), 0) << out;
	EXPECT_TRUE(writable(mnt + "/g"));
	ASSERT_EQ(run("umount " + quote(mnt), &out), 0) << out;
	ASSERT_TRUE(wait_until_free(image));
	rmdir(mnt.c_str());
}

// lklfuse IMAGE DIR -o remount,ro|rw: the file system inside the kernel
// and the FUSE mount both change; an image opened read-only stays so.
TEST_P(FuseMount, RemountReadOnlyAndBack)
{
	if (getuid() != 0)
		GTEST_SKIP() << "remounting needs root";
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("before"), "b"));
	std::string out;
	std::string remount = std::string(LKLFUSE_PATH) + " " + quote(img_->path()) +
			      " " + quote(m.path()) + " -o remount,";
	ASSERT_EQ(run(remount + "ro", &out), 0) << out;
	EXPECT_FALSE(writable(m.path("during")));
	EXPECT_EQ(errno, EROFS);
	EXPECT_EQ(read_file(m.path("before")), "b");
	ASSERT_EQ(run(remount + "rw", &out), 0) << out;
	EXPECT_TRUE(writable(m.path("after")));
	EXPECT_EQ(m.unmount(), 0) << m.errors();

	Lklfuse ro(*img_, "ro");
	ASSERT_TRUE(ro.mounted()) << ro.errors();
	EXPECT_NE(run(std::string(LKLFUSE_PATH) + " " + quote(img_->path()) + " " +
		      quote(ro.path()) + " -o remount,rw", &out), 0);
	EXPECT_NE(out.find("opened read-only"), std::string::npos) << out;
	EXPECT_EQ(ro.unmount(), 0) << ro.errors();
}

// After fusermount3 -u, lklfuse still writes back and unmounts inside its
// kernel; a new mount of the image, or cptofs, waits for that instead of
// failing on the image's lock.
TEST_P(FuseMount, NextUserWaitsForTheUnmounting)
{
	for (int round = 0; round < 2; round++) {
		Lklfuse m(*img_, "mb=512");
		ASSERT_TRUE(m.mounted()) << m.errors();
		// Plenty for the old daemon to write back after the unmount.
		std::string chunk(8 << 20, 'u');
		int fd = open(m.path("dirty").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
		ASSERT_GE(fd, 0);
		for (int i = 0; i < 8; i++)
			ASSERT_EQ(write(fd, chunk.data(), chunk.size()), (ssize_t)chunk.size());
		close(fd);
		m.unmount_fuse_only();
		if (round == 1) {
			std::string out;
			EXPECT_EQ(run(std::string(CPTOFS_PATH) + " -i " + quote(img_->path()) +
				      " /etc/hostname /", &out), 0) << out;
			EXPECT_EQ(m.unmount(), 0) << m.errors();
			continue;
		}
		Lklfuse next(*img_);
		ASSERT_TRUE(next.mounted()) << next.errors();
		struct stat st;
		ASSERT_EQ(stat(next.path("dirty").c_str(), &st), 0);
		EXPECT_EQ(st.st_size, 8 << 23);
		EXPECT_EQ(m.unmount(), 0) << m.errors();
		EXPECT_EQ(next.unmount(), 0) << next.errors();
	}
	Lklfuse last(*img_, "ro");
	ASSERT_TRUE(last.mounted()) << last.errors();
	EXPECT_EQ(read_file(last.path("hostname")), read_file("/etc/hostname"));
	EXPECT_EQ(last.unmount(), 0) << last.errors();
}

// fstests generic/524 cycles the mount with a little data dirty: the next
// mount waits a moment for the old daemon, and says nothing about it, as a
// kernel mount would (the test compares mount's output).
TEST_P(FuseMount, ShortWaitForTheUnmountingIsSilent)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("dirty"), std::string(4 << 20, 'd')));
	m.unmount_fuse_only();
	Lklfuse next(*img_);
	ASSERT_TRUE(next.mounted()) << next.errors();
	EXPECT_EQ(m.unmount(), 0) << m.errors();
	EXPECT_EQ(next.errors(), "");
	EXPECT_EQ(next.unmount(), 0) << next.errors();
}

// A public bug report: "opts=noatime\,inode64" (the example in --help)
// failed, noatime being a mount flag, not an option of the file system.
TEST_P(FuseMount, GenericFlagsInOptsBecomeMountFlags)
{
	std::string fs_opt = GetParam() == "xfs" ? "inode64" : "nodelalloc";
	Lklfuse m(*img_, "opts=noatime\\,nodev\\," + fs_opt);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("f"), "data"));
	struct timespec old[2] = {{1000000000, 0}, {UTIME_OMIT, UTIME_OMIT}};
	ASSERT_EQ(utimensat(AT_FDCWD, m.path("f").c_str(), old, 0), 0);
	// relatime would set the access time now (it is older than the
	// modification time); noatime leaves it.
	EXPECT_EQ(read_file(m.path("f")), "data");
	struct stat st;
	ASSERT_EQ(stat(m.path("f").c_str(), &st), 0);
	EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
	EXPECT_EQ(m.unmount(), 0) << m.errors();

	Lklfuse plain(*img_);
	ASSERT_TRUE(plain.mounted()) << plain.errors();
	EXPECT_EQ(read_file(plain.path("f")), "data");
	ASSERT_EQ(stat(plain.path("f").c_str(), &st), 0);
	EXPECT_NE(st.st_atim.tv_sec, 1000000000);
	EXPECT_EQ(plain.unmount(), 0) << plain.errors();
}

INSTANTIATE_TEST_SUITE_P(Images, FuseMount, ::testing::Values("xfs", "ext4"),
			 [](const auto &info) { return info.param; });

} // namespace
