// One disk image as the tools use it: locked and checked against the
// host's own use before the kernel boots, then added to the kernel, its
// partitions probed and mounted, and all of it undone in order. A kernel
// (kernel_session.hpp) may serve several of them.
#pragma once

#include "fs_probe.hpp"
#include "lvm_volume.hpp"

#include <lkl/kernel.hpp>

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace lkl_tools {

// What happens to the writes of a session with an overlay.
enum class Overlay {
	none,		// they go to the image
	discard,	// to a temporary qcow2 overlay, deleted at the end
	apply,		// to the overlay, committed into the image at the end
};

struct ImageOptions {
	// Host path of the image or block device, or an NBD URI
	// (nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH).
	std::string image;
	// The image's format: "auto" (from its header), "raw", "qcow2",
	// "vmdk", "vhdx", "vdi" or "vpc".
	std::string format = "auto";
	Overlay overlay = Overlay::none;
	std::string type;	// file system type; empty: from the superblock
	unsigned int part = 0;	// partition number; 0: the whole disk
	// An LVM2 logical volume, "VG/LV", on the image (instead of part).
	std::string volume;
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

// A partition (or the whole disk), or a logical volume, mounted in the
// kernel.
struct MountedFs {
	lkl::Mount mount;
	// The logical volume mounted instead, if one is.
	ActiveVolume volume;
	std::string type; // as the kernel names it: "xfs", "ext4", ...
	unsigned int part = 0;
	unsigned long flags = 0; // LKL_MS_* it was mounted with

	// The mount point inside the kernel, e.g. "/mnt/vda1" or
	// "/mnt/lvm/VG/LV".
	const std::string &root() const
	{
		return volume ? volume.path() : mount.path();
	}
};

class ImageDisk {
public:
	// Keeps options.image, format, overlay, volume, read_only, lock and
	// norecovery; part, type and opts are mount()'s.
	explicit ImageDisk(const ImageOptions &options) : options_(options) {}
	~ImageDisk();
	ImageDisk(const ImageDisk &) = delete;
	ImageDisk &operator=(const ImageDisk &) = delete;

	// Before the kernel boots: takes the image's lock (and the extra
	// lock file's), shared for a read-only image, else exclusive, and
	// refuses a writable image the host uses; reads the format from the
	// header if it is "auto". An NBD URI is neither locked nor checked.
	// An image with an overlay that is discarded counts as read-only
	// here. false, with error and code() set, on failure.
	bool claim(std::string &error);
	// With the kernel up: adds the image as a disk (read-only images as a
	// read-only disk): a raw file or device directly, another format or an
	// overlay through a private qemu-nbd, a URI over NBD. A read-only
	// block device the host holds is shared, with a warning.
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
	// With ImageOptions::volume, @part must be 0 and that volume is
	// activated and mounted instead.
	bool mount(unsigned int part, const std::string &type,
		   const std::string &opts, MountedFs &out, std::string &error,
		   bool norecovery = false);

	// Maps logical volume @name ("VG/LV") of the image's volume groups,
	// read-only for a read-only image. false, with error ("IMAGE: VG/LV:
	// why") and code() set, on failure.
	bool activate(const std::string &name, ActiveVolume &out, std::string &error);
	// mount() of the active @volume, which moves into out.volume when it
	// is mounted (and stays in @volume, mapped, when not).
	bool mount(ActiveVolume &volume, const std::string &type,
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

	// Unmounts what mount() mounted (and deactivates its volume). ""
	// on success, else what failed. Volumes mounted from the image must
	// be unmounted before detach().
	std::string unmount(MountedFs &fs);

	// Removes the disk from the kernel (its mounts must be gone), first
	// committing an Overlay::apply overlay unless an unmount() failed,
	// and drops the locks and claims. "" on success, else what failed.
	std::string detach();

private:
	bool fail(int err);
	// mount()'s work for partition @part or, if not null, @volume.
	bool mount_on(unsigned int part, ActiveVolume *volume,
		      const std::string &type, const std::string &opts,
		      MountedFs &out, std::string &error, bool norecovery);
	// Refuses (true, error set) a writable open of an image file that a
	// loop device of the host backed by it has mounted; claims the others.
	// @shared: the image is only read (read-only, or a discarded overlay).
	bool refuse_host_use(const struct stat &st, bool shared, std::string &error);

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
	bool unmount_failed_ = false;
	std::string format_;	 // the image's, once claim() knows it
	lkl::Disk disk_;
};

// Is @image an NBD URI rather than a host path?
bool is_nbd_uri(const std::string &image);

// Is @format one ImageOptions::format takes?
bool known_format(const std::string &format);

// "discard" or "apply" as an Overlay; false for anything else.
bool parse_overlay(const std::string &text, Overlay &overlay);

// The name of the file system mounted at @root from statfs's magic number
// ("xfs", "ext4", "btrfs", "vfat"; "unknown" for any other).
std::string mounted_type(const std::string &root);

} // namespace lkl_tools
