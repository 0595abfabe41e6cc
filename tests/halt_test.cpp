// Halt with block requests in flight: lkl_sys_halt() returns only once the
// host has finished every request the kernel gave it (their buffers are
// kernel memory, which lkl_cleanup() frees), and a disk can be removed
// after halt and after cleanup, as upstream LKL programs do.
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;

namespace {

// A disk whose requests take a while, so that some are in flight at halt.
struct SlowDisk {
	static constexpr unsigned long long size = 64ULL << 20;
	static inline std::atomic<int> started{0}, finished{0};
	// Set once lkl_sys_halt() has returned: no request may run after.
	static inline std::atomic<bool> halted{false};
	static inline std::atomic<int> after_halt{0};

	static int capacity(struct lkl_disk, unsigned long long *res)
	{
		*res = size;
		return 0;
	}

	static int request(struct lkl_disk, struct lkl_blk_req *req)
	{
		if (halted)
			after_halt++;
		started++;
		std::this_thread::sleep_for(20ms);
		if (req->type == LKL_DEV_BLK_TYPE_READ)
			for (int i = 0; i < req->count; i++)
				memset(req->buf[i].iov_base, 0, req->buf[i].iov_len);
		finished++;
		return LKL_DEV_BLK_STATUS_OK;
	}

	static inline struct lkl_dev_blk_ops ops = {capacity, request};
};

} // namespace

TEST(Halt, WaitsForRequestsInFlightAndDisksAreRemovedAfterIt)
{
	ASSERT_EQ(lkl_test::boot("mem=64M"), 0);
	struct lkl_disk disk = {};
	disk.fd = -1;
	disk.ops = &SlowDisk::ops;
	ASSERT_EQ(lkl_disk_add(&disk), 0);
	char devtmpfs[] = "devtmpfs", dev[] = "/dev";
	ASSERT_EQ(lkl_sys_mount(devtmpfs, dev, devtmpfs, 0, nullptr), 0);

	// Synced writes from another thread keep requests going; that thread
	// is left blocked in the kernel by the halt, as documented.
	std::thread([] {
		long fd = lkl_sys_open("/dev/vda", LKL_O_WRONLY, 0);
		if (fd < 0)
			return;
		static char buf[256 << 10];
		for (long off = 0;; off = (off + sizeof(buf)) % SlowDisk::size)
			if (lkl_sys_pwrite64(fd, buf, sizeof(buf), off) < 0 ||
			    lkl_sys_fdatasync(fd) < 0)
				return;
	}).detach();

	auto deadline = std::chrono::steady_clock::now() + 10s;
	while (SlowDisk::started == SlowDisk::finished &&
	       std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(1ms);
	ASSERT_GT(SlowDisk::started.load(), SlowDisk::finished.load())
		<< "no request was in flight";

	ASSERT_EQ(lkl_sys_halt(), 0);
	SlowDisk::halted = true;
	EXPECT_EQ(SlowDisk::started.load(), SlowDisk::finished.load())
		<< "lkl_sys_halt() returned with requests still running";
	lkl_cleanup();
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	std::this_thread::sleep_for(50ms);
	EXPECT_EQ(SlowDisk::after_halt.load(), 0);
}
