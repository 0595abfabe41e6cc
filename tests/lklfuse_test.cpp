// lklfuse through a real FUSE mount: the test uses the mount with ordinary
// system calls, as any program would, and checks the image with the file
// system's own checker afterwards. Skipped where /dev/fuse is missing.
#include "lklfuse_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

using Fuse = lkl_test::FuseImage;

TEST_P(Fuse, EveryOperation)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();

	// create, write, read, getattr
	ASSERT_TRUE(write_file(m.path("f"), "hello, kernel\n"));
	EXPECT_EQ(read_file(m.path("f")), "hello, kernel\n");
	struct stat st;
	ASSERT_EQ(lstat(m.path("f").c_str(), &st), 0);
	EXPECT_EQ(st.st_size, 14);
	EXPECT_TRUE(S_ISREG(st.st_mode));

	// mkdir, rmdir, mknod (fifo and a device), unlink
	ASSERT_EQ(mkdir(m.path("d").c_str(), 0750), 0);
	ASSERT_EQ(lstat(m.path("d").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0750u);
	ASSERT_EQ(mkfifo(m.path("d/fifo").c_str(), 0644), 0);
	ASSERT_EQ(mknod(m.path("d/null").c_str(), S_IFCHR | 0644, makedev(1, 3)), 0);
	ASSERT_EQ(lstat(m.path("d/null").c_str(), &st), 0);
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(st.st_rdev, makedev(1, 3));
	EXPECT_EQ(rmdir(m.path("d").c_str()), -1);
	EXPECT_EQ(errno, ENOTEMPTY);
	ASSERT_EQ(unlink(m.path("d/fifo").c_str()), 0);
	ASSERT_EQ(unlink(m.path("d/null").c_str()), 0);
	ASSERT_EQ(rmdir(m.path("d").c_str()), 0);
	EXPECT_NE(access(m.path("d").c_str(), F_OK), 0);

	// symlink, readlink, link
	ASSERT_EQ(symlink("f", m.path("s").c_str()), 0);
	char target[64] = {};
	ASSERT_EQ(readlink(m.path("s").c_str(), target, sizeof(target)), 1);
	EXPECT_STREQ(target, "f");
	EXPECT_EQ(read_file(m.path("s")), "hello, kernel\n");
	ASSERT_EQ(link(m.path("f").c_str(), m.path("h").c_str()), 0);
	struct stat a, b;
	ASSERT_EQ(stat(m.path("h").c_str(), &b), 0);
	ASSERT_EQ(stat(m.path("f").c_str(), &a), 0);
	EXPECT_EQ(a.st_ino, b.st_ino);
	EXPECT_EQ(b.st_nlink, 2u);
	// What is written through one name is read through the other.
	EXPECT_EQ(read_file(m.path("f")), "hello, kernel\n");
	ASSERT_TRUE(write_file(m.path("h"), "hello, kernel\n"));
	int hfd = open(m.path("h").c_str(), O_WRONLY);
	ASSERT_GE(hfd, 0);
	ASSERT_EQ(pwrite(hfd, "HELLO", 5, 0), 5);
	close(hfd);
	EXPECT_EQ(read_file(m.path("f")), "HELLO, kernel\n");
	ASSERT_TRUE(write_file(m.path("h"), "hello, kernel\n"));

	// rename, RENAME_NOREPLACE, RENAME_EXCHANGE
	ASSERT_TRUE(write_file(m.path("x"), "x"));
	ASSERT_TRUE(write_file(m.path("y"), "y"));
	EXPECT_EQ(renameat2(AT_FDCWD, m.path("x").c_str(), AT_FDCWD,
			    m.path("y").c_str(), RENAME_NOREPLACE), -1);
	EXPECT_EQ(errno, EEXIST);
	ASSERT_EQ(renameat2(AT_FDCWD, m.path("x").c_str(), AT_FDCWD,
			    m.path("y").c_str(), RENAME_EXCHANGE), 0);
	EXPECT_EQ(read_file(m.path("x")), "y");
	EXPECT_EQ(read_file(m.path("y")), "x");
	ASSERT_EQ(rename(m.path("x").c_str(), m.path("z").c_str()), 0);
	EXPECT_EQ(read_file(m.path("z")), "y");

	// chmod, chown, truncate, utimens (nanoseconds)
	ASSERT_EQ(chmod(m.path("z").c_str(), 0604), 0);
	ASSERT_EQ(chown(m.path("z").c_str(), 1234, 5678), 0);
	ASSERT_EQ(truncate(m.path("z").c_str(), 10000), 0);
	struct timespec times[2] = {{1000000000, 123456789}, {1200000000, 987654321}};
	ASSERT_EQ(utimensat(AT_FDCWD, m.path("z").c_str(), times, 0), 0);
	ASSERT_EQ(lstat(m.path("z").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0604u);
	EXPECT_EQ(st.st_uid, 1234u);
	EXPECT_EQ(st.st_gid, 5678u);
	EXPECT_EQ(st.st_size, 10000);
	EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
	EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
	EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);

	// statfs, access
	struct statvfs sv;
	ASSERT_EQ(statvfs(m.path().c_str(), &sv), 0);
	EXPECT_GT(sv.f_blocks, 0u);
	EXPECT_GT(sv.f_bfree, 0u);
	EXPECT_EQ(sv.f_namemax, 255u);
	EXPECT_EQ(access(m.path("f").c_str(), R_OK | W_OK), 0);
	EXPECT_EQ(access(m.path("nothere").c_str(), F_OK), -1);
	EXPECT_EQ(errno, ENOENT);

	// xattrs, including one too big for an inode
	std::string big(3000, 'v');
	ASSERT_EQ(setxattr(m.path("f").c_str(), "user.small", "1", 1, 0), 0);
	ASSERT_EQ(setxattr(m.path("f").c_str(), "user.big", big.data(), big.size(), 0), 0);
	EXPECT_EQ(setxattr(m.path("f").c_str(), "user.small", "2", 1, XATTR_CREATE), -1);
	EXPECT_EQ(errno, EEXIST);
	std::string got(4000, '\0');
	ASSERT_EQ(getxattr(m.path("f").c_str(), "user.big", got.data(), got.size()),
		  (ssize_t)big.size());
	got.resize(big.size());
	EXPECT_EQ(got, big);
	char names[256];
	ssize_t len = listxattr(m.path("f").c_str(), names, sizeof(names));
	ASSERT_GT(len, 0);
	std::string list(names, (size_t)len);
	EXPECT_NE(list.find("user.small"), std::string::npos);
	EXPECT_NE(list.find("user.big"), std::string::npos);
	ASSERT_EQ(removexattr(m.path("f").c_str(), "user.small"), 0);
	EXPECT_EQ(getxattr(m.path("f").c_str(), "user.small", nullptr, 0), -1);
	EXPECT_EQ(errno, ENODATA);

	// fsync, fsyncdir, fallocate with a hole punched, SEEK_DATA/SEEK_HOLE
	int fd = open(m.path("sparse").c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(fd, 0);
	// (Preallocated, unwritten space reads as a hole to SEEK_HOLE, so
	// the data is written for real.)
	ASSERT_EQ(fallocate(fd, 0, 0, 8 * MiB), 0);
	std::string ones(8 * MiB, '1');
	ASSERT_EQ(pwrite(fd, ones.data(), ones.size(), 0), (ssize_t)ones.size());
	ASSERT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * MiB,
			    2 * MiB), 0);
	ASSERT_EQ(pwrite(fd, "end", 3, 64 * MiB), 3);
	ASSERT_EQ(fsync(fd), 0);
	ASSERT_EQ(fdatasync(fd), 0);
	EXPECT_EQ(lseek(fd, 0, SEEK_HOLE), (off_t)(2 * MiB));
	EXPECT_EQ(lseek(fd, 2 * MiB, SEEK_DATA), (off_t)(4 * MiB));
	EXPECT_EQ(lseek(fd, 8 * MiB, SEEK_DATA), (off_t)(64 * MiB));
	char byte = 1;
	ASSERT_EQ(pread(fd, &byte, 1, 3 * MiB), 1);
	EXPECT_EQ(byte, 0);
	ASSERT_EQ(fstat(fd, &st), 0);
	EXPECT_LT(st.st_blocks * 512, 8 * (long long)MiB);

	// copy_file_range
	int out = open(m.path("copy").c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(out, 0);
	loff_t in_off = 64 * MiB, out_off = 0;
	ASSERT_EQ(copy_file_range(fd, &in_off, out, &out_off, 3, 0), 3);
	close(out);
	EXPECT_EQ(read_file(m.path("copy")), "end");
	close(fd);
	int dfd = open(m.path().c_str(), O_RDONLY | O_DIRECTORY);
	ASSERT_GE(dfd, 0);
	EXPECT_EQ(fsync(dfd), 0);
	close(dfd);

	// An open, unlinked file stays readable and leaves nothing behind.
	fd = open(m.path("f").c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(unlink(m.path("f").c_str()), 0);
	ASSERT_EQ(unlink(m.path("h").c_str()), 0);
	char text[14];
	EXPECT_EQ(pread(fd, text, sizeof(text), 0), 14);
	EXPECT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 14);
	close(fd);
	usleep(100000); // FUSE's release is asynchronous
	DIR *dir = opendir(m.path().c_str());
	ASSERT_NE(dir, nullptr);
	while (struct dirent *e = readdir(dir))
		EXPECT_NE(strncmp(e->d_name, ".fuse_hidden", 12), 0) << e->d_name;
	closedir(dir);

	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// POSIX locks and flock between processes using the mount.
TEST_P(Fuse, LocksBetweenProcesses)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("lockme"), "data"));
	int fd = open(m.path("lockme").c_str(), O_RDWR);
	ASSERT_GE(fd, 0);
	struct flock fl = {};
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	fl.l_len = 2;
	ASSERT_EQ(fcntl(fd, F_SETLK, &fl), 0);
	ASSERT_EQ(flock(fd, LOCK_EX), 0);
	pid_t child = fork();
	if (child == 0) {
		int cfd = open(m.path("lockme").c_str(), O_RDWR);
		struct flock cl = {};
		cl.l_type = F_WRLCK;
		cl.l_whence = SEEK_SET;
		cl.l_len = 1;
		int posix_busy = fcntl(cfd, F_SETLK, &cl) == -1 &&
				 (errno == EAGAIN || errno == EACCES);
		cl.l_start = 2;
		int posix_free = fcntl(cfd, F_SETLK, &cl) == 0;
		int flock_busy = flock(cfd, LOCK_EX | LOCK_NB) == -1 &&
				 errno == EWOULDBLOCK;
		_exit(posix_busy && posix_free && flock_busy ? 0 : 1);
	}
	int status;
	waitpid(child, &status, 0);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// 10,000 entries read back with telldir/seekdir jumping around in them.
TEST_P(Fuse, LargeDirectoryWithSeekdir)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(mkdir(m.path("big").c_str(), 0755), 0);
	const int n = 10000;
	for (int i = 0; i < n; i++) {
		int fd = open(m.path("big/entry-" + std::to_string(i)).c_str(),
			      O_CREAT | O_WRONLY, 0644);
		ASSERT_GE(fd, 0) << i;
		close(fd);
	}
	DIR *dir = opendir(m.path("big").c_str());
	ASSERT_NE(dir, nullptr);
	std::vector<std::pair<long, std::string>> seen;
	for (;;) {
		long pos = telldir(dir);
		struct dirent *e = readdir(dir);
		if (!e)
			break;
		seen.emplace_back(pos, e->d_name);
	}
	ASSERT_EQ(seen.size(), (size_t)n + 2);
	std::vector<std::string> names;
	for (auto &s : seen)
		names.push_back(s.second);
	std::sort(names.begin(), names.end());
	EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
	// Jump back to entries here and there: each seekdir must land on
	// the same entry as before, and continue with the same next one.
	for (size_t i : {size_t(0), size_t(1), size_t(777), size_t(5000), seen.size() - 1,
			 size_t(3), size_t(9999)}) {
		seekdir(dir, seen[i].first);
		struct dirent *e = readdir(dir);
		ASSERT_NE(e, nullptr) << i;
		EXPECT_EQ(seen[i].second, e->d_name) << i;
		if (i + 1 < seen.size()) {
			e = readdir(dir);
			ASSERT_NE(e, nullptr);
			EXPECT_EQ(seen[i + 1].second, e->d_name);
		}
	}
	rewinddir(dir);
	size_t again = 0;
	while (readdir(dir))
		again++;
	EXPECT_EQ(again, seen.size());
	closedir(dir);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// 256 MiB written through the mount, read back through a fresh mount (so
// from the image, not from the host's page cache of this mount).
TEST_P(Fuse, BigFileRoundTrip)
{
	const unsigned long long size = 256 * MiB;
	std::vector<char> chunk(4 * MiB);
	{
		Lklfuse m(*img_);
		ASSERT_TRUE(m.mounted()) << m.errors();
		int fd = open(m.path("big").c_str(), O_CREAT | O_WRONLY, 0644);
		ASSERT_GE(fd, 0);
		for (unsigned long long off = 0; off < size; off += chunk.size()) {
			for (size_t i = 0; i < chunk.size(); i++)
				chunk[i] = pattern_byte(off + i, 7);
			ASSERT_EQ(write(fd, chunk.data(), chunk.size()),
				  (ssize_t)chunk.size());
		}
		ASSERT_EQ(close(fd), 0);
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	Lklfuse m(*img_, "ro");
	ASSERT_TRUE(m.mounted()) << m.errors();
	int fd = open(m.path("big").c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	unsigned long long off = 0, bad = 0;
	ssize_t got;
	while ((got = read(fd, chunk.data(), chunk.size())) > 0) {
		for (ssize_t i = 0; i < got; i++)
			bad += chunk[i] != pattern_byte(off + i, 7);
		off += got;
	}
	close(fd);
	EXPECT_EQ(off, size);
	EXPECT_EQ(bad, 0u);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// Four processes creating, writing, reading back, renaming and deleting
// in the mount at once.
TEST_P(Fuse, FourProcessesAtOnce)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	std::vector<pid_t> kids;
	for (int p = 0; p < 4; p++) {
		pid_t pid = fork();
		if (pid == 0) {
			std::string dir = m.path("p" + std::to_string(p));
			if (mkdir(dir.c_str(), 0755))
				_exit(1);
			for (int i = 0; i < 300; i++) {
				std::string f = dir + "/f" + std::to_string(i);
				std::string data(100 * (i % 50) + p, char('a' + p));
				if (!write_file(f, data) || read_file(f) != data)
					_exit(2);
				if (i % 3 == 0 && unlink(f.c_str()))
					_exit(3);
				if (i % 3 == 1 && rename(f.c_str(), (f + ".r").c_str()))
					_exit(4);
			}
			_exit(0);
		}
		kids.push_back(pid);
	}
	for (pid_t pid : kids) {
		int status;
		waitpid(pid, &status, 0);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			<< "child exit " << WEXITSTATUS(status);
	}
	for (int p = 0; p < 4; p++) {
		int count = 0;
		DIR *dir = opendir(m.path("p" + std::to_string(p)).c_str());
		ASSERT_NE(dir, nullptr);
		while (struct dirent *e = readdir(dir))
			count += e->d_name[0] == 'f';
		closedir(dir);
		EXPECT_EQ(count, 200);
	}
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// With allow_other, other users get the file system's own permission
// checks: no reading root's 0600 file, full use of their own directory.
TEST_P(Fuse, PermissionsAreTheKernels)
{
	if (getuid() != 0)
		GTEST_SKIP() << "needs root to act as another user";
	if (!have("setpriv"))
		GTEST_SKIP() << "setpriv is not installed";
	Lklfuse m(*img_, "allow_other");
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_EQ(chmod(m.path().c_str(), 0755), 0);
	ASSERT_TRUE(write_file(m.path("secret"), "root only"));
	ASSERT_EQ(chmod(m.path("secret").c_str(), 0600), 0);
	ASSERT_EQ(mkdir(m.path("home").c_str(), 0755), 0);
	ASSERT_EQ(chown(m.path("home").c_str(), 65534, 65534), 0);
	ASSERT_EQ(mkdir(m.path("closed").c_str(), 0700), 0);
	ASSERT_TRUE(write_file(m.path("closed/open"), "in a closed dir"));
	ASSERT_EQ(chmod(m.path("closed/open").c_str(), 0644), 0);

	const std::string as_nobody =
		"setpriv --reuid=65534 --regid=65534 --clear-groups ";
	std::string out;
	EXPECT_NE(run(as_nobody + "cat '" + m.path("secret") + "'", &out), 0);
	EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
	// The walk through a directory nobody may search is checked too,
	// even after root has been through it.
	EXPECT_EQ(read_file(m.path("closed/open")), "in a closed dir");
	EXPECT_NE(run(as_nobody + "cat '" + m.path("closed/open") + "'", &out), 0);
	EXPECT_NE(run(as_nobody + "touch '" + m.path("notmine") + "'"), 0);
	EXPECT_EQ(run(as_nobody + "sh -c 'set -e; cd " + m.path("home") +
		      "; echo mine > f; mkdir d; mv f d/g; cat d/g; "
		      "chmod 600 d/g; rm d/g; rmdir d; echo mine > kept'", &out),
		  0) << out;
	// Another user's write clears set-user-ID, as the kernel does it.
	ASSERT_TRUE(write_file(m.path("suid"), "#!/bin/sh\n"));
	ASSERT_EQ(chmod(m.path("suid").c_str(), 04777), 0);
	EXPECT_EQ(run(as_nobody + "sh -c 'echo more >> " + m.path("suid") + "'", &out),
		  0) << out;
	struct stat st;
	ASSERT_EQ(stat(m.path("suid").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 0777u);
	// ... but one who may not write the file may not clear it either.
	ASSERT_EQ(chmod(m.path("suid").c_str(), 04755), 0);
	EXPECT_NE(run(as_nobody + "chmod u-s '" + m.path("suid") + "'"), 0);
	ASSERT_EQ(stat(m.path("suid").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 07777, 04755u);
	ASSERT_EQ(stat(m.path("home/kept").c_str(), &st), 0);
	EXPECT_EQ(st.st_uid, 65534u);
	EXPECT_EQ(st.st_gid, 65534u);
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// Killed with SIGKILL in the middle of writing: the next mount recovers
// the journal, and what was fsynced is there.
TEST_P(Fuse, SigkillDuringWritesKeepsFsyncedData)
{
	std::map<std::string, std::string> synced;
	{
		Lklfuse m(*img_);
		ASSERT_TRUE(m.mounted()) << m.errors();
		for (int i = 0; i < 40; i++) {
			std::string name = "synced-" + std::to_string(i);
			std::string data(1000 + i * 333, char('A' + i % 26));
			int fd = open(m.path(name).c_str(), O_CREAT | O_WRONLY, 0644);
			ASSERT_GE(fd, 0);
			ASSERT_EQ(write(fd, data.data(), data.size()), (ssize_t)data.size());
			ASSERT_EQ(fsync(fd), 0);
			close(fd);
			synced[name] = data;
		}
		int fd = open(m.path("unsynced").c_str(), O_CREAT | O_WRONLY, 0644);
		ASSERT_GE(fd, 0);
		std::string junk(1 << 20, 'j');
		for (int i = 0; i < 16; i++)
			ASSERT_EQ(write(fd, junk.data(), junk.size()), (ssize_t)junk.size());
		m.kill_hard();
		close(fd);
	}
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	for (auto &[name, data] : synced)
		EXPECT_EQ(read_file(m.path(name)), data) << name;
	EXPECT_EQ(m.unmount(), 0) << m.errors();
}

// A read-only mount refuses writes and leaves the image as it was.
TEST_P(Fuse, ReadOnlyNeverWritesTheImage)
{
	{
		Lklfuse m(*img_);
		ASSERT_TRUE(m.mounted()) << m.errors();
		ASSERT_TRUE(write_file(m.path("f"), "before"));
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	std::string sum = img_->sha256();
	{
		Lklfuse m(*img_, "ro");
		ASSERT_TRUE(m.mounted()) << m.errors();
		EXPECT_EQ(read_file(m.path("f")), "before");
		EXPECT_FALSE(write_file(m.path("g"), "x"));
		EXPECT_EQ(errno, EROFS);
		EXPECT_NE(mkdir(m.path("d").c_str(), 0755), 0);
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	EXPECT_EQ(img_->sha256(), sum);
}

// overlay=discard: writes are seen while mounted, the image stays
// bit-identical; overlay=apply: they are in the image afterwards.
TEST_P(Fuse, Overlays)
{
	if (!have("qemu-nbd") || !have("qemu-img"))
		GTEST_SKIP() << "qemu-utils is not installed";
	std::string sum = lkl_test::sparse_digest(img_->path());
	{
		Lklfuse m(*img_, "overlay=discard");
		ASSERT_TRUE(m.mounted()) << m.errors();
		ASSERT_TRUE(write_file(m.path("dropped"), "gone"));
		EXPECT_EQ(read_file(m.path("dropped")), "gone");
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	EXPECT_EQ(lkl_test::sparse_digest(img_->path()), sum);
	{
		Lklfuse m(*img_, "overlay=apply");
		ASSERT_TRUE(m.mounted()) << m.errors();
		ASSERT_TRUE(write_file(m.path("kept"), "here"));
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	EXPECT_NE(lkl_test::sparse_digest(img_->path()), sum);
	{
		Lklfuse m(*img_, "ro");
		ASSERT_TRUE(m.mounted()) << m.errors();
		EXPECT_EQ(read_file(m.path("kept")), "here");
		EXPECT_NE(access(m.path("dropped").c_str(), F_OK), 0);
		EXPECT_EQ(m.unmount(), 0) << m.errors();
	}
	EXPECT_EQ(check_image(*img_, GetParam()), "");
}

// The children of @pid named @comm.
std::vector<pid_t> children_named(pid_t pid, const std::string &comm)
{
	std::vector<pid_t> found;
	std::string dir = "/proc/" + std::to_string(pid) + "/task";
	DIR *d = opendir(dir.c_str());
	if (!d)
		return found;
	while (dirent *e = readdir(d)) {
		if (e->d_name[0] == '.')
			continue;
		std::string list = read_file(dir + "/" + e->d_name + "/children");
		if (list.rfind('<', 0) == 0) // the task is gone
			continue;
		for (size_t at = 0; at < list.size();) {
			size_t end = list.find(' ', at);
			pid_t child = std::stoi(list.substr(at, end - at));
			std::string name = read_file("/proc/" + std::to_string(child) + "/comm");
			if (name == comm + "\n")
				found.push_back(child);
			at = end == std::string::npos ? list.size() : end + 1;
		}
	}
	closedir(d);
	return found;
}

// The path that @pid's descriptor @fd, a Unix socket, was bound to
// (/proc/net/unix, by inode), or "".
std::string socket_path(pid_t pid, int fd)
{
	char link[64] = {};
	std::string fdpath = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
	if (readlink(fdpath.c_str(), link, sizeof(link) - 1) < 0)
		return "";
	std::string inode(link);
	if (inode.rfind("socket:[", 0) != 0)
		return "";
	inode = inode.substr(8, inode.size() - 9);
	std::string table = read_file("/proc/net/unix"), line;
	for (size_t at = 0; at < table.size();) {
		size_t end = table.find('\n', at);
		line = table.substr(at, end - at);
		at = end == std::string::npos ? table.size() : end + 1;
		// Num RefCount Protocol Flags Type St Inode [Path]
		std::vector<std::string> f;
		for (size_t i = 0; i < line.size();) {
			size_t j = line.find(' ', i);
			if (j != i)
				f.push_back(line.substr(i, j - i));
			i = j == std::string::npos ? line.size() : j + 1;
		}
		if (f.size() >= 8 && f[6] == inode)
			return f[7];
	}
	return "";
}

// lklfuse killed outright while an overlay's qemu-nbd serves it: the
// qemu-nbd exits too, and its socket (file and directory) is not left
// behind.
TEST_P(Fuse, SigkillTakesTheQemuNbdAlong)
{
	if (!have("qemu-nbd") || !have("qemu-img"))
		GTEST_SKIP() << "qemu-utils is not installed";
	TempDir tmp;
	const char *old_tmpdir = getenv("TMPDIR");
	std::string saved = old_tmpdir ? old_tmpdir : "";
	setenv("TMPDIR", tmp.path().c_str(), 1);
	pid_t server = -1;
	std::string sock;
	{
		Lklfuse m(*img_, "overlay=discard");
		if (old_tmpdir)
			setenv("TMPDIR", saved.c_str(), 1);
		else
			unsetenv("TMPDIR");
		ASSERT_TRUE(m.mounted()) << m.errors();
		ASSERT_TRUE(write_file(m.path("f"), "in the overlay"));
		std::vector<pid_t> servers = children_named(m.pid(), "qemu-nbd");
		ASSERT_EQ(servers.size(), 1u);
		server = servers[0];
		// Its listening socket, by systemd socket activation.
		sock = socket_path(server, 3);
		EXPECT_FALSE(sock.empty());
		m.kill_hard();
	}
	// Reparented and reaped by init once it exits; a deadline, not a
	// measurement.
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	auto alive = [&] {
		std::string stat = read_file("/proc/" + std::to_string(server) + "/stat");
		size_t paren = stat.rfind(')');
		return paren != std::string::npos && stat.size() > paren + 2 &&
		       stat[paren + 2] != 'Z';
	};
	while (alive() && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	EXPECT_FALSE(alive()) << "qemu-nbd " << server << " outlived lklfuse";
	if (!sock.empty()) {
		struct stat st;
		EXPECT_NE(lstat(sock.c_str(), &st), 0) << sock << " was left behind";
		std::string dir = sock.substr(0, sock.rfind('/'));
		EXPECT_NE(lstat(dir.c_str(), &st), 0) << dir << " was left behind";
	}
}

// Bad images and busy images: a clear message, no mount.
TEST_P(Fuse, RefusesBadOrBusyImages)
{
	{
		Lklfuse m(*img_, "type=" + GetParam() + ",opts=noatime\\,bogus_option");
		EXPECT_FALSE(m.mounted());
		EXPECT_EQ(m.exit_status(), 1);
		EXPECT_NE(m.errors().find(GetParam() + " refused the mount options"),
			  std::string::npos)
			<< m.errors();
	}
	{
		Lklfuse first(*img_);
		ASSERT_TRUE(first.mounted()) << first.errors();
		Lklfuse second(*img_);
		EXPECT_FALSE(second.mounted());
		EXPECT_NE(second.errors().find("in use by another process"),
			  std::string::npos) << second.errors();
		EXPECT_EQ(first.unmount(), 0);
	}
	Image junk(64 * MiB);
	ASSERT_EQ(run("head -c 1M /dev/urandom > '" + junk.path() + "'"), 0);
	Lklfuse bad(junk);
	EXPECT_FALSE(bad.mounted());
	EXPECT_NE(bad.errors().find("no xfs, ext4, btrfs or vfat file system"),
		  std::string::npos) << bad.errors();

	// The superblock's magic is intact but its geometry is nonsense.
	Image corrupt(320 * MiB);
	ASSERT_EQ(corrupt.format(GetParam() == "xfs" ? "mkfs.xfs -q -f" : "mkfs.ext4 -q -F"),
		  "");
	off_t where = GetParam() == "xfs" ? 4 : 1024 + 4;
	int fd = open(corrupt.path().c_str(), O_WRONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(pwrite(fd, "\xff\xff\xff\xff\xff\xff\xff\xff", 8, where), 8);
	close(fd);
	Lklfuse broken(corrupt, "type=" + GetParam());
	EXPECT_FALSE(broken.mounted());
	EXPECT_NE(broken.errors().find("cannot mount"), std::string::npos)
		<< broken.errors();
	// Escaped kernel options reach the file system intact.
	Lklfuse good(*img_, GetParam() == "xfs" ? "opts=allocsize=64k\\,noquota"
						: "opts=commit=30\\,noauto_da_alloc");
	EXPECT_TRUE(good.mounted()) << good.errors();
	EXPECT_EQ(good.unmount(), 0) << good.errors();
}

// SIGTERM (and SIGINT) unmount inside the kernel before lklfuse exits,
// with the tools' status for a stop signal, 128+N: TearDown then finds the
// image clean, log included.
TEST_P(Fuse, SigtermUnmountsCleanly)
{
	Lklfuse m(*img_);
	ASSERT_TRUE(m.mounted()) << m.errors();
	ASSERT_TRUE(write_file(m.path("kept"), std::string(100000, 'k')));
	ASSERT_EQ(kill(m.pid(), SIGTERM), 0);
	for (int i = 0; i < 500 && is_fuse_mount(m.path()); i++)
		usleep(10000);
	EXPECT_FALSE(is_fuse_mount(m.path()));
	EXPECT_EQ(m.unmount(), 128 + SIGTERM) << m.errors();
	Lklfuse again(*img_, "ro");
	ASSERT_TRUE(again.mounted()) << again.errors();
	EXPECT_EQ(read_file(again.path("kept")), std::string(100000, 'k'));
}

TEST(LklfuseCommandLine, HelpVersionAndUsage)
{
	std::string out;
	EXPECT_EQ(run(std::string(LKLFUSE_PATH) + " --help", &out), 0);
	for (const char *opt : {"type=", "part=", "ro", "opts=", "mb=", "log=",
				"lock=", "allow_other"})
		EXPECT_NE(out.find(opt), std::string::npos) << opt;
	EXPECT_EQ(run(std::string(LKLFUSE_PATH) + " --version", &out), 0);
	EXPECT_NE(run(std::string(LKLFUSE_PATH), &out), 0);
	EXPECT_NE(out.find("usage"), std::string::npos) << out;
	EXPECT_EQ(run(std::string(LKLFUSE_PATH) + " /nonexistent.img /tmp", &out), 1);
	EXPECT_NE(out.find("/nonexistent.img: No such file or directory"),
		  std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(Images, Fuse, ::testing::Values("xfs", "ext4"),
			 [](const auto &info) { return info.param; });

} // namespace
