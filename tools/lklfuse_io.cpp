// Open files and directories: fuse_file_info::fh is a kernel descriptor
// for a file, a Dir * for a directory.
#include "lklfuse_ops.hpp"

#include "lklfuse_creds.hpp"

#include <lkl/kernel.hpp>
#include <lkl/linux/fadvise.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lklfuse {

namespace {

unsigned int fd_of(const fuse_file_info *fi)
{
	return static_cast<unsigned int>(fi->fh);
}

void reply_result(fuse_req_t req, long ret)
{
	fuse_reply_err(req, ret < 0 ? static_cast<int>(-ret) : 0);
}

// The flags of the kernel's open for a FUSE open: FUSE gives the write
// offsets (so no O_APPEND), the host kernel has done O_DIRECT's part
// (and its buffers are not aligned for it), O_NOFOLLOW was checked on the
// name, and O_CREAT/O_EXCL have been dealt with by create.
int reopen_flags(int flags)
{
	return (flags & ~(LKL_O_APPEND | LKL_O_DIRECT | LKL_O_NOFOLLOW |
			  LKL_O_CREAT | LKL_O_EXCL)) |
	       LKL_O_CLOEXEC;
}

void remember_file(Server &s, int fd)
{
	std::lock_guard guard(s.open_lock);
	s.open_files.insert(fd);
}

// A write or truncate by someone other than root clears the set-ID bits
// inside; the host kernel, which asked us to (FUSE_CAP_HANDLE_KILLPRIV),
// does not update the mode it has cached, so it is told to fetch it again.
void after_change(fuse_req_t req, Server &s, fuse_ino_t ino)
{
	if ((s.nodes.node(ino).mode & (S_ISUID | S_ISGID)) &&
	    fuse_req_ctx(req)->uid != 0)
		attributes_changed(s, ino);
}

// The host kernel's open for execve() (do_open_execat) has __FMODE_EXEC
// (include/linux/fcntl.h) among the flags it sends: the caller needs
// execute permission, not read permission.
constexpr int fmode_exec = 0x20;

// Opens a node for FUSE's open as the caller. An open for execve() is
// checked for the caller's execute permission and then made with the file
// system's privilege, since the kernel's openat() asks for read
// permission, which a file of mode 0711 does not give its users.
long open_node(fuse_req_t req, const Node &node, int flags)
{
	become_caller(req);
	ProcPath path(node.fd);
	if (!(flags & fmode_exec))
		return lkl_sys_openat(LKL_AT_FDCWD, path.c_str(), reopen_flags(flags), 0);
	long ret = lkl_sys_faccessat2(LKL_AT_FDCWD, path.c_str(), X_OK,
				      LKL_AT_EACCESS);
	if (ret < 0)
		return ret;
	AsRoot root;
	return lkl_sys_openat(LKL_AT_FDCWD, path.c_str(),
			      reopen_flags(flags & ~fmode_exec), 0);
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	Server &s = server_of(req);
	long fd = open_node(req, s.nodes.node(ino), fi->flags);
	if (fd < 0) {
		fuse_reply_err(req, static_cast<int>(-fd));
		return;
	}
	remember_file(s, static_cast<int>(fd));
	fi->fh = static_cast<uint64_t>(fd);
	// One node per inode: the host's page cache of it is the only one,
	// and it sees every change.
	fi->keep_cache = 1;
	if (fi->flags & LKL_O_TRUNC)
		after_change(req, s, ino);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		// The opener was interrupted: FUSE will never release it.
		std::lock_guard guard(s.open_lock);
		s.open_files.erase(static_cast<int>(fd));
		lkl_sys_close(static_cast<unsigned int>(fd));
	}
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
	       mode_t mode, fuse_file_info *fi)
{
	Server &s = server_of(req);
	become_creating_caller(req);
	long fd = lkl_sys_openat(s.nodes.node(parent).fd, name,
				 reopen_flags(fi->flags) | LKL_O_CREAT |
					 (fi->flags & LKL_O_EXCL),
				 mode);
	if (fd < 0) {
		fuse_reply_err(req, static_cast<int>(-fd));
		return;
	}
	// The node: the same inode, path-only.
	long path_fd = lkl_sys_openat(LKL_AT_FDCWD,
				      ProcPath(static_cast<int>(fd)).c_str(),
				      LKL_O_PATH | LKL_O_CLOEXEC, 0);
	fuse_entry_param e;
	long ret = path_fd < 0 ? path_fd : entry_of_fd(s, static_cast<int>(path_fd), e);
	if (ret < 0) {
		lkl_sys_close(static_cast<unsigned int>(fd));
		fuse_reply_err(req, static_cast<int>(-ret));
		return;
	}
	remember_file(s, static_cast<int>(fd));
	fi->fh = static_cast<uint64_t>(fd);
	fi->keep_cache = 1;
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		std::lock_guard guard(s.open_lock);
		s.open_files.erase(static_cast<int>(fd));
		lkl_sys_close(static_cast<unsigned int>(fd));
		s.nodes.forget(e.ino, 1);
	}
}

// Repeats io(done), a positional read or write of what is left from
// offset done on, until size bytes have moved or it moves none. The bytes
// moved, or -errno when nothing moved.
template <typename Io>
long move_all(size_t size, Io io)
{
	size_t done = 0;
	while (done < size) {
		long n = io(done);
		if (n < 0)
			return done ? static_cast<long>(done) : n;
		if (n == 0)
			break;
		done += static_cast<size_t>(n);
	}
	return static_cast<long>(done);
}

void op_read(fuse_req_t req, fuse_ino_t, size_t size, off_t off,
	     fuse_file_info *fi)
{
	thread_local std::vector<char> buf;
	if (buf.size() < size)
		buf.resize(size);
	become_caller(req);
	long done = move_all(size, [&](size_t at) {
		return lkl_sys_pread64(fd_of(fi), buf.data() + at, size - at,
				       off + static_cast<off_t>(at));
	});
	if (done < 0) {
		fuse_reply_err(req, static_cast<int>(-done));
		return;
	}
	// FUSE keeps what it reads in the host's page cache, so a second copy
	// in the kernel's cache only takes its memory. Dropping it at once
	// keeps the same few pool pages in use, already resident on the host:
	// cold 1 GiB reads 2.4 -> 2.65 GB/s (median of four) and steadier.
	if (done > 0)
		lkl_sys_fadvise64(fd_of(fi), off, done, LKL_POSIX_FADV_DONTNEED);
	fuse_reply_buf(req, buf.data(), static_cast<size_t>(done));
}

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
	      off_t off, fuse_file_info *fi)
{
	Server &s = server_of(req);
	become_caller(req);
	long done = move_all(size, [&](size_t at) {
		return lkl_sys_pwrite64(fd_of(fi), buf + at, size - at,
					off + static_cast<off_t>(at));
	});
	// A write that moves nothing and reports no error is an I/O error.
	if (done == 0 && size)
		done = -EIO;
	if (done < 0) {
		fuse_reply_err(req, static_cast<int>(-done));
		return;
	}
	after_change(req, s, ino);
	fuse_reply_write(req, static_cast<size_t>(done));
}

void op_release(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	Server &s = server_of(req);
	{
		std::lock_guard guard(s.open_lock);
		s.open_files.erase(static_cast<int>(fi->fh));
	}
	reply_result(req, lkl_sys_close(fd_of(fi)));
}

void op_fsync(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info *fi)
{
	become_caller(req);
	reply_result(req, datasync ? lkl_sys_fdatasync(fd_of(fi))
				   : lkl_sys_fsync(fd_of(fi)));
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		  off_t len, fuse_file_info *fi)
{
	Server &s = server_of(req);
	become_caller(req);
	long ret = lkl_sys_fallocate(static_cast<int>(fd_of(fi)), mode, off, len);
	if (ret == 0)
		after_change(req, s, ino);
	reply_result(req, ret);
}

void op_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in,
			fuse_file_info *fi_in, fuse_ino_t ino_out,
			off_t off_out, fuse_file_info *fi_out, size_t len,
			int flags)
{
	Server &s = server_of(req);
	become_caller(req);
	lkl_loff_t in = off_in, out = off_out;
	long n = lkl_sys_copy_file_range(static_cast<int>(fd_of(fi_in)), &in,
					 static_cast<int>(fd_of(fi_out)), &out,
					 len, static_cast<unsigned int>(flags));
	if (n < 0) {
		fuse_reply_err(req, static_cast<int>(-n));
		return;
	}
	after_change(req, s, ino_out);
	fuse_reply_write(req, static_cast<size_t>(n));
}

void op_lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence,
	      fuse_file_info *fi)
{
	long ret = lkl_sys_lseek(fd_of(fi), off, static_cast<unsigned int>(whence));
	if (ret < 0)
		fuse_reply_err(req, static_cast<int>(-ret));
	else
		fuse_reply_lseek(req, ret);
}

// An open directory: its descriptor and the entries read ahead of FUSE,
// which asks for a few at a time and may seek (telldir/seekdir) between.
struct Dir {
	explicit Dir(int fd) : fd(fd) {}
	~Dir() { lkl_sys_close(static_cast<unsigned int>(fd)); }
	Dir(const Dir &) = delete;
	Dir &operator=(const Dir &) = delete;

	std::mutex lock;
	const int fd;
	std::vector<char> buf = std::vector<char>(32 * 1024);
	std::size_t pos = 0, len = 0;
	// The offset FUSE passes to continue after the entries handed out.
	off_t next = 0;
};

Dir *dir_of(const fuse_file_info *fi)
{
	return reinterpret_cast<Dir *>(fi->fh);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info *fi)
{
	Server &s = server_of(req);
	become_caller(req);
	long fd = lkl_sys_openat(LKL_AT_FDCWD,
				 ProcPath(s.nodes.node(ino).fd).c_str(),
				 LKL_O_RDONLY | LKL_O_DIRECTORY | LKL_O_CLOEXEC, 0);
	if (fd < 0) {
		fuse_reply_err(req, static_cast<int>(-fd));
		return;
	}
	Dir *dir;
	try {
		auto owned = std::make_unique<Dir>(static_cast<int>(fd));
		std::lock_guard guard(s.open_lock);
		s.open_dirs.insert(owned.get());
		dir = owned.release();
	} catch (const std::bad_alloc &) {
		lkl_sys_close(static_cast<unsigned int>(fd));
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = reinterpret_cast<uint64_t>(dir);
	if (fuse_reply_open(req, fi) == -ENOENT) {
		std::lock_guard guard(s.open_lock);
		s.open_dirs.erase(dir);
		delete dir;
	}
}

// Hands out entries from offset on, each with the file system's own
// offset of the entry after it (the getdents64 d_off cookie), so that FUSE
// can come back to any of them. With plus, each entry but "." and ".." is
// looked up too (a reference to its node), so that ls -l and find need no
// lookup of their own.
void read_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
	      fuse_file_info *fi, bool plus)
{
	Server &s = server_of(req);
	become_caller(req);
	Dir *dir = dir_of(fi);
	std::lock_guard guard(dir->lock);
	if (offset != dir->next) {
		long ret = lkl_sys_lseek(static_cast<unsigned int>(dir->fd), offset,
					 LKL_SEEK_SET);
		if (ret < 0) {
			fuse_reply_err(req, static_cast<int>(-ret));
			return;
		}
		dir->pos = dir->len = 0;
		dir->next = offset;
	}
	thread_local std::vector<char> out;
	if (out.size() < size)
		out.resize(size);
	size_t used = 0;
	long err = 0;
	for (;;) {
		if (dir->pos == dir->len) {
			long n = lkl_sys_getdents64(
				static_cast<unsigned int>(dir->fd),
				reinterpret_cast<lkl_linux_dirent64 *>(dir->buf.data()),
				static_cast<unsigned int>(dir->buf.size()));
			if (n <= 0) {
				err = n;
				break;
			}
			dir->pos = 0;
			dir->len = static_cast<size_t>(n);
		}
		auto *d = reinterpret_cast<lkl_linux_dirent64 *>(dir->buf.data() +
								 dir->pos);
		size_t room = size - used;
		size_t took;
		if (plus) {
			// Sized first: a lookup that does not fit must not
			// be made (it would hold a reference FUSE never gets).
			if (fuse_add_direntry_plus(req, nullptr, 0, d->d_name,
						   nullptr, 0) > room)
				break;
			fuse_entry_param e = {};
			bool dots = strcmp(d->d_name, ".") == 0 ||
				    strcmp(d->d_name, "..") == 0;
			if (!dots) {
				long ret = lookup_entry(s, ino, d->d_name, e);
				if (ret < 0) {
					// Gone since getdents: skip it.
					e = {};
					if (ret != -ENOENT) {
						err = ret;
						break;
					}
				}
			}
			if (dots || e.ino == 0) {
				e.attr.st_ino = d->d_ino;
				e.attr.st_mode = static_cast<mode_t>(DTTOIF(d->d_type));
			}
			took = fuse_add_direntry_plus(req, out.data() + used, room,
						      d->d_name, &e, d->d_off);
		} else {
			struct stat st = {};
			st.st_ino = d->d_ino;
			st.st_mode = static_cast<mode_t>(DTTOIF(d->d_type));
			took = fuse_add_direntry(req, out.data() + used, room,
						 d->d_name, &st, d->d_off);
			if (took > room)
				break;
		}
		used += took;
		dir->pos += d->d_reclen;
		dir->next = d->d_off;
	}
	// An error after some entries: they are given, the error comes at
	// the next call.
	if (err < 0 && used == 0)
		fuse_reply_err(req, static_cast<int>(-err));
	else
		fuse_reply_buf(req, out.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		fuse_file_info *fi)
{
	read_dir(req, ino, size, offset, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    fuse_file_info *fi)
{
	read_dir(req, ino, size, offset, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info *fi)
{
	Server &s = server_of(req);
	Dir *dir = dir_of(fi);
	{
		std::lock_guard guard(s.open_lock);
		s.open_dirs.erase(dir);
	}
	delete dir;
	fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t, int datasync, fuse_file_info *fi)
{
	become_caller(req);
	unsigned int fd = static_cast<unsigned int>(dir_of(fi)->fd);
	reply_result(req, datasync ? lkl_sys_fdatasync(fd) : lkl_sys_fsync(fd));
}

} // namespace

void Server::close_all()
{
	std::lock_guard guard(open_lock);
	for (int fd : open_files)
		lkl_sys_close(static_cast<unsigned int>(fd));
	open_files.clear();
	for (void *dir : open_dirs)
		delete static_cast<Dir *>(dir);
	open_dirs.clear();
	nodes.close_all();
}

void add_io_operations(fuse_lowlevel_ops &ops)
{
	ops.open = op_open;
	ops.create = op_create;
	ops.read = op_read;
	ops.write = op_write;
	ops.release = op_release;
	ops.fsync = op_fsync;
	ops.fallocate = op_fallocate;
	ops.copy_file_range = op_copy_file_range;
	ops.lseek = op_lseek;
	ops.opendir = op_opendir;
	ops.readdir = op_readdir;
	ops.readdirplus = op_readdirplus;
	ops.releasedir = op_releasedir;
	ops.fsyncdir = op_fsyncdir;
}

} // namespace lklfuse
