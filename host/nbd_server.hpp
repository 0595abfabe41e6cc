// A private NBD server for one disk: started with systemd socket
// activation on a socket only this process reaches, and reaped.
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace {
namespace disk {

// A server this process starts for one disk (the image helper's qemu-nbd,
// or lkl_nbd_opts.argv), with systemd socket activation (sd_listen_fds(3):
// the listening socket as fd 3, LISTEN_FDS=1, LISTEN_PID its pid) as
// libnbd's nbd_connect_systemd_socket_activation() does, but connected to
// before it starts: the socket is bound in a fresh mode-0700 directory,
// this process connects (the connection waits in the backlog), and the
// socket file and directory are removed at once. No other process can
// reach the server, and nothing is left on disk even if this process is
// killed. A server that is not persistent (qemu-nbd without -t) exits when
// that connection closes: when the disk is removed, or when this process
// dies. It runs in a process group of its own, so that a terminal's ^C
// reaches only the program, which then shuts the disk down in order.
class Server {
public:
	Server() = default;
	Server(Server &&o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
	Server &operator=(Server &&o) noexcept
	{
		if (this != &o) {
			reap();
			pid_ = std::exchange(o.pid_, -1);
		}
		return *this;
	}
	~Server()
	{
		reap();
	}

	// Starts @argv (argv[0] found on PATH) with @env ("NAME=value", each
	// replacing NAME in this process's environment) and its stderr on
	// @err_fd (-1: this process's stderr). The socket connected to it,
	// or -errno.
	int start(char *const *argv, const std::vector<std::string> &env,
		  int err_fd)
	{
		const char *tmp = getenv("TMPDIR");
		std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") +
				  "/lkl-nbd-XXXXXX";
		sockaddr_un addr = {};
		addr.sun_family = AF_UNIX;
		if (dir.size() + sizeof("/s") > sizeof(addr.sun_path))
			dir = "/tmp/lkl-nbd-XXXXXX";
		if (!mkdtemp(dir.data()))
			return -errno;
		std::string path = dir + "/s";
		std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
		int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int err = listener < 0 || conn < 0 ? -errno : 0;
		auto *sa = reinterpret_cast<sockaddr *>(&addr);
		if (!err && (bind(listener, sa, sizeof(addr)) < 0 ||
			     listen(listener, 1) < 0 ||
			     connect(conn, sa, sizeof(addr)) < 0))
			err = -errno;
		unlink(path.c_str());
		rmdir(dir.c_str());
		if (!err)
			err = spawn(argv, env, listener, err_fd);
		if (listener >= 0)
			close(listener);
		if (err) {
			if (conn >= 0)
				close(conn);
			return err;
		}
		return conn;
	}

	// Waits for the server to exit (after a SIGTERM, as libnbd does,
	// for one that would not exit by itself); its wait status, or -1 if
	// there was none.
	int reap() noexcept
	{
		if (pid_ < 0)
			return -1;
		kill(pid_, SIGTERM);
		int status = -1;
		while (waitpid(pid_, &status, 0) < 0 && errno == EINTR)
			;
		pid_ = -1;
		return status;
	}

private:
	int spawn(char *const *argv, const std::vector<std::string> &env,
		  int listener, int err_fd)
	{
		// Above the descriptors the file actions write (0-3), in case
		// this process runs with some of 0-2 closed.
		int lfd = fcntl(listener, F_DUPFD_CLOEXEC, 4);
		int efd = err_fd >= 0 ? fcntl(err_fd, F_DUPFD_CLOEXEC, 4) : -1;
		int err = lfd < 0 || (err_fd >= 0 && efd < 0) ? -errno : 0;
		if (!err) {
			// LISTEN_PID must be the server's own pid, known only
			// in the child: sh sets it and execs the server.
			std::vector<const char *> args = {
				"/bin/sh", "-c",
				"LISTEN_PID=$$; export LISTEN_PID; exec \"$@\"", "sh"
			};
			for (char *const *a = argv; *a; a++)
				args.push_back(*a);
			args.push_back(nullptr);
			std::vector<std::string> vars = { "LISTEN_FDS=1" };
			vars.insert(vars.end(), env.begin(), env.end());
			auto replaced = [&](const char *e) {
				if (std::strncmp(e, "LISTEN_", 7) == 0)
					return true;
				for (const std::string &v : vars)
					if (std::strncmp(e, v.c_str(), v.find('=') + 1) == 0)
						return true;
				return false;
			};
			std::vector<const char *> envp;
			for (char **e = environ; *e; e++)
				if (!replaced(*e))
					envp.push_back(*e);
			for (const std::string &v : vars)
				envp.push_back(v.c_str());
			envp.push_back(nullptr);

			posix_spawn_file_actions_t fa;
			posix_spawnattr_t attr;
			posix_spawn_file_actions_init(&fa);
			posix_spawnattr_init(&attr);
			posix_spawn_file_actions_adddup2(&fa, lfd, 3);
			posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
			posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
			if (efd >= 0)
				posix_spawn_file_actions_adddup2(&fa, efd, 2);
			// Nothing else of this process's: a pipe the server
			// held would keep a reader waiting after we are gone.
			posix_spawn_file_actions_addclosefrom_np(&fa, 4);
			sigset_t none, all;
			sigemptyset(&none);
			sigfillset(&all);
			posix_spawnattr_setsigmask(&attr, &none);
			posix_spawnattr_setsigdefault(&attr, &all);
			posix_spawnattr_setpgroup(&attr, 0);
			posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
							       POSIX_SPAWN_SETSIGDEF |
							       POSIX_SPAWN_SETPGROUP);
			int rc = posix_spawn(&pid_, args[0], &fa, &attr,
					     const_cast<char *const *>(args.data()),
					     const_cast<char *const *>(envp.data()));
			posix_spawn_file_actions_destroy(&fa);
			posix_spawnattr_destroy(&attr);
			if (rc) {
				pid_ = -1;
				err = -rc;
			}
		}
		if (lfd >= 0)
			close(lfd);
		if (efd >= 0)
			close(efd);
		return err;
	}

	pid_t pid_ = -1;
};

} // namespace disk
} // namespace
