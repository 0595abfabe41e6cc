// Default console and panic handlers; a program may replace both in
// lkl_host_ops before lkl_init().

#include <lkl_host.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "internal.hpp"

namespace {
namespace console {

// Straight to fd 2 with no stdio buffer, so that the kernel log is
// complete even if the process dies right after printing (a panic).
void print(const char *str, int len) noexcept
{
	while (len > 0) {
		const ssize_t written = ::write(STDERR_FILENO, str, static_cast<std::size_t>(len));
		if (written < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		str += written;
		len -= static_cast<int>(written);
	}
}

[[noreturn]] void panic() noexcept
{
	std::abort();
}

} // namespace console
} // namespace
