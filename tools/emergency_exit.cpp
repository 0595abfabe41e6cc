#include "emergency_exit.hpp"

#include <lkl.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

namespace lkl_tools {

namespace {

// What the messages need, set by the tool as it goes.
struct Image {
	std::mutex lock;
	std::string prog = "lkl";
	std::string path;
	std::string fstype;
	bool known = false;
	bool read_only = false;
	bool syslog = false;
};

Image &image()
{
	static Image state;
	return state;
}

// Straight to fd 2: the process is about to end, possibly with another
// thread stuck anywhere (stdio's lock included). A daemon logs instead.
void say(const Image &img, const std::string &text)
{
	if (img.syslog) {
		std::size_t start = 0, nl;
		while ((nl = text.find('\n', start)) != std::string::npos) {
			::syslog(LOG_ERR, "%s", text.substr(start, nl - start).c_str());
			start = nl + 1;
		}
		return;
	}
	const char *p = text.data();
	std::size_t left = text.size();
	while (left) {
		ssize_t n = ::write(STDERR_FILENO, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		left -= static_cast<std::size_t>(n);
	}
}

// The file system's own checker, for the repair advice.
std::string checker(const std::string &fstype)
{
	if (fstype == "xfs")
		return "xfs_repair";
	if (fstype == "ext4")
		return "e2fsck -f";
	if (fstype == "btrfs")
		return "btrfs check";
	if (fstype == "vfat")
		return "fsck.vfat";
	return "its file system's checker (xfs_repair, e2fsck -f, btrfs check, "
	       "fsck.vfat)";
}

// "IMAGE was opened read-only and is unchanged", or the repair advice.
std::string fate_of_image(const Image &img)
{
	if (!img.known)
		return "";
	if (img.read_only)
		return img.prog + ": " + img.path +
		       " was opened read-only and is unchanged.\n";
	return img.prog + ": " + img.path +
	       " was not unmounted: it may need a repair before it is used "
	       "again (" + checker(img.fstype) + " " + img.path + ").\n";
}

void on_kernel_panic()
{
	static char log[16384];
	long len = lkl_kernel_messages(log, sizeof(log));
	Image &img = image();
	std::lock_guard guard(img.lock);
	std::string text;
	if (!lkl_is_running())
		text = img.prog + ": the kernel stopped with a panic while booting.\n";
	else if (img.known)
		text = img.prog + ": the kernel stopped with a panic while "
				  "working on " + img.path + ".\n" +
		       img.prog + ": the image is the likely cause: its file "
				  "system is damaged in a way the kernel's " +
		       (img.fstype.empty() ? std::string("file system")
					   : img.fstype) +
		       " code does not handle.\n";
	else
		text = img.prog + ": the kernel stopped with a panic.\n";
	if (len > 0) {
		// The last lines are the ones that say what went wrong.
		std::vector<std::string> lines;
		const char *p = log, *end = log + len;
		while (p < end) {
			const char *nl = static_cast<const char *>(
				std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
			const char *stop = nl ? nl : end;
			lines.emplace_back(p, stop);
			p = stop + 1;
		}
		constexpr std::size_t keep = 30;
		std::size_t first = lines.size() > keep ? lines.size() - keep : 0;
		text += img.prog + ": the kernel's last messages:\n";
		for (std::size_t i = first; i < lines.size(); i++)
			text += "    " + lines[i] + "\n";
	}
	// The tools hand the image to the kernel once it has booted.
	if (!lkl_is_running() && img.known)
		text += img.prog + ": " + img.path + " was not changed.\n";
	else
		text += fate_of_image(img);
	say(img, text);
	::_exit(kernel_panic_status);
}

} // namespace

void emergency_program(const char *prog)
{
	std::lock_guard guard(image().lock);
	image().prog = prog;
}

void emergency_to_syslog()
{
	std::lock_guard guard(image().lock);
	image().syslog = true;
}

void emergency_image(const std::string &path, bool read_only)
{
	std::lock_guard guard(image().lock);
	image().path = path;
	image().read_only = read_only;
	image().known = true;
}

void emergency_fstype(const std::string &type)
{
	std::lock_guard guard(image().lock);
	image().fstype = type;
}

std::chrono::milliseconds stop_grace()
{
	if (const char *env = getenv("LKL_STOP_GRACE")) {
		char *end = nullptr;
		double seconds = strtod(env, &end);
		if (end != env && !*end && seconds >= 0 && std::isfinite(seconds))
			return std::chrono::milliseconds(
				static_cast<long long>(seconds * 1000));
	}
	return std::chrono::seconds(10);
}

void exit_stopped(int sig)
{
	Image &img = image();
	std::lock_guard guard(img.lock);
	std::string text = img.prog + ": " + strsignal(sig) +
			   ": the kernel did not finish in time; exiting "
			   "without unmounting" +
			   (img.known ? " " + img.path : std::string()) + ".\n";
	say(img, text + fate_of_image(img));
	::_exit(128 + sig);
}

void GracePeriod::finish()
{
	{
		std::lock_guard lock(mutex_);
		done_ = true;
	}
	ended_.notify_all();
	if (timer_.joinable() && timer_.get_id() != std::this_thread::get_id())
		timer_.join();
}

GracePeriod &grace_period()
{
	static GracePeriod grace;
	return grace;
}

void GracePeriod::start(int sig)
{
	std::lock_guard lock(mutex_);
	if (timer_.joinable() || done_)
		return;
	const auto deadline = std::chrono::steady_clock::now() + stop_grace();
	timer_ = std::thread([this, sig, deadline] {
		std::unique_lock lock(mutex_);
		if (!ended_.wait_until(lock, deadline, [this] { return done_; }))
			exit_stopped(sig);
	});
}

sigset_t stop_signal_set()
{
	sigset_t set;
	sigemptyset(&set);
	for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1})
		sigaddset(&set, sig);
	return set;
}

StopSignals::StopSignals(std::function<void(int)> on_stop)
	: set_(stop_signal_set()), on_stop_(std::move(on_stop))
{
	pthread_sigmask(SIG_BLOCK, &set_, nullptr);
	watcher_ = std::thread([this] {
		for (;;) {
			int sig = 0;
			if (sigwait(&set_, &sig) != 0 || sig == SIGUSR1)
				return;
			if (int first = signal())
				exit_stopped(first); // asked twice: do not wait
			__atomic_store_n(&first_, sig, __ATOMIC_SEQ_CST);
			on_stop_(sig);
			grace_period().start(sig);
		}
	});
}

StopSignals::~StopSignals()
{
	pthread_kill(watcher_.native_handle(), SIGUSR1);
	watcher_.join();
	grace_period().finish();
}

int StopSignals::signal() const
{
	return __atomic_load_n(&first_, __ATOMIC_SEQ_CST);
}

void exit_on_kernel_panic()
{
	lkl_host_ops.panic = on_kernel_panic;
}

} // namespace lkl_tools
