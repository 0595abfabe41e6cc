// The NBD disk backend and the image helper through the C API: a qemu-nbd
// started privately (socket activation) serving an XFS image made by
// mkfs; data written through lkl reaches the image and xfs_repair finds
// it clean; a read-only export is a read-only disk; discard reaches the
// server; many requests in flight complete with the right data; errors
// are the documented ones; nbdkit's log shows several requests in flight
// at once.
#include "image_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using lkl_test::have;
using lkl_test::Image;
using lkl_test::quote;
using lkl_test::run;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

// lkl_disk_add_nbd() on the server that @args start; the id or -errno.
int add_server(lkl_disk &disk, std::vector<std::string> args,
	       std::string *error = nullptr)
{
	std::vector<char *> argv;
	for (std::string &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	char buf[512] = "";
	lkl_nbd_opts opts = {};
	opts.argv = argv.data();
	opts.error = buf;
	opts.error_len = sizeof(buf);
	int id = lkl_disk_add_nbd(&disk, &opts);
	if (error)
		*error = buf;
	return id;
}

// lkl_disk_add_nbd() on a qemu-nbd serving @image; the id or -errno.
int add_served(lkl_disk &disk, const std::string &image, const char *format,
	       bool read_only_export, std::string *error = nullptr)
{
	std::vector<std::string> args = {"qemu-nbd", "-f", format, "--discard=unmap",
					 image};
	if (read_only_export)
		args.push_back("--read-only");
	return add_server(disk, args, error);
}

class NbdDisk : public testing::Test {
protected:
	void SetUp() override
	{
		if (!have("qemu-nbd") || !have("mkfs.xfs") || !have("xfs_repair"))
			GTEST_SKIP() << "qemu-nbd or xfsprogs missing";
		ASSERT_EQ(image_.format("mkfs.xfs -q -f"), "");
	}

	// Mounts disk @id; the mount point or "" with a test failure.
	std::string mount(int id, int flags = 0)
	{
		char mnt[64];
		long err = lkl_mount_dev(static_cast<unsigned>(id), 0, "xfs", flags,
					 nullptr, mnt, sizeof(mnt));
		EXPECT_EQ(err, 0) << lkl_strerror(static_cast<int>(err));
		return err ? "" : mnt;
	}

	Image image_{512 * MiB};
};

long write_pattern(const std::string &path, size_t size, char seed)
{
	int fd = lkl_sys_open(path.c_str(), LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC,
			      0644);
	if (fd < 0)
		return fd;
	std::vector<char> buf(size);
	for (size_t i = 0; i < size; i++)
		buf[i] = static_cast<char>(seed + i * 7 + (i >> 12));
	long n = lkl_test::write_all(fd, buf.data(), buf.size());
	long s = lkl_sys_fsync(fd);
	lkl_sys_close(fd);
	return n < 0 ? n : s;
}

bool check_pattern(const std::string &path, size_t size, char seed)
{
	int fd = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		return false;
	std::vector<char> buf(size + 1);
	long n = lkl_test::read_all(fd, buf.data(), buf.size());
	lkl_sys_close(fd);
	if (n != static_cast<long>(size))
		return false;
	for (size_t i = 0; i < size; i++)
		if (buf[i] != static_cast<char>(seed + i * 7 + (i >> 12)))
			return false;
	return true;
}

// Files written from several threads at once (many requests in flight),
// read back after a remount (from the server, not the page cache), and
// the image is clean XFS afterwards.
TEST_F(NbdDisk, ParallelWritesReachTheImage)
{
	lkl_disk disk = {};
	std::string error;
	int id = add_served(disk, image_.path(), "raw", false, &error);
	ASSERT_GE(id, 0) << error;
	EXPECT_EQ(disk.fd, -1);
	std::string mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	std::atomic<long> failed{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; t++)
		threads.emplace_back([&, t] {
			for (int f = 0; f < 4; f++) {
				std::string p = mnt + "/t" + std::to_string(t) + "f" +
						std::to_string(f);
				long err = write_pattern(p, 3 * MiB + 1000 * t, 't' + f);
				if (err < 0)
					failed = err;
			}
		});
	for (auto &t : threads)
		t.join();
	EXPECT_EQ(failed.load(), 0);
	ASSERT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	for (int t = 0; t < 4; t++)
		for (int f = 0; f < 4; f++)
			EXPECT_TRUE(check_pattern(mnt + "/t" + std::to_string(t) + "f" +
							  std::to_string(f),
						  3 * MiB + 1000 * t, 't' + f))
				<< t << " " << f;
	// Discard reaches the server: the image's allocation shrinks.
	struct stat before {};
	stat(image_.path().c_str(), &before);
	for (int t = 0; t < 4; t++)
		for (int f = 0; f < 4; f++)
			lkl_sys_unlink((mnt + "/t" + std::to_string(t) + "f" +
					std::to_string(f)).c_str());
	lkl_sys_sync();
	struct lkl_fstrim_range range = {};
	range.len = ~0ULL;
	long dir = lkl_sys_open(mnt.c_str(), LKL_O_RDONLY, 0);
	ASSERT_GE(dir, 0);
	long trim = lkl_sys_ioctl(dir, LKL_FITRIM, reinterpret_cast<long>(&range));
	lkl_sys_close(dir);
	EXPECT_EQ(trim, 0) << lkl_strerror(static_cast<int>(trim));
	ASSERT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	ASSERT_EQ(lkl_disk_remove(disk), 0);
	struct stat after {};
	stat(image_.path().c_str(), &after);
	EXPECT_LT(after.st_blocks, before.st_blocks);
	std::string out;
	EXPECT_EQ(run("xfs_repair -n " + quote(image_.path()), &out), 0) << out;
}

// The most Read commands that nbdkit's log filter saw in flight at once:
// it logs "Read id=N ..." when one arrives and "...Read id=N return=..."
// when it is answered.
int most_reads_in_flight(const std::string &log)
{
	std::ifstream in(log);
	int now = 0, most = 0;
	for (std::string line; std::getline(in, line);) {
		if (line.find(" ...Read id=") != std::string::npos)
			now--;
		else if (line.find(" Read id=") != std::string::npos)
			most = std::max(most, ++now);
	}
	return most;
}

// Several requests really are in flight at once: an nbdkit server (its
// file plugin on the image) answers each read only after a delay, and its
// log filter, which sits in front of the delay, records when each read
// arrives and when it is answered. Four threads read files back after a
// remount; with one request at a time there would never be two reads open.
TEST_F(NbdDisk, RequestsAreInFlightAtOnce)
{
	if (!have("nbdkit"))
		GTEST_SKIP() << "nbdkit is not installed";
	std::string log = image_.path() + ".log";
	lkl_disk disk = {};
	std::string error;
	int id = add_server(disk, {"nbdkit", "-f", "--filter=log", "--filter=delay",
				   "file", image_.path(), "logfile=" + log,
				   "delay-read=20ms"},
			    &error);
	ASSERT_GE(id, 0) << error;
	std::string mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	for (int t = 0; t < 4; t++)
		ASSERT_EQ(write_pattern(mnt + "/f" + std::to_string(t), 4 * MiB, 'a' + t), 0);
	ASSERT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	int before = most_reads_in_flight(log);
	mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	std::atomic<int> bad{0};
	std::vector<std::thread> threads;
	for (int t = 0; t < 4; t++)
		threads.emplace_back([&, t] {
			if (!check_pattern(mnt + "/f" + std::to_string(t), 4 * MiB, 'a' + t))
				bad++;
		});
	for (auto &t : threads)
		t.join();
	EXPECT_EQ(bad.load(), 0);
	EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	int most = most_reads_in_flight(log);
	EXPECT_GE(most, 4) << "reads in flight at once (before the reads back: "
			   << before << ")";
}

// A server that takes at most 64 KiB a command (nbdkit's blocksize-policy
// filter refuses anything larger) still gets every read and write: merged
// segments of the kernel's requests are cut to the size it names.
TEST_F(NbdDisk, RequestsFitTheServersMaximum)
{
	if (!have("nbdkit"))
		GTEST_SKIP() << "nbdkit is not installed";
	lkl_disk disk = {};
	std::string error;
	int id = add_server(disk, {"nbdkit", "-f", "--filter=blocksize-policy", "file",
				   image_.path(), "blocksize-maximum=64K",
				   "blocksize-error-policy=error"},
			    &error);
	ASSERT_GE(id, 0) << error;
	std::string mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	ASSERT_EQ(write_pattern(mnt + "/big", 8 * MiB, 'm'), 0);
	ASSERT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	EXPECT_TRUE(check_pattern(mnt + "/big", 8 * MiB, 'm'));
	EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
}

// An export the server makes read-only is a read-only disk: a writable
// mount fails, a read-only one works, and the image stays the same.
TEST_F(NbdDisk, ReadOnlyExport)
{
	std::string before = lkl_test::sparse_digest(image_.path());
	lkl_disk disk = {};
	std::string error;
	int id = add_served(disk, image_.path(), "raw", true, &error);
	ASSERT_GE(id, 0) << error;
	char mnt[64];
	long err = lkl_mount_dev(id, 0, "xfs", 0, nullptr, mnt, sizeof(mnt));
	EXPECT_TRUE(err == -LKL_EROFS || err == -LKL_EACCES) << lkl_strerror(err);
	ASSERT_FALSE(mount(id, LKL_MS_RDONLY).empty());
	EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	EXPECT_EQ(lkl_test::sparse_digest(image_.path()), before);
}

// The documented errors.
TEST_F(NbdDisk, Errors)
{
	lkl_disk disk = {};
	lkl_nbd_opts opts = {};
	EXPECT_EQ(lkl_disk_add_nbd(&disk, &opts), -LKL_EINVAL);
	char *argv[] = {const_cast<char *>("qemu-nbd"), nullptr};
	opts.uri = "nbd://127.0.0.1/";
	opts.argv = argv;
	EXPECT_EQ(lkl_disk_add_nbd(&disk, &opts), -LKL_EINVAL);
	opts.argv = nullptr;
	opts.flags = 0x100;
	EXPECT_EQ(lkl_disk_add_nbd(&disk, &opts), -LKL_EINVAL);
	opts.flags = 0;
	char buf[256] = "";
	opts.error = buf;
	opts.error_len = sizeof(buf);
	opts.uri = "nbd+unix:///?socket=/nonexistent/nbd.sock";
	EXPECT_EQ(lkl_disk_add_nbd(&disk, &opts), -LKL_ENOENT);
	EXPECT_NE(buf[0], '\0');

	lkl_image_opts iopts = {};
	iopts.format = "qcow3";
	EXPECT_EQ(lkl_disk_add_image(&disk, image_.path().c_str(), &iopts),
		  -LKL_EINVAL);
	iopts.format = "qcow2";
	iopts.error = buf;
	iopts.error_len = sizeof(buf);
	EXPECT_EQ(lkl_disk_add_image(&disk, image_.path().c_str(), &iopts), -LKL_EIO);
	EXPECT_NE(std::string(buf).find("qemu-nbd"), std::string::npos) << buf;
	EXPECT_EQ(lkl_disk_apply_overlay(disk, nullptr, 0), -LKL_EINVAL);

	const char *format = nullptr;
	int fd = open(image_.path().c_str(), O_RDONLY);
	EXPECT_EQ(lkl_image_format(fd, &format), 0);
	EXPECT_STREQ(format, "raw");
	close(fd);
}

// lkl_disk_add_image() on a qcow2: detected, served, and the image is
// what qemu-img check calls clean after writes.
TEST_F(NbdDisk, ImageHelperOnQcow2)
{
	std::string qcow2 = image_.path() + ".q", out;
	ASSERT_EQ(run("qemu-img convert -O qcow2 " + quote(image_.path()) + " " +
			      quote(qcow2),
		      &out),
		  0)
		<< out;
	const char *format = nullptr;
	int fd = open(qcow2.c_str(), O_RDONLY);
	EXPECT_EQ(lkl_image_format(fd, &format), 0);
	close(fd);
	EXPECT_STREQ(format, "qcow2");
	lkl_disk disk = {};
	char buf[256] = "";
	lkl_image_opts opts = {};
	opts.error = buf;
	opts.error_len = sizeof(buf);
	int id = lkl_disk_add_image(&disk, qcow2.c_str(), &opts);
	ASSERT_GE(id, 0) << buf;
	std::string mnt = mount(id);
	ASSERT_FALSE(mnt.empty());
	EXPECT_EQ(write_pattern(mnt + "/file", 5 * MiB, 'q'), 0);
	EXPECT_EQ(lkl_umount_dev(id, 0, 0, 5000), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	EXPECT_EQ(run("qemu-img check -q " + quote(qcow2), &out), 0) << out;
}

} // namespace

int main(int argc, char **argv)
{
	testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment();
	return RUN_ALL_TESTS();
}
