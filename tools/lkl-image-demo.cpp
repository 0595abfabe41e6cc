// lkl-image-demo: the kernel's own file system code on a disk image, in
// this process: mount IMAGE, put a small tree in it, list it, copy a file
// back out to the host, unmount.
//
//   lkl-image-demo [-t TYPE] IMAGE OUTFILE
#include <lkl.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace {

void quiet(const char *, int)
{
}

bool ok(long ret, const std::string &what)
{
	if (ret >= 0)
		return true;
	fprintf(stderr, "lkl-image-demo: %s: %s\n", what.c_str(),
		lkl_strerror((int)ret));
	return false;
}

bool put_file(const std::string &path, const std::string &text)
{
	int fd = lkl_sys_open(path.c_str(),
			      LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644);
	if (!ok(fd, "create " + path))
		return false;
	long n = lkl_sys_write(fd, text.data(), text.size());
	long err = lkl_sys_close(fd);
	return ok(n < 0 ? n : err, "write " + path);
}

void list(const std::string &dir, int depth)
{
	int err = 0;
	struct lkl_dir *d = lkl_opendir(dir.c_str(), &err);
	if (!d) {
		ok(err, "opendir " + dir);
		return;
	}
	while (struct lkl_linux_dirent64 *e = lkl_readdir(d)) {
		std::string name = e->d_name;
		if (name == "." || name == "..")
			continue;
		std::string path = dir + "/" + name;
		struct lkl_stat st;
		if (!ok(lkl_sys_lstat(path.c_str(), &st), "lstat " + path))
			continue;
		printf("  %*s%-*s %8lld bytes  mode %o\n", depth * 2, "",
		       24 - depth * 2, name.c_str(), (long long)st.st_size,
		       (unsigned)st.st_mode & 07777);
		if (LKL_S_ISDIR(st.st_mode))
			list(path, depth + 1);
	}
	lkl_closedir(d);
}

bool copy_out(const std::string &from, const char *to)
{
	int in = lkl_sys_open(from.c_str(), LKL_O_RDONLY, 0);
	if (!ok(in, "open " + from))
		return false;
	int out = open(to, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (out < 0) {
		perror(to);
		lkl_sys_close(in);
		return false;
	}
	std::vector<char> buf(1 << 16);
	long n;
	bool good = true;
	while ((n = lkl_sys_read(in, buf.data(), buf.size())) > 0)
		if (write(out, buf.data(), n) != n)
			good = false;
	lkl_sys_close(in);
	return close(out) == 0 && good && ok(n, "read " + from);
}

} // namespace

int main(int argc, char **argv)
{
	const char *type = nullptr;
	int i = 1;
	if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: lkl-image-demo [-t TYPE] IMAGE OUTFILE\n\n"
		       "Mounts IMAGE with the Linux kernel running in this process\n"
		       "(type detected unless -t xfs|ext4|btrfs|vfat), writes /demo\n"
		       "into it, lists the image, copies /demo/etc/motd to OUTFILE\n"
		       "on the host and unmounts.\n");
		return 0;
	}
	if (argc > 2 && !strcmp(argv[1], "-t")) {
		type = argv[2];
		i = 3;
	}
	if (argc - i != 2) {
		fprintf(stderr, "usage: lkl-image-demo [-t TYPE] IMAGE OUTFILE\n");
		return 2;
	}

	struct lkl_disk disk = {};
	disk.fd = open(argv[i], O_RDWR);
	if (disk.fd < 0) {
		perror(argv[i]);
		return 1;
	}
	lkl_host_ops.print = quiet;
	auto t0 = std::chrono::steady_clock::now();
	if (!ok(lkl_init(&lkl_host_ops), "init") ||
	    !ok(lkl_start_kernel("mem=128M"), "boot"))
		return 1;
	int id = lkl_disk_add(&disk);
	char mnt[64];
	if (!ok(id, "add disk") ||
	    !ok(lkl_mount_dev(id, 0, type, 0, nullptr, mnt, sizeof(mnt)),
		std::string("mount ") + argv[i]))
		return 1;
	double ms = std::chrono::duration<double, std::milli>(
		std::chrono::steady_clock::now() - t0).count();
	struct lkl_statfs sf;
	lkl_sys_statfs(mnt, &sf);
	printf("booted Linux and mounted %s (fs magic 0x%llx) in %.1f ms\n",
	       argv[i], (unsigned long long)sf.f_type, ms);

	std::string root = mnt;
	bool good = ok(lkl_sys_mkdir((root + "/demo").c_str(), 0755), "mkdir") &&
		    ok(lkl_sys_mkdir((root + "/demo/etc").c_str(), 0755), "mkdir") &&
		    put_file(root + "/demo/etc/motd",
			     "written by the Linux kernel inside lkl-image-demo\n") &&
		    put_file(root + "/demo/README", std::string(5000, 'x') + "\n") &&
		    ok(lkl_sys_symlink("etc/motd", (root + "/demo/motd").c_str()),
		       "symlink");
	if (good) {
		printf("the image now holds:\n");
		list(root, 0);
		good = copy_out(root + "/demo/motd", argv[i + 1]);
		if (good)
			printf("copied /demo/motd out to %s\n", argv[i + 1]);
	}
	good = ok(lkl_umount_dev(id, 0, 0, 5000), "unmount") && good;
	good = ok(lkl_disk_remove(disk), "remove disk") && good;
	lkl_sys_halt();
	lkl_cleanup();
	close(disk.fd);
	if (good)
		printf("unmounted cleanly\n");
	return good ? 0 : 1;
}
