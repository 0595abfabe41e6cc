// The fastest a FUSE file system can be on this machine: a server that
// keeps nothing and does nothing but answer, reading /dev/fuse in a busy
// loop (no sleeping between requests at all). lklfuse_bench.sh runs its
// metadata workload against it to show what FUSE round trips alone cost
// next to the host kernel's file systems.
//
//   fuse_null MOUNTPOINT          (unmount with fusermount3 -u)
//
// Names exist from their create or mkdir until their unlink or rmdir, and
// the kernel caches every answer for an hour, so lookups of existing names
// never reach it; it only remembers which inodes are directories. One more
// name, "zeros" in the root, is a 1 GiB file of zeros: its reads are
// answered from one static buffer, the floor for reading through FUSE.
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include <fcntl.h>
#include <sys/stat.h>

namespace {

constexpr double forever = 3600;
constexpr fuse_ino_t zeros_ino = FUSE_ROOT_ID + 1;
constexpr off_t zeros_size = 1L << 30;
fuse_ino_t next_ino = zeros_ino + 1;
std::unordered_set<fuse_ino_t> dirs = {FUSE_ROOT_ID};

struct stat attr_of(fuse_ino_t ino)
{
	bool dir = dirs.count(ino);
	struct stat st = {};
	st.st_ino = ino;
	st.st_mode = dir ? S_IFDIR | 0755 : S_IFREG | 0644;
	st.st_nlink = dir ? 2 : 1;
	st.st_size = ino == zeros_ino ? zeros_size : 0;
	return st;
}

fuse_entry_param new_entry(bool dir)
{
	fuse_entry_param e = {};
	e.ino = next_ino++;
	if (dir)
		dirs.insert(e.ino);
	e.attr = attr_of(e.ino);
	e.attr_timeout = e.entry_timeout = forever;
	return e;
}

void null_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	struct stat st = attr_of(ino);
	fuse_reply_attr(req, &st, forever);
}

// A name not created yet: a negative entry, cached like any other.
void null_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_entry_param e = {};
	if (parent == FUSE_ROOT_ID && std::strcmp(name, "zeros") == 0) {
		e.ino = zeros_ino;
		e.attr = attr_of(zeros_ino);
		e.attr_timeout = forever;
	}
	e.entry_timeout = forever;
	fuse_reply_entry(req, &e);
}

void null_open(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

void null_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
	       fuse_file_info *)
{
	static const char zero[1 << 20] = {};
	size = off >= zeros_size ? 0 : std::min<size_t>(size, zeros_size - off);
	fuse_reply_buf(req, zero, std::min(size, sizeof(zero)));
}

void null_create(fuse_req_t req, fuse_ino_t, const char *, mode_t,
		 fuse_file_info *fi)
{
	fuse_entry_param e = new_entry(false);
	fuse_reply_create(req, &e, fi);
}

void null_ok(fuse_req_t req, fuse_ino_t, fuse_file_info *)
{
	fuse_reply_err(req, 0);
}

void null_mkdir(fuse_req_t req, fuse_ino_t, const char *, mode_t)
{
	fuse_entry_param e = new_entry(true);
	fuse_reply_entry(req, &e);
}

// unlink and rmdir
void null_remove(fuse_req_t req, fuse_ino_t, const char *)
{
	fuse_reply_err(req, 0);
}

const fuse_lowlevel_ops ops = {
	.lookup = null_lookup,
	.getattr = null_getattr,
	.mkdir = null_mkdir,
	.unlink = null_remove,
	.rmdir = null_remove,
	.open = null_open,
	.read = null_read,
	.release = null_ok,
	.create = null_create,
};

} // namespace

int main(int argc, char **argv)
{
	fuse_args args = FUSE_ARGS_INIT(argc, argv);
	fuse_cmdline_opts opts = {};
	if (fuse_parse_cmdline(&args, &opts) || !opts.mountpoint) {
		fprintf(stderr, "usage: fuse_null MOUNTPOINT\n");
		return 2;
	}
	fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), nullptr);
	if (!se || fuse_session_mount(se, opts.mountpoint))
		return 1;
	fuse_daemonize(opts.foreground);
	int fd = fuse_session_fd(se);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fuse_buf buf = {};
	while (!fuse_session_exited(se)) {
		int res = fuse_session_receive_buf(se, &buf);
		if (res == -EAGAIN || res == -EINTR)
			continue;
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return 0;
}
