/*
 * A program written the way upstream LKL's clients are (tools/lkl/tests,
 * lklfuse, cptofs), built against the *installed* headers and library only:
 * if it compiles, links and passes, upstream programs that use the same
 * calls build and run unchanged.
 *
 *   compat IMAGE FSTYPE write   put a tree on the image
 *   compat IMAGE FSTYPE check   read it back (a new process, a new kernel)
 *
 * Every check prints what failed and exits 1; success prints "ok" lines.
 */
#include <lkl.h>
#include <lkl_host.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NR_GROUP_THREADS 64
#define NR_FILES 8

static int failures;

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (!(cond)) {                                  \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);           \
			fprintf(stderr, "\n");                  \
			failures++;                             \
		}                                               \
	} while (0)

static char mnt[64];

static void file_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "%s/compat/file-%d", mnt, i);
}

static void file_text(char *buf, size_t len, int i)
{
	snprintf(buf, len, "file %d written by an upstream-style program\n", i);
}

/* --- host operations that upstream programs call directly --------------- */

struct thread_arg {
	int ran;
	lkl_thread_t self;
	long tid;
};

static void thread_body(void *p)
{
	struct thread_arg *arg = p;

	arg->self = lkl_host_ops.thread_self();
	arg->tid = lkl_host_ops.gettid();
	arg->ran = 1;
}

static void check_host_ops(void)
{
	struct thread_arg arg = { 0 };
	unsigned long long t0, t1;
	struct lkl_mutex *m;
	lkl_thread_t tid;

	t0 = lkl_host_ops.time();
	usleep(2000);
	t1 = lkl_host_ops.time();
	CHECK(t1 - t0 >= 2000000ULL && t1 - t0 < 10000000000ULL,
	      "time() is not monotonic nanoseconds: %llu then %llu", t0, t1);

	m = lkl_host_ops.mutex_alloc(1);
	CHECK(m != NULL, "mutex_alloc(1) failed");
	if (m) {
		lkl_host_ops.mutex_lock(m);
		lkl_host_ops.mutex_lock(m); /* recursive: no deadlock */
		lkl_host_ops.mutex_unlock(m);
		lkl_host_ops.mutex_unlock(m);
		lkl_host_ops.mutex_free(m);
	}

	tid = lkl_host_ops.thread_create(thread_body, &arg);
	CHECK(tid != 0, "thread_create failed");
	CHECK(lkl_host_ops.thread_join(tid) == 0, "thread_join failed");
	CHECK(arg.ran, "the thread did not run");
	CHECK(lkl_host_ops.thread_equal(arg.self, tid),
	      "thread_self() in the thread is not its handle");
	CHECK(!lkl_host_ops.thread_equal(lkl_host_ops.thread_self(), tid),
	      "two threads compare equal");
	CHECK(arg.tid > 0 && arg.tid != lkl_host_ops.gettid(),
	      "gettid: %ld in the thread, %ld here", arg.tid,
	      lkl_host_ops.gettid());
	printf("ok host operations\n");
}

/* --- new thread groups from many host threads --------------------------- */

struct group_arg {
	int index;
	long ret, pid, ppid, fd;
};

static void group_body(void *p)
{
	struct group_arg *arg = p;
	char path[128];

	arg->ret = lkl_sys_new_thread_group_leader();
	if (arg->ret)
		return;
	arg->pid = lkl_sys_getpid();
	arg->ppid = lkl_sys_getppid();
	/* A process of its own, with the program's descriptors copied. */
	snprintf(path, sizeof(path), "%s/compat/group-%d", mnt, arg->index);
	arg->fd = lkl_sys_open(path, LKL_O_CREAT | LKL_O_WRONLY, 0644);
	if (arg->fd >= 0) {
		lkl_sys_write(arg->fd, path, strlen(path));
		lkl_sys_close(arg->fd);
	}
}

static void check_thread_groups(void)
{
	struct group_arg args[NR_GROUP_THREADS];
	lkl_thread_t tids[NR_GROUP_THREADS];
	long main_pid = lkl_sys_getpid();
	int i, j;

	for (i = 0; i < NR_GROUP_THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].index = i;
		tids[i] = lkl_host_ops.thread_create(group_body, &args[i]);
		CHECK(tids[i] != 0, "thread_create %d failed", i);
	}
	for (i = 0; i < NR_GROUP_THREADS; i++) {
		if (!tids[i])
			continue;
		CHECK(lkl_host_ops.thread_join(tids[i]) == 0, "join %d", i);
		CHECK(args[i].ret == 0, "new_thread_group_leader: %s",
		      lkl_strerror((int)args[i].ret));
		CHECK(args[i].pid > 1 && args[i].pid != main_pid,
		      "thread %d: getpid() %ld", i, args[i].pid);
		CHECK(args[i].ppid == main_pid,
		      "thread %d: getppid() %ld, the program's pid is %ld", i,
		      args[i].ppid, main_pid);
		CHECK(args[i].fd >= 0, "thread %d: open in the new process: %s",
		      i, lkl_strerror((int)args[i].fd));
		for (j = 0; j < i; j++)
			CHECK(args[i].pid != args[j].pid,
			      "threads %d and %d share pid %ld", i, j,
			      args[i].pid);
	}
	CHECK(lkl_sys_getpid() == main_pid, "the program's pid changed");
	printf("ok %d new thread groups\n", NR_GROUP_THREADS);
}

/* --- the file system, through lkl_mount_dev and lkl_opendir ------------- */

static void write_tree(void)
{
	char path[128], text[128];
	long fd, ret;
	int i;

	snprintf(path, sizeof(path), "%s/compat", mnt);
	ret = lkl_sys_mkdir(path, 0755);
	CHECK(ret == 0, "mkdir %s: %s", path, lkl_strerror((int)ret));
	for (i = 0; i < NR_FILES; i++) {
		file_name(path, sizeof(path), i);
		file_text(text, sizeof(text), i);
		fd = lkl_sys_open(path, LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC,
				  0644);
		CHECK(fd >= 0, "open %s: %s", path, lkl_strerror((int)fd));
		if (fd < 0)
			continue;
		ret = lkl_sys_write(fd, text, strlen(text));
		CHECK(ret == (long)strlen(text), "write %s: %ld", path, ret);
		CHECK(lkl_sys_fsync(fd) == 0, "fsync %s", path);
		lkl_sys_close(fd);
	}
	printf("ok wrote %d files\n", NR_FILES);
}

static void check_tree(int groups_too)
{
	char path[128], text[128], buf[256];
	int seen[NR_FILES] = { 0 }, groups = 0;
	struct lkl_linux_dirent64 *de;
	struct lkl_dir *dir;
	int err = 0, i;
	long fd, n;

	snprintf(path, sizeof(path), "%s/compat", mnt);
	dir = lkl_opendir(path, &err);
	CHECK(dir != NULL, "lkl_opendir %s: %s", path, lkl_strerror(err));
	if (!dir)
		return;
	CHECK(lkl_dirfd(dir) >= 0, "lkl_dirfd");
	while ((de = lkl_readdir(dir))) {
		if (sscanf(de->d_name, "file-%d", &i) == 1 && i >= 0 &&
		    i < NR_FILES) {
			CHECK(de->d_type == LKL_DT_REG, "%s: d_type %d",
			      de->d_name, de->d_type);
			seen[i]++;
		} else if (!strncmp(de->d_name, "group-", 6)) {
			groups++;
		}
	}
	CHECK(lkl_errdir(dir) == 0, "lkl_readdir: %s",
	      lkl_strerror(lkl_errdir(dir)));
	CHECK(lkl_closedir(dir) == 0, "lkl_closedir");

	for (i = 0; i < NR_FILES; i++) {
		CHECK(seen[i] == 1, "file-%d listed %d times", i, seen[i]);
		file_name(path, sizeof(path), i);
		file_text(text, sizeof(text), i);
		fd = lkl_sys_open(path, LKL_O_RDONLY, 0);
		CHECK(fd >= 0, "open %s: %s", path, lkl_strerror((int)fd));
		if (fd < 0)
			continue;
		n = lkl_sys_read(fd, buf, sizeof(buf));
		CHECK(n == (long)strlen(text) && !memcmp(buf, text, n),
		      "%s: read back %ld bytes, not what was written", path, n);
		lkl_sys_close(fd);
	}
	if (groups_too)
		CHECK(groups == NR_GROUP_THREADS,
		      "%d files from the new thread groups, not %d", groups,
		      NR_GROUP_THREADS);
	printf("ok read back %d files\n", NR_FILES);
}

/* The block device through an ioctl with an lkl_ulong_t argument. */
static void check_device_size(off_t image_size)
{
	unsigned long long size = 0;
	lkl_long_t ret;
	long fd;

	fd = lkl_sys_open("/dev/vda", LKL_O_RDONLY, 0);
	CHECK(fd >= 0, "open /dev/vda: %s", lkl_strerror((int)fd));
	if (fd < 0)
		return;
	ret = lkl_sys_ioctl(fd, LKL_BLKGETSIZE64, (lkl_ulong_t)&size);
	CHECK(ret == 0 && size == (unsigned long long)image_size,
	      "BLKGETSIZE64: %ld, %llu bytes; the image has %lld", (long)ret,
	      size, (long long)image_size);
	lkl_sys_close(fd);
}

int main(int argc, char **argv)
{
	struct lkl_disk disk;
	int writing, disk_id;
	struct stat st;
	long ret;

	if (argc != 4 || (strcmp(argv[3], "write") && strcmp(argv[3], "check"))) {
		fprintf(stderr, "usage: %s IMAGE FSTYPE write|check\n", argv[0]);
		return 2;
	}
	writing = !strcmp(argv[3], "write");

	check_host_ops();

	/* A disk added before boot, as upstream programs do. */
	memset(&disk, 0, sizeof(disk));
	disk.fd = open(argv[1], writing ? O_RDWR : O_RDONLY);
	if (disk.fd < 0 || fstat(disk.fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	disk.ops = NULL;
	disk_id = lkl_disk_add(&disk);
	CHECK(disk_id == 0, "lkl_disk_add: %s", lkl_strerror(disk_id));
	if (disk_id < 0)
		return 1;

	ret = lkl_init(&lkl_host_ops);
	CHECK(ret == 0, "lkl_init: %s", lkl_strerror((int)ret));
	ret = lkl_start_kernel("mem=64M loglevel=4");
	CHECK(ret == 0, "lkl_start_kernel: %s", lkl_strerror((int)ret));
	if (ret)
		return 1;
	CHECK(lkl_is_running(), "lkl_is_running() is 0 after boot");

	/* Upstream's conventions for a fresh kernel. */
	ret = lkl_sys_open("/first", LKL_O_CREAT | LKL_O_RDWR, 0600);
	CHECK(ret == 0, "the first open returned %ld, not 0", ret);
	lkl_sys_close(ret);
	ret = lkl_sys_umask(022);
	CHECK(ret == 022, "umask is %lo, not 022", ret);
	CHECK(lkl_sys_getpid() == 1, "getpid() is %ld, not 1",
	      lkl_sys_getpid());
	printf("ok fresh kernel: fd 0, umask 022, pid 1\n");

	ret = lkl_mount_dev(disk_id, 0, argv[2], writing ? 0 : LKL_MS_RDONLY,
			    NULL, mnt, sizeof(mnt));
	CHECK(ret == 0, "lkl_mount_dev %s: %s", argv[2],
	      lkl_strerror((int)ret));
	if (ret)
		return 1;
	printf("ok mounted %s at %s\n", argv[2], mnt);
	check_device_size(st.st_size);

	if (writing) {
		write_tree();
		check_thread_groups();
		check_tree(1);
	} else {
		check_tree(1);
	}

	/* Networking is not built in: the helpers say so. */
	CHECK(lkl_if_up(1) == -LKL_ENOSYS, "lkl_if_up");
	CHECK(lkl_if_set_ipv4(1, 0x0100007f, 8) == -LKL_ENOSYS,
	      "lkl_if_set_ipv4");
	CHECK(lkl_netdev_add(NULL, NULL) == -LKL_ENOSYS, "lkl_netdev_add");
	CHECK(lkl_netdev_tap_create("tap0", 0) == NULL, "lkl_netdev_tap_create");

	ret = lkl_umount_dev(disk_id, 0, 0, 1000);
	CHECK(ret == 0, "lkl_umount_dev: %s", lkl_strerror((int)ret));
	ret = lkl_sys_halt();
	CHECK(ret == 0, "lkl_sys_halt: %s", lkl_strerror((int)ret));
	CHECK(!lkl_is_running(), "lkl_is_running() after halt");
	/* Upstream programs remove their disks after the halt. */
	ret = lkl_disk_remove(disk);
	CHECK(ret == 0, "lkl_disk_remove after halt: %s",
	      lkl_strerror((int)ret));
	lkl_cleanup();
	close(disk.fd);

	if (failures) {
		fprintf(stderr, "%d checks failed\n", failures);
		return 1;
	}
	printf("ok %s %s\n", argv[2], argv[3]);
	return 0;
}
