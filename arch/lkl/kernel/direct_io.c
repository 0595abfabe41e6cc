// SPDX-License-Identifier: GPL-2.0
/*
 * Direct I/O (O_DIRECT) on host memory.
 *
 * Direct I/O pins the caller's buffer with get_user_pages() and reads or
 * writes its pages with bios. Without an MMU that takes memory the kernel
 * owns which a VMA of the task's mm covers (lkl_sys_mmap()'s anonymous
 * memory): such buffers go to the file as they are. A host thread's own
 * buffers (heap, stack) are outside the kernel's memory map: they have no
 * struct page, no VMA covers them (host tasks share init's empty mm,
 * binfmt.c), so get_user_pages() fails with -EFAULT, and no direct I/O
 * engine falls back to buffered I/O on that. Those are copied here through
 * kernel pages, given to the file as a bio_vec iterator, which direct I/O
 * takes without pinning: the data still goes between those pages and the
 * disk, bypassing the page cache, and the file system's own rules
 * (alignment of offset and length, its own fallbacks) still apply.
 *
 * Reads and writes with IOCB_DIRECT come here from call_read_iter() and
 * call_write_iter() (patches/0007), whoever issued them; an asynchronous
 * one is done synchronously when copied.
 */
#include <linux/bvec.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/sched.h>
#include <linux/uio.h>

/* At most this much is copied per step (order-0 pages: no compaction). */
#define BOUNCE_PAGES	32

/*
 * Whether get_user_pages() takes all of @iter's memory: the no-MMU rules
 * of mm/gup.c, a VMA that allows the access and is not VM_IO/VM_PFNMAP
 * covers every byte.
 */
static bool pinnable(const struct iov_iter *iter)
{
	unsigned long need = iov_iter_rw(iter) == READ ? VM_WRITE : VM_READ;
	size_t left = iov_iter_count(iter), skip = iter->iov_offset;
	const struct iovec *iov = iter->iov;
	struct mm_struct *mm = current->mm;
	struct iovec ubuf;
	bool ok = true;

	if (!mm)
		return false;
	if (iter_is_ubuf(iter)) {
		ubuf.iov_base = iter->ubuf;
		ubuf.iov_len = skip + left;
		iov = &ubuf;
	}
	mmap_read_lock(mm);
	for (; left && ok; iov++, skip = 0) {
		size_t len = min(left, iov->iov_len - skip);
		unsigned long start = (unsigned long)iov->iov_base + skip;
		unsigned long end = start + len;

		while (ok && start < end) {
			struct vm_area_struct *vma = find_vma(mm, start);

			ok = vma && !(vma->vm_flags & (VM_IO | VM_PFNMAP)) &&
			     (vma->vm_flags & need);
			if (ok)
				start = vma->vm_end;
		}
		left -= len;
	}
	mmap_read_unlock(mm);
	return ok;
}

static ssize_t call_iter(struct file *file, struct kiocb *iocb,
			 struct iov_iter *iter)
{
	if (iov_iter_rw(iter) == READ)
		return file->f_op->read_iter(iocb, iter);
	return file->f_op->write_iter(iocb, iter);
}

/*
 * Moves @iter's bytes between the host and @file at iocb->ki_pos through
 * kernel pages, synchronously whatever the kiocb. Returns the bytes moved,
 * or a negative errno if none were; @iter is advanced by the bytes moved.
 */
static ssize_t bounce_rw(struct file *file, struct kiocb *iocb,
			 struct iov_iter *iter)
{
	unsigned int npages = min_t(size_t, BOUNCE_PAGES,
				    DIV_ROUND_UP(iov_iter_count(iter), PAGE_SIZE));
	int rw = iov_iter_rw(iter);
	struct bio_vec bvec[BOUNCE_PAGES];
	struct page *pages[BOUNCE_PAGES];
	ssize_t done = 0, ret = 0;
	unsigned int i, allocated;
	/* A copy without ki_complete: the pages are freed on return. */
	struct kiocb sync = *iocb;

	sync.ki_complete = NULL;
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
		size_t copied = 0, n;
		struct iov_iter biter;

		for (i = 0; i < nr; i++) {
			bvec[i].bv_page = pages[i];
			bvec[i].bv_offset = 0;
			bvec[i].bv_len = min_t(size_t, len - i * PAGE_SIZE,
					       PAGE_SIZE);
		}
		if (rw == WRITE) {
			for (i = 0; i < nr && copied == i * PAGE_SIZE; i++)
				copied += copy_page_from_iter(pages[i], 0,
							      bvec[i].bv_len, iter);
			if (copied != len) {
				iov_iter_revert(iter, copied);
				ret = -EFAULT;
				break;
			}
		}
		iov_iter_bvec(&biter, rw, bvec, nr, len);
		ret = call_iter(file, &sync, &biter);
		if (rw == WRITE) {
			/* Give back what was copied but not written. */
			iov_iter_revert(iter, len - max_t(ssize_t, ret, 0));
			if (ret > 0)
				done += ret;
		} else {
			for (i = 0; ret > 0 && copied < (size_t)ret; i++) {
				size_t want = min_t(size_t, ret - copied,
						    PAGE_SIZE);

				n = copy_page_to_iter(pages[i], 0, want, iter);
				copied += n;
				done += n;
				if (n != want)
					ret = -EFAULT;
			}
		}
		if (ret < (ssize_t)len)
			break;
	}
out:
	for (i = 0; i < allocated; i++)
		__free_page(pages[i]);
	iocb->ki_pos = sync.ki_pos;
	return done ? done : ret;
}

ssize_t arch_dio_rw_iter(struct file *file, struct kiocb *iocb,
			 struct iov_iter *iter)
{
	/*
	 * Only files that do direct I/O pin (packet-mode pipes also take
	 * O_DIRECT, and copy).
	 */
	if (!user_backed_iter(iter) || !(file->f_mode & FMODE_CAN_ODIRECT) ||
	    pinnable(iter))
		return call_iter(file, iocb, iter);
	return bounce_rw(file, iocb, iter);
}
