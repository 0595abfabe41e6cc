// The host's random source, for seeding the kernel's.

#include <lkl_host.h>

#include <cerrno>

#include <sys/random.h>

#include "internal.hpp"

namespace {
namespace randomness {

int fill(void *buf, unsigned long len) noexcept
{
	auto *p = static_cast<unsigned char *>(buf);
	while (len > 0) {
		ssize_t n = ::getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= static_cast<unsigned long>(n);
	}
	return 0;
}

} // namespace randomness
} // namespace
