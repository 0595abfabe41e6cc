#include "host_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace lkl_tools {

namespace {

long host(long ret)
{
	return ret < 0 ? -errno : ret;
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

} // namespace

std::unique_ptr<Fs> make_host_fs()
{
	return std::make_unique<HostFs>();
}

} // namespace lkl_tools
