/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _LKL_KERNEL_DIRECT_IO_H
#define _LKL_KERNEL_DIRECT_IO_H

#include <linux/fs.h>
#include <linux/uio.h>

/*
 * The read and write calls, as the generic ones, except that on a file
 * opened O_DIRECT the data goes through kernel pages (direct_io.c).
 */
long lkl_dio_read(unsigned long fd, char __user *buf, size_t count);
long lkl_dio_write(unsigned long fd, const char __user *buf, size_t count);
long lkl_dio_pread64(unsigned long fd, char __user *buf, size_t count,
		     loff_t pos);
long lkl_dio_pwrite64(unsigned long fd, const char __user *buf, size_t count,
		      loff_t pos);
long lkl_dio_readv(unsigned long fd, const struct iovec __user *vec,
		   unsigned long vlen);
long lkl_dio_writev(unsigned long fd, const struct iovec __user *vec,
		    unsigned long vlen);
long lkl_dio_preadv(unsigned long fd, const struct iovec __user *vec,
		    unsigned long vlen, unsigned long pos_l,
		    unsigned long pos_h);
long lkl_dio_pwritev(unsigned long fd, const struct iovec __user *vec,
		     unsigned long vlen, unsigned long pos_l,
		     unsigned long pos_h);
long lkl_dio_preadv2(unsigned long fd, const struct iovec __user *vec,
		     unsigned long vlen, unsigned long pos_l,
		     unsigned long pos_h, rwf_t flags);
long lkl_dio_pwritev2(unsigned long fd, const struct iovec __user *vec,
		      unsigned long vlen, unsigned long pos_l,
		      unsigned long pos_h, rwf_t flags);

#endif
