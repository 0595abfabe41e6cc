#include "image_fs.hpp"

#include <lkl/kernel.hpp>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

namespace lkl_tools {

namespace {

struct __lkl__kernel_timespec to_lkl(const struct timespec &t)
{
	return {t.tv_sec, t.tv_nsec};
}

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

} // namespace

std::unique_ptr<Fs> make_image_fs(std::string root)
{
	return std::make_unique<ImageFs>(std::move(root));
}

} // namespace lkl_tools
