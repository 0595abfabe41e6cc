// The write log (lkl_disk_opts.write_log): a layer over any disk backend
// that records what the kernel writes, for power-loss testing.
#pragma once

#include <lkl.h>

#include <memory>

#include "disk.hpp"

namespace {
namespace disk {
namespace write_log {

constexpr unsigned int fault_flags =
	LKL_DISK_TEST_FAULT_FLUSH_NOOP | LKL_DISK_TEST_FAULT_REORDER_WRITE |
	LKL_DISK_TEST_FAULT_FLUSH_UNSYNCED | LKL_DISK_TEST_FAULT_DROP_FUA;

// 0 if the log's part of @opts (may be NULL) is valid, else -EINVAL: the
// faults need a log.
int check(const lkl_disk_opts *opts) noexcept;

// @inner with the log of @opts on top (a new file at opts.write_log, for a
// disk of @capacity bytes), or NULL with @err set to a negative errno.
std::unique_ptr<Backend> wrap(std::unique_ptr<Backend> inner,
			      const lkl_disk &disk, const lkl_disk_opts &opts,
			      unsigned long long capacity, int &err) noexcept;

} // namespace write_log
} // namespace disk
} // namespace
