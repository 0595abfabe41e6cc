/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _LKL_WRITE_LOG_H
#define _LKL_WRITE_LOG_H

/*
 * The file format of a disk's write log (lkl_disk_add_opts() in <lkl.h>;
 * Documentation/write-log.md describes it in prose, with the crash model
 * that lkl-replay builds on it).
 *
 * A log is one header (struct lkl_wlog_header, at offset 0) followed by
 * records, each a struct lkl_wlog_record immediately followed by its
 * payload (record.length bytes for WRITE and MARK, none for the others),
 * with no padding anywhere. Every integer is little-endian whatever the
 * host's byte order; the structures below have the file's layout on a
 * little-endian host (their sizes are part of the format).
 *
 * Records are appended in the order the kernel sees requests complete: a
 * record is in the file before the kernel learns that its request has
 * completed, so anything a program observed as done (a returned fsync) is
 * in the log before a mark the program places afterwards.
 */

#include <stdint.h>

#define LKL_WLOG_MAGIC		"LKLWRLOG"	/* 8 bytes, no NUL */
#define LKL_WLOG_VERSION	1
#define LKL_WLOG_RECORD_MAGIC	0x4452434cU	/* "LCRD" in the file */
#define LKL_WLOG_SECTOR_SIZE	512
/* The longest mark name, in bytes (not counting a NUL, never stored). */
#define LKL_WLOG_MARK_MAX	255

/* Record types. */
#define LKL_WLOG_WRITE		1	/* payload: the data written */
#define LKL_WLOG_FLUSH		2	/* a cache flush (REQ_OP_FLUSH) */
#define LKL_WLOG_DISCARD	3	/* contents of the range undefined */
#define LKL_WLOG_WRITE_ZEROES	4	/* the range reads as zeros */
#define LKL_WLOG_MARK		5	/* payload: the name a program gave */

/* Record flags. */
#define LKL_WLOG_FUA		0x1	/* durable when completed (REQ_FUA) */

struct lkl_wlog_header {
	char magic[8];			/* LKL_WLOG_MAGIC */
	uint32_t version;		/* LKL_WLOG_VERSION */
	uint32_t header_size;		/* 64: the first record's offset */
	uint32_t record_size;		/* 64: sizeof(struct lkl_wlog_record) */
	uint32_t sector_size;		/* 512: the unit of record.sector */
	uint64_t capacity;		/* the disk's size in bytes */
	uint64_t start_realtime_ns;	/* CLOCK_REALTIME when the log began */
	uint8_t reserved[24];		/* zero */
};

struct lkl_wlog_record {
	uint32_t magic;			/* LKL_WLOG_RECORD_MAGIC */
	uint16_t type;			/* LKL_WLOG_WRITE, ... */
	uint16_t flags;			/* LKL_WLOG_FUA */
	uint64_t index;			/* 0, 1, 2, ...: this record's position */
	/*
	 * How many records the log held when the kernel submitted the
	 * request (for a mark: its own index). A flush covers exactly the
	 * records whose index is below its issued: the requests that had
	 * completed before it was submitted.
	 */
	uint64_t issued;
	uint64_t sector;		/* first sector (512 bytes) of the range */
	uint64_t length;		/* bytes: the range, or the payload */
	int32_t status;			/* 0, or the negative errno it failed with */
	uint32_t reserved0;		/* zero */
	uint64_t completed_ns;		/* host CLOCK_MONOTONIC at completion */
	uint64_t reserved1;		/* zero */
};

#ifdef __cplusplus
static_assert(sizeof(struct lkl_wlog_header) == 64, "write log header");
static_assert(sizeof(struct lkl_wlog_record) == 64, "write log record");
#else
_Static_assert(sizeof(struct lkl_wlog_header) == 64, "write log header");
_Static_assert(sizeof(struct lkl_wlog_record) == 64, "write log record");
#endif

#endif /* _LKL_WRITE_LOG_H */
