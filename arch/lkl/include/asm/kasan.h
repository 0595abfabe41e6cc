/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_KASAN_H
#define _ASM_LKL_KASAN_H

/*
 * Generic KASAN, outline instrumentation only: every checked access calls
 * mm/kasan, which finds an address's shadow byte at
 * (addr >> 3) + lkl_kasan_shadow. The shadow covers the whole 47-bit host
 * address space (16 TiB, reserved at boot with MAP_NORESERVE through
 * pool_reserve, so only the pages written become resident), because the
 * kernel's memory, its image and the buffers programs pass in all lie at
 * host addresses. Before kasan_init() and after halt there is no shadow and
 * no access is checked.
 */
#define KASAN_SHADOW_SCALE_SHIFT	3
#define LKL_KASAN_ADDR_BITS		47

#ifndef __ASSEMBLY__
extern unsigned long lkl_kasan_shadow;

#define KASAN_SHADOW_OFFSET	lkl_kasan_shadow
#define KASAN_SHADOW_START	lkl_kasan_shadow
#define KASAN_SHADOW_END	\
	(lkl_kasan_shadow + (1UL << (LKL_KASAN_ADDR_BITS - KASAN_SHADOW_SCALE_SHIFT)))

#ifdef CONFIG_KASAN
static inline bool kasan_arch_is_ready(void)
{
	return lkl_kasan_shadow != 0;
}
#define kasan_arch_is_ready kasan_arch_is_ready

void kasan_init(void);
void lkl_kasan_cleanup(void);
#else
static inline void kasan_init(void) { }
static inline void lkl_kasan_cleanup(void) { }
#endif
#endif /* __ASSEMBLY__ */

#endif
