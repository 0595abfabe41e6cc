// Helpers shared by the host implementation files.
//
// The host is compiled as one translation unit (host_ops.cpp includes the
// other .cpp files) so that everything here and there can live in an
// anonymous namespace: the only global symbol the host adds to liblkl is
// lkl_host_ops.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include <unistd.h>

namespace {
namespace host {

// Host invariants broken by the caller (the kernel) cannot be reported
// through a void C function: say why on stderr and stop.
[[noreturn]] inline void fatal(const char *why) noexcept
{
	static constexpr char prefix[] = "lkl host: fatal: ";
	// Best effort: we abort whatever write() says.
	(void)!::write(STDERR_FILENO, prefix, sizeof(prefix) - 1);
	(void)!::write(STDERR_FILENO, why, std::strlen(why));
	(void)!::write(STDERR_FILENO, "\n", 1);
	std::abort();
}

// make_unique for code behind the C boundary, where bad_alloc must become
// a NULL return instead of an exception.
template <class T, class... Args>
std::unique_ptr<T> try_make(Args &&...args) noexcept
{
	try {
		return std::make_unique<T>(std::forward<Args>(args)...);
	} catch (...) {
		return nullptr;
	}
}

// The C handles (struct lkl_ctx, lkl_sem, ...) stay incomplete types: each
// is a cast of the implementation object's pointer. Defining them as
// C++ classes would emit member functions as global (weak) symbols.
template <class Handle, class Impl>
Handle *to_handle(std::unique_ptr<Impl> impl) noexcept
{
	return reinterpret_cast<Handle *>(impl.release());
}

template <class Impl, class Handle> Impl *from_handle(Handle *handle) noexcept
{
	return reinterpret_cast<Impl *>(handle);
}

// Takes back ownership from C; the object dies at the end of the statement.
template <class Impl, class Handle>
std::unique_ptr<Impl> adopt_handle(Handle *handle) noexcept
{
	return std::unique_ptr<Impl>(from_handle<Impl>(handle));
}

// A process-lifetime singleton that is never destroyed: host threads may
// still use it while static destructors run at exit.
template <class T> class Immortal {
public:
	Immortal() { std::construct_at(reinterpret_cast<T *>(storage_)); }
	Immortal(const Immortal &) = delete;
	Immortal &operator=(const Immortal &) = delete;

	T &get() noexcept
	{
		return *std::launder(reinterpret_cast<T *>(storage_));
	}

private:
	alignas(T) std::byte storage_[sizeof(T)];
};

} // namespace host
} // namespace
