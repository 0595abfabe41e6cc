// SPDX-License-Identifier: GPL-2.0
/*
 * A seed for the random number generator from the host, credited as a
 * boot loader's seed is (CONFIG_RANDOM_TRUST_BOOTLOADER). Until the
 * generator is seeded, every get_random_u32() (XFS takes one per log
 * ticket) extracts entropy with BLAKE2s: 5-9% of a tree copy's time.
 */
#include <linux/init.h>
#include <linux/random.h>
#include <linux/string.h>
#include "lkl.h"

static int __init lkl_seed_random(void)
{
	u8 seed[64];

	if (!lkl_ops->random_bytes || lkl_ops->random_bytes(seed, sizeof(seed)))
		return 0;
	add_bootloader_randomness(seed, sizeof(seed));
	memzero_explicit(seed, sizeof(seed));
	return 0;
}
early_initcall(lkl_seed_random);
