// cptofs and cpfromfs: copy files and trees into a disk image, or out of it,
// with the image's own file system code (the Linux kernel's XFS, ext4, btrfs
// or vfat driver) running in this process. One program, two names: what it
// does follows from the name it runs under (argv[0]), else from the
// CPTOFS_DEFAULT_FROM_IMAGE compile definition.
//
// Both directions share one copy engine over a small file system interface
// (Fs) with two implementations: the host's system calls, and lkl's on the
// mounted image.
#include "image_session.hpp"

#include <lkl/kernel.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef CPTOFS_DEFAULT_FROM_IMAGE
#define CPTOFS_DEFAULT_FROM_IMAGE 0
#endif
#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

const char *prog = "cptofs";

// Set (to the signal number) by the signal watcher; the copy stops at the
// next file or chunk and the image is unmounted cleanly.
std::atomic<int> stop_signal{0};

bool stopping()
{
	return stop_signal.load(std::memory_order_relaxed) != 0;
}

// What the copy needs to know about a file, on either side: the host's
// struct stat (lkl::host_stat converts the image's).
using Stat = struct ::stat;

// A file system as the copy sees it. Calls return >= 0 on success and a
// negative errno on failure, as the kernel does; paths are the user's
// (for the image: absolute from the image's root).
class Fs {
public:
	virtual ~Fs() = default;

	virtual long lstat(const std::string &path, Stat &st) = 0;
	virtual long stat(const std::string &path, Stat &st) = 0;
	// path with its symbolic links resolved as far as the system calls
	// would not resolve them right (the last one only with follow_last).
	virtual std::string resolve(const std::string &path, bool follow_last) = 0;
	virtual long list(const std::string &dir,
			  std::vector<std::string> &names) = 0;
	virtual long readlink(const std::string &path, std::string &target) = 0;

	virtual long open_read(const std::string &path) = 0;
	virtual long create(const std::string &path, unsigned mode) = 0;
	virtual long pread(int fd, char *buf, std::size_t len,
			   std::int64_t off) = 0;
	virtual long pwrite(int fd, const char *buf, std::size_t len,
			    std::int64_t off) = 0;
	virtual long seek(int fd, std::int64_t off, int whence) = 0;
	virtual long truncate(int fd, std::int64_t size) = 0;
	virtual long close(int fd) = 0;

	virtual long mkdir(const std::string &path, unsigned mode) = 0;
	virtual long mknod(const std::string &path, unsigned mode,
			   std::uint64_t rdev) = 0;
	virtual long symlink(const std::string &target,
			     const std::string &path) = 0;
	virtual long link(const std::string &from, const std::string &to) = 0;
	virtual long unlink(const std::string &path) = 0;

	// These never follow a symbolic link at path (chmod is not called
	// on links).
	virtual long chown(const std::string &path, unsigned uid,
			   unsigned gid) = 0;
	virtual long chmod(const std::string &path, unsigned mode) = 0;
	virtual long utimens(const std::string &path,
			     const struct timespec &atime,
			     const struct timespec &mtime) = 0;
	virtual long listxattr(const std::string &path, char *buf,
			       std::size_t len) = 0;
	virtual long getxattr(const std::string &path, const char *name,
			      char *buf, std::size_t len) = 0;
	virtual long setxattr(const std::string &path, const char *name,
			      const char *value, std::size_t len) = 0;
};

// A descriptor of either file system, closed on destruction.
class File {
public:
	File(Fs &fs, long fd) : fs_(fs), fd_(static_cast<int>(fd)) {}
	~File()
	{
		if (fd_ >= 0)
			fs_.close(fd_);
	}
	File(const File &) = delete;
	File &operator=(const File &) = delete;

	int get() const { return fd_; }
	// Closes now: close errors matter for written files.
	long close() { return fs_.close(std::exchange(fd_, -1)); }

private:
	Fs &fs_;
	int fd_;
};

long host(long ret)
{
	return ret < 0 ? -errno : ret;
}

// A link's target, from read(buf, len) with readlink's contract, growing
// the buffer until the target fits.
template <typename Read>
long read_link(std::string &target, Read read)
{
	for (std::size_t len = 256;; len *= 2) {
		target.resize(len);
		long n = read(target.data(), len);
		if (n < 0)
			return n;
		if (static_cast<std::size_t>(n) < len) {
			target.resize(static_cast<std::size_t>(n));
			return 0;
		}
	}
}

class HostFs final : public Fs {
public:
	long lstat(const std::string &path, Stat &st) override
	{
		return stat_at(path, st, AT_SYMLINK_NOFOLLOW);
	}
	long stat(const std::string &path, Stat &st) override
	{
		return stat_at(path, st, 0);
	}
	std::string resolve(const std::string &path, bool) override
	{
		return path;
	}
	long list(const std::string &dir, std::vector<std::string> &names) override
	{
		std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(dir.c_str()),
						       ::closedir);
		if (!d)
			return -errno;
		errno = 0;
		while (const struct dirent *e = ::readdir(d.get())) {
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				names.emplace_back(e->d_name);
			errno = 0;
		}
		return -errno;
	}
	long readlink(const std::string &path, std::string &target) override
	{
		return read_link(target, [&](char *buf, std::size_t len) {
			return host(::readlink(path.c_str(), buf, len));
		});
	}
	long open_read(const std::string &path) override
	{
		// O_NOATIME keeps the source's access times as they were; only
		// the owner (or root) may ask for it.
		int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
		int fd = ::open(path.c_str(), flags | O_NOATIME);
		if (fd < 0 && errno == EPERM)
			fd = ::open(path.c_str(), flags);
		return host(fd);
	}
	long create(const std::string &path, unsigned mode) override
	{
		return host(::open(path.c_str(),
				   O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
	}
	long pread(int fd, char *buf, std::size_t len, std::int64_t off) override
	{
		return host(::pread(fd, buf, len, off));
	}
	long pwrite(int fd, const char *buf, std::size_t len,
		    std::int64_t off) override
	{
		return host(::pwrite(fd, buf, len, off));
	}
	long seek(int fd, std::int64_t off, int whence) override
	{
		return host(::lseek(fd, off, whence));
	}
	long truncate(int fd, std::int64_t size) override
	{
		return host(::ftruncate(fd, size));
	}
	long close(int fd) override { return host(::close(fd)); }
	long mkdir(const std::string &path, unsigned mode) override
	{
		return host(::mkdir(path.c_str(), mode));
	}
	long mknod(const std::string &path, unsigned mode,
		   std::uint64_t rdev) override
	{
		return host(::mknod(path.c_str(), mode, rdev));
	}
	long symlink(const std::string &target, const std::string &path) override
	{
		return host(::symlink(target.c_str(), path.c_str()));
	}
	long link(const std::string &from, const std::string &to) override
	{
		return host(::link(from.c_str(), to.c_str()));
	}
	long unlink(const std::string &path) override
	{
		return host(::unlink(path.c_str()));
	}
	long chown(const std::string &path, unsigned uid, unsigned gid) override
	{
		return host(::lchown(path.c_str(), uid, gid));
	}
	long chmod(const std::string &path, unsigned mode) override
	{
		return host(::chmod(path.c_str(), mode));
	}
	long utimens(const std::string &path, const struct timespec &atime,
		     const struct timespec &mtime) override
	{
		const struct timespec ts[2] = {atime, mtime};
		return host(::utimensat(AT_FDCWD, path.c_str(), ts,
					AT_SYMLINK_NOFOLLOW));
	}
	long listxattr(const std::string &path, char *buf,
		       std::size_t len) override
	{
		return host(::llistxattr(path.c_str(), buf, len));
	}
	long getxattr(const std::string &path, const char *name, char *buf,
		      std::size_t len) override
	{
		return host(::lgetxattr(path.c_str(), name, buf, len));
	}
	long setxattr(const std::string &path, const char *name,
		      const char *value, std::size_t len) override
	{
		return host(::lsetxattr(path.c_str(), name, value, len, 0));
	}

private:
	static long stat_at(const std::string &path, Stat &st, int flags)
	{
		return host(::fstatat(AT_FDCWD, path.c_str(), &st, flags));
	}
};

struct __lkl__kernel_timespec to_lkl(const struct timespec &t)
{
	return {t.tv_sec, t.tv_nsec};
}

// The mounted image. User paths are absolute from the image's root; the
// kernel sees them below the mount point.
class ImageFs final : public Fs {
public:
	explicit ImageFs(std::string root) : root_(std::move(root)) {}

	long lstat(const std::string &path, Stat &st) override
	{
		struct lkl_stat s;
		long ret = lkl_sys_newfstatat(LKL_AT_FDCWD, at(path).c_str(), &s,
					      LKL_AT_SYMLINK_NOFOLLOW);
		if (ret == 0)
			st = lkl::host_stat(s);
		return ret;
	}
	long stat(const std::string &path, Stat &st) override
	{
		return lstat(resolve(path, true), st);
	}
	// An absolute link in the image points into the image, where the
	// kernel would look for its target outside the mount: resolve links
	// here, component by component. What does not exist is kept as it is.
	std::string resolve(const std::string &path, bool follow_last) override
	{
		std::vector<std::string> todo; // components, the next one last
		auto push = [&todo](const std::string &p) {
			std::vector<std::string> parts;
			std::size_t start = 0;
			for (std::size_t slash; (slash = p.find('/', start)) !=
						std::string::npos;
			     start = slash + 1)
				parts.push_back(p.substr(start, slash - start));
			parts.push_back(p.substr(start));
			todo.insert(todo.end(), parts.rbegin(), parts.rend());
		};
		push(path);
		std::string done; // resolved so far; "" is the root
		for (int links = 0; !todo.empty();) {
			std::string name = std::move(todo.back());
			todo.pop_back();
			if (name.empty() || name == ".")
				continue;
			if (name == "..") {
				std::size_t slash = done.rfind('/');
				done.resize(slash == std::string::npos ? 0 : slash);
				continue;
			}
			std::string next = done + "/" + name;
			Stat st;
			std::string target;
			if ((todo.empty() && !follow_last) || lstat(next, st) < 0 ||
			    !S_ISLNK(st.st_mode) || ++links > 40 ||
			    readlink(next, target) < 0) {
				done = std::move(next);
				continue;
			}
			if (!target.empty() && target[0] == '/')
				done.clear();
			push(target);
		}
		return done;
	}
	long list(const std::string &dir, std::vector<std::string> &names) override
	{
		int err = 0;
		std::unique_ptr<lkl_dir, int (*)(lkl_dir *)> d(
			lkl_opendir(at(dir).c_str(), &err), lkl_closedir);
		if (!d)
			return err;
		while (const struct lkl_linux_dirent64 *e = lkl_readdir(d.get()))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				names.emplace_back(e->d_name);
		return lkl_errdir(d.get());
	}
	long readlink(const std::string &path, std::string &target) override
	{
		std::string where = at(path);
		return read_link(target, [&](char *buf, std::size_t len) {
			return lkl_sys_readlinkat(LKL_AT_FDCWD, where.c_str(), buf,
						  static_cast<int>(len));
		});
	}
	long open_read(const std::string &path) override
	{
		return lkl_sys_openat(LKL_AT_FDCWD, at(path).c_str(),
				      LKL_O_RDONLY | LKL_O_NOFOLLOW |
					      LKL_O_NOATIME,
				      0);
	}
	long create(const std::string &path, unsigned mode) override
	{
		return lkl_sys_openat(LKL_AT_FDCWD, at(path).c_str(),
				      LKL_O_WRONLY | LKL_O_CREAT | LKL_O_EXCL,
				      static_cast<lkl_umode_t>(mode));
	}
	long pread(int fd, char *buf, std::size_t len, std::int64_t off) override
	{
		return lkl_sys_pread64(static_cast<unsigned>(fd), buf, len, off);
	}
	long pwrite(int fd, const char *buf, std::size_t len,
		    std::int64_t off) override
	{
		return lkl_sys_pwrite64(static_cast<unsigned>(fd), buf, len, off);
	}
	long seek(int fd, std::int64_t off, int whence) override
	{
		return lkl_sys_lseek(static_cast<unsigned>(fd), off,
				     static_cast<unsigned>(whence));
	}
	long truncate(int fd, std::int64_t size) override
	{
		return lkl_sys_ftruncate(static_cast<unsigned>(fd), size);
	}
	long close(int fd) override
	{
		return lkl_sys_close(static_cast<unsigned>(fd));
	}
	long mkdir(const std::string &path, unsigned mode) override
	{
		return lkl_sys_mkdirat(LKL_AT_FDCWD, at(path).c_str(),
				       static_cast<lkl_umode_t>(mode));
	}
	long mknod(const std::string &path, unsigned mode,
		   std::uint64_t rdev) override
	{
		// glibc's dev_t agrees with the kernel's 32-bit device
		// encoding (new_encode_dev) wherever that can hold it.
		if (rdev > 0xffffffffULL)
			return -EOVERFLOW;
		return lkl_sys_mknodat(LKL_AT_FDCWD, at(path).c_str(),
				       static_cast<lkl_umode_t>(mode),
				       static_cast<unsigned>(rdev));
	}
	long symlink(const std::string &target, const std::string &path) override
	{
		return lkl_sys_symlinkat(target.c_str(), LKL_AT_FDCWD,
					 at(path).c_str());
	}
	long link(const std::string &from, const std::string &to) override
	{
		return lkl_sys_linkat(LKL_AT_FDCWD, at(from).c_str(),
				      LKL_AT_FDCWD, at(to).c_str(), 0);
	}
	long unlink(const std::string &path) override
	{
		return lkl_sys_unlinkat(LKL_AT_FDCWD, at(path).c_str(), 0);
	}
	long chown(const std::string &path, unsigned uid, unsigned gid) override
	{
		return lkl_sys_fchownat(LKL_AT_FDCWD, at(path).c_str(), uid, gid,
					LKL_AT_SYMLINK_NOFOLLOW);
	}
	long chmod(const std::string &path, unsigned mode) override
	{
		return lkl_sys_fchmodat(LKL_AT_FDCWD, at(path).c_str(),
					static_cast<lkl_umode_t>(mode));
	}
	long utimens(const std::string &path, const struct timespec &atime,
		     const struct timespec &mtime) override
	{
		struct __lkl__kernel_timespec ts[2] = {to_lkl(atime),
						       to_lkl(mtime)};
		return lkl_sys_utimensat(LKL_AT_FDCWD, at(path).c_str(), ts,
					 LKL_AT_SYMLINK_NOFOLLOW);
	}
	long listxattr(const std::string &path, char *buf,
		       std::size_t len) override
	{
		return lkl_sys_llistxattr(at(path).c_str(), buf, len);
	}
	long getxattr(const std::string &path, const char *name, char *buf,
		      std::size_t len) override
	{
		return lkl_sys_lgetxattr(at(path).c_str(), name, buf, len);
	}
	long setxattr(const std::string &path, const char *name,
		      const char *value, std::size_t len) override
	{
		return lkl_sys_lsetxattr(at(path).c_str(), name, value, len, 0);
	}

private:
	std::string at(const std::string &path) const { return root_ + path; }

	std::string root_;
};

// dir/name, where dir may be the image's root "" or the host's "/".
std::string join(const std::string &dir, const std::string &name)
{
	return dir.empty() || dir.back() != '/' ? dir + "/" + name : dir + name;
}

// Bytes and files, copied so far or in total.
struct Amount {
	std::uint64_t bytes = 0, files = 0;
};

// Adds up what copying path (recursively) will move, for the progress bar.
void measure(Fs &fs, const std::string &path, Amount &total)
{
	if (stopping())
		return;
	Stat st;
	if (fs.lstat(path, st) < 0)
		return;
	total.files++;
	if (S_ISREG(st.st_mode))
		total.bytes += static_cast<std::uint64_t>(st.st_size);
	if (!S_ISDIR(st.st_mode))
		return;
	std::vector<std::string> names;
	fs.list(path, names);
	for (const std::string &name : names)
		measure(fs, join(path, name), total);
}

// "[#####     ]  45%  123/293 MiB  12034/24390 files" on stderr, redrawn at
// most ten times a second, only for copies big enough to take a while.
class Progress {
public:
	Progress(bool enabled, Amount total)
		: enabled_(enabled && (total.bytes >= 64 * MiB ||
				       total.files >= 2000)),
		  total_(total)
	{
	}
	~Progress() { finish(); }
	Progress(const Progress &) = delete;
	Progress &operator=(const Progress &) = delete;

	void add(std::uint64_t bytes, std::uint64_t files)
	{
		done_.bytes += bytes;
		done_.files += files;
		if (!enabled_)
			return;
		auto now = std::chrono::steady_clock::now();
		if (now - drawn_ < std::chrono::milliseconds(100))
			return;
		drawn_ = now;
		draw();
	}

	// Erases the bar (until the next redraw), so that a message can
	// take the line.
	void clear()
	{
		if (enabled_ && drawn_ != std::chrono::steady_clock::time_point())
			fprintf(stderr, "\r\033[K");
		drawn_ = {};
	}

	// Shows text in place of the bar, until finish().
	void say(const char *text)
	{
		if (!enabled_)
			return;
		fprintf(stderr, "\r%s\033[K", text);
		drawn_ = std::chrono::steady_clock::now();
	}

	void finish()
	{
		clear();
		enabled_ = false;
	}

private:
	static constexpr std::uint64_t MiB = 1 << 20;

	void draw() const
	{
		constexpr int width = 30;
		std::uint64_t bytes = std::min(done_.bytes, total_.bytes);
		double frac = total_.bytes
				      ? static_cast<double>(bytes) /
						static_cast<double>(total_.bytes)
				      : static_cast<double>(done_.files) /
						static_cast<double>(std::max<std::uint64_t>(
							total_.files, 1));
		frac = std::min(frac, 1.0);
		int filled = static_cast<int>(frac * width);
		fprintf(stderr, "\r[%.*s%*s] %3d%%  %llu/%llu MiB  %llu/%llu files\033[K",
			filled, "##############################", width - filled, "",
			static_cast<int>(frac * 100),
			static_cast<unsigned long long>(bytes / MiB),
			static_cast<unsigned long long>(total_.bytes / MiB),
			static_cast<unsigned long long>(done_.files),
			static_cast<unsigned long long>(total_.files));
	}

	bool enabled_;
	Amount total_, done_;
	std::chrono::steady_clock::time_point drawn_{};
};

// How ownership and modes are given to the copies.
struct CopyOptions {
	std::optional<unsigned> uid, gid; // -o, -g: instead of the source's
	// Where the destination cannot represent an owner or a mode (an
	// unprivileged host user, vfat), a refusal (EPERM) is not a failure,
	// as with cp -a; an owner asked for with -o or -g always is.
	bool lenient_chown = false;
	bool lenient_chmod = false;
};

// The recursive copy from one file system to the other.
class Copier {
public:
	Copier(Fs &src, Fs &dst, const CopyOptions &options, Progress &progress)
		: src_(src), dst_(dst), options_(options), progress_(progress),
		  buf_(buf_size)
	{
	}

	// Copies from (already lstat'ed as st) to the path to.
	void copy(const std::string &from, const std::string &to, const Stat &st)
	{
		if (stopping())
			return;
		if (S_ISDIR(st.st_mode)) {
			copy_dir(from, to, st);
			return;
		}
		progress_.add(0, 1);
		if (st.st_nlink > 1 && link_again(st, to))
			return;
		bool made = false;
		if (S_ISREG(st.st_mode))
			made = copy_file(from, to, st);
		else if (S_ISLNK(st.st_mode))
			made = copy_symlink(from, to);
		else
			made = replace(to, [&] {
				return dst_.mknod(to, st.st_mode & ~07000u, st.st_rdev);
			});
		if (!made)
			return;
		if (st.st_nlink > 1)
			links_.emplace(std::make_pair(st.st_dev, st.st_ino), to);
		set_attributes(from, to, st);
	}

	// Reports a failure about path and carries on.
	void error(const std::string &path, long err, const std::string &doing = "")
	{
		failed_ = true;
		progress_.clear();
		fprintf(stderr, "%s: %s: %s%s\n", prog,
			path.empty() ? "/" : path.c_str(),
			doing.empty() ? "" : (doing + ": ").c_str(),
			strerror(static_cast<int>(-err)));
	}

	bool failed() const { return failed_; }

private:
	static constexpr std::size_t buf_size = 1 << 20;

	void copy_dir(const std::string &from, const std::string &to,
		      const Stat &st)
	{
		progress_.add(0, 1);
		// Owner-writable until its contents are in; the mode comes last.
		long ret = dst_.mkdir(to, (st.st_mode & 0777) | 0700);
		if (ret == -EEXIST) {
			Stat there;
			if (dst_.lstat(to, there) == 0 && !S_ISDIR(there.st_mode)) {
				error(to, -ENOTDIR,
				      "cannot replace a non-directory with a "
				      "directory");
				return;
			}
		} else if (ret < 0) {
			error(to, ret);
			return;
		}
		std::vector<std::string> names;
		if (long err = src_.list(from, names); err < 0)
			error(from, err);
		for (const std::string &name : names) {
			if (stopping())
				return;
			std::string child = join(from, name);
			Stat cst;
			if (long err = src_.lstat(child, cst); err < 0) {
				error(child, err);
				continue;
			}
			copy(child, join(to, name), cst);
		}
		// After the contents, which change the directory's times.
		set_attributes(from, to, st);
	}

	// Runs make() to create to; an existing non-directory there is
	// replaced, as cp --remove-destination does.
	template <typename Make>
	bool replace(const std::string &to, Make make)
	{
		long ret = make();
		if (ret == -EEXIST) {
			Stat there;
			if (dst_.lstat(to, there) == 0 && S_ISDIR(there.st_mode)) {
				error(to, -EISDIR,
				      "cannot replace a directory with a "
				      "non-directory");
				return false;
			}
			ret = dst_.unlink(to);
			if (ret == 0)
				ret = make();
		}
		if (ret < 0) {
			error(to, ret);
			return false;
		}
		return true;
	}

	// A further name of an inode already copied becomes a hard link.
	bool link_again(const Stat &st, const std::string &to)
	{
		auto it = links_.find(std::make_pair(st.st_dev, st.st_ino));
		if (it == links_.end())
			return false;
		replace(to, [&] { return dst_.link(it->second, to); });
		return true;
	}

	bool copy_symlink(const std::string &from, const std::string &to)
	{
		std::string target;
		if (long err = src_.readlink(from, target); err < 0) {
			error(from, err);
			return false;
		}
		return replace(to, [&] { return dst_.symlink(target, to); });
	}

	bool copy_file(const std::string &from, const std::string &to,
		       const Stat &st)
	{
		long fd = src_.open_read(from);
		if (fd < 0) {
			error(from, fd);
			return false;
		}
		File in(src_, fd);
		long out_fd = -1;
		if (!replace(to, [&] {
			    out_fd = dst_.create(to, st.st_mode & 0777);
			    return out_fd;
		    }))
			return false;
		File out(dst_, out_fd);
		bool good = copy_data(in.get(), out.get(), from, to, st);
		if (long err = out.close(); err < 0 && good) {
			error(to, err);
			good = false;
		}
		return good;
	}

	// Copies the data; the holes of a sparse source stay holes.
	bool copy_data(int in, int out, const std::string &from,
		       const std::string &to, const Stat &st)
	{
		// A file using as many blocks as its size has no holes: read it
		// straight through without asking where its data is.
		if (st.st_blocks * 512 >= st.st_size)
			return copy_range(in, out, 0, -1, from, to);
		std::int64_t pos = 0;
		while (pos < st.st_size) {
			long data = src_.seek(in, pos, SEEK_DATA);
			if (data == -ENXIO)
				break; // a hole up to the end
			if (data < 0)
				return copy_range(in, out, pos, -1, from, to);
			long hole = src_.seek(in, data, SEEK_HOLE);
			if (hole < 0) {
				error(from, hole, "finding holes");
				return false;
			}
			if (!copy_range(in, out, data, hole, from, to))
				return false;
			pos = hole;
		}
		long err = dst_.truncate(out, st.st_size);
		if (err < 0)
			error(to, err);
		return err == 0;
	}

	// Copies [off, end) (end -1: to the end of the file).
	bool copy_range(int in, int out, std::int64_t off, std::int64_t end,
			const std::string &from, const std::string &to)
	{
		while (end < 0 || off < end) {
			if (stopping())
				return false;
			std::size_t want = buf_.size();
			if (end >= 0)
				want = static_cast<std::size_t>(
					std::min<std::int64_t>(end - off, want));
			long n = src_.pread(in, buf_.data(), want, off);
			if (n < 0) {
				error(from, n);
				return false;
			}
			if (n == 0)
				break;
			for (long done = 0; done < n;) {
				long w = dst_.pwrite(out, buf_.data() + done,
						     static_cast<std::size_t>(n - done),
						     off + done);
				if (w < 0) {
					error(to, w);
					return false;
				}
				done += w;
			}
			off += n;
			progress_.add(static_cast<std::uint64_t>(n), 0);
		}
		return true;
	}

	// Owner, extended attributes (ACLs among them), mode, then times:
	// chown clears set-id bits and capabilities, and every change but
	// the last would move the times.
	void set_attributes(const std::string &from, const std::string &to,
			    const Stat &st)
	{
		unsigned uid = options_.uid.value_or(st.st_uid);
		unsigned gid = options_.gid.value_or(st.st_gid);
		if (long err = dst_.chown(to, uid, gid); err < 0) {
			bool forced = options_.uid || options_.gid;
			if (err != -EPERM || forced || !options_.lenient_chown)
				error(to, err, "setting the owner");
		}
		copy_xattrs(from, to);
		if (!S_ISLNK(st.st_mode)) {
			long err = dst_.chmod(to, st.st_mode & 07777);
			if (err < 0 && !(err == -EPERM && options_.lenient_chmod))
				error(to, err, "setting the mode");
		}
		if (long err = dst_.utimens(to, st.st_atim, st.st_mtim); err < 0)
			error(to, err, "setting the times");
	}

	void copy_xattrs(const std::string &from, const std::string &to)
	{
		std::vector<char> names;
		long len = list_xattrs(from, names);
		if (len < 0) {
			if (len != -EOPNOTSUPP)
				error(from, len, "listing extended attributes");
			return;
		}
		std::vector<char> value;
		for (const char *name = names.data(); name < names.data() + len;
		     name += strlen(name) + 1) {
			if (acl_storage(name))
				continue;
			long size = get_xattr(from, name, value);
			if (size == -ENODATA)
				continue; // removed meanwhile
			if (size < 0) {
				error(from, size, std::string("reading ") + name);
				continue;
			}
			long err = dst_.setxattr(to, name, value.data(),
						 static_cast<std::size_t>(size));
			// A namespace the destination does not take (trusted.*
			// for a user, user.* on a link...) is left out.
			if (err < 0 && err != -EOPNOTSUPP && err != -EPERM)
				error(to, err, std::string("setting ") + name);
		}
	}

	// XFS shows root its ACLs a second time, as the trusted.* attributes
	// it keeps them in; they travel as system.posix_acl_* (and cp skips
	// them too, see /etc/xattr.conf).
	static bool acl_storage(const char *name)
	{
		return !strcmp(name, "trusted.SGI_ACL_FILE") ||
		       !strcmp(name, "trusted.SGI_ACL_DEFAULT");
	}

	// The list of names; its length, or a negative errno.
	long list_xattrs(const std::string &path, std::vector<char> &names)
	{
		for (;;) {
			long size = src_.listxattr(path, nullptr, 0);
			if (size <= 0)
				return size;
			names.resize(static_cast<std::size_t>(size));
			long len = src_.listxattr(path, names.data(), names.size());
			if (len != -ERANGE) // else it grew meanwhile
				return len;
		}
	}

	long get_xattr(const std::string &path, const char *name,
		       std::vector<char> &value)
	{
		for (;;) {
			long size = src_.getxattr(path, name, nullptr, 0);
			if (size < 0)
				return size;
			value.resize(static_cast<std::size_t>(size) + 1);
			long len = src_.getxattr(path, name, value.data(),
						 value.size());
			if (len != -ERANGE)
				return len;
		}
	}

	Fs &src_, &dst_;
	const CopyOptions &options_;
	Progress &progress_;
	std::vector<char> buf_;
	bool failed_ = false;
	// Where each multiply-linked source inode was copied to.
	std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> links_;
};

// SIGINT, SIGTERM and SIGHUP are blocked in every thread (the kernel's host
// threads inherit the mask, so none of their system calls is interrupted)
// and taken by one thread with sigwait, which asks the copy to stop.
class SignalWatcher {
public:
	SignalWatcher()
	{
		// A closed stderr must not kill us with the image mounted.
		signal(SIGPIPE, SIG_IGN);
		sigemptyset(&set_);
		for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1})
			sigaddset(&set_, sig);
		pthread_sigmask(SIG_BLOCK, &set_, nullptr);
		thread_ = std::thread([this] {
			for (;;) {
				int sig = 0;
				if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1)
					return;
				int none = 0;
				stop_signal.compare_exchange_strong(none, sig);
			}
		});
	}
	~SignalWatcher()
	{
		pthread_kill(thread_.native_handle(), SIGUSR1);
		thread_.join();
	}
	SignalWatcher(const SignalWatcher &) = delete;
	SignalWatcher &operator=(const SignalWatcher &) = delete;

private:
	sigset_t set_;
	std::thread thread_;
};

int usage(FILE *out, bool from_image, int status)
{
	if (from_image)
		fprintf(out,
			"usage: cpfromfs -i IMAGE [-t TYPE] [-P PART] [-o OWNER] [-g GROUP] [-m MB] [-p]\n"
			"                SRC... DST\n"
			"\n"
			"Copies files and directory trees SRC out of the disk image IMAGE to DST\n"
			"on the host. SRC are absolute paths inside the image (\"/\" is its root\n"
			"directory). The image is opened read-only and left unchanged.\n");
	else
		fprintf(out,
			"usage: cptofs -i IMAGE [-t TYPE] [-P PART] [-o OWNER] [-g GROUP] [-m MB] [-p]\n"
			"              SRC... DST\n"
			"\n"
			"Copies host files and directory trees SRC into the disk image IMAGE, to\n"
			"DST, an absolute path inside the image (\"/\" is its root directory).\n");
	fprintf(out,
		"The image's file system (xfs, ext4, btrfs or vfat) is the Linux kernel's\n"
		"own driver running inside this program: no mount, no root needed.\n"
		"\n"
		"As with cp -a: if DST is an existing directory, each SRC goes inside it\n"
		"(SRC ending in \"/.\" or being \"/\": its contents do), else the single\n"
		"SRC is copied to DST. Directories are copied recursively, keeping modes,\n"
		"owners, times to the nanosecond, symbolic links (not followed), hard\n"
		"links, holes of sparse files, extended attributes and POSIX ACLs, device\n"
		"nodes and fifos. An existing non-directory at the destination is replaced.\n"
		"\n"
		"  -i, --filesystem-image IMAGE  the image file or block device (required)\n"
		"  -t, --filesystem-type TYPE    xfs, ext4, btrfs or vfat (default: detected)\n"
		"  -P, --partition N             partition N of the image (default 0: the\n"
		"                                whole image holds the file system)\n"
		"  -o, --owner USER              give the copies this owner (name or uid)\n"
		"  -g, --group GROUP             give the copies this group (name or gid)\n"
		"  -m, --mb MB                   kernel memory in MiB (default: 128)\n"
		"      --norecovery              read a file system that was not unmounted\n"
		"                                cleanly without replaying its journal: its\n"
		"                                last checkpoint (cpfromfs only)\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Errors name the file and the copy goes on with the next one. An image\n"
		"the host has mounted (itself, or a loop device backed by it) is not\n"
		"written. Exit status: 0 when everything was copied, 1 when anything\n"
		"failed, 2 for bad usage, 128+N when stopped by signal N (130 for SIGINT,\n"
		"143 for SIGTERM, 129 for SIGHUP). The image is always unmounted cleanly\n"
		"before the program ends. A progress bar is shown on a terminal for large\n"
		"copies.\n");
	return status;
}

int bad_usage(const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return 2;
}

// A user or group given by number or by name.
template <typename Lookup>
std::optional<unsigned> parse_id(const char *arg, Lookup lookup)
{
	char *end = nullptr;
	errno = 0;
	unsigned long id = strtoul(arg, &end, 10);
	if (*arg && !*end && !errno && id <= 0xffffffffUL)
		return static_cast<unsigned>(id);
	return lookup(arg);
}

std::optional<unsigned> user_id(const char *arg)
{
	return parse_id(arg, [](const char *name) -> std::optional<unsigned> {
		if (const struct passwd *pw = getpwnam(name))
			return pw->pw_uid;
		return std::nullopt;
	});
}

std::optional<unsigned> group_id(const char *arg)
{
	return parse_id(arg, [](const char *name) -> std::optional<unsigned> {
		if (const struct group *gr = getgrnam(name))
			return gr->gr_gid;
		return std::nullopt;
	});
}

// A path inside the image: always absolute, without trailing slashes
// ("" is the root, so that root + "/" + name works).
std::string image_path(std::string path)
{
	if (path.empty() || path[0] != '/')
		path.insert(0, "/");
	while (!path.empty() && path.back() == '/')
		path.pop_back();
	return path;
}

std::string host_path(std::string path)
{
	while (path.size() > 1 && path.back() == '/')
		path.pop_back();
	return path;
}

// Where SRC goes when DST is a directory: DST/NAME, or DST itself for a
// root or "dir/." source, whose contents go into DST.
std::string target_in(const std::string &dst, const std::string &src)
{
	std::size_t slash = src.find_last_of('/');
	std::string name = slash == std::string::npos ? src : src.substr(slash + 1);
	if (name.empty() || name == "." || name == "..")
		return dst;
	return join(dst, name);
}

struct Args {
	lkl_tools::ImageOptions image;
	CopyOptions copy;
	std::vector<std::string> paths;
};

// Parses the command line; returns an exit status to leave with, if any.
std::optional<int> parse(int argc, char **argv, bool from_image, Args &args)
{
	enum { opt_version = 256, opt_norecovery };
	// Said when the image is held by a tool that is finishing with it.
	args.image.notice = [](const std::string &msg) {
		fprintf(stderr, "%s: %s\n", prog, msg.c_str());
	};
	static const struct option longopts[] = {
		{"filesystem-image", required_argument, nullptr, 'i'},
		{"filesystem-type", required_argument, nullptr, 't'},
		{"partition", required_argument, nullptr, 'P'},
		{"owner", required_argument, nullptr, 'o'},
		{"group", required_argument, nullptr, 'g'},
		{"mb", required_argument, nullptr, 'm'},
		{"norecovery", no_argument, nullptr, opt_norecovery},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "i:t:P:o:g:m:ph", longopts,
				nullptr)) != -1) {
		switch (c) {
		case 'i':
			args.image.image = optarg;
			break;
		case 't':
			args.image.type = optarg;
			break;
		case 'P': {
			char *end = nullptr;
			unsigned long part = strtoul(optarg, &end, 10);
			if (!*optarg || *end || part > 255) {
				fprintf(stderr, "%s: bad partition number: %s\n",
					prog, optarg);
				return 2;
			}
			args.image.part = static_cast<unsigned>(part);
			break;
		}
		case 'o':
			args.copy.uid = user_id(optarg);
			if (!args.copy.uid) {
				fprintf(stderr, "%s: no such user: %s\n", prog, optarg);
				return 2;
			}
			break;
		case 'g':
			args.copy.gid = group_id(optarg);
			if (!args.copy.gid) {
				fprintf(stderr, "%s: no such group: %s\n", prog,
					optarg);
				return 2;
			}
			break;
		case 'm': {
			char *end = nullptr;
			unsigned long mb = strtoul(optarg, &end, 10);
			if (!*optarg || *end || mb < 16 || mb > 65536) {
				fprintf(stderr, "%s: bad kernel memory size: %s (MiB, "
						"16 to 65536)\n", prog, optarg);
				return 2;
			}
			args.image.mb = static_cast<unsigned>(mb);
			break;
		}
		case opt_norecovery:
			args.image.norecovery = true;
			break;
		case 'p':
			// The session appends the kernel's messages to a file.
			args.image.log = "/dev/stderr";
			break;
		case 'h':
			return usage(stdout, from_image, 0);
		case opt_version:
			printf("%s (lkl) %s\n", prog, LKL_VERSION);
			return 0;
		default:
			return bad_usage(nullptr);
		}
	}
	if (args.image.image.empty())
		return bad_usage("no image given (-i IMAGE)");
	if (argc - optind < 2)
		return bad_usage("need a source and a destination");
	args.paths.assign(argv + optind, argv + argc);
	return std::nullopt;
}

// Opens the image, copies, and unmounts; the exit status.
int copy_all(Args &args, bool from_image)
{
	args.image.read_only = from_image;
	SignalWatcher signals;
	std::string error;
	auto session = lkl_tools::ImageSession::open(args.image, error);
	if (!session) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	for (const std::string &warning : session->warnings())
		fprintf(stderr, "%s: warning: %s\n", prog, warning.c_str());
	// Created files get exactly the modes asked for.
	lkl_sys_umask(0);

	HostFs host_fs;
	ImageFs image_fs(session->root());
	Fs &src = from_image ? static_cast<Fs &>(image_fs) : host_fs;
	Fs &dst = from_image ? static_cast<Fs &>(host_fs) : image_fs;
	auto normal = from_image ? image_path : host_path;
	auto dst_normal = from_image ? host_path : image_path;

	CopyOptions &copy = args.copy;
	copy.lenient_chown = (from_image && geteuid() != 0) ||
			     (!from_image && session->type() == "vfat");
	copy.lenient_chmod = !from_image && session->type() == "vfat";

	std::vector<std::string> sources;
	for (std::size_t i = 0; i + 1 < args.paths.size(); i++)
		sources.push_back(src.resolve(normal(args.paths[i]), false));
	std::string dest = dst.resolve(dst_normal(args.paths.back()), false);

	// As with cp, a link to a directory is a directory to copy into.
	Stat dst_st;
	bool into_dir = dst.stat(dest, dst_st) == 0 && S_ISDIR(dst_st.st_mode);
	if (into_dir)
		dest = dst.resolve(dest, true);

	Amount total;
	if (isatty(STDERR_FILENO))
		for (const std::string &s : sources)
			measure(src, s, total);
	Progress progress(isatty(STDERR_FILENO), total);
	Copier copier(src, dst, copy, progress);

	if (!into_dir && sources.size() > 1) {
		copier.error(dest, -ENOTDIR, "copying several sources");
	} else {
		for (const std::string &s : sources) {
			Stat st;
			if (long err = src.lstat(s, st); err < 0) {
				copier.error(s, err);
				continue;
			}
			copier.copy(s, into_dir ? target_in(dest, s) : dest, st);
		}
	}
	// Unmounting writes back what the kernel still caches: on a large
	// copy that takes a moment, so say what is happening.
	progress.say("unmounting the image...");
	std::string failed = session->close();
	progress.finish();
	if (!failed.empty()) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.image.image.c_str(),
			failed.c_str());
		return 1;
	}
	if (int sig = stop_signal.load()) {
		fprintf(stderr, "%s: stopped by %s; the image was unmounted "
				"cleanly\n",
			prog, strsignal(sig));
		return 128 + sig;
	}
	return copier.failed() ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	bool from_image = CPTOFS_DEFAULT_FROM_IMAGE;
	if (!strcmp(base, "cpfromfs"))
		from_image = true;
	else if (!strcmp(base, "cptofs"))
		from_image = false;
	prog = from_image ? "cpfromfs" : "cptofs";

	try {
		Args args;
		if (auto status = parse(argc, argv, from_image, args))
			return *status;
		return copy_all(args, from_image);
	} catch (const std::exception &e) {
		// Unwinding has unmounted the image and halted the kernel.
		fprintf(stderr, "%s: %s\n", prog, e.what());
		return 1;
	}
}
