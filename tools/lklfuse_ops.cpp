#include "lklfuse_ops.hpp"

#include "lklfuse_creds.hpp"

#include <lkl/kernel.hpp>

#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include <sys/stat.h>
#include <sys/statvfs.h>

// Every request is made as its caller, relative to the descriptors of the
// nodes it names; nothing here second-guesses the kernel. No absolute
// paths: the only path a call walks is the caller's own name in one
// directory, or /proc/self/fd/N for the calls that have no *at form with
// AT_EMPTY_PATH (chmod, truncate, xattrs, reopening with other flags).

namespace lklfuse {

namespace {

int fd_of(Server &s, fuse_ino_t ino)
{
	return s.nodes.node(ino).fd;
}

void reply_result(fuse_req_t req, long ret)
{
	fuse_reply_err(req, ret < 0 ? static_cast<int>(-ret) : 0);
}

long stat_fd(int fd, struct lkl_stat &k)
{
	return lkl_sys_newfstatat(fd, "", &k, LKL_AT_EMPTY_PATH);
}

void fill_entry(Server &s, fuse_ino_t id, const struct lkl_stat &k,
		fuse_entry_param &e)
{
	e = {};
	e.ino = id;
	e.generation = s.nodes.generation();
	e.attr = lkl::host_stat(k);
	e.attr_timeout = s.settings.timeout;
	e.entry_timeout = s.settings.timeout;
}

void op_init(void *userdata, fuse_conn_info *conn)
{
	auto &s = *static_cast<Server *>(userdata);
	auto want = [conn](unsigned cap, bool on) {
		if (on && (conn->capable & cap))
			conn->want |= cap;
		else if (!on)
			conn->want &= ~cap;
	};
	// File handles (name_to_handle_at, NFS) resolve by nodeid ("." and
	// ".." lookups).
	want(FUSE_CAP_EXPORT_SUPPORT, true);
	// Modes arrive unmasked with the caller's umask, which the kernel
	// inside applies unless a default ACL replaces it.
	want(FUSE_CAP_DONT_MASK, true);
	want(FUSE_CAP_POSIX_ACL, s.settings.posix_acl);
	// open(O_TRUNC) is one request, made as the caller.
	want(FUSE_CAP_ATOMIC_O_TRUNC, true);
	// Writes, truncates and chowns reach the kernel inside as the
	// caller's, and it clears the set-ID bits the way it does for
	// everyone. (libfuse 3.14 does not pass this on to the host kernel,
	// which then sends a chmod first: see clear_setid_for_writer().)
	want(FUSE_CAP_HANDLE_KILLPRIV, true);
	want(FUSE_CAP_READDIRPLUS, true);
	want(FUSE_CAP_READDIRPLUS_AUTO, true);
	want(FUSE_CAP_PARALLEL_DIROPS, true);
	want(FUSE_CAP_WRITEBACK_CACHE, s.settings.writeback_cache);
	// Every change comes through this mount, so the host's page cache
	// stays valid when attributes change.
	want(FUSE_CAP_AUTO_INVAL_DATA, false);
	// An asynchronous direct write returns before the host kernel drops
	// the pages it covers, so a buffered read racing with it could keep
	// the old bytes in the host's cache for good (fstests generic/451).
	// Direct I/O made synchronous drops them before the write returns.
	want(FUSE_CAP_ASYNC_DIO, false);
	// Without getlk/setlk/flock operations the host kernel arbitrates
	// POSIX locks and flock among the processes using the mount.
}

void op_destroy(void *userdata)
{
	static_cast<Server *>(userdata)->close_all();
}

void reply_entry_or_err(fuse_req_t req, long ret, const fuse_entry_param &e)
{
	if (ret < 0)
		fuse_reply_err(req, static_cast<int>(-ret));
	else
		fuse_reply_entry(req, &e);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	Server &s = server_of(req);
	become_caller(req);
	fuse_entry_param e;
	long ret;
	if (strcmp(name, ".") == 0 ||
	    (strcmp(name, "..") == 0 && parent == FUSE_ROOT_ID)) {
		// The node itself, which FUSE may have forgotten (a file
		// handle being decoded): reopened from the inode's handle.
		struct lkl_stat k;
		AsRoot root;
		ret = s.nodes.revive(parent, k);
		if (ret == 0)
			fill_entry(s, parent, k, e);
	} else {
		ret = lookup_entry(s, parent, name, e);
	}
	if (ret == -ENOENT) {
		// Names that do not exist are cached as such.
		e = {};
		e.entry_timeout = s.settings.timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	reply_entry_or_err(req, ret, e);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	server_of(req).nodes.forget(ino, nlookup);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data *forgets)
{
	Server &s = server_of(req);
	for (size_t i = 0; i < count; i++)
		s.nodes.forget(forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void reply_attr_of(fuse_req_t req, Server &s, fuse_ino_t ino)
{
	struct lkl_stat k;
	Node &n = s.nodes.node(ino);
	long ret = stat_fd(n.fd, k);
	if (ret < 0) {
		fuse_reply_err(req, static_cast<int>(-ret));
		return;
	}
	n.mode = k.st_mode;
	struct stat st = lkl::host_stat(k);
	fuse_reply_attr(req, &st, s.settings.timeout);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info *)
{
	reply_attr_of(req, server_of(req), ino);
}

// UTIME_NOW and UTIME_OMIT are the kernel's own values (the host's
// <sys/stat.h> has them; lkl's UAPI headers do not).
__lkl__kernel_timespec time_to_set(bool set, bool now, const struct timespec &t)
{
	if (now)
		return {0, UTIME_NOW};
	if (set)
		return {t.tv_sec, t.tv_nsec};
	return {0, UTIME_OMIT};
}

// Before a write or truncate by someone who may not keep them, the host
// kernel clears the set-user-ID and set-group-ID bits with a chmod in the
// writer's name, which fails for a writer who does not own the file. The
// kernel inside would clear exactly those bits itself when the write or
// truncate reached it; so a writer may clear them, with the file system's
// own privilege, and nothing else.
long clear_setid_for_writer(int fd, mode_t mode)
{
	constexpr mode_t setid = S_ISUID | S_ISGID;
	struct lkl_stat k;
	if (stat_fd(fd, k) < 0)
		return -EPERM;
	mode_t now = k.st_mode & 07777;
	mode &= 07777;
	ProcPath path(fd);
	if (!S_ISREG(k.st_mode) || mode == now || (mode & ~now) ||
	    (now & ~setid) != (mode & ~setid) ||
	    lkl_sys_faccessat2(LKL_AT_FDCWD, path.c_str(), W_OK, LKL_AT_EACCESS))
		return -EPERM;
	AsRoot root;
	return lkl_sys_fchmodat(LKL_AT_FDCWD, path.c_str(), mode);
}

// Each change as the caller's own call would make it: the kernel decides
// whether the caller may, and clears set-ID bits where a change must.
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		fuse_file_info *fi)
{
	Server &s = server_of(req);
	become_caller(req);
	int fd = fd_of(s, ino);
	long ret = 0;
	if (to_set & FUSE_SET_ATTR_MODE)
		ret = fi ? lkl_sys_fchmod(static_cast<unsigned int>(fi->fh),
					  attr->st_mode)
			 : lkl_sys_fchmodat(LKL_AT_FDCWD, ProcPath(fd).c_str(),
					    attr->st_mode);
	if (ret == -EPERM)
		ret = clear_setid_for_writer(fd, attr->st_mode);
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		lkl_uid_t uid = (to_set & FUSE_SET_ATTR_UID) ? attr->st_uid : -1;
		lkl_gid_t gid = (to_set & FUSE_SET_ATTR_GID) ? attr->st_gid : -1;
		ret = lkl_sys_fchownat(fd, "", uid, gid, LKL_AT_EMPTY_PATH);
	}
	if (ret == 0 && (to_set & FUSE_SET_ATTR_SIZE))
		ret = fi ? lkl_sys_ftruncate(static_cast<unsigned int>(fi->fh),
					     attr->st_size)
			 : lkl_sys_truncate(ProcPath(fd).c_str(), attr->st_size);
	if (ret == 0 && (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
				   FUSE_SET_ATTR_ATIME_NOW |
				   FUSE_SET_ATTR_MTIME_NOW))) {
		__lkl__kernel_timespec times[2] = {
			time_to_set(to_set & FUSE_SET_ATTR_ATIME,
				    to_set & FUSE_SET_ATTR_ATIME_NOW, attr->st_atim),
			time_to_set(to_set & FUSE_SET_ATTR_MTIME,
				    to_set & FUSE_SET_ATTR_MTIME_NOW, attr->st_mtim),
		};
		ret = lkl_sys_utimensat(fd, "", times, LKL_AT_EMPTY_PATH);
	}
	if (ret < 0) {
		fuse_reply_err(req, static_cast<int>(-ret));
		return;
	}
	reply_attr_of(req, s, ino);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	Server &s = server_of(req);
	become_caller(req);
	char buf[PATH_MAX + 1];
	long n = lkl_sys_readlinkat(fd_of(s, ino), "", buf, PATH_MAX);
	if (n < 0) {
		fuse_reply_err(req, static_cast<int>(-n));
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

// mknod, mkdir, symlink: made, then looked up.
template <typename Make>
void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, Make make)
{
	Server &s = server_of(req);
	become_creating_caller(req);
	long ret = make(fd_of(s, parent));
	fuse_entry_param e;
	if (ret == 0)
		ret = lookup_entry(s, parent, name, e);
	reply_entry_or_err(req, ret, e);
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	make_node(req, parent, name, [&](int dirfd) {
		return lkl_sys_mknodat(dirfd, name, mode,
				       static_cast<unsigned int>(rdev));
	});
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, [&](int dirfd) {
		return lkl_sys_mkdirat(dirfd, name, mode);
	});
}

void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent,
		const char *name)
{
	make_node(req, parent, name, [&](int dirfd) {
		return lkl_sys_symlinkat(target, dirfd, name);
	});
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	Server &s = server_of(req);
	become_caller(req);
	reply_result(req, lkl_sys_unlinkat(fd_of(s, parent), name, 0));
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	Server &s = server_of(req);
	become_caller(req);
	reply_result(req, lkl_sys_unlinkat(fd_of(s, parent), name,
					   LKL_AT_REMOVEDIR));
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	Server &s = server_of(req);
	become_caller(req);
	long ret = lkl_sys_renameat2(fd_of(s, parent), name, fd_of(s, newparent),
				     newname, flags);
	struct lkl_stat k;
	if (ret == 0 && lkl_sys_newfstatat(fd_of(s, newparent), newname, &k,
					   LKL_AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(k.st_mode))
		s.nodes.renamed(k.st_dev, k.st_ino, newparent, newname);
	reply_result(req, ret);
}

// linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH, which the caller may
// not have; the inode's /proc name followed does the same.
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	Server &s = server_of(req);
	become_caller(req);
	long ret = lkl_sys_linkat(LKL_AT_FDCWD, ProcPath(fd_of(s, ino)).c_str(),
				  fd_of(s, newparent), newname,
				  LKL_AT_SYMLINK_FOLLOW);
	fuse_entry_param e;
	struct lkl_stat k;
	if (ret == 0)
		ret = s.nodes.revive(ino, k);
	if (ret == 0) {
		fill_entry(s, ino, k, e);
		s.nodes.named(ino, newparent, newname);
	}
	reply_entry_or_err(req, ret, e);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	Server &s = server_of(req);
	struct lkl_statfs k;
	long ret = lkl_sys_fstatfs(static_cast<unsigned int>(fd_of(s, ino)), &k);
	if (ret < 0) {
		fuse_reply_err(req, static_cast<int>(-ret));
		return;
	}
	struct statvfs out = {};
	out.f_bsize = k.f_bsize;
	out.f_frsize = k.f_frsize ? k.f_frsize : k.f_bsize;
	out.f_blocks = k.f_blocks;
	out.f_bfree = k.f_bfree;
	out.f_bavail = k.f_bavail;
	out.f_files = k.f_files;
	out.f_ffree = k.f_ffree;
	out.f_favail = k.f_ffree;
	out.f_namemax = k.f_namelen;
	fuse_reply_statfs(req, &out);
}

// Extended attribute calls on the inode of node ino: through its /proc
// name, which the kernel follows to the inode, except for a symbolic link,
// which that would follow to its target: a link is reached by its last
// known name in its directory, made this thread's working directory.
// call(path, follow) makes the call (follow: the variant that follows
// symbolic links).
template <typename Call>
long on_xattrs(Server &s, fuse_ino_t ino, Call call)
{
	Node &n = s.nodes.node(ino);
	if (!S_ISLNK(n.mode.load()))
		return call(ProcPath(n.fd).c_str(), true);
	fuse_ino_t parent;
	std::string name;
	struct lkl_stat dir_entry, link;
	if (!s.nodes.name_of(ino, parent, name) || !own_working_directory())
		return -EPERM;
	int dirfd = fd_of(s, parent);
	// The name must still be the node's: renames come through here too.
	if (lkl_sys_newfstatat(dirfd, name.c_str(), &dir_entry,
			       LKL_AT_SYMLINK_NOFOLLOW) < 0 ||
	    stat_fd(n.fd, link) < 0 || dir_entry.st_ino != link.st_ino ||
	    dir_entry.st_dev != link.st_dev)
		return -EPERM;
	long ret = lkl_sys_fchdir(static_cast<unsigned int>(dirfd));
	return ret < 0 ? ret : call(name.c_str(), false);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	Server &s = server_of(req);
	become_caller(req);
	long ret = on_xattrs(s, ino, [&](const char *path, bool follow) {
		return follow ? lkl_sys_setxattr(path, name, value, size, flags)
			      : lkl_sys_lsetxattr(path, name, value, size, flags);
	});
	// An access ACL may change the mode (and clear set-group-ID).
	if (ret == 0 && strcmp(name, "system.posix_acl_access") == 0)
		attributes_changed(s, ino);
	reply_result(req, ret);
}

// getxattr and listxattr: the size needed for size 0, else the value.
void reply_xattr(fuse_req_t req, long n, size_t size, const char *buf)
{
	if (n < 0)
		fuse_reply_err(req, static_cast<int>(-n));
	else if (size == 0)
		fuse_reply_xattr(req, static_cast<size_t>(n));
	else
		fuse_reply_buf(req, buf, static_cast<size_t>(n));
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	Server &s = server_of(req);
	become_caller(req);
	std::vector<char> buf(size);
	long n = on_xattrs(s, ino, [&](const char *path, bool follow) {
		return follow ? lkl_sys_getxattr(path, name, buf.data(), size)
			      : lkl_sys_lgetxattr(path, name, buf.data(), size);
	});
	reply_xattr(req, n, size, buf.data());
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	Server &s = server_of(req);
	become_caller(req);
	std::vector<char> buf(size);
	long n = on_xattrs(s, ino, [&](const char *path, bool follow) {
		return follow ? lkl_sys_listxattr(path, buf.data(), size)
			      : lkl_sys_llistxattr(path, buf.data(), size);
	});
	reply_xattr(req, n, size, buf.data());
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	Server &s = server_of(req);
	become_caller(req);
	long ret = on_xattrs(s, ino, [&](const char *path, bool follow) {
		return follow ? lkl_sys_removexattr(path, name)
			      : lkl_sys_lremovexattr(path, name);
	});
	if (ret == 0 && strcmp(name, "system.posix_acl_access") == 0)
		attributes_changed(s, ino);
	reply_result(req, ret);
}

// Without default_permissions: access(2) on the caller's file system ids
// (AT_EACCESS), as the open that may follow is checked.
void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	Server &s = server_of(req);
	become_caller(req);
	reply_result(req, lkl_sys_faccessat2(LKL_AT_FDCWD,
					     ProcPath(fd_of(s, ino)).c_str(),
					     mask, LKL_AT_EACCESS));
}

} // namespace

Server &server_of(fuse_req_t req)
{
	return *static_cast<Server *>(fuse_req_userdata(req));
}

long entry_of_fd(Server &s, int fd, fuse_entry_param &e)
{
	struct lkl_stat k;
	long ret = stat_fd(fd, k);
	if (ret < 0) {
		lkl_sys_close(static_cast<unsigned int>(fd));
		return ret;
	}
	fuse_ino_t id;
	ret = s.nodes.found(fd, k, id);
	if (ret == 0)
		fill_entry(s, id, k, e);
	return ret;
}

long lookup_entry(Server &s, fuse_ino_t parent, const char *name,
		  fuse_entry_param &e)
{
	long fd = lkl_sys_openat(fd_of(s, parent), name,
				 LKL_O_PATH | LKL_O_NOFOLLOW | LKL_O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	long ret = entry_of_fd(s, static_cast<int>(fd), e);
	if (ret == 0)
		s.nodes.named(e.ino, parent, name);
	return ret;
}

void attributes_changed(Server &s, fuse_ino_t ino)
{
	struct lkl_stat k;
	Node &n = s.nodes.node(ino);
	if (stat_fd(n.fd, k) == 0)
		n.mode = k.st_mode;
	fuse_lowlevel_notify_inval_inode(s.session, ino, -1, 0);
}

fuse_lowlevel_ops operations()
{
	fuse_lowlevel_ops ops = {};
	ops.init = op_init;
	ops.destroy = op_destroy;
	ops.lookup = op_lookup;
	ops.forget = op_forget;
	ops.forget_multi = op_forget_multi;
	ops.getattr = op_getattr;
	ops.setattr = op_setattr;
	ops.readlink = op_readlink;
	ops.mknod = op_mknod;
	ops.mkdir = op_mkdir;
	ops.symlink = op_symlink;
	ops.unlink = op_unlink;
	ops.rmdir = op_rmdir;
	ops.rename = op_rename;
	ops.link = op_link;
	ops.statfs = op_statfs;
	ops.setxattr = op_setxattr;
	ops.getxattr = op_getxattr;
	ops.listxattr = op_listxattr;
	ops.removexattr = op_removexattr;
	ops.access = op_access;
	add_io_operations(ops);
	// No flush: libfuse answers ENOSYS and the host kernel stops sending
	// one at every close(2), a round trip saved. Closing a file does no
	// I/O here, as on a local file system; write errors show at fsync.
	return ops;
}

} // namespace lklfuse
