// Execution contexts (struct lkl_ctx) on Boost.Context's fcontext primitives.
//
// A switch is one jump_fcontext(): registers are pushed on the running
// stack and the target's are popped, with no system call. The jump hands
// the target a pointer to the context we left, and the target stores the
// resume point there. Nothing lives in host TLS, so a context with its own
// stack may be resumed by any host thread (a host context, by its own
// thread only).

#include <lkl_host.h>

#include <boost/context/detail/fcontext.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define LKL_HOST_VALGRIND 1
#endif

#include "internal.hpp"

namespace {
namespace ctx {

namespace fc = boost::context::detail;

// Generous because XFS call chains are deep; untouched pages cost no RSS.
constexpr std::size_t stack_size = std::size_t{1} << 20;

std::size_t page_size() noexcept
{
	static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
	return size;
}

// A stack mapping with a PROT_NONE guard page at its low end, so that an
// overflow faults instead of writing into whatever is mapped below.
class Stack {
public:
	Stack() = default;
	Stack(Stack &&other) noexcept
		: base_(std::exchange(other.base_, nullptr)),
		  length_(std::exchange(other.length_, 0)),
		  valgrind_id_(std::exchange(other.valgrind_id_, 0))
	{
	}
	Stack &operator=(Stack other) noexcept
	{
		std::swap(base_, other.base_);
		std::swap(length_, other.length_);
		std::swap(valgrind_id_, other.valgrind_id_);
		return *this;
	}
	~Stack() { release(); }

	// Returns an empty Stack if the mapping fails.
	static Stack map(std::size_t usable) noexcept
	{
		const std::size_t page = page_size();
		usable = (usable + page - 1) / page * page;
		void *base = ::mmap(nullptr, usable + page, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
				    -1, 0);
		if (base == MAP_FAILED)
			return {};
		Stack stack(base, usable + page);
		if (::mprotect(base, page, PROT_NONE) != 0)
			return {};
#ifdef LKL_HOST_VALGRIND
		// Otherwise valgrind takes each switch for a wild stack-pointer move.
		stack.valgrind_id_ = VALGRIND_STACK_REGISTER(stack.bottom(), stack.top());
#endif
		return stack;
	}

	explicit operator bool() const noexcept { return base_ != nullptr; }
	// Lowest usable byte, just above the guard page.
	char *bottom() const noexcept { return static_cast<char *>(base_) + page_size(); }
	// One past the highest usable byte: the initial stack pointer.
	char *top() const noexcept { return static_cast<char *>(base_) + length_; }
	std::size_t usable() const noexcept { return length_ - page_size(); }

private:
	Stack(void *base, std::size_t length) noexcept : base_(base), length_(length) {}

	void release() noexcept
	{
		if (!base_)
			return;
#ifdef LKL_HOST_VALGRIND
		VALGRIND_STACK_DEREGISTER(valgrind_id_);
#endif
		::munmap(base_, length_);
		base_ = nullptr;
	}

	void *base_ = nullptr;
	std::size_t length_ = 0;
	unsigned valgrind_id_ = 0;
};

// Stacks of destroyed contexts, handed to the next ones. Mapping a stack,
// faulting in its top pages and unmapping it cost more than many a kernel
// thread's whole life, and every boot, mount and unmount makes and ends
// dozens (a fuzz target's input spent a sixth of its time there). At most
// max_kept are kept, for the life of the process; the pages a kept stack
// has touched stay resident, its guard page stays in place.
class StackCache {
public:
	Stack take() noexcept
	{
		std::lock_guard lock(mutex_);
		return count_ ? std::move(kept_[--count_]) : Stack{};
	}

	// Keeps @stack if there is room; otherwise it is unmapped.
	void give(Stack stack) noexcept
	{
		std::lock_guard lock(mutex_);
		if (count_ < kept_.size())
			kept_[count_++] = std::move(stack);
	}

private:
	static constexpr std::size_t max_kept = 64;
	std::mutex mutex_;
	std::array<Stack, max_kept> kept_;
	std::size_t count_ = 0;
};

// Immortal: a host thread may end a context while static destructors run.
StackCache &stack_cache() noexcept
{
	static host::Immortal<StackCache> cache;
	return cache.get();
}

struct Context {
	// Where to resume this context; null while it runs (or, for a host
	// context, before its thread first switched away), which lets
	// switch_to() catch a jump to a running context.
	fc::fcontext_t resume = nullptr;
	// A host context holds a host thread's own stack, whose frames (the
	// application's) expect that thread's TLS: only that thread, recorded
	// when it switches away, may resume it.
	bool host = false;
	const void *owner = nullptr;
	// Empty for host contexts.
	Stack stack;
};

Context *get(lkl_ctx *handle) noexcept
{
	return host::from_handle<Context>(handle);
}

// What the new context runs; carried by the priming jump in create().
struct Start {
	void (*fn)(void *);
	void *arg;
};

[[noreturn]] void entry(fc::transfer_t transfer) noexcept
{
	const Start start = *static_cast<const Start *>(transfer.data);
	// Go back to create(), which stores where this context stopped: its
	// first real switch_to() resumes it here.
	transfer = fc::jump_fcontext(transfer.fctx, nullptr);
	get(static_cast<lkl_ctx *>(transfer.data))->resume = transfer.fctx;
	start.fn(start.arg);
	host::fatal("a context's function returned");
}

lkl_ctx *create(void (*fn)(void *), void *arg) noexcept
{
	Stack stack = stack_cache().take();
	if (!stack)
		stack = Stack::map(stack_size);
	if (!stack)
		return nullptr;
	auto context = host::try_make<Context>();
	if (!context) {
		stack_cache().give(std::move(stack));
		return nullptr;
	}
	// The entry function learns fn and arg through one jump in and out,
	// made here so that switch_to() itself needs no first-time case.
	Start start{fn, arg};
	fc::fcontext_t fresh = fc::make_fcontext(stack.top(), stack.usable(), entry);
	context->resume = fc::jump_fcontext(fresh, &start).fctx;
	context->stack = std::move(stack);
	return host::to_handle<lkl_ctx>(std::move(context));
}

lkl_ctx *create_host() noexcept
{
	auto context = host::try_make<Context>();
	if (context)
		context->host = true;
	return host::to_handle<lkl_ctx>(std::move(context));
}

// The thread pointer (TLS base) identifies the running host thread in one
// instruction, where pthread_self() is a call into libc. Read it before
// the jump only: the compiler treats it as constant within a function, so
// a value read after a switch could be the previous host thread's.
void check_host_threads(Context &from, const Context &to) noexcept
{
	const void *self = __builtin_thread_pointer();
	if (to.host && to.resume && to.owner != self)
		host::fatal("ctx_switch to a host context from another host thread");
	if (from.host)
		from.owner = self;
}

void switch_to(lkl_ctx *from, lkl_ctx *to) noexcept
{
	Context &source = *get(from);
	Context &destination = *get(to);
	if (source.host || destination.host)
		check_host_threads(source, destination);
	fc::fcontext_t target = std::exchange(destination.resume, nullptr);
	if (!target) [[unlikely]]
		host::fatal("ctx_switch to a context that is running or never ran");
	// @from travels to the target, which records our resume point in it.
	// On return we are @from again, possibly on another host thread.
	fc::transfer_t back = fc::jump_fcontext(target, from);
	get(static_cast<lkl_ctx *>(back.data))->resume = back.fctx;
}

void destroy(lkl_ctx *handle) noexcept
{
	auto context = host::adopt_handle<Context>(handle);
	if (context && context->stack)
		stack_cache().give(std::move(context->stack));
}

} // namespace ctx
} // namespace
