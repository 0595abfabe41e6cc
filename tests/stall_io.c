/*
 * For the tests: a library preloaded into a tool (LD_PRELOAD) that makes its
 * disk I/O hang, as a dead disk or a hung network file system would. lkl's
 * host disk backend reads and writes with preadv() and pwritev(); the tools
 * read and write host files otherwise. Once the file named by
 * LKL_STALL_READS_AFTER exists, every preadv() blocks for ever; once the
 * file named by LKL_STALL_WRITES_AFTER exists, every pwritev() does
 * (name an existing file to stall from the start).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

static void stall_if(const char *var)
{
	const char *path = getenv(var);

	if (path && access(path, F_OK) == 0)
		for (;;)
			pause();
}

#define STALLING(name, var)                                                   \
	ssize_t name(int fd, const struct iovec *iov, int n, off_t off)        \
	{                                                                      \
		static ssize_t (*real)(int, const struct iovec *, int, off_t); \
		if (!real)                                                     \
			real = (ssize_t(*)(int, const struct iovec *, int,     \
					   off_t))dlsym(RTLD_NEXT, #name);     \
		stall_if(var);                                                 \
		return real(fd, iov, n, off);                                  \
	}

STALLING(preadv, "LKL_STALL_READS_AFTER")
STALLING(preadv64, "LKL_STALL_READS_AFTER")
STALLING(pwritev, "LKL_STALL_WRITES_AFTER")
STALLING(pwritev64, "LKL_STALL_WRITES_AFTER")
