// Disk images of every format: lkl_image_format(), lkl_disk_add_image()
// and lkl_disk_apply_overlay().
//
// Nothing here parses an image format. The format is only recognised from
// the file's first and last bytes (the magic numbers qemu's drivers check,
// never the file name); a raw image goes to the file backend; any other is
// served by a private qemu-nbd (qemu's block layer), started as the NBD
// disk's Server: it is reachable only through this process's connection
// and exits when that closes, also when this process dies. What qemu-nbd
// writes to stderr is kept in a memfd and becomes the error text when it
// refuses the image.
//
// An overlay is a qcow2 file made by qemu-img in $TMPDIR (or /var/tmp)
// whose backing file is the image: qemu-nbd serves the overlay, writes
// land in it, and the image is only read. When the disk is removed the
// overlay is deleted, or first committed into the image (qemu-img commit)
// if the program asked for that. A process killed outright leaves its
// overlay behind in that directory (lkl-overlay-*.qcow2).

#include "disk.hpp"
#include "internal.hpp"

#include <libnbd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace {
namespace disk {
namespace image {

// The format qemu would detect from @head (the first 512 bytes) and
// @tail (the last 512), by the magic numbers of qemu's block drivers:
// qcow2 "QFI\xfb" (QCOW_MAGIC, version 2 or 3), VMDK "KDMV" (sparse
// extent) or a "# Disk DescriptorFile" text descriptor, VHDX "vhdxfile",
// VDI 0xbeda107f at byte 64 (VDI_SIGNATURE, little-endian), VHD
// "conectix" in the footer (at the start of a dynamic image, at the end of
// a fixed one). Anything else is raw.
const char *detect(const unsigned char *head, std::size_t n,
		   const unsigned char *tail, std::size_t tail_n)
{
	auto at = [&](std::size_t off, std::string_view magic) {
		return n >= off + magic.size() &&
		       std::memcmp(head + off, magic.data(), magic.size()) == 0;
	};
	if (at(0, "QFI\xfb") && n >= 8 && head[4] == 0 && head[5] == 0 &&
	    head[6] == 0 && (head[7] == 2 || head[7] == 3))
		return "qcow2";
	if (at(0, "KDMV") || at(0, "# Disk DescriptorFile"))
		return "vmdk";
	if (at(0, "vhdxfile"))
		return "vhdx";
	if (at(64, "\x7f\x10\xda\xbe"))
		return "vdi";
	if (at(0, "conectix") ||
	    (tail_n == 512 && std::memcmp(tail, "conectix", 8) == 0))
		return "vpc";
	return "raw";
}

constexpr std::array<const char *, 6> formats = { "raw",  "qcow2", "vmdk",
						  "vhdx", "vdi",   "vpc" };

const char *known_format(const char *name)
{
	for (const char *f : formats)
		if (std::strcmp(f, name) == 0)
			return f;
	return nullptr;
}

// A memfd for a child's stderr: its text, and a path the child can open.
class ErrorCapture {
public:
	ErrorCapture() : fd_(memfd_create("lkl-qemu-stderr", MFD_CLOEXEC)) {}
	~ErrorCapture()
	{
		if (fd_ >= 0)
			close(fd_);
	}
	ErrorCapture(const ErrorCapture &) = delete;
	ErrorCapture &operator=(const ErrorCapture &) = delete;

	int fd() const { return fd_; }

	// The last line the child wrote, without the program's "name: "
	// prefix: qemu's tools end with the one that says what failed.
	std::string last_line(const char *program) const
	{
		std::string text;
		char buf[4096];
		ssize_t n;
		off_t off = 0;
		while (fd_ >= 0 && (n = pread(fd_, buf, sizeof(buf), off)) > 0) {
			text.append(buf, static_cast<std::size_t>(n));
			off += n;
		}
		while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
			text.pop_back();
		std::size_t nl = text.rfind('\n');
		if (nl != std::string::npos)
			text.erase(0, nl + 1);
		std::string prefix = std::string(program) + ": ";
		if (text.compare(0, prefix.size(), prefix) == 0)
			text.erase(0, prefix.size());
		return text;
	}

private:
	int fd_;
};

// Runs @argv (argv[0] found on PATH) to its end with stdin and stdout
// on /dev/null; 0, or -EIO with @error set to its last line of stderr.
int run(const std::vector<std::string> &argv, std::string &error)
{
	ErrorCapture err;
	if (err.fd() < 0)
		return -errno;
	std::vector<char *> args;
	for (const std::string &a : argv)
		args.push_back(const_cast<char *>(a.c_str()));
	args.push_back(nullptr);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, err.fd(), 2);
	pid_t pid;
	int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		error = argv[0] + ": " + std::strerror(rc);
		return -rc;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	error = argv[0] + ": " + err.last_line(argv[0].c_str());
	return -EIO;
}

// qemu's option syntax doubles a comma inside a value.
std::string qemu_escape(const std::string &value)
{
	std::string out;
	for (char c : value) {
		out += c;
		if (c == ',')
			out += ',';
	}
	return out;
}

std::string absolute(const char *path)
{
	std::unique_ptr<char, decltype(&free)> real(realpath(path, nullptr), free);
	return real ? std::string(real.get()) : std::string(path);
}

// The backend layer for an image: the NBD disk (or file disk) below, and
// the overlay file to drop or apply once that is gone.
class ImageDisk final : public Backend {
public:
	ImageDisk(std::unique_ptr<Backend> below, int fd, std::string image,
		  std::string format, std::string overlay)
		: below_(std::move(below)), fd_(fd), image_(std::move(image)),
		  format_(std::move(format)), overlay_(std::move(overlay))
	{
	}

	~ImageDisk() override
	{
		below_.reset();
		if (fd_ >= 0)
			close(fd_);
		if (!overlay_.empty())
			unlink(overlay_.c_str());
	}

	void submit(lkl_blk_io *io) override
	{
		below_->submit(io);
	}

	void set_completion(Completion *upper) noexcept override
	{
		below_->set_completion(upper);
	}

	// Marks the overlay to be applied by finish(); why that failed
	// will be written to @error.
	int apply_overlay(char *error, unsigned long error_len) noexcept
	{
		if (overlay_.empty())
			return -EINVAL;
		apply_ = true;
		error_ = error;
		error_len_ = error_len;
		return 0;
	}

	// The disk is gone from the kernel: stop the server (it writes
	// the overlay's metadata back), then apply the overlay if asked
	// to. If that fails the overlay is kept and the error names it.
	int finish() noexcept override
	{
		below_.reset();
		if (!apply_)
			return 0;
		std::string error;
		int err;
		try {
			err = run({ "qemu-img", "commit", "-q", "-f", "qcow2",
				    overlay_ },
				  error);
			if (err) {
				error = image_ + ": applying the overlay: " + error +
					" (the changes are kept in " + overlay_ + ")";
				overlay_.clear();
			}
		} catch (const std::bad_alloc &) {
			err = -ENOMEM;
		}
		set_error(error_, error_len_, error);
		return err;
	}

private:
	std::unique_ptr<Backend> below_;
	int fd_;
	std::string image_, format_, overlay_;
	bool apply_ = false;
	char *error_ = nullptr;
	unsigned long error_len_ = 0;
};

// The format of the image open as @fd (see detect()); 0 or -errno.
int format_of(int fd, const char *&format)
{
	unsigned char head[512], tail[512];
	ssize_t n = pread(fd, head, sizeof(head), 0);
	if (n < 0)
		return -errno;
	off_t end = lseek(fd, 0, SEEK_END);
	ssize_t t = 0;
	if (end >= static_cast<off_t>(2 * sizeof(tail)))
		t = pread(fd, tail, sizeof(tail), end - static_cast<off_t>(sizeof(tail)));
	if (t < 0)
		return -errno;
	format = detect(head, static_cast<std::size_t>(n), tail,
			static_cast<std::size_t>(t));
	return 0;
}

// Makes a qcow2 overlay on @image (of @format) in $TMPDIR or /var/tmp;
// its path, or "" with @error set and @err the errno.
std::string make_overlay(const std::string &image, const char *format,
			 std::string &error, int &err)
{
	const char *dir = getenv("TMPDIR");
	std::string path = std::string(dir && *dir ? dir : "/var/tmp") +
			   "/lkl-overlay-XXXXXX.qcow2";
	int fd = mkstemps(path.data(), 6);
	if (fd < 0) {
		err = -errno;
		error = path + ": " + std::strerror(errno);
		return {};
	}
	close(fd);
	err = run({ "qemu-img", "create", "-q", "-f", "qcow2", "-b", image, "-F",
		    format, path },
		  error);
	if (err) {
		unlink(path.c_str());
		error = "making an overlay: " + error;
		return {};
	}
	return path;
}

// Carries wrap_nbd()'s arguments through add_nbd().
struct Wrap {
	std::string image, format, overlay;
};

std::unique_ptr<Backend> wrap_nbd(std::unique_ptr<Backend> nbd, void *data)
{
	auto *w = static_cast<Wrap *>(data);
	return std::make_unique<ImageDisk>(std::move(nbd), -1, w->image, w->format,
					   std::exchange(w->overlay, {}));
}

// Serves @path (of @format, or the overlay on it) by a private qemu-nbd
// and adds it. The disk id, or a negative errno with @error set, which
// names the image as the caller did (@name).
int add_served(lkl_disk &disk, const std::string &name, const std::string &path,
	       const char *format, bool read_only, bool overlay, std::string &error)
{
	Wrap w{ path, format, {} };
	int err = 0;
	if (overlay) {
		w.overlay = make_overlay(path, format, error, err);
		if (w.overlay.empty()) {
			error = name + ": " + error;
			return err;
		}
	}
	ErrorCapture said;
	if (said.fd() < 0)
		return -errno;
	const std::string &served = overlay ? w.overlay : path;
	std::string opts = "driver=" + std::string(overlay ? "qcow2" : format) +
			   ",file.driver=file,file.filename=" + qemu_escape(served);
	std::vector<std::string> args = { "qemu-nbd", "--image-opts", opts,
					  "--cache=writeback", "--discard=unmap" };
	if (read_only)
		args.push_back("--read-only");
	std::vector<char *> argv;
	for (std::string &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	// qemu-nbd allocates a buffer for each request; above glibc's mmap
	// threshold each one is fresh memory, faulted in and zeroed page by
	// page, which cost a third of a sequential read here. Raising the
	// thresholds lets the buffers be reused.
	const char *tunables = getenv("GLIBC_TUNABLES");
	std::string malloc_tunables =
		"GLIBC_TUNABLES=" +
		(tunables && *tunables ? std::string(tunables) + ":" : std::string()) +
		"glibc.malloc.mmap_threshold=67108864:"
		"glibc.malloc.trim_threshold=268435456";

	auto c = nbd_connect(nullptr, argv.data(), { malloc_tunables }, said.fd(),
			     error, err);
	if (!c.h) {
		std::string line = said.last_line("qemu-nbd");
		// qemu-nbd names what it opened by our --image-opts string:
		// the user knows the file by its name, which comes first.
		static const std::string opening = "Failed to blk_new_open '";
		if (line.rfind(opening, 0) == 0 && line.find("': ") != std::string::npos)
			line.erase(0, line.find("': ") + 3);
		if (err != -ENOENT && !line.empty()) {
			error = "qemu-nbd: " + line;
			err = -EIO;
		}
		error = name + ": " + error;
		if (!w.overlay.empty())
			unlink(w.overlay.c_str());
		return err;
	}
	err = add_nbd(disk, std::move(c), read_only, error, wrap_nbd, &w);
	if (err < 0) {
		error = name + ": " + error;
		if (!w.overlay.empty())
			unlink(w.overlay.c_str());
	}
	return err;
}

} // namespace image
} // namespace disk
} // namespace

extern "C" {

[[gnu::visibility("default")]] int lkl_image_format(int fd, const char **format)
{
	if (fd < 0 || !format)
		return -LKL_EINVAL;
	return disk::image::format_of(fd, *format);
}

[[gnu::visibility("default")]] int
lkl_disk_add_image(struct lkl_disk *disk, const char *path,
		   const struct lkl_image_opts *opts)
{
	static const struct lkl_image_opts none = {};
	if (!opts)
		opts = &none;
	if (!disk || !path ||
	    (opts->flags & ~(LKL_IMAGE_READ_ONLY | LKL_IMAGE_OVERLAY)) ||
	    opts->reserved)
		return -LKL_EINVAL;
	namespace image = disk::image;
	bool read_only = opts->flags & LKL_IMAGE_READ_ONLY;
	std::string error;
	int err;
	try {
		const char *format = opts->format && strcmp(opts->format, "auto")
					     ? image::known_format(opts->format)
					     : nullptr;
		if (opts->format && strcmp(opts->format, "auto") && !format) {
			disk::set_error(opts->error, opts->error_len,
					std::string(opts->format) +
						": unknown image format (raw, qcow2, "
						"vmdk, vhdx, vdi, vpc or auto)");
			return -LKL_EINVAL;
		}
		int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			disk::set_error(opts->error, opts->error_len,
					std::string(path) + ": " + strerror(errno));
			return err;
		}
		if (!format && (err = image::format_of(fd, format)) < 0) {
			close(fd);
			disk::set_error(opts->error, opts->error_len,
					std::string(path) + ": " + strerror(-err));
			return err;
		}
		if (strcmp(format, "raw") || (opts->flags & LKL_IMAGE_OVERLAY)) {
			close(fd);
			err = image::add_served(*disk, path, image::absolute(path), format,
						read_only,
						opts->flags & LKL_IMAGE_OVERLAY, error);
		} else {
			lkl_disk file = {};
			file.fd = fd;
			unsigned int flags = 0;
			long long size = disk::capacity(file, flags);
			err = size < 0 ? static_cast<int>(size) : -ENOMEM;
			std::unique_ptr<disk::Backend> backend;
			if (size >= 0)
				backend = disk::make_backend(file, err);
			if (!backend) {
				close(fd);
				error = std::string(path) + ": " + strerror(-err);
			} else {
				backend = std::make_unique<image::ImageDisk>(
					std::move(backend), fd, path, "raw", "");
				disk->fd = -1;
				err = disk::attach(*disk, std::move(backend),
						   static_cast<unsigned long long>(size),
						   flags);
			}
		}
	} catch (const std::bad_alloc &) {
		err = -ENOMEM;
	}
	if (err < 0)
		disk::set_error(opts->error, opts->error_len,
				error.empty() ? std::string(strerror(-err)) : error);
	return err;
}

[[gnu::visibility("default")]] int
lkl_disk_apply_overlay(struct lkl_disk disk, char *error, unsigned long error_len)
{
	auto *image = dynamic_cast<disk::image::ImageDisk *>(
		static_cast<disk::Backend *>(disk.dev));
	if (!image)
		return -LKL_EINVAL;
	return image->apply_overlay(error, error_len);
}

} // extern "C"
