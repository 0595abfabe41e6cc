// Many host threads in the kernel at once: blocking calls that must not
// stall other threads, concurrent syscalls, and threads that come and go.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

// Kernel tasks in the program's thread group (init's: see host_tasks.c).
long kernel_threads()
{
	int err = 0;
	struct lkl_dir *dir = lkl_opendir("/proc/1/task", &err);
	if (!dir)
		return err;
	long n = 0;
	while (struct lkl_linux_dirent64 *d = lkl_readdir(dir))
		n += d->d_name[0] != '.';
	lkl_closedir(dir);
	return n;
}

long host_rss_kib()
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

TEST(Threads, PipeBetweenHostThreadsReaderBlocksFirst)
{
	int fds[2];
	ASSERT_EQ(lkl_sys_pipe(fds), 0);
	constexpr size_t total = 64 << 20;
	std::atomic<bool> reader_started{false};
	std::atomic<long> read_error{0};
	std::atomic<size_t> mismatches{0}, received{0};

	std::thread reader([&] {
		std::vector<unsigned char> buf(100000);
		size_t pos = 0;
		reader_started = true;
		while (pos < total) {
			long n = lkl_sys_read(fds[0], reinterpret_cast<char *>(buf.data()),
						 buf.size());
			if (n <= 0) {
				read_error = n == 0 ? -LKL_EPIPE : n;
				break;
			}
			for (long i = 0; i < n; i++)
				if (buf[i] != (unsigned char)((pos + i) * 7 >> 3))
					mismatches++;
			pos += n;
		}
		received = pos;
	});

	// Let the reader block in an empty pipe first.
	while (!reader_started)
		std::this_thread::yield();
	std::this_thread::sleep_for(std::chrono::milliseconds(50));

	std::vector<unsigned char> chunk(65536 + 17);
	size_t pos = 0;
	while (pos < total) {
		size_t len = std::min(chunk.size(), total - pos);
		for (size_t i = 0; i < len; i++)
			chunk[i] = (unsigned char)((pos + i) * 7 >> 3);
		ASSERT_EQ(lkl_test::write_all(fds[1], chunk.data(), len),
			  (long)len);
		pos += len;
	}
	reader.join();
	EXPECT_EQ(read_error.load(), 0);
	EXPECT_EQ(received.load(), total);
	EXPECT_EQ(mismatches.load(), 0u);
	EXPECT_EQ(lkl_sys_close(fds[0]), 0);
	EXPECT_EQ(lkl_sys_close(fds[1]), 0);
}

TEST(Threads, SixteenThreadsThousandSyscallsEach)
{
	ASSERT_EQ(lkl_test::mount_tmpfs("/mt"), 0);
	constexpr int nthreads = 16, rounds = 250; // 4 syscalls per round
	std::atomic<int> failures{0};
	std::vector<std::thread> threads;

	for (int t = 0; t < nthreads; t++) {
		threads.emplace_back([t, &failures] {
			std::string p = "/mt/f" + std::to_string(t);
			for (int r = 0; r < rounds; r++) {
				char out[64], in[64] = {};
				int len = snprintf(out, sizeof(out),
						   "thread %d round %d", t, r);
				int fd = lkl_sys_open(p.c_str(),
					LKL_O_CREAT | LKL_O_RDWR | LKL_O_TRUNC,
					0600);
				if (fd < 0 ||
				    lkl_sys_write(fd, out, len) != len ||
				    lkl_sys_pread64(fd, in, sizeof(in), 0) != len ||
				    memcmp(in, out, len) ||
				    lkl_sys_close(fd) != 0)
					failures++;
			}
		});
	}
	for (auto &th : threads)
		th.join();
	EXPECT_EQ(failures.load(), 0);
}

TEST(Threads, ShortLivedThreadsLeaveNothingBehind)
{
	ASSERT_GE(lkl_mount_fs(const_cast<char *>("proc")), 0);
	// Warm up: the first batch may grow allocator caches once.
	for (int i = 0; i < 50; i++)
		std::thread([] { lkl_sys_getpid(); }).join();
	long tasks_before = kernel_threads();
	long rss_before = host_rss_kib();
	ASSERT_GT(tasks_before, 0);

	std::atomic<int> failures{0};
	for (int i = 0; i < 1000; i++) {
		std::thread([&failures] {
			if (lkl_sys_getpid() <= 0)
				failures++;
		}).join();
	}
	EXPECT_EQ(failures.load(), 0);
	EXPECT_EQ(kernel_threads(), tasks_before);
	long growth = host_rss_kib() - rss_before;
	EXPECT_LT(growth, 4096) << "host RSS grew by " << growth << " KiB";
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment();
	return RUN_ALL_TESTS();
}
