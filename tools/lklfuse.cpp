// lklfuse: a disk image as a FUSE mount, served by the Linux kernel's own
// file system code running inside this process. No root and no kernel
// mount of the image are needed (only /dev/fuse).
//
//   lklfuse IMAGE MOUNTPOINT [-o OPTIONS]
//
// Threads: worker threads (lklfuse_loop.cpp) read /dev/fuse and make their
// kernel calls directly (each becomes a kernel task on first use); the
// main thread owns startup, the stop signals and teardown. Lifetimes: the
// kernel is up and the image mounted before the FUSE mount appears, and
// the FUSE mount is gone, and every descriptor the nodes and open files
// held closed, before the image is unmounted in the kernel and the kernel
// halted.
#include "emergency_exit.hpp"
#include "image_session.hpp"
#include "lklfuse_control.hpp"
#include "lklfuse_loop.hpp"
#include "lklfuse_ops.hpp"

#include <lkl/linux/resource.h>


#include <csignal>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

namespace {

constexpr const char *version = "1.0";

struct Config {
	char *type = nullptr;
	char *opts = nullptr;
	char *log = nullptr;
	char *lock = nullptr;
	char *format = nullptr;
	char *overlay = nullptr;
	unsigned int mb = 128;
	char *part = nullptr;
	int read_only = 0;
	int norecovery = 0;
	int writeback_cache = 0;
	bool remount = false;
	std::string image;
	int nonopts = 0;
};

enum { KEY_RO, KEY_REMOUNT, KEY_HELP, KEY_VERSION };

#define LKLFUSE_OPT(t, member) {t, offsetof(Config, member), 1}

const fuse_opt option_spec[] = {
	LKLFUSE_OPT("type=%s", type),
	LKLFUSE_OPT("opts=%s", opts),
	LKLFUSE_OPT("log=%s", log),
	LKLFUSE_OPT("lock=%s", lock),
	LKLFUSE_OPT("format=%s", format),
	LKLFUSE_OPT("overlay=%s", overlay),
	LKLFUSE_OPT("mb=%u", mb),
	LKLFUSE_OPT("part=%s", part),
	LKLFUSE_OPT("norecovery", norecovery),
	LKLFUSE_OPT("writeback_cache", writeback_cache),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("remount", KEY_REMOUNT),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_END,
};

#undef LKLFUSE_OPT

// Our options are taken out of the argument list; "ro" also stays in it
// (the FUSE mount is then read-only too), and so do help and version,
// which fuse_parse_cmdline() records.
int take_option(void *data, const char *arg, int key, fuse_args *)
{
	auto *conf = static_cast<Config *>(data);
	switch (key) {
	case KEY_RO:
		conf->read_only = 1;
		return 1;
	case KEY_REMOUNT:
		conf->remount = true;
		return 0;
	case KEY_HELP:
	case KEY_VERSION:
		return 1;
	case FUSE_OPT_KEY_NONOPT:
		// The first is the image, the second the mount point.
		if (conf->nonopts++ == 0) {
			conf->image = arg;
			return 0;
		}
		return 1;
	default:
		return 1;
	}
}

void usage(const char *prog)
{
	printf("usage: %s IMAGE MOUNTPOINT [options]\n\n"
	       "Mounts the file system in IMAGE (a file or block device) at "
	       "MOUNTPOINT through FUSE,\n"
	       "served by the Linux kernel running inside this process: its "
	       "own xfs, ext4, btrfs\n"
	       "and vfat code. Unmount with fusermount3 -u MOUNTPOINT (or "
	       "SIGTERM/SIGINT):\n"
	       "the image is then unmounted cleanly inside the kernel.\n\n"
	       "lklfuse options:\n"
	       "    -o type=TYPE           file system type (default: detected "
	       "from the superblock)\n"
	       "    -o part=N              mount partition N (MBR or GPT; "
	       "default: the whole image)\n"
	       "    -o part=VG/LV          mount LVM2 logical volume LV of "
	       "volume group VG\n"
	       "    -o ro                  read-only: the image is never "
	       "written\n"
	       "    -o format=FMT          the image's format: qcow2, vmdk, "
	       "vhdx, vdi, vpc, raw or\n"
	       "                           auto (default: from its header); "
	       "IMAGE may also be an\n"
	       "                           NBD URI (nbd://HOST[:PORT]/EXPORT, "
	       "nbd+unix:///EXPORT?socket=P)\n"
	       "    -o overlay=discard|apply  writes go to a temporary qcow2 "
	       "overlay, dropped at\n"
	       "                           unmount (discard) or committed "
	       "into the image (apply)\n"
	       "    -o opts=OPTIONS        the file system's mount options; "
	       "escape ',' and '=' in\n"
	       "                           them with '\\' (e.g. "
	       "opts=noatime\\,inode64)\n"
	       "    -o norecovery          with ro: do not replay the "
	       "journal of a file system\n"
	       "                           that was not unmounted cleanly; "
	       "show its last checkpoint\n"
	       "    -o mb=N                kernel memory in MiB (default: "
	       "128)\n"
	       "    -o log=FILE            append the kernel's messages to "
	       "FILE\n"
	       "    -o lock=FILE           also hold an exclusive lock on FILE "
	       "while mounted\n"
	       "    -o writeback_cache     let the host kernel gather writes in "
	       "its page cache\n"
	       "                           and send them later, in larger "
	       "pieces\n"
	       "The image itself is locked (flock) so that it cannot be "
	       "mounted twice.\n"
	       "Requests run with the caller's uid, gid and groups: the file "
	       "system's own\n"
	       "permission checks decide (with -o allow_other, for every "
	       "user).\n"
	       "Exit status: 0 after fusermount3 -u, 128+N after signal N "
	       "(SIGTERM: 143,\n"
	       "SIGINT: 130, SIGHUP: 129), 1 on errors, 2 for bad usage, 3 "
	       "after a kernel\n"
	       "panic (a damaged image: the kernel's last messages are shown).\n"
	       "If unmounting after a stop signal takes more than "
	       "LKL_STOP_GRACE seconds\n"
	       "(default 10), or a second signal comes, lklfuse exits at once "
	       "with status\n"
	       "128 + the signal, saying whether the image may need a "
	       "repair.\n\n",
	       prog);
}

// Where messages go: stderr until the daemon detaches, then syslog.
bool g_detached = false;

void report(const std::string &msg)
{
	if (g_detached)
		syslog(LOG_ERR, "%s", msg.c_str());
	else
		fprintf(stderr, "lklfuse: %s\n", msg.c_str());
}

// Startup status from the daemon to the parent waiting in the terminal:
// a byte 0 for "mounted", or 1 followed by the error text.
class StartupPipe {
public:
	bool open() { return pipe2(fds_, O_CLOEXEC) == 0; }

	// In the parent: waits for the daemon; the exit status for the shell.
	int wait_in_parent()
	{
		::close(fds_[1]);
		std::string got;
		char buf[4096];
		ssize_t n;
		while ((n = read(fds_[0], buf, sizeof(buf))) > 0)
			got.append(buf, static_cast<std::size_t>(n));
		if (got.empty()) {
			fprintf(stderr, "lklfuse: the daemon exited before "
					"mounting\n");
			return 1;
		}
		if (got[0] == 0)
			return 0;
		fprintf(stderr, "lklfuse: %s\n", got.c_str() + 1);
		return 1;
	}

	void child_side() { ::close(fds_[0]); }

	void succeeded() { send(std::string(1, '\0')); }
	void failed(const std::string &msg) { send("\1" + msg); }
	bool active() const { return fds_[1] >= 0; }

private:
	void send(const std::string &what)
	{
		if (fds_[1] < 0)
			return;
		ssize_t ignored = write(fds_[1], what.data(), what.size());
		(void)ignored;
		::close(fds_[1]);
		fds_[1] = -1;
	}

	int fds_[2] = {-1, -1};
};

// Escapes ',' and '\' for a -o option value.
std::string escape_option(const std::string &s)
{
	std::string out;
	for (char c : s) {
		if (c == ',' || c == '\\')
			out += '\\';
		out += c;
	}
	return out;
}

// Detaches from the terminal: stdio to /dev/null, working directory "/".
void detach()
{
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	if (chdir("/") < 0)
		syslog(LOG_WARNING, "chdir /: %m");
	openlog("lklfuse", LOG_PID, LOG_DAEMON);
	g_detached = true;
	lkl_tools::emergency_to_syslog();
}

// FUSE reads ahead 128 KiB at a time, whatever the file system asks for;
// 1 MiB reads are 1.5x as fast here. Only root may change it (in sysfs),
// so this is best effort.
void raise_readahead(const std::string &mountpoint)
{
	constexpr long fuse_magic = 0x65735546;
	struct statfs sf;
	struct stat st;
	if (statfs(mountpoint.c_str(), &sf) != 0 || sf.f_type != fuse_magic ||
	    stat(mountpoint.c_str(), &st) != 0)
		return;
	std::string knob = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) +
			   ":" + std::to_string(minor(st.st_dev)) +
			   "/read_ahead_kb";
	int fd = open(knob.c_str(), O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (write(fd, "1024", 4) != 4)
		report("cannot raise readahead in " + knob);
	close(fd);
}

// Makes the kernel ready to serve: its /proc (the nodes' /proc/self/fd
// names), no second enforcement of the fs.protected_* rules the host
// kernel has applied already with its own settings, and room for a
// descriptor per node. "" or what failed.
std::string prepare_kernel()
{
	long ret = lkl_sys_mkdirat(LKL_AT_FDCWD, "/proc", 0555);
	if (ret < 0 && ret != -LKL_EEXIST)
		return std::string("creating /proc in the kernel: ") + strerror(-ret);
	ret = lkl_sys_mount(const_cast<char *>("proc"), const_cast<char *>("/proc"),
			    const_cast<char *>("proc"), 0, nullptr);
	if (ret < 0 && ret != -LKL_EBUSY)
		return std::string("mounting the kernel's /proc: ") + strerror(-ret);
	for (const char *knob : {"protected_hardlinks", "protected_symlinks",
				 "protected_fifos", "protected_regular"}) {
		std::string path = std::string("/proc/sys/fs/") + knob;
		long fd = lkl_sys_openat(LKL_AT_FDCWD, path.c_str(),
					 LKL_O_WRONLY | LKL_O_CLOEXEC, 0);
		if (fd >= 0) {
			lkl_sys_write(static_cast<unsigned int>(fd), "0", 1);
			lkl_sys_close(static_cast<unsigned int>(fd));
		}
	}
	// fs.nr_open's default, the most a process may have.
	struct lkl_rlimit64 lim = {1 << 20, 1 << 20};
	ret = lkl_sys_prlimit64(0, LKL_RLIMIT_NOFILE, &lim, nullptr);
	if (ret < 0)
		return std::string("raising the kernel's descriptor limit: ") +
		       strerror(-ret);
	return {};
}

// Does the mounted file system keep POSIX ACLs?
bool has_posix_acls(int root_fd)
{
	long ret = lkl_sys_getxattr(lklfuse::ProcPath(root_fd).c_str(),
				    "system.posix_acl_access", nullptr, 0);
	return ret != -LKL_EOPNOTSUPP;
}

// Serves the mount until it goes away; then the orderly teardown. The
// exit status of the process.
int serve(lkl_tools::ImageSession &session, fuse_args *args,
	  const fuse_cmdline_opts &cmd, const Config &conf,
	  StartupPipe *startup)
{
	auto fail = [&](const std::string &msg) {
		if (startup)
			startup->failed(msg);
		else
			report(msg);
		return 1;
	};

	std::string err = prepare_kernel();
	if (!err.empty())
		return fail(err);
	long root_fd = lkl_sys_openat(LKL_AT_FDCWD, session.root().c_str(),
				      LKL_O_PATH | LKL_O_DIRECTORY | LKL_O_CLOEXEC, 0);
	if (root_fd < 0)
		return fail("opening the file system's root: " +
			    std::string(strerror(static_cast<int>(-root_fd))));
	lklfuse::Settings settings;
	settings.writeback_cache = conf.writeback_cache;
	settings.read_only = conf.read_only;
	settings.posix_acl = has_posix_acls(static_cast<int>(root_fd));
	lklfuse::Server server(static_cast<int>(root_fd), settings);

	fuse_lowlevel_ops ops = lklfuse::operations();
	fuse_session *se = fuse_session_new(args, &ops, sizeof(ops), &server);
	if (!se)
		return fail("bad FUSE options (see --help)");
	server.session = se;
	if (fuse_session_mount(se, cmd.mountpoint) != 0) {
		fuse_session_destroy(se);
		return fail(std::string("cannot mount on ") + cmd.mountpoint);
	}
	if (startup) {
		startup->succeeded();
		detach();
	}

	// The stat waits for FUSE's INIT, which the loop below answers.
	std::thread readahead(raise_readahead, std::string(cmd.mountpoint));
	std::optional<lklfuse::ControlSocket> control;
	control.emplace(cmd.mountpoint,
			[&session](bool ro) { return session.remount(ro); });
	int stop_signal = 0;
	int ret = lklfuse::serve_requests(
		se, cmd.singlethread ? 1 : cmd.max_threads,
		[](void *s) { fuse_session_unmount(static_cast<fuse_session *>(s)); },
		se, stop_signal);

	// The mount is gone: whoever wants the image next waits for the rest.
	session.finishing();
	control.reset();
	readahead.join();
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	// Whatever FUSE left open when the mount went away, so that the
	// kernel can unmount the file system.
	server.close_all();
	err = session.close();
	if (!err.empty()) {
		report("closing " + std::string(cmd.mountpoint) + ": " + err);
		return 1;
	}
	if (ret != 0) {
		report(std::string("reading /dev/fuse: ") + strerror(-ret));
		return 1;
	}
	// The tools' convention: stopped by signal N, after a clean unmount.
	return stop_signal ? 128 + stop_signal : 0;
}

} // namespace

int main(int argc, char **argv)
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	Config conf;
	if (fuse_opt_parse(&args, &conf, option_spec, take_option) != 0)
		return 2;
	fuse_cmdline_opts cmd = {};
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return 2;
	if (cmd.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fuse_cmdline_help();
		fuse_lowlevel_help();
		return 0;
	}
	if (cmd.show_version) {
		printf("lklfuse %s (Linux 6.1 in-process, libfuse %s)\n",
		       version, fuse_pkgversion());
		return 0;
	}
	if (conf.image.empty() || !cmd.mountpoint) {
		fprintf(stderr, "usage: %s IMAGE MOUNTPOINT [options]  "
				"(--help for more)\n", argv[0]);
		return 2;
	}

	if (conf.remount) {
		// mount -o remount: the daemon serving the mount point does it.
		std::string error;
		int status = lklfuse::remount(cmd.mountpoint, conf.read_only, error);
		if (status)
			fprintf(stderr, "lklfuse: %s\n", error.c_str());
		free(cmd.mountpoint);
		fuse_opt_free_args(&args);
		return status;
	}

	lkl_tools::ImageOptions options;
	options.image = conf.image;
	options.type = conf.type ? conf.type : "";
	options.opts = conf.opts ? conf.opts : "";
	options.log = conf.log ? conf.log : "";
	options.lock = conf.lock ? conf.lock : "";
	options.mb = conf.mb;
	if (conf.part && strchr(conf.part, '/')) {
		options.volume = conf.part;
	} else if (conf.part) {
		char *end = nullptr;
		unsigned long part = strtoul(conf.part, &end, 10);
		if (!*conf.part || *end || part > 255) {
			fprintf(stderr, "lklfuse: bad part=%s (a partition number or "
					"VG/LV)\n", conf.part);
			return 2;
		}
		options.part = static_cast<unsigned>(part);
	}
	options.read_only = conf.read_only;
	options.norecovery = conf.norecovery;
	if (conf.format) {
		if (!lkl_tools::known_format(conf.format)) {
			fprintf(stderr, "lklfuse: unknown image format: %s (auto, "
					"raw, qcow2, vmdk, vhdx, vdi or vpc)\n",
				conf.format);
			return 2;
		}
		options.format = conf.format;
	}
	if (conf.overlay && !lkl_tools::parse_overlay(conf.overlay, options.overlay)) {
		fprintf(stderr, "lklfuse: bad overlay=%s (discard or apply)\n",
			conf.overlay);
		return 2;
	}
	options.notice = [](const std::string &msg) {
		fprintf(stderr, "lklfuse: %s\n", msg.c_str());
	};
	if (options.mb < 16) {
		fprintf(stderr, "lklfuse: mb=%u is too little memory for the "
				"kernel (at least 16)\n", options.mb);
		return 2;
	}
	std::string fsname = "-ofsname=" + escape_option(conf.image);
	fuse_opt_insert_arg(&args, 1, fsname.c_str());

	// From here on a stop signal means an orderly unmount, never death
	// with the image half written.
	lklfuse::block_stop_signals();

	// The daemon forks before anything starts threads (the kernel does),
	// and tells the waiting parent whether the mount worked.
	StartupPipe startup;
	if (!cmd.foreground) {
		if (!startup.open()) {
			perror("lklfuse: pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("lklfuse: fork");
			return 1;
		}
		if (pid > 0)
			return startup.wait_in_parent();
		startup.child_side();
		setsid();
	}

	lkl_tools::emergency_program("lklfuse");
	lkl_tools::exit_on_kernel_panic();
	lkl_tools::emergency_image(options.image, options.read_only ||
							  options.overlay != lkl_tools::Overlay::none);
	lkl_tools::emergency_fstype(options.type);
	std::string error;
	auto session = lkl_tools::ImageSession::open(options, error);
	int status;
	if (session)
		lkl_tools::emergency_fstype(session->type());
	if (!session) {
		if (startup.active())
			startup.failed(error);
		else
			report(error);
		status = 1;
	} else {
		// Before the daemon detaches, where the user sees them.
		for (const std::string &warning : session->warnings())
			fprintf(stderr, "lklfuse: warning: %s\n", warning.c_str());
		status = serve(*session, &args, cmd, conf,
			       startup.active() ? &startup : nullptr);
	}
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	free(conf.type);
	free(conf.opts);
	free(conf.log);
	free(conf.lock);
	return status;
}
