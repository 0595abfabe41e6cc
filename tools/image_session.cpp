#include "image_session.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lkl_tools {

namespace {

// The kernel console. Messages are kept (bounded) so that a failed mount
// can say what the file system logged; they also go to the log file.
struct KernelLog {
	static constexpr std::size_t keep = 16 * 1024;

	std::mutex lock;
	std::string recent;
	FILE *file = nullptr;
};

KernelLog &kernel_log()
{
	static KernelLog log;
	return log;
}

void print_to_log(const char *str, int len)
{
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	if (log.file) {
		fwrite(str, 1, static_cast<std::size_t>(len), log.file);
		fflush(log.file);
	}
	try {
		log.recent.append(str, static_cast<std::size_t>(len));
		if (log.recent.size() > KernelLog::keep)
			log.recent.erase(0, log.recent.size() - KernelLog::keep);
	} catch (const std::bad_alloc &) {
		log.recent.clear();
	}
}

std::string errno_text(int err)
{
	return std::strerror(err);
}

// The name of a mounted file system type, from statfs's magic number.
std::string type_of(const std::string &root)
{
	struct lkl_statfs sf {};
	if (lkl_sys_statfs(root.c_str(), &sf) < 0)
		return "unknown";
	switch (static_cast<unsigned long>(sf.f_type)) {
	case 0x58465342UL:
		return "xfs";
	case 0xef53UL:
		return "ext4";
	case 0x9123683eUL:
		return "btrfs";
	case 0x4d44UL:
		return "vfat";
	default:
		return "unknown";
	}
}

// Takes a whole-file lock on path: shared for a read-only user, else
// exclusive. Returns the descriptor holding it, or -1 with error set.
int lock_file(const std::string &path, bool shared, bool create,
	      std::string &error)
{
	int fd = ::open(path.c_str(),
			O_RDONLY | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
	if (fd < 0) {
		error = path + ": " + errno_text(errno);
		return -1;
	}
	if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		int err = errno;
		::close(fd);
		error = path + ": " +
			(err == EWOULDBLOCK ? std::string("in use by another process "
							  "(it is locked)")
					    : errno_text(err));
		return -1;
	}
	return fd;
}

} // namespace

std::string recent_kernel_messages()
{
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	return std::exchange(log.recent, {});
}

std::unique_ptr<ImageSession> ImageSession::open(const ImageOptions &options,
						 std::string &error)
{
	auto s = std::make_unique<ImageSession>(Key());
	const std::string &image = options.image;

	struct stat st {};
	if (::stat(image.c_str(), &st) < 0) {
		error = image + ": " + errno_text(errno);
		return nullptr;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		error = image + ": not a regular file or block device";
		return nullptr;
	}
	s->image_lock_fd_ = lock_file(image, options.read_only, false, error);
	if (s->image_lock_fd_ < 0)
		return nullptr;
	if (!options.lock.empty()) {
		s->extra_lock_fd_ = lock_file(options.lock, options.read_only,
					      true, error);
		if (s->extra_lock_fd_ < 0)
			return nullptr;
	}

	KernelLog &log = kernel_log();
	if (!options.log.empty()) {
		std::lock_guard guard(log.lock);
		log.file = fopen(options.log.c_str(), "ae");
		if (!log.file) {
			error = options.log + ": " + errno_text(errno);
			return nullptr;
		}
	}
	lkl_host_ops.print = print_to_log;

	std::error_code ec;
	auto kernel = lkl::Kernel::boot(
		"mem=" + std::to_string(options.mb) + "M", ec);
	if (ec) {
		error = "booting the kernel: " + ec.message();
		return nullptr;
	}
	s->kernel_.emplace(std::move(*kernel));

	s->disk_ = lkl::Disk::open(image.c_str(), options.read_only, ec);
	if (ec) {
		error = image + ": " + ec.message();
		if (!options.read_only &&
		    (ec == std::errc::permission_denied ||
		     ec == std::errc::read_only_file_system))
			error += " (it can still be opened read-only)";
		return nullptr;
	}

	recent_kernel_messages();
	s->mount_ = lkl::Mount::mount(
		s->disk_, options.part,
		options.type.empty() ? nullptr : options.type.c_str(),
		options.read_only ? LKL_MS_RDONLY : 0,
		options.opts.empty() ? nullptr : options.opts.c_str(), ec);
	if (ec) {
		if (ec == std::errc::no_such_device_or_address)
			error = image + ": no partition " +
				std::to_string(options.part);
		else if (options.type.empty() && ec == std::errc::invalid_argument)
			error = image + ": no xfs, ext4, btrfs or vfat file "
					"system found";
		else
			error = image + ": cannot mount" +
				(options.type.empty() ? "" : " as " + options.type) +
				": " + ec.message();
		std::string said = recent_kernel_messages();
		if (!said.empty())
			error += "\nthe kernel said:\n" + said;
		return nullptr;
	}
	s->type_ = type_of(s->root());
	return s;
}

std::string ImageSession::close()
{
	std::string failed;
	if (auto ec = mount_.unmount())
		failed = "unmounting: " + ec.message();
	if (auto ec = disk_.remove(); ec && failed.empty())
		failed = "removing the disk: " + ec.message();
	if (kernel_) {
		if (auto ec = kernel_->halt(); ec && failed.empty())
			failed = "halting the kernel: " + ec.message();
		kernel_.reset();
	}
	for (int *fd : {&image_lock_fd_, &extra_lock_fd_})
		if (*fd >= 0)
			::close(std::exchange(*fd, -1));
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	if (log.file) {
		fclose(log.file);
		log.file = nullptr;
	}
	return failed;
}

ImageSession::~ImageSession()
{
	close();
}

} // namespace lkl_tools
