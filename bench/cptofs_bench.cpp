// cptofs and cpfromfs against the host, timed as whole processes:
//
//   tree, file: cptofs of a tree (default /usr/include), and of one 1 GiB
//         file, into a fresh XFS image, against mount -o loop + cp -a +
//         sync + umount of the same kind of fresh image (needs root and
//         loop devices; skipped otherwise).
//   first byte: cpfromfs copying one small file out of a 2 GiB XFS image
//         that also holds a 1 GiB file: the whole process, and process
//         start to the first byte written (seen with inotify), with the
//         image in the host's page cache and, as root, after dropping it.
//
//   cptofs_bench [--tree DIR] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using Clock = std::chrono::steady_clock;

const std::string cptofs = CPTOFS_BIN;
const std::string cpfromfs = CPFROMFS_BIN;

double ms(Clock::duration d)
{
	return std::chrono::duration<double, std::milli>(d).count();
}

int sh(const std::string &cmd)
{
	int status = system(("{ " + cmd + "; } >/dev/null 2>&1").c_str());
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v.empty() ? 0 : v[v.size() / 2];
}

// A scratch directory with a fresh XFS image in it, removed at the end.
class Scratch {
public:
	explicit Scratch(const char *size)
	{
		char tmpl[] = "/tmp/cptofs-bench-XXXXXX";
		if (!mkdtemp(tmpl)) {
			perror("mkdtemp");
			exit(1);
		}
		dir = tmpl;
		image = dir + "/xfs.img";
		ok = sh("truncate -s " + std::string(size) + " " + image +
			" && mkfs.xfs -q -f " + image) == 0;
	}
	~Scratch() { sh("umount " + dir + "/mnt; rm -rf " + dir); }
	Scratch(const Scratch &) = delete;
	Scratch &operator=(const Scratch &) = delete;

	std::string dir, image;
	bool ok;
};

// Starts argv (stdout to /dev/null); its pid, or -1.
pid_t spawn(const std::vector<std::string> &args)
{
	std::vector<char *> argv;
	for (const std::string &a : args)
		argv.push_back(const_cast<char *>(a.c_str()));
	argv.push_back(nullptr);
	posix_spawn_file_actions_t actions;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid = -1;
	if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ))
		pid = -1;
	posix_spawn_file_actions_destroy(&actions);
	return pid;
}

bool wait_ok(pid_t pid)
{
	int status = 0;
	return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	       WEXITSTATUS(status) == 0;
}

// cptofs of path (a tree or a file) against the host's cp -a.
void bench_copy(const std::string &path, int runs)
{
	// Both sides read the source from the host's page cache.
	sh("find " + path + " -type f -exec cat {} + >/dev/null");
	std::vector<double> lkl, host;
	bool host_ok = true;
	// Interleaved, so that both see the same machine.
	for (int i = 0; i < runs; i++) {
		Scratch a("4G");
		if (!a.ok) {
			printf("%s: mkfs.xfs failed\n", path.c_str());
			return;
		}
		sh("sync");
		auto t0 = Clock::now();
		if (!wait_ok(spawn({cptofs, "-i", a.image, path, "/"}))) {
			printf("%s: cptofs failed\n", path.c_str());
			return;
		}
		lkl.push_back(ms(Clock::now() - t0));
		if (!host_ok)
			continue;

		Scratch b("4G");
		std::string mnt = b.dir + "/mnt";
		sh("mkdir " + mnt + " && sync");
		t0 = Clock::now();
		if (sh("mount -o loop -t xfs " + b.image + " " + mnt)) {
			host_ok = false;
			continue;
		}
		sh("cp -a " + path + " " + mnt + "/ && sync && umount " + mnt);
		host.push_back(ms(Clock::now() - t0));
	}
	printf("%s into a fresh 4 GiB XFS image, median of %d:\n",
	       path.c_str(), runs);
	printf("  cptofs (boot, mount, copy, unmount)      %8.0f ms\n",
	       median(lkl));
	if (host.empty())
		printf("  host side skipped (mount -o loop needs root and loop "
		       "devices)\n");
	else
		printf("  mount -o loop, cp -a, sync, umount       %8.0f ms   "
		       "ratio %.2fx\n",
		       median(host), median(lkl) / median(host));
}

// Starts cpfromfs and times it: to the first write into the destination
// directory, and to its exit.
bool first_byte(const std::string &image, const std::string &out,
		double &first, double &whole)
{
	sh("rm -rf " + out + " && mkdir " + out);
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0 || inotify_add_watch(in, out.c_str(), IN_MODIFY) < 0)
		return false;
	auto t0 = Clock::now();
	pid_t pid = spawn({cpfromfs, "-i", image, "/small", out});
	struct pollfd p = {in, POLLIN, 0};
	first = -1;
	if (poll(&p, 1, 10000) == 1)
		first = ms(Clock::now() - t0);
	bool ok = wait_ok(pid);
	whole = ms(Clock::now() - t0);
	close(in);
	return ok && first >= 0;
}

// s: a fresh 2 GiB XFS image; big (1 GiB) and a small file go into it.
void bench_first_byte(const Scratch &s, const std::string &big, int runs)
{
	std::string small = s.dir + "/small";
	if (!s.ok || sh("echo 'a small file' > " + small) ||
	    !wait_ok(spawn({cptofs, "-i", s.image, big, small, "/"}))) {
		printf("first byte: setting up the image failed\n");
		return;
	}
	bool root = geteuid() == 0;
	for (bool cold : {false, true}) {
		if (cold && !root) {
			printf("  cold: skipped (dropping the page cache needs root)\n");
			break;
		}
		std::vector<double> firsts, wholes;
		for (int i = 0; i < runs; i++) {
			if (cold)
				sh("sync; echo 3 > /proc/sys/vm/drop_caches");
			double first, whole;
			if (!first_byte(s.image, s.dir + "/out", first, whole)) {
				printf("first byte: cpfromfs failed\n");
				return;
			}
			firsts.push_back(first);
			wholes.push_back(whole);
		}
		printf("cpfromfs of one small file from a 2 GiB XFS image holding "
		       "a 1 GiB file, %s, median of %d:\n",
		       cold ? "cold (host caches dropped)" : "warm", runs);
		printf("  process start to first byte written      %8.1f ms\n",
		       median(firsts));
		printf("  whole process (to exit, image unmounted) %8.1f ms\n",
		       median(wholes));
	}
}

} // namespace

int main(int argc, char **argv)
{
	std::string tree = "/usr/include";
	int runs = 3;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tree") && i + 1 < argc)
			tree = argv[++i];
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
			runs = std::max(1, atoi(argv[++i]));
		else {
			fprintf(stderr, "usage: cptofs_bench [--tree DIR] [--runs N]\n");
			return 2;
		}
	}
	if (sh("command -v mkfs.xfs")) {
		printf("skipped: mkfs.xfs is missing\n");
		return 0;
	}
	bench_copy(tree, runs);
	Scratch s("2G");
	std::string big = s.dir + "/big";
	if (sh("head -c 1G /dev/urandom > " + big)) {
		printf("cannot write %s\n", big.c_str());
		return 1;
	}
	bench_copy(big, runs);
	bench_first_byte(s, big, std::max(runs, 11));
	return 0;
}
