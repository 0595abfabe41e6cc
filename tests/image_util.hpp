// Disk images for the tests: made with the real mkfs tools, checked with the
// real checkers, attached to the running kernel.
#pragma once

#include <lkl.h>

#include <string>

namespace lkl_test {

// Runs a shell command; returns its exit status and, in @out, its output.
int run(const std::string &cmd, std::string *out = nullptr);

// The contents of host file @path ("" if it cannot be read).
std::string read_text(const std::string &path);

// Is @tool on PATH?
bool have(const char *tool);

// @s as one single-quoted shell word.
std::string quote(const std::string &s);

// A digest of a file's size and content, for telling whether a sparse
// image changed without reading its holes (SEEK_DATA): FNV-1a over the
// offsets and bytes of its nonzero 4 KiB blocks, as hex; "" if it cannot
// be read.
std::string sparse_digest(const std::string &path);

// A fresh host directory, removed (made writable first) with the object.
class TempDir {
public:
	TempDir();
	~TempDir();
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;

	std::string operator/(const std::string &name) const
	{
		return path_ + "/" + name;
	}
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// What a program run on an image said: its exit status and output.
struct Result {
	int status;
	std::string output;
};

// Runs "BIN -i IMAGE ARGS", as cptofs and cpfromfs take their image.
Result run_on_image(const std::string &bin, const std::string &image,
		    const std::string &args);

// Why the host's loop devices and mounts of @fstype cannot be used here,
// or "".
std::string no_host_mounts(const std::string &fstype);

// A loop device of the host on an image file; detached with the object.
class LoopDevice {
public:
	explicit LoopDevice(const std::string &file);
	~LoopDevice();
	LoopDevice(const LoopDevice &) = delete;
	LoopDevice &operator=(const LoopDevice &) = delete;
	// "" when none could be set up.
	const std::string &path() const { return dev_; }

private:
	std::string dev_;
};

// A mount by the host kernel; unmounted with the object.
class HostMount {
public:
	HostMount(const std::string &what, const std::string &where,
		  const std::string &options = "");
	~HostMount() { unmount(); }
	HostMount(const HostMount &) = delete;
	HostMount &operator=(const HostMount &) = delete;

	bool mounted() const { return mounted_; }
	const std::string &errors() const { return errors_; }
	bool unmount();

private:
	std::string where_, errors_;
	bool mounted_ = false;
};

// A sparse image file of @size bytes in a fresh temporary directory,
// deleted with the object.
class Image {
public:
	explicit Image(unsigned long long size, const char *name = "disk.img");
	~Image();
	Image(const Image &) = delete;
	Image &operator=(const Image &) = delete;

	const std::string &path() const { return path_; }
	// Runs "@mkfs PATH": "" on success, else what the tool printed.
	std::string format(const std::string &mkfs) const;
	std::string sha256() const;

private:
	std::string dir_, path_;
};

// An image attached to the kernel and mounted (lkl_disk_add +
// lkl_mount_dev); unmounted and removed with the object.
class Mounted {
public:
	// direct: open the image O_DIRECT, which selects the AIO backend.
	Mounted(const std::string &image, const char *fstype,
		bool read_only = false, bool direct = false);
	~Mounted();
	Mounted(const Mounted &) = delete;
	Mounted &operator=(const Mounted &) = delete;

	// 0 once mounted, else the first error.
	long error() const { return err_; }
	// The mount point inside the kernel, and a path below it.
	std::string path(const std::string &rel = "") const;
	// Unmounts and removes the disk now; returns the first error.
	long release();

private:
	struct lkl_disk disk_ = {};
	int id_ = -1;
	bool mounted_ = false;
	long err_ = 0;
	std::string mnt_;
};

} // namespace lkl_test
