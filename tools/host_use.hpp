// Whether the host itself uses an image: writing a file system that the
// host has mounted damages it, and the image lock (flock) only stops other
// lkl tools.
#pragma once

#include <sys/stat.h>

#include <string>
#include <vector>

namespace lkl_tools {

// A loop device of the host backed by an image file.
struct LoopUser {
	std::string device; // "/dev/loop3"
	// It, or a partition of it, is mounted or held (device-mapper, md...).
	bool busy = false;
	// An O_EXCL descriptor on it, when we could take one (root), so that
	// the host cannot mount it while we write; -1 otherwise. Owned by the
	// caller.
	int claim = -1;
};

// The host's loop devices backed by the file @image (compared by device and
// inode, from LOOP_GET_STATUS64 where the device can be opened, else from
// the path in /sys/block/loopN/loop/backing_file). A device that is not
// busy is claimed (LoopUser::claim) when @claim is set.
std::vector<LoopUser> loop_devices_backed_by(const struct stat &image, bool claim);

} // namespace lkl_tools
