#include "host_use.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace lkl_tools {

namespace {

std::string read_line(const std::string &path)
{
	std::ifstream in(path);
	std::string line;
	std::getline(in, line);
	return line;
}

// The entries of a sysfs directory (without "." and "..").
std::vector<std::string> entries(const std::string &dir)
{
	std::vector<std::string> names;
	if (DIR *d = opendir(dir.c_str())) {
		while (const struct dirent *e = readdir(d))
			if (e->d_name[0] != '.')
				names.emplace_back(e->d_name);
		closedir(d);
	}
	return names;
}

// Is the file that loop device @name is backed by the one with @image?
bool backed_by(const std::string &name, const struct stat &image)
{
	std::string backing = read_line("/sys/block/" + name + "/loop/backing_file");
	if (backing.empty())
		return false; // not attached
	int fd = ::open(("/dev/" + name).c_str(), O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		struct loop_info64 info {};
		int ok = ioctl(fd, LOOP_GET_STATUS64, &info);
		::close(fd);
		if (ok == 0)
			return info.lo_device == image.st_dev && info.lo_inode == image.st_ino;
	}
	// No access to the device: by the path the kernel recorded.
	const std::string deleted = " (deleted)";
	if (backing.size() > deleted.size() &&
	    backing.compare(backing.size() - deleted.size(), deleted.size(), deleted) == 0)
		return false;
	struct stat st {};
	return ::stat(backing.c_str(), &st) == 0 && st.st_dev == image.st_dev &&
	       st.st_ino == image.st_ino;
}

// Without the right to open the device: is it or a partition of it held
// (sysfs holders) or mounted (in our mount namespace)?
bool busy_by_sysfs(const std::string &name)
{
	std::vector<std::string> devs;
	std::string base = "/sys/block/" + name;
	if (!entries(base + "/holders").empty())
		return true;
	devs.push_back(read_line(base + "/dev"));
	for (const std::string &e : entries(base)) {
		if (e.rfind(name + "p", 0) != 0)
			continue;
		if (!entries(base + "/" + e + "/holders").empty())
			return true;
		devs.push_back(read_line(base + "/" + e + "/dev"));
	}
	std::ifstream mounts("/proc/self/mountinfo");
	std::string line;
	while (std::getline(mounts, line)) {
		std::istringstream fields(line);
		std::string id, parent, majmin;
		fields >> id >> parent >> majmin;
		for (const std::string &dev : devs)
			if (!dev.empty() && dev == majmin)
				return true;
	}
	return false;
}

} // namespace

std::vector<LoopUser> loop_devices_backed_by(const struct stat &image, bool claim)
{
	std::vector<LoopUser> users;
	for (const std::string &name : entries("/sys/block")) {
		if (name.rfind("loop", 0) != 0 || !backed_by(name, image))
			continue;
		LoopUser user;
		user.device = "/dev/" + name;
		// The kernel's own answer: an exclusive open fails with EBUSY
		// while the device or one of its partitions is mounted or held.
		int fd = ::open(user.device.c_str(), O_RDONLY | O_EXCL | O_CLOEXEC);
		if (fd >= 0) {
			if (claim)
				user.claim = fd;
			else
				::close(fd);
		} else {
			user.busy = errno == EBUSY || busy_by_sysfs(name);
		}
		users.push_back(user);
	}
	return users;
}

} // namespace lkl_tools
