/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_DELAY_H
#define _ASM_LKL_DELAY_H

/* Busy waits spin on the host's monotonic clock: no loop calibration. */
void lkl_ndelay(unsigned long nsecs);

#define ndelay(n)	lkl_ndelay(n)
#define udelay(n)	lkl_ndelay((n) * 1000UL)
#define mdelay(n)	lkl_ndelay((n) * 1000000UL)

static inline void __delay(unsigned long loops)
{
	lkl_ndelay(loops);
}

#endif
