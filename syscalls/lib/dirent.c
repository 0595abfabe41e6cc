// SPDX-License-Identifier: GPL-2.0
/*
 * Directory streams for lkl programs, on top of getdents64.
 */
#include <stdlib.h>

#include <lkl.h>

struct lkl_dir {
	int fd;
	int err;		/* 0, or the error that ended lkl_readdir() */
	unsigned int len;	/* bytes of buf that getdents64 filled */
	unsigned int pos;	/* offset of the next entry in buf */
	_Alignas(8) char buf[4096];
};

struct lkl_dir *lkl_fdopendir(int fd, int *err)
{
	struct lkl_stat st;
	struct lkl_dir *dir;
	long ret;

	ret = lkl_sys_fstat(fd, &st);
	if (ret < 0) {
		*err = (int)ret;
		return NULL;
	}
	if (!LKL_S_ISDIR(st.st_mode)) {
		*err = -LKL_ENOTDIR;
		return NULL;
	}

	dir = malloc(sizeof(*dir));
	if (!dir) {
		*err = -LKL_ENOMEM;
		return NULL;
	}
	dir->fd = fd;
	dir->err = 0;
	dir->len = 0;
	dir->pos = 0;
	*err = 0;
	return dir;
}

struct lkl_dir *lkl_opendir(const char *path, int *err)
{
	struct lkl_dir *dir;
	long fd;

	fd = lkl_sys_open(path, LKL_O_RDONLY | LKL_O_DIRECTORY | LKL_O_CLOEXEC,
			  0);
	if (fd < 0) {
		*err = (int)fd;
		return NULL;
	}
	dir = lkl_fdopendir((int)fd, err);
	if (!dir)
		lkl_sys_close((unsigned int)fd);
	return dir;
}

void lkl_rewinddir(struct lkl_dir *dir)
{
	long ret = lkl_sys_lseek((unsigned int)dir->fd, 0, LKL_SEEK_SET);

	dir->err = ret < 0 ? (int)ret : 0;
	dir->len = 0;
	dir->pos = 0;
}

int lkl_closedir(struct lkl_dir *dir)
{
	long ret = lkl_sys_close((unsigned int)dir->fd);

	free(dir);
	return (int)ret;
}

struct lkl_linux_dirent64 *lkl_readdir(struct lkl_dir *dir)
{
	struct lkl_linux_dirent64 *de;

	dir->err = 0;
	if (dir->pos >= dir->len) {
		long ret = lkl_sys_getdents64((unsigned int)dir->fd,
					      (struct lkl_linux_dirent64 *)
					      dir->buf, sizeof(dir->buf));

		dir->pos = 0;
		dir->len = 0;
		if (ret <= 0) {
			dir->err = (int)ret;	/* 0 at the end */
			return NULL;
		}
		dir->len = (unsigned int)ret;
	}

	de = (struct lkl_linux_dirent64 *)(dir->buf + dir->pos);
	dir->pos += de->d_reclen;
	return de;
}

int lkl_errdir(struct lkl_dir *dir)
{
	return dir->err;
}

int lkl_dirfd(struct lkl_dir *dir)
{
	return dir->fd;
}
