// What lklfuse, cptofs and cpfromfs share: take an image exclusively, boot
// the kernel, attach the image and mount it, and undo all of it in order.
// One image on its own kernel; the parts are kernel_session.hpp and
// image_disk.hpp, for tools that serve several images or partitions.
#pragma once

#include "image_disk.hpp"
#include "kernel_session.hpp"

#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace lkl_tools {

// A booted kernel with the image mounted. One at a time per process.
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
	ImageSession(Key, const ImageOptions &options) : disk_(options) {}
	~ImageSession();
	ImageSession(const ImageSession &) = delete;
	ImageSession &operator=(const ImageSession &) = delete;

	// The mount point inside the kernel, e.g. "/mnt/vda".
	const std::string &root() const { return fs_.root(); }
	// The mounted file system's type, as the kernel names it.
	const std::string &type() const { return fs_.type; }
	// Things the user should know, one line each, without a prefix.
	const std::vector<std::string> &warnings() const { return disk_.warnings(); }

	// Remounts the file system read-only or read-write (an image opened
	// read-only stays so). "" on success, else what failed.
	std::string remount(bool read_only);

	// This user is finishing with the image: from now on another tool
	// that wants it waits for close() instead of failing. close() does
	// it too; call it first thing when the end comes from outside.
	void finishing() { disk_.finishing(); }

	// Unmounts (the file system writes everything back and, for XFS,
	// leaves a clean log), removes the disk (applying an overlay opened
	// with Overlay::apply if the unmount worked) and halts the kernel.
	// Safe to call twice. "" on success, else what failed.
	std::string close();

private:
	// open()'s work; false with error set on failure.
	bool start(const ImageOptions &options, std::string &error);

	ImageDisk disk_;
	std::unique_ptr<KernelSession> kernel_;
	MountedFs fs_;
	std::error_code code_; // why start() failed
};

} // namespace lkl_tools
