#include "image_util.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace lkl_test {

int run(const std::string &cmd, std::string *out)
{
	FILE *p = popen((cmd + " 2>&1").c_str(), "r");
	if (!p)
		return -1;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		if (out)
			out->append(buf, n);
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string read_text(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream s;
	s << in.rdbuf();
	return s.str();
}

bool have(const char *tool)
{
	return run(std::string("command -v ") + tool + " >/dev/null") == 0;
}

std::string quote(const std::string &s)
{
	std::string q = "'";
	for (char c : s)
		q += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return q + "'";
}

Result run_on_image(const std::string &bin, const std::string &image,
		    const std::string &args)
{
	Result r;
	r.status = run(bin + " -i " + quote(image) + " " + args, &r.output);
	return r;
}

std::string sparse_digest(const std::string &path)
{
	int fd = open(path.c_str(), O_RDONLY);
	if (fd < 0)
		return "";
	unsigned long long h = 14695981039346656037ULL;
	auto mix = [&h](const void *p, size_t n) {
		for (size_t i = 0; i < n; i++) {
			h ^= static_cast<const unsigned char *>(p)[i];
			h *= 1099511628211ULL;
		}
	};
	off_t end = lseek(fd, 0, SEEK_END);
	mix(&end, sizeof(end));
	std::vector<char> buf(1 << 20);
	for (off_t data = lseek(fd, 0, SEEK_DATA); data >= 0 && data < end;) {
		off_t hole = lseek(fd, data, SEEK_HOLE);
		for (off_t at = data; at < hole;) {
			ssize_t n = pread(fd, buf.data(),
					  std::min<off_t>(hole - at, (off_t)buf.size()), at);
			if (n <= 0)
				break;
			// Zero blocks count as holes: the digest is the content's,
			// whatever the host file system allocated.
			for (ssize_t b = 0; b < n; b += 4096) {
				size_t len = std::min<ssize_t>(4096, n - b);
				const char *p = buf.data() + b;
				if (std::all_of(p, p + len, [](char c) { return !c; }))
					continue;
				off_t where = at + b;
				mix(&where, sizeof(where));
				mix(p, len);
			}
			at += n;
		}
		data = lseek(fd, hole, SEEK_DATA);
	}
	close(fd);
	char out[17];
	snprintf(out, sizeof(out), "%016llx", h);
	return out;
}

TempDir::TempDir()
{
	char tmpl[] = "/tmp/lkl-test-dir-XXXXXX";
	if (!mkdtemp(tmpl))
		throw std::runtime_error("mkdtemp failed");
	path_ = tmpl;
}

// Copies of read-only directories need write permission back first.
TempDir::~TempDir()
{
	run("chmod -R u+w " + quote(path_) + "; rm -rf " + quote(path_));
}

std::string no_host_mounts(const std::string &fstype)
{
	if (geteuid() != 0)
		return "loop devices and mount need root";
	if (!have("losetup") || !have("mount") || !have("umount"))
		return "losetup, mount or umount is missing";
	if (access("/dev/loop-control", F_OK) != 0)
		return "no loop devices here (/dev/loop-control)";
	if (run("grep -qw " + fstype + " /proc/filesystems || modprobe " + fstype) != 0)
		return "the host kernel has no " + fstype;
	return "";
}

LoopDevice::LoopDevice(const std::string &file)
{
	if (run("losetup -f --show " + quote(file), &dev_) != 0) {
		dev_.clear();
		return;
	}
	while (!dev_.empty() && dev_.back() == '\n')
		dev_.pop_back();
}

LoopDevice::~LoopDevice()
{
	if (!dev_.empty())
		run("losetup -d " + quote(dev_));
}

HostMount::HostMount(const std::string &what, const std::string &where,
		     const std::string &options)
	: where_(where)
{
	run("mkdir -p " + quote(where));
	mounted_ = run("mount " + (options.empty() ? "" : "-o " + options + " ") +
		       quote(what) + " " + quote(where), &errors_) == 0;
}

bool HostMount::unmount()
{
	if (mounted_ && run("umount " + quote(where_)) == 0)
		mounted_ = false;
	return !mounted_;
}

Image::Image(unsigned long long size, const char *name)
{
	char tmpl[] = "/tmp/lkl-test-XXXXXX";
	if (!mkdtemp(tmpl))
		throw std::runtime_error("mkdtemp failed");
	dir_ = tmpl;
	path_ = dir_ + "/" + name;
	int fd = open(path_.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		throw std::runtime_error("cannot create " + path_);
	close(fd);
}

Image::~Image()
{
	run("rm -rf '" + dir_ + "'");
}

std::string Image::format(const std::string &mkfs) const
{
	std::string out;
	if (run(mkfs + " '" + path_ + "'", &out) == 0)
		return "";
	return out.empty() ? mkfs + " failed" : out;
}

std::string Image::sha256() const
{
	std::string out;
	run("sha256sum '" + path_ + "'", &out);
	return out.substr(0, 64);
}

Mounted::Mounted(const std::string &image, const char *fstype, bool read_only,
		 bool direct)
{
	disk_.fd = open(image.c_str(), (read_only ? O_RDONLY : O_RDWR) |
					       (direct ? O_DIRECT : 0));
	if (disk_.fd < 0) {
		err_ = -errno;
		return;
	}
	id_ = lkl_disk_add(&disk_);
	if (id_ < 0) {
		err_ = id_;
		return;
	}
	char mnt[64];
	err_ = lkl_mount_dev(id_, 0, fstype, read_only ? LKL_MS_RDONLY : 0,
			     nullptr, mnt, sizeof(mnt));
	if (err_ == 0) {
		mounted_ = true;
		mnt_ = mnt;
	}
}

long Mounted::release()
{
	long first = 0;
	if (mounted_) {
		first = lkl_umount_dev(id_, 0, 0, 5000);
		mounted_ = false;
	}
	if (id_ >= 0) {
		long err = lkl_disk_remove(disk_);
		if (!first)
			first = err;
		id_ = -1;
	}
	if (disk_.fd >= 0) {
		close(disk_.fd);
		disk_.fd = -1;
	}
	return first;
}

Mounted::~Mounted()
{
	release();
}

std::string Mounted::path(const std::string &rel) const
{
	return rel.empty() ? mnt_ : mnt_ + "/" + rel;
}

} // namespace lkl_test
