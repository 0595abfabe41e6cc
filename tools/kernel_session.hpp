// The kernel the tools boot: its console kept for error messages (and
// written to a log file on request), booted, and halted on every exit
// path. The images it serves are image_disk.hpp's.
#pragma once

#include <lkl/kernel.hpp>

#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace lkl_tools {

struct KernelOptions {
	unsigned int mb = 128; // kernel memory in MiB
	std::string log;       // append kernel messages to this file
};

// A booted kernel. One at a time per process; after its halt another may
// boot.
class KernelSession {
public:
	// Opens options.log (if any), routes the console to it and boots at
	// log level 7 (the messages are kept: they explain failed mounts).
	// On failure: nullptr, error in words and, with @code, the errno
	// (EBUSY: a kernel is already up in this process).
	static std::unique_ptr<KernelSession> boot(const KernelOptions &options,
						   std::string &error,
						   std::error_code *code = nullptr);
	struct Key {
	private:
		friend class KernelSession;
		Key() = default;
	};
	// Use boot(); public only for std::make_unique.
	explicit KernelSession(Key) {}
	~KernelSession();
	KernelSession(const KernelSession &) = delete;
	KernelSession &operator=(const KernelSession &) = delete;

	// Halts the kernel and closes the log file. Everything on it (mounts,
	// disks) must be gone first. Safe to call twice. "" on success, else
	// what failed.
	std::string halt();

private:
	std::optional<lkl::Kernel> kernel_;
	bool log_open_ = false;
};

// Kernel log lines kept since boot (or since the last call), for error
// messages; when KernelOptions::log names a file they are also written
// there.
std::string recent_kernel_messages();

} // namespace lkl_tools
