// What lklfuse, cptofs and cpfromfs share: take an image exclusively, boot
// the kernel, attach the image and mount it, and undo all of it in order.
#pragma once

#include <lkl/kernel.hpp>

#include <sys/stat.h>

#include <memory>
#include <optional>
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

// A booted kernel with the image mounted. One per process.
class ImageSession {
public:
	// Locks the image (and options.lock) exclusively, checks that the
	// host does not use it (a mounted loop device backed by it, a mounted
	// block device), boots, adds the disk and mounts it. On failure:
	// nullptr, and error says what went wrong in words, followed by what
	// the kernel logged about it. What the user should know although it
	// worked (a read-only image the host has mounted) is in warnings().
	// With @code, the errno it failed with there too (EBUSY for an image
	// in use, EINVAL for no file system lkl mounts, ENXIO for no such
	// partition, the system's errno otherwise).
	static std::unique_ptr<ImageSession> open(const ImageOptions &options,
						  std::string &error,
						  std::error_code *code = nullptr);
	struct Key {
	private:
		friend class ImageSession;
		Key() = default;
	};
	// Use open(); public only for std::make_unique.
	explicit ImageSession(Key) {}
	~ImageSession();
	ImageSession(const ImageSession &) = delete;
	ImageSession &operator=(const ImageSession &) = delete;

	// The mount point inside the kernel, e.g. "/mnt/vda".
	const std::string &root() const
	{
		return volume_root_.empty() ? mount_.path() : volume_root_;
	}
	// The mounted file system's type, as the kernel names it.
	const std::string &type() const { return type_; }
	// Things the user should know, one line each, without a prefix.
	const std::vector<std::string> &warnings() const { return warnings_; }

	// Remounts the file system read-only or read-write (an image opened
	// read-only stays so). "" on success, else what failed.
	std::string remount(bool read_only);

	// This user is finishing with the image: from now on another tool
	// that wants it waits for close() instead of failing. close() does
	// it too; call it first thing when the end comes from outside.
	void finishing();

	// Unmounts (the file system writes everything back and, for XFS,
	// leaves a clean log), removes the disk (applying an overlay opened
	// with Overlay::apply if the unmount worked) and halts the kernel.
	// Safe to call twice. "" on success, else what failed.
	std::string close();

private:
	// open()'s work; false with error set on failure.
	bool start(const ImageOptions &options, std::string &error);
	// Refuses (true, error set) a writable open of an image file that a
	// loop device of the host backed by it has mounted; claims the others.
	bool refuse_host_use(const ImageOptions &options, const struct stat &st,
			     std::string &error);

	// How long open() waits for a tool that is finishing with the image.
	static constexpr double lock_wait_s = 10;

	std::string image_;
	bool read_only_ = false;
	unsigned long flags_ = 0; // LKL_MS_* of the mount
	int image_lock_fd_ = -1;
	int extra_lock_fd_ = -1;
	// O_EXCL claims on the host's loop devices backed by the image.
	std::vector<int> loop_claims_;
	std::vector<std::string> warnings_;
	std::error_code code_; // why start() failed
	std::optional<lkl::Kernel> kernel_;
	lkl::Disk disk_;
	lkl::Mount mount_;
	std::string type_;
	Overlay overlay_ = Overlay::none;
	// An activated logical volume, and where it is mounted.
	std::string volume_, volume_root_;

	std::error_code mount_volume(uint32_t dev, const std::string &type,
				     int flags, const std::string &opts);
};

// Is @image an NBD URI rather than a host path?
bool is_nbd_uri(const std::string &image);

// Is @format one ImageOptions::format takes?
bool known_format(const std::string &format);

// "discard" or "apply" as an Overlay; false for anything else.
bool parse_overlay(const std::string &text, Overlay &overlay);

// Kernel log lines kept since boot (or since the last call), for error
// messages; when options.log names a file they are also written there.
std::string recent_kernel_messages();

} // namespace lkl_tools
