/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * lkl uses the generic system call table, 64-bit flavour: the new stat
 * calls, renameat and the rlimit calls that 64-bit generic architectures
 * keep.
 */
#define __ARCH_WANT_NEW_STAT
#define __ARCH_WANT_SET_GET_RLIMIT
#define __ARCH_WANT_RENAMEAT
#define __ARCH_WANT_SYS_CLONE3

#include <asm-generic/unistd.h>

/*
 * lkl's own calls, in the range the generic table leaves to architectures.
 * lkl_switch_bench(n, total_ns, arch_ns): two kernel threads wake each other
 * n times; reports the nanoseconds per switch, whole and for the
 * architecture's own part. -ENOSYS unless CONFIG_LKL_CTX_SWITCH_BENCH.
 */
#define __NR_lkl_switch_bench (__NR_arch_specific_syscall + 0)
__SYSCALL(__NR_lkl_switch_bench, sys_lkl_switch_bench)

/*
 * lkl_disk_add_dev(handle, size, flags): a block device for a host disk,
 * whose requests go to host_ops blk_submit(handle, ...); size in bytes,
 * flags LKL_DISK_* below. Returns the disk id (vda is 0) or -errno.
 * lkl_disk_del(id) removes it again: -EBUSY while it or a partition of it
 * is open or mounted, -ENXIO for no such disk.
 */
#define __NR_lkl_disk_add_dev (__NR_arch_specific_syscall + 1)
__SYSCALL(__NR_lkl_disk_add_dev, sys_lkl_disk_add_dev)
#define __NR_lkl_disk_del (__NR_arch_specific_syscall + 2)
__SYSCALL(__NR_lkl_disk_del, sys_lkl_disk_del)

/*
 * new_thread_group_leader(): upstream LKL's call that makes the calling host
 * thread a new process. Its later calls run in a task that leads a new
 * thread group (getpid() is its own), with a copy of the caller's file
 * table, cwd and credentials; getppid() is the caller's process until that
 * process exits. Returns 0, or -ENOMEM/-EAGAIN if no task can be made.
 */
#define __NR_new_thread_group_leader (__NR_arch_specific_syscall + 3)
__SYSCALL(__NR_new_thread_group_leader, sys_new_thread_group_leader)

/*
 * lkl_debug(cmd, arg): for tests (-ENOSYS unless CONFIG_LKL_DEBUG_CALLS).
 * BUSY_WAIT_JIFFIES spins on cpu_relax() until jiffies has moved by arg
 * and returns by how much it moved; SPIN spins forever; PANIC, BUG and
 * BUG_IN_SOFTIRQ stop the kernel with a panic (the last from a timer
 * callback); BAD_ACCESS reads past a kmalloc()ed object and after freeing
 * it, which a KASAN kernel reports (and, booted with kasan.fault=panic,
 * panics on), and returns 0. Other commands: -EINVAL.
 */
#define __NR_lkl_debug (__NR_arch_specific_syscall + 4)
__SYSCALL(__NR_lkl_debug, sys_lkl_debug)

#define LKL_DEBUG_BUSY_WAIT_JIFFIES	1
#define LKL_DEBUG_SPIN			2
#define LKL_DEBUG_PANIC			3
#define LKL_DEBUG_BUG			4
#define LKL_DEBUG_BUG_IN_SOFTIRQ	5
#define LKL_DEBUG_BAD_ACCESS		6

#define LKL_DISK_READ_ONLY	1	/* refuse writes: the image stays as it is */
#define LKL_DISK_DISCARD	2	/* the host can punch holes */
