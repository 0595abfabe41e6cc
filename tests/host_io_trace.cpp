// Interposed host I/O calls (host_io_trace.hpp). liblkl's host code calls
// these by name; defined in the program, they take precedence over the
// shared libraries' and reach those through dlsym(RTLD_NEXT).
#include "host_io_trace.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <libaio.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

namespace host_io_trace {
namespace {

std::atomic<bool> recording{false};
std::mutex mutex;
std::vector<Event> events;
std::map<const struct iocb *, Event> submitted;
std::atomic<int> failing_syncs{0};
std::atomic<int> sync_error{0};

// Consumes one injected sync failure: its errno, or 0.
int injected_failure()
{
	int left = failing_syncs.load();
	while (left > 0)
		if (failing_syncs.compare_exchange_weak(left, left - 1))
			return sync_error.load();
	return 0;
}

uint64_t now()
{
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL +
	       static_cast<uint64_t>(ts.tv_nsec);
}

template <class F> F real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p)
		std::abort();
	return reinterpret_cast<F>(p);
}

Event begin(Event::Kind kind, int fd, uint64_t offset, uint64_t length)
{
	Event e{kind};
	struct stat st;
	if (fstat(fd, &st) == 0) {
		e.dev = st.st_dev;
		e.ino = st.st_ino;
	}
	int flags = fcntl(fd, F_GETFL);
	e.dsync = flags >= 0 && (flags & O_DSYNC);
	e.offset = offset;
	e.length = length;
	e.start_ns = now();
	return e;
}

void end(Event e, bool ok)
{
	e.end_ns = now();
	e.ok = ok;
	std::lock_guard lock(mutex);
	events.push_back(e);
}

// A write call @call at @off on @fd, recorded with the length it wrote.
template <class Call> ssize_t traced_write(int fd, off_t off, Call call)
{
	if (!recording)
		return call();
	Event e = begin(Event::write, fd, static_cast<uint64_t>(off), 0);
	ssize_t r = call();
	e.length = r > 0 ? static_cast<uint64_t>(r) : 0;
	end(e, r >= 0);
	return r;
}

// fdatasync or fsync (@fn) on @fd, failing as fail_syncs() asked.
int traced_sync(int fd, int (*fn)(int))
{
	bool traced = recording;
	Event e = traced ? begin(Event::sync, fd, 0, 0) : Event{Event::sync};
	int r = fn(fd);
	if (int err = injected_failure()) {
		errno = err;
		r = -1;
	}
	if (traced)
		end(e, r == 0);
	return r;
}

} // namespace

void fail_syncs(int count, int err)
{
	sync_error = err;
	failing_syncs = count;
}

void start()
{
	std::lock_guard lock(mutex);
	events.clear();
	submitted.clear();
	recording = true;
}

std::vector<Event> stop()
{
	recording = false;
	std::lock_guard lock(mutex);
	return std::move(events);
}

} // namespace host_io_trace

using host_io_trace::Event;
using host_io_trace::recording;

extern "C" {

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static auto fn = host_io_trace::real<ssize_t (*)(int, const void *, size_t, off_t)>("pwrite");
	return host_io_trace::traced_write(fd, off, [&] { return fn(fd, buf, n, off); });
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	static auto fn = host_io_trace::real<ssize_t (*)(int, const struct iovec *, int, off_t)>(
		"pwritev");
	return host_io_trace::traced_write(fd, off, [&] { return fn(fd, iov, cnt, off); });
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	static auto fn = host_io_trace::real<int (*)(int, int, off_t, off_t)>("fallocate");
	if (!recording)
		return fn(fd, mode, off, len);
	Event e = host_io_trace::begin(Event::zero, fd, static_cast<uint64_t>(off),
				       static_cast<uint64_t>(len));
	int r = fn(fd, mode, off, len);
	host_io_trace::end(e, r == 0);
	return r;
}

int fdatasync(int fd)
{
	static auto fn = host_io_trace::real<int (*)(int)>("fdatasync");
	return host_io_trace::traced_sync(fd, fn);
}

int fsync(int fd)
{
	static auto fn = host_io_trace::real<int (*)(int)>("fsync");
	return host_io_trace::traced_sync(fd, fn);
}

int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	static auto fn = host_io_trace::real<int (*)(io_context_t, long, struct iocb **)>(
		"io_submit");
	if (recording) {
		std::lock_guard lock(host_io_trace::mutex);
		for (long i = 0; i < nr; i++) {
			const struct iocb *cb = ios[i];
			if (cb->aio_lio_opcode != IO_CMD_PWRITEV && cb->aio_lio_opcode != IO_CMD_PWRITE)
				continue;
			uint64_t len = 0;
			if (cb->aio_lio_opcode == IO_CMD_PWRITE) {
				len = cb->u.c.nbytes;
			} else {
				auto *iov = static_cast<const struct iovec *>(cb->u.c.buf);
				for (unsigned long j = 0; j < cb->u.c.nbytes; j++)
					len += iov[j].iov_len;
			}
			Event e = host_io_trace::begin(Event::write, cb->aio_fildes,
						       static_cast<uint64_t>(cb->u.c.offset), len);
			e.dsync = e.dsync || (cb->aio_rw_flags & RWF_DSYNC);
			host_io_trace::submitted[cb] = e;
		}
	}
	return fn(ctx, nr, ios);
}

int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *ev,
		 struct timespec *timeout)
{
	static auto fn = host_io_trace::real<int (*)(io_context_t, long, long, struct io_event *,
						     struct timespec *)>("io_getevents");
	int n = fn(ctx, min_nr, nr, ev, timeout);
	if (n <= 0 || !recording)
		return n;
	uint64_t t = host_io_trace::now();
	std::lock_guard lock(host_io_trace::mutex);
	for (int i = 0; i < n; i++) {
		auto it = host_io_trace::submitted.find(ev[i].obj);
		if (it == host_io_trace::submitted.end())
			continue;
		Event e = it->second;
		host_io_trace::submitted.erase(it);
		e.end_ns = t;
		e.ok = static_cast<long>(ev[i].res) == static_cast<long>(e.length);
		host_io_trace::events.push_back(e);
	}
	return n;
}

} // extern "C"
