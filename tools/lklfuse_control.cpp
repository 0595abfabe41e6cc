#include "lklfuse_control.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

namespace lklfuse {

namespace {

constexpr long fuse_magic = 0x65735546;

// The abstract socket's address for the FUSE mount with device number dev.
socklen_t address_of(dev_t dev, sockaddr_un &addr)
{
	addr = {};
	addr.sun_family = AF_UNIX;
	int n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1,
			 "lklfuse/%lu", static_cast<unsigned long>(dev));
	return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

} // namespace

ControlSocket::ControlSocket(std::string mountpoint,
			     std::function<std::string(bool)> remount)
	: mountpoint_(std::move(mountpoint)), remount_(std::move(remount))
{
	if (pipe2(stop_, O_CLOEXEC) != 0)
		return;
	thread_ = std::thread([this] { serve(); });
}

ControlSocket::~ControlSocket()
{
	if (stop_[1] >= 0) {
		ssize_t ignored = write(stop_[1], "x", 1);
		(void)ignored;
	}
	if (thread_.joinable())
		thread_.join();
	for (int fd : {fd_, stop_[0], stop_[1]})
		if (fd >= 0)
			close(fd);
}

void ControlSocket::serve()
{
	// The stat waits for FUSE's INIT, which the request loop answers.
	struct stat st;
	if (stat(mountpoint_.c_str(), &st) != 0)
		return;
	sockaddr_un addr;
	socklen_t len = address_of(st.st_dev, addr);
	fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&addr), len) != 0 ||
	    listen(fd_, 4) != 0)
		return;
	for (;;) {
		struct pollfd pfd[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents)
			return;
		int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		char req[16] = {};
		std::string answer;
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 ||
		    (cred.uid != 0 && cred.uid != getuid()))
			answer = "permission denied";
		else if (recv(conn, req, sizeof(req) - 1, 0) <= 0)
			answer = "no request";
		else if (strcmp(req, "ro") == 0 || strcmp(req, "rw") == 0)
			answer = remount_(req[1] == 'o');
		else
			answer = "unknown request";
		std::string reply = answer.empty() ? std::string(1, '\0') : "\1" + answer;
		send(conn, reply.data(), reply.size(), MSG_NOSIGNAL);
		close(conn);
	}
}

int remount(const std::string &mountpoint, bool read_only, std::string &error)
{
	struct stat st;
	struct statfs sf;
	if (stat(mountpoint.c_str(), &st) != 0 || statfs(mountpoint.c_str(), &sf) != 0) {
		error = mountpoint + ": " + strerror(errno);
		return 1;
	}
	if (sf.f_type != fuse_magic) {
		error = mountpoint + ": not mounted by lklfuse";
		return 1;
	}
	struct statvfs sv;
	if (statvfs(mountpoint.c_str(), &sv) != 0) {
		error = mountpoint + ": " + strerror(errno);
		return 1;
	}
	// The host's side keeps its other flags.
	unsigned long flags = MS_REMOUNT | (read_only ? MS_RDONLY : 0);
	for (auto [vfs, ms] : {std::pair{ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV},
			       {ST_NOEXEC, MS_NOEXEC}, {ST_SYNCHRONOUS, MS_SYNCHRONOUS},
			       {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME},
			       {ST_RELATIME, MS_RELATIME}})
		if (sv.f_flag & vfs)
			flags |= ms;
	auto host_remount = [&]() {
		if (mount(nullptr, mountpoint.c_str(), nullptr, flags, nullptr) == 0)
			return true;
		error = mountpoint + ": remounting the FUSE mount: " + strerror(errno);
		return false;
	};
	// Read-only: the host first, so that nothing new is written while
	// the kernel inside finishes; read-write: the kernel inside first.
	if (read_only && !host_remount())
		return 1;

	sockaddr_un addr;
	socklen_t len = address_of(st.st_dev, addr);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, reinterpret_cast<sockaddr *>(&addr), len) != 0) {
		error = mountpoint + ": no lklfuse serving it answers (" +
			strerror(errno) + ")";
		if (fd >= 0)
			close(fd);
		return 1;
	}
	const char *req = read_only ? "ro" : "rw";
	char reply[4096];
	ssize_t n = -1;
	if (send(fd, req, 2, MSG_NOSIGNAL) == 2)
		n = recv(fd, reply, sizeof(reply) - 1, 0);
	close(fd);
	if (n <= 0) {
		error = mountpoint + ": the lklfuse serving it did not answer";
		return 1;
	}
	reply[n] = '\0';
	if (reply[0] != '\0') {
		error = reply + 1;
		return 1;
	}
	if (!read_only && !host_remount())
		return 1;
	return 0;
}

} // namespace lklfuse
