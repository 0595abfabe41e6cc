// Host disks: lkl_disk_add() and the backend that carries out the kernel's
// block requests (host_ops blk_submit) for an image file or block device.
//
// Two backends, chosen by how the program opened the fd:
//  - buffered I/O (qemu's cache=writeback) on a small pool of threads per
//    disk, so that several requests are in flight at once: the kernel's
//    queue depth is real;
//  - for an fd opened with O_DIRECT (cache=none), Linux native AIO: reads
//    and writes go straight to the device through libaio, FUA as RWF_DSYNC;
//    what O_DIRECT cannot do (unaligned buffers, flush, discard) goes to a
//    buffered pool on the same file.
// Flush and FUA become fdatasync, discard punches a hole (the contract:
// Documentation/architecture.md, "Durability"). A write log
// (write_log.cpp) may sit on top of either backend. A disk whose fd
// was opened O_RDONLY is read-only in the kernel too, so the image is never
// written. A program may instead pass its own lkl_dev_blk_ops; its
// synchronous request() then runs on the pool, or, with
// LKL_DISK_OPS_INLINE, in the kernel's own submitting context.

#include "disk.hpp"
#include "internal.hpp"
#include "write_log.hpp"

#include <atomic>
#include <condition_variable>
#include <system_error>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <libaio.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>

namespace {
namespace disk {

static_assert(sizeof(lkl_blk_seg) == sizeof(struct iovec) &&
		      sizeof(lkl_blk_seg) == sizeof(struct lkl_iovec),
	      "block segments are passed on as iovecs");

// Carries out @io with the program's own ops.
int run_ops(const lkl_disk &disk, lkl_blk_io *io)
{
	lkl_blk_req req = {};
	req.type = io->type;
	req.sector = io->sector;
	req.buf = reinterpret_cast<struct lkl_iovec *>(io->segs);
	req.count = static_cast<int>(io->nr_segs);
	int status = disk.ops->request(disk, &req);
	if (status == LKL_DEV_BLK_STATUS_OK && io->fua &&
	    io->type == LKL_BLK_IO_WRITE) {
		lkl_blk_req flush = {};
		flush.type = LKL_DEV_BLK_TYPE_FLUSH;
		status = disk.ops->request(disk, &flush);
	}
	switch (status) {
	case LKL_DEV_BLK_STATUS_OK:
		return 0;
	case LKL_DEV_BLK_STATUS_UNSUP:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

constexpr unsigned pool_threads = 4;

class PoolDisk final : public Backend {
public:
	PoolDisk(const lkl_disk &disk) : disk_(disk)
	{
		for (unsigned i = 0; i < pool_threads; i++)
			threads_.emplace_back([this] { work(); });
	}

	~PoolDisk()
	{
		{
			std::lock_guard lock(mutex_);
			stop_ = true;
		}
		cv_.notify_all();
		for (auto &t : threads_)
			t.join();
	}

	PoolDisk(const PoolDisk &) = delete;
	PoolDisk &operator=(const PoolDisk &) = delete;

	void submit(lkl_blk_io *io) override
	{
		{
			std::lock_guard lock(mutex_);
			queue_.push_back(io);
		}
		cv_.notify_one();
	}

private:
	void work()
	{
		for (;;) {
			lkl_blk_io *io;
			{
				std::unique_lock lock(mutex_);
				cv_.wait(lock, [this] {
					return stop_ || !queue_.empty();
				});
				if (queue_.empty())
					return;
				io = queue_.front();
				queue_.pop_front();
			}
			io->status = disk_.ops ? run_ops(disk_, io) : run_fd(io);
			complete(io);
		}
	}

	// Moves @io's whole length at @off, however the kernel splits it.
	int transfer(lkl_blk_io *io, bool write)
	{
		std::vector<struct iovec> iov(
			reinterpret_cast<struct iovec *>(io->segs),
			reinterpret_cast<struct iovec *>(io->segs) + io->nr_segs);
		off_t off = static_cast<off_t>(io->sector) * 512;
		size_t first = 0;

		while (first < iov.size()) {
			ssize_t n = write ? pwritev(disk_.fd, &iov[first],
						    (int)(iov.size() - first), off)
					  : preadv(disk_.fd, &iov[first],
						   (int)(iov.size() - first), off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (n == 0) {
				// Reading past the end of the image: zeros.
				if (write)
					return -EIO;
				for (size_t i = first; i < iov.size(); i++)
					std::memset(iov[i].iov_base, 0,
						    iov[i].iov_len);
				return 0;
			}
			off += n;
			while (n > 0 && first < iov.size()) {
				size_t step = std::min<size_t>(n, iov[first].iov_len);
				iov[first].iov_base =
					static_cast<char *>(iov[first].iov_base) + step;
				iov[first].iov_len -= step;
				n -= step;
				if (iov[first].iov_len == 0)
					first++;
			}
		}
		return 0;
	}

	// The host reports a writeback error to one fdatasync of an open file
	// only (mm/filemap.c, file_check_and_advance_wb_err); the data it lost
	// was covered by every later flush and FUA write too, so they all
	// fail with that error.
	int sync()
	{
		int err = sync_err_.load();
		if (err)
			return err;
		if (fdatasync(disk_.fd) == 0)
			return 0;
		err = -errno;
		int none = 0;
		sync_err_.compare_exchange_strong(none, err);
		return sync_err_.load();
	}

	int zero_range(lkl_blk_io *io, int mode)
	{
		off_t off = static_cast<off_t>(io->sector) * 512;
		if (fallocate(disk_.fd, mode | FALLOC_FL_KEEP_SIZE, off,
			      static_cast<off_t>(io->len)) == 0)
			return 0;
		return -errno;
	}

	int run_fd(lkl_blk_io *io)
	{
		int err;

		switch (io->type) {
		case LKL_BLK_IO_READ:
			return transfer(io, false);
		case LKL_BLK_IO_WRITE:
			err = transfer(io, true);
			return err || !io->fua ? err : sync();
		case LKL_BLK_IO_FLUSH:
			return sync();
		case LKL_BLK_IO_DISCARD:
			// Advisory: a file system that cannot punch keeps data.
			err = zero_range(io, FALLOC_FL_PUNCH_HOLE);
			return err == -EOPNOTSUPP ? 0 : err;
		case LKL_BLK_IO_WRITE_ZEROES:
			err = zero_range(io, FALLOC_FL_ZERO_RANGE);
			if (err == -EOPNOTSUPP)
				err = write_zeros(io);
			return err || !io->fua ? err : sync();
		default:
			return -EOPNOTSUPP;
		}
	}

	int write_zeros(lkl_blk_io *io)
	{
		static const std::vector<char> zeros(1 << 20);
		off_t off = static_cast<off_t>(io->sector) * 512;
		unsigned long long left = io->len;

		while (left) {
			size_t len = std::min<unsigned long long>(left, zeros.size());
			ssize_t n = pwrite(disk_.fd, zeros.data(), len, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			off += n;
			left -= n;
		}
		return 0;
	}

	lkl_disk disk_;
	std::mutex mutex_;
	std::condition_variable cv_;
	std::deque<lkl_blk_io *> queue_;
	bool stop_ = false;
	std::atomic<int> sync_err_{0};
	std::vector<std::thread> threads_;
};

// The program's ops called in the kernel's submitting context, each request
// completed before queue_rq() returns (null_blk's irqmode=0): for a quick
// request() that never blocks, such as a disk in memory, this saves two
// thread handoffs per request and the pool's threads.
class InlineDisk final : public Backend {
public:
	explicit InlineDisk(const lkl_disk &disk) noexcept : disk_(disk) {}

	void submit(lkl_blk_io *io) override
	{
		io->status = run_ops(disk_, io);
		complete(io);
	}

private:
	lkl_disk disk_;
};

// O_DIRECT through Linux native AIO, with a buffered pool beside it.
class AioDisk final : public Backend {
public:
	// Throws std::system_error if the file cannot be reopened or AIO set up.
	AioDisk(const lkl_disk &disk, int buffered_fd)
		: buffered_fd_(buffered_fd), pool_(buffered_disk(disk, buffered_fd)),
		  fd_(disk.fd)
	{
		int err = io_setup(depth, &ctx_);
		if (err < 0) {
			close(buffered_fd_);
			throw std::system_error(-err, std::generic_category(),
						"io_setup");
		}
		reaper_ = std::thread([this] { reap(); });
	}

	~AioDisk()
	{
		// The kernel removed the disk: nothing is in flight any more.
		stop_ = true;
		struct iocb wake;
		static char byte;
		io_prep_pread(&wake, buffered_fd_, &byte, 0, 0);
		wake.data = nullptr;
		struct iocb *list[1] = { &wake };
		if (io_submit(ctx_, 1, list) != 1)
			host::fatal("cannot wake the AIO reaper");
		reaper_.join();
		io_destroy(ctx_);
		close(buffered_fd_);
	}

	void set_completion(Completion *upper) noexcept override
	{
		Backend::set_completion(upper);
		pool_.set_completion(upper);
	}

	void submit(lkl_blk_io *io) override
	{
		if ((io->type != LKL_BLK_IO_READ && io->type != LKL_BLK_IO_WRITE) ||
		    !aligned(io)) {
			pool_.submit(io);
			return;
		}
		std::unique_ptr<struct iocb> cb;
		try {
			cb = std::make_unique<struct iocb>();
		} catch (const std::bad_alloc &) {
			io->status = -ENOMEM;
			complete(io);
			return;
		}
		auto *iov = reinterpret_cast<struct iovec *>(io->segs);
		long long off = static_cast<long long>(io->sector) * 512;
		if (io->type == LKL_BLK_IO_READ) {
			io_prep_preadv(cb.get(), fd_, iov, (int)io->nr_segs, off);
		} else {
			io_prep_pwritev(cb.get(), fd_, iov, (int)io->nr_segs, off);
			if (io->fua)
				cb->aio_rw_flags = RWF_DSYNC;
		}
		cb->data = io;
		struct iocb *list[1] = { cb.get() };
		int n;
		while ((n = io_submit(ctx_, 1, list)) == -EAGAIN)
			std::this_thread::yield();
		if (n != 1) {
			io->status = n < 0 ? n : -EIO;
			complete(io);
			return;
		}
		// The reaper takes it back with the completion.
		cb.release();
	}

private:
	static constexpr int depth = 128;

	static lkl_disk buffered_disk(lkl_disk disk, int fd)
	{
		disk.fd = fd;
		return disk;
	}

	static bool aligned(const lkl_blk_io *io)
	{
		for (unsigned i = 0; i < io->nr_segs; i++)
			if ((reinterpret_cast<unsigned long>(io->segs[i].base) |
			     io->segs[i].len) & 511)
				return false;
		return true;
	}

	void reap()
	{
		struct io_event events[32];
		for (;;) {
			int n = io_getevents(ctx_, 1, 32, events, nullptr);
			if (n == -EINTR)
				continue;
			if (n < 0)
				host::fatal("io_getevents failed");
			for (int i = 0; i < n; i++) {
				auto *io = static_cast<lkl_blk_io *>(events[i].data);
				if (!io) {
					if (stop_)
						return;
					continue;
				}
				std::unique_ptr<struct iocb> cb(events[i].obj);
				long res = static_cast<long>(events[i].res);
				io->status = res < 0 ? (int)res
					     : (unsigned long long)res == io->len ? 0 : -EIO;
				complete(io);
			}
		}
	}

	int buffered_fd_;
	PoolDisk pool_;
	int fd_;
	io_context_t ctx_ = nullptr;
	std::atomic<bool> stop_{false};
	std::thread reaper_;
};

void submit(void *handle, lkl_blk_io *io)
{
	static_cast<Backend *>(handle)->submit(io);
}

// The backend for @disk: AIO for an O_DIRECT fd, else the buffered pool.
// @flags: lkl_disk_opts flags (LKL_DISK_OPS_INLINE matters here).
std::unique_ptr<Backend> make_backend(const lkl_disk &disk, int &err,
				      unsigned int flags = 0) noexcept
{
	try {
		if (flags & LKL_DISK_OPS_INLINE)
			return std::make_unique<InlineDisk>(disk);
		int mode = disk.ops ? 0 : fcntl(disk.fd, F_GETFL);
		if (disk.ops || !(mode & O_DIRECT))
			return std::make_unique<PoolDisk>(disk);
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", disk.fd);
		int fd = open(path, (mode & O_ACCMODE) | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			return nullptr;
		}
		return std::make_unique<AioDisk>(disk, fd);
	} catch (const std::system_error &e) {
		err = -e.code().value();
	} catch (...) {
		err = -ENOMEM;
	}
	return nullptr;
}

// The disk's size in bytes, or a negative errno.
long long capacity(const lkl_disk &disk, unsigned int &flags)
{
	if (disk.ops) {
		unsigned long long size = 0;
		if (!disk.ops->get_capacity)
			return -EINVAL;
		int err = disk.ops->get_capacity(disk, &size);
		return err < 0 ? err : static_cast<long long>(size);
	}

	struct stat st;
	if (fstat(disk.fd, &st))
		return -errno;
	int mode = fcntl(disk.fd, F_GETFL);
	if (mode < 0)
		return -errno;
	if ((mode & O_ACCMODE) == O_RDONLY)
		flags |= LKL_DISK_READ_ONLY;
	if (S_ISREG(st.st_mode)) {
		flags |= LKL_DISK_DISCARD;
		return st.st_size;
	}
	if (S_ISBLK(st.st_mode)) {
		unsigned long long size;
		if (ioctl(disk.fd, BLKGETSIZE64, &size))
			return -errno;
		return static_cast<long long>(size);
	}
	return -ENOTBLK;
}

// Hands @backend to the kernel as a disk of @size bytes with LKL_DISK_*
// @flags; on success @disk.dev owns it. The disk id or a negative errno.
int attach(lkl_disk &disk, std::unique_ptr<Backend> backend,
	   unsigned long long size, unsigned int flags)
{
	// Before boot the kernel keeps the disk and adds it while booting.
	long id = lkl_is_running()
			  ? lkl_sys_lkl_disk_add_dev(backend.get(),
						     static_cast<__lkl__u64>(size), flags)
			  : lkl_blk_preboot_add(backend.get(), size, flags);
	if (id < 0)
		return static_cast<int>(id);
	backend->id = id;
	disk.dev = backend.release();
	return static_cast<int>(id);
}

} // namespace disk
} // namespace

extern "C" {

[[gnu::visibility("default")]] int
lkl_disk_add_opts(struct lkl_disk *disk, const struct lkl_disk_opts *opts)
{
	if (!disk || (!disk->ops && disk->fd < 0))
		return -LKL_EINVAL;
	const unsigned int opt_flags = opts ? opts->flags : 0;
	if ((opt_flags & ~(disk::write_log::fault_flags | LKL_DISK_OPS_INLINE)) ||
	    (opts && opts->reserved))
		return -LKL_EINVAL;
	if ((opt_flags & LKL_DISK_OPS_INLINE) && !disk->ops)
		return -LKL_EINVAL;
	int err = disk::write_log::check(opts);
	if (err)
		return err;

	unsigned int flags = 0;
	long long size = disk::capacity(*disk, flags);
	if (size < 0)
		return static_cast<int>(size);

	err = -ENOMEM;
	auto backend = disk::make_backend(*disk, err, opt_flags);
	if (backend && opts && opts->write_log)
		backend = disk::write_log::wrap(std::move(backend), *disk, *opts,
						static_cast<unsigned long long>(size),
						err);
	if (!backend)
		return err;
	return disk::attach(*disk, std::move(backend),
			    static_cast<unsigned long long>(size), flags);
}

[[gnu::visibility("default")]] int lkl_disk_add(struct lkl_disk *disk)
{
	return lkl_disk_add_opts(disk, nullptr);
}

[[gnu::visibility("default")]] int lkl_disk_remove(struct lkl_disk disk)
{
	auto *backend = static_cast<disk::Backend *>(disk.dev);
	if (!backend)
		return -LKL_EINVAL;
	// Running: the kernel removes the disk. Before boot or after halt
	// (where upstream programs remove theirs) it only lets go of it.
	long err = lkl_is_running()
			   ? lkl_sys_lkl_disk_del(static_cast<unsigned int>(backend->id))
			   : lkl_blk_release(backend);
	if (err < 0)
		return static_cast<int>(err);
	// The kernel has finished every request of the disk.
	std::unique_ptr<disk::Backend> owned(backend);
	return owned->finish();
}

} // extern "C"
