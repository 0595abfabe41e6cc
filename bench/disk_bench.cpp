// File system throughput on an XFS image: lkl (the image as an lkl disk)
// against the host kernel's loop mount of the same kind of image, in the
// same run. Needs root and loop devices for the host side (skipped
// otherwise) and xfsprogs.
//
//   disk_bench [--benchmark_filter=...]
#include <lkl.h>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t MiB = 1 << 20;
constexpr size_t file_size = 1024 * MiB;
constexpr int meta_files = 20000;

void quiet(const char *, int)
{
}

// Braces: a trailing ">/dev/null" would otherwise also capture the
// command's own last redirection (drop_caches was never written).
int sh(const std::string &cmd)
{
	return system(("{ " + cmd + "; } >/dev/null 2>&1").c_str());
}

double seconds(const std::function<void()> &fn)
{
	auto t0 = Clock::now();
	fn();
	return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The file system operations, once for lkl and once for the host.
struct Fs {
	std::function<int(const char *, int, int)> open;
	std::function<long(int, const void *, size_t)> write;
	std::function<long(int, void *, size_t)> read;
	std::function<int(int)> fsync, close;
	std::function<int(const char *)> stat, unlink;
	std::string root;
	std::function<void()> remount; // drops every cache between image and fs
};

// An image made fresh for each benchmark, mounted one way or the other.
class Target {
public:
	explicit Target(bool lkl) : lkl_(lkl)
	{
		char tmpl[] = "/tmp/lkl-bench-XXXXXX";
		dir_ = mkdtemp(tmpl);
		image_ = dir_ + "/xfs.img";
		sh("truncate -s 4G " + image_ + " && mkfs.xfs -q -f " + image_);
		ok_ = lkl ? mount_lkl() : mount_host();
	}
	~Target()
	{
		if (ok_)
			lkl_ ? umount_lkl() : umount_host();
		sh("rm -rf " + dir_);
	}
	bool ok() const { return ok_; }
	Fs fs()
	{
		Fs f;
		if (lkl_) {
			f.open = [](const char *p, int fl, int m) {
				return (int)lkl_sys_open(p, fl, m);
			};
			f.write = [](int fd, const void *b, size_t n) {
				return lkl_sys_write(fd, (const char *)b, n);
			};
			f.read = [](int fd, void *b, size_t n) {
				return lkl_sys_read(fd, (char *)b, n);
			};
			f.fsync = [](int fd) { return (int)lkl_sys_fsync(fd); };
			f.close = [](int fd) { return (int)lkl_sys_close(fd); };
			f.stat = [](const char *p) {
				struct lkl_stat st;
				return (int)lkl_sys_stat(p, &st);
			};
			f.unlink = [](const char *p) { return (int)lkl_sys_unlink(p); };
			f.root = mnt_;
			f.remount = [this] {
				umount_lkl();
				sh("sync; echo 3 > /proc/sys/vm/drop_caches");
				mount_lkl();
			};
		} else {
			f.open = [](const char *p, int fl, int m) {
				return ::open(p, fl, m);
			};
			f.write = [](int fd, const void *b, size_t n) {
				return (long)::write(fd, b, n);
			};
			f.read = [](int fd, void *b, size_t n) {
				return (long)::read(fd, b, n);
			};
			f.fsync = [](int fd) { return ::fsync(fd); };
			f.close = [](int fd) { return ::close(fd); };
			f.stat = [](const char *p) {
				struct stat st;
				return ::stat(p, &st);
			};
			f.unlink = [](const char *p) { return ::unlink(p); };
			f.root = dir_ + "/mnt";
			f.remount = [this] {
				umount_host();
				sh("sync; echo 3 > /proc/sys/vm/drop_caches");
				mount_host();
			};
		}
		return f;
	}

private:
	bool mount_lkl()
	{
		disk_.fd = ::open(image_.c_str(), O_RDWR);
		id_ = lkl_disk_add(&disk_);
		char mnt[64];
		if (id_ < 0 || lkl_mount_dev(id_, 0, "xfs", 0, nullptr, mnt,
					     sizeof(mnt)))
			return false;
		mnt_ = mnt;
		return true;
	}
	void umount_lkl()
	{
		lkl_umount_dev(id_, 0, 0, 10000);
		lkl_disk_remove(disk_);
		::close(disk_.fd);
	}
	bool mount_host()
	{
		mkdir((dir_ + "/mnt").c_str(), 0755);
		return geteuid() == 0 &&
		       sh("mount -o loop -t xfs " + image_ + " " + dir_ + "/mnt") == 0;
	}
	void umount_host()
	{
		sh("umount " + dir_ + "/mnt");
	}

	bool lkl_, ok_ = false;
	std::string dir_, image_, mnt_;
	struct lkl_disk disk_ = {};
	int id_ = -1;
};

bool write_file(Fs &fs, const std::string &path, size_t size)
{
	std::vector<char> buf(MiB, 'x');
	int fd = fs.open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return false;
	for (size_t done = 0; done < size; done += buf.size())
		if (fs.write(fd, buf.data(), buf.size()) != (long)buf.size())
			return false;
	return fs.fsync(fd) == 0 && fs.close(fd) == 0;
}

bool read_file(Fs &fs, const std::string &path)
{
	std::vector<char> buf(MiB);
	int fd = fs.open(path.c_str(), O_RDONLY, 0);
	if (fd < 0)
		return false;
	while (fs.read(fd, buf.data(), buf.size()) > 0)
		;
	return fs.close(fd) == 0;
}

// Skips the benchmark when the image could not be mounted.
bool mounted(benchmark::State &state, const Target &t)
{
	if (!t.ok())
		state.SkipWithError("cannot mount (host side needs root and loop devices)");
	return t.ok();
}

void BM_seq_write_1g_fsync(benchmark::State &state)
{
	for (auto _ : state) {
		Target t(state.range(0));
		if (!mounted(state, t))
			return;
		Fs fs = t.fs();
		bool ok = true;
		state.SetIterationTime(seconds([&] {
			ok = write_file(fs, fs.root + "/big", file_size);
		}));
		if (!ok)
			state.SkipWithError("write failed");
	}
	state.SetBytesProcessed(state.iterations() * file_size);
}

void seq_read(benchmark::State &state, bool cold)
{
	for (auto _ : state) {
		Target t(state.range(0));
		if (!mounted(state, t))
			return;
		Fs fs = t.fs();
		if (!write_file(fs, fs.root + "/big", file_size)) {
			state.SkipWithError("write failed");
			return;
		}
		if (cold)
			fs.remount();
		else
			read_file(fs, fs.root + "/big");
		state.SetIterationTime(seconds([&] { read_file(fs, fs.root + "/big"); }));
	}
	state.SetBytesProcessed(state.iterations() * file_size);
}

void BM_seq_read_1g_warm(benchmark::State &state)
{
	seq_read(state, false);
}

void BM_seq_read_1g_cold(benchmark::State &state)
{
	seq_read(state, true);
}

// create, stat and unlink 20,000 files in one directory
void BM_metadata_20k(benchmark::State &state)
{
	for (auto _ : state) {
		Target t(state.range(0));
		if (!mounted(state, t))
			return;
		Fs fs = t.fs();
		std::vector<std::string> names;
		for (int i = 0; i < meta_files; i++)
			names.push_back(fs.root + "/file-" + std::to_string(i));
		int bad = 0;
		state.SetIterationTime(seconds([&] {
			for (auto &n : names) {
				int fd = fs.open(n.c_str(), O_CREAT | O_WRONLY, 0644);
				bad += fd < 0 || fs.close(fd);
			}
			for (auto &n : names)
				bad += fs.stat(n.c_str()) != 0;
			for (auto &n : names)
				bad += fs.unlink(n.c_str()) != 0;
		}));
		if (bad)
			state.SkipWithError("metadata operation failed");
	}
	state.SetItemsProcessed(state.iterations() * meta_files * 3);
}

// lkl_disk_add + lkl_mount_dev + umount + remove of a 1 GiB XFS image
void BM_lkl_add_mount_umount_1g(benchmark::State &state)
{
	char tmpl[] = "/tmp/lkl-bench-XXXXXX";
	std::string dir = mkdtemp(tmpl), image = dir + "/xfs.img";
	sh("truncate -s 1G " + image + " && mkfs.xfs -q -f " + image);
	for (auto _ : state) {
		struct lkl_disk disk = {};
		disk.fd = ::open(image.c_str(), O_RDWR);
		char mnt[64];
		int id = lkl_disk_add(&disk);
		if (id < 0 || lkl_mount_dev(id, 0, "xfs", 0, nullptr, mnt, sizeof(mnt)) ||
		    lkl_umount_dev(id, 0, 0, 10000) || lkl_disk_remove(disk))
			state.SkipWithError("add/mount/umount failed");
		::close(disk.fd);
	}
	sh("rm -rf " + dir);
}

} // namespace

// Argument 1: lkl; 0: the host kernel's loop mount.
BENCHMARK(BM_seq_write_1g_fsync)->ArgName("lkl")->Arg(1)->Arg(0)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_seq_read_1g_warm)->ArgName("lkl")->Arg(1)->Arg(0)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_seq_read_1g_cold)->ArgName("lkl")->Arg(1)->Arg(0)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_metadata_20k)->ArgName("lkl")->Arg(1)->Arg(0)->UseManualTime()->Iterations(2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_lkl_add_mount_umount_1g)->Unit(benchmark::kMillisecond);

int main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	lkl_host_ops.print = quiet;
	// Enough memory that the 1 GiB file fits in the page cache, as on
	// the host; pages cost host memory only once touched.
	if (lkl_init(&lkl_host_ops) || lkl_start_kernel("mem=2048M")) {
		fprintf(stderr, "disk_bench: boot failed\n");
		return 1;
	}
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	lkl_sys_halt();
	lkl_cleanup();
	return 0;
}
