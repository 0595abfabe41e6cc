// SPDX-License-Identifier: GPL-2.0
/*
 * Block devices backed by host disks.
 *
 * A blk-mq driver: queue_rq() turns a request into a struct lkl_blk_io
 * (asm/host_ops.h) whose segments point straight at the request's pages and
 * hands it to the host, which carries it out asynchronously; up to
 * QUEUE_DEPTH requests per disk are in flight. The host completes a request
 * from any thread with lkl_blk_complete(), which queues it lock-free and
 * raises the disk interrupt; the handler ends the requests.
 *
 * Requests still with the host at halt point into the kernel's memory, so
 * lkl_sys_halt() waits for the host to carry them out (lkl_blk_wait_idle())
 * before it returns. Then the host may let go of its disks
 * (lkl_blk_release()).
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/syscalls.h>
#include <asm/irq.h>
#include <asm/syscall.h>
#include <asm/unistd.h>
#include "../kernel/lkl.h"

#define QUEUE_DEPTH	64
#define MAX_SEGS	256
#define MINORS		16	/* the whole disk and 15 partitions */
#define MAX_DISKS	256

struct lkl_blk_cmd {
	struct lkl_blk_io io;
	struct lkl_blk_seg segs[MAX_SEGS];
};

struct lkl_blk_dev {
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	void *host;
	int id;
};

static int major;
static DEFINE_IDR(disks);
static DEFINE_MUTEX(disks_lock);

/* Completed requests, pushed by host threads (not holding the lkl CPU). */
static struct lkl_blk_io *completed;
/* Requests handed to the host and not completed yet, all disks. */
static long in_flight;
/*
 * Posted when in_flight drops to 0 once the kernel has stopped;
 * lkl_sys_halt() waits here. Made once and kept (persistent): a host
 * thread may post it after the kernel is gone.
 */
static struct lkl_sem *idle_sem __lkl_persistent;

void lkl_blk_complete(struct lkl_blk_io *io)
{
	struct lkl_blk_io *head = __atomic_load_n(&completed, __ATOMIC_RELAXED);

	do {
		io->next = head;
	} while (!__atomic_compare_exchange_n(&completed, &head, io, true,
					      __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
	lkl_trigger_irq(LKL_BLK_IRQ);
	/*
	 * The last touch of @io and of kernel memory: after this, halt may
	 * free both. A stopped kernel drops the interrupt (the request was
	 * carried out all the same).
	 */
	if (__atomic_sub_fetch(&in_flight, 1, __ATOMIC_SEQ_CST) == 0 &&
	    !lkl_kernel_alive())
		lkl_ops->sem_up(idle_sem);
}

/* After the kernel stopped: no request is submitted any more. */
void lkl_blk_wait_idle(void)
{
	if (!idle_sem)
		return;
	while (__atomic_load_n(&in_flight, __ATOMIC_SEQ_CST))
		lkl_ops->sem_down(idle_sem);
}

static irqreturn_t blk_irq(int irq, void *dev_id)
{
	struct lkl_blk_io *io = __atomic_exchange_n(&completed, NULL,
						    __ATOMIC_ACQUIRE);

	while (io) {
		struct lkl_blk_io *next = io->next;
		struct lkl_blk_cmd *cmd = container_of(io, struct lkl_blk_cmd,
						       io);

		blk_mq_end_request(blk_mq_rq_from_pdu(cmd),
				   errno_to_blk_status(io->status));
		io = next;
	}
	return IRQ_HANDLED;
}

static blk_status_t lkl_queue_rq(struct blk_mq_hw_ctx *hctx,
				 const struct blk_mq_queue_data *bd)
{
	struct lkl_blk_dev *dev = hctx->queue->queuedata;
	struct request *rq = bd->rq;
	struct lkl_blk_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct lkl_blk_io *io = &cmd->io;

	memset(io, 0, sizeof(*io));
	switch (req_op(rq)) {
	case REQ_OP_READ:
		io->type = LKL_BLK_IO_READ;
		break;
	case REQ_OP_WRITE:
		io->type = LKL_BLK_IO_WRITE;
		break;
	case REQ_OP_FLUSH:
		io->type = LKL_BLK_IO_FLUSH;
		break;
	case REQ_OP_DISCARD:
		io->type = LKL_BLK_IO_DISCARD;
		break;
	case REQ_OP_WRITE_ZEROES:
		io->type = LKL_BLK_IO_WRITE_ZEROES;
		break;
	default:
		return BLK_STS_NOTSUPP;
	}
	io->fua = !!(rq->cmd_flags & REQ_FUA);
	io->sector = blk_rq_pos(rq);
	io->len = blk_rq_bytes(rq);

	if (io->type == LKL_BLK_IO_READ || io->type == LKL_BLK_IO_WRITE) {
		struct req_iterator iter;
		struct bio_vec bvec;

		/*
		 * Multi-page bvecs, merged where they touch: at most as many
		 * as the request's physical segments (<= MAX_SEGS).
		 */
		io->segs = cmd->segs;
		rq_for_each_bvec(bvec, rq, iter) {
			void *base = bvec_virt(&bvec);

			if (io->nr_segs) {
				struct lkl_blk_seg *last = &cmd->segs[io->nr_segs - 1];

				if (last->base + last->len == base) {
					last->len += bvec.bv_len;
					continue;
				}
			}
			if (io->nr_segs == MAX_SEGS)
				return BLK_STS_IOERR;
			cmd->segs[io->nr_segs].base = base;
			cmd->segs[io->nr_segs].len = bvec.bv_len;
			io->nr_segs++;
		}
	}

	blk_mq_start_request(rq);
	__atomic_add_fetch(&in_flight, 1, __ATOMIC_SEQ_CST);
	lkl_ops->blk_submit(dev->host, io);
	return BLK_STS_OK;
}

static const struct blk_mq_ops lkl_mq_ops = {
	.queue_rq = lkl_queue_rq,
};

static const struct block_device_operations lkl_fops = {
	.owner = THIS_MODULE,
};

static void free_dev(struct lkl_blk_dev *dev)
{
	if (dev->disk)
		put_disk(dev->disk);
	blk_mq_free_tag_set(&dev->tag_set);
	kfree(dev);
}

/*
 * Disks handed over before boot, added in order by lkl_blk_init(). Kept
 * across a reboot's restore of kernel data (persistent): they are for the
 * next kernel, handed over after the last one was released.
 */
#define MAX_PREBOOT_DISKS 16
static struct {
	void *host;
	u64 size;
	unsigned int flags;
} preboot[MAX_PREBOOT_DISKS] __lkl_persistent;
static int nr_preboot __lkl_persistent;

void lkl_blk_forget(void)
{
	memset(preboot, 0, sizeof(preboot));
	nr_preboot = 0;
}

int lkl_blk_preboot_add(void *host, unsigned long long size,
			unsigned int flags)
{
	if (lkl_get_state() != LKL_OFF)
		return -EBUSY;
	if (!host || size < SECTOR_SIZE)
		return -EINVAL;
	if (nr_preboot == MAX_PREBOOT_DISKS)
		return -ENOSPC;
	preboot[nr_preboot].host = host;
	preboot[nr_preboot].size = size;
	preboot[nr_preboot].flags = flags;
	/* Added first at boot, each with its slot as its id. */
	return nr_preboot++;
}

int lkl_blk_release(void *host)
{
	int i;

	if (lkl_kernel_alive())
		return -EBUSY;
	for (i = 0; i < nr_preboot; i++) {
		if (preboot[i].host == host) {
			preboot[i].host = NULL;
			return 0;
		}
	}
	/* A kernel that stopped holds nothing of any disk: it may be its. */
	return lkl_generation ? 0 : -ENXIO;
}

/* Adds a disk with id @want, or the lowest free id if @want is negative. */
static long blk_add(void *host, u64 size, unsigned int flags, int want)
{
	struct lkl_blk_dev *dev;
	struct queue_limits *lim;
	int err;

	if (!host || size < SECTOR_SIZE)
		return -EINVAL;
	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	dev->host = host;

	dev->tag_set.ops = &lkl_mq_ops;
	dev->tag_set.nr_hw_queues = 1;
	dev->tag_set.queue_depth = QUEUE_DEPTH;
	dev->tag_set.numa_node = NUMA_NO_NODE;
	dev->tag_set.cmd_size = sizeof(struct lkl_blk_cmd);
	dev->tag_set.flags = BLK_MQ_F_SHOULD_MERGE;
	err = blk_mq_alloc_tag_set(&dev->tag_set);
	if (err) {
		kfree(dev);
		return err;
	}

	dev->disk = blk_mq_alloc_disk(&dev->tag_set, dev);
	if (IS_ERR(dev->disk)) {
		err = PTR_ERR(dev->disk);
		dev->disk = NULL;
		free_dev(dev);
		return err;
	}

	mutex_lock(&disks_lock);
	dev->id = want < 0 ? idr_alloc(&disks, dev, 0, MAX_DISKS, GFP_KERNEL)
			   : idr_alloc(&disks, dev, want, want + 1, GFP_KERNEL);
	mutex_unlock(&disks_lock);
	if (dev->id < 0) {
		err = dev->id;
		free_dev(dev);
		return err;
	}

	dev->disk->major = major;
	dev->disk->first_minor = dev->id * MINORS;
	dev->disk->minors = MINORS;
	dev->disk->fops = &lkl_fops;
	dev->disk->private_data = dev;
	if (dev->id < 26)
		snprintf(dev->disk->disk_name, DISK_NAME_LEN, "vd%c",
			 'a' + dev->id);
	else
		snprintf(dev->disk->disk_name, DISK_NAME_LEN, "vd%c%c",
			 'a' + dev->id / 26 - 1, 'a' + dev->id % 26);
	set_capacity(dev->disk, size >> SECTOR_SHIFT);
	set_disk_ro(dev->disk, flags & LKL_DISK_READ_ONLY);

	blk_queue_logical_block_size(dev->disk->queue, SECTOR_SIZE);
	blk_queue_physical_block_size(dev->disk->queue, PAGE_SIZE);
	blk_queue_max_segments(dev->disk->queue, MAX_SEGS);
	/*
	 * Big requests and a deep readahead (twice io_opt): each request is
	 * a host system call and a trip through the host thread pool.
	 */
	blk_queue_max_hw_sectors(dev->disk->queue, 8192);
	blk_queue_io_opt(dev->disk->queue, 4 << 20);
	blk_queue_write_cache(dev->disk->queue, true, true);
	lim = &dev->disk->queue->limits;
	/* The block layer caps requests at 1.25 MiB unless told otherwise. */
	lim->max_sectors = lim->max_hw_sectors;
	if (flags & LKL_DISK_DISCARD) {
		lim->discard_granularity = PAGE_SIZE;
		blk_queue_max_discard_sectors(dev->disk->queue, UINT_MAX >> 9);
		blk_queue_max_write_zeroes_sectors(dev->disk->queue,
						   UINT_MAX >> 9);
	}

	err = add_disk(dev->disk);
	if (err) {
		mutex_lock(&disks_lock);
		idr_remove(&disks, dev->id);
		mutex_unlock(&disks_lock);
		free_dev(dev);
		return err;
	}
	return dev->id;
}

SYSCALL_DEFINE3(lkl_disk_add_dev, void __user *, host, u64, size,
		unsigned int, flags)
{
	return blk_add((void __force *)host, size, flags, -1);
}

SYSCALL_DEFINE1(lkl_disk_del, unsigned int, id)
{
	struct lkl_blk_dev *dev;

	mutex_lock(&disks_lock);
	dev = idr_find(&disks, id);
	/* Mounted or open (a partition's opener counts too): keep it. */
	if (dev && disk_openers(dev->disk)) {
		mutex_unlock(&disks_lock);
		return -EBUSY;
	}
	if (dev)
		idr_remove(&disks, id);
	mutex_unlock(&disks_lock);
	if (!dev)
		return -ENXIO;
	del_gendisk(dev->disk);
	free_dev(dev);
	return 0;
}

static int __init lkl_blk_init(void)
{
	int err, i;

	if (!idle_sem)
		idle_sem = lkl_ops->sem_alloc(0);
	if (!idle_sem)
		return -ENOMEM;
	major = register_blkdev(0, "lkl");
	if (major < 0)
		return major;
	err = request_irq(LKL_BLK_IRQ, blk_irq, 0, "lkl-blk", NULL);
	if (err) {
		unregister_blkdev(major, "lkl");
		return err;
	}
	for (i = 0; i < nr_preboot; i++) {
		long id;

		if (!preboot[i].host)
			continue;	/* released before boot */
		id = blk_add(preboot[i].host, preboot[i].size,
			     preboot[i].flags, i);
		if (id != i)
			pr_err("lkl: disk %d handed over before boot: %ld\n",
			       i, id);
	}
	return 0;
}
device_initcall(lkl_blk_init);
