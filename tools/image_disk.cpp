#include "image_disk.hpp"

#include "host_use.hpp"
#include "image_lock.hpp"
#include "kernel_session.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace lkl_tools {

namespace {

std::string errno_text(int err)
{
	return std::strerror(err);
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
bool asks_for_log_replay(const std::string &said)
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
std::string find_type(const ImageDisk &disk, unsigned part, std::string &error,
		      int &why)
{
	const std::string &image = disk.path();
	Probe found;
	int err = disk.probe(part, found);
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
std::string mount_error(const ImageOptions &options, unsigned part,
			const std::string &type, const std::string &opts,
			std::error_code ec, const std::string &said)
{
	const std::string &image = options.image;
	if (ec == std::errc::no_such_device_or_address)
		return image + ": no partition " + std::to_string(part);
	if (options.read_only && !options.norecovery && asks_for_log_replay(said))
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

} // namespace

std::string mounted_type(const std::string &root)
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

bool ImageDisk::fail(int err)
{
	code_ = std::error_code(err, std::generic_category());
	return false;
}

bool ImageDisk::refuse_host_use(const struct stat &st, std::string &error)
{
	// A block device the host uses is refused by its O_EXCL open.
	if (!S_ISREG(st.st_mode))
		return false;
	for (const LoopUser &loop : loop_devices_backed_by(st, !options_.read_only)) {
		if (loop.claim >= 0)
			loop_claims_.push_back(loop.claim);
		if (!loop.busy)
			continue;
		if (!options_.read_only) {
			error = options_.image + ": in use by the host: " + loop.device +
				", backed by this file, is mounted or held; writing "
				"the image now would damage its file system (unmount "
				"it first, or open the image read-only)";
			return true;
		}
		warnings_.push_back(options_.image + ": " + loop.device +
				    ", backed by this file, is in use by the host: "
				    "what is read may be stale");
	}
	return false;
}

bool ImageDisk::claim(std::string &error)
{
	const std::string &image = options_.image;
	struct stat st {};
	if (::stat(image.c_str(), &st) < 0) {
		error = image + ": " + errno_text(errno);
		return fail(errno);
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		error = image + ": not a regular file or block device";
		return fail(ENOTBLK);
	}
	if (options_.norecovery && !options_.read_only) {
		error = image + ": norecovery reads the last checkpoint and needs "
				"a read-only open";
		return fail(EINVAL);
	}
	image_lock_fd_ = lock_image(image, options_.read_only, false, lock_wait_s,
				    options_.notice, error);
	if (image_lock_fd_ < 0)
		return fail(errno);
	if (!options_.lock.empty()) {
		extra_lock_fd_ = lock_image(options_.lock, options_.read_only, true,
					    lock_wait_s, options_.notice, error);
		if (extra_lock_fd_ < 0)
			return fail(errno);
	}
	if (refuse_host_use(st, error))
		return fail(EBUSY);
	return true;
}

bool ImageDisk::attach(std::string &error)
{
	const std::string &image = options_.image;
	std::error_code ec;
	disk_ = lkl::Disk::open(image.c_str(), options_.read_only, ec);
	if (ec == std::errc::device_or_resource_busy && options_.read_only) {
		warnings_.push_back(image + ": in use by the host (mounted, or "
					    "held): what is read may be stale");
		disk_ = lkl::Disk::open(image.c_str(), true, ec,
					lkl::Disk::Cache::writeback,
					lkl::Disk::Sharing::shared);
	}
	if (ec) {
		error = open_error(image, ec, options_.read_only);
		return fail(ec.value());
	}
	return true;
}

int ImageDisk::probe(unsigned int part, Probe &found) const
{
	return lkl_tools::probe(disk_.id(), part, disk_.fd(), found);
}

bool ImageDisk::mount(unsigned int part, const std::string &type_asked,
		      const std::string &opts_asked, MountedFs &out,
		      std::string &error, bool norecovery)
{
	ImageOptions options = options_;
	options.norecovery = options.read_only &&
			     (options.norecovery || norecovery);
	recent_kernel_messages();
	std::string type = type_asked;
	int why = 0;
	if (type.empty())
		type = find_type(*this, part, error, why);
	unsigned long flags = options_.read_only ? LKL_MS_RDONLY : 0;
	std::string opts = take_mount_flags(opts_asked, flags);
	if (options.norecovery && !type.empty())
		opts = join_options(opts, norecovery_option(type));
	std::error_code ec;
	lkl::Mount mounted;
	if (!type.empty())
		mounted = lkl::Mount::mount(disk_, part, type.c_str(),
					    static_cast<int>(flags),
					    opts.empty() ? nullptr : opts.c_str(), ec);
	needs_log_replay_ = false;
	if (type.empty() || ec) {
		std::string said = recent_kernel_messages();
		needs_log_replay_ = !type.empty() && options.read_only &&
				    !options.norecovery && asks_for_log_replay(said);
		if (!type.empty()) {
			error = mount_error(options, part, type, opts, ec, said);
			why = ec.value();
		}
		if (!said.empty())
			error += "\nthe kernel said:\n" + said;
		return fail(why);
	}
	out.mount = std::move(mounted);
	out.part = part;
	out.flags = flags;
	out.type = mounted_type(out.root());
	return true;
}

void ImageDisk::finishing()
{
	for (int fd : {image_lock_fd_, extra_lock_fd_})
		if (fd >= 0)
			lkl_tools::finishing(fd);
}

std::string ImageDisk::detach()
{
	std::string failed;
	if (auto ec = disk_.remove())
		failed = "removing the disk: " + ec.message();
	for (int *fd : {&image_lock_fd_, &extra_lock_fd_})
		if (*fd >= 0)
			::close(std::exchange(*fd, -1));
	for (int fd : std::exchange(loop_claims_, {}))
		::close(fd);
	return failed;
}

ImageDisk::~ImageDisk()
{
	detach();
}

} // namespace lkl_tools
