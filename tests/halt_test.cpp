// Halt with block requests in flight: lkl_sys_halt() returns only once the
// host has finished every request the kernel gave it (their buffers are
// kernel memory, which the halt frees), system calls blocked in the kernel
// return -ENODEV, and a disk can be removed after halt and after cleanup,
// as upstream LKL programs do. Halting never hangs, whatever interrupts
// and requests are pending: many halts in a row, each in the middle of
// disk writes (LKL_HALT_CYCLES of them; the "stress" run makes 2,000).
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl.h>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

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

	// Synced writes from another thread keep requests going; the halt
	// ends that thread's blocked call with -ENODEV.
	std::atomic<long> last_error{0};
	std::thread writer([&] {
		long fd = lkl_sys_open("/dev/vda", LKL_O_WRONLY, 0);
		if (fd < 0) {
			last_error = fd;
			return;
		}
		static char buf[256 << 10];
		for (long off = 0;; off = (off + sizeof(buf)) % SlowDisk::size) {
			long err = lkl_sys_pwrite64(fd, buf, sizeof(buf), off);
			if (err >= 0)
				err = lkl_sys_fdatasync(fd);
			if (err < 0) {
				last_error = err;
				return;
			}
		}
	});

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
	writer.join();
	EXPECT_EQ(last_error.load(), -LKL_ENODEV);
	lkl_cleanup();
	EXPECT_EQ(lkl_disk_remove(disk), 0);
	std::this_thread::sleep_for(50ms);
	EXPECT_EQ(SlowDisk::after_halt.load(), 0);
}

namespace {

// The image file, with every request counted: is one in flight now?
struct CountingDisk {
	static inline int fd = -1;
	static inline std::atomic<long> started{0}, finished{0};

	static int capacity(struct lkl_disk, unsigned long long *res)
	{
		off_t size = lseek(fd, 0, SEEK_END);
		if (size < 0)
			return -1;
		*res = static_cast<unsigned long long>(size);
		return 0;
	}

	static int request(struct lkl_disk, struct lkl_blk_req *req)
	{
		started++;
		int status = LKL_DEV_BLK_STATUS_OK;
		off_t off = static_cast<off_t>(req->sector) * 512;
		for (int i = 0; i < req->count && status == LKL_DEV_BLK_STATUS_OK; i++) {
			auto *iov = &req->buf[i];
			ssize_t n = 0;
			if (req->type == LKL_DEV_BLK_TYPE_READ)
				n = pread(fd, iov->iov_base, iov->iov_len, off);
			else if (req->type == LKL_DEV_BLK_TYPE_WRITE)
				n = pwrite(fd, iov->iov_base, iov->iov_len, off);
			if (n < 0)
				status = LKL_DEV_BLK_STATUS_IOERR;
			off += static_cast<off_t>(iov->iov_len);
		}
		if (req->type == LKL_DEV_BLK_TYPE_FLUSH && fdatasync(fd))
			status = LKL_DEV_BLK_STATUS_IOERR;
		finished++;
		return status;
	}

	static inline struct lkl_dev_blk_ops ops = {capacity, request};
};

// Aborts the process if it is still armed after @limit: a hung halt must
// fail the test, not stall the run.
class Watchdog {
public:
	explicit Watchdog(std::chrono::seconds limit)
		: thread_([this, limit] {
			  std::unique_lock lock(mutex_);
			  if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
				  fprintf(stderr, "watchdog: lkl_sys_halt() hung\n");
				  std::_Exit(3);
			  }
		  })
	{
	}
	~Watchdog()
	{
		{
			std::lock_guard lock(mutex_);
			done_ = true;
		}
		cv_.notify_all();
		thread_.join();
	}

private:
	std::mutex mutex_;
	std::condition_variable cv_;
	bool done_ = false;
	std::thread thread_;
};

unsigned long halt_cycles()
{
	const char *env = getenv("LKL_HALT_CYCLES");
	return env ? strtoul(env, nullptr, 10) : 100;
}

} // namespace

// Boot, mount, write and fsync from two threads, halt in the middle of it:
// over and over in one process. Every halt returns in bounded time with
// requests in flight and completions arriving while it runs, and the
// writers' calls all return.
TEST(Halt, NeverHangsInTheMiddleOfWrites)
{
	if (!lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	lkl_test::Image image(64ULL << 20);
	ASSERT_EQ(image.format("mkfs.ext4 -q -F"), "");
	CountingDisk::fd = open(image.path().c_str(), O_RDWR | O_CLOEXEC);
	ASSERT_GE(CountingDisk::fd, 0);

	std::mt19937 random(12);
	const unsigned long n = halt_cycles();
	unsigned long with_io = 0;
	double slowest_ms = 0;
	for (unsigned long cycle = 0; cycle < n; cycle++) {
		SCOPED_TRACE("cycle " + std::to_string(cycle));
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
		struct lkl_disk disk = {};
		disk.fd = -1;
		disk.ops = &CountingDisk::ops;
		int id = lkl_disk_add(&disk);
		ASSERT_GE(id, 0);
		char mnt[64];
		// The last life was cut short: ext4 replays its journal.
		ASSERT_EQ(lkl_mount_dev(id, 0, "ext4", 0, nullptr, mnt, sizeof(mnt)), 0);

		std::vector<std::thread> writers;
		std::atomic<int> returned{0};
		for (int w = 0; w < 2; w++)
			writers.emplace_back([&, w] {
				std::string path = std::string(mnt) + "/f" + std::to_string(w);
				static char buf[64 << 10];
				for (;;) {
					long fd = lkl_sys_open(path.c_str(),
							       LKL_O_CREAT | LKL_O_WRONLY, 0644);
					long err = fd;
					if (fd >= 0) {
						err = lkl_sys_write(fd, buf, sizeof(buf));
						if (err >= 0)
							err = lkl_sys_fsync(fd);
						lkl_sys_close(fd);
					}
					if (err < 0)
						break;
				}
				returned++;
			});

		std::this_thread::sleep_for(std::chrono::microseconds(random() % 5000));
		if (CountingDisk::started != CountingDisk::finished)
			with_io++;
		{
			Watchdog watchdog(30s);
			auto start = std::chrono::steady_clock::now();
			ASSERT_EQ(lkl_sys_halt(), 0);
			slowest_ms = std::max(slowest_ms,
					      std::chrono::duration<double, std::milli>(
						      std::chrono::steady_clock::now() - start)
						      .count());
		}
		EXPECT_EQ(CountingDisk::started.load(), CountingDisk::finished.load());
		for (auto &t : writers)
			t.join();
		EXPECT_EQ(returned.load(), 2);
		EXPECT_EQ(lkl_disk_remove(disk), 0);
	}
	lkl_cleanup();
	close(CountingDisk::fd);
	printf("%lu halts, %lu with requests in flight; slowest %.1f ms\n", n,
	       with_io, slowest_ms);
	EXPECT_GT(with_io, 0UL) << "no halt had a request in flight";
}

// Interrupts raised from another host thread all through the halt: some
// arrive while the halting thread holds the CPU, after the last point where
// the kernel would have run them. The halt drops them and returns.
TEST(Halt, DropsInterruptsRaisedMeanwhile)
{
	// The disks' line (arch/lkl/include/asm/irq.h): with no request
	// completed, its handler finds nothing to do.
	constexpr int blk_irq = 2;
	for (int cycle = 0; cycle < 50; cycle++) {
		SCOPED_TRACE("cycle " + std::to_string(cycle));
		ASSERT_EQ(lkl_test::boot("mem=32M"), 0);
		std::atomic<bool> stop{false};
		std::thread raiser([&] {
			while (!stop)
				lkl_trigger_irq(blk_irq);
		});
		std::this_thread::sleep_for(std::chrono::microseconds(500));
		{
			Watchdog watchdog(30s);
			ASSERT_EQ(lkl_sys_halt(), 0);
		}
		EXPECT_EQ(lkl_trigger_irq(blk_irq), -LKL_ENODEV);
		stop = true;
		raiser.join();
	}
	lkl_cleanup();
}
