// SPDX-License-Identifier: GPL-2.0
/*
 * In a fuzzing build (LKL_FUZZ) the kernel's file-system code calls
 * libFuzzer's coverage callbacks (clang's -fsanitize-coverage, see
 * fuzz/kernel-cc.sh). These weak, empty definitions let every other program
 * of that build (cptofs, which makes the seeds; the tests) link and run
 * without libFuzzer; in a fuzz target, libFuzzer's own definitions win.
 */
#include <stdint.h>

#define WEAK __attribute__((weak))

WEAK void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop) {}
WEAK void __sanitizer_cov_pcs_init(const uintptr_t *start, const uintptr_t *stop) {}
WEAK void __sanitizer_cov_trace_cmp1(uint8_t a, uint8_t b) {}
WEAK void __sanitizer_cov_trace_cmp2(uint16_t a, uint16_t b) {}
WEAK void __sanitizer_cov_trace_cmp4(uint32_t a, uint32_t b) {}
WEAK void __sanitizer_cov_trace_cmp8(uint64_t a, uint64_t b) {}
WEAK void __sanitizer_cov_trace_const_cmp1(uint8_t a, uint8_t b) {}
WEAK void __sanitizer_cov_trace_const_cmp2(uint16_t a, uint16_t b) {}
WEAK void __sanitizer_cov_trace_const_cmp4(uint32_t a, uint32_t b) {}
WEAK void __sanitizer_cov_trace_const_cmp8(uint64_t a, uint64_t b) {}
WEAK void __sanitizer_cov_trace_switch(uint64_t val, uint64_t *cases) {}
