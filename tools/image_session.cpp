#include "image_session.hpp"

#include "fs_probe.hpp"
#include "host_use.hpp"
#include "image_lock.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

// Why a writable open of @path failed, with what the user can do about it.
std::string open_error(const std::string &path, std::error_code ec, bool read_only)
{
	std::string why = path + ": " + ec.message();
	if (read_only)
		return why;
	if (ec == std::errc::device_or_resource_busy)
		return path + ": in use by the host (mounted, or held by another "
			      "user of the device); writing it now would damage "
			      "its file system";
	if (ec == std::errc::operation_not_permitted) {
		int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
		int attrs = 0;
		bool got = fd >= 0 && ioctl(fd, FS_IOC_GETFLAGS, &attrs) == 0;
		if (fd >= 0)
			::close(fd);
		if (got && (attrs & FS_IMMUTABLE_FL))
			return path + ": the file is immutable (chattr +i): it can "
				      "still be opened read-only";
		if (got && (attrs & FS_APPEND_FL))
			return path + ": the file is append-only (chattr +a): it "
				      "can still be opened read-only";
	}
	if (ec == std::errc::permission_denied ||
	    ec == std::errc::read_only_file_system ||
	    ec == std::errc::operation_not_permitted)
		why += " (it can still be opened read-only)";
	return why;
}

// The file system's own option for "do not replay the journal or log".
std::string norecovery_option(const std::string &type)
{
	if (type == "xfs" || type == "ext4")
		return "norecovery";
	if (type == "btrfs")
		return "rescue=nologreplay";
	return {}; // vfat keeps no journal
}

// The generic mount flags among a comma-separated list of options (the
// ones mount(8) turns into flags rather than passing them on), added to
// or removed from flags; the rest, for the file system.
std::string take_mount_flags(const std::string &opts, unsigned long &flags)
{
	struct Flag {
		const char *name;
		unsigned long set, clear;
	};
	static const Flag table[] = {
		{"ro", LKL_MS_RDONLY, 0},
		{"rw", 0, 0}, // read-write unless ro is given to lklfuse
		{"nosuid", LKL_MS_NOSUID, 0},
		{"suid", 0, LKL_MS_NOSUID},
		{"nodev", LKL_MS_NODEV, 0},
		{"dev", 0, LKL_MS_NODEV},
		{"noexec", LKL_MS_NOEXEC, 0},
		{"exec", 0, LKL_MS_NOEXEC},
		{"sync", LKL_MS_SYNCHRONOUS, 0},
		{"async", 0, LKL_MS_SYNCHRONOUS},
		{"dirsync", LKL_MS_DIRSYNC, 0},
		{"noatime", LKL_MS_NOATIME, 0},
		{"atime", 0, LKL_MS_NOATIME},
		{"nodiratime", LKL_MS_NODIRATIME, 0},
		{"diratime", 0, LKL_MS_NODIRATIME},
		{"relatime", LKL_MS_RELATIME, LKL_MS_STRICTATIME},
		{"norelatime", 0, LKL_MS_RELATIME},
		{"strictatime", LKL_MS_STRICTATIME, LKL_MS_RELATIME},
		{"nostrictatime", 0, LKL_MS_STRICTATIME},
		{"lazytime", LKL_MS_LAZYTIME, 0},
		{"nolazytime", 0, LKL_MS_LAZYTIME},
		{"silent", LKL_MS_SILENT, 0},
		{"loud", 0, LKL_MS_SILENT},
		{"defaults", 0, 0},
	};
	std::string rest;
	std::size_t start = 0;
	while (start <= opts.size()) {
		std::size_t end = opts.find(',', start);
		if (end == std::string::npos)
			end = opts.size();
		std::string opt = opts.substr(start, end - start);
		start = end + 1;
		if (opt.empty())
			continue;
		const Flag *flag = nullptr;
		for (const Flag &f : table)
			if (opt == f.name)
				flag = &f;
		if (flag) {
			flags = (flags | flag->set) & ~flag->clear;
			continue;
		}
		rest += (rest.empty() ? "" : ",") + opt;
	}
	return rest;
}

std::string join_options(const std::string &a, const std::string &b)
{
	if (a.empty() || b.empty())
		return a + b;
	return a + "," + b;
}

// Did a read-only mount fail because the journal or log must be replayed
// first? The file systems say so only in their messages: XFS "recovery
// required on read-only device", ext4 "recovery required on readonly
// filesystem", btrfs "log replay required on RO media".
bool needs_log_replay(const std::string &said)
{
	return said.find("recovery required") != std::string::npos ||
	       said.find("log replay required") != std::string::npos;
}

// The numbers of @partitions, "1, 2, 5".
std::string list(const std::vector<unsigned> &partitions)
{
	std::string out;
	for (unsigned p : partitions)
		out += (out.empty() ? "" : ", ") + std::to_string(p);
	return out;
}

// The kernel's type name for what partition @part of @disk holds, or ""
// with @error saying what is there instead and @why the errno.
std::string find_type(const std::string &image, const lkl::Disk &disk,
		      unsigned part, std::string &error, int &why,
		      const uint32_t *volume = nullptr)
{
	Probe found;
	int err = volume ? probe_device(*volume, false, -1, found)
			 : probe(disk.id(), part, disk.fd(), found);
	why = -err;
	if (err == -ENXIO) {
		error = image + ": no partition " + std::to_string(part);
		return {};
	}
	if (err < 0) {
		error = image + ": reading it: " + errno_text(-err);
		return {};
	}
	// mount(2)'s answer for a file system it cannot take.
	why = EINVAL;
	std::string where = part ? " (partition " + std::to_string(part) + ")" : "";
	if (volume)
		where = "";
	std::string type = kernel_fs_type(found.type);
	if (found.ambiguous)
		error = image + where + ": several file system signatures; give "
					"the type to use";
	else if (type.empty() && !found.table.empty())
		error = image + ": holds a " + found.table + " partition table, "
			"not a file system: choose one of its partitions (" +
			list(found.partitions) + ")";
	else if (type.empty() && !found.type.empty())
		error = image + where + ": holds " + found.type + ", not a file "
			"system lkl mounts (xfs, ext4, btrfs, vfat)";
	else if (type.empty())
		error = image + where + ": no xfs, ext4, btrfs or vfat file system "
					"found";
	return found.ambiguous ? std::string() : type;
}

// Why mounting failed, in words, with what to do about it where we know.
std::string mount_error(const ImageOptions &options, const std::string &type,
			const std::string &opts, std::error_code ec,
			const std::string &said)
{
	const std::string &image = options.image;
	if (ec == std::errc::no_such_device_or_address)
		return image + ": no partition " + std::to_string(options.part);
	if (options.read_only && !options.norecovery && needs_log_replay(said))
		return image + ": the " + type + " file system was not unmounted "
			"cleanly and its log must be replayed, which a read-only "
			"open cannot do: open it read-write to replay it, or use "
			"norecovery to read its last checkpoint without the changes "
			"still in the log";
	if (ec == std::errc::invalid_argument && !opts.empty())
		return image + ": " + type + " refused the mount options \"" +
		       opts + "\"";
	return image + ": cannot mount as " + type + ": " + ec.message();
}

// Sets @format to what the header of the image at @path says it is;
// false with @error and errno set if it cannot be read.
bool detect_format(const std::string &path, std::string &format,
		   std::string &error)
{
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error = path + ": " + errno_text(errno);
		return false;
	}
	const char *found = nullptr;
	int err = lkl_image_format(fd, &found);
	::close(fd);
	if (err < 0) {
		error = path + ": reading its header: " + errno_text(-err);
		errno = -err;
		return false;
	}
	format = found;
	return true;
}

// What qemu-img check says of the @format image @path, in one line, if it
// finds errors (exit status 2; leaked clusters, 3, harm no data): why lkl
// found no file system on it. "" otherwise. -U: our qemu-nbd holds the
// image's lock meanwhile.
std::string image_damage(const std::string &path, const std::string &format)
{
	std::string quoted = "'";
	for (char c : path)
		quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
	quoted += "'";
	FILE *p = popen(("qemu-img check -U -f " + format + " " + quoted + " 2>&1").c_str(),
			"r");
	if (!p)
		return {};
	std::string first, summary;
	char line[1024];
	while (fgets(line, sizeof(line), p)) {
		std::string l = line;
		while (!l.empty() && l.back() == '\n')
			l.pop_back();
		if (first.empty() && l.rfind("ERROR", 0) == 0)
			first = l;
		if (l.find("errors were found") != std::string::npos ||
		    l.find("error was found") != std::string::npos)
			summary = l;
	}
	int status = pclose(p);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 2)
		return {};
	return "a damaged " + format + " image (qemu-img check: " +
	       (summary.empty() ? std::string("errors") : summary) +
	       (first.empty() ? "" : " " + first) + ")";
}

} // namespace

bool is_nbd_uri(const std::string &image)
{
	// The schemes of the NBD URI specification.
	for (const char *scheme : {"nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
				   "nbd+vsock://", "nbds+vsock://"})
		if (image.rfind(scheme, 0) == 0)
			return true;
	return false;
}

bool known_format(const std::string &format)
{
	for (const char *f : {"auto", "raw", "qcow2", "vmdk", "vhdx", "vdi", "vpc"})
		if (format == f)
			return true;
	return false;
}

bool parse_overlay(const std::string &text, Overlay &overlay)
{
	if (text == "discard")
		overlay = Overlay::discard;
	else if (text == "apply")
		overlay = Overlay::apply;
	else
		return false;
	return true;
}

std::string recent_kernel_messages()
{
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	return std::exchange(log.recent, {});
}

std::unique_ptr<ImageSession> ImageSession::open(const ImageOptions &options,
						 std::string &error,
						 std::error_code *code)
{
	auto s = std::make_unique<ImageSession>(Key());
	if (s->start(options, error))
		return s;
	if (code)
		*code = s->code_;
	// What was noticed on the way may be why it failed.
	for (const std::string &warning : s->warnings_)
		error += "\nnote: " + warning;
	return nullptr;
}

bool ImageSession::refuse_host_use(const ImageOptions &options,
				   const struct stat &st, std::string &error)
{
	// A block device the host uses is refused by its O_EXCL open.
	if (!S_ISREG(st.st_mode))
		return false;
	for (const LoopUser &loop : loop_devices_backed_by(st, !options.read_only)) {
		if (loop.claim >= 0)
			loop_claims_.push_back(loop.claim);
		if (!loop.busy)
			continue;
		if (!options.read_only) {
			error = options.image + ": in use by the host: " + loop.device +
				", backed by this file, is mounted or held; writing "
				"the image now would damage its file system (unmount "
				"it first, or open the image read-only)";
			return true;
		}
		warnings_.push_back(options.image + ": " + loop.device +
				    ", backed by this file, is in use by the host: "
				    "what is read may be stale");
	}
	return false;
}

bool ImageSession::start(const ImageOptions &options, std::string &error)
{
	const std::string &image = options.image;
	image_ = image;
	read_only_ = options.read_only;
	auto fail = [this](int err) {
		code_ = std::error_code(err, std::generic_category());
		return false;
	};

	bool uri = is_nbd_uri(image);
	if (!known_format(options.format)) {
		error = options.format + ": unknown image format (auto, raw, qcow2, "
					 "vmdk, vhdx, vdi or vpc)";
		return fail(EINVAL);
	}
	if (uri && options.format != "auto" && options.format != "raw") {
		error = image + ": an NBD export is served as a disk already; its "
				"format is the server's business";
		return fail(EINVAL);
	}
	if (uri && options.overlay != Overlay::none) {
		error = image + ": an overlay needs an image file; serve the export "
				"with its own snapshot instead";
		return fail(EINVAL);
	}
	if (options.norecovery && !options.read_only) {
		error = image + ": norecovery reads the last checkpoint and needs "
				"a read-only open";
		return fail(EINVAL);
	}
	// An overlay that is discarded leaves the image as it was.
	bool shared = options.read_only || options.overlay == Overlay::discard;
	if (!uri) {
		struct stat st {};
		if (::stat(image.c_str(), &st) < 0) {
			error = image + ": " + errno_text(errno);
			return fail(errno);
		}
		if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
			error = image + ": not a regular file or block device";
			return fail(ENOTBLK);
		}
		image_lock_fd_ = lock_image(image, shared, false, lock_wait_s,
					    options.notice, error);
		if (image_lock_fd_ < 0)
			return fail(errno);
		ImageOptions host_use = options;
		host_use.read_only = shared;
		if (refuse_host_use(host_use, st, error))
			return fail(EBUSY);
	}
	if (!options.lock.empty()) {
		extra_lock_fd_ = lock_image(options.lock, shared, true,
					    lock_wait_s, options.notice, error);
		if (extra_lock_fd_ < 0)
			return fail(errno);
	}
	std::string format = options.format;
	if (!uri && format == "auto" && !detect_format(image, format, error))
		return fail(errno);

	KernelLog &log = kernel_log();
	if (!options.log.empty()) {
		std::lock_guard guard(log.lock);
		log.file = fopen(options.log.c_str(), "ae");
		if (!log.file) {
			error = options.log + ": " + errno_text(errno);
			return fail(errno);
		}
	}
	lkl_host_ops.print = print_to_log;

	// Informational messages too: they explain failed mounts. They are
	// kept in memory and shown only then (or written to options.log).
	std::error_code ec;
	auto kernel = lkl::Kernel::boot(
		"mem=" + std::to_string(options.mb) + "M loglevel=7", ec);
	if (ec) {
		error = "booting the kernel: " + ec.message();
		return fail(ec.value());
	}
	kernel_.emplace(std::move(*kernel));

	overlay_ = options.overlay;
	if (uri) {
		disk_ = lkl::Disk::open_nbd(image.c_str(), options.read_only, ec);
	} else if (format != "raw" || options.overlay != Overlay::none) {
		lkl::Disk::ImageOptions opts;
		opts.format = format.c_str();
		opts.read_only = options.read_only;
		opts.overlay = options.overlay != Overlay::none;
		disk_ = lkl::Disk::open_image(image.c_str(), opts, ec);
	} else {
		disk_ = lkl::Disk::open(image.c_str(), options.read_only, ec);
	}
	if (ec && !disk_.error().empty()) {
		// lkl_disk_add_image() names the file; libnbd not the URI.
		error = (uri ? image + ": " : "") + disk_.error();
		return fail(ec.value());
	}
	if (ec == std::errc::device_or_resource_busy && options.read_only) {
		warnings_.push_back(image + ": in use by the host (mounted, or "
					    "held): what is read may be stale");
		disk_ = lkl::Disk::open(image.c_str(), true, ec,
					lkl::Disk::Cache::writeback,
					lkl::Disk::Sharing::shared);
	}
	if (ec) {
		error = open_error(image, ec, options.read_only);
		return fail(ec.value());
	}

	recent_kernel_messages();
	uint32_t volume_dev = 0;
	if (!options.volume.empty()) {
		char said[512] = "";
		int err = lkl_lvm_activate(options.volume.c_str(),
					   options.read_only ? LKL_LVM_READ_ONLY : 0,
					   &volume_dev, said, sizeof(said));
		if (err < 0) {
			error = image + ": " + (said[0] ? said : errno_text(-err));
			return fail(-err);
		}
		volume_ = options.volume;
	}
	std::string type = options.type;
	int why = 0;
	if (type.empty())
		type = find_type(image, disk_, options.part, error, why,
				 volume_.empty() ? nullptr : &volume_dev);
	flags_ = options.read_only ? LKL_MS_RDONLY : 0;
	std::string opts = take_mount_flags(options.opts, flags_);
	if (options.norecovery && !type.empty())
		opts = join_options(opts, norecovery_option(type));
	if (!type.empty() && !volume_.empty())
		ec = mount_volume(volume_dev, type, static_cast<int>(flags_), opts);
	else if (!type.empty())
		mount_ = lkl::Mount::mount(disk_, options.part, type.c_str(),
					   static_cast<int>(flags_),
					   opts.empty() ? nullptr : opts.c_str(), ec);
	if (type.empty() && !uri && format != "raw") {
		std::string damage = image_damage(image, format);
		if (!damage.empty())
			error = image + ": " + damage;
	}
	if (type.empty() || ec) {
		std::string said = recent_kernel_messages();
		if (!type.empty()) {
			error = mount_error(options, type, opts, ec, said);
			why = ec.value();
		}
		if (!said.empty())
			error += "\nthe kernel said:\n" + said;
		return fail(why);
	}
	type_ = type_of(root());
	return true;
}

std::error_code ImageSession::mount_volume(uint32_t dev, const std::string &type,
					   int flags, const std::string &opts)
{
	// A node and a mount point of its own, as lkl_mount_dev() makes them.
	static const char node[] = "/dev/lkl-volume", dir[] = "/mnt/volume";
	lkl_sys_mkdirat(LKL_AT_FDCWD, "/mnt", 0755);
	lkl_sys_mkdirat(LKL_AT_FDCWD, dir, 0700);
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	long err = lkl_sys_mknodat(LKL_AT_FDCWD, node, LKL_S_IFBLK | 0600, dev);
	if (!err)
		err = lkl_sys_mount(const_cast<char *>(node), const_cast<char *>(dir),
				    const_cast<char *>(type.c_str()),
				    static_cast<unsigned long>(flags),
				    opts.empty() ? nullptr : const_cast<char *>(opts.c_str()));
	if (err)
		return lkl::errc(err);
	volume_root_ = dir;
	return {};
}

std::string ImageSession::remount(bool read_only)
{
	if (!read_only && read_only_) {
		return image_ + ": it was opened read-only: unmount it and mount it "
				"again without ro to write it";
	}
	unsigned long flags = (flags_ & ~LKL_MS_RDONLY) | LKL_MS_REMOUNT |
			      (read_only ? LKL_MS_RDONLY : 0);
	long ret = lkl_sys_mount(nullptr, const_cast<char *>(root().c_str()),
				 nullptr, flags, nullptr);
	if (ret < 0)
		return image_ + ": remounting " + (read_only ? "read-only" : "read-write") +
		       ": " + errno_text(static_cast<int>(-ret));
	flags_ = flags & ~LKL_MS_REMOUNT;
	return {};
}

void ImageSession::finishing()
{
	for (int fd : {image_lock_fd_, extra_lock_fd_})
		if (fd >= 0)
			lkl_tools::finishing(fd);
}

std::string ImageSession::close()
{
	finishing();
	std::string failed;
	if (!volume_root_.empty()) {
		if (long err = lkl_umount_timeout(volume_root_.data(), 0,
						  lkl::Mount::default_timeout_ms))
			failed = "unmounting: " + errno_text(static_cast<int>(-err));
		volume_root_.clear();
	}
	if (!volume_.empty()) {
		if (int err = lkl_lvm_deactivate(volume_.c_str()); err && failed.empty())
			failed = volume_ + ": " + errno_text(-err);
		volume_.clear();
	}
	if (auto ec = mount_.unmount())
		failed = "unmounting: " + ec.message();
	// Only a file system unmounted cleanly goes into the image.
	if (overlay_ == Overlay::apply && disk_ && failed.empty())
		disk_.apply_overlay();
	if (auto ec = disk_.remove(); ec && failed.empty())
		failed = disk_.error().empty() ? "removing the disk: " + ec.message()
					       : disk_.error();
	if (kernel_) {
		if (auto ec = kernel_->halt(); ec && failed.empty())
			failed = "halting the kernel: " + ec.message();
		kernel_.reset();
	}
	for (int *fd : {&image_lock_fd_, &extra_lock_fd_})
		if (*fd >= 0)
			::close(std::exchange(*fd, -1));
	for (int fd : std::exchange(loop_claims_, {}))
		::close(fd);
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
