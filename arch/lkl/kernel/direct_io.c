// SPDX-License-Identifier: GPL-2.0
/*
 * Direct I/O (O_DIRECT) from host memory.
 *
 * Without an MMU a "user" pointer is a plain address, but a host thread's
 * buffers are host memory, outside the kernel's memory map: they have no
 * struct page, so get_user_pages() cannot pin them for a bio to read into or
 * write from (and host tasks have an address space with nothing mapped in
 * it, binfmt.c, so it fails with -EFAULT). So the read and write calls on a
 * file opened O_DIRECT copy through bounce pages of kernel memory, given to
 * the file system as a bio_vec iterator, which direct I/O takes as it is:
 * the data still goes straight between those pages and the disk, and the
 * file system's own rules (alignment of offset and length) still apply.
 * Other calls that pin user pages (io_submit() on an O_DIRECT file,
 * vmsplice()) fail with -EFAULT.
 */
#include <linux/bvec.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/syscalls.h>
#include <linux/uio.h>
#include "direct_io.h"
#include "lkl.h"

/* At most this much is bounced per step (order-0 pages: no compaction). */
#define BOUNCE_PAGES	32

static bool is_direct(unsigned long fd)
{
	struct fd f = fdget(fd);
	bool direct = f.file && (f.file->f_flags & O_DIRECT);

	fdput(f);
	return direct;
}

/*
 * Moves @iter's bytes between the host and @file at *@pos through bounce
 * pages. Returns the bytes moved, or a negative errno if none were.
 */
static ssize_t bounce_rw(struct file *file, int rw, struct iov_iter *iter,
			 loff_t *pos, rwf_t flags)
{
	unsigned int npages = min_t(size_t, BOUNCE_PAGES,
				    DIV_ROUND_UP(iov_iter_count(iter), PAGE_SIZE));
	struct bio_vec bvec[BOUNCE_PAGES];
	struct page *pages[BOUNCE_PAGES];
	ssize_t done = 0, ret = 0;
	unsigned int i, allocated;

	for (allocated = 0; allocated < npages; allocated++) {
		pages[allocated] = alloc_page(GFP_KERNEL);
		if (!pages[allocated]) {
			ret = -ENOMEM;
			goto out;
		}
	}

	while (iov_iter_count(iter)) {
		size_t len = min_t(size_t, iov_iter_count(iter),
				   npages * PAGE_SIZE);
		unsigned int nr = DIV_ROUND_UP(len, PAGE_SIZE);
		struct iov_iter biter;

		for (i = 0; i < nr; i++) {
			size_t n = min_t(size_t, len - i * PAGE_SIZE, PAGE_SIZE);

			bvec[i].bv_page = pages[i];
			bvec[i].bv_offset = 0;
			bvec[i].bv_len = n;
			if (rw == WRITE &&
			    copy_page_from_iter(pages[i], 0, n, iter) != n) {
				ret = -EFAULT;
				goto out;
			}
		}
		iov_iter_bvec(&biter, rw, bvec, nr, len);
		if (rw == WRITE) {
			file_start_write(file);
			ret = vfs_iter_write(file, &biter, pos, flags);
			file_end_write(file);
		} else {
			ret = vfs_iter_read(file, &biter, pos, flags);
		}
		if (ret <= 0)
			break;
		if (rw == READ) {
			size_t left = ret;

			for (i = 0; left; i++) {
				size_t n = min_t(size_t, left, PAGE_SIZE);

				if (copy_page_to_iter(pages[i], 0, n, iter) != n) {
					ret = -EFAULT;
					goto out;
				}
				left -= n;
			}
		}
		done += ret;
		if (ret < len)
			break;
	}
out:
	for (i = 0; i < allocated; i++)
		__free_page(pages[i]);
	return done ? done : ret;
}

/*
 * One call: @pos is the offset of a pread/pwrite family call, or -1 for the
 * file position (read, write, readv, writev, and preadv2 with offset -1).
 */
static ssize_t direct_rw(unsigned long fd, int rw, struct iov_iter *iter,
			 loff_t pos, rwf_t flags)
{
	fmode_t need = rw == READ ? FMODE_READ : FMODE_WRITE;
	struct fd f;
	ssize_t ret;

	if (pos == -1) {
		f = fdget_pos(fd);
		if (!f.file)
			return -EBADF;
		pos = f.file->f_pos;
		ret = -EBADF;
		if (f.file->f_mode & need)
			ret = bounce_rw(f.file, rw, iter, &pos, flags);
		if (ret >= 0)
			f.file->f_pos = pos;
		fdput_pos(f);
		return ret;
	}
	if (pos < 0)
		return -EINVAL;
	f = fdget(fd);
	if (!f.file)
		return -EBADF;
	ret = -EBADF;
	if (f.file->f_mode & need) {
		ret = -ESPIPE;
		if (f.file->f_mode & (rw == READ ? FMODE_PREAD : FMODE_PWRITE))
			ret = bounce_rw(f.file, rw, iter, &pos, flags);
	}
	fdput(f);
	return ret;
}

static ssize_t direct_buf(unsigned long fd, int rw, void __user *buf,
			  size_t count, loff_t pos)
{
	struct iov_iter iter;
	struct iovec iov;
	int ret = import_single_range(rw, buf, count, &iov, &iter);

	return ret ? ret : direct_rw(fd, rw, &iter, pos, 0);
}

static ssize_t direct_vec(unsigned long fd, int rw,
			  const struct iovec __user *vec, unsigned long vlen,
			  loff_t pos, rwf_t flags)
{
	struct iovec iovstack[UIO_FASTIOV], *iov = iovstack;
	struct iov_iter iter;
	ssize_t ret;

	ret = import_iovec(rw, vec, vlen, ARRAY_SIZE(iovstack), &iov, &iter);
	if (ret < 0)
		return ret;
	ret = direct_rw(fd, rw, &iter, pos, flags);
	kfree(iov);
	return ret;
}

/* The system call table's entries for the calls (syscalls.c). */

long lkl_dio_read(unsigned long fd, char __user *buf, size_t count)
{
	if (!is_direct(fd))
		return ksys_read(fd, buf, count);
	return direct_buf(fd, READ, buf, count, -1);
}

long lkl_dio_write(unsigned long fd, const char __user *buf, size_t count)
{
	if (!is_direct(fd))
		return ksys_write(fd, buf, count);
	return direct_buf(fd, WRITE, (void __user *)buf, count, -1);
}

long lkl_dio_pread64(unsigned long fd, char __user *buf, size_t count,
		     loff_t pos)
{
	if (!is_direct(fd))
		return ksys_pread64(fd, buf, count, pos);
	return pos < 0 ? -EINVAL : direct_buf(fd, READ, buf, count, pos);
}

long lkl_dio_pwrite64(unsigned long fd, const char __user *buf, size_t count,
		      loff_t pos)
{
	if (!is_direct(fd))
		return ksys_pwrite64(fd, buf, count, pos);
	return pos < 0 ? -EINVAL :
			 direct_buf(fd, WRITE, (void __user *)buf, count, pos);
}

long lkl_dio_readv(unsigned long fd, const struct iovec __user *vec,
		   unsigned long vlen)
{
	if (!is_direct(fd))
		return sys_readv(fd, vec, vlen);
	return direct_vec(fd, READ, vec, vlen, -1, 0);
}

long lkl_dio_writev(unsigned long fd, const struct iovec __user *vec,
		    unsigned long vlen)
{
	if (!is_direct(fd))
		return sys_writev(fd, vec, vlen);
	return direct_vec(fd, WRITE, vec, vlen, -1, 0);
}

/* The offset is split in two as in the generic preadv (64-bit: @pos_h is 0). */
long lkl_dio_preadv2(unsigned long fd, const struct iovec __user *vec,
		     unsigned long vlen, unsigned long pos_l,
		     unsigned long pos_h, rwf_t flags)
{
	if (!is_direct(fd))
		return sys_preadv2(fd, vec, vlen, pos_l, pos_h, flags);
	return direct_vec(fd, READ, vec, vlen, (loff_t)pos_l, flags);
}

long lkl_dio_pwritev2(unsigned long fd, const struct iovec __user *vec,
		      unsigned long vlen, unsigned long pos_l,
		      unsigned long pos_h, rwf_t flags)
{
	if (!is_direct(fd))
		return sys_pwritev2(fd, vec, vlen, pos_l, pos_h, flags);
	return direct_vec(fd, WRITE, vec, vlen, (loff_t)pos_l, flags);
}

long lkl_dio_preadv(unsigned long fd, const struct iovec __user *vec,
		    unsigned long vlen, unsigned long pos_l,
		    unsigned long pos_h)
{
	if (!is_direct(fd))
		return sys_preadv(fd, vec, vlen, pos_l, pos_h);
	if ((loff_t)pos_l < 0)
		return -EINVAL;
	return direct_vec(fd, READ, vec, vlen, (loff_t)pos_l, 0);
}

long lkl_dio_pwritev(unsigned long fd, const struct iovec __user *vec,
		     unsigned long vlen, unsigned long pos_l,
		     unsigned long pos_h)
{
	if (!is_direct(fd))
		return sys_pwritev(fd, vec, vlen, pos_l, pos_h);
	if ((loff_t)pos_l < 0)
		return -EINVAL;
	return direct_vec(fd, WRITE, vec, vlen, (loff_t)pos_l, 0);
}
