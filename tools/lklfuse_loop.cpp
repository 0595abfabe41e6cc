#include "lklfuse_loop.hpp"

#include "emergency_exit.hpp"

#include <linux/fuse.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

namespace lklfuse {

namespace {

// Requests that are likely to wait for the disk: reads of file data
// (which may not be cached) and syncs. The next request is read by
// another thread while one of these is served. The rest are served by
// the reading thread itself; they wait for the disk only now and then
// (a directory block not yet cached, writeback throttling a writer).
bool may_wait_for_disk(const fuse_buf &buf)
{
	if ((buf.flags & FUSE_BUF_IS_FD) || buf.size < sizeof(fuse_in_header))
		return true;
	switch (static_cast<const fuse_in_header *>(buf.mem)->opcode) {
	case FUSE_READ:
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
	case FUSE_FALLOCATE:
	case FUSE_COPY_FILE_RANGE:
	case FUSE_SYNCFS:
		return true;
	default:
		return false;
	}
}

// Service time by request type (LKLFUSE_STATS=FILE): how long
// fuse_session_process_buf() took, reply included, per opcode.
class ServiceTimes {
public:
	static constexpr std::size_t opcodes = 64;

	void add(uint32_t opcode, std::chrono::nanoseconds took)
	{
		std::lock_guard guard(lock_);
		auto &e = by_op_[opcode < opcodes ? opcode : 0];
		e.count++;
		e.total += took;
	}

	void write(const char *path) const
	{
		FILE *f = fopen(path, "we");
		if (!f)
			return;
		fprintf(f, "opcode count mean_us total_s\n");
		for (std::size_t i = 0; i < opcodes; i++) {
			const auto &e = by_op_[i];
			if (!e.count)
				continue;
			double total = std::chrono::duration<double>(e.total).count();
			fprintf(f, "%s %llu %.2f %.3f\n", name(i), e.count,
				total * 1e6 / static_cast<double>(e.count), total);
		}
		fclose(f);
	}

private:
	static const char *name(std::size_t op)
	{
		static const char *const names[opcodes] = {
			"?", "LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK",
			"SYMLINK", "?", "MKNOD", "MKDIR", "UNLINK", "RMDIR",
			"RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS",
			"RELEASE", "?", "FSYNC", "SETXATTR", "GETXATTR",
			"LISTXATTR", "REMOVEXATTR", "FLUSH", "INIT", "OPENDIR",
			"READDIR", "RELEASEDIR", "FSYNCDIR", "GETLK", "SETLK",
			"SETLKW", "ACCESS", "CREATE", "INTERRUPT", "BMAP",
			"DESTROY", "IOCTL", "POLL", "NOTIFY_REPLY",
			"BATCH_FORGET", "FALLOCATE", "READDIRPLUS", "RENAME2",
			"LSEEK", "COPY_FILE_RANGE", "SETUPMAPPING",
			"REMOVEMAPPING", "SYNCFS", "TMPFILE", "STATX"};
		return names[op] ? names[op] : "?";
	}

	struct Entry {
		unsigned long long count = 0;
		std::chrono::nanoseconds total{0};
	};
	std::mutex lock_;
	std::array<Entry, opcodes> by_op_{};
};

class RequestLoop {
public:
	RequestLoop(fuse_session *se, unsigned int max_threads, pthread_t main)
		: se_(se), max_threads_(max_threads ? max_threads : 1), main_(main)
	{
	}

	// Runs until the session ends; joins every worker.
	int run()
	{
		int fd = fuse_session_fd(se_);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		{
			std::lock_guard guard(lock_);
			start_worker();
		}
		wait_for_end();
		std::vector<std::thread> workers;
		{
			std::lock_guard guard(lock_);
			workers.swap(workers_);
		}
		for (auto &t : workers)
			t.join();
		return error_;
	}

	void keep_times(ServiceTimes *stats) { stats_ = stats; }

	void request_stop(void (*unmount)(void *), void *arg)
	{
		unmount_ = unmount;
		unmount_arg_ = arg;
	}

	// The signal that stopped the loop, or 0.
	int stop_signal() const { return stop_signal_; }

private:
	// Called with lock_ held.
	void start_worker()
	{
		workers_.emplace_back([this] { work(); });
	}

	void work()
	{
		fuse_buf buf = {};
		std::unique_lock l(lock_);
		while (!ended_) {
			if (reading_) {
				idle_++;
				turn_.wait(l);
				idle_--;
				continue;
			}
			reading_ = true;
			l.unlock();
			int res = receive(buf);
			if (res == -EINTR || res == -EAGAIN) {
				l.lock();
				reading_ = false;
				continue;
			}
			if (res <= 0 || fuse_session_exited(se_)) {
				l.lock();
				end(res < 0 && res != -ENODEV ? res : 0);
				break;
			}
			bool hand_over = may_wait_for_disk(buf);
			uint32_t opcode = buf.flags & FUSE_BUF_IS_FD ? 0
				: static_cast<const fuse_in_header *>(buf.mem)->opcode;
			auto started = std::chrono::steady_clock::now();
			if (hand_over) {
				l.lock();
				reading_ = false;
				if (idle_)
					turn_.notify_one();
				else if (workers_.size() < max_threads_)
					start_worker();
				l.unlock();
			}
			fuse_session_process_buf(se_, &buf);
			if (stats_)
				stats_->add(opcode, std::chrono::steady_clock::now() -
							    started);
			l.lock();
			if (!hand_over)
				reading_ = false;
		}
		free(buf.mem);
	}

	// The next request. Polls for a little while before sleeping: a
	// program's next request mostly follows the reply to its last one
	// within microseconds, and waking a sleeping thread costs far more
	// than that where idle CPUs halt (tens of microseconds in a VM).
	int receive(fuse_buf &buf)
	{
		using clock = std::chrono::steady_clock;
		auto give_up = clock::now() + poll_for;
		for (;;) {
			int res = fuse_session_receive_buf(se_, &buf);
			if (res != -EAGAIN)
				return res;
			if (clock::now() < give_up)
				continue;
			struct pollfd pfd = {fuse_session_fd(se_), POLLIN, 0};
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			give_up = clock::now() + poll_for;
		}
	}

	static constexpr auto poll_for = std::chrono::microseconds(50);

	// Called with lock_ held: the session is over for every thread.
	void end(int error)
	{
		if (!ended_) {
			ended_ = true;
			error_ = error;
			pthread_kill(main_, SIGUSR1);
		}
		reading_ = false;
		turn_.notify_all();
	}

	// The main thread takes the signals; a worker's SIGUSR1 says the
	// mount went away by itself.
	void wait_for_end()
	{
		sigset_t set;
		sigemptyset(&set);
		for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1})
			sigaddset(&set, sig);
		int first = 0;
		int sig = 0;
		// end() sends SIGUSR1 exactly once, so it is always taken here.
		while (sigwait(&set, &sig) == 0 && sig != SIGUSR1) {
			// Asked twice: the user will not wait.
			if (first)
				lkl_tools::exit_stopped(first);
			// The orderly end must come in time (the kernel may be
			// stuck); unmounting FUSE makes the reader return.
			first = sig;
			stop_signal_ = sig;
			lkl_tools::grace_period().start(sig);
			fuse_session_exit(se_);
			if (unmount_)
				unmount_(unmount_arg_);
		}
	}

	fuse_session *se_;
	const std::size_t max_threads_;
	const pthread_t main_;
	ServiceTimes *stats_ = nullptr;
	void (*unmount_)(void *) = nullptr;
	void *unmount_arg_ = nullptr;

	std::mutex lock_;
	std::condition_variable turn_;
	std::vector<std::thread> workers_;
	bool reading_ = false; // a thread reads /dev/fuse or serves inline
	bool ended_ = false;
	unsigned int idle_ = 0;
	int error_ = 0;
	int stop_signal_ = 0;
};

} // namespace

int serve_requests(fuse_session *se, unsigned int max_threads,
		   void (*unmount)(void *), void *arg, int &stop_signal)
{
	RequestLoop loop(se, max_threads, pthread_self());
	loop.request_stop(unmount, arg);
	const char *stats_file = getenv("LKLFUSE_STATS");
	std::unique_ptr<ServiceTimes> stats;
	if (stats_file && *stats_file) {
		stats = std::make_unique<ServiceTimes>();
		loop.keep_times(stats.get());
	}
	int err = loop.run();
	if (stats)
		stats->write(stats_file);
	stop_signal = loop.stop_signal();
	return err;
}

void block_stop_signals()
{
	sigset_t set;
	sigemptyset(&set);
	for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1})
		sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

} // namespace lklfuse
