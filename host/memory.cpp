// Host memory: small bookkeeping allocations and the kernel's RAM pool.

#include <lkl_host.h>

#include <sys/mman.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "internal.hpp"

namespace {
namespace memory {

void *alloc(unsigned long size) noexcept
{
	return std::malloc(size);
}

void release(void *mem) noexcept
{
	std::free(mem);
}

// A released pool kept for the next pool_reserve() of the same size (an
// in-process reboot), so that the next kernel finds its pages mapped:
// faulting them in again (huge pages cleared 2 MiB at a time) and the
// unmap took a fifth of a fuzz target's boot-to-halt cycle. Its contents
// go back to the host at once (MADV_FREE: the host reclaims the pages
// when it needs memory; a page written again before that is simply kept),
// so a released pool costs no memory the host cannot take back.
struct KeptPool {
	std::mutex mutex;
	void *mem = nullptr;
	unsigned long size = 0;
};

// Larger ranges are not RAM but reservations that must start zeroed (a
// KASAN kernel's shadow, 16 TiB): those are always unmapped.
constexpr unsigned long max_kept = 1UL << 40;

KeptPool &kept_pool() noexcept
{
	static host::Immortal<KeptPool> kept;
	return kept.get();
}

// MAP_NORESERVE: the pool is sized for the kernel's mem=, but only the
// pages the kernel touches become resident (or count against overcommit).
// Huge pages where the host has them: the page cache copies whole large
// folios out of the pool, and with 4 KiB host pages every 4 KiB of such a
// copy was a TLB miss (warm 1 GiB reads went from 0.85x to 1.0x the host
// kernel's). The price is residency in 2 MiB steps: +4 MiB after boot.
void *pool_reserve(unsigned long size) noexcept
{
	if (size == 0)
		return nullptr;
	{
		KeptPool &kept = kept_pool();
		std::lock_guard lock(kept.mutex);
		if (kept.mem && kept.size == size)
			return std::exchange(kept.mem, nullptr);
	}
	void *mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return nullptr;
	::madvise(mem, size, MADV_HUGEPAGE); // advice only: failure is fine
	return mem;
}

void pool_release(void *mem, unsigned long size) noexcept
{
	if (!mem)
		return;
	KeptPool &kept = kept_pool();
	std::unique_lock lock(kept.mutex);
	if (!kept.mem && size <= max_kept && ::madvise(mem, size, MADV_FREE) == 0) {
		kept.mem = mem;
		kept.size = size;
		return;
	}
	lock.unlock();
	::munmap(mem, size);
}

#if defined(__x86_64__)
// Enhanced REP MOVSB (CPUID leaf 7, EBX bit 9).
bool has_erms() noexcept
{
	unsigned int eax, ebx, ecx, edx;
	return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (ebx & (1u << 9));
}

const bool use_rep_movsb = has_erms();
#endif

// The kernel copies whole large folios (up to 1 MiB) between its page
// cache and a program's buffers. glibc stops using REP MOVSB on AMD above
// the L2 size and runs a vector loop instead, which measured 28.6 GB/s
// against REP MOVSB's 38.4 GB/s for 1 MiB copies on this project's VM;
// the host kernel's copy_to_user() uses REP MOVSB at every size.
constexpr unsigned long rep_movsb_min = 64 * 1024;

void *copy(void *dest, const void *src, unsigned long count) noexcept
{
#if defined(__x86_64__)
	if (count >= rep_movsb_min && use_rep_movsb) {
		void *d = dest;
		asm volatile("rep movsb"
			     : "+D"(d), "+S"(src), "+c"(count)
			     :
			     : "memory");
		return dest;
	}
#endif
	return std::memcpy(dest, src, count);
}

void *fill(void *s, int c, unsigned long count) noexcept
{
	return std::memset(s, c, count);
}

void *move(void *dest, const void *src, unsigned long count) noexcept
{
	return std::memmove(dest, src, count);
}

} // namespace memory
} // namespace
