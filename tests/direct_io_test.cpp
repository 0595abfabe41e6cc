// O_DIRECT through lkl_sys_*: the host's buffers are not kernel pages, so
// the kernel copies through its own (arch/lkl/kernel/direct_io.c); before
// that, any O_DIRECT read or write crashed the program (get_user_pages() on
// a task without an mm). Checked on the block device itself and on files
// of XFS, ext4 and vfat, with every call of the read and write family, and
// against what the host then finds in the image file.
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr size_t align = 4096;

struct FreeDeleter {
	void operator()(void *p) const { free(p); }
};

std::vector<char> pattern(size_t len, unsigned seed)
{
	std::vector<char> v(len);
	for (size_t i = 0; i < len; i++)
		v[i] = static_cast<char>((i * 31 + seed * 7 + (i >> 12)) & 0xff);
	return v;
}

class DirectIo : public ::testing::Test {
protected:
	static void SetUpTestSuite() { ASSERT_EQ(lkl_test::boot("mem=64M"), 0); }
};

// Writes and reads back @len bytes at @off on @fd (opened O_DIRECT) with
// pwrite64/pread64, from host buffers at offset @skew in their allocation.
void pwrite_pread(long fd, size_t len, long long off, size_t skew, unsigned seed)
{
	std::vector<char> data = pattern(len, seed);
	// Host memory, with @skew bytes into an aligned allocation.
	std::unique_ptr<char[], FreeDeleter> wbuf(
		static_cast<char *>(aligned_alloc(align, len + align)));
	std::unique_ptr<char[], FreeDeleter> rbuf(
		static_cast<char *>(aligned_alloc(align, len + align)));
	memcpy(wbuf.get() + skew, data.data(), len);
	memset(rbuf.get(), 0, len + align);
	ASSERT_EQ(lkl_sys_pwrite64(fd, wbuf.get() + skew, len, off), (long)len);
	ASSERT_EQ(lkl_sys_pread64(fd, rbuf.get() + skew, len, off), (long)len);
	EXPECT_EQ(memcmp(rbuf.get() + skew, data.data(), len), 0);
}

} // namespace

// The raw disk, /dev/vda: the writes are in the image file when the call
// returns, and every call of the family works, with the file position
// moved by the ones that use it.
TEST_F(DirectIo, BlockDevice)
{
	lkl_test::Image image(16ULL << 20);
	int hostfd = open(image.path().c_str(), O_RDWR | O_CLOEXEC);
	ASSERT_GE(hostfd, 0);
	struct lkl_disk disk = {};
	disk.fd = hostfd;
	int id = lkl_disk_add(&disk);
	ASSERT_GE(id, 0);
	char devtmpfs[] = "devtmpfs", dev[] = "/dev";
	long err = lkl_sys_mount(devtmpfs, dev, devtmpfs, 0, nullptr);
	ASSERT_TRUE(err == 0 || err == -LKL_EBUSY) << lkl_strerror((int)err);
	std::string node = "/dev/vd" + std::string(1, char('a' + id));

	long fd = lkl_sys_open(node.c_str(), LKL_O_RDWR | LKL_O_DIRECT, 0);
	ASSERT_GE(fd, 0) << node << ": " << lkl_strerror((int)fd);

	// One page; several bounce steps (1 MiB); a host buffer off alignment.
	pwrite_pread(fd, 4096, 0, 0, 1);
	pwrite_pread(fd, 1 << 20, 1 << 20, 0, 2);
	pwrite_pread(fd, 3 * 4096 + 512, 4 << 20, 17, 3);

	// The host sees the data at once: it went to the disk, not a cache.
	std::vector<char> want = pattern(1 << 20, 2), got(1 << 20);
	ASSERT_EQ(pread(hostfd, got.data(), got.size(), 1 << 20), (ssize_t)got.size());
	EXPECT_EQ(got, want);

	// The file position: write, then read, move it.
	std::vector<char> a = pattern(8192, 4), b(8192);
	ASSERT_EQ(lkl_sys_lseek(fd, 8 << 20, LKL_SEEK_SET), 8 << 20);
	ASSERT_EQ(lkl_sys_write(fd, a.data(), a.size()), (long)a.size());
	EXPECT_EQ(lkl_sys_lseek(fd, 0, LKL_SEEK_CUR), (8 << 20) + 8192);
	ASSERT_EQ(lkl_sys_lseek(fd, 8 << 20, LKL_SEEK_SET), 8 << 20);
	ASSERT_EQ(lkl_sys_read(fd, b.data(), b.size()), (long)b.size());
	EXPECT_EQ(a, b);
	EXPECT_EQ(lkl_sys_lseek(fd, 0, LKL_SEEK_CUR), (8 << 20) + 8192);

	// Vectors, with and without an offset.
	std::vector<char> c = pattern(4096, 5), d = pattern(8192, 6);
	struct lkl_iovec wv[2] = {{c.data(), c.size()}, {d.data(), d.size()}};
	ASSERT_EQ(lkl_sys_pwritev(fd, wv, 2, 9 << 20, 0), 12288);
	std::vector<char> c2(4096), d2(8192);
	struct lkl_iovec rv[2] = {{c2.data(), c2.size()}, {d2.data(), d2.size()}};
	ASSERT_EQ(lkl_sys_preadv(fd, rv, 2, 9 << 20, 0), 12288);
	EXPECT_EQ(c, c2);
	EXPECT_EQ(d, d2);
	ASSERT_EQ(lkl_sys_lseek(fd, 10 << 20, LKL_SEEK_SET), 10 << 20);
	ASSERT_EQ(lkl_sys_writev(fd, wv, 2), 12288);
	ASSERT_EQ(lkl_sys_lseek(fd, 10 << 20, LKL_SEEK_SET), 10 << 20);
	std::fill(c2.begin(), c2.end(), 0);
	std::fill(d2.begin(), d2.end(), 0);
	ASSERT_EQ(lkl_sys_readv(fd, rv, 2), 12288);
	EXPECT_EQ(c, c2);
	EXPECT_EQ(d, d2);

	// The block device's own rule: offsets and lengths in logical blocks.
	EXPECT_EQ(lkl_sys_pwrite64(fd, a.data(), 100, 0), -LKL_EINVAL);
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 512, 3), -LKL_EINVAL);
	// The end of the disk: a short read, then nothing.
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 8192, (16 << 20) - 4096), 4096);
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 4096, 16 << 20), 0);

	EXPECT_EQ(lkl_sys_close(fd), 0);
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	close(hostfd);
}

namespace {

void files_on(const char *fstype, const char *mkfs, unsigned long long size)
{
	std::string tool = std::string(mkfs).substr(0, std::string(mkfs).find(' '));
	if (!lkl_test::have(tool.c_str()))
		GTEST_SKIP() << tool << " not installed";
	lkl_test::Image image(size);
	ASSERT_EQ(image.format(mkfs), "");
	{
		lkl_test::Mounted mnt(image.path(), fstype);
		ASSERT_EQ(mnt.error(), 0);
		std::string path = mnt.path("direct");
		long fd = lkl_sys_open(path.c_str(),
				       LKL_O_CREAT | LKL_O_RDWR | LKL_O_DIRECT, 0644);
		ASSERT_GE(fd, 0) << lkl_strerror((int)fd);
		pwrite_pread(fd, 4096, 0, 0, 7);
		pwrite_pread(fd, 300 << 10, 64 << 10, 5, 8);
		// Past the end of the file: a short read.
		std::vector<char> buf(1 << 20);
		EXPECT_EQ(lkl_sys_pread64(fd, buf.data(), buf.size(), 0),
			  (64 << 10) + (300 << 10));
		EXPECT_EQ(lkl_sys_close(fd), 0);

		// A buffered open sees what was written direct.
		fd = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
		ASSERT_GE(fd, 0);
		std::vector<char> got(300 << 10);
		EXPECT_EQ(lkl_sys_pread64(fd, got.data(), got.size(), 64 << 10),
			  (long)got.size());
		EXPECT_EQ(got, pattern(300 << 10, 8));
		lkl_sys_close(fd);
		EXPECT_EQ(mnt.release(), 0);
	}
	std::string check = std::string(fstype) == "xfs" ? "xfs_repair -n " :
			     std::string(fstype) == "vfat" ? "fsck.vfat -n " :
							     "e2fsck -fn ";
	std::string out;
	if (std::string(fstype) != "vfat" || lkl_test::have("fsck.vfat"))
		EXPECT_EQ(lkl_test::run(check + image.path() + " 2>&1", &out), 0) << out;
}

} // namespace

TEST_F(DirectIo, XfsFile)
{
	files_on("xfs", "mkfs.xfs -q -f", 512ULL << 20);
}

TEST_F(DirectIo, Ext4File)
{
	files_on("ext4", "mkfs.ext4 -q -F", 64ULL << 20);
}

TEST_F(DirectIo, VfatFile)
{
	files_on("vfat", "mkfs.vfat", 64ULL << 20);
}

// Other calls that pin the caller's pages (here vmsplice()) cannot take
// host memory: they fail with -EFAULT, where they used to crash.
TEST_F(DirectIo, PinningHostMemoryFailsCleanly)
{
	int fds[2];
	ASSERT_EQ(lkl_sys_pipe2(fds, 0), 0);
	static char buf[4096] = "host memory";
	struct lkl_iovec iov = {buf, sizeof(buf)};
	EXPECT_EQ(lkl_sys_vmsplice(fds[1], &iov, 1, 0), -LKL_EFAULT);
	lkl_sys_close(fds[0]);
	lkl_sys_close(fds[1]);
}
