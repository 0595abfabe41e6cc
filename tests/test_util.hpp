// Shared by the kernel test programs: boot once per program, capture the
// kernel log, and small wrappers that keep the tests readable.
#pragma once

#include <lkl.h>

#include <string>

namespace lkl_test {

// Everything the kernel printed so far (lkl_host_ops.print is redirected).
std::string kernel_log();

// Boots with @cmdline unless already running; returns lkl_start_kernel's
// result. Installs the log capture first.
int boot(const char *cmdline = "mem=64M loglevel=7");

// A gtest environment: boot before the first test, halt after the last.
void register_kernel_environment(const char *cmdline = "mem=64M loglevel=7");

// Mounts a fresh tmpfs at @path inside the kernel (mkdir included).
long mount_tmpfs(const char *path);

// Whole-buffer helpers on lkl file descriptors; return bytes or -errno.
long write_all(int fd, const void *buf, size_t len);
long read_all(int fd, void *buf, size_t len);

} // namespace lkl_test
