// O_DIRECT through lkl_sys_*. The host's buffers are not kernel pages, so
// the kernel copies them through its own (arch/lkl/kernel/direct_io.c,
// reached from call_read_iter()/call_write_iter(), patches/0007); memory
// the kernel owns (lkl_sys_mmap()) is pinned and used as it is. Before
// any of this, any O_DIRECT read or write crashed the program
// (get_user_pages() on a task without an mm). Checked on the block device
// itself and on files of XFS, ext4, btrfs and vfat, with every call of the
// read and write family, against what the host then finds in
// the image (the raw bytes, and the file systems' checkers), and against
// each file system's own O_DIRECT rules.
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
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

// @len bytes at @skew bytes into page-aligned memory: the host's heap
// (not pinnable: copied), or anonymous memory of lkl_sys_mmap() (pinned).
class Buffer {
public:
	Buffer(bool kernel, size_t len, size_t skew)
		: kernel_(kernel), size_(len + skew + align)
	{
		if (kernel) {
			long p = lkl_sys_mmap(0, size_, LKL_PROT_READ | LKL_PROT_WRITE,
					      LKL_MAP_PRIVATE | LKL_MAP_ANONYMOUS,
					      -1, 0);
			base_ = p < 0 && p > -4096 ? nullptr : (char *)p;
		} else {
			base_ = static_cast<char *>(aligned_alloc(align, size_));
		}
		if (base_)
			memset(base_, 0, size_);
		data_ = base_ ? base_ + skew : nullptr;
	}
	~Buffer()
	{
		if (kernel_ && base_)
			lkl_sys_munmap((unsigned long)base_, size_);
		else
			free(base_);
	}
	Buffer(const Buffer &) = delete;
	Buffer &operator=(const Buffer &) = delete;
	char *get() const { return data_; }

private:
	bool kernel_;
	size_t size_;
	char *base_, *data_;
};

class DirectIo : public ::testing::Test {
protected:
	static void SetUpTestSuite() { ASSERT_EQ(lkl_test::boot("mem=64M"), 0); }
};

// Writes and reads back @len bytes at @off on @fd (opened O_DIRECT) with
// pwrite64/pread64, from buffers at offset @skew in their allocation.
// Records what was written in @model (the file's expected bytes).
void pwrite_pread(long fd, size_t len, long long off, size_t skew, unsigned seed,
		  bool kernel = false, std::vector<char> *model = nullptr)
{
	std::vector<char> data = pattern(len, seed);
	Buffer wbuf(kernel, len, skew), rbuf(kernel, len, skew);
	ASSERT_TRUE(wbuf.get() && rbuf.get());
	memcpy(wbuf.get(), data.data(), len);
	ASSERT_EQ(lkl_sys_pwrite64(fd, wbuf.get(), len, off), (long)len);
	ASSERT_EQ(lkl_sys_pread64(fd, rbuf.get(), len, off), (long)len);
	EXPECT_EQ(memcmp(rbuf.get(), data.data(), len), 0);
	if (model) {
		if (model->size() < off + len)
			model->resize(off + len);
		std::copy(data.begin(), data.end(), model->begin() + off);
	}
}

// The node of disk @id in a devtmpfs on /dev.
std::string dev_node(int id)
{
	char devtmpfs[] = "devtmpfs", dev[] = "/dev";
	long err = lkl_sys_mount(devtmpfs, dev, devtmpfs, 0, nullptr);
	EXPECT_TRUE(err == 0 || err == -LKL_EBUSY) << lkl_strerror((int)err);
	return "/dev/vd" + std::string(1, char('a' + id));
}

// An image attached as a disk, and its node opened O_DIRECT.
class RawDisk {
public:
	explicit RawDisk(unsigned long long size) : image_(size)
	{
		hostfd_ = open(image_.path().c_str(), O_RDWR | O_CLOEXEC);
		disk_.fd = hostfd_;
		id_ = hostfd_ < 0 ? -1 : lkl_disk_add(&disk_);
		if (id_ >= 0)
			fd_ = lkl_sys_open(dev_node(id_).c_str(),
					   LKL_O_RDWR | LKL_O_DIRECT, 0);
	}
	~RawDisk()
	{
		if (fd_ >= 0)
			lkl_sys_close(fd_);
		if (id_ >= 0)
			lkl_disk_remove(disk_);
		if (hostfd_ >= 0)
			close(hostfd_);
	}
	RawDisk(const RawDisk &) = delete;
	RawDisk &operator=(const RawDisk &) = delete;
	long fd() const { return fd_; }
	// What the host reads from the image file.
	std::vector<char> host_read(size_t len, off_t off) const
	{
		std::vector<char> v(len);
		if (pread(hostfd_, v.data(), len, off) != (ssize_t)len)
			v.clear();
		return v;
	}

private:
	lkl_test::Image image_;
	struct lkl_disk disk_ = {};
	int hostfd_ = -1, id_ = -1;
	long fd_ = -1;
};

} // namespace

// The raw disk, /dev/vda: the writes are in the image file when the call
// returns, and every call of the family works, with the file position
// moved by the ones that use it.
TEST_F(DirectIo, BlockDevice)
{
	RawDisk disk(16ULL << 20);
	long fd = disk.fd();
	ASSERT_GE(fd, 0) << lkl_strerror((int)fd);

	// One page; several copy steps (1 MiB); a host buffer off alignment.
	pwrite_pread(fd, 4096, 0, 0, 1);
	pwrite_pread(fd, 1 << 20, 1 << 20, 0, 2);
	pwrite_pread(fd, 3 * 4096 + 512, 4 << 20, 17, 3);

	// The host sees the data at once: it went to the disk, not a cache.
	EXPECT_EQ(disk.host_read(1 << 20, 1 << 20), pattern(1 << 20, 2));
	EXPECT_EQ(disk.host_read(3 * 4096 + 512, 4 << 20), pattern(3 * 4096 + 512, 3));

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
	// preadv2/pwritev2: an offset, and -1 for the file position.
	ASSERT_EQ(lkl_sys_pwritev2(fd, wv, 2, 11 << 20, 0, 0), 12288);
	ASSERT_EQ(lkl_sys_lseek(fd, 11 << 20, LKL_SEEK_SET), 11 << 20);
	std::fill(c2.begin(), c2.end(), 0);
	std::fill(d2.begin(), d2.end(), 0);
	ASSERT_EQ(lkl_sys_preadv2(fd, rv, 2, -1, -1, 0), 12288);
	EXPECT_EQ(c, c2);
	EXPECT_EQ(d, d2);
	EXPECT_EQ(lkl_sys_lseek(fd, 0, LKL_SEEK_CUR), (11 << 20) + 12288);
	std::vector<char> host = disk.host_read(12288, 11 << 20);
	EXPECT_TRUE(std::equal(c.begin(), c.end(), host.begin()));
	EXPECT_TRUE(std::equal(d.begin(), d.end(), host.begin() + 4096));

	// The block device's own rule: offsets and lengths in logical blocks.
	EXPECT_EQ(lkl_sys_pwrite64(fd, a.data(), 100, 0), -LKL_EINVAL);
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 512, 3), -LKL_EINVAL);
	// The end of the disk: a short read, then nothing.
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 8192, (16 << 20) - 4096), 4096);
	EXPECT_EQ(lkl_sys_pread64(fd, b.data(), 4096, 16 << 20), 0);
}

// Memory of lkl_sys_mmap() is the kernel's own: direct I/O pins it and
// hands its pages to the disk, so the block device's rule on the buffer's
// alignment (its DMA alignment, 512 bytes) applies to it, where a host
// buffer, copied, may lie anywhere.
TEST_F(DirectIo, KernelMemoryIsPinned)
{
	RawDisk disk(16ULL << 20);
	long fd = disk.fd();
	ASSERT_GE(fd, 0) << lkl_strerror((int)fd);

	pwrite_pread(fd, 4096, 0, 0, 11, true);
	pwrite_pread(fd, 1 << 20, 1 << 20, 512, 12, true);
	EXPECT_EQ(disk.host_read(1 << 20, 1 << 20), pattern(1 << 20, 12));

	Buffer kernel(true, 4096, 17), host(false, 4096, 17);
	ASSERT_TRUE(kernel.get() && host.get());
	EXPECT_EQ(lkl_sys_pwrite64(fd, kernel.get(), 4096, 0), -LKL_EINVAL);
	EXPECT_EQ(lkl_sys_pread64(fd, kernel.get(), 4096, 0), -LKL_EINVAL);
	EXPECT_EQ(lkl_sys_pwrite64(fd, host.get(), 4096, 0), 4096);
	EXPECT_EQ(lkl_sys_pread64(fd, host.get(), 4096, 0), 4096);

	// A vector mixing both: copied as a whole.
	std::vector<char> h = pattern(4096, 13), k = pattern(8192, 14);
	Buffer kbuf(true, 8192, 0);
	ASSERT_TRUE(kbuf.get());
	memcpy(kbuf.get(), k.data(), k.size());
	struct lkl_iovec wv[2] = {{h.data(), h.size()}, {kbuf.get(), k.size()}};
	ASSERT_EQ(lkl_sys_pwritev(fd, wv, 2, 2 << 20, 0), 12288);
	std::vector<char> host_view = disk.host_read(12288, 2 << 20);
	EXPECT_TRUE(std::equal(h.begin(), h.end(), host_view.begin()));
	EXPECT_TRUE(std::equal(k.begin(), k.end(), host_view.begin() + 4096));
}

namespace {

// The checker the host runs on an image of @fstype.
std::string checker(const std::string &fstype)
{
	if (fstype == "xfs")
		return "xfs_repair -n ";
	if (fstype == "btrfs")
		return "btrfs check --readonly ";
	if (fstype == "vfat")
		return "fsck.vfat -n ";
	return "e2fsck -fn ";
}

// O_DIRECT on a file of @fstype, from host buffers (aligned or not) and
// from the kernel's memory, with single and vector calls; each file
// system's rule for an unaligned offset; then, after unmounting, the host's
// checker, and the file's bytes read back in a new mount.
void files_on(const char *fstype, const char *mkfs, unsigned long long size,
	      bool unaligned_falls_back)
{
	std::string tool = std::string(mkfs).substr(0, std::string(mkfs).find(' '));
	std::string check = checker(fstype);
	std::string check_tool = check.substr(0, check.find(' '));
	if (!lkl_test::have(tool.c_str()) || !lkl_test::have(check_tool.c_str()))
		GTEST_SKIP() << tool << " or " << check_tool << " not installed";
	lkl_test::Image image(size);
	ASSERT_EQ(image.format(mkfs), "");
	std::vector<char> model;
	{
		lkl_test::Mounted mnt(image.path(), fstype);
		ASSERT_EQ(mnt.error(), 0);
		std::string path = mnt.path("direct");
		long fd = lkl_sys_open(path.c_str(),
				       LKL_O_CREAT | LKL_O_RDWR | LKL_O_DIRECT, 0644);
		ASSERT_GE(fd, 0) << lkl_strerror((int)fd);
		pwrite_pread(fd, 4096, 0, 0, 7, false, &model);
		pwrite_pread(fd, 300 << 10, 64 << 10, 5, 8, false, &model);
		pwrite_pread(fd, 64 << 10, 512 << 10, 0, 9, true, &model);

		// A vector of two host buffers, one of them off alignment.
		std::vector<char> a = pattern(4096, 10), b = pattern(8192, 11);
		struct lkl_iovec wv[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
		ASSERT_EQ(lkl_sys_pwritev2(fd, wv, 2, 1 << 20, 0, 0), 12288);
		model.resize((1 << 20) + 12288);
		std::copy(a.begin(), a.end(), model.begin() + (1 << 20));
		std::copy(b.begin(), b.end(), model.begin() + (1 << 20) + 4096);

		// Past the end of the file: a short read.
		std::vector<char> buf(2 << 20);
		EXPECT_EQ(lkl_sys_pread64(fd, buf.data(), buf.size(), 0),
			  (long)model.size());

		// An offset off the sector: -EINVAL, except where the file
		// system does it buffered (btrfs).
		std::vector<char> c = pattern(100, 12);
		long ret = lkl_sys_pwrite64(fd, c.data(), c.size(), 100);
		if (unaligned_falls_back) {
			EXPECT_EQ(ret, 100);
			std::copy(c.begin(), c.end(), model.begin() + 100);
		} else {
			EXPECT_EQ(ret, -LKL_EINVAL);
		}
		EXPECT_EQ(lkl_sys_close(fd), 0);
		EXPECT_EQ(mnt.release(), 0);
	}
	std::string out;
	EXPECT_EQ(lkl_test::run(check + image.path() + " 2>&1", &out), 0) << out;

	// On the disk, not only in a cache: a new mount reads it back.
	lkl_test::Mounted mnt(image.path(), fstype, true);
	ASSERT_EQ(mnt.error(), 0);
	long fd = lkl_sys_open(mnt.path("direct").c_str(), LKL_O_RDONLY, 0);
	ASSERT_GE(fd, 0);
	std::vector<char> got(model.size() + 4096);
	EXPECT_EQ(lkl_test::read_all((int)fd, got.data(), got.size()),
		  (long)model.size());
	got.resize(model.size());
	EXPECT_TRUE(got == model);
	lkl_sys_close(fd);
}

} // namespace

TEST_F(DirectIo, XfsFile)
{
	files_on("xfs", "mkfs.xfs -q -f", 512ULL << 20, false);
}

TEST_F(DirectIo, Ext4File)
{
	files_on("ext4", "mkfs.ext4 -q -F", 64ULL << 20, false);
}

TEST_F(DirectIo, BtrfsFile)
{
	files_on("btrfs", "mkfs.btrfs -q -f", 256ULL << 20, true);
}

TEST_F(DirectIo, VfatFile)
{
	files_on("vfat", "mkfs.vfat", 64ULL << 20, false);
}

// vmsplice() pins the caller's pages for good, with no copy to fall back
// on: host memory fails with -EFAULT (it used to crash), the kernel's own
// memory is taken.
TEST_F(DirectIo, VmspliceTakesOnlyKernelMemory)
{
	int fds[2];
	ASSERT_EQ(lkl_sys_pipe2(fds, 0), 0);
	static char buf[4096] = "host memory";
	struct lkl_iovec iov = {buf, sizeof(buf)};
	EXPECT_EQ(lkl_sys_vmsplice(fds[1], &iov, 1, 0), -LKL_EFAULT);

	Buffer kbuf(true, 4096, 0);
	ASSERT_TRUE(kbuf.get());
	strcpy(kbuf.get(), "kernel memory");
	iov = {kbuf.get(), 4096};
	EXPECT_EQ(lkl_sys_vmsplice(fds[1], &iov, 1, 0), 4096);
	char got[4096];
	EXPECT_EQ(lkl_sys_read(fds[0], got, sizeof(got)), 4096);
	EXPECT_STREQ(got, "kernel memory");
	lkl_sys_close(fds[0]);
	lkl_sys_close(fds[1]);
}
