// SPDX-License-Identifier: GPL-2.0
/*
 * The cost of a task switch, for bench/ (CONFIG_LKL_CTX_SWITCH_BENCH).
 *
 * Whole switch: two kernel threads complete each other n times, so each
 * round trip is two wake-ups, two passes through schedule() and two
 * __switch_to(). Architecture part: the same number of __switch_to()-like
 * jumps between two bare host contexts, with the lkl_current update, and
 * no scheduler.
 */
#include <linux/completion.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/syscalls.h>
#include <linux/uaccess.h>
#include "lkl.h"

struct pingpong {
	struct completion go[2];
	struct completion done;
	unsigned long rounds;
};

static int ping(void *arg)
{
	struct pingpong *pp = arg;
	unsigned long i;

	for (i = 0; i < pp->rounds; i++) {
		complete(&pp->go[1]);
		wait_for_completion(&pp->go[0]);
	}
	complete(&pp->done);
	return 0;
}

static int pong(void *arg)
{
	struct pingpong *pp = arg;
	unsigned long i;

	for (i = 0; i < pp->rounds; i++) {
		wait_for_completion(&pp->go[1]);
		complete(&pp->go[0]);
	}
	complete(&pp->done);
	return 0;
}

static u64 sched_switch_ns(unsigned long rounds)
{
	struct pingpong pp = { .rounds = rounds };
	u64 start;

	init_completion(&pp.go[0]);
	init_completion(&pp.go[1]);
	init_completion(&pp.done);
	start = lkl_ops->time();
	kthread_run(pong, &pp, "lkl-pong");
	kthread_run(ping, &pp, "lkl-ping");
	wait_for_completion(&pp.done);
	wait_for_completion(&pp.done);
	return lkl_ops->time() - start;
}

static struct lkl_ctx *bare[2];
static unsigned long bare_rounds;

static void bare_loop(void *arg)
{
	struct task_struct *self = current;

	for (;;) {
		while (bare_rounds) {
			bare_rounds--;
			lkl_current = self;
			lkl_ops->ctx_switch(bare[1], bare[0]);
		}
		lkl_ops->ctx_switch(bare[1], bare[0]);
	}
}

static u64 arch_switch_ns(unsigned long rounds)
{
	struct task_struct *self = current;
	u64 start, ns;

	bare[0] = lkl_ops->ctx_create_host();
	bare[1] = lkl_ops->ctx_create(bare_loop, NULL);
	if (!bare[0] || !bare[1]) {
		ns = 0;
		goto out;
	}
	bare_rounds = rounds;
	start = lkl_ops->time();
	while (bare_rounds) {
		lkl_current = self;
		lkl_ops->ctx_switch(bare[0], bare[1]);
	}
	ns = lkl_ops->time() - start;
out:
	if (bare[0])
		lkl_ops->ctx_free(bare[0]);
	if (bare[1])
		lkl_ops->ctx_free(bare[1]);
	lkl_current = self;
	return ns;
}

SYSCALL_DEFINE3(lkl_switch_bench, unsigned long, rounds,
		u64 __user *, total_ns, u64 __user *, arch_ns)
{
	u64 total, arch;

	if (!rounds)
		return -EINVAL;
	/* Two switches per round trip. */
	total = sched_switch_ns(rounds) / (2 * rounds);
	arch = arch_switch_ns(rounds) / (2 * rounds);
	if (put_user(total, total_ns) || put_user(arch, arch_ns))
		return -EFAULT;
	return 0;
}
