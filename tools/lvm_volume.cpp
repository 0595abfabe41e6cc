#include "lvm_volume.hpp"

#include <lkl.h>
#include <lkl/kernel.hpp>

#include <cstring>
#include <utility>

namespace lkl_tools {

ActiveVolume::ActiveVolume(ActiveVolume &&other) noexcept
	: name_(std::move(other.name_)), dev_(other.dev_), path_(std::move(other.path_))
{
	other.name_.clear();
	other.path_.clear();
}

ActiveVolume &ActiveVolume::operator=(ActiveVolume &&other) noexcept
{
	if (this != &other) {
		release();
		name_ = std::exchange(other.name_, {});
		dev_ = other.dev_;
		path_ = std::exchange(other.path_, {});
	}
	return *this;
}

ActiveVolume ActiveVolume::activate(const std::string &name, bool read_only,
				    std::string &error, std::error_code &code)
{
	ActiveVolume v;
	char said[512] = "";
	int err = lkl_lvm_activate(name.c_str(), read_only ? LKL_LVM_READ_ONLY : 0,
				   &v.dev_, said, sizeof(said));
	if (err < 0) {
		error = said[0] ? said : name + ": " + std::strerror(-err);
		code = lkl::errc(err);
		return v;
	}
	v.name_ = name;
	return v;
}

std::error_code ActiveVolume::mount(const std::string &type, unsigned long flags,
				    const std::string &opts)
{
	// The volume's own mount point (LV names hold no "/"), and a node
	// that only lives until mount() has opened the device.
	static const char node[] = "/dev/lkl-lvm-volume";
	std::string vg = name_.substr(0, name_.find('/')), dir = "/mnt/lvm/" + name_;
	for (const std::string &d : {std::string("/mnt"), std::string("/mnt/lvm"),
				     "/mnt/lvm/" + vg, dir})
		lkl_sys_mkdirat(LKL_AT_FDCWD, d.c_str(), 0700);
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	long err = lkl_sys_mknodat(LKL_AT_FDCWD, node, LKL_S_IFBLK | 0600, dev_);
	if (!err) {
		err = lkl_sys_mount(const_cast<char *>(node), dir.data(),
				    const_cast<char *>(type.c_str()), flags,
				    opts.empty() ? nullptr : const_cast<char *>(opts.c_str()));
		lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	}
	if (err)
		return lkl::errc(err);
	path_ = dir;
	return {};
}

std::string ActiveVolume::release()
{
	if (name_.empty())
		return {};
	std::string failed;
	if (!path_.empty())
		if (long err = lkl_umount_timeout(path_.data(), 0,
						  lkl::Mount::default_timeout_ms))
			failed = "unmounting " + name_ + ": " +
				 std::strerror(static_cast<int>(-err));
	path_.clear();
	if (int err = lkl_lvm_deactivate(name_.c_str()); err < 0 && failed.empty())
		failed = name_ + ": " + std::strerror(-err);
	name_.clear();
	return failed;
}

} // namespace lkl_tools
