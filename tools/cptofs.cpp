// cptofs and cpfromfs: copy files and trees into a disk image, or out of it,
// with the image's own file system code (the Linux kernel's XFS, ext4, btrfs
// or vfat driver) running in this process. One program, two names: what it
// does follows from the name it runs under (argv[0]), else from the
// CPTOFS_DEFAULT_FROM_IMAGE compile definition.
//
// Both directions share the tools' copy engine (copier.hpp) over the
// host's file system and the mounted image's.
#include "cli.hpp"
#include "copier.hpp"
#include "host_fs.hpp"
#include "image_fs.hpp"
#include "image_session.hpp"
#include "progress.hpp"
#include "signals.hpp"

#include <lkl/kernel.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CPTOFS_DEFAULT_FROM_IMAGE
#define CPTOFS_DEFAULT_FROM_IMAGE 0
#endif
#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

const char *prog = "cptofs";

bool stopping()
{
	return lkl_tools::SignalWatcher::stopping();
}

using lkl_tools::Amount;
using lkl_tools::Copier;
using lkl_tools::CopyOptions;
using lkl_tools::Fs;
using lkl_tools::join;
using lkl_tools::Progress;
using lkl_tools::Stat;

int usage(FILE *out, bool from_image, int status)
{
	if (from_image)
		fprintf(out,
			"usage: cpfromfs -i IMAGE [-t TYPE] [-P PART] [-o OWNER] [-g GROUP] [-m MB] [-p]\n"
			"                SRC... DST\n"
			"\n"
			"Copies files and directory trees SRC out of the disk image IMAGE to DST\n"
			"on the host. SRC are absolute paths inside the image (\"/\" is its root\n"
			"directory). The image is opened read-only and left unchanged.\n");
	else
		fprintf(out,
			"usage: cptofs -i IMAGE [-t TYPE] [-P PART] [-o OWNER] [-g GROUP] [-m MB] [-p]\n"
			"              SRC... DST\n"
			"\n"
			"Copies host files and directory trees SRC into the disk image IMAGE, to\n"
			"DST, an absolute path inside the image (\"/\" is its root directory).\n");
	fprintf(out,
		"The image's file system (xfs, ext4, btrfs or vfat) is the Linux kernel's\n"
		"own driver running inside this program: no mount, no root needed.\n"
		"\n"
		"As with cp -a: if DST is an existing directory, each SRC goes inside it\n"
		"(SRC ending in \"/.\" or being \"/\": its contents do), else the single\n"
		"SRC is copied to DST. Directories are copied recursively, keeping modes,\n"
		"owners, times to the nanosecond, symbolic links (not followed), hard\n"
		"links, holes of sparse files, extended attributes and POSIX ACLs, device\n"
		"nodes and fifos. An existing non-directory at the destination is replaced.\n"
		"\n"
		"  -i, --filesystem-image IMAGE  the image file or block device, or an NBD\n"
		"                                URI: nbd://HOST[:PORT]/EXPORT or\n"
		"                                nbd+unix:///EXPORT?socket=PATH (required)\n"
		"      --format FMT              the image's format: qcow2, vmdk, vhdx, vdi,\n"
		"                                vpc, raw, or auto (default: from the\n"
		"                                file's header, never its name); all but\n"
		"                                raw are served by a private qemu-nbd\n"
		"      --overlay[=discard|apply] write to a temporary qcow2 overlay on the\n"
		"                                image, then drop it (discard, the default:\n"
		"                                the image stays bit-identical) or commit it\n"
		"                                into the image (apply)\n"
		"  -t, --filesystem-type TYPE    xfs, ext4, btrfs or vfat (default: detected)\n"
		"  -P, --partition N|VG/LV       partition N of the image (default 0: the\n"
		"                                whole image holds the file system), or\n"
		"                                the LVM2 logical volume LV of volume\n"
		"                                group VG (linear or striped)\n"
		"  -o, --owner USER              give the copies this owner (name or uid)\n"
		"  -g, --group GROUP             give the copies this group (name or gid)\n"
		"  -m, --mb MB                   kernel memory in MiB (default: 128)\n"
		"      --norecovery              read a file system that was not unmounted\n"
		"                                cleanly without replaying its journal: its\n"
		"                                last checkpoint (cpfromfs only)\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Errors name the file and the copy goes on with the next one. An image\n"
		"the host has mounted (itself, or a loop device backed by it) is not\n"
		"written. Exit status: 0 when everything was copied, 1 when anything\n"
		"failed, 2 for bad usage, 3 when the kernel stopped with a panic (a\n"
		"damaged image; its last messages are shown), 128+N when stopped by\n"
		"signal N (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP). A stop\n"
		"signal ends the copy and unmounts the image cleanly; if that takes more\n"
		"than LKL_STOP_GRACE seconds (default 10), or a second signal comes, the\n"
		"program exits at once and says whether the image may need a repair\n"
		"(never one opened read-only). A progress bar is shown on a terminal for\n"
		"large copies.\n");
	return status;
}

// A user or group given by number or by name.
template <typename Lookup>
std::optional<unsigned> parse_id(const char *arg, Lookup lookup)
{
	char *end = nullptr;
	errno = 0;
	unsigned long id = strtoul(arg, &end, 10);
	if (*arg && !*end && !errno && id <= 0xffffffffUL)
		return static_cast<unsigned>(id);
	return lookup(arg);
}

std::optional<unsigned> user_id(const char *arg)
{
	return parse_id(arg, [](const char *name) -> std::optional<unsigned> {
		if (const struct passwd *pw = getpwnam(name))
			return pw->pw_uid;
		return std::nullopt;
	});
}

std::optional<unsigned> group_id(const char *arg)
{
	return parse_id(arg, [](const char *name) -> std::optional<unsigned> {
		if (const struct group *gr = getgrnam(name))
			return gr->gr_gid;
		return std::nullopt;
	});
}

// A path inside the image: always absolute, without trailing slashes
// ("" is the root, so that root + "/" + name works).
std::string image_path(std::string path)
{
	if (path.empty() || path[0] != '/')
		path.insert(0, "/");
	while (!path.empty() && path.back() == '/')
		path.pop_back();
	return path;
}

std::string host_path(std::string path)
{
	while (path.size() > 1 && path.back() == '/')
		path.pop_back();
	return path;
}

// Where SRC goes when DST is a directory: DST/NAME, or DST itself for a
// root or "dir/." source, whose contents go into DST.
std::string target_in(const std::string &dst, const std::string &src)
{
	std::size_t slash = src.find_last_of('/');
	std::string name = slash == std::string::npos ? src : src.substr(slash + 1);
	if (name.empty() || name == "." || name == "..")
		return dst;
	return join(dst, name);
}

struct Args {
	lkl_tools::ImageOptions image;
	lkl_tools::CopyOptions copy;
	std::vector<std::string> paths;
};

// Parses the command line; returns an exit status to leave with, if any.
std::optional<int> parse(int argc, char **argv, bool from_image, Args &args)
{
	enum { opt_version = 256 };
	using lkl_tools::opt_format;
	using lkl_tools::opt_norecovery;
	using lkl_tools::opt_overlay;
	// Said when the image is held by a tool that is finishing with it.
	args.image.notice = [](const std::string &msg) {
		fprintf(stderr, "%s: %s\n", prog, msg.c_str());
	};
	static const struct option longopts[] = {
		{"filesystem-image", required_argument, nullptr, 'i'},
		{"filesystem-type", required_argument, nullptr, 't'},
		{"partition", required_argument, nullptr, 'P'},
		{"owner", required_argument, nullptr, 'o'},
		{"group", required_argument, nullptr, 'g'},
		{"mb", required_argument, nullptr, 'm'},
		{"norecovery", no_argument, nullptr, opt_norecovery},
		{"format", required_argument, nullptr, opt_format},
		{"overlay", optional_argument, nullptr, opt_overlay},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "i:t:P:o:g:m:ph", longopts,
				nullptr)) != -1) {
		if (auto status = lkl_tools::image_option(c, optarg, args.image, prog)) {
			if (*status >= 0)
				return *status;
			continue;
		}
		switch (c) {
		case 'i':
			args.image.image = optarg;
			break;
		case 'o':
			args.copy.uid = user_id(optarg);
			if (!args.copy.uid) {
				fprintf(stderr, "%s: no such user: %s\n", prog, optarg);
				return 2;
			}
			break;
		case 'g':
			args.copy.gid = group_id(optarg);
			if (!args.copy.gid) {
				fprintf(stderr, "%s: no such group: %s\n", prog,
					optarg);
				return 2;
			}
			break;
		case 'h':
			return usage(stdout, from_image, 0);
		case opt_version:
			printf("%s (lkl) %s\n", prog, LKL_VERSION);
			return 0;
		default:
			return lkl_tools::bad_usage(prog, nullptr);
		}
	}
	if (args.image.image.empty())
		return lkl_tools::bad_usage(prog, "no image given (-i IMAGE)");
	if (argc - optind < 2)
		return lkl_tools::bad_usage(prog, "need a source and a destination");
	args.paths.assign(argv + optind, argv + argc);
	return std::nullopt;
}

// Opens the image, copies, and unmounts; the exit status.
int copy_all(Args &args, bool from_image)
{
	// With an overlay the image is only read whichever way the copy
	// goes; writing lets a file system replay its log into the overlay.
	args.image.read_only = from_image &&
			       args.image.overlay == lkl_tools::Overlay::none;
	// An overlay keeps the image as it was until the session ends.
	lkl_tools::emergency_image(args.image.image,
				   args.image.read_only ||
					   args.image.overlay != lkl_tools::Overlay::none);
	lkl_tools::emergency_fstype(args.image.type);
	lkl_tools::SignalWatcher signals;
	std::string error;
	auto session = lkl_tools::ImageSession::open(args.image, error);
	if (!session) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	for (const std::string &warning : session->warnings())
		fprintf(stderr, "%s: warning: %s\n", prog, warning.c_str());
	lkl_tools::emergency_fstype(session->type());
	// Created files get exactly the modes asked for.
	lkl_sys_umask(0);

	auto host_fs = lkl_tools::make_host_fs();
	auto image_fs = lkl_tools::make_image_fs(session->root());
	Fs &src = from_image ? *image_fs : *host_fs;
	Fs &dst = from_image ? *host_fs : *image_fs;
	auto normal = from_image ? image_path : host_path;
	auto dst_normal = from_image ? host_path : image_path;

	CopyOptions &copy = args.copy;
	copy.lenient_chown = (from_image && geteuid() != 0) ||
			     (!from_image && session->type() == "vfat");
	copy.lenient_chmod = !from_image && session->type() == "vfat";

	std::vector<std::string> sources;
	for (std::size_t i = 0; i + 1 < args.paths.size(); i++)
		sources.push_back(src.resolve(normal(args.paths[i]), false));
	std::string dest = dst.resolve(dst_normal(args.paths.back()), false);

	// As with cp, a link to a directory is a directory to copy into.
	Stat dst_st;
	bool into_dir = dst.stat(dest, dst_st) == 0 && S_ISDIR(dst_st.st_mode);
	if (into_dir)
		dest = dst.resolve(dest, true);

	Amount total;
	if (isatty(STDERR_FILENO))
		for (const std::string &s : sources)
			lkl_tools::measure(src, s, total, stopping);
	Progress progress(isatty(STDERR_FILENO), total);
	lkl_tools::CopyHooks hooks;
	hooks.error = [&progress](const std::string &path, long err,
				  const std::string &doing) {
		progress.clear();
		fprintf(stderr, "%s: %s: %s%s\n", prog, path.c_str(),
			doing.empty() ? "" : (doing + ": ").c_str(),
			strerror(static_cast<int>(-err)));
	};
	hooks.progress = [&progress](std::uint64_t bytes, std::uint64_t files) {
		progress.add(bytes, files);
	};
	hooks.stop = stopping;
	Copier copier(src, dst, copy, hooks);

	if (!into_dir && sources.size() > 1) {
		copier.error(dest, -ENOTDIR, "copying several sources");
	} else {
		for (const std::string &s : sources) {
			Stat st;
			if (long err = src.lstat(s, st); err < 0) {
				copier.error(s, err);
				continue;
			}
			copier.copy(s, into_dir ? target_in(dest, s) : dest, st);
		}
	}
	// Unmounting writes back what the kernel still caches: on a large
	// copy that takes a moment, so say what is happening.
	progress.say("unmounting the image...");
	std::string failed = session->close();
	progress.finish();
	if (!failed.empty()) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.image.image.c_str(),
			failed.c_str());
		return 1;
	}
	if (int sig = lkl_tools::SignalWatcher::signal()) {
		fprintf(stderr, "%s: stopped by %s; the image was unmounted "
				"cleanly\n",
			prog, strsignal(sig));
		return 128 + sig;
	}
	return copier.failed() ? 1 : 0;
}

} // namespace

int main(int argc, char **argv)
{
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	bool from_image = CPTOFS_DEFAULT_FROM_IMAGE;
	if (!strcmp(base, "cpfromfs"))
		from_image = true;
	else if (!strcmp(base, "cptofs"))
		from_image = false;
	prog = from_image ? "cpfromfs" : "cptofs";
	lkl_tools::emergency_program(prog);
	lkl_tools::exit_on_kernel_panic();

	return lkl_tools::tool_main(prog, [&] {
		Args args;
		if (auto status = parse(argc, argv, from_image, args))
			return *status;
		return copy_all(args, from_image);
	});
}
