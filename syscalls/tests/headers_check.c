// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-only check: <lkl.h> next to the C library's own headers, both
 * orders, no clash (built with -Wall -Wextra -Werror).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <lkl.h>
#include <lkl_host.h>
#include <lkl/write_log.h>

/* Both worlds in one function: host stat and lkl stat side by side. */
long lkl_headers_check_c(const char *path)
{
	struct stat host;
	struct lkl_stat st;
	long ret;

	if (stat(path, &host) != 0)
		return -errno;
	ret = lkl_sys_stat(path, &st);
	if (ret < 0)
		return ret;
	if (!LKL_S_ISDIR(st.st_mode) || !S_ISDIR(host.st_mode))
		return -LKL_ENOTDIR;
	return st.lkl_st_mtime == host.st_mtime && O_RDONLY == LKL_O_RDONLY;
}
