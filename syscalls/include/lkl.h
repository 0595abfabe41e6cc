/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _LKL_H
#define _LKL_H

/*
 * The lkl application interface (C, and C++ through extern "C").
 *
 * - lkl_init(), lkl_start_kernel(), lkl_sys_halt(), lkl_cleanup(): boot and
 *   stop the kernel (see <lkl_host.h>).
 * - lkl_sys_<name>(): one typed function per Linux system call, generated
 *   from the kernel's own declarations (<lkl/syscalls.h>). They return what
 *   the kernel returns: a result >= 0, or a negative LKL_E* error.
 * - The kernel's UAPI with every name prefixed (LKL_O_RDONLY, struct
 *   lkl_stat, LKL_EINVAL, ...), safe to use next to the C library's
 *   headers in the same file.
 * - Helpers for the common filesystem chores below.
 *
 * Errors are negative errno values throughout, as the kernel returns them;
 * the LKL_E* numbers are Linux's.
 *
 * Source compatibility with upstream LKL (github.com/lkl/linux,
 * tools/lkl/include/lkl.h and lkl_host.h) covers the file-system subset:
 * the names above and below keep upstream's meaning, a fresh kernel has no
 * open descriptors (the first open() returns 0), its umask is 022 and the
 * booting thread's getpid() is 1. Networking is not built: the network
 * helpers exist (<lkl/net.h>) and fail with -LKL_ENOSYS.
 */

#include <stdint.h>

#include <lkl_host.h>
#include <lkl/syscalls.h>

#include <lkl/asm/errno.h>
#include <lkl/asm/stat.h>
#include <lkl/asm/statfs.h>
#include <lkl/linux/stat.h>
#include <lkl/linux/fcntl.h>
#include <lkl/linux/fs.h>
#include <lkl/linux/mount.h>
#include <lkl/linux/xattr.h>
#include <lkl/linux/falloc.h>
#include <lkl/linux/fiemap.h>
#include <lkl/linux/magic.h>
#include <lkl/linux/limits.h>
#include <lkl/linux/ioctl.h>
#include <lkl/linux/time.h>
#include <lkl/linux/time_types.h>
#include <lkl/linux/uio.h>
#include <lkl/linux/poll.h>
#include <lkl/linux/eventpoll.h>
#include <lkl/linux/mman.h>
#include <lkl/linux/reboot.h>
#include <lkl/linux/utsname.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LKL_PRINTF_FORMAT(f, a) __attribute__((format(printf, f, a)))
#else
#define LKL_PRINTF_FORMAT(f, a)
#endif

/*
 * Directory entries as getdents64 returns them. The kernel keeps this
 * structure out of its UAPI headers (include/linux/dirent.h); the layout
 * is part of the system call ABI.
 */
struct lkl_linux_dirent64 {
	__lkl__u64 d_ino;
	__lkl__s64 d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

/* d_type values (include/linux/fs_types.h, not UAPI either). */
#define LKL_DT_UNKNOWN	0
#define LKL_DT_FIFO	1
#define LKL_DT_CHR	2
#define LKL_DT_DIR	4
#define LKL_DT_BLK	6
#define LKL_DT_REG	8
#define LKL_DT_LNK	10
#define LKL_DT_SOCK	12
#define LKL_DT_WHT	14

/*
 * Stop the kernel: nothing is synced or unmounted first. Calls blocked in
 * the kernel at that moment, and all later ones, return -LKL_ENODEV;
 * interrupts raised meanwhile are dropped. Returns 0 once no kernel code
 * runs any more, the host timer is gone, the host has carried out every
 * block request the kernel gave it, and the kernel's contexts and memory
 * are freed and its data restored: lkl_start_kernel() may then boot a
 * fresh kernel. Also releases a kernel stopped by a panic whose handler
 * returned. -LKL_ENODEV when no kernel is up (or another thread is halting
 * it).
 */
long lkl_sys_halt(void);

/* A static description of a (negative or positive) errno value. */
const char *lkl_strerror(int err);

/* Print "msg: <lkl_strerror(err)>" and a newline through lkl_printf. */
void lkl_perror(char *msg, int err);

/*
 * printf to the lkl console (lkl_host_ops.print). Returns the number of
 * characters written or a negative error.
 */
int lkl_printf(const char *fmt, ...) LKL_PRINTF_FORMAT(1, 2);

/*
 * Create the directory "/<fstype>" and mount a filesystem of that type
 * (proc, sysfs, ...) on it. Returns 0 when mounted, 1 when something was
 * already mounted there, or a negative error.
 */
long lkl_mount_fs(char *fstype);

/*
 * umount2(path, flags), retried while it fails with -LKL_EBUSY, for at most
 * timeout_ms milliseconds. Returns 0 or the last negative error.
 */
long lkl_umount_timeout(char *path, int flags, long timeout_ms);

/* Disks. */

struct lkl_dev_blk_ops;

/*
 * A host file or device given to the kernel as a block device. dev is
 * the program's own pointer; fd (or handle) is what the backend reads and
 * writes; ops may be NULL for the library's default backend.
 */
struct lkl_disk {
	void *dev;
	union {
		int fd;
		void *handle;
	};
	struct lkl_dev_blk_ops *ops;
};

/* Request types (the virtio-blk numbers). */
#define LKL_DEV_BLK_TYPE_READ		0
#define LKL_DEV_BLK_TYPE_WRITE		1
#define LKL_DEV_BLK_TYPE_FLUSH		4
#define LKL_DEV_BLK_TYPE_FLUSH_OUT	5
#define LKL_DEV_BLK_TYPE_DISCARD	11
#define LKL_DEV_BLK_TYPE_WRITE_ZEROES	13

/* Request status. */
#define LKL_DEV_BLK_STATUS_OK		0
#define LKL_DEV_BLK_STATUS_IOERR	1
#define LKL_DEV_BLK_STATUS_UNSUP	2

/* One block request: count buffers, starting at sector (512 bytes). */
struct lkl_blk_req {
	unsigned int type;
	unsigned int prio;
	unsigned long long sector;
	struct lkl_iovec *buf;
	int count;
};

/* A disk backend. */
struct lkl_dev_blk_ops {
	/* The disk's size in bytes in *res; 0 or a negative error. */
	int (*get_capacity)(struct lkl_disk disk, unsigned long long *res);
	/* Carry out req; returns an LKL_DEV_BLK_STATUS_* value. */
	int (*request)(struct lkl_disk disk, struct lkl_blk_req *req);
};

/*
 * Add a disk, before boot or while the kernel runs; returns its id (>= 0,
 * for lkl_mount_dev) and sets disk->dev, or returns a negative error:
 * -LKL_EINVAL (no fd and no ops), the host's errno for an fd that cannot
 * be used (fstat, BLKGETSIZE64), -LKL_ENOTBLK (neither a regular file nor
 * a block device), -LKL_ENOMEM. An fd opened O_RDONLY makes a read-only
 * disk; one opened O_DIRECT selects the Linux AIO backend.
 */
int lkl_disk_add(struct lkl_disk *disk);

/*
 * Host-side options of a disk, for lkl_disk_add_opts(). Zero-initialise
 * it, then set what you need; all zero is plain lkl_disk_add().
 */
struct lkl_disk_opts {
	/*
	 * Record every write, discard, write-zeroes, flush and FUA write the
	 * kernel makes to the disk, with its data, in a new file at this
	 * host path (created, or truncated; mode 0644), in the order the
	 * kernel sees them complete, for power-loss testing: lkl-replay
	 * rebuilds the disk as a power cut at any point would leave it.
	 * NULL: no log. Format: <lkl/write_log.h>; model and tool:
	 * Documentation/write-log.md. The log grows by every byte written.
	 */
	const char *write_log;
	/*
	 * LKL_DISK_OPS_INLINE, LKL_DISK_TEST_FAULT_* (0: none; the faults
	 * need write_log).
	 */
	unsigned int flags;
	unsigned int reserved;	/* zero */
};

/*
 * For a disk with ops only: call ops->request() in the kernel's context
 * that submits the request, and complete it before the submission returns
 * (null_blk's irqmode=0), instead of on a pool of host threads. For a
 * request() that is quick and never blocks, such as a disk held in the
 * program's memory: it saves two thread handoffs per request and the
 * pool's threads. request() then runs while the kernel waits for it and
 * must not call into lkl. -LKL_EINVAL for a disk without ops.
 */
#define LKL_DISK_OPS_INLINE			0x100U

/*
 * Deliberately broken block paths, for testing a power-loss test: the
 * fault sits between the kernel and the write log, so the log (the disk)
 * sees what such a block path would have made of the kernel's requests.
 * Never use them on data you want to keep.
 *
 * FLUSH_NOOP: flushes complete at once and never reach the log or the
 * image (a device that acknowledges a flush without syncing).
 * REORDER_WRITE: after every flush, the first write to complete reaches
 * the log only after the next flush (one write reordered past a flush).
 * FLUSH_UNSYNCED: flushes are logged as done but never reach the backend
 * (a host that completes a flush without fdatasync): the log believes
 * them, the host's own calls show the lie.
 * DROP_FUA: FUA writes reach the log and the backend as plain writes.
 */
#define LKL_DISK_TEST_FAULT_FLUSH_NOOP		0x1U
#define LKL_DISK_TEST_FAULT_REORDER_WRITE	0x2U
#define LKL_DISK_TEST_FAULT_FLUSH_UNSYNCED	0x4U
#define LKL_DISK_TEST_FAULT_DROP_FUA		0x8U

/*
 * lkl_disk_add() with host-side options (opts may be NULL). Besides
 * lkl_disk_add()'s errors: -LKL_EINVAL for unknown flags, nonzero
 * reserved, a fault flag without write_log, LKL_DISK_OPS_INLINE for a
 * disk without ops, or a write_log path that is
 * the disk's own file; the host's errno when the log cannot be created
 * or written (-LKL_ENOENT, -LKL_EACCES, -LKL_ENOSPC, ...).
 */
int lkl_disk_add_opts(struct lkl_disk *disk, const struct lkl_disk_opts *opts);

/*
 * NBD disks (libnbd). Zero-initialise the options, then give exactly one
 * of uri and argv.
 */
struct lkl_nbd_opts {
	/*
	 * An NBD URI as libnbd's nbd_connect_uri(3) takes it (the NBD URI
	 * specification, github.com/NetworkBlockDevice/nbd, doc/uri.md):
	 * nbd://HOST[:PORT]/EXPORT, nbd+unix:///EXPORT?socket=PATH, ...
	 */
	const char *uri;
	/*
	 * Or a server to start privately: argv[0] (found on PATH) with these
	 * arguments, NULL-terminated, handed a listening socket by systemd
	 * socket activation (fd 3, LISTEN_FDS=1, LISTEN_PID; sd_listen_fds(3))
	 * that only this process's connection can reach (its file is gone
	 * before the server starts), in a process group of its own, with
	 * stdin and stdout on /dev/null and this process's stderr. A server
	 * that exits when its last client goes (qemu-nbd without -t; nbdkit
	 * with its exitlast filter) therefore exits with the disk or with
	 * the process; when the disk is removed it is also sent SIGTERM,
	 * and waited for.
	 */
	char *const *argv;
	unsigned int flags;		/* LKL_NBD_* */
	unsigned int reserved;		/* zero */
	/* Where a failure is described in one line (NUL-terminated), or NULL. */
	char *error;
	unsigned long error_len;	/* bytes at error */
};

/* The kernel sees a read-only disk (as it does when the export is). */
#define LKL_NBD_READ_ONLY	0x1U

/*
 * Connect to an NBD export and add it as a disk; returns its id (>= 0) as
 * lkl_disk_add() does and sets disk->dev, with disk->fd set to -1. Up to
 * the server's limits, the kernel's requests are all in flight at once;
 * flush and FUA are passed through (NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA);
 * discard and write-zeroes become NBD_CMD_TRIM and NBD_CMD_WRITE_ZEROES
 * where the server offers them. Errors: -LKL_EINVAL (opts NULL, neither
 * or both of uri and argv, unknown flags, nonzero reserved); -LKL_ENOENT
 * when argv[0] is not found; libnbd's errno when it cannot connect or
 * negotiate (-LKL_ECONNREFUSED,
 * -LKL_ENOENT for a socket that is not there, -LKL_EINVAL for a URI it
 * cannot parse, ...), with its message in opts->error; lkl_disk_add()'s
 * errors. A request the server fails completes with the server's errno
 * (-LKL_EIO when the connection is lost). lkl_disk_remove() disconnects.
 */
int lkl_disk_add_nbd(struct lkl_disk *disk, const struct lkl_nbd_opts *opts);

/*
 * Disk images of any format. lkl_image_format() names the format of the
 * image open on the host as fd, from its first and last 512 bytes (the
 * magic numbers qemu's block drivers use), never from its name: "qcow2",
 * "vmdk", "vhdx", "vdi", "vpc" or, for anything else, "raw" (a static
 * string in *format). 0, -LKL_EINVAL (fd < 0, format NULL), or the
 * host's errno for a file it cannot read.
 */
int lkl_image_format(int fd, const char **format);

struct lkl_image_opts {
	/*
	 * "raw", "qcow2", "vmdk", "vhdx", "vdi", "vpc", or NULL or "auto"
	 * for lkl_image_format()'s answer.
	 */
	const char *format;
	unsigned int flags;		/* LKL_IMAGE_* */
	unsigned int reserved;		/* zero */
	/* Where a failure is described in one line (NUL-terminated), or NULL. */
	char *error;
	unsigned long error_len;	/* bytes at error */
};

/*
 * READ_ONLY: the image file is opened read-only and never written (a
 * read-only disk in the kernel). OVERLAY: every write goes to a new qcow2
 * overlay in $TMPDIR (or /var/tmp) backed by the image, which is only
 * read; the overlay is deleted when the disk is removed, unless
 * lkl_disk_apply_overlay() asked for it to be committed into the image.
 */
#define LKL_IMAGE_READ_ONLY	0x1U
#define LKL_IMAGE_OVERLAY	0x2U

/*
 * Add the image file at path as a disk; returns its id (>= 0) and sets
 * disk->dev, with disk->fd set to -1 (the library owns what it opened).
 * A raw image without an overlay goes to the file backend of
 * lkl_disk_add(); any other is served by a private qemu-nbd (package
 * qemu-utils) through lkl_disk_add_nbd(), which exits when the disk is
 * removed or the process ends. Errors: -LKL_EINVAL (unknown flags or
 * format, nonzero reserved); the host's errno when the file cannot be
 * opened; -LKL_EIO when qemu-img or qemu-nbd refuse the image (their
 * message, one line, in opts->error: "disk.qcow2: qemu-nbd: Could not
 * open backing file: ..."); lkl_disk_add_nbd()'s and lkl_disk_add()'s
 * errors.
 */
int lkl_disk_add_image(struct lkl_disk *disk, const char *path,
		       const struct lkl_image_opts *opts);

/*
 * Have lkl_disk_remove() commit the overlay of a disk added with
 * LKL_IMAGE_OVERLAY into its image (qemu-img commit) instead of deleting
 * it. Call it after the last write (unmount first). lkl_disk_remove()
 * then returns -LKL_EIO if the commit fails, with its message, which
 * names the overlay file kept, in error (error_len bytes, which must stay
 * valid until then; may be NULL). Returns 0 or -LKL_EINVAL (no overlay).
 */
int lkl_disk_apply_overlay(struct lkl_disk disk, char *error,
			   unsigned long error_len);

/*
 * LVM2 logical volumes. lkl_lvm_activate() finds the volume group VG of
 * name "VG/LV" on the disks and partitions the kernel has (their LVM2
 * labels and metadata, the newest copy by seqno), and maps logical volume
 * LV with the kernel's device-mapper (linear and striped segments); its
 * device number, as stat() gives it in st_rdev and mknod() takes it, in
 * *devid. Mount it with mount() on a node made with mknod(), and call
 * lkl_lvm_deactivate() after unmounting and before lkl_disk_remove() of its
 * disks (the mapping holds them open). Returns 0, or -LKL_EINVAL (name not
 * "VG/LV", unknown flags), -LKL_ENOENT (no such volume group or volume),
 * -LKL_ENXIO (a physical volume it lies on is missing), -LKL_EOPNOTSUPP
 * (a thin, RAID, mirror, cache, VDO or snapshot volume, or one of a volume
 * group with snapshots: lkl maps none of them), the error of a
 * device-mapper ioctl (-LKL_EEXIST: already active); the reason in one
 * line in error (error_len bytes; may be NULL).
 */
#define LKL_LVM_READ_ONLY	0x1U	/* a read-only mapping */
int lkl_lvm_activate(const char *name, unsigned int flags, uint32_t *devid,
		     char *error, unsigned long error_len);

/* Remove the mapping of "VG/LV": 0, -LKL_EBUSY while mounted, -LKL_ENXIO. */
int lkl_lvm_deactivate(const char *name);

/*
 * The logical volumes lkl_lvm_list() finds: the visible ones (those
 * lvs(8) lists without -a) of every volume group on the disks and
 * partitions the kernel has, read as lkl_lvm_activate() reads them.
 */
struct lkl_lvm_volume {
	char name[256];		/* "VG/LV" (LVM2 names are at most 127 bytes) */
	/*
	 * The type as lvs(8) shows it: "linear", "striped", or LVM2's
	 * segment type: "thin", "thin-pool", "raid1", "mirror", "cache", ...
	 */
	char type[32];
	uint64_t size;		/* in bytes: its extents times the extent size */
	/*
	 * 0 if lkl_lvm_activate() maps it, else the negative errno it
	 * returns (-LKL_EOPNOTSUPP, -LKL_ENXIO) and its one-line reason.
	 */
	int status;
	char error[256];
};

/*
 * Fills volumes[0 .. count-1] with the logical volumes found, sorted by
 * volume group and then volume name, and returns how many there are (more
 * than count when the array is too short; call with count 0 and volumes
 * NULL to size it). Disks with no LVM2 label or unreadable metadata are
 * skipped; a volume group is read from the copy of its metadata with the
 * highest seqno. Returns -LKL_EINVAL (volumes NULL with count > 0) or
 * -LKL_ENOMEM. The kernel's sysfs is mounted at /sysfs if it is not.
 */
int lkl_lvm_list(struct lkl_lvm_volume *volumes, unsigned int count);

/*
 * Append a mark named name (1 to LKL_WLOG_MARK_MAX = 255 bytes, no NUL
 * stored) to the write log of a disk added with one: it lands after every
 * request the kernel has seen complete so far, so a mark placed when an
 * fsync returned names a point where that fsync's data must survive a
 * power cut. Returns 0, or -LKL_EINVAL (disk.dev NULL, name NULL or
 * empty), -LKL_ENAMETOOLONG (name longer than 255 bytes), -LKL_EOPNOTSUPP
 * (the disk has no write log), or the host's errno if the log cannot be
 * written. Any host thread, any time between adding and removing the disk.
 */
int lkl_disk_log_mark(struct lkl_disk disk, const char *name);

/*
 * Remove a disk added by lkl_disk_add() and free the library's side of it
 * (the program still owns and closes disk.fd). While the kernel runs, the
 * kernel removes the device: unmount it first (-LKL_EBUSY otherwise);
 * before boot, or after lkl_sys_halt() or lkl_cleanup() as upstream
 * programs do, it only lets go of it. Returns 0 or a negative error
 * (-LKL_EINVAL when disk.dev is NULL).
 */
int lkl_disk_remove(struct lkl_disk disk);

/*
 * The device number of partition part (0: the whole disk) of disk disk_id,
 * as stat() gives it in st_rdev and mknod() takes it, in *pdevid (upstream
 * LKL's helper). 0, -LKL_ENXIO when there is no such disk or partition, or
 * another negative error.
 */
int lkl_get_virtio_blkdev(int disk_id, unsigned int part, uint32_t *pdevid);

/*
 * Mount partition part (0: the whole disk) of disk disk_id with fs_type,
 * mount flags (LKL_MS_*) and options opts at a directory the function
 * creates; its path is written to mnt_str (mnt_str_len bytes).
 */
long lkl_mount_dev(unsigned int disk_id, unsigned int part,
		   const char *fs_type, int flags, const char *opts,
		   char *mnt_str, unsigned int mnt_str_len);

/* Unmount what lkl_mount_dev() mounted (see lkl_umount_timeout()). */
long lkl_umount_dev(unsigned int disk_id, unsigned int part, int flags,
		    long timeout_ms);

/* Directory streams on getdents64. */

struct lkl_dir;

/* Open a directory; NULL with *err set (negative) on failure. */
struct lkl_dir *lkl_opendir(const char *path, int *err);

/* A stream on an open directory descriptor, which it then owns. */
struct lkl_dir *lkl_fdopendir(int fd, int *err);

/* Start again from the first entry. */
void lkl_rewinddir(struct lkl_dir *dir);

/* Close the stream and its descriptor; 0 or a negative error. */
int lkl_closedir(struct lkl_dir *dir);

/*
 * The next entry, or NULL at the end or on error (lkl_errdir() tells
 * which). The entry stays valid until the next call on dir.
 */
struct lkl_linux_dirent64 *lkl_readdir(struct lkl_dir *dir);

/* 0, or the negative error that ended lkl_readdir(). */
int lkl_errdir(struct lkl_dir *dir);

/* The stream's directory descriptor. */
int lkl_dirfd(struct lkl_dir *dir);

#ifdef __cplusplus
}
#endif

#include <lkl/net.h>

#endif /* _LKL_H */
