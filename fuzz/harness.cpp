// The shared part of the file-system harnesses (harness.hpp).
//
// The image lives in memory: the template's non-zero blocks (its metadata
// and the little data a small tree has) are the only ones stored, every
// other block reads as zeros, and what the kernel writes during a run goes
// to an overlay dropped after it. As in the JANUS work on file-system
// fuzzing with LKL, the fuzzer mutates only those blocks: an input is their
// contents, concatenated in block order, so mutations land in metadata
// rather than in megabytes of zeros.
#include "harness.hpp"

#include <lkl.h>
#include <lkl_host.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#ifdef LKL_FUZZ_COVERAGE
// The kernel's coverage counters and their code addresses, compiled in by
// -fsanitize-coverage=inline-8bit-counters,pc-table. The compiler's own
// registration runs from .init_array, which the kernel's link drops, so
// the harness hands them to libFuzzer itself; the linker makes these
// symbols, the bounds of the sections.
extern "C" {
extern uint8_t __start___sancov_cntrs[], __stop___sancov_cntrs[];
extern const uintptr_t __start___sancov_pcs[], __stop___sancov_pcs[];
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);
void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *stop);
}
#endif

namespace lkl_fuzz {
namespace {

constexpr size_t block_size = 4096;
using Block = std::array<uint8_t, block_size>;

const Target *target;
unsigned long long capacity;
// The template's stored blocks: their numbers, in order, and contents.
std::vector<uint64_t> block_numbers;
std::unordered_map<uint64_t, size_t> block_slot;
std::vector<uint8_t> template_bytes;
// This run's image: the template with the input put in, and the writes.
std::vector<uint8_t> image;
std::unordered_map<uint64_t, Block> written;

// Where the time goes (LKL_FUZZ_PROFILE=1): seconds per phase.
enum Phase { boot, mount, walk, write, umount, halt, phases };
const char *const phase_names[phases] = {"boot", "mount", "walk", "write",
					  "umount", "halt"};
double phase_seconds[phases];
unsigned long runs;
bool profile;

[[noreturn]] void fail(const std::string &why)
{
	fprintf(stderr, "lkl fuzz: %s\n", why.c_str());
	exit(1);
}

void quiet(const char *, int) {}

// A kernel panic or BUG: show what the kernel said, then crash, so that
// libFuzzer keeps the input.
void on_panic()
{
	static char log[16384];
	long len = lkl_kernel_messages(log, sizeof(log));
	if (len > 0)
		fprintf(stderr, "lkl fuzz: the kernel panicked; its last messages:\n%.*s\n",
			(int)len, log);
	abort();
}

// Reads @len bytes at @off of this run's image into @dst.
void read_image(uint8_t *dst, uint64_t off, size_t len)
{
	while (len) {
		uint64_t block = off / block_size;
		size_t in = off % block_size, n = std::min(len, block_size - in);
		if (auto w = written.find(block); w != written.end())
			memcpy(dst, w->second.data() + in, n);
		else if (auto s = block_slot.find(block); s != block_slot.end())
			memcpy(dst, image.data() + s->second * block_size + in, n);
		else
			memset(dst, 0, n);
		dst += n;
		off += n;
		len -= n;
	}
}

// Writes go to the overlay; @src nullptr writes zeros.
void write_image(const uint8_t *src, uint64_t off, size_t len)
{
	while (len) {
		uint64_t block = off / block_size;
		size_t in = off % block_size, n = std::min(len, block_size - in);
		auto w = written.find(block);
		if (w == written.end()) {
			Block b;
			read_image(b.data(), block * block_size, block_size);
			w = written.emplace(block, b).first;
		}
		if (src)
			memcpy(w->second.data() + in, src, n);
		else
			memset(w->second.data() + in, 0, n);
		if (src)
			src += n;
		off += n;
		len -= n;
	}
}

int get_capacity(struct lkl_disk, unsigned long long *res)
{
	*res = capacity;
	return 0;
}

int request(struct lkl_disk, struct lkl_blk_req *req)
{
	uint64_t off = req->sector * 512;
	for (int i = 0; i < req->count; i++) {
		auto *p = static_cast<uint8_t *>(req->buf[i].iov_base);
		size_t len = req->buf[i].iov_len;
		if (off + len > capacity)
			return LKL_DEV_BLK_STATUS_IOERR;
		switch (req->type) {
		case LKL_DEV_BLK_TYPE_READ:
			read_image(p, off, len);
			break;
		case LKL_DEV_BLK_TYPE_WRITE:
			write_image(p, off, len);
			break;
		case LKL_DEV_BLK_TYPE_FLUSH:
		case LKL_DEV_BLK_TYPE_FLUSH_OUT:
			return LKL_DEV_BLK_STATUS_OK;
		default:
			return LKL_DEV_BLK_STATUS_UNSUP;
		}
		off += len;
	}
	return LKL_DEV_BLK_STATUS_OK;
}

struct lkl_dev_blk_ops ops = {get_capacity, request};

// Reads the template's non-zero blocks (the file is sparse: only its data
// extents are read).
void load_template(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail(std::string(path) + ": " + strerror(errno));
	off_t size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % block_size)
		fail(std::string(path) + ": not an image of whole 4 KiB blocks");
	capacity = size;
	Block b;
	for (off_t data = lseek(fd, 0, SEEK_DATA); data >= 0 && data < size;) {
		off_t hole = lseek(fd, data, SEEK_HOLE);
		for (off_t off = data / block_size * block_size; off < hole;
		     off += block_size) {
			if (pread(fd, b.data(), block_size, off) != (ssize_t)block_size)
				fail(std::string(path) + ": short read");
			bool zero = true;
			for (uint8_t c : b)
				if (c) {
					zero = false;
					break;
				}
			if (zero)
				continue;
			block_slot[off / block_size] = block_numbers.size();
			block_numbers.push_back(off / block_size);
			template_bytes.insert(template_bytes.end(), b.begin(), b.end());
		}
		data = lseek(fd, hole, SEEK_DATA);
	}
	close(fd);
	if (block_numbers.empty())
		fail(std::string(path) + ": no data");
}

double now()
{
	return std::chrono::duration<double>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

void print_profile()
{
	if (!runs)
		return;
	double total = 0;
	for (double s : phase_seconds)
		total += s;
	fprintf(stderr, "lkl fuzz: %lu runs, %.0f per second of harness time;", runs,
		runs / total);
	for (int p = 0; p < phases; p++)
		fprintf(stderr, " %s %.2f ms", phase_names[p],
			phase_seconds[p] * 1e3 / runs);
	fprintf(stderr, " (per run)\n");
}

// Everything a reader does: names, attributes, contents, link targets.
void walk_dir(const std::string &dir, int depth, int &budget)
{
	long fd = lkl_sys_open(dir.c_str(), LKL_O_RDONLY | LKL_O_DIRECTORY, 0);
	if (fd < 0)
		return;
	std::vector<std::string> names;
	char buf[4096];
	for (;;) {
		long n = lkl_sys_getdents64(
			fd, reinterpret_cast<struct lkl_linux_dirent64 *>(buf), sizeof(buf));
		if (n <= 0)
			break;
		for (long pos = 0; pos < n;) {
			auto *d = reinterpret_cast<struct lkl_linux_dirent64 *>(buf + pos);
			if (d->d_reclen == 0)
				break;
			std::string name = d->d_name;
			if (name != "." && name != ".." && names.size() < 256)
				names.push_back(name);
			pos += d->d_reclen;
		}
	}
	lkl_sys_close(fd);
	for (const std::string &name : names) {
		if (--budget < 0)
			return;
		std::string path = dir + "/" + name;
		struct lkl_stat st;
		if (lkl_sys_newfstatat(LKL_AT_FDCWD, path.c_str(), &st,
				       LKL_AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char list[1024];
		long len = lkl_sys_llistxattr(path.c_str(), list, sizeof(list));
		for (long i = 0; i < len; i += strlen(list + i) + 1) {
			char value[256];
			lkl_sys_lgetxattr(path.c_str(), list + i, value, sizeof(value));
		}
		switch (st.st_mode & LKL_S_IFMT) {
		case LKL_S_IFDIR:
			if (depth < 8)
				walk_dir(path, depth + 1, budget);
			break;
		case LKL_S_IFLNK: {
			char target[256];
			lkl_sys_readlink(path.c_str(), target, sizeof(target));
			break;
		}
		case LKL_S_IFREG: {
			long f = lkl_sys_open(path.c_str(), LKL_O_RDONLY, 0);
			if (f < 0)
				break;
			char data[16384];
			for (int i = 0; i < 4 && lkl_sys_read(f, data, sizeof(data)) > 0; i++)
				;
			lkl_sys_close(f);
			break;
		}
		}
	}
}

// A writer's first steps: create, write, fsync, rename, link, unlink.
void write_a_little(const std::string &mnt)
{
	std::string a = mnt + "/fuzz-new", b = mnt + "/fuzz-renamed",
		    d = mnt + "/fuzz-dir";
	long fd = lkl_sys_open(a.c_str(), LKL_O_CREAT | LKL_O_RDWR | LKL_O_TRUNC, 0644);
	if (fd >= 0) {
		static char data[8192] = "lkl fuzz";
		lkl_sys_write(fd, data, sizeof(data));
		lkl_sys_fsync(fd);
		lkl_sys_close(fd);
	}
	lkl_sys_mkdir(d.c_str(), 0755);
	lkl_sys_rename(a.c_str(), b.c_str());
	lkl_sys_link(b.c_str(), (d + "/hard").c_str());
	lkl_sys_unlink(b.c_str());
	lkl_sys_unlink((d + "/hard").c_str());
	lkl_sys_rmdir(d.c_str());
	lkl_sys_sync();
}

} // namespace

void initialize(const Target &t)
{
	target = &t;
#ifdef LKL_FUZZ_COVERAGE
	__sanitizer_cov_8bit_counters_init(__start___sancov_cntrs, __stop___sancov_cntrs);
	__sanitizer_cov_pcs_init(__start___sancov_pcs, __stop___sancov_pcs);
#endif
	const char *path = getenv(t.template_env);
	load_template(path ? path : t.template_path);
	profile = getenv("LKL_FUZZ_PROFILE") != nullptr;
	if (profile)
		atexit(print_profile);
	lkl_host_ops.print = quiet;
	lkl_host_ops.panic = on_panic;
	if (lkl_init(&lkl_host_ops) < 0)
		fail("lkl_init failed");
	fprintf(stderr, "lkl fuzz: %s template %s: %zu blocks of metadata (%zu bytes)\n",
		t.fstype, path ? path : t.template_path, block_numbers.size(),
		template_bytes.size());
}

void run_one(const uint8_t *data, size_t size)
{
	image = template_bytes;
	memcpy(image.data(), data, std::min(size, image.size()));
	written.clear();

	double t0 = now();
	if (lkl_start_kernel("mem=32M") < 0)
		fail("boot failed");
	double t1 = now(), t2 = t1, t3 = t1, t4 = t1;
	struct lkl_disk disk = {};
	disk.fd = -1;
	disk.ops = &ops;
	int id = lkl_disk_add(&disk);
	if (id < 0)
		fail("lkl_disk_add failed");
	char mnt[64];
	long err = lkl_mount_dev(id, 0, target->fstype, 0, target->options, mnt,
				 sizeof(mnt));
	if (profile && err)
		fprintf(stderr, "lkl fuzz: mount: %s\n", lkl_strerror((int)err));
	if (err == 0) {
		t2 = now();
		int budget = 2000;
		walk_dir(mnt, 0, budget);
		t3 = now();
		write_a_little(mnt);
		t4 = now();
		lkl_umount_dev(id, 0, 0, 1000);
	} else {
		t2 = t3 = t4 = now();
	}
	double t5 = now();
	lkl_sys_halt();
	lkl_disk_remove(disk);
	double t6 = now();
	if (profile) {
		phase_seconds[boot] += t1 - t0;
		phase_seconds[mount] += t2 - t1;
		phase_seconds[walk] += t3 - t2;
		phase_seconds[write] += t4 - t3;
		phase_seconds[umount] += t5 - t4;
		phase_seconds[halt] += t6 - t5;
		if (++runs % 1000 == 0)
			print_profile();
	}
}

} // namespace lkl_fuzz
