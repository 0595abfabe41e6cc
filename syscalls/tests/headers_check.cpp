// SPDX-License-Identifier: GPL-2.0
// Compile-only check: the C++ layer and the C headers it includes, with
// the C library's headers around (built with -Wall -Wextra -Werror).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <lkl/kernel.hpp>
#include <lkl/write_log.h>

long lkl_headers_check_cxx(const char *path)
{
	std::error_code ec;
	auto kernel = lkl::Kernel::boot("mem=16M", ec);
	if (!kernel)
		return -ec.value();
	lkl::Fd fd = lkl::open(path, LKL_O_RDONLY, 0, ec);
	if (ec == std::errc::no_such_file_or_directory)
		return -LKL_ENOENT;
	std::vector<std::byte> buf(4096);
	std::size_t n = lkl::pread(fd.get(), buf, 0, ec);
	struct lkl_stat st = lkl::stat(path, ec);
	struct stat host {};
	return static_cast<long>(n) + st.st_mode + host.st_mode;
}
