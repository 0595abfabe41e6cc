// mount -o remount of an lklfuse mount. mount(8) runs the mount helper
// again (mount.fuse3 runs "lklfuse IMAGE DIR -o remount,ro"); that second
// lklfuse must not start a kernel of its own: it asks the daemon serving
// DIR to remount the file system inside its kernel, then remounts the FUSE
// mount on the host. They talk over an abstract Unix socket named after the
// FUSE mount's device number, which is unique while it is mounted; only
// root or the daemon's own user may ask.
#pragma once

#include <functional>
#include <string>
#include <thread>

namespace lklfuse {

// The daemon's side: answers remount requests with remount(read_only),
// which returns "" or why it failed, until destroyed.
class ControlSocket {
public:
	// Waits (in its own thread) until mountpoint is the FUSE mount, then
	// listens.
	ControlSocket(std::string mountpoint,
		      std::function<std::string(bool read_only)> remount);
	~ControlSocket();
	ControlSocket(const ControlSocket &) = delete;
	ControlSocket &operator=(const ControlSocket &) = delete;

private:
	void serve();

	std::string mountpoint_;
	std::function<std::string(bool)> remount_;
	int fd_ = -1;
	int stop_[2] = {-1, -1};
	std::thread thread_;
};

// The helper's side: remounts the lklfuse mount at mountpoint read-only or
// read-write, inside its kernel and on the host. 0, or 1 with error set.
int remount(const std::string &mountpoint, bool read_only, std::string &error);

} // namespace lklfuse
