// The hot paths of the kernel/host boundary, each beside its host peer:
// boot and halt, an uncontended system call, a task switch, a pipe
// ping-pong between two host threads, a one-byte pread, and resident memory
// after boot.
//
//   core_bench [--benchmark_filter=...]   (Google Benchmark options)
#include <lkl.h>

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <semaphore>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

void quiet(const char *, int)
{
}

double since_ns(Clock::time_point t)
{
	return std::chrono::duration<double, std::nano>(Clock::now() - t).count();
}

// Boot and halt can happen once per process: time them in a fresh process
// (this program again, run with --boot-child), which reports both.
struct BootTimes {
	double boot_ns, halt_ns;
};

int boot_child(int out_fd)
{
	BootTimes t{};
	lkl_host_ops.print = quiet;
	if (lkl_init(&lkl_host_ops))
		return 1;
	auto t0 = Clock::now();
	if (lkl_start_kernel("mem=64M"))
		return 1;
	t.boot_ns = since_ns(t0);
	t0 = Clock::now();
	if (lkl_sys_halt())
		return 1;
	t.halt_ns = since_ns(t0);
	return write(out_fd, &t, sizeof(t)) == sizeof(t) ? 0 : 1;
}

BootTimes boot_in_child()
{
	int fds[2];
	BootTimes t{};
	if (pipe(fds))
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		char fd[16];
		snprintf(fd, sizeof(fd), "%d", fds[1]);
		close(fds[0]);
		execl("/proc/self/exe", "core_bench", "--boot-child", fd,
		      (char *)nullptr);
		_exit(127);
	}
	close(fds[1]);
	bool ok = read(fds[0], &t, sizeof(t)) == sizeof(t);
	close(fds[0]);
	int status;
	waitpid(pid, &status, 0);
	if (!ok) {
		fprintf(stderr, "core_bench: boot child failed\n");
		abort();
	}
	return t;
}

void BM_lkl_boot(benchmark::State &state)
{
	for (auto _ : state)
		state.SetIterationTime(boot_in_child().boot_ns / 1e9);
}
BENCHMARK(BM_lkl_boot)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_lkl_halt(benchmark::State &state)
{
	for (auto _ : state)
		state.SetIterationTime(boot_in_child().halt_ns / 1e9);
}
BENCHMARK(BM_lkl_halt)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_host_getpid(benchmark::State &state)
{
	for (auto _ : state)
		benchmark::DoNotOptimize(syscall(SYS_getpid));
}
BENCHMARK(BM_host_getpid);

void BM_lkl_getpid(benchmark::State &state)
{
	for (auto _ : state)
		benchmark::DoNotOptimize(lkl_sys_getpid());
}
BENCHMARK(BM_lkl_getpid);

void BM_host_fstat(benchmark::State &state)
{
	int fd = open("/dev/shm/lkl-bench-fstat", O_CREAT | O_RDWR, 0600);
	struct stat st;
	for (auto _ : state)
		benchmark::DoNotOptimize(fstat(fd, &st));
	close(fd);
	unlink("/dev/shm/lkl-bench-fstat");
}
BENCHMARK(BM_host_fstat);

void BM_lkl_fstat(benchmark::State &state)
{
	int fd = lkl_sys_open("/bench/fstat", LKL_O_CREAT | LKL_O_RDWR, 0600);
	struct lkl_stat st;
	for (auto _ : state)
		benchmark::DoNotOptimize(lkl_sys_fstat(fd, &st));
	lkl_sys_close(fd);
}
BENCHMARK(BM_lkl_fstat);

// The read family's entry cost: one byte of a small cached file (tmpfs),
// so that the call's fixed overhead, not the copy, is measured.
void BM_host_pread1(benchmark::State &state)
{
	int fd = open("/dev/shm/lkl-bench-pread", O_CREAT | O_RDWR, 0600);
	char c = 'x';
	if (pwrite(fd, &c, 1, 0) != 1) {
		state.SkipWithError("pwrite");
		return;
	}
	for (auto _ : state)
		benchmark::DoNotOptimize(pread(fd, &c, 1, 0));
	close(fd);
	unlink("/dev/shm/lkl-bench-pread");
}
BENCHMARK(BM_host_pread1);

void BM_lkl_pread1(benchmark::State &state)
{
	int fd = lkl_sys_open("/bench/pread", LKL_O_CREAT | LKL_O_RDWR, 0600);
	char c = 'x';
	if (lkl_sys_pwrite64(fd, &c, 1, 0) != 1) {
		state.SkipWithError("pwrite64");
		return;
	}
	for (auto _ : state)
		benchmark::DoNotOptimize(lkl_sys_pread64(fd, &c, 1, 0));
	lkl_sys_close(fd);
}
BENCHMARK(BM_lkl_pread1);

// Per switch; the counter splits off the architecture's own part.
void BM_lkl_task_switch(benchmark::State &state)
{
	constexpr unsigned long rounds = 100000;
	__lkl__u64 total = 0, arch = 0;
	for (auto _ : state) {
		long err = lkl_sys_lkl_switch_bench(rounds, &total, &arch);
		if (err) {
			state.SkipWithError(lkl_strerror((int)err));
			return;
		}
		state.SetIterationTime(total / 1e9);
	}
	state.counters["arch_ns"] = (double)arch;
	state.counters["total_ns"] = (double)total;
}
BENCHMARK(BM_lkl_task_switch)->UseManualTime()->Unit(benchmark::kNanosecond)->Iterations(10);

// Upstream LKL's switch: one host thread hands off to another.
void BM_host_thread_handoff(benchmark::State &state)
{
	std::binary_semaphore a{0}, b{0};
	std::atomic<bool> stop{false};
	std::thread peer([&] {
		for (;;) {
			a.acquire();
			if (stop)
				return;
			b.release();
		}
	});
	for (auto _ : state) {
		a.release();
		b.acquire();
	}
	stop = true;
	a.release();
	peer.join();
	// Two handoffs per iteration.
	state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_host_thread_handoff)->UseRealTime();

// One byte there and back between two host threads.
template <typename Pipe, typename Read, typename Write>
void pingpong(benchmark::State &state, Pipe make, Read rd, Write wr)
{
	int p1[2], p2[2];
	make(p1);
	make(p2);
	std::atomic<bool> stop{false};
	std::thread peer([&] {
		char c;
		while (rd(p1[0], &c) == 1 && !stop)
			wr(p2[1], &c);
	});
	char c = 'x';
	for (auto _ : state) {
		wr(p1[1], &c);
		rd(p2[0], &c);
	}
	stop = true;
	wr(p1[1], &c);
	peer.join();
}

void BM_host_pipe_pingpong(benchmark::State &state)
{
	std::vector<int> fds;
	pingpong(state,
		 [&](int *p) { (void)!pipe(p); fds.insert(fds.end(), p, p + 2); },
		 [](int fd, char *c) { return (long)read(fd, c, 1); },
		 [](int fd, char *c) { return (long)write(fd, c, 1); });
	for (int fd : fds)
		close(fd);
}
BENCHMARK(BM_host_pipe_pingpong)->UseRealTime();

void BM_lkl_pipe_pingpong(benchmark::State &state)
{
	std::vector<int> fds;
	pingpong(state,
		 [&](int *p) { lkl_sys_pipe(p); fds.insert(fds.end(), p, p + 2); },
		 [](int fd, char *c) { return lkl_sys_read(fd, c, 1); },
		 [](int fd, char *c) { return lkl_sys_write(fd, c, 1); });
	for (int fd : fds)
		lkl_sys_close(fd);
}
BENCHMARK(BM_lkl_pipe_pingpong)->UseRealTime();

long rss_kib()
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--boot-child"))
		return boot_child(atoi(argv[2]));

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	long rss_before = rss_kib();
	lkl_host_ops.print = quiet;
	if (lkl_init(&lkl_host_ops) || lkl_start_kernel("mem=64M")) {
		fprintf(stderr, "core_bench: boot failed\n");
		return 1;
	}
	long rss_after = rss_kib();
	lkl_sys_mkdir("/bench", 0755);
	lkl_sys_mount(const_cast<char *>("tmpfs"), const_cast<char *>("/bench"),
		      const_cast<char *>("tmpfs"), 0, nullptr);
	printf("resident memory: %ld KiB before boot, %ld KiB after boot with "
	       "mem=64M (+%ld KiB)\n", rss_before, rss_after,
	       rss_after - rss_before);

	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	lkl_sys_halt();
	lkl_cleanup();
	return 0;
}
