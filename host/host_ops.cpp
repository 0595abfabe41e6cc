// The global lkl_host_ops: the default host operations, which a program
// hands to lkl_init() (after replacing print or panic if it likes).
//
// The other host files are included here rather than compiled on their
// own: as one translation unit, all their functions can have internal
// linkage, and lkl_host_ops is the only symbol the host makes global.

#include <lkl.h>

#include "clock.cpp"
#include "console.cpp"
#include "context.cpp"
#include "disk.cpp"
#include "nbd_disk.cpp"
#include "image.cpp"
#include "lvm.cpp"
#include "memory.cpp"
#include "random.cpp"
#include "sync.cpp"
#include "timer.cpp"
#include "thread.cpp"
#include "tls.cpp"
#include "write_log.cpp"

extern "C" {

// Constant-initialized (no constructor runs), so a program's own static
// constructors may already change print or panic safely.
[[gnu::visibility("default")]] constinit lkl_host_operations lkl_host_ops = {
	.print = console::print,
	.panic = console::panic,

	.sem_alloc = locking::sem_alloc,
	.sem_free = locking::sem_free,
	.sem_up = locking::sem_up,
	.sem_down = locking::sem_down,

	.mutex_alloc = locking::mutex_alloc,
	.mutex_free = locking::mutex_free,
	.mutex_lock = locking::mutex_lock,
	.mutex_unlock = locking::mutex_unlock,

	.ctx_create = ctx::create,
	.ctx_create_host = ctx::create_host,
	.ctx_switch = ctx::switch_to,
	.ctx_free = ctx::destroy,
	.ctx_stack_size = ctx::stack_size,

	.tls_alloc = tls::alloc,
	.tls_free = tls::release,
	.tls_set = tls::set,
	.tls_get = tls::get,

	.mem_alloc = memory::alloc,
	.mem_free = memory::release,
	.pool_reserve = memory::pool_reserve,
	.pool_release = memory::pool_release,
	.memcpy = memory::copy,
	.memset = memory::fill,
	.memmove = memory::move,

	.thread_create = threads::create,
	.thread_detach = threads::detach,
	.thread_exit = threads::exit_thread,
	.thread_join = threads::join,
	.thread_self = threads::self,
	.thread_equal = threads::equal,
	.gettid = threads::host_tid,

	.time = clocks::monotonic_ns,
	.realtime_ns = clocks::realtime_ns,

	.random_bytes = randomness::fill,

	.timer_alloc = timer::alloc,
	.timer_set_oneshot = timer::set_oneshot,
	.timer_free = timer::destroy,

	.blk_submit = disk::submit,
};

} // extern "C"
