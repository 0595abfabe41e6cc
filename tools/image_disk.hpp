// One disk image as the tools use it: locked and checked against the
// host's own use before the kernel boots, then added to the kernel, its
// partitions probed and mounted, and all of it undone in order. A kernel
// (kernel_session.hpp) may serve several of them.
#pragma once

#include "fs_probe.hpp"

#include <lkl/kernel.hpp>

#include <sys/stat.h>

#include <string>
#include <system_error>
#include <vector>

namespace lkl_tools {

struct ImageOptions {
	std::string image;	// host path of the image or block device
	std::string type;	// file system type; empty: from the superblock
	unsigned int part = 0;	// partition number; 0: the whole disk
	bool read_only = false; // the image file is then never written
	// The file system's own mount options, and the generic ones that
	// mount(8) takes as flags (noatime, nosuid, sync, ...): those become
	// mount flags.
	std::string opts;
	unsigned int mb = 128;	// kernel memory in MiB
	std::string log;	// append kernel messages to this file
	std::string lock;	// also hold an exclusive lock on this file
	// Mount without replaying the journal or log (read-only only): the
	// last checkpoint of a file system that was not unmounted cleanly.
	bool norecovery = false;
	// Told, one line without a prefix, when the image is held by a tool
	// that is finishing with it and the open waits for it; may be null.
	void (*notice)(const std::string &) = nullptr;
};

// A partition (or the whole disk) mounted in the kernel.
struct MountedFs {
	lkl::Mount mount;
	std::string type; // as the kernel names it: "xfs", "ext4", ...
	unsigned int part = 0;
	unsigned long flags = 0; // LKL_MS_* it was mounted with

	// The mount point inside the kernel, e.g. "/mnt/vda1".
	const std::string &root() const { return mount.path(); }
};

class ImageDisk {
public:
	// Keeps options.image, read_only, lock and norecovery; part, type
	// and opts are mount()'s.
	explicit ImageDisk(const ImageOptions &options) : options_(options) {}
	~ImageDisk();
	ImageDisk(const ImageDisk &) = delete;
	ImageDisk &operator=(const ImageDisk &) = delete;

	// Before the kernel boots: takes the image's lock (and the extra
	// lock file's), shared for a read-only image, else exclusive, and
	// refuses a writable image the host uses. false, with error and
	// code() set, on failure.
	bool claim(std::string &error);
	// With the kernel up: adds the image as a disk (read-only images as a
	// read-only disk). A read-only block device the host holds is shared,
	// with a warning.
	bool attach(std::string &error);

	// What partition @part (0: the whole disk) holds: 0, or a negative
	// errno (-ENXIO: no such partition).
	int probe(unsigned int part, Probe &found) const;
	// Mounts partition @part as @type (empty: found by probing) with the
	// file system's options @opts, read-only for a read-only image, with
	// norecovery if the options or @norecovery ask for it (read-only
	// images only). On failure false, error says why in words followed
	// by "\nthe kernel said:\n" and its messages, and code() the errno
	// (EINVAL for no file system lkl mounts, ENXIO for no such partition).
	bool mount(unsigned int part, const std::string &type,
		   const std::string &opts, MountedFs &out, std::string &error,
		   bool norecovery = false);

	const std::string &path() const { return options_.image; }
	bool read_only() const { return options_.read_only; }
	const lkl::Disk &disk() const { return disk_; }
	// Things the user should know, one line each, without a prefix.
	const std::vector<std::string> &warnings() const { return warnings_; }
	// The errno of the last failure.
	std::error_code code() const { return code_; }
	// Did the last mount() fail because a read-only mount cannot replay
	// the file system's journal or log (norecovery would mount it)?
	bool needs_log_replay() const { return needs_log_replay_; }

	// This user is finishing with the image: from now on another tool
	// that wants it waits for detach() instead of failing.
	void finishing();

	// Removes the disk from the kernel (its mounts must be gone) and
	// drops the locks and claims. "" on success, else what failed.
	std::string detach();

private:
	bool fail(int err);
	// Refuses (true, error set) a writable open of an image file that a
	// loop device of the host backed by it has mounted; claims the others.
	bool refuse_host_use(const struct stat &st, std::string &error);

	// How long claim() waits for a tool that is finishing with the image.
	static constexpr double lock_wait_s = 10;

	ImageOptions options_;
	int image_lock_fd_ = -1;
	int extra_lock_fd_ = -1;
	// O_EXCL claims on the host's loop devices backed by the image.
	std::vector<int> loop_claims_;
	std::vector<std::string> warnings_;
	std::error_code code_;
	bool needs_log_replay_ = false;
	lkl::Disk disk_;
};

// The name of the file system mounted at @root from statfs's magic number
// ("xfs", "ext4", "btrfs", "vfat"; "unknown" for any other).
std::string mounted_type(const std::string &root);

} // namespace lkl_tools
