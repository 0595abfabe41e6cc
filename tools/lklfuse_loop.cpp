#include "lklfuse_loop.hpp"

#include "emergency_exit.hpp"

#include <linux/fuse.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
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
	int err = loop.run();
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
