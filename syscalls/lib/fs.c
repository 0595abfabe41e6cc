// SPDX-License-Identifier: GPL-2.0
/*
 * Mount helpers for lkl programs, on top of the lkl_sys_* calls.
 */
#include <string.h>

#include <lkl.h>

/* Longest filesystem type name lkl_mount_fs() accepts. */
#define MAX_FSTYPE_LEN 64

long lkl_mount_fs(char *fstype)
{
	char dir[MAX_FSTYPE_LEN + 2];
	size_t len = fstype ? strlen(fstype) : 0;
	int created;
	long ret;

	if (len == 0 || len > MAX_FSTYPE_LEN || strchr(fstype, '/'))
		return -LKL_EINVAL;
	dir[0] = '/';
	memcpy(dir + 1, fstype, len + 1);

	ret = lkl_sys_mkdir(dir, 0700);
	if (ret < 0 && ret != -LKL_EEXIST)
		return ret;
	created = ret == 0;

	ret = lkl_sys_mount(fstype, dir, fstype, 0, NULL);
	if (ret == -LKL_EBUSY)
		return 1;		/* already mounted there */
	if (ret < 0) {
		if (created)
			lkl_sys_rmdir(dir);
		return ret;
	}
	return 0;
}

long lkl_umount_timeout(char *path, int flags, long timeout_ms)
{
	/* Sleep in the kernel between tries, so that its work can finish. */
	const long step_ms = 10;
	long waited = 0;

	for (;;) {
		struct __lkl__kernel_timespec ts;
		long ret = lkl_sys_umount2(path, flags);

		if (ret != -LKL_EBUSY || waited >= timeout_ms)
			return ret;
		ts.tv_sec = 0;
		ts.tv_nsec = step_ms * 1000000L;
		lkl_sys_nanosleep(&ts, NULL);
		waited += step_ms;
	}
}

/*
 * Disks: implemented with the block driver in the next issue. Until then
 * nothing can be added, so nothing can be mounted from a disk.
 */

int lkl_disk_add(struct lkl_disk *disk)
{
	(void)disk;
	return -LKL_ENOSYS;
}

int lkl_disk_remove(struct lkl_disk disk)
{
	(void)disk;
	return -LKL_ENOSYS;
}

long lkl_mount_dev(unsigned int disk_id, unsigned int part,
		   const char *fs_type, int flags, const char *opts,
		   char *mnt_str, unsigned int mnt_str_len)
{
	(void)disk_id;
	(void)part;
	(void)fs_type;
	(void)flags;
	(void)opts;
	(void)mnt_str;
	(void)mnt_str_len;
	return -LKL_ENOSYS;
}

long lkl_umount_dev(unsigned int disk_id, unsigned int part, int flags,
		    long timeout_ms)
{
	(void)disk_id;
	(void)part;
	(void)flags;
	(void)timeout_ms;
	return -LKL_ENOSYS;
}
