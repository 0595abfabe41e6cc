// SPDX-License-Identifier: GPL-2.0
/*
 * Time from the host: a clocksource on the host's monotonic clock, the wall
 * clock from its real-time clock, and a one-shot clockevent on a host timer
 * (no periodic tick: the kernel is tickless when idle).
 */
#include <linux/clocksource.h>
#include <linux/clockchips.h>
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/sched_clock.h>
#include <linux/time.h>
#include <linux/timex.h>
#include <linux/init.h>
#include <linux/delay.h>
#include "lkl.h"

static struct lkl_timer *timer;
unsigned long long lkl_boot_ns;

unsigned long long sched_clock(void)
{
	return lkl_ops->time() - lkl_boot_ns;
}

static u64 clock_read(struct clocksource *cs)
{
	return lkl_ops->time();
}

static struct clocksource clocksource = {
	.name	= "lkl",
	.rating	= 400,
	.read	= clock_read,
	.flags	= CLOCK_SOURCE_IS_CONTINUOUS,
	.mask	= CLOCKSOURCE_MASK(64),
};

void read_persistent_clock64(struct timespec64 *ts)
{
	*ts = ns_to_timespec64(lkl_ops->realtime_ns());
}

/* Delays spin on the host clock, so there is no loop to calibrate. */
void calibrate_delay(void)
{
	loops_per_jiffy = 1 << 20;
}

void lkl_ndelay(unsigned long nsecs)
{
	unsigned long long end = lkl_ops->time() + nsecs;

	while (lkl_ops->time() < end)
		cpu_relax();
}

static int set_next_event(unsigned long delta,
			  struct clock_event_device *evt)
{
	lkl_ops->timer_set_oneshot(timer, delta);
	return 0;
}

static struct clock_event_device clockevent = {
	.name			= "lkl",
	.features		= CLOCK_EVT_FEAT_ONESHOT,
	.set_next_event		= set_next_event,
	.rating			= 400,
	.irq			= LKL_TIMER_IRQ,
};

static irqreturn_t timer_irq(int irq, void *dev_id)
{
	/* A stopped clockevent may still see an expiry already in flight. */
	if (clockevent_state_oneshot(&clockevent))
		clockevent.event_handler(&clockevent);
	return IRQ_HANDLED;
}

static void timer_expired(void *arg)
{
	lkl_trigger_irq(LKL_TIMER_IRQ);
}

void __init time_init(void)
{
	int err;

	timer = lkl_ops->timer_alloc(timer_expired, NULL);
	if (!timer)
		panic("lkl: cannot allocate the host timer\n");

	err = request_irq(LKL_TIMER_IRQ, timer_irq, IRQF_TIMER, "timer", NULL);
	if (err)
		panic("lkl: cannot request the timer interrupt: %d\n", err);

	clocksource_register_hz(&clocksource, NSEC_PER_SEC);
	clockevent.cpumask = cpu_possible_mask;
	clockevents_config_and_register(&clockevent, NSEC_PER_SEC, 1000,
					ULONG_MAX);
}

void lkl_time_cleanup(void)
{
	if (timer)
		lkl_ops->timer_free(timer);
	timer = NULL;
}
