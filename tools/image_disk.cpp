#include "image_disk.hpp"

#include "host_use.hpp"
#include "image_lock.hpp"
#include "kernel_session.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
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
		      int &why, const ActiveVolume *volume)
{
	const std::string &image = disk.path();
	Probe found;
	int err = volume ? probe_device(volume->dev(), false, -1, found)
			 : disk.probe(part, found);
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
	std::string where = volume ? " (" + volume->name() + ")"
			    : part ? " (partition " + std::to_string(part) + ")"
				   : "";
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
			const ActiveVolume *volume, const std::string &type,
			const std::string &opts, std::error_code ec,
			const std::string &said)
{
	if (ec == std::errc::no_such_device_or_address && !volume)
		return options.image + ": no partition " + std::to_string(part);
	std::string image = options.image + (volume ? " (" + volume->name() + ")" : "");
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

bool ImageDisk::refuse_host_use(const struct stat &st, bool shared,
				std::string &error)
{
	// A block device the host uses is refused by its O_EXCL open.
	if (!S_ISREG(st.st_mode))
		return false;
	for (const LoopUser &loop : loop_devices_backed_by(st, !shared)) {
		if (loop.claim >= 0)
			loop_claims_.push_back(loop.claim);
		if (!loop.busy)
			continue;
		if (!shared) {
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
	bool uri = is_nbd_uri(image);
	if (!known_format(options_.format)) {
		error = options_.format + ": unknown image format (auto, raw, qcow2, "
					  "vmdk, vhdx, vdi or vpc)";
		return fail(EINVAL);
	}
	if (uri && options_.format != "auto" && options_.format != "raw") {
		error = image + ": an NBD export is served as a disk already; its "
				"format is the server's business";
		return fail(EINVAL);
	}
	if (uri && options_.overlay != Overlay::none) {
		error = image + ": an overlay needs an image file; serve the export "
				"with its own snapshot instead";
		return fail(EINVAL);
	}
	if (options_.norecovery && !options_.read_only) {
		error = image + ": norecovery reads the last checkpoint and needs "
				"a read-only open";
		return fail(EINVAL);
	}
	// An overlay that is discarded leaves the image as it was.
	bool shared = options_.read_only || options_.overlay == Overlay::discard;
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
					    options_.notice, error);
		if (image_lock_fd_ < 0)
			return fail(errno);
		if (refuse_host_use(st, shared, error))
			return fail(EBUSY);
	}
	if (!options_.lock.empty()) {
		extra_lock_fd_ = lock_image(options_.lock, shared, true,
					    lock_wait_s, options_.notice, error);
		if (extra_lock_fd_ < 0)
			return fail(errno);
	}
	format_ = uri ? "raw" : options_.format;
	if (format_ == "auto" && !detect_format(image, format_, error))
		return fail(errno);
	return true;
}

bool ImageDisk::attach(std::string &error)
{
	const std::string &image = options_.image;
	bool uri = is_nbd_uri(image);
	std::error_code ec;
	if (uri) {
		disk_ = lkl::Disk::open_nbd(image.c_str(), options_.read_only, ec);
	} else if (format_ != "raw" || options_.overlay != Overlay::none) {
		lkl::Disk::ImageOptions opts;
		opts.format = format_.c_str();
		opts.read_only = options_.read_only;
		opts.overlay = options_.overlay != Overlay::none;
		disk_ = lkl::Disk::open_image(image.c_str(), opts, ec);
	} else {
		disk_ = lkl::Disk::open(image.c_str(), options_.read_only, ec);
	}
	if (ec && !disk_.error().empty()) {
		// lkl_disk_add_image() names the file; libnbd not the URI.
		error = (uri ? image + ": " : "") + disk_.error();
		return fail(ec.value());
	}
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

bool ImageDisk::mount(unsigned int part, const std::string &type,
		      const std::string &opts, MountedFs &out, std::string &error,
		      bool norecovery)
{
	if (options_.volume.empty())
		return mount_on(part, nullptr, type, opts, out, error, norecovery);
	ActiveVolume volume;
	return activate(options_.volume, volume, error) &&
	       mount(volume, type, opts, out, error, norecovery);
}

bool ImageDisk::activate(const std::string &name, ActiveVolume &out,
			 std::string &error)
{
	std::error_code ec;
	out = ActiveVolume::activate(name, options_.read_only, error, ec);
	if (out)
		return true;
	error = options_.image + ": " + error;
	return fail(ec.value());
}

bool ImageDisk::mount(ActiveVolume &volume, const std::string &type,
		      const std::string &opts, MountedFs &out, std::string &error,
		      bool norecovery)
{
	return mount_on(0, &volume, type, opts, out, error, norecovery);
}

bool ImageDisk::mount_on(unsigned int part, ActiveVolume *volume,
			 const std::string &type_asked, const std::string &opts_asked,
			 MountedFs &out, std::string &error, bool norecovery)
{
	ImageOptions options = options_;
	options.norecovery = options.read_only &&
			     (options.norecovery || norecovery);
	recent_kernel_messages();
	std::string type = type_asked;
	int why = 0;
	if (type.empty())
		type = find_type(*this, part, error, why, volume);
	unsigned long flags = options_.read_only ? LKL_MS_RDONLY : 0;
	std::string opts = take_mount_flags(opts_asked, flags);
	if (options.norecovery && !type.empty())
		opts = join_options(opts, norecovery_option(type));
	std::error_code ec;
	lkl::Mount mounted;
	if (!type.empty() && volume)
		ec = volume->mount(type, flags, opts);
	else if (!type.empty())
		mounted = lkl::Mount::mount(disk_, part, type.c_str(),
					    static_cast<int>(flags),
					    opts.empty() ? nullptr : opts.c_str(), ec);
	if (type.empty() && format_ != "raw") {
		std::string damage = image_damage(options_.image, format_);
		if (!damage.empty())
			error = options_.image + ": " + damage;
	}
	needs_log_replay_ = false;
	if (type.empty() || ec) {
		std::string said = recent_kernel_messages();
		needs_log_replay_ = !type.empty() && options.read_only &&
				    !options.norecovery && asks_for_log_replay(said);
		if (!type.empty()) {
			error = mount_error(options, part, volume, type, opts, ec, said);
			why = ec.value();
		}
		if (!said.empty())
			error += "\nthe kernel said:\n" + said;
		return fail(why);
	}
	out.mount = std::move(mounted);
	if (volume)
		out.volume = std::move(*volume);
	out.part = part;
	out.flags = flags;
	out.type = mounted_type(out.root());
	return true;
}

std::string ImageDisk::unmount(MountedFs &fs)
{
	std::string failed;
	if (fs.volume) {
		failed = fs.volume.release();
	} else if (auto ec = fs.mount.unmount()) {
		failed = "unmounting: " + ec.message();
	}
	unmount_failed_ = unmount_failed_ || !failed.empty();
	return failed;
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
	// Only file systems unmounted cleanly go into the image.
	if (options_.overlay == Overlay::apply && disk_ && !unmount_failed_)
		disk_.apply_overlay();
	if (auto ec = disk_.remove())
		failed = disk_.error().empty() ? "removing the disk: " + ec.message()
					       : disk_.error();
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
