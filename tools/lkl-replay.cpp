// lkl-replay: list a disk's write log (lkl_disk_opts.write_log), or write
// the disk image as a power cut at a chosen point of it would leave it.
// The crash model is in replay.hpp and Documentation/write-log.md.
#include "replay.hpp"

#include <lkl/write_log.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

const char *prog = "lkl-replay";

void usage(FILE *out)
{
	std::fprintf(out,
"Usage: %s [OPTION]... LOG\n"
"       %s [OPTION]... LOG BASE OUT\n"
"\n"
"With LOG alone, list the records of a disk write log (one per line), or\n"
"with --points the crash points worth checking.\n"
"With BASE and OUT, write OUT: a copy of BASE, the image as it was when the\n"
"log began, with what would be on the disk after a power cut at --at.\n"
"BASE is only read; OUT is created whole or not at all.\n"
"\n"
"  -a, --at=POINT        where the power is cut: N (after the first N records\n"
"                        completed), mark:NAME (as that mark was placed), or\n"
"                        end (default)\n"
"  -u, --unflushed=WHICH requests not yet made durable by a flush or FUA:\n"
"                        none survive (default), all do, or a random subset\n"
"  -s, --seed=N          the subset for --unflushed=random (default 0)\n"
"  -p, --points          list the crash points: after each flush, at each mark,\n"
"                        and the end\n"
"  -f, --force           replace OUT if it exists\n"
"  -h, --help            this help\n"
"  -V, --version         the version\n"
"\n"
"Exit status: 0 on success, 1 on an error, 2 on a usage error.\n",
		     prog, prog);
}

[[noreturn]] void usage_error(const std::string &why)
{
	std::fprintf(stderr, "%s: %s\nTry '%s --help'.\n", prog, why.c_str(), prog);
	std::exit(2);
}

bool parse_u64(const char *s, uint64_t &v)
{
	if (!*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long n = std::strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	v = n;
	return true;
}

// Creates @out from what @fill writes to an unnamed file beside it, so a
// failure or a signal leaves no half-written image.
template <class Fill> void write_new_file(const std::string &out, bool force, Fill fill)
{
	std::string dir_buf = out;
	std::string dir = dirname(dir_buf.data());
	bool named = false;
	std::string tmp;
	int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
		// No O_TMPFILE here: a named temporary file instead.
		tmp = out + ".XXXXXX";
		fd = mkstemp(tmp.data());
		named = fd >= 0;
	}
	if (fd < 0)
		throw lkl_replay::Error(out + ": " + std::strerror(errno));
	try {
		fill(fd);
		if (fsync(fd))
			throw lkl_replay::Error(out + ": " + std::strerror(errno));
		if (named) {
			if (!force && access(out.c_str(), F_OK) == 0)
				throw lkl_replay::Error(out + ": exists (use --force)");
			if (rename(tmp.c_str(), out.c_str()))
				throw lkl_replay::Error(out + ": " + std::strerror(errno));
			named = false;
		} else {
			std::string proc = "/proc/self/fd/" + std::to_string(fd);
			if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, out.c_str(),
				   AT_SYMLINK_FOLLOW)) {
				if (errno != EEXIST || !force)
					throw lkl_replay::Error(out + ": " +
						(errno == EEXIST ? std::string("exists (use --force)")
								 : std::strerror(errno)));
				tmp = out + ".lkl-replay-" + std::to_string(getpid());
				if (linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(),
					   AT_SYMLINK_FOLLOW))
					throw lkl_replay::Error(out + ": " + std::strerror(errno));
				named = true;
				if (rename(tmp.c_str(), out.c_str()))
					throw lkl_replay::Error(out + ": " + std::strerror(errno));
				named = false;
			}
		}
	} catch (...) {
		if (named)
			unlink(tmp.c_str());
		close(fd);
		throw;
	}
	close(fd);
}

} // namespace

int main(int argc, char **argv)
{
	static const option long_opts[] = {
		{"at", required_argument, nullptr, 'a'},
		{"unflushed", required_argument, nullptr, 'u'},
		{"seed", required_argument, nullptr, 's'},
		{"points", no_argument, nullptr, 'p'},
		{"force", no_argument, nullptr, 'f'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, 'V'},
		{nullptr, 0, nullptr, 0},
	};
	std::string at = "end";
	lkl_replay::Unflushed unflushed = lkl_replay::Unflushed::none;
	uint64_t seed = 0;
	bool points = false, force = false;
	int c;
	while ((c = getopt_long(argc, argv, "a:u:s:pfhV", long_opts, nullptr)) != -1) {
		switch (c) {
		case 'a':
			at = optarg;
			break;
		case 'u':
			if (!std::strcmp(optarg, "none"))
				unflushed = lkl_replay::Unflushed::none;
			else if (!std::strcmp(optarg, "all"))
				unflushed = lkl_replay::Unflushed::all;
			else if (!std::strcmp(optarg, "random"))
				unflushed = lkl_replay::Unflushed::random;
			else
				usage_error(std::string("--unflushed: '") + optarg +
					    "' is not none, all or random");
			break;
		case 's':
			if (!parse_u64(optarg, seed))
				usage_error(std::string("--seed: '") + optarg +
					    "' is not a number");
			break;
		case 'p':
			points = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			std::printf("lkl-replay %s\n", LKL_VERSION);
			return 0;
		default:
			std::fprintf(stderr, "Try '%s --help'.\n", prog);
			return 2;
		}
	}
	int rest = argc - optind;
	if (rest != 1 && rest != 3)
		usage_error(rest == 0 ? "missing LOG" : "expected LOG, or LOG BASE OUT");
	if (rest == 3 && points)
		usage_error("--points lists; it takes LOG alone");

	try {
		lkl_replay::Log log(argv[optind]);
		if (log.truncated())
			std::fprintf(stderr, "%s: %s: the last record is cut short; "
				     "replaying what precedes it\n", prog, log.path().c_str());
		if (rest == 1) {
			if (points) {
				for (const auto &p : lkl_replay::crash_points(log)) {
					const char *kind = p.kind == lkl_replay::CrashPoint::flush ? "flush"
							   : p.kind == lkl_replay::CrashPoint::mark ? "mark"
							   : "end";
					std::printf("%llu %s%s%s\n", (unsigned long long)p.point, kind,
						    p.name.empty() ? "" : " ", p.name.c_str());
				}
			} else {
				for (const auto &r : log.records())
					std::printf("%s\n", r.describe().c_str());
			}
			return 0;
		}

		uint64_t point;
		if (at == "end")
			point = log.records().size();
		else if (at.rfind("mark:", 0) == 0)
			point = log.find_mark(at.substr(5));
		else if (!parse_u64(at.c_str(), point))
			usage_error("--at: '" + at + "' is not N, mark:NAME or end");
		auto state = lkl_replay::crash_state(log, point, unflushed, seed);

		std::string base_path = argv[optind + 1], out = argv[optind + 2];
		int base = open(base_path.c_str(), O_RDONLY | O_CLOEXEC);
		if (base < 0)
			throw lkl_replay::Error(base_path + ": " + std::strerror(errno));
		struct stat bst, ost;
		if (stat(out.c_str(), &ost) == 0 && fstat(base, &bst) == 0 &&
		    bst.st_dev == ost.st_dev && bst.st_ino == ost.st_ino) {
			close(base);
			throw lkl_replay::Error(out + ": is BASE itself; BASE is never written");
		}
		try {
			write_new_file(out, force, [&](int fd) {
				lkl_replay::write_image(log, state, base, fd);
			});
		} catch (...) {
			close(base);
			throw;
		}
		close(base);
		std::fprintf(stderr, "%s: %s: cut after %llu of %zu records: %zu durable "
			     "and %zu of %zu optional requests applied\n",
			     prog, out.c_str(), (unsigned long long)point,
			     log.records().size(), state.durable,
			     state.applied.size() - state.durable, state.optional);
	} catch (const lkl_replay::Error &e) {
		std::fprintf(stderr, "%s: %s\n", prog, e.what());
		return 1;
	} catch (const std::bad_alloc &) {
		std::fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	return 0;
}
