/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _ASM_UAPI_LKL_HOST_OPS_H
#define _ASM_UAPI_LKL_HOST_OPS_H

/*
 * The kernel/host interface.
 *
 * This is the only way the two halves of lkl talk to each other:
 *
 *  - the kernel (arch/lkl, kernel C) asks the host for execution contexts,
 *    blocking primitives, time, timers and memory through the function
 *    pointers in struct lkl_host_operations;
 *  - the host (host/, C++) and applications enter the kernel only through
 *    the entry points declared at the end of this file.
 *
 * Every operation may be called from any host thread unless it says
 * otherwise. Kernel code never uses host thread-local storage itself: a
 * kernel context may be suspended on one host thread and resumed on another.
 *
 * The header is self-contained (no kernel or libc types) so that it can be
 * included by kernel C and by host C++ alike.
 */

/*
 * Upstream LKL's integer types, for programs written against its headers:
 * the kernel's long and unsigned long (system call arguments and results),
 * and a host thread handle (a pthread_t here).
 */
typedef long lkl_long_t;
typedef unsigned long lkl_ulong_t;
typedef unsigned long lkl_thread_t;

/* An execution context: a stack and the registers saved on it. */
struct lkl_ctx;
/* A counting semaphore that blocks a host thread. */
struct lkl_sem;
/* A sleeping mutex for host threads. */
struct lkl_mutex;
/* A one-shot timer whose callback runs on a host thread. */
struct lkl_timer;

/* A buffer of a block request: kernel memory, a plain host pointer. */
struct lkl_blk_seg {
	void *base;
	unsigned long len;
};

/* Block request types (the virtio-blk numbers, as in lkl.h). */
#define LKL_BLK_IO_READ		0
#define LKL_BLK_IO_WRITE	1
#define LKL_BLK_IO_FLUSH	4
#define LKL_BLK_IO_DISCARD	11
#define LKL_BLK_IO_WRITE_ZEROES	13

/*
 * One block request from the kernel to a host disk. The host carries it out
 * (asynchronously, on any thread), sets @status to 0 or a negative errno and
 * hands it back with lkl_blk_complete(). A write with @fua set, and a flush,
 * complete only once the data is durable on the host.
 */
struct lkl_blk_io {
	unsigned int type;
	unsigned int fua;
	unsigned long long sector;	/* in 512-byte units */
	unsigned long long len;		/* bytes: the sum of the segments, at most 4 MiB */
	struct lkl_blk_seg *segs;	/* READ and WRITE only */
	unsigned int nr_segs;		/* at most 256 */
	int status;
	struct lkl_blk_io *next;	/* the kernel's, while completing */
};

struct lkl_host_operations {
	/*
	 * Console output from the kernel log. A program may replace it before
	 * lkl_init(); str is not NUL-terminated.
	 */
	void (*print)(const char *str, int len);
	/*
	 * Called after the kernel printed its panic message (a panic() or a
	 * BUG()), on the host thread that ran the failing kernel code, which
	 * holds the lkl CPU: the handler may call lkl_kernel_messages() but
	 * no system call. A program may replace it. The default aborts the
	 * process. If it returns, the kernel is stopped for good: every
	 * system call in it returns -ENODEV, later ones too, until
	 * lkl_sys_halt() releases it (after which lkl_start_kernel() may boot
	 * a fresh kernel).
	 */
	void (*panic)(void);

	/* Semaphores. */
	struct lkl_sem *(*sem_alloc)(int count);
	void (*sem_free)(struct lkl_sem *sem);
	void (*sem_up)(struct lkl_sem *sem);
	void (*sem_down)(struct lkl_sem *sem);

	/*
	 * Mutexes. mutex_alloc(0) makes a plain mutex with no owner: a kernel
	 * context may lock it on one host thread and unlock it on another.
	 * mutex_alloc(1) makes a recursive one (upstream LKL's meaning): the
	 * host thread that holds it may lock it again, and must unlock it as
	 * many times. NULL when out of memory.
	 */
	struct lkl_mutex *(*mutex_alloc)(int recursive);
	void (*mutex_free)(struct lkl_mutex *mutex);
	void (*mutex_lock)(struct lkl_mutex *mutex);
	void (*mutex_unlock)(struct lkl_mutex *mutex);

	/*
	 * Execution contexts.
	 *
	 * ctx_create() makes a context with its own host-allocated stack
	 * (ctx_stack_size bytes, below a guard page). The first ctx_switch()
	 * to it calls fn(arg) on that stack; fn must never return.
	 *
	 * ctx_create_host() makes a context that has no stack of its own: the
	 * first switch *from* it saves the calling host thread's stack there,
	 * and switching back to it resumes that host thread's code.
	 *
	 * ctx_switch(from, to) saves the running context into @from and
	 * resumes @to on the calling host thread. It returns when some host
	 * thread switches to @from again. It costs tens of nanoseconds: no
	 * system call is made.
	 *
	 * ctx_free() releases a context that is not running and will never be
	 * resumed (its stack is unmapped).
	 */
	struct lkl_ctx *(*ctx_create)(void (*fn)(void *), void *arg);
	struct lkl_ctx *(*ctx_create_host)(void);
	void (*ctx_switch)(struct lkl_ctx *from, struct lkl_ctx *to);
	void (*ctx_free)(struct lkl_ctx *ctx);
	unsigned long ctx_stack_size;

	/*
	 * Host thread-local storage, used only by the syscall entry to find
	 * the calling host thread's kernel task. The destructor runs when a
	 * host thread exits with a non-NULL value set. Keys are >= 0; a
	 * negative return is a failure.
	 */
	int (*tls_alloc)(void (*destructor)(void *));
	void (*tls_free)(int key);
	void (*tls_set)(int key, void *data);
	void *(*tls_get)(int key);

	/* Small host allocations (bookkeeping outside the kernel's pool). */
	void *(*mem_alloc)(unsigned long size);
	void (*mem_free)(void *mem);

	/*
	 * The kernel's RAM: a page-aligned range of @size bytes that costs
	 * resident memory only where it is touched. Returns NULL on failure.
	 * Its bytes are undefined: the host may hand back a range released
	 * earlier (the default host keeps one of up to 1 TiB for the next
	 * boot's pool). Larger ranges (a KASAN shadow) start zeroed.
	 */
	void *(*pool_reserve)(unsigned long size);
	void (*pool_release)(void *mem, unsigned long size);

	/*
	 * The kernel's memcpy, memset and memmove: the host C library's are
	 * tuned for the processor, lib/string.c's are byte loops.
	 */
	void *(*memcpy)(void *dest, const void *src, unsigned long count);
	void *(*memset)(void *s, int c, unsigned long count);
	void *(*memmove)(void *dest, const void *src, unsigned long count);

	/*
	 * Plain host threads (pthreads), for programs that use upstream LKL's
	 * host operations; the kernel itself runs on contexts, not on these.
	 * thread_create() starts fn(arg) on a new thread and returns its
	 * handle, or 0 if it could not be created. thread_join() waits for it
	 * and returns 0, or -1 on failure. thread_detach() and thread_exit()
	 * act on the calling thread. gettid() is the caller's kernel thread id
	 * on the host (not the handle).
	 */
	lkl_thread_t (*thread_create)(void (*fn)(void *), void *arg);
	void (*thread_detach)(void);
	void (*thread_exit)(void);
	int (*thread_join)(lkl_thread_t tid);
	lkl_thread_t (*thread_self)(void);
	int (*thread_equal)(lkl_thread_t a, lkl_thread_t b);
	long (*gettid)(void);

	/* Clocks, in nanoseconds. time is upstream LKL's name. */
	unsigned long long (*time)(void);        /* monotonic */
	unsigned long long (*realtime_ns)(void); /* since the Unix epoch */

	/*
	 * Fills buf with len bytes from the host's random source (getrandom);
	 * 0 or a negative errno. Seeds the kernel's random number generator
	 * at boot, so that it is ready at once, as it is on a machine whose
	 * boot loader or CPU gives it a seed. May be NULL: the kernel then
	 * collects entropy from its own timings, slowly.
	 */
	int (*random_bytes)(void *buf, unsigned long len);

	/*
	 * One-shot timers. timer_set_oneshot() (re)arms @timer to call fn(arg)
	 * on a host thread @delta_ns from now, replacing any earlier expiry.
	 * timer_free() disarms it and waits for a running callback to finish.
	 */
	struct lkl_timer *(*timer_alloc)(void (*fn)(void *), void *arg);
	void (*timer_set_oneshot)(struct lkl_timer *timer,
				  unsigned long long delta_ns);
	void (*timer_free)(struct lkl_timer *timer);

	/*
	 * Block requests for the host disk @disk, the handle the host gave to
	 * the kernel when it added the disk. Must not block on the request:
	 * queue it and return.
	 */
	void (*blk_submit)(void *disk, struct lkl_blk_io *io);
};

/*
 * Kernel entry points.
 *
 * lkl_init() records the host operations (call it first; again only with
 * the same operations). lkl_start_kernel() boots with the given command
 * line (printf-style) and returns 0 once init is running, or a negative
 * errno (-EINVAL while a kernel is up, or stopped and not yet released).
 * A kernel that lkl_sys_halt() has stopped is released at once: the
 * program may boot a fresh one, as often as it likes, each starting from
 * the kernel's pristine data. lkl_syscall() runs
 * system call @no with up to six @params in the calling host thread's kernel
 * task and returns the kernel's result (a negative errno on failure).
 * lkl_trigger_irq() raises an interrupt from any host thread.
 * Disks are added and removed with the lkl_disk_add_dev and lkl_disk_del
 * system calls (asm/unistd.h), handing the kernel a host disk handle.
 * lkl_cleanup() frees what lkl_init() and the kernel left, after halt.
 * lkl_kernel_messages() copies the newest kernel log messages, at every
 * level, one per line with their time stamps, into @buf (at most @size - 1
 * bytes and a NUL; older messages are left out first) and returns their
 * length; -EINVAL for no buffer, -ENODEV when no kernel has booted or
 * lkl_sys_halt() has released it. Any host thread may call it; the panic
 * handler too.
 */
int lkl_init(struct lkl_host_operations *ops);
int lkl_start_kernel(const char *cmd_line, ...);
long lkl_syscall(long no, long *params);
int lkl_trigger_irq(int irq);
int lkl_is_running(void);
void lkl_cleanup(void);
long lkl_kernel_messages(char *buf, unsigned long size);
/* Completes a block request; any host thread, any time after blk_submit. */
void lkl_blk_complete(struct lkl_blk_io *io);
/*
 * Before boot: hands the kernel a host disk (as the lkl_disk_add_dev system
 * call does after boot); it is added at boot. Returns its id or -errno.
 */
int lkl_blk_preboot_add(void *disk, unsigned long long size,
			unsigned int flags);
/*
 * While the kernel is not running: the kernel lets go of host disk @disk,
 * which the host may then free. Before boot, a disk handed over with
 * lkl_blk_preboot_add() is dropped (its id is not reused for the others);
 * after lkl_sys_halt(), which has waited for every request in flight, any
 * disk. Returns 0, -EBUSY while the kernel runs (the lkl_disk_del system
 * call removes disks then), or -ENXIO for a disk it was never given.
 */
int lkl_blk_release(void *disk);

#endif /* _ASM_UAPI_LKL_HOST_OPS_H */
