// lkl-boot: boot the kernel in this process, use it, halt it.
//
// The built-in example of what the library does: boot Linux, report what
// booted and how long it took, build a small tree on a tmpfs through system
// calls, list it back, and halt. With --log the kernel's log is shown.
#include <lkl.h>
#include <lkl/kernel.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t)
{
	return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

void quiet_print(const char *, int)
{
}

int usage(FILE *out, int status)
{
	fprintf(out,
		"usage: lkl-boot [--log] [--cmdline \"KERNEL ARGS\"]\n"
		"\n"
		"Boots Linux inside this process, builds and lists a small tree\n"
		"on a tmpfs through system calls, and halts.\n"
		"\n"
		"  --log            show the kernel log\n"
		"  --cmdline ARGS   kernel command line (default \"mem=64M\")\n"
		"  -h, --help       this help\n");
	return status;
}

// Fails the demo with the kernel's message for @ret if it is an error.
bool check(long ret, const char *what)
{
	if (ret >= 0)
		return true;
	fprintf(stderr, "lkl-boot: %s: %s\n", what, lkl_strerror((int)ret));
	return false;
}

bool build_and_list_tree()
{
	if (!check(lkl_sys_mkdir("/demo", 0755), "mkdir /demo") ||
	    !check(lkl_sys_mount(const_cast<char *>("tmpfs"),
				 const_cast<char *>("/demo"),
				 const_cast<char *>("tmpfs"), 0, nullptr),
		   "mount tmpfs") ||
	    !check(lkl_sys_mkdir("/demo/etc", 0755), "mkdir /demo/etc"))
		return false;

	const char text[] = "hello from the Linux kernel in this process\n";
	std::error_code ec;
	lkl::Fd fd = lkl::open("/demo/etc/motd",
			       LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644, ec);
	if (ec) {
		fprintf(stderr, "lkl-boot: create /demo/etc/motd: %s\n",
			ec.message().c_str());
		return false;
	}
	lkl::write(fd.get(), std::as_bytes(std::span(text, sizeof(text) - 1)), ec);
	if (ec || fd.close()) {
		fprintf(stderr, "lkl-boot: write /demo/etc/motd failed\n");
		return false;
	}
	if (!check(lkl_sys_symlink("etc/motd", "/demo/motd"), "symlink"))
		return false;

	int err = 0;
	struct lkl_dir *dir = lkl_opendir("/demo", &err);
	if (!dir)
		return check(err, "opendir /demo");
	printf("tree on the in-kernel tmpfs:\n");
	while (struct lkl_linux_dirent64 *d = lkl_readdir(dir)) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		std::string path = std::string("/demo/") + d->d_name;
		struct lkl_stat st;
		if (!check(lkl_sys_lstat(path.c_str(), &st), path.c_str()))
			break;
		printf("  %-10s mode %06o  %lld bytes\n", d->d_name,
		       (unsigned)st.st_mode, (long long)st.st_size);
	}
	err = lkl_errdir(dir);
	lkl_closedir(dir);
	if (!check(err, "readdir /demo"))
		return false;

	char buf[128] = {};
	fd = lkl::open("/demo/motd", LKL_O_RDONLY, 0, ec);
	if (ec)
		return check(-ec.value(), "open /demo/motd");
	lkl::read(fd.get(), std::as_writable_bytes(std::span(buf, sizeof(buf) - 1)), ec);
	printf("/demo/motd (through the symlink): %s", buf);
	return !ec;
}

} // namespace

int main(int argc, char **argv)
{
	bool log = false;
	std::string cmdline = "mem=64M";

	for (int i = 1; i < argc; i++) {
		std::string_view arg = argv[i];
		if (arg == "--log")
			log = true;
		else if (arg == "--cmdline" && i + 1 < argc)
			cmdline = argv[++i];
		else if (arg == "-h" || arg == "--help")
			return usage(stdout, 0);
		else
			return usage(stderr, 2);
	}

	if (!log)
		lkl_host_ops.print = quiet_print;
	if (!check(lkl_init(&lkl_host_ops), "lkl_init"))
		return 1;

	auto t0 = Clock::now();
	if (!check(lkl_start_kernel("%s", cmdline.c_str()), "boot"))
		return 1;
	double boot_ms = ms_since(t0);

	struct lkl_new_utsname uts;
	if (check(lkl_sys_uname(&uts), "uname"))
		printf("booted %s %s (%s) in %.1f ms\n", uts.sysname,
		       uts.release, uts.machine, boot_ms);

	bool ok = build_and_list_tree();

	t0 = Clock::now();
	if (!check(lkl_sys_halt(), "halt"))
		return 1;
	printf("halted in %.1f ms\n", ms_since(t0));
	lkl_cleanup();
	return ok ? 0 : 1;
}
