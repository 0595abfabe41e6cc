// An LVM2 logical volume mapped in the kernel (lkl_lvm_activate()) and,
// once mounted, where: unmounted and unmapped when released or destroyed,
// so that any number of volumes can be open one after another or at once.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace lkl_tools {

class ActiveVolume {
public:
	ActiveVolume() = default;
	ActiveVolume(ActiveVolume &&other) noexcept;
	ActiveVolume &operator=(ActiveVolume &&other) noexcept;
	ActiveVolume(const ActiveVolume &) = delete;
	ActiveVolume &operator=(const ActiveVolume &) = delete;
	~ActiveVolume() { release(); }

	// Maps logical volume @name ("VG/LV"), read-only if @read_only. On
	// failure an empty ActiveVolume, @error the reason in one line
	// (lkl_lvm_activate()'s) and @code its errno.
	static ActiveVolume activate(const std::string &name, bool read_only,
				     std::string &error, std::error_code &code);

	explicit operator bool() const { return !name_.empty(); }
	const std::string &name() const { return name_; }
	// Its device number, as mknod() takes it.
	uint32_t dev() const { return dev_; }
	// Where mount() mounted it, "/mnt/lvm/VG/LV"; empty before.
	const std::string &path() const { return path_; }

	// Mounts it as @type with the LKL_MS_* @flags and the file system's
	// options @opts (may be empty); the errno on failure.
	std::error_code mount(const std::string &type, unsigned long flags,
			      const std::string &opts);

	// Unmounts it (if mounted) and removes the mapping. "" on success,
	// else what failed; it is released all the same.
	std::string release();

private:
	std::string name_;
	uint32_t dev_ = 0;
	std::string path_;
};

} // namespace lkl_tools
