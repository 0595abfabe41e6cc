// A file system as the tree copy sees it (copier.hpp): one interface, with
// the host's system calls (host_fs.hpp) and lkl's on a mounted image
// (image_fs.hpp) behind it.
#pragma once

#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lkl_tools {

// What the copy needs to know about a file, on either side: the host's
// struct stat (lkl::host_stat converts the image's).
using Stat = struct ::stat;

// Calls return >= 0 on success and a negative errno on failure, as the
// kernel does; paths are the user's (for an image: absolute from its root).
class Fs {
public:
	virtual ~Fs() = default;

	virtual long lstat(const std::string &path, Stat &st) = 0;
	virtual long stat(const std::string &path, Stat &st) = 0;
	// path with its symbolic links resolved as far as the system calls
	// would not resolve them right (the last one only with follow_last).
	virtual std::string resolve(const std::string &path, bool follow_last) = 0;
	// The names in dir, without "." and "..".
	virtual long list(const std::string &dir,
			  std::vector<std::string> &names) = 0;
	virtual long readlink(const std::string &path, std::string &target) = 0;

	virtual long open_read(const std::string &path) = 0;
	// Creates a new file (O_EXCL) for writing.
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

// dir/name, where dir may be the image's root "" or the host's "/".
inline std::string join(const std::string &dir, const std::string &name)
{
	return dir.empty() || dir.back() != '/' ? dir + "/" + name : dir + name;
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

// Runs make(), which creates @to in @dst; an existing non-directory there is
// removed and make() run again, as cp --remove-destination and tar do.
// Returns what make() returned (a descriptor, or 0) or a negative errno;
// @is_dir tells that @to is a directory, which is never replaced.
template <typename Make>
long replace_non_directory(Fs &dst, const std::string &to, Make make,
			   bool &is_dir)
{
	is_dir = false;
	long ret = make();
	if (ret != -EEXIST)
		return ret;
	Stat there;
	if (dst.lstat(to, there) == 0 && S_ISDIR(there.st_mode)) {
		is_dir = true;
		return -EISDIR;
	}
	ret = dst.unlink(to);
	return ret == 0 ? make() : ret;
}

} // namespace lkl_tools
