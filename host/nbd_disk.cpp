// NBD disks: lkl_disk_add_nbd() and the backend that carries out the
// kernel's block requests over one NBD connection made with libnbd.
//
// One host thread per disk owns the libnbd handle and drives its
// asynchronous API: it issues every request the kernel submits at once
// (NBD lets a client keep many commands in flight and match the replies
// by cookie), waits in poll() on the connection and on an eventfd that
// submit() rings, and hands finished requests back as libnbd completes
// them, in whatever order the server answers. Each segment of a request
// (the driver has merged the pages that touch) is its own command, read or
// written in place: the data crosses the socket once, with no copy in
// between, and a request of many segments is many commands in flight.
//
// Flush and FUA are passed through (NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA), so
// what the kernel made durable the server has made durable; discard and
// write-zeroes become NBD_CMD_TRIM and NBD_CMD_WRITE_ZEROES where the
// server offers them. An export the server calls read-only is a
// read-only disk; a server without flush gets no flushes (NBD: the
// export then has no volatile cache to flush).

#include "disk.hpp"
#include "internal.hpp"
#include "nbd_server.hpp"

#include <libnbd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {
namespace disk {

struct NbdClose {
	void operator()(nbd_handle *h) const noexcept
	{
		nbd_close(h);
	}
};
using NbdHandle = std::unique_ptr<nbd_handle, NbdClose>;

// Copies @text into the caller's error buffer, cut to fit.
void set_error(char *buf, unsigned long len, const std::string &text) noexcept
{
	if (!buf || !len)
		return;
	std::size_t n = std::min<std::size_t>(text.size(), len - 1);
	std::memcpy(buf, text.data(), n);
	buf[n] = '\0';
}

// The last libnbd error as one line, for the caller's error buffer.
std::string nbd_error_text()
{
	const char *msg = nbd_get_error();
	return msg ? msg : std::strerror(nbd_get_errno() ? nbd_get_errno() : EIO);
}

class NbdDisk final : public Backend {
public:
	// Takes a connected handle (and the server started for it, reaped
	// once the connection is closed). Throws std::system_error if the
	// eventfd or the thread cannot be made.
	NbdDisk(NbdHandle h, Server server)
		: server_(std::move(server)), h_(std::move(h))
	{
		wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (wake_ < 0)
			throw std::system_error(errno, std::generic_category(),
						"eventfd");
		can_flush_ = nbd_can_flush(h_.get()) == 1;
		can_fua_ = nbd_can_fua(h_.get()) == 1;
		can_zero_ = nbd_can_zero(h_.get()) == 1;
		int64_t max = nbd_get_block_size(h_.get(), LIBNBD_SIZE_MAXIMUM);
		// NBD's default limit when the server names none is 32 MiB.
		max_request_ = max > 0 ? static_cast<uint64_t>(max) : 32ULL << 20;
		thread_ = std::thread([this] { run(); });
	}

	~NbdDisk()
	{
		{
			std::lock_guard lock(mutex_);
			stop_ = true;
		}
		ring();
		thread_.join();
		close(wake_);
		// A clean goodbye (NBD_CMD_DISC) lets a server started for
		// this disk exit at once; nbd_close() then reaps it.
		nbd_shutdown(h_.get(), 0);
	}

	NbdDisk(const NbdDisk &) = delete;
	NbdDisk &operator=(const NbdDisk &) = delete;

	void submit(lkl_blk_io *io) override
	{
		{
			std::lock_guard lock(mutex_);
			queue_.push_back(io);
		}
		ring();
	}

private:
	// One kernel request, while its NBD commands are in flight.
	struct Pending {
		NbdDisk *disk = nullptr;
		lkl_blk_io *io = nullptr;
		unsigned left = 0;	// commands not yet answered
		int status = 0;
		// FUA on a server without it: a flush once the write is in.
		bool flush_after = false;
		unsigned answers = 0;	  // answered, not yet finished
		Pending *next = nullptr;  // in answered_ while answers > 0
	};

	void ring() noexcept
	{
		uint64_t one = 1;
		if (write(wake_, &one, sizeof(one)) < 0 && errno != EAGAIN)
			host::fatal("cannot wake the NBD disk thread");
	}

	// libnbd holds the handle's lock here, so nothing may be issued
	// (a flush after a write): the answer is only noted, and run()
	// finishes it once libnbd has returned.
	static int completed(void *data, int *error)
	{
		auto *p = static_cast<Pending *>(data);
		if (*error && !p->status)
			p->status = -*error;
		if (p->answers++ == 0) {
			p->next = p->disk->answered_;
			p->disk->answered_ = p;
		}
		return 1;
	}

	void finish_answered() noexcept
	{
		while (Pending *p = answered_) {
			answered_ = p->next;
			p->left -= std::exchange(p->answers, 0) - 1;
			finish_one(p);
		}
	}

	void finish_one(Pending *p) noexcept
	{
		if (--p->left)
			return;
		if (std::exchange(p->flush_after, false) && !p->status) {
			// NBD orders nothing between commands in flight: the
			// flush goes out only once the write has been answered.
			p->left = 1;
			issue(p, [&](nbd_completion_callback cb) {
				return nbd_aio_flush(h_.get(), cb, 0);
			});
			finish_one(p);
			return;
		}
		std::unique_ptr<Pending> done(p);
		lkl_blk_io *io = p->io;
		io->status = p->status;
		complete(io);
	}

	// Issues one NBD command for @p with @call; if libnbd refuses it
	// (the connection is gone, or the command breaks the server's
	// limits) the request fails with libnbd's errno.
	template <typename Issue> void issue(Pending *p, Issue &&call) noexcept
	{
		p->left++;
		nbd_completion_callback cb = { .callback = completed,
					       .user_data = p,
					       .free = nullptr };
		if (call(cb) >= 0)
			return;
		int err = nbd_get_errno();
		if (!p->status)
			p->status = err > 0 ? -err : -EIO;
		p->left--;
	}

	void start(lkl_blk_io *io) noexcept
	{
		std::unique_ptr<Pending> p;
		try {
			p = std::make_unique<Pending>();
		} catch (const std::bad_alloc &) {
			io->status = -ENOMEM;
			complete(io);
			return;
		}
		p->disk = this;
		p->io = io;
		// Hold the count up while issuing, so that a command answered
		// at once cannot finish the request before the rest is issued.
		p->left = 1;
		try {
			dispatch(p.get());
		} catch (const std::bad_alloc &) {
			if (!p->status)
				p->status = -ENOMEM;
		}
		finish_one(p.release());
	}

	void dispatch(Pending *p)
	{
		nbd_handle *h = h_.get();
		lkl_blk_io *io = p->io;
		uint64_t off = io->sector * 512;
		uint32_t fua = io->fua && can_fua_ ? LIBNBD_CMD_FLAG_FUA : 0;
		p->flush_after = io->fua && !can_fua_ && can_flush_;

		switch (io->type) {
		case LKL_BLK_IO_READ:
		case LKL_BLK_IO_WRITE: {
			bool write = io->type == LKL_BLK_IO_WRITE;
			// A segment can be larger than the server takes in one
			// command (a merged 4 MiB segment): cut it.
			for (unsigned i = 0; i < io->nr_segs && !p->status; i++) {
				auto *base = static_cast<char *>(io->segs[i].base);
				std::size_t seg_len = io->segs[i].len;
				for (std::size_t done = 0; done < seg_len && !p->status;) {
					void *buf = base + done;
					std::size_t len = std::min<uint64_t>(seg_len - done,
									     max_request_);
					issue(p, [&](nbd_completion_callback cb) {
						return write ? nbd_aio_pwrite(h, buf, len, off,
									      cb, fua)
							     : nbd_aio_pread(h, buf, len, off, cb, 0);
					});
					off += len;
					done += len;
				}
			}
			return;
		}
		case LKL_BLK_IO_FLUSH:
			p->flush_after = false;
			if (can_flush_)
				issue(p, [&](nbd_completion_callback cb) {
					return nbd_aio_flush(h, cb, 0);
				});
			return;
		case LKL_BLK_IO_DISCARD:
		case LKL_BLK_IO_WRITE_ZEROES:
			zero_range(p, off, fua);
			return;
		default:
			p->flush_after = false;
			p->status = -EOPNOTSUPP;
			return;
		}
	}

	// Discard (advisory: NBD_CMD_TRIM) or write-zeroes (NBD_CMD_WRITE_ZEROES,
	// or zeros written where the server has no such command), cut into
	// commands of at most a GiB, well inside NBD's 32-bit lengths.
	void zero_range(Pending *p, uint64_t off, uint32_t fua)
	{
		static const std::vector<char> zeros(1 << 20);
		nbd_handle *h = h_.get();
		bool discard = p->io->type == LKL_BLK_IO_DISCARD;
		uint64_t step = discard || can_zero_
					? 1ULL << 30
					: std::min<uint64_t>(zeros.size(), max_request_);
		for (uint64_t left = p->io->len; left && !p->status;) {
			uint64_t n = std::min(left, step);
			issue(p, [&](nbd_completion_callback cb) {
				if (discard)
					return nbd_aio_trim(h, n, off, cb, 0);
				if (can_zero_)
					return nbd_aio_zero(h, n, off, cb, fua);
				return nbd_aio_pwrite(h, zeros.data(), n, off, cb, fua);
			});
			off += n;
			left -= n;
		}
	}

	void run()
	{
		nbd_handle *h = h_.get();
		for (;;) {
			std::deque<lkl_blk_io *> todo;
			bool stop;
			{
				std::lock_guard lock(mutex_);
				todo.swap(queue_);
				stop = stop_;
			}
			for (lkl_blk_io *io : todo)
				start(io);
			if (stop && nbd_aio_in_flight(h) <= 0)
				return;

			struct pollfd fds[2] = {
				{ .fd = wake_, .events = POLLIN, .revents = 0 },
				{ .fd = -1, .events = 0, .revents = 0 },
			};
			unsigned dir = nbd_aio_get_direction(h);
			int fd = nbd_aio_get_fd(h);
			if (fd >= 0 && dir) {
				fds[1].fd = fd;
				fds[1].events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
						(dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0);
			}
			if (poll(fds, 2, -1) < 0) {
				if (errno == EINTR)
					continue;
				host::fatal("poll failed in the NBD disk thread");
			}
			if (fds[0].revents & POLLIN) {
				uint64_t n;
				if (read(wake_, &n, sizeof(n)) < 0 && errno != EAGAIN)
					host::fatal("cannot read the NBD disk eventfd");
			}
			// A dead connection answers every command in flight
			// with an error (libnbd does that itself).
			if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
				nbd_aio_notify_read(h);
			else if (fds[1].revents & POLLOUT)
				nbd_aio_notify_write(h);
			finish_answered();
		}
	}

	Server server_; // declared first: reaped after h_ is closed
	NbdHandle h_;
	int wake_ = -1;
	bool can_flush_ = false, can_fua_ = false, can_zero_ = false;
	uint64_t max_request_ = 0;
	Pending *answered_ = nullptr; // by completed(), for run() to finish
	std::mutex mutex_;
	std::deque<lkl_blk_io *> queue_;
	bool stop_ = false;
	std::thread thread_;
};

} // namespace disk
} // namespace

namespace {
namespace disk {

// An NBD connection, and the server started for it if any.
struct Connection {
	Server server; // declared first: reaped after the handle is closed
	NbdHandle h;
};

// Hands the connection @c to the kernel as a disk (read-only when
// @read_only or when the server says so). The disk id or a negative errno,
// with @error set when it is the connection's fault.
int add_nbd(lkl_disk &disk, Connection c, bool read_only, std::string &error,
	    std::unique_ptr<Backend> (*wrap)(std::unique_ptr<Backend>, void *),
	    void *wrap_data)
{
	nbd_handle *h = c.h.get();
	int64_t size = nbd_get_size(h);
	if (size < 0) {
		error = nbd_error_text();
		return nbd_get_errno() > 0 ? -nbd_get_errno() : -EIO;
	}
	unsigned int flags = 0;
	if (read_only || nbd_is_read_only(h) == 1)
		flags |= LKL_DISK_READ_ONLY;
	else if (nbd_can_trim(h) == 1)
		flags |= LKL_DISK_DISCARD;
	std::unique_ptr<Backend> backend;
	try {
		backend = std::make_unique<NbdDisk>(std::move(c.h), std::move(c.server));
		if (wrap)
			backend = wrap(std::move(backend), wrap_data);
	} catch (const std::system_error &e) {
		return -e.code().value();
	} catch (const std::bad_alloc &) {
		return -ENOMEM;
	}
	disk.fd = -1;
	return attach(disk, std::move(backend), static_cast<unsigned long long>(size),
		      flags);
}

// A connection to @uri, or to a server started from @argv with @env and
// @err_fd (see Server::start()). On failure its handle is null, a server
// started for it has exited, and @err and @error are set; @exited is then
// the server's wait status (-1 if none was started).
Connection nbd_connect(const char *uri, char *const *argv,
		       const std::vector<std::string> &env, int err_fd,
		       std::string &error, int &err, int *exited = nullptr)
{
	Connection c;
	if (exited)
		*exited = -1;
	c.h.reset(nbd_create());
	if (!c.h) {
		error = nbd_error_text();
		err = -ENOMEM;
		return c;
	}
	// libnbd zeroes every read buffer first, against a server that
	// claims success without sending the data; here that is a memset
	// of every page read. Such a server could only leave in the page
	// what this process's own kernel held there before.
	nbd_set_pread_initialize(c.h.get(), false);
	int rc;
	if (uri) {
		rc = nbd_connect_uri(c.h.get(), uri);
	} else {
		int fd = c.server.start(argv, env, err_fd);
		if (fd < 0) {
			error = std::string(argv[0]) + ": " + std::strerror(-fd);
			err = fd;
			c.h.reset();
			return c;
		}
		rc = nbd_connect_socket(c.h.get(), fd);
	}
	if (rc < 0) {
		error = nbd_error_text();
		err = nbd_get_errno() > 0 ? -nbd_get_errno() : -EIO;
		c.h.reset();
		int status = c.server.reap();
		if (exited)
			*exited = status;
		// sh's answer for a command it cannot find.
		if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 127) {
			error = std::string(argv[0]) + ": command not found";
			err = -ENOENT;
		}
	}
	return c;
}

} // namespace disk
} // namespace

extern "C" {

[[gnu::visibility("default")]] int
lkl_disk_add_nbd(struct lkl_disk *disk, const struct lkl_nbd_opts *opts)
{
	if (!disk || !opts || !opts->uri == !opts->argv ||
	    (opts->argv && !opts->argv[0]) || (opts->flags & ~LKL_NBD_READ_ONLY) ||
	    opts->reserved)
		return -LKL_EINVAL;
	try {
		std::string error;
		int err = 0;
		auto c = disk::nbd_connect(opts->uri, opts->argv, {}, -1, error, err);
		if (c.h)
			err = disk::add_nbd(*disk, std::move(c),
					    opts->flags & LKL_NBD_READ_ONLY, error,
					    nullptr, nullptr);
		if (err < 0)
			disk::set_error(opts->error, opts->error_len,
					       error.empty() ? std::strerror(-err)
							     : error);
		return err;
	} catch (const std::bad_alloc &) {
		return -LKL_ENOMEM;
	}
}

} // extern "C"
