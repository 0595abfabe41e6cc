/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _ASM_LKL_ATOMIC_H
#define _ASM_LKL_ATOMIC_H

#include <linux/types.h>
#include <asm/cmpxchg.h>
#include <asm/barrier.h>

/*
 * Atomics on the compiler's builtins, for atomic_t and atomic64_t alike.
 * Only the holder of the lkl CPU runs kernel code, but the holder changes
 * between host threads, and full ordering keeps the handoff simple to
 * reason about.
 */
#define ATOMIC_INIT(i)		{ (i) }
#define ATOMIC64_INIT(i)	{ (i) }

#define LKL_ATOMIC_OPS(pfx, type, int_t)				\
static __always_inline int_t arch_##pfx##_read(const type *v)		\
{									\
	return __atomic_load_n(&v->counter, __ATOMIC_RELAXED);		\
}									\
static __always_inline void arch_##pfx##_set(type *v, int_t i)		\
{									\
	__atomic_store_n(&v->counter, i, __ATOMIC_RELAXED);		\
}									\
LKL_ATOMIC_OP(pfx, type, int_t, add)					\
LKL_ATOMIC_OP(pfx, type, int_t, sub)					\
LKL_ATOMIC_OP(pfx, type, int_t, and)					\
LKL_ATOMIC_OP(pfx, type, int_t, or)					\
LKL_ATOMIC_OP(pfx, type, int_t, xor)					\
static __always_inline int_t arch_##pfx##_add_return(int_t i, type *v)	\
{									\
	return __atomic_add_fetch(&v->counter, i, __ATOMIC_SEQ_CST);	\
}									\
static __always_inline int_t arch_##pfx##_sub_return(int_t i, type *v)	\
{									\
	return __atomic_sub_fetch(&v->counter, i, __ATOMIC_SEQ_CST);	\
}									\
static __always_inline int_t arch_##pfx##_xchg(type *v, int_t new)	\
{									\
	return __atomic_exchange_n(&v->counter, new, __ATOMIC_SEQ_CST);	\
}									\
static __always_inline int_t arch_##pfx##_cmpxchg(type *v, int_t old,	\
						  int_t new)		\
{									\
	__atomic_compare_exchange_n(&v->counter, &old, new, false,	\
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);\
	return old;							\
}

#define LKL_ATOMIC_OP(pfx, type, int_t, op)				\
static __always_inline void arch_##pfx##_##op(int_t i, type *v)		\
{									\
	__atomic_fetch_##op(&v->counter, i, __ATOMIC_RELAXED);		\
}									\
static __always_inline int_t arch_##pfx##_fetch_##op(int_t i, type *v)	\
{									\
	return __atomic_fetch_##op(&v->counter, i, __ATOMIC_SEQ_CST);	\
}

LKL_ATOMIC_OPS(atomic, atomic_t, int)
LKL_ATOMIC_OPS(atomic64, atomic64_t, s64)

#undef LKL_ATOMIC_OP
#undef LKL_ATOMIC_OPS

#define arch_atomic_read		arch_atomic_read
#define arch_atomic_set			arch_atomic_set
#define arch_atomic_add			arch_atomic_add
#define arch_atomic_sub			arch_atomic_sub
#define arch_atomic_and			arch_atomic_and
#define arch_atomic_or			arch_atomic_or
#define arch_atomic_xor			arch_atomic_xor
#define arch_atomic_add_return		arch_atomic_add_return
#define arch_atomic_sub_return		arch_atomic_sub_return
#define arch_atomic_fetch_add		arch_atomic_fetch_add
#define arch_atomic_fetch_sub		arch_atomic_fetch_sub
#define arch_atomic_fetch_and		arch_atomic_fetch_and
#define arch_atomic_fetch_or		arch_atomic_fetch_or
#define arch_atomic_fetch_xor		arch_atomic_fetch_xor
#define arch_atomic_xchg		arch_atomic_xchg
#define arch_atomic_cmpxchg		arch_atomic_cmpxchg
#define arch_atomic64_read		arch_atomic64_read
#define arch_atomic64_set		arch_atomic64_set
#define arch_atomic64_add		arch_atomic64_add
#define arch_atomic64_sub		arch_atomic64_sub
#define arch_atomic64_and		arch_atomic64_and
#define arch_atomic64_or		arch_atomic64_or
#define arch_atomic64_xor		arch_atomic64_xor
#define arch_atomic64_add_return	arch_atomic64_add_return
#define arch_atomic64_sub_return	arch_atomic64_sub_return
#define arch_atomic64_fetch_add		arch_atomic64_fetch_add
#define arch_atomic64_fetch_sub		arch_atomic64_fetch_sub
#define arch_atomic64_fetch_and		arch_atomic64_fetch_and
#define arch_atomic64_fetch_or		arch_atomic64_fetch_or
#define arch_atomic64_fetch_xor		arch_atomic64_fetch_xor
#define arch_atomic64_xchg		arch_atomic64_xchg
#define arch_atomic64_cmpxchg		arch_atomic64_cmpxchg

#endif
