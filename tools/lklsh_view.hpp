// lklsh's view of its disks: one kernel with every image given as a disk
// (vda, vdb, ... in order), and their file systems mounted into one tree,
// as guestfish mounts them: a partition mounted at "/" is the tree's root
// and others go on directories inside it. The kernel mounts each file
// system at /mnt/DEVICE and binds it at /sysroot/MOUNTPOINT; paths of the
// tree are paths under /sysroot.
#pragma once

#include "image_disk.hpp"
#include "kernel_session.hpp"

#include "copy_fs.hpp"

#include <memory>
#include <string>
#include <vector>

namespace lkl_tools {

class ImageView {
public:
	struct Mounted {
		std::string device;	// "vda1"
		std::string mountpoint; // in the tree: "/", "/boot"
		MountedFs fs;
	};

	// Claims every image (read-only ones shared), boots one kernel and
	// adds them as disks. nullptr with @error on failure.
	static std::unique_ptr<ImageView> open(const std::vector<std::string> &images,
					       bool read_only, unsigned mb,
					       const std::string &log,
					       std::string &error);
	~ImageView();

	// Mounts @device ("vda1", "/dev/vda1", or "N" for partition N of
	// the first disk; "vda" or "0" is a whole disk) at @mountpoint, an
	// absolute path of the tree: "/" first, then existing directories
	// inside it. @type empty: found by probing. false with @error.
	bool mount(const std::string &device, const std::string &mountpoint,
		   const std::string &type, std::string &error);
	bool umount(const std::string &mountpoint, std::string &error);
	// With nothing asked for: the first disk's file system at "/", or,
	// for a partitioned disk, the partition that holds an operating
	// system (else the first that mounts). false with @error when none.
	bool mount_default(std::string &error);

	const std::vector<Mounted> &mounts() const { return mounts_; }
	const std::vector<std::unique_ptr<ImageDisk>> &disks() const { return disks_; }
	// The device name of partition @part of disk @index ("vdb2").
	static std::string device_name(std::size_t index, unsigned part);
	// Is a file system mounted at "/"?
	bool has_root() const;
	// The tree as the copy engine sees it.
	Fs &fs() { return *fs_; }
	// The kernel's path of @path, an absolute path of the tree.
	static std::string kernel_path(const std::string &path);
	// Things the user should know, one per line.
	std::vector<std::string> warnings() const;

	// Unmounts everything (innermost first), removes the disks and halts.
	// "" on success, else what failed.
	std::string close();

private:
	ImageView() = default;

	std::vector<std::unique_ptr<ImageDisk>> disks_;
	std::unique_ptr<KernelSession> kernel_;
	std::vector<Mounted> mounts_;
	std::unique_ptr<Fs> fs_;
};

} // namespace lkl_tools
