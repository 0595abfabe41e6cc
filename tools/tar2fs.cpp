// tar2fs: a tar archive unpacked into a disk image with the image's own
// file system code (the kernel's XFS, ext4, btrfs or vfat) in this
// process, keeping what GNU tar --xattrs --acls keeps (tar_in.hpp).
#include "archive_file.hpp"
#include "cli.hpp"
#include "image_fs.hpp"
#include "image_session.hpp"
#include "signals.hpp"
#include "tar_in.hpp"

#include <lkl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include <getopt.h>
#include <unistd.h>

#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

const char *prog = "tar2fs";

int usage(FILE *out, int status)
{
	fprintf(out,
		"usage: tar2fs [-t TYPE] [-P PART] [-m MB] [-p] [-C DIR] IMAGE [ARCHIVE|-]\n"
		"\n"
		"Unpacks the tar archive ARCHIVE (default \"-\": standard input) into the\n"
		"disk image IMAGE, under DIR (default \"/\", an existing directory of the\n"
		"image), as GNU tar --xattrs --acls -x -C DIR does as root: files,\n"
		"directories, hard and symbolic links, device nodes and fifos with their\n"
		"numeric owners, modes, times to the nanosecond, extended attributes and\n"
		"POSIX ACLs; the holes of sparse files stay holes. Any tar libarchive reads\n"
		"(pax, GNU, ustar), compressed or not (gzip, bzip2, xz, zstd, ...). The\n"
		"image's file system (xfs, ext4, btrfs or vfat) is the Linux kernel's own\n"
		"driver running inside this program: no mount, no root needed.\n"
		"\n"
		"An existing non-directory at an entry's name is replaced. Names with a\n"
		"\"..\" component are refused; a leading \"/\" is dropped.\n"
		"\n"
		"  -C, --directory DIR           unpack under DIR in the image\n"
		"  -t, --filesystem-type TYPE    xfs, ext4, btrfs or vfat (default: detected)\n"
		"  -P, --partition N             partition N of the image (default 0: the\n"
		"                                whole image holds the file system)\n"
		"  -m, --mb MB                   kernel memory in MiB (default: 128)\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Errors name the entry and the unpacking goes on with the next one. An\n"
		"image the host has mounted is not written. Exit status: 0 when everything\n"
		"was unpacked, 1 when anything failed, 2 for bad usage, 128+N when stopped\n"
		"by signal N. The image is always unmounted cleanly before the program\n"
		"ends.\n");
	return status;
}

struct Args {
	lkl_tools::ImageOptions image;
	std::string dir = "/";
	std::string archive = "-";
};

std::optional<int> parse(int argc, char **argv, Args &args)
{
	enum { opt_version = 256 };
	static const struct option longopts[] = {
		{"directory", required_argument, nullptr, 'C'},
		{"filesystem-type", required_argument, nullptr, 't'},
		{"partition", required_argument, nullptr, 'P'},
		{"mb", required_argument, nullptr, 'm'},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "C:t:P:m:ph", longopts, nullptr)) != -1) {
		if (auto status = lkl_tools::image_option(c, optarg, args.image, prog)) {
			if (*status >= 0)
				return *status;
			continue;
		}
		switch (c) {
		case 'C':
			args.dir = optarg;
			break;
		case 'h':
			return usage(stdout, 0);
		case opt_version:
			printf("%s (lkl) %s\n", prog, LKL_VERSION);
			return 0;
		default:
			return lkl_tools::bad_usage(prog, nullptr);
		}
	}
	int left = argc - optind;
	if (left < 1)
		return lkl_tools::bad_usage(prog, "no image given");
	if (left > 2)
		return lkl_tools::bad_usage(prog, "too many arguments");
	args.image.image = argv[optind];
	if (left == 2)
		args.archive = argv[optind + 1];
	if (args.archive == "-" && isatty(STDIN_FILENO))
		return lkl_tools::bad_usage(prog, "refusing to read an archive from a "
						  "terminal");
	return std::nullopt;
}

int run(const Args &args)
{
	lkl_tools::SignalWatcher signals;
	std::string error;
	// The archive first: a wrong name must not cost a boot.
	auto archive = lkl_tools::open_archive_in(args.archive, error);
	if (!archive) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	lkl_tools::emergency_image(args.image.image, args.image.read_only);
	auto session = lkl_tools::ImageSession::open(args.image, error);
	if (!session) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	lkl_tools::emergency_fstype(session->type());
	for (const std::string &warning : session->warnings())
		fprintf(stderr, "%s: warning: %s\n", prog, warning.c_str());
	// Created files get exactly the modes asked for.
	lkl_sys_umask(0);

	auto fs = lkl_tools::make_image_fs(session->root());
	std::string dir = args.dir;
	if (dir.empty() || dir[0] != '/')
		dir.insert(0, "/");
	dir = fs->resolve(dir, true);
	lkl_tools::Stat st;
	long err = fs->lstat(dir, st);
	if (err == 0 && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.dir.c_str(),
			strerror(static_cast<int>(-err)));
		return 1;
	}

	lkl_tools::CopyOptions copy;
	copy.lenient_chown = copy.lenient_chmod = session->type() == "vfat";
	lkl_tools::CopyHooks hooks;
	hooks.error = lkl_tools::error_printer(prog);
	hooks.stop = lkl_tools::SignalWatcher::stopping;
	lkl_tools::TarIn tar(*fs, archive.get(), copy, hooks);
	tar.archive_name = args.archive == "-" ? "standard input" : args.archive;
	tar.extract(dir);
	bool good = !tar.failed();
	archive.reset();

	std::string failed = session->close();
	if (!failed.empty()) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.image.image.c_str(),
			failed.c_str());
		good = false;
	}
	if (int sig = lkl_tools::SignalWatcher::signal()) {
		fprintf(stderr, "%s: stopped by %s; the image was unmounted cleanly\n",
			prog, strsignal(sig));
		return 128 + sig;
	}
	return good ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
	lkl_tools::emergency_program(prog);
	lkl_tools::exit_on_kernel_panic();
	return lkl_tools::tool_main(prog, [&] {
		lkl_tools::use_utf8_names();
		Args args;
		if (auto status = parse(argc, argv, args))
			return *status;
		return run(args);
	});
}
