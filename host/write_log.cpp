// The write log of a disk: a Backend over any other that appends every
// write, discard, write-zeroes and flush the kernel makes, with its data, to
// a file, in the order the kernel sees them complete; marks from the
// program land between them. The format is <lkl/write_log.h>, the crash
// model built on it Documentation/write-log.md. The idea is dm-log-writes'
// (Linux, drivers/md/dm-log-writes.c) and CrashMonkey's (Mohan et al.,
// OSDI 2018): record below the file system, replay each crash point.
//
// Each record reaches the file before the kernel hears of its request's
// completion, so whatever a program saw finish is in the log before the
// mark it places next. A flush record carries how many records the log
// held when the flush was submitted: the writes a real disk's flush covers.

#include "disk.hpp"
#include "internal.hpp"
#include "write_log.hpp"

#include <lkl/write_log.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

namespace {
namespace disk {
namespace write_log {

uint64_t clock_ns(clockid_t id) noexcept
{
	timespec ts{};
	clock_gettime(id, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
	       static_cast<uint64_t>(ts.tv_nsec);
}

// The format's integers are little-endian whatever the host's order.
template <class T> void put_le(unsigned char *p, T value) noexcept
{
	auto v = static_cast<uint64_t>(value);
	for (size_t i = 0; i < sizeof(T); i++)
		p[i] = static_cast<unsigned char>(v >> (8 * i));
}

// Writes all of @iov (any count) at the file offset; 0 or -errno.
int write_all(int fd, std::vector<struct iovec> &iov) noexcept
{
	size_t first = 0;
	while (first < iov.size()) {
		int n = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
		ssize_t done = writev(fd, &iov[first], n);
		if (done < 0 && errno == EINTR)
			continue;
		if (done < 0)
			return -errno;
		if (done == 0)
			return -EIO;
		auto left = static_cast<size_t>(done);
		while (left && first < iov.size()) {
			size_t step = std::min(left, iov[first].iov_len);
			iov[first].iov_base = static_cast<char *>(iov[first].iov_base) + step;
			iov[first].iov_len -= step;
			left -= step;
			if (iov[first].iov_len == 0)
				first++;
		}
		while (first < iov.size() && iov[first].iov_len == 0)
			first++;
	}
	return 0;
}

struct Entry {
	uint16_t type;
	uint16_t flags;
	uint64_t issued;
	uint64_t sector;
	uint64_t length;
	int32_t status;
};

class Log final : public Backend, private Completion {
public:
	Log(std::unique_ptr<Backend> inner, int fd, unsigned int faults)
		: inner_(std::move(inner)), fd_(fd), faults_(faults)
	{
		inner_->set_completion(this);
	}

	~Log() override
	{
		// Joins the backend's threads: no completion runs after this.
		inner_.reset();
		if (held_)
			append_held();
		close(fd_);
	}

	Log(const Log &) = delete;
	Log &operator=(const Log &) = delete;

	// Writes the file header; 0 or -errno.
	int start(unsigned long long capacity) noexcept
	{
		unsigned char head[sizeof(lkl_wlog_header)] = {};
		std::memcpy(head, LKL_WLOG_MAGIC, 8);
		put_le<uint32_t>(head + 8, LKL_WLOG_VERSION);
		put_le<uint32_t>(head + 12, sizeof(lkl_wlog_header));
		put_le<uint32_t>(head + 16, sizeof(lkl_wlog_record));
		put_le<uint32_t>(head + 20, LKL_WLOG_SECTOR_SIZE);
		put_le<uint64_t>(head + 24, capacity);
		put_le<uint64_t>(head + 32, clock_ns(CLOCK_REALTIME));
		std::lock_guard lock(mutex_);
		iov_.assign(1, {head, sizeof(head)});
		return write_all(fd_, iov_);
	}

	void submit(lkl_blk_io *io) override
	{
		if (io->type == LKL_BLK_IO_READ) {
			inner_->submit(io);
			return;
		}
		if (faults_ & LKL_DISK_TEST_FAULT_DROP_FUA)
			io->fua = 0;
		if (io->type == LKL_BLK_IO_FLUSH &&
		    (faults_ & LKL_DISK_TEST_FAULT_FLUSH_NOOP)) {
			io->status = 0;
			complete(io);
			return;
		}
		try {
			std::lock_guard lock(mutex_);
			issued_.emplace(io, count_);
		} catch (const std::bad_alloc &) {
			io->status = -ENOMEM;
			complete(io);
			return;
		}
		if (io->type == LKL_BLK_IO_FLUSH &&
		    (faults_ & LKL_DISK_TEST_FAULT_FLUSH_UNSYNCED)) {
			io->status = 0;
			completed(io);
			return;
		}
		inner_->submit(io);
	}

	int mark(std::string_view name) noexcept
	{
		std::lock_guard lock(mutex_);
		struct iovec data = {const_cast<char *>(name.data()), name.size()};
		return append({LKL_WLOG_MARK, 0, count_, 0, name.size(), 0}, &data, 1);
	}

private:
	void completed(lkl_blk_io *io) noexcept override
	{
		if (io->type == LKL_BLK_IO_READ) {
			complete(io);
			return;
		}
		std::unique_lock lock(mutex_);
		auto it = issued_.find(io);
		uint64_t issued = it->second;
		issued_.erase(it);
		uint16_t flags = io->fua ? LKL_WLOG_FUA : 0;

		if (should_hold(io)) {
			try {
				hold(io, issued, flags);
				lock.unlock();
				complete(io);
				return;
			} catch (const std::bad_alloc &) {
				// Not held: logged in place below.
			}
		}

		int err;
		if (io->type == LKL_BLK_IO_WRITE) {
			err = append({LKL_WLOG_WRITE, flags, issued, io->sector,
				      io->len, io->status},
				     reinterpret_cast<struct iovec *>(io->segs),
				     io->nr_segs);
		} else {
			uint16_t type = io->type == LKL_BLK_IO_FLUSH ? LKL_WLOG_FLUSH
					: io->type == LKL_BLK_IO_DISCARD ? LKL_WLOG_DISCARD
					: LKL_WLOG_WRITE_ZEROES;
			err = append({type, flags, issued, io->sector, io->len,
				      io->status}, nullptr, 0);
			if (!err && type == LKL_WLOG_FLUSH && io->status == 0 &&
			    (faults_ & LKL_DISK_TEST_FAULT_REORDER_WRITE)) {
				if (held_)
					err = append_held();
				armed_ = true;
			}
		}
		// A request the log missed must not look done.
		if (err && io->status == 0)
			io->status = err;
		lock.unlock();
		complete(io);
	}

	// With REORDER_WRITE: the first successful plain write after a flush.
	bool should_hold(const lkl_blk_io *io) const noexcept
	{
		return (faults_ & LKL_DISK_TEST_FAULT_REORDER_WRITE) && armed_ &&
		       !held_ && io->type == LKL_BLK_IO_WRITE && !io->fua &&
		       io->status == 0;
	}

	// Keeps a copy of @io's data: the kernel reuses the pages once it
	// completes.
	void hold(const lkl_blk_io *io, uint64_t issued, uint16_t flags)
	{
		Held h{{LKL_WLOG_WRITE, flags, issued, io->sector, io->len, 0}, {}};
		h.data.reserve(io->len);
		for (unsigned i = 0; i < io->nr_segs; i++) {
			auto *p = static_cast<const char *>(io->segs[i].base);
			h.data.insert(h.data.end(), p, p + io->segs[i].len);
		}
		held_ = std::move(h);
		armed_ = false;
	}

	int append_held() noexcept
	{
		struct iovec data = {held_->data.data(), held_->data.size()};
		int err = append(held_->entry, &data, 1);
		held_.reset();
		return err;
	}

	// Appends one record and its payload (mutex_ held); 0 or -errno. The
	// first failure sticks: a log with a gap would replay wrong.
	int append(const Entry &e, const struct iovec *payload, unsigned n) noexcept
	{
		if (err_)
			return err_;
		unsigned char head[sizeof(lkl_wlog_record)] = {};
		put_le<uint32_t>(head, LKL_WLOG_RECORD_MAGIC);
		put_le<uint16_t>(head + 4, e.type);
		put_le<uint16_t>(head + 6, e.flags);
		put_le<uint64_t>(head + 8, count_);
		put_le<uint64_t>(head + 16, e.issued);
		put_le<uint64_t>(head + 24, e.sector);
		put_le<uint64_t>(head + 32, e.length);
		put_le<int32_t>(head + 40, e.status);
		put_le<uint64_t>(head + 48, clock_ns(CLOCK_MONOTONIC));
		try {
			iov_.assign(1, {head, sizeof(head)});
			iov_.insert(iov_.end(), payload, payload + n);
		} catch (const std::bad_alloc &) {
			return -ENOMEM;
		}
		err_ = write_all(fd_, iov_);
		if (!err_)
			count_++;
		return err_;
	}

	struct Held {
		Entry entry;
		std::vector<char> data;
	};

	std::unique_ptr<Backend> inner_;
	int fd_;
	unsigned int faults_;
	std::mutex mutex_;
	uint64_t count_ = 0;
	int err_ = 0;
	std::vector<struct iovec> iov_;
	// The log's length when each request in flight was submitted.
	std::unordered_map<const lkl_blk_io *, uint64_t> issued_;
	bool armed_ = false;
	std::optional<Held> held_;
};

int check(const lkl_disk_opts *opts) noexcept
{
	if (!opts)
		return 0;
	if ((opts->flags & fault_flags) && !opts->write_log)
		return -EINVAL;
	return 0;
}

std::unique_ptr<Backend> wrap(std::unique_ptr<Backend> inner,
			      const lkl_disk &disk, const lkl_disk_opts &opts,
			      unsigned long long capacity, int &err) noexcept
{
	int fd = open(opts.write_log, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		return nullptr;
	}
	// Not the image itself: truncating it would destroy it.
	struct stat log_st, disk_st;
	if (fstat(fd, &log_st)) {
		err = -errno;
		close(fd);
		return nullptr;
	}
	if (!disk.ops && fstat(disk.fd, &disk_st) == 0 &&
	    log_st.st_dev == disk_st.st_dev && log_st.st_ino == disk_st.st_ino) {
		close(fd);
		err = -EINVAL;
		return nullptr;
	}
	// A pipe or a character device is written as it is.
	if (S_ISREG(log_st.st_mode) && ftruncate(fd, 0)) {
		err = -errno;
		close(fd);
		return nullptr;
	}
	std::unique_ptr<Log> log;
	try {
		log = std::make_unique<Log>(std::move(inner), fd, opts.flags);
	} catch (const std::bad_alloc &) {
		close(fd);
		err = -ENOMEM;
		return nullptr;
	}
	err = log->start(capacity);
	if (err)
		return nullptr;
	return log;
}

int mark(void *dev, const char *name) noexcept
{
	if (!dev || !name || !*name)
		return -EINVAL;
	size_t len = strnlen(name, LKL_WLOG_MARK_MAX + 1);
	if (len > LKL_WLOG_MARK_MAX)
		return -ENAMETOOLONG;
	auto *log = dynamic_cast<Log *>(static_cast<Backend *>(dev));
	if (!log)
		return -EOPNOTSUPP;
	return log->mark({name, len});
}

} // namespace write_log
} // namespace disk
} // namespace

extern "C" {

[[gnu::visibility("default")]] int lkl_disk_log_mark(struct lkl_disk disk,
						     const char *name)
{
	return disk::write_log::mark(disk.dev, name);
}

} // extern "C"
