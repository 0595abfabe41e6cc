#include "image_lock.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace lkl_tools {

namespace {

struct flock mark_of(short type)
{
	struct flock fl = {};
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = 0;
	fl.l_len = 1;
	return fl;
}

// Does another open of the file hold the "in use" mark?
bool marked_in_use(int fd)
{
	struct flock fl = mark_of(F_WRLCK);
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return true; // no way to tell: taken as in use, as before
	return fl.l_type != F_UNLCK;
}

std::string in_use(const std::string &path)
{
	return path + ": in use by another process (it is locked)";
}

} // namespace

int lock_image(const std::string &path, bool shared, bool create, double wait_s,
	       void (*notice)(const std::string &), std::string &error)
{
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (create ? O_CREAT : 0),
			0644);
	if (fd < 0) {
		int err = errno;
		error = path + ": " + strerror(err);
		errno = err;
		return -1;
	}
	using clock = std::chrono::steady_clock;
	auto start = clock::now();
	auto give_up = start + std::chrono::duration<double>(wait_s);
	// A user that was just told to stop (fusermount3 -u has returned)
	// takes a moment to notice and let go of the mark.
	auto marked_until = start + std::chrono::seconds(2);
	bool told = false;
	while (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int err = errno;
		if (err == EINTR)
			continue;
		if (err != EWOULDBLOCK) {
			error = path + ": " + strerror(err);
			::close(fd);
			errno = err;
			return -1;
		}
		bool marked = marked_in_use(fd);
		auto now = clock::now();
		if ((marked && now >= marked_until) || now >= give_up) {
			error = in_use(path);
			::close(fd);
			errno = EBUSY;
			return -1;
		}
		if (marked) {
			std::this_thread::sleep_for(std::chrono::milliseconds(20));
			continue;
		}
		marked_until = now; // once let go of, the mark counts at once
		// Silent for the usual fraction of a second, as a kernel
		// mount would be (fstests compares mount's output).
		if (!told && notice && now - start >= std::chrono::seconds(1)) {
			notice(path + ": waiting for the process that has it to "
				      "finish unmounting it");
			told = true;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	// A read-only descriptor takes only a read lock; it still keeps
	// every writer's check (F_WRLCK) seeing the image in use.
	struct flock fl = mark_of(F_RDLCK);
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0 && errno != EINVAL) {
		int err = errno;
		error = path + ": " + strerror(err);
		::close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

void finishing(int fd)
{
	struct flock fl = mark_of(F_UNLCK);
	fcntl(fd, F_OFD_SETLK, &fl);
}

} // namespace lkl_tools
