// SPDX-License-Identifier: GPL-2.0
/*
 * Mount helpers for lkl programs, on top of the lkl_sys_* calls.
 */
#include <stdio.h>
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
 * Disks. The kernel names disk N "vd" plus letters (vda, ..., vdz, vdaa,
 * ...) and partition P of it "vdaP"; devtmpfs, mounted on /dev on first
 * use, makes the device nodes. A disk is mounted on /mnt/<device name>.
 */
static void dev_name(unsigned int disk_id, unsigned int part, char *buf,
		     size_t len)
{
	char letters[3] = { 0 };

	if (disk_id < 26) {
		letters[0] = (char)('a' + disk_id);
	} else {
		letters[0] = (char)('a' + disk_id / 26 - 1);
		letters[1] = (char)('a' + disk_id % 26);
	}
	if (part)
		snprintf(buf, len, "vd%s%u", letters, part);
	else
		snprintf(buf, len, "vd%s", letters);
}

static long dev_node(const char *name, char *path, size_t len)
{
	struct lkl_stat st;
	long err;

	snprintf(path, len, "/dev/%s", name);
	if (lkl_sys_stat(path, &st) == 0)
		return LKL_S_ISBLK(st.st_mode) ? 0 : -LKL_ENOTBLK;
	err = lkl_sys_mkdir("/dev", 0755);
	if (err < 0 && err != -LKL_EEXIST)
		return err;
	err = lkl_sys_mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	if (err < 0)
		return err;
	err = lkl_sys_stat(path, &st);
	if (err < 0)
		return err == -LKL_ENOENT ? -LKL_ENXIO : err;
	return LKL_S_ISBLK(st.st_mode) ? 0 : -LKL_ENOTBLK;
}

int lkl_get_virtio_blkdev(int disk_id, unsigned int part, uint32_t *pdevid)
{
	char name[32], dev[64];
	struct lkl_stat st;
	long err;

	if (disk_id < 0 || !pdevid)
		return -LKL_EINVAL;
	dev_name((unsigned int)disk_id, part, name, sizeof(name));
	err = dev_node(name, dev, sizeof(dev));
	if (err == 0)
		err = lkl_sys_stat(dev, &st);
	if (err < 0)
		return (int)err;
	*pdevid = (uint32_t)st.st_rdev;
	return 0;
}

long lkl_mount_dev(unsigned int disk_id, unsigned int part,
		   const char *fs_type, int flags, const char *opts,
		   char *mnt_str, unsigned int mnt_str_len)
{
	/* Tried in turn when fs_type is NULL: the file systems built in. */
	static const char *const probe[] = { "xfs", "ext4", "btrfs", "vfat" };
	char name[32], dev[64], mnt[64];
	long err;
	size_t i;

	if (!mnt_str || mnt_str_len == 0)
		return -LKL_EINVAL;
	dev_name(disk_id, part, name, sizeof(name));
	err = dev_node(name, dev, sizeof(dev));
	if (err < 0)
		return err;

	err = lkl_sys_mkdir("/mnt", 0755);
	if (err < 0 && err != -LKL_EEXIST)
		return err;
	snprintf(mnt, sizeof(mnt), "/mnt/%s", name);
	err = lkl_sys_mkdir(mnt, 0700);
	if (err < 0 && err != -LKL_EEXIST)
		return err;

	if (fs_type) {
		err = lkl_sys_mount(dev, mnt, (char *)fs_type, flags,
				    (void *)opts);
	} else {
		err = -LKL_EINVAL;
		for (i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
			long e = lkl_sys_mount(dev, mnt, (char *)probe[i],
					       flags, (void *)opts);
			if (e == 0 || (e != -LKL_EINVAL && e != -LKL_ENODEV &&
				       e != -LKL_EUCLEAN)) {
				err = e;
				break;
			}
		}
	}
	if (err < 0) {
		lkl_sys_rmdir(mnt);
		return err;
	}
	if (strlen(mnt) >= mnt_str_len) {
		lkl_sys_umount2(mnt, 0);
		lkl_sys_rmdir(mnt);
		return -LKL_ERANGE;
	}
	strcpy(mnt_str, mnt);
	return 0;
}

long lkl_umount_dev(unsigned int disk_id, unsigned int part, int flags,
		    long timeout_ms)
{
	char name[32], mnt[64];
	long err;

	dev_name(disk_id, part, name, sizeof(name));
	snprintf(mnt, sizeof(mnt), "/mnt/%s", name);
	err = lkl_umount_timeout(mnt, flags, timeout_ms);
	if (err < 0)
		return err;
	return lkl_sys_rmdir(mnt);
}
