#include "lklsh_view.hpp"

#include "image_fs.hpp"
#include "os_inspect.hpp"

#include <lkl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace lkl_tools {

namespace {

// Where the tree's root is in the kernel.
const char sysroot[] = "/sysroot";

// "vdb2" -> disk 1, partition 2; "3" -> disk 0, partition 3.
bool parse_device(std::string spec, std::size_t &disk, unsigned &part)
{
	if (spec.rfind("/dev/", 0) == 0)
		spec.erase(0, 5);
	std::size_t digits = 0;
	if (spec.size() >= 3 && spec.compare(0, 2, "vd") == 0 && spec[2] >= 'a' &&
	    spec[2] <= 'z') {
		disk = static_cast<std::size_t>(spec[2] - 'a');
		digits = 3;
	} else {
		disk = 0;
	}
	std::string number = spec.substr(digits);
	if (number.empty() && digits) {
		part = 0;
		return true;
	}
	if (number.empty() || number.size() > 3 ||
	    !std::all_of(number.begin(), number.end(), ::isdigit))
		return false;
	part = static_cast<unsigned>(std::stoul(number));
	return part <= 255;
}

} // namespace

std::string ImageView::device_name(std::size_t index, unsigned part)
{
	std::string name = "vd";
	name += static_cast<char>('a' + index);
	return part ? name + std::to_string(part) : name;
}

std::string ImageView::kernel_path(const std::string &path)
{
	return path == "/" ? std::string(sysroot) : sysroot + path;
}

std::unique_ptr<ImageView> ImageView::open(const std::vector<std::string> &images,
					   bool read_only, unsigned mb,
					   const std::string &log, std::string &error)
{
	std::unique_ptr<ImageView> view(new ImageView());
	if (images.size() > 26) {
		error = "at most 26 images";
		return nullptr;
	}
	for (const std::string &image : images) {
		ImageOptions options;
		options.image = image;
		options.read_only = read_only;
		view->disks_.push_back(std::make_unique<ImageDisk>(options));
		if (!view->disks_.back()->claim(error))
			return nullptr;
	}
	view->kernel_ = KernelSession::boot({mb, log}, error);
	if (!view->kernel_)
		return nullptr;
	for (auto &disk : view->disks_)
		if (!disk->attach(error))
			return nullptr;
	long err = lkl_sys_mkdirat(LKL_AT_FDCWD, sysroot, 0755);
	if (err < 0) {
		error = std::string(sysroot) + ": " + strerror(static_cast<int>(-err));
		return nullptr;
	}
	view->fs_ = make_image_fs(sysroot);
	return view;
}

bool ImageView::has_root() const
{
	return std::any_of(mounts_.begin(), mounts_.end(),
			   [](const Mounted &m) { return m.mountpoint == "/"; });
}

bool ImageView::mount(const std::string &device, const std::string &mountpoint,
		      const std::string &type, std::string &error)
{
	std::size_t index;
	unsigned part;
	if (!parse_device(device, index, part) || index >= disks_.size()) {
		error = device + ": no such device (the disks are vda to " +
			device_name(disks_.size() - 1, 0) + ", partitions vda1, ...)";
		return false;
	}
	std::string name = device_name(index, part);
	for (const Mounted &m : mounts_)
		if (m.device == name) {
			error = name + ": already mounted at " + m.mountpoint;
			return false;
		}
	std::string where = mountpoint;
	if (where != "/") {
		if (!has_root()) {
			error = where + ": mount a file system at / first";
			return false;
		}
		where = fs_->resolve(where, true);
		Stat st;
		long err = fs_->stat(where, st);
		if (err == 0 && !S_ISDIR(st.st_mode))
			err = -ENOTDIR;
		if (err < 0) {
			error = mountpoint + ": " + strerror(static_cast<int>(-err));
			return false;
		}
	}
	for (const Mounted &m : mounts_)
		if (m.mountpoint == where) {
			error = where + ": " + m.device + " is mounted there";
			return false;
		}
	Mounted m;
	if (!disks_[index]->mount(part, type, {}, m.fs, error))
		return false;
	m.device = name;
	m.mountpoint = where;
	long err = lkl_sys_mount(const_cast<char *>(m.fs.root().c_str()),
				 const_cast<char *>(kernel_path(where).c_str()), nullptr,
				 LKL_MS_BIND, nullptr);
	if (err < 0) {
		error = where + ": binding " + name + " there: " +
			strerror(static_cast<int>(-err));
		return false;
	}
	mounts_.push_back(std::move(m));
	return true;
}

bool ImageView::umount(const std::string &mountpoint, std::string &error)
{
	std::string where = mountpoint == "/" ? mountpoint : fs_->resolve(mountpoint, true);
	auto it = std::find_if(mounts_.begin(), mounts_.end(),
			       [&](const Mounted &m) { return m.mountpoint == where; });
	if (it == mounts_.end()) {
		error = mountpoint + ": not a mount point";
		return false;
	}
	long err = lkl_sys_umount2(const_cast<char *>(kernel_path(where).c_str()), 0);
	if (err < 0) {
		error = mountpoint + ": " + strerror(static_cast<int>(-err));
		return false;
	}
	if (auto ec = it->fs.mount.unmount()) {
		error = mountpoint + ": unmounting " + it->device + ": " + ec.message();
		mounts_.erase(it);
		return false;
	}
	mounts_.erase(it);
	return true;
}

bool ImageView::mount_default(std::string &error)
{
	if (disks_.empty())
		return true;
	ImageDisk &disk = *disks_[0];
	Probe whole;
	if (int err = disk.probe(0, whole); err < 0) {
		error = disk.path() + ": " + strerror(-err);
		return false;
	}
	if (whole.table.empty())
		return mount("vda", "/", {}, error);
	// The partition with an operating system, else the first that mounts.
	std::string first;
	for (unsigned part : whole.partitions) {
		Probe found;
		if (disk.probe(part, found) < 0 || kernel_fs_type(found.type).empty())
			continue;
		std::string name = device_name(0, part), why;
		if (!mount(name, "/", {}, why))
			continue;
		OsInfo os = inspect_os(*fs_);
		if (os.found)
			return true;
		if (first.empty())
			first = name;
		if (!umount("/", why))
			break;
	}
	if (!first.empty())
		return mount(first, "/", {}, error);
	error = disk.path() + ": no partition holds a file system lkl mounts";
	return false;
}

std::vector<std::string> ImageView::warnings() const
{
	std::vector<std::string> all;
	for (const auto &disk : disks_)
		all.insert(all.end(), disk->warnings().begin(), disk->warnings().end());
	return all;
}

std::string ImageView::close()
{
	std::string failed, why;
	// Innermost first: the deepest mount points were mounted last.
	while (!mounts_.empty()) {
		std::string where = std::max_element(mounts_.begin(), mounts_.end(),
						     [](const Mounted &a, const Mounted &b) {
							     return a.mountpoint.size() <
								    b.mountpoint.size();
						     })->mountpoint;
		if (!umount(where, why) && failed.empty())
			failed = why;
		// One that would not unmount is dropped all the same.
		std::erase_if(mounts_, [&](const Mounted &m) { return m.mountpoint == where; });
	}
	for (auto &disk : disks_)
		if (std::string err = disk->detach(); !err.empty() && failed.empty())
			failed = disk->path() + ": " + err;
	if (kernel_)
		if (std::string err = kernel_->halt(); !err.empty() && failed.empty())
			failed = err;
	return failed;
}

ImageView::~ImageView()
{
	close();
}

} // namespace lkl_tools
