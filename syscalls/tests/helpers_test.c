// SPDX-License-Identifier: GPL-2.0
/*
 * The helpers of lib/ against a fake lkl_syscall() that plays the few
 * system calls they make: directory streams (with several getdents64
 * refills), lkl_mount_fs, lkl_umount_timeout, lkl_strerror, lkl_perror,
 * lkl_printf, and some of the classic wrappers of lkl/syscalls.h. No
 * kernel is booted.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lkl.h>

struct lkl_host_operations lkl_host_ops;

static char console[4096];
static size_t console_len;

static void print(const char *str, int len)
{
	if (console_len + (size_t)len >= sizeof(console))
		abort();
	memcpy(console + console_len, str, (size_t)len);
	console_len += (size_t)len;
	console[console_len] = 0;
}

/* What the fake kernel saw and answers. */
static long last_nr;
static long last_args[6];
static int dir_pos;
static int mkdir_calls;
static int mount_calls;
static int umount_busy;
static int sleeps;

static const char *const names[] = {
	".", "..", "a", "bb", "a-rather-long-name-to-vary-the-record-length",
};
#define NAMES ((int)(sizeof(names) / sizeof(names[0])))
#define DIR_FD 5

/* Two entries per call at most, so that lkl_readdir() has to refill. */
static long fake_getdents64(char *buf, size_t size)
{
	size_t used = 0;
	int k;

	for (k = 0; k < 2 && dir_pos < NAMES; k++, dir_pos++) {
		size_t len = strlen(names[dir_pos]);
		size_t reclen = (offsetof(struct lkl_linux_dirent64, d_name) +
				 len + 1 + 7) & ~(size_t)7;
		struct lkl_linux_dirent64 *de;

		if (used + reclen > size)
			break;
		de = (struct lkl_linux_dirent64 *)(buf + used);
		de->d_ino = 100 + dir_pos;
		de->d_off = dir_pos + 1;
		de->d_reclen = (unsigned short)reclen;
		de->d_type = LKL_DT_REG;
		memcpy(de->d_name, names[dir_pos], len + 1);
		used += reclen;
	}
	return (long)used;
}

long lkl_syscall(long no, long *params)
{
	last_nr = no;
	memcpy(last_args, params, sizeof(last_args));

	switch (no) {
	case __lkl__NR_openat:
		return strcmp((const char *)params[1], "/dir") ? -LKL_ENOENT
							       : DIR_FD;
	case __lkl__NR_fstat: {
		struct lkl_stat *st = (struct lkl_stat *)params[1];

		memset(st, 0, sizeof(*st));
		st->st_mode = params[0] == DIR_FD ? LKL_S_IFDIR | 0755
						  : LKL_S_IFREG | 0644;
		return 0;
	}
	case __lkl__NR_close:
		return 0;
	case __lkl__NR_lseek:
		dir_pos = 0;
		return 0;
	case __lkl__NR_getdents64:
		return fake_getdents64((char *)params[1], (size_t)params[2]);
	case __lkl__NR_mkdirat:
		return ++mkdir_calls > 1 ? -LKL_EEXIST : 0;
	case __lkl__NR_mount:
		return ++mount_calls > 1 ? -LKL_EBUSY : 0;
	case __lkl__NR_umount2:
		return umount_busy-- > 0 ? -LKL_EBUSY : 0;
	case __lkl__NR_nanosleep:
		sleeps++;
		return 0;
	case __lkl__NR_newfstatat:
		return 0;
	case __lkl__NR_dup3:
		return params[1];
	case __lkl__NR_fcntl:
		return 0;
	}
	return -LKL_ENOSYS;
}

static int failures;

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: check failed: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			failures++;					\
		}							\
	} while (0)

static void test_dir(void)
{
	struct lkl_linux_dirent64 *de;
	struct lkl_dir *dir;
	int err = 1, n = 0;

	CHECK(lkl_opendir("/nope", &err) == NULL && err == -LKL_ENOENT);
	CHECK(lkl_fdopendir(3, &err) == NULL && err == -LKL_ENOTDIR);

	dir = lkl_opendir("/dir", &err);
	CHECK(dir && err == 0);
	if (!dir)
		return;
	CHECK(lkl_dirfd(dir) == DIR_FD);
	while ((de = lkl_readdir(dir))) {
		CHECK(n < NAMES && !strcmp(de->d_name, names[n]));
		CHECK(de->d_ino == (unsigned long long)(100 + n));
		n++;
	}
	CHECK(n == NAMES);
	CHECK(lkl_errdir(dir) == 0);

	lkl_rewinddir(dir);
	de = lkl_readdir(dir);
	CHECK(de && !strcmp(de->d_name, "."));
	CHECK(lkl_closedir(dir) == 0);
}

static void test_mount(void)
{
	CHECK(lkl_mount_fs("proc") == 0);
	CHECK(lkl_mount_fs("proc") == 1);	/* EBUSY: already there */
	CHECK(lkl_mount_fs("a/b") == -LKL_EINVAL);
	CHECK(lkl_mount_fs("") == -LKL_EINVAL);

	umount_busy = 3;
	sleeps = 0;
	CHECK(lkl_umount_timeout("/mnt", 0, 1000) == 0 && sleeps == 3);
	umount_busy = 1000;
	sleeps = 0;
	CHECK(lkl_umount_timeout("/mnt", 0, 50) == -LKL_EBUSY);
	CHECK(sleeps == 5);

	CHECK(lkl_disk_add(NULL) == -LKL_ENOSYS);
	CHECK(lkl_mount_dev(0, 0, "ext4", 0, NULL, NULL, 0) == -LKL_ENOSYS);
}

static void test_strings(void)
{
	char big[1000];
	int e;

	/* Every errno number 1..133 but the two gaps (41, 58). */
	for (e = 1; e <= LKL_EHWPOISON; e++) {
		if (e == 41 || e == 58)
			continue;
		CHECK(strcmp(lkl_strerror(e), "Unknown error") != 0);
		CHECK(lkl_strerror(e) == lkl_strerror(-e));
	}
	CHECK(!strcmp(lkl_strerror(-LKL_ENOENT), "No such file or directory"));
	CHECK(!strcmp(lkl_strerror(LKL_EWOULDBLOCK), lkl_strerror(LKL_EAGAIN)));
	CHECK(!strcmp(lkl_strerror(41), "Unknown error"));

	console_len = 0;
	lkl_perror("open", -LKL_EROFS);
	CHECK(!strcmp(console, "open: Read-only file system\n"));

	console_len = 0;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	CHECK(lkl_printf("%s!", big) == 1000);	/* longer than its buffer */
	CHECK(console_len == 1000 && console[999] == '!');
}

static void test_classic(void)
{
	struct lkl_stat st;

	CHECK(lkl_sys_lstat("/x", &st) == 0);
	CHECK(last_nr == __lkl__NR_newfstatat);
	CHECK(last_args[0] == LKL_AT_FDCWD);
	CHECK(last_args[3] == LKL_AT_SYMLINK_NOFOLLOW);

	CHECK(lkl_sys_dup2(3, 3) == 3 && last_nr == __lkl__NR_fcntl);
	CHECK(lkl_sys_dup2(3, 4) == 4 && last_nr == __lkl__NR_dup3);

	CHECK(lkl_sys_read(7, NULL, 9) == -LKL_ENOSYS);
	CHECK(last_nr == __lkl__NR_read && last_args[0] == 7);
	CHECK(last_args[2] == 9 && last_args[3] == 0 && last_args[5] == 0);
}

int main(void)
{
	lkl_host_ops.print = print;

	test_dir();
	test_mount();
	test_strings();
	test_classic();

	if (failures) {
		fprintf(stderr, "%d checks failed\n", failures);
		return 1;
	}
	printf("lkl API helpers: all checks passed\n");
	return 0;
}
