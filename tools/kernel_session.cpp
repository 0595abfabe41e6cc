#include "kernel_session.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

namespace lkl_tools {

namespace {

// The kernel console. Messages are kept (bounded) so that a failed mount
// can say what the file system logged; they also go to the log file.
struct KernelLog {
	static constexpr std::size_t keep = 16 * 1024;

	std::mutex lock;
	std::string recent;
	FILE *file = nullptr;
};

KernelLog &kernel_log()
{
	static KernelLog log;
	return log;
}

void print_to_log(const char *str, int len)
{
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	if (log.file) {
		fwrite(str, 1, static_cast<std::size_t>(len), log.file);
		fflush(log.file);
	}
	try {
		log.recent.append(str, static_cast<std::size_t>(len));
		if (log.recent.size() > KernelLog::keep)
			log.recent.erase(0, log.recent.size() - KernelLog::keep);
	} catch (const std::bad_alloc &) {
		log.recent.clear();
	}
}

} // namespace

std::string recent_kernel_messages()
{
	KernelLog &log = kernel_log();
	std::lock_guard guard(log.lock);
	return std::exchange(log.recent, {});
}

std::unique_ptr<KernelSession> KernelSession::boot(const KernelOptions &options,
						   std::string &error,
						   std::error_code *code)
{
	auto fail = [&](int err) {
		if (code)
			*code = std::error_code(err, std::generic_category());
		return nullptr;
	};
	auto s = std::make_unique<KernelSession>(Key());
	KernelLog &log = kernel_log();
	if (!options.log.empty()) {
		std::lock_guard guard(log.lock);
		log.file = fopen(options.log.c_str(), "ae");
		if (!log.file) {
			error = options.log + ": " + std::strerror(errno);
			return fail(errno);
		}
		s->log_open_ = true;
	}
	lkl_host_ops.print = print_to_log;

	std::error_code ec;
	auto kernel = lkl::Kernel::boot(
		"mem=" + std::to_string(options.mb) + "M loglevel=7", ec);
	if (ec) {
		error = "booting the kernel: " + ec.message();
		return fail(ec.value());
	}
	s->kernel_.emplace(std::move(*kernel));
	return s;
}

std::string KernelSession::halt()
{
	std::string failed;
	if (kernel_) {
		if (auto ec = kernel_->halt())
			failed = "halting the kernel: " + ec.message();
		kernel_.reset();
	}
	if (std::exchange(log_open_, false)) {
		KernelLog &log = kernel_log();
		std::lock_guard guard(log.lock);
		if (log.file) {
			fclose(log.file);
			log.file = nullptr;
		}
	}
	return failed;
}

KernelSession::~KernelSession()
{
	halt();
}

} // namespace lkl_tools
