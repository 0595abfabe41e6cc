// fs2tar: a tree of a disk image written to a tar archive (pax), read with
// the image's own file system code (the kernel's XFS, ext4, btrfs or
// vfat) in this process. The archive is what GNU tar --xattrs --acls makes
// of the same tree on a mounted file system (tar_out.hpp).
#include "archive_file.hpp"
#include "cli.hpp"
#include "image_fs.hpp"
#include "image_session.hpp"
#include "signals.hpp"
#include "tar_out.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include <getopt.h>
#include <unistd.h>

#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

const char *prog = "fs2tar";

int usage(FILE *out, int status)
{
	fprintf(out,
		"usage: fs2tar [-t TYPE] [-P PART] [-m MB] [-p] [-s FILE] [-z FILTER]\n"
		"              IMAGE [PATH] [-o ARCHIVE|-]\n"
		"\n"
		"Writes the tree at PATH (default \"/\") in the disk image IMAGE to a tar\n"
		"archive (pax format), as GNU tar --xattrs --acls -C PATH -c . would on the\n"
		"mounted file system: entries \"./\", \"./name\", ... keeping modes, numeric\n"
		"owners, times to the nanosecond, hard and symbolic links, device nodes,\n"
		"fifos, sparse files, extended attributes and POSIX ACLs. A PATH that is\n"
		"not a directory is archived under its own name. The image is opened\n"
		"read-only and left unchanged; the kernel's own driver for its file system\n"
		"(xfs, ext4, btrfs or vfat) runs inside this program: no mount, no root.\n"
		"\n"
		"  -o, --output ARCHIVE          the archive (default \"-\": standard output,\n"
		"                                not a terminal); compressed as its name\n"
		"                                says: .gz .tgz .bz2 .xz .zst .lz4 .lzma .lz .Z\n"
		"  -z, --compress FILTER         compress with FILTER whatever the name:\n"
		"                                gzip, bzip2, xz, zstd, lz4, lzma, lzip,\n"
		"                                compress, or none\n"
		"  -t, --filesystem-type TYPE    xfs, ext4, btrfs or vfat (default: detected)\n"
		"  -P, --partition N             partition N of the image (default 0: the\n"
		"                                whole image holds the file system)\n"
		"  -s, --selinux-contexts FILE   also write \"NAME CONTEXT\" lines for the\n"
		"                                entries' security.selinux contexts to FILE\n"
		"  -m, --mb MB                   kernel memory in MiB (default: 128)\n"
		"      --norecovery              read a file system that was not unmounted\n"
		"                                cleanly without replaying its journal\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Errors name the file and the archive goes on without it. Exit status: 0\n"
		"when everything was archived, 1 when anything failed, 2 for bad usage,\n"
		"128+N when stopped by signal N (the partial archive file is removed).\n");
	return status;
}

struct Args {
	lkl_tools::ImageOptions image;
	std::string path = "/";
	std::string output = "-";
	std::string filter;
	std::string selinux;
};

std::optional<int> parse(int argc, char **argv, Args &args)
{
	enum { opt_version = 256 };
	static const struct option longopts[] = {
		{"output", required_argument, nullptr, 'o'},
		{"compress", required_argument, nullptr, 'z'},
		{"filesystem-type", required_argument, nullptr, 't'},
		{"partition", required_argument, nullptr, 'P'},
		{"selinux-contexts", required_argument, nullptr, 's'},
		{"mb", required_argument, nullptr, 'm'},
		{"norecovery", no_argument, nullptr, lkl_tools::opt_norecovery},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "o:z:t:P:s:m:ph", longopts, nullptr)) != -1) {
		if (auto status = lkl_tools::image_option(c, optarg, args.image, prog)) {
			if (*status >= 0)
				return *status;
			continue;
		}
		switch (c) {
		case 'o':
			args.output = optarg;
			break;
		case 'z':
			if (!lkl_tools::known_filter(optarg)) {
				fprintf(stderr, "%s: unknown compression: %s\n", prog,
					optarg);
				return 2;
			}
			args.filter = optarg;
			break;
		case 's':
			args.selinux = optarg;
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
		return lkl_tools::bad_usage(prog, "too many arguments (the archive is "
						  "given with -o)");
	args.image.image = argv[optind];
	if (left == 2)
		args.path = argv[optind + 1];
	args.image.read_only = true;
	return std::nullopt;
}

// The archive's output file, removed unless kept: a partial archive must
// not pass for a whole one.
struct Output {
	std::string path; // "" for standard output
	bool keep = false;
	~Output()
	{
		if (!keep && !path.empty())
			unlink(path.c_str());
	}
};

int run(const Args &args)
{
	lkl_tools::SignalWatcher signals;
	std::unique_ptr<FILE, int (*)(FILE *)> selinux(nullptr, fclose);
	if (!args.selinux.empty()) {
		selinux.reset(fopen(args.selinux.c_str(), "we"));
		if (!selinux) {
			fprintf(stderr, "%s: %s: %s\n", prog, args.selinux.c_str(),
				strerror(errno));
			return 1;
		}
	}
	std::string error;
	lkl_tools::emergency_image(args.image.image, args.image.read_only);
	auto session = lkl_tools::ImageSession::open(args.image, error);
	if (!session) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	lkl_tools::emergency_fstype(session->type());
	for (const std::string &warning : session->warnings())
		fprintf(stderr, "%s: warning: %s\n", prog, warning.c_str());

	auto fs = lkl_tools::make_image_fs(session->root());
	std::string path = args.path;
	if (path.empty() || path[0] != '/')
		path.insert(0, "/");
	path = fs->resolve(path, true);
	lkl_tools::Stat st;
	if (long err = fs->lstat(path, st); err < 0) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, args.path.c_str(),
			strerror(static_cast<int>(-err)),
			args.output == "-" && err == -ENOENT
				? " in the image (the archive is given with -o)"
				: "");
		return 1;
	}

	// An existing output file is not ours to remove on failure.
	Output output;
	if (args.output != "-" && access(args.output.c_str(), F_OK) != 0)
		output.path = args.output;
	else
		output.keep = true;
	auto archive = lkl_tools::open_archive_out(args.output, args.filter, error);
	if (!archive) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}

	lkl_tools::CopyHooks hooks;
	hooks.error = lkl_tools::error_printer(prog);
	hooks.stop = lkl_tools::SignalWatcher::stopping;
	lkl_tools::TarOut tar(*fs, archive.get(), hooks);
	if (selinux)
		tar.selinux = [&selinux](const std::string &name,
					 const std::string &context) {
			fprintf(selinux.get(), "%s %s\n", name.c_str(), context.c_str());
		};
	if (S_ISDIR(st.st_mode)) {
		tar.add(path, ".");
	} else {
		std::size_t slash = path.rfind('/');
		tar.add(path, path.substr(slash + 1));
	}
	bool good = !tar.failed();
	bool closed = archive_write_close(archive.get()) == ARCHIVE_OK;
	if (!closed) {
		fprintf(stderr, "%s: %s: %s\n", prog,
			args.output == "-" ? "standard output" : args.output.c_str(),
			lkl_tools::archive_error(archive.get()).c_str());
		good = false;
	}
	bool complete = closed && !tar.broken() && !lkl_tools::SignalWatcher::stopping();
	archive.reset();
	if (selinux && fclose(selinux.release()) != 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.selinux.c_str(),
			strerror(errno));
		good = false;
	}
	std::string failed = session->close();
	if (!failed.empty()) {
		fprintf(stderr, "%s: %s: %s\n", prog, args.image.image.c_str(),
			failed.c_str());
		good = false;
	}
	if (int sig = lkl_tools::SignalWatcher::signal()) {
		fprintf(stderr, "%s: stopped by %s; the archive is incomplete%s\n", prog,
			strsignal(sig), output.path.empty() ? "" : " and was removed");
		return 128 + sig;
	}
	output.keep = complete;
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
