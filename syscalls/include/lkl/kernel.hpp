// SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note
#ifndef LKL_KERNEL_HPP
#define LKL_KERNEL_HPP

// A thin C++20 layer over the C API of <lkl.h>: RAII for the kernel and for
// file descriptors, errors as std::error_code. Everything here calls the C
// functions; nothing goes around them. Exceptions never cross into C: the
// only throwing entry point is the Kernel constructor, on the C++ side.
//
// LKL errno numbers are Linux's, so an error is a std::error_code in
// std::generic_category() and compares equal to std::errc values:
//
//     std::error_code ec;
//     auto fd = lkl::open("/etc/x", LKL_O_RDONLY, 0, ec);
//     if (ec == std::errc::no_such_file_or_directory) ...

#if __cplusplus < 202002L
#error "lkl/kernel.hpp needs C++20"
#endif

#include <lkl.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lkl {

// The error in a kernel result: none for ret >= 0, else errno -ret.
inline std::error_code errc(long ret) noexcept
{
	if (ret >= 0)
		return {};
	return {static_cast<int>(-ret), std::generic_category()};
}

namespace detail {
inline std::atomic<bool> &kernel_up() noexcept
{
	static std::atomic<bool> up{false};
	return up;
}
} // namespace detail

// The kernel, booted by the constructor (or Kernel::boot) and halted by the
// destructor. There is one kernel per process: a second one fails with
// EBUSY while the first is up.
class Kernel {
public:
	// Boots with the kernel command line cmdline (e.g. "mem=64M").
	// Throws std::system_error on failure.
	explicit Kernel(std::string_view cmdline = {})
	{
		std::error_code ec;
		start(cmdline, ec);
		if (ec)
			throw std::system_error(ec, "lkl: booting the kernel");
		running_ = true;
	}

	// The same without exceptions: an empty optional and ec set on failure.
	static std::optional<Kernel> boot(std::string_view cmdline,
					  std::error_code &ec) noexcept
	{
		start(cmdline, ec);
		if (ec)
			return std::nullopt;
		return std::optional<Kernel>(Kernel(Started{}));
	}

	Kernel(Kernel &&other) noexcept
		: running_(std::exchange(other.running_, false))
	{
	}
	Kernel &operator=(Kernel &&) = delete;
	Kernel(const Kernel &) = delete;
	Kernel &operator=(const Kernel &) = delete;

	~Kernel() { halt(); }

	// Halts the kernel (lkl_sys_halt, then lkl_cleanup) if this object
	// still owns it. Returns the halt's error, if any.
	std::error_code halt() noexcept
	{
		if (!std::exchange(running_, false))
			return {};
		long ret = lkl_sys_halt();
		lkl_cleanup();
		detail::kernel_up().store(false);
		return errc(ret);
	}

	bool running() const noexcept { return running_; }

private:
	struct Started {};
	explicit Kernel(Started) noexcept : running_(true) {}

	static void start(std::string_view cmdline,
			  std::error_code &ec) noexcept
	{
		ec.clear();
		if (detail::kernel_up().exchange(true)) {
			ec = std::make_error_code(std::errc::device_or_resource_busy);
			return;
		}
		try {
			std::string line(cmdline);
			long ret = lkl_init(&lkl_host_ops);
			if (ret >= 0)
				ret = lkl_start_kernel("%s", line.c_str());
			ec = errc(ret);
		} catch (const std::bad_alloc &) {
			ec = std::make_error_code(std::errc::not_enough_memory);
		}
		if (ec)
			detail::kernel_up().store(false);
	}

	bool running_ = false;
};

// An owned kernel file descriptor, closed on destruction. Move-only.
class Fd {
public:
	Fd() noexcept = default;
	explicit Fd(int fd) noexcept : fd_(fd) {}
	Fd(Fd &&other) noexcept : fd_(other.release()) {}
	Fd &operator=(Fd &&other) noexcept
	{
		if (this != &other)
			reset(other.release());
		return *this;
	}
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
	~Fd() { reset(); }

	int get() const noexcept { return fd_; }
	explicit operator bool() const noexcept { return fd_ >= 0; }

	// Gives up ownership: the caller closes the descriptor.
	int release() noexcept { return std::exchange(fd_, -1); }

	// Closes the current descriptor (ignoring errors) and owns fd.
	void reset(int fd = -1) noexcept
	{
		int old = std::exchange(fd_, fd);
		if (old >= 0)
			lkl_sys_close(static_cast<unsigned int>(old));
	}

	// Closes now and reports the kernel's answer.
	std::error_code close() noexcept
	{
		if (fd_ < 0)
			return {};
		return errc(lkl_sys_close(static_cast<unsigned int>(release())));
	}

private:
	int fd_ = -1;
};

// open(2) relative to the kernel's current directory; flags are LKL_O_*.
inline Fd open(const char *path, int flags, unsigned int mode,
	       std::error_code &ec) noexcept
{
	long ret = lkl_sys_openat(LKL_AT_FDCWD, path, flags,
				  static_cast<lkl_umode_t>(mode));
	ec = errc(ret);
	return ec ? Fd() : Fd(static_cast<int>(ret));
}

// read(2): the number of bytes read (0 at end of file, or on error).
inline std::size_t read(int fd, std::span<std::byte> buf,
			std::error_code &ec) noexcept
{
	long ret = lkl_sys_read(static_cast<unsigned int>(fd),
				reinterpret_cast<char *>(buf.data()),
				buf.size());
	ec = errc(ret);
	return ec ? 0 : static_cast<std::size_t>(ret);
}

// write(2): the number of bytes written (0 on error).
inline std::size_t write(int fd, std::span<const std::byte> buf,
			 std::error_code &ec) noexcept
{
	long ret = lkl_sys_write(static_cast<unsigned int>(fd),
				 reinterpret_cast<const char *>(buf.data()),
				 buf.size());
	ec = errc(ret);
	return ec ? 0 : static_cast<std::size_t>(ret);
}

// pread(2) at a byte offset.
inline std::size_t pread(int fd, std::span<std::byte> buf,
			 std::uint64_t offset, std::error_code &ec) noexcept
{
	long ret = lkl_sys_pread64(static_cast<unsigned int>(fd),
				   reinterpret_cast<char *>(buf.data()),
				   buf.size(),
				   static_cast<lkl_loff_t>(offset));
	ec = errc(ret);
	return ec ? 0 : static_cast<std::size_t>(ret);
}

// pwrite(2) at a byte offset.
inline std::size_t pwrite(int fd, std::span<const std::byte> buf,
			  std::uint64_t offset, std::error_code &ec) noexcept
{
	long ret = lkl_sys_pwrite64(static_cast<unsigned int>(fd),
				    reinterpret_cast<const char *>(buf.data()),
				    buf.size(),
				    static_cast<lkl_loff_t>(offset));
	ec = errc(ret);
	return ec ? 0 : static_cast<std::size_t>(ret);
}

// A kernel stat as the host's struct stat (same numbers: device numbers
// use the same encoding, times are kept to the nanosecond).
inline struct ::stat host_stat(const struct lkl_stat &k) noexcept
{
	struct ::stat st {};
	st.st_dev = k.st_dev;
	st.st_ino = k.st_ino;
	st.st_mode = k.st_mode;
	st.st_nlink = k.st_nlink;
	st.st_uid = k.st_uid;
	st.st_gid = k.st_gid;
	st.st_rdev = k.st_rdev;
	st.st_size = k.st_size;
	st.st_blksize = k.st_blksize;
	st.st_blocks = k.st_blocks;
	st.st_atim = {k.lkl_st_atime, static_cast<long>(k.st_atime_nsec)};
	st.st_mtim = {k.lkl_st_mtime, static_cast<long>(k.st_mtime_nsec)};
	st.st_ctim = {k.lkl_st_ctime, static_cast<long>(k.st_ctime_nsec)};
	return st;
}

// mkdir(2).
inline std::error_code mkdir(const char *path, unsigned int mode) noexcept
{
	return errc(lkl_sys_mkdirat(LKL_AT_FDCWD, path,
				    static_cast<lkl_umode_t>(mode)));
}

// stat(2) (follow_symlinks = false: lstat).
inline struct lkl_stat stat(const char *path, std::error_code &ec,
			    bool follow_symlinks = true) noexcept
{
	struct lkl_stat st {};
	ec = errc(lkl_sys_newfstatat(LKL_AT_FDCWD, path, &st,
				     follow_symlinks ? 0
						     : LKL_AT_SYMLINK_NOFOLLOW));
	return st;
}

// A host disk image given to the kernel: opened, added with lkl_disk_add,
// and removed and closed on destruction (after any Mount on it is gone).
class Disk {
public:
	// How the host side caches the image: through the host page cache
	// (a thread pool), or none (O_DIRECT with Linux AIO; where the host
	// file system refuses O_DIRECT, e.g. tmpfs, the image is opened
	// buffered instead).
	enum class Cache { writeback, none };
	// Whether a block device is opened exclusively (O_EXCL): then the
	// host kernel refuses the open with EBUSY while it has the device or a
	// partition of it mounted or held, and refuses to mount it while the
	// Disk has it. Regular files are not affected.
	enum class Sharing { exclusive, shared };

	// How to add the disk (see struct lkl_disk_opts in <lkl.h>).
	struct Options {
		Cache cache = Cache::writeback;
		Sharing sharing = Sharing::exclusive;
		// A write log at this host path (nullptr: none).
		const char *write_log = nullptr;
		// LKL_DISK_TEST_FAULT_* (tests of power-loss tests only).
		unsigned int flags = 0;
	};

	// How to open an image of any format (see lkl_disk_add_image).
	struct ImageOptions {
		// "auto" (from the file's header), "raw", "qcow2", "vmdk",
		// "vhdx", "vdi" or "vpc".
		const char *format = "auto";
		bool read_only = false;
		// Writes go to a temporary qcow2 overlay; the image is only
		// read unless apply_overlay() is called before remove().
		bool overlay = false;
	};

	Disk() noexcept = default;
	Disk(Disk &&other) noexcept
		: disk_(other.disk_), id_(std::exchange(other.id_, -1)),
		  error_(std::move(other.error_))
	{
		other.disk_.fd = -1;
	}
	Disk &operator=(Disk &&other) noexcept
	{
		if (this != &other) {
			remove();
			disk_ = other.disk_;
			id_ = std::exchange(other.id_, -1);
			other.disk_.fd = -1;
			error_ = std::move(other.error_);
		}
		return *this;
	}
	Disk(const Disk &) = delete;
	Disk &operator=(const Disk &) = delete;
	~Disk() { remove(); }

	// Opens path (read-only: the kernel sees a read-only disk and the
	// file is never written) and adds it. ec set and no disk on failure
	// (std::errc::device_or_resource_busy: a block device the host uses).
	static Disk open(const char *path, bool read_only, std::error_code &ec,
			 Cache cache = Cache::writeback,
			 Sharing sharing = Sharing::exclusive) noexcept
	{
		Options opts;
		opts.cache = cache;
		opts.sharing = sharing;
		return open(path, read_only, ec, opts);
	}

	// The same with a write log or other options (lkl_disk_add_opts).
	static Disk open(const char *path, bool read_only, std::error_code &ec,
			 const Options &opts) noexcept
	{
		bool direct = opts.cache == Cache::none;
		int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC |
			    (opts.sharing == Sharing::exclusive ? O_EXCL : 0);
		int fd = ::open(path, flags | (direct ? O_DIRECT : 0));
		if (fd < 0 && direct && errno == EINVAL)
			fd = ::open(path, flags);
		if (fd < 0) {
			ec = {errno, std::generic_category()};
			return {};
		}
		Disk disk;
		disk.disk_.fd = fd;
		struct lkl_disk_opts o = {};
		o.write_log = opts.write_log;
		o.flags = opts.flags;
		int id = lkl_disk_add_opts(&disk.disk_, &o);
		ec = errc(id);
		if (!ec)
			disk.id_ = id;
		return disk;
	}

	// Opens the image at path in its format (lkl_disk_add_image): a raw
	// file directly, any other through a private qemu-nbd. ec set and
	// no disk on failure, with the reason in words in error().
	static Disk open_image(const char *path, const ImageOptions &opts,
			       std::error_code &ec) noexcept
	{
		Disk disk;
		if (!disk.make_error_buffer(ec))
			return disk;
		struct lkl_image_opts o = {};
		o.format = opts.format;
		o.flags = (opts.read_only ? LKL_IMAGE_READ_ONLY : 0) |
			  (opts.overlay ? LKL_IMAGE_OVERLAY : 0);
		o.error = disk.error_.get();
		o.error_len = error_len;
		int id = lkl_disk_add_image(&disk.disk_, path, &o);
		ec = errc(id);
		if (!ec)
			disk.id_ = id;
		return disk;
	}

	// Connects to the NBD export at uri (nbd://HOST[:PORT]/EXPORT,
	// nbd+unix:///EXPORT?socket=PATH) with lkl_disk_add_nbd.
	static Disk open_nbd(const char *uri, bool read_only,
			     std::error_code &ec) noexcept
	{
		Disk disk;
		if (!disk.make_error_buffer(ec))
			return disk;
		struct lkl_nbd_opts o = {};
		o.uri = uri;
		o.flags = read_only ? LKL_NBD_READ_ONLY : 0;
		o.error = disk.error_.get();
		o.error_len = error_len;
		int id = lkl_disk_add_nbd(&disk.disk_, &o);
		ec = errc(id);
		if (!ec)
			disk.id_ = id;
		return disk;
	}

	// Why open_image(), open_nbd() or the overlay's apply in remove()
	// failed, in one line ("" if nothing said more than the errno).
	std::string error() const
	{
		return error_ ? std::string(error_.get()) : std::string();
	}

	// Have remove() commit the overlay into the image
	// (lkl_disk_apply_overlay); EINVAL when there is no overlay.
	std::error_code apply_overlay() noexcept
	{
		if (!error_)
			return std::make_error_code(std::errc::invalid_argument);
		return errc(lkl_disk_apply_overlay(disk_, error_.get(), error_len));
	}

	// Places a mark in the disk's write log (lkl_disk_log_mark).
	std::error_code mark(const char *name) const noexcept
	{
		return errc(lkl_disk_log_mark(disk_, name));
	}

	explicit operator bool() const noexcept { return id_ >= 0; }
	// The kernel's disk id (for lkl_mount_dev), -1 when there is none.
	int id() const noexcept { return id_; }
	// The host file descriptor of the image; -1 for one opened with
	// open_image() or open_nbd().
	int fd() const noexcept { return disk_.fd; }

	// Removes the disk from the kernel and closes the image.
	std::error_code remove() noexcept
	{
		std::error_code ec;
		if (id_ >= 0)
			ec = errc(lkl_disk_remove(disk_));
		id_ = -1;
		if (disk_.fd >= 0)
			::close(std::exchange(disk_.fd, -1));
		return ec;
	}

private:
	static constexpr unsigned long error_len = 1024;

	bool make_error_buffer(std::error_code &ec) noexcept
	{
		error_.reset(new (std::nothrow) char[error_len]());
		if (!error_)
			ec = std::make_error_code(std::errc::not_enough_memory);
		return error_ != nullptr;
	}

	struct lkl_disk disk_ = {nullptr, {-1}, nullptr};
	int id_ = -1;
	// Where the C API writes its one-line reasons (open_image, open_nbd).
	std::unique_ptr<char[]> error_;
};

// A partition (0: the whole disk) of a Disk mounted in the kernel with
// lkl_mount_dev; unmounted on destruction. Destroy it before its Disk.
class Mount {
public:
	Mount() noexcept = default;
	Mount(Mount &&other) noexcept
		: disk_(std::exchange(other.disk_, -1)), part_(other.part_),
		  path_(std::move(other.path_))
	{
	}
	Mount &operator=(Mount &&other) noexcept
	{
		if (this != &other) {
			unmount();
			disk_ = std::exchange(other.disk_, -1);
			part_ = other.part_;
			path_ = std::move(other.path_);
		}
		return *this;
	}
	Mount(const Mount &) = delete;
	Mount &operator=(const Mount &) = delete;
	~Mount() { unmount(); }

	// fs_type nullptr: detected from the superblock. flags are LKL_MS_*,
	// opts the file system's mount options (may be nullptr).
	static Mount mount(const Disk &disk, unsigned int part,
			   const char *fs_type, int flags, const char *opts,
			   std::error_code &ec) noexcept
	{
		char where[64];
		ec = errc(lkl_mount_dev(static_cast<unsigned int>(disk.id()),
					part, fs_type, flags, opts, where,
					sizeof(where)));
		Mount m;
		if (ec)
			return m;
		try {
			m.path_ = where;
		} catch (const std::bad_alloc &) {
			lkl_umount_dev(static_cast<unsigned int>(disk.id()),
				       part, 0, default_timeout_ms);
			ec = std::make_error_code(std::errc::not_enough_memory);
			return m;
		}
		m.disk_ = disk.id();
		m.part_ = part;
		return m;
	}

	explicit operator bool() const noexcept { return disk_ >= 0; }
	// Where it is mounted inside the kernel, e.g. "/mnt/vda".
	const std::string &path() const noexcept { return path_; }

	// Unmounts, waiting up to timeout_ms while the file system is busy.
	std::error_code unmount(long timeout_ms = default_timeout_ms) noexcept
	{
		if (disk_ < 0)
			return {};
		long ret = lkl_umount_dev(
			static_cast<unsigned int>(std::exchange(disk_, -1)),
			part_, 0, timeout_ms);
		return errc(ret);
	}

	static constexpr long default_timeout_ms = 10000;

private:
	int disk_ = -1;
	unsigned int part_ = 0;
	std::string path_;
};

} // namespace lkl

#endif // LKL_KERNEL_HPP
