// The cost of a fresh kernel: halting and booting again in the same process
// (what a fuzzer does per input), against its peer, a new process that
// boots and halts (fork, exec, boot, halt, exit). With and without
// mounting an XFS image made by mkfs.xfs (XFS_IMAGE, or the benchmarks
// that need it are skipped).
#include <lkl.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

constexpr const char *cmdline = "mem=64M";

void quiet(const char *, int) {}

double seconds_since(std::chrono::steady_clock::time_point start)
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
		.count();
}

// Adds and mounts the image (read-only: every life sees the same bytes),
// unmounts and removes it: what a fuzzer's harness does per input.
bool mount_and_unmount(const char *image)
{
	struct lkl_disk disk = {};
	disk.fd = open(image, O_RDONLY | O_CLOEXEC);
	if (disk.fd < 0)
		return false;
	int id = lkl_disk_add(&disk);
	char mnt[64];
	bool ok = id >= 0 && lkl_mount_dev(id, 0, "xfs", LKL_MS_RDONLY, nullptr,
					   mnt, sizeof(mnt)) == 0;
	if (ok)
		ok = lkl_umount_dev(id, 0, 0, 1000) == 0;
	if (id >= 0)
		lkl_disk_remove(disk);
	close(disk.fd);
	return ok;
}

// The whole life of a kernel in a new process: the peer.
int child(const char *image)
{
	lkl_host_ops.print = quiet;
	if (lkl_init(&lkl_host_ops) || lkl_start_kernel(cmdline))
		return 1;
	if (image && !mount_and_unmount(image))
		return 1;
	return lkl_sys_halt() == 0 ? 0 : 1;
}

void run_child(benchmark::State &state, const char *image)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "reboot_bench", "--child", image ? image : "",
		      (char *)nullptr);
		_exit(127);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		state.SkipWithError("the child failed");
}

void BM_new_process(benchmark::State &state)
{
	for (auto _ : state)
		run_child(state, nullptr);
}
BENCHMARK(BM_new_process)->Unit(benchmark::kMillisecond)->UseRealTime();

// Halt and boot again; halt and boot also timed apart.
void BM_reboot_in_process(benchmark::State &state)
{
	double halt = 0, boot = 0;
	for (auto _ : state) {
		auto start = std::chrono::steady_clock::now();
		if (lkl_sys_halt()) {
			state.SkipWithError("halt failed");
			break;
		}
		halt += seconds_since(start);
		start = std::chrono::steady_clock::now();
		if (lkl_start_kernel(cmdline)) {
			state.SkipWithError("boot failed");
			break;
		}
		boot += seconds_since(start);
	}
	state.counters["halt_ms"] = benchmark::Counter(
		halt * 1e3 / static_cast<double>(state.iterations()));
	state.counters["boot_ms"] = benchmark::Counter(
		boot * 1e3 / static_cast<double>(state.iterations()));
}
BENCHMARK(BM_reboot_in_process)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_new_process_with_xfs_mount(benchmark::State &state)
{
	const char *image = getenv("XFS_IMAGE");
	if (!image) {
		state.SkipWithError("XFS_IMAGE not set");
		return;
	}
	for (auto _ : state)
		run_child(state, image);
}
BENCHMARK(BM_new_process_with_xfs_mount)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_reboot_in_process_with_xfs_mount(benchmark::State &state)
{
	const char *image = getenv("XFS_IMAGE");
	if (!image) {
		state.SkipWithError("XFS_IMAGE not set");
		return;
	}
	for (auto _ : state) {
		if (lkl_sys_halt() || lkl_start_kernel(cmdline) ||
		    !mount_and_unmount(image)) {
			state.SkipWithError("reboot or mount failed");
			break;
		}
	}
}
BENCHMARK(BM_reboot_in_process_with_xfs_mount)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2][0] ? argv[2] : nullptr);

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	lkl_host_ops.print = quiet;
	if (lkl_init(&lkl_host_ops) || lkl_start_kernel(cmdline)) {
		fprintf(stderr, "reboot_bench: boot failed\n");
		return 1;
	}
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	lkl_sys_halt();
	lkl_cleanup();
	return 0;
}
