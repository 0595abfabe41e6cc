// _lkl: the native half of the lkl Python module (lkl/__init__.py gives it
// its os-like shape). One image session at a time: the tools' ImageSession
// boots the kernel, adds the image and mounts it; the kernel's tasks are
// then chroot'ed into the mount, so that paths, absolute symbolic links
// included, are the image's own. Every call releases the GIL while it is
// in the kernel, so Python threads run their calls in parallel (each host
// thread has its own kernel task). Failures raise OSError with the errno,
// its message and the path: Python turns that into FileNotFoundError,
// PermissionError, ... by itself.

#include "copier.hpp"
#include "host_fs.hpp"
#include "image_fs.hpp"
#include "image_session.hpp"

#include <lkl.h>
#include <lkl/kernel.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// utimensat(2)'s "now"; the kernel keeps it out of its UAPI headers
// (include/linux/stat.h), but its value is the system call's ABI.
constexpr long utime_now = (1L << 30) - 1;

// Raises OSError(errno, strerror(errno), path) for a negative errno.
[[noreturn]] void raise_errno(long err, const py::object &path = py::none())
{
	int e = static_cast<int>(-err);
	py::object error = py::module_::import("builtins").attr("OSError");
	py::object exc = path.is_none() ? error(e, std::strerror(e))
					: error(e, std::strerror(e), path);
	PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc.ptr())), exc.ptr());
	throw py::error_already_set();
}

// A kernel call with the GIL released; raises on a negative result.
template <typename Call>
long checked(const py::object &path, Call call)
{
	long ret;
	{
		py::gil_scoped_release release;
		ret = call();
	}
	if (ret < 0)
		raise_errno(ret, path);
	return ret;
}

std::string bytes_of(const py::bytes &b)
{
	return static_cast<std::string>(b);
}

py::tuple stat_tuple(const struct lkl_stat &s)
{
	auto ns = [](long long sec, unsigned long long nsec) {
		return py::int_(py::int_(sec) * py::int_(1000000000) + py::int_(nsec));
	};
	auto fl = [](long long sec, unsigned long long nsec) {
		return static_cast<double>(sec) + static_cast<double>(nsec) * 1e-9;
	};
	// os.stat_result: the ten indexable fields, then the float times,
	// the _ns times, st_blksize, st_blocks and st_rdev.
	return py::make_tuple(
		s.st_mode, s.st_ino, s.st_dev, s.st_nlink, s.st_uid, s.st_gid,
		s.st_size, s.lkl_st_atime, s.lkl_st_mtime, s.lkl_st_ctime,
		fl(s.lkl_st_atime, s.st_atime_nsec), fl(s.lkl_st_mtime, s.st_mtime_nsec),
		fl(s.lkl_st_ctime, s.st_ctime_nsec), ns(s.lkl_st_atime, s.st_atime_nsec),
		ns(s.lkl_st_mtime, s.st_mtime_nsec), ns(s.lkl_st_ctime, s.st_ctime_nsec),
		s.st_blksize, s.st_blocks, s.st_rdev);
}

// The open image. One kernel per process: a second Session while one is
// open fails; once it is closed (its kernel halted), a new one boots a
// fresh kernel.
class Session {
public:
	Session(const std::string &image, std::optional<std::string> fstype,
		unsigned partition, bool readonly, unsigned mem_mb)
	{
		std::lock_guard guard(lock());
		if (open_) {
			PyErr_SetString(PyExc_RuntimeError,
					"lkl: an image is already open in this process "
					"(one kernel per process): close it first");
			throw py::error_already_set();
		}
		lkl_tools::ImageOptions options;
		options.image = image;
		options.type = fstype.value_or("");
		options.part = partition;
		options.read_only = readonly;
		options.mb = mem_mb;
		std::string error;
		std::error_code code;
		{
			py::gil_scoped_release release;
			session_ = lkl_tools::ImageSession::open(options, error, &code);
		}
		if (!session_) {
			// The errno picks the subclass; the message is the session's.
			int e = code ? code.value() : EIO;
			py::object exc = py::module_::import("builtins").attr("OSError")(
				e, error, image);
			PyErr_SetObject(reinterpret_cast<PyObject *>(Py_TYPE(exc.ptr())),
					exc.ptr());
			throw py::error_already_set();
		}
		open_ = true;
		// The image's root becomes the root of every kernel task; the
		// old root stays reachable through old_root_ for close().
		old_root_ = lkl_sys_openat(LKL_AT_FDCWD, "/", LKL_O_PATH | LKL_O_DIRECTORY, 0);
		if (old_root_ < 0 || lkl_sys_chroot(session_->root().c_str()) < 0 ||
		    lkl_sys_chdir("/") < 0) {
			close();
			PyErr_SetString(PyExc_RuntimeError,
					"lkl: cannot enter the mounted image");
			throw py::error_already_set();
		}
	}

	// Closed, if the program did not: a failure can only be reported.
	~Session()
	{
		try {
			close();
		} catch (py::error_already_set &e) {
			e.discard_as_unraisable("closing an lkl image");
		}
	}

	// Unmounts (the file system writes everything back), removes the disk
	// and halts the kernel. Raises OSError if that failed.
	void close()
	{
		if (!session_)
			return;
		std::string failed;
		{
			py::gil_scoped_release release;
			if (old_root_ >= 0) {
				lkl_sys_fchdir(static_cast<unsigned>(old_root_));
				lkl_sys_chroot(".");
				lkl_sys_chdir("/");
				lkl_sys_close(static_cast<unsigned>(old_root_));
				old_root_ = -1;
			}
			failed = session_->close();
			session_.reset();
		}
		open_ = false;
		if (!failed.empty()) {
			py::object exc = py::module_::import("builtins").attr("OSError")(
				EIO, failed);
			PyErr_SetObject(PyExc_OSError, exc.ptr());
			throw py::error_already_set();
		}
	}

	std::string type() const { return session_ ? session_->type() : ""; }
	std::vector<std::string> warnings() const
	{
		return session_ ? session_->warnings() : std::vector<std::string>{};
	}

private:
	static std::mutex &lock()
	{
		static std::mutex m;
		return m;
	}
	static inline bool open_ = false;

	std::unique_ptr<lkl_tools::ImageSession> session_;
	long old_root_ = -1;
};

// Failures of a tree copy: (path, errno, what was being done).
using CopyErrors = std::vector<std::tuple<std::string, int, std::string>>;

CopyErrors copy_tree(bool into_image, const std::string &from, const std::string &to)
{
	auto host = lkl_tools::make_host_fs();
	auto image = lkl_tools::make_image_fs("");
	lkl_tools::Fs &src = into_image ? *host : *image;
	lkl_tools::Fs &dst = into_image ? *image : *host;
	CopyErrors errors;
	lkl_tools::CopyHooks hooks;
	hooks.error = [&errors](const std::string &path, long err, const std::string &doing) {
		errors.emplace_back(path, static_cast<int>(-err), doing);
	};
	lkl_tools::CopyOptions options;
	// An unprivileged host user cannot give copies out of the image their
	// owners; cp -a does not fail for that either.
	options.lenient_chown = !into_image && geteuid() != 0;
	lkl_tools::Copier copier(src, dst, options, hooks);
	lkl_tools::Stat st;
	if (long err = src.lstat(from, st); err < 0)
		copier.error(from, err);
	else
		copier.copy(from, to, st);
	return errors;
}

// An image path as the kernel takes it ("" and relative paths are below
// the image's root).
std::string image_path(const py::bytes &p)
{
	std::string s = bytes_of(p);
	return s.empty() ? "/" : s;
}

} // namespace

PYBIND11_MODULE(_lkl, m)
{
	m.doc() = "The native half of the lkl module; use lkl.Image instead.";

	py::class_<Session>(m, "Session")
		.def(py::init<const std::string &, std::optional<std::string>, unsigned,
			      bool, unsigned>(),
		     py::arg("image"), py::arg("fstype"), py::arg("partition"),
		     py::arg("readonly"), py::arg("mem_mb"))
		.def("close", &Session::close)
		.def_property_readonly("type", &Session::type)
		.def_property_readonly("warnings", &Session::warnings);

#define LKL_CONST(name) m.attr(#name) = LKL_##name
	LKL_CONST(O_RDONLY);
	LKL_CONST(O_WRONLY);
	LKL_CONST(O_RDWR);
	LKL_CONST(O_CREAT);
	LKL_CONST(O_EXCL);
	LKL_CONST(O_TRUNC);
	LKL_CONST(O_APPEND);
	LKL_CONST(O_DIRECTORY);
	LKL_CONST(O_NOFOLLOW);
	LKL_CONST(DT_DIR);
	LKL_CONST(DT_REG);
	LKL_CONST(DT_LNK);
	LKL_CONST(DT_UNKNOWN);
#undef LKL_CONST

	m.def("stat", [](const py::bytes &path, bool follow) {
		struct lkl_stat s {};
		std::string p = image_path(path);
		checked(path, [&] {
			return lkl_sys_newfstatat(LKL_AT_FDCWD, p.c_str(), &s,
						  follow ? 0 : LKL_AT_SYMLINK_NOFOLLOW);
		});
		return stat_tuple(s);
	});
	m.def("fstat", [](int fd) {
		struct lkl_stat s {};
		checked(py::none(), [&] { return lkl_sys_fstat(fd, &s); });
		return stat_tuple(s);
	});
	// (name, d_type, d_ino) of each entry but "." and "..".
	m.def("scandir", [](const py::bytes &path) {
		std::string p = image_path(path);
		std::vector<std::tuple<std::string, int, unsigned long long>> entries;
		checked(path, [&]() -> long {
			int err = 0;
			std::unique_ptr<lkl_dir, int (*)(lkl_dir *)> d(
				lkl_opendir(p.c_str(), &err), lkl_closedir);
			if (!d)
				return err;
			while (const lkl_linux_dirent64 *e = lkl_readdir(d.get()))
				if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
					entries.emplace_back(e->d_name, e->d_type, e->d_ino);
			return lkl_errdir(d.get());
		});
		py::list out;
		for (auto &[name, type, ino] : entries)
			out.append(py::make_tuple(py::bytes(name), type, ino));
		return out;
	});
	m.def("open", [](const py::bytes &path, int flags, unsigned mode) {
		std::string p = image_path(path);
		return checked(path, [&] {
			return lkl_sys_openat(LKL_AT_FDCWD, p.c_str(), flags, mode);
		});
	});
	m.def("close", [](int fd) { checked(py::none(), [&] { return lkl_sys_close(fd); }); });
	// Reads into a writable buffer; the number of bytes read.
	m.def("readinto", [](int fd, py::buffer buf) {
		py::buffer_info info = buf.request(true);
		char *data = static_cast<char *>(info.ptr);
		auto len = static_cast<lkl_size_t>(info.size * info.itemsize);
		return checked(py::none(), [&] { return lkl_sys_read(fd, data, len); });
	});
	m.def("write", [](int fd, py::buffer buf) {
		py::buffer_info info = buf.request();
		const char *data = static_cast<const char *>(info.ptr);
		auto len = static_cast<lkl_size_t>(info.size * info.itemsize);
		return checked(py::none(), [&] { return lkl_sys_write(fd, data, len); });
	});
	m.def("lseek", [](int fd, long long off, int whence) {
		return checked(py::none(), [&] {
			return lkl_sys_lseek(fd, off, static_cast<unsigned>(whence));
		});
	});
	m.def("ftruncate", [](int fd, long long size) {
		checked(py::none(), [&] { return lkl_sys_ftruncate(fd, size); });
	});
	m.def("fsync", [](int fd) { checked(py::none(), [&] { return lkl_sys_fsync(fd); }); });
	m.def("mkdir", [](const py::bytes &path, unsigned mode) {
		std::string p = image_path(path);
		checked(path, [&] { return lkl_sys_mkdirat(LKL_AT_FDCWD, p.c_str(), mode); });
	});
	m.def("unlink", [](const py::bytes &path, bool dir) {
		std::string p = image_path(path);
		checked(path, [&] {
			return lkl_sys_unlinkat(LKL_AT_FDCWD, p.c_str(),
						dir ? LKL_AT_REMOVEDIR : 0);
		});
	});
	m.def("rename", [](const py::bytes &from, const py::bytes &to) {
		std::string a = image_path(from), b = image_path(to);
		checked(from, [&] {
			return lkl_sys_renameat2(LKL_AT_FDCWD, a.c_str(), LKL_AT_FDCWD,
						 b.c_str(), 0);
		});
	});
	m.def("link", [](const py::bytes &from, const py::bytes &to) {
		std::string a = image_path(from), b = image_path(to);
		checked(to, [&] {
			return lkl_sys_linkat(LKL_AT_FDCWD, a.c_str(), LKL_AT_FDCWD,
					      b.c_str(), 0);
		});
	});
	m.def("symlink", [](const py::bytes &target, const py::bytes &path) {
		std::string t = bytes_of(target), p = image_path(path);
		checked(path, [&] {
			return lkl_sys_symlinkat(t.c_str(), LKL_AT_FDCWD, p.c_str());
		});
	});
	m.def("readlink", [](const py::bytes &path) {
		std::string p = image_path(path), target;
		checked(path, [&] {
			return lkl_tools::read_link(target, [&](char *buf, std::size_t len) {
				return lkl_sys_readlinkat(LKL_AT_FDCWD, p.c_str(), buf,
							  static_cast<int>(len));
			});
		});
		return py::bytes(target);
	});
	m.def("chmod", [](const py::bytes &path, unsigned mode, bool follow) {
		std::string p = image_path(path);
		if (!follow) {
			// Linux has no mode on symbolic links (fchmodat refuses
			// AT_SYMLINK_NOFOLLOW): a link is left alone, as there.
			struct lkl_stat s {};
			checked(path, [&] {
				return lkl_sys_newfstatat(LKL_AT_FDCWD, p.c_str(), &s,
							  LKL_AT_SYMLINK_NOFOLLOW);
			});
			if (LKL_S_ISLNK(s.st_mode))
				raise_errno(-EOPNOTSUPP, path);
		}
		checked(path, [&] { return lkl_sys_fchmodat(LKL_AT_FDCWD, p.c_str(), mode); });
	});
	m.def("chown", [](const py::bytes &path, long uid, long gid, bool follow) {
		std::string p = image_path(path);
		checked(path, [&] {
			return lkl_sys_fchownat(LKL_AT_FDCWD, p.c_str(),
						static_cast<lkl_uid_t>(uid),
						static_cast<lkl_gid_t>(gid),
						follow ? 0 : LKL_AT_SYMLINK_NOFOLLOW);
		});
	});
	// Times in nanoseconds since the epoch; None: now.
	m.def("utime", [](const py::bytes &path, std::optional<long long> atime_ns,
			  std::optional<long long> mtime_ns, bool follow) {
		std::string p = image_path(path);
		auto ts = [](std::optional<long long> ns) {
			struct __lkl__kernel_timespec t {};
			if (ns) {
				t.tv_sec = *ns / 1000000000LL;
				t.tv_nsec = *ns % 1000000000LL;
				if (t.tv_nsec < 0) {
					t.tv_nsec += 1000000000LL;
					t.tv_sec--;
				}
			} else {
				t.tv_nsec = utime_now;
			}
			return t;
		};
		struct __lkl__kernel_timespec times[2] = {ts(atime_ns), ts(mtime_ns)};
		checked(path, [&] {
			return lkl_sys_utimensat(LKL_AT_FDCWD, p.c_str(), times,
						 follow ? 0 : LKL_AT_SYMLINK_NOFOLLOW);
		});
	});
	m.def("getxattr", [](const py::bytes &path, const std::string &name, bool follow) {
		std::string p = image_path(path), value;
		checked(path, [&]() -> long {
			for (;;) {
				long size = follow ? lkl_sys_getxattr(p.c_str(), name.c_str(), nullptr, 0)
						   : lkl_sys_lgetxattr(p.c_str(), name.c_str(), nullptr, 0);
				if (size < 0)
					return size;
				value.resize(static_cast<std::size_t>(size));
				long got = follow ? lkl_sys_getxattr(p.c_str(), name.c_str(),
								     value.data(), value.size())
						  : lkl_sys_lgetxattr(p.c_str(), name.c_str(),
								      value.data(), value.size());
				if (got != -LKL_ERANGE) {
					if (got >= 0)
						value.resize(static_cast<std::size_t>(got));
					return got;
				}
			}
		});
		return py::bytes(value);
	});
	m.def("setxattr", [](const py::bytes &path, const std::string &name,
			     const py::bytes &value, int flags, bool follow) {
		std::string p = image_path(path), v = bytes_of(value);
		checked(path, [&] {
			return follow ? lkl_sys_setxattr(p.c_str(), name.c_str(), v.data(),
							 v.size(), flags)
				      : lkl_sys_lsetxattr(p.c_str(), name.c_str(), v.data(),
							  v.size(), flags);
		});
	});
	m.def("removexattr", [](const py::bytes &path, const std::string &name, bool follow) {
		std::string p = image_path(path);
		checked(path, [&] {
			return follow ? lkl_sys_removexattr(p.c_str(), name.c_str())
				      : lkl_sys_lremovexattr(p.c_str(), name.c_str());
		});
	});
	m.def("listxattr", [](const py::bytes &path, bool follow) {
		std::string p = image_path(path), names;
		checked(path, [&]() -> long {
			for (;;) {
				long size = follow ? lkl_sys_listxattr(p.c_str(), nullptr, 0)
						   : lkl_sys_llistxattr(p.c_str(), nullptr, 0);
				if (size <= 0)
					return size;
				names.resize(static_cast<std::size_t>(size));
				long got = follow ? lkl_sys_listxattr(p.c_str(), names.data(), names.size())
						  : lkl_sys_llistxattr(p.c_str(), names.data(), names.size());
				if (got != -LKL_ERANGE) {
					if (got >= 0)
						names.resize(static_cast<std::size_t>(got));
					return got;
				}
			}
		});
		std::vector<std::string> out;
		for (std::size_t at = 0; at < names.size();) {
			std::size_t end = names.find('\0', at);
			if (end == std::string::npos)
				end = names.size();
			out.push_back(names.substr(at, end - at));
			at = end + 1;
		}
		return out;
	});
	// os.statvfs_result's fields.
	m.def("statvfs", [](const py::bytes &path) {
		std::string p = image_path(path);
		struct lkl_statfs s {};
		checked(path, [&] { return lkl_sys_statfs(p.c_str(), &s); });
		unsigned long long fsid = (static_cast<unsigned long long>(
						   static_cast<unsigned>(s.f_fsid.val[0]))) |
					  (static_cast<unsigned long long>(
						   static_cast<unsigned>(s.f_fsid.val[1])) << 32);
		return py::make_tuple(s.f_bsize, s.f_frsize, s.f_blocks, s.f_bfree,
				      s.f_bavail, s.f_files, s.f_ffree, s.f_ffree,
				      s.f_flags, s.f_namelen, fsid);
	});
	m.def("sync", [] {
		py::gil_scoped_release release;
		lkl_sys_sync();
	});
	m.def("copy_in", [](const std::string &host, const std::string &image) {
		py::gil_scoped_release release;
		return copy_tree(true, host, image);
	});
	m.def("copy_out", [](const std::string &image, const std::string &host) {
		py::gil_scoped_release release;
		return copy_tree(false, image, host);
	});
}
