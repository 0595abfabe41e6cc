// A libFuzzer target for one file system's kernel driver (LKL_FUZZ_FS: xfs,
// ext4, btrfs or vfat). Each input (sector_image.hpp) becomes a disk; a
// freshly booted kernel mounts it, walks it (readdir, stat, read, xattrs,
// readlink), changes it a little (create, write, fsync, rename, unlink,
// mkdir, rmdir), unmounts it and halts, so that the next input meets a
// kernel with its data restored to the state before the first boot
// (lkl_sys_halt()): a finding reproduces from its input alone.
//
// A kernel panic or BUG aborts the process after printing the kernel's last
// messages, which libFuzzer reports as a crash and saves the input of; so
// does a KASAN report when the kernel has KASAN (-DLKL_KASAN=ON: the kernel
// is booted with kasan.fault=panic, which other kernels ignore).
#include "sector_image.hpp"

#include <lkl.h>
#include <lkl_host.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <malloc.h>

#ifndef LKL_FUZZ_FS
#error "LKL_FUZZ_FS names the file system"
#endif
#ifndef LKL_FUZZ_IMAGE_MIB
#error "LKL_FUZZ_IMAGE_MIB gives the image's size"
#endif

namespace {

using lkl_fuzz::record_size;
using lkl_fuzz::sector_size;
using lkl_fuzz::SectorImage;

// Bounds that keep one input to milliseconds whatever the image claims.
constexpr int max_depth = 6;
constexpr int max_entries = 128;
constexpr long max_read = 64 * 1024;

std::unique_ptr<SectorImage> image;
// LKL_FUZZ_DEBUG=1: say what each input did and how long each step took;
// 2: also print the kernel's console.
bool debug;

struct Step {
	const char *name;
	std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

	~Step()
	{
		if (!debug)
			return;
		std::chrono::duration<double, std::milli> took =
			std::chrono::steady_clock::now() - start;
		fprintf(stderr, "  %s: %.2f ms\n", name, took.count());
	}
};

void quiet(const char *, int) {}

void on_panic()
{
	static char messages[16384];
	long n = lkl_kernel_messages(messages, sizeof(messages) - 1);
	messages[n > 0 ? n : 0] = '\0';
	fprintf(stderr, "%s\nlkl fuzz: kernel panic on a %s image\n", messages,
		LKL_FUZZ_FS);
	abort();
}

struct Walk {
	int entries = 0;
	char buf[8192];

	void file(int fd)
	{
		for (long done = 0; done < max_read;) {
			long n = lkl_sys_read(fd, buf, sizeof(buf));
			if (n <= 0)
				break;
			done += n;
		}
		lkl_sys_lseek(fd, 0, LKL_SEEK_DATA);
	}

	void xattrs(int fd)
	{
		char names[1024];
		long n = lkl_sys_flistxattr(fd, names, sizeof(names));
		for (long i = 0; i < n; i += strlen(names + i) + 1)
			lkl_sys_fgetxattr(fd, names + i, buf, sizeof(buf));
	}

	void dir(int dfd, int depth)
	{
		int err;
		int fd = lkl_sys_openat(dfd, ".", LKL_O_RDONLY | LKL_O_DIRECTORY, 0);
		if (fd < 0)
			return;
		struct lkl_dir *d = lkl_fdopendir(fd, &err);
		if (!d) {
			lkl_sys_close(fd);
			return;
		}
		while (struct lkl_linux_dirent64 *e = lkl_readdir(d)) {
			if (++entries > max_entries)
				break;
			const char *name = e->d_name;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			struct lkl_stat st;
			if (lkl_sys_newfstatat(fd, name, &st, LKL_AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (LKL_S_ISLNK(st.st_mode)) {
				lkl_sys_readlinkat(fd, name, buf, sizeof(buf));
				continue;
			}
			if (!LKL_S_ISREG(st.st_mode) && !LKL_S_ISDIR(st.st_mode))
				continue;
			int cfd = lkl_sys_openat(fd, name, LKL_O_RDONLY | LKL_O_NOFOLLOW, 0);
			if (cfd < 0)
				continue;
			xattrs(cfd);
			if (LKL_S_ISREG(st.st_mode))
				file(cfd);
			else if (depth < max_depth)
				dir(cfd, depth + 1);
			lkl_sys_close(cfd);
		}
		lkl_closedir(d);
	}
};

// Small changes that make the driver allocate, log and write back.
void change(const char *mnt)
{
	std::string root = mnt;
	std::string f = root + "/fuzz-new", g = root + "/fuzz-renamed";
	std::string d = root + "/fuzz-dir";
	static const std::string data(12288, 'x');

	int fd = lkl_sys_open(f.c_str(), LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644);
	if (fd >= 0) {
		lkl_sys_write(fd, data.data(), data.size());
		lkl_sys_fsetxattr(fd, "user.fuzz", data.data(), 64, 0);
		lkl_sys_fsync(fd);
		lkl_sys_close(fd);
	}
	lkl_sys_rename(f.c_str(), g.c_str());
	lkl_sys_mkdir(d.c_str(), 0755);
	lkl_sys_unlink(g.c_str());
	lkl_sys_rmdir(d.c_str());
	lkl_sys_sync();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	// libFuzzer copies each input into a new heap block: keep blocks of
	// an input's size on the heap, not in a fresh mapping faulted in anew
	// per input.
	mallopt(M_MMAP_THRESHOLD, 32 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	image = std::make_unique<SectorImage>(std::uint64_t(LKL_FUZZ_IMAGE_MIB) << 20);
	const char *level = getenv("LKL_FUZZ_DEBUG");
	debug = level && atoi(level) >= 1;
	if (!level || atoi(level) < 2)
		lkl_host_ops.print = quiet;
	lkl_host_ops.panic = on_panic;
	lkl_init(&lkl_host_ops);
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	image->load(data, size);
	struct lkl_disk disk = image->disk();
	// The image is in memory: its requests are carried out inline.
	struct lkl_disk_opts opts = {};
	opts.flags = LKL_DISK_OPS_INLINE;
	int id = lkl_disk_add_opts(&disk, &opts);
	if (id < 0) {
		fprintf(stderr, "lkl fuzz: lkl_disk_add_opts: %s\n", lkl_strerror(id));
		abort();
	}
	long ret;
	{
		Step s{"boot"};
		// A reboot keeps the last kernel's memory mapping, and with it
		// the bytes the last input left there (host/memory.cpp):
		// init_on_alloc=1 zeroes every page the page allocator hands
		// out and most slab objects, so a read of memory the kernel
		// never initialised sees zeros, as it would when the input is
		// replayed alone.
		ret = lkl_start_kernel("mem=32M init_on_alloc=1 kasan.fault=panic");
	}
	if (ret < 0) {
		fprintf(stderr, "lkl fuzz: lkl_start_kernel: %s\n", lkl_strerror(ret));
		abort();
	}

	char mnt[64];
	{
		Step s{"mount"};
		ret = lkl_mount_dev(id, 0, LKL_FUZZ_FS, 0, nullptr, mnt, sizeof(mnt));
	}
	if (debug)
		fprintf(stderr, "  mount: %s\n", ret ? lkl_strerror(ret) : "ok");
	if (ret == 0) {
		Walk walk;
		{
			Step s{"walk"};
			int fd = lkl_sys_open(mnt, LKL_O_RDONLY | LKL_O_DIRECTORY, 0);
			if (fd >= 0) {
				walk.dir(fd, 0);
				lkl_sys_close(fd);
			}
		}
		{
			Step s{"change"};
			change(mnt);
		}
		Step s{"unmount"};
		ret = lkl_umount_dev(id, 0, 0, 1000);
		if (debug)
			fprintf(stderr, "  %d entries; unmount: %s\n", walk.entries,
				ret ? lkl_strerror(ret) : "ok");
	}

	{
		Step s{"halt"};
		lkl_sys_halt();
	}
	lkl_disk_remove(disk);
	return 0;
}

#ifdef LKL_FUZZ_LIBFUZZER
extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

// Mutate inside one record's sector, keeping the records' framing: most of
// libFuzzer's own mutations (inserting or erasing bytes) would shift every
// later record by a few bytes and so mostly make noise.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
					  unsigned int seed)
{
	size_t records = size / record_size;
	if (records == 0 || seed % 16 == 0)
		return LLVMFuzzerMutate(data, size, max_size);
	uint8_t *sector = data + (seed / 16 % records) * record_size + 4;
	// A shorter result leaves the sector's tail as it was.
	LLVMFuzzerMutate(sector, sector_size, sector_size);
	return size;
}
#endif
