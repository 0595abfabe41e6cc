#include "test_util.hpp"

#include <gtest/gtest.h>

#include <mutex>

namespace lkl_test {
namespace {

std::mutex log_mutex;
std::string log_text;

void capture_print(const char *str, int len)
{
	std::lock_guard lock(log_mutex);
	log_text.append(str, len);
}

class KernelEnvironment : public ::testing::Environment {
public:
	explicit KernelEnvironment(const char *cmdline) : cmdline_(cmdline) {}
	void SetUp() override
	{
		ASSERT_EQ(boot(cmdline_), 0);
	}
	void TearDown() override
	{
		EXPECT_EQ(lkl_sys_halt(), 0);
		lkl_cleanup();
	}

private:
	const char *cmdline_;
};

} // namespace

std::string kernel_log()
{
	std::lock_guard lock(log_mutex);
	return log_text;
}

int boot(const char *cmdline)
{
	if (lkl_is_running())
		return 0;
	lkl_host_ops.print = capture_print;
	int err = lkl_init(&lkl_host_ops);
	if (err)
		return err;
	return lkl_start_kernel("%s", cmdline);
}

void register_kernel_environment(const char *cmdline)
{
	::testing::AddGlobalTestEnvironment(new KernelEnvironment(cmdline));
}

long mount_tmpfs(const char *path)
{
	long err = lkl_sys_mkdir(path, 0755);
	if (err < 0 && err != -LKL_EEXIST)
		return err;
	return lkl_sys_mount(const_cast<char *>("tmpfs"), const_cast<char *>(path),
			     const_cast<char *>("tmpfs"), 0, nullptr);
}

long write_all(int fd, const void *buf, size_t len)
{
	const char *p = static_cast<const char *>(buf);
	size_t done = 0;

	while (done < len) {
		long n = lkl_sys_write(fd, p + done, len - done);
		if (n < 0)
			return n;
		done += n;
	}
	return done;
}

long read_all(int fd, void *buf, size_t len)
{
	char *p = static_cast<char *>(buf);
	size_t done = 0;

	while (done < len) {
		long n = lkl_sys_read(fd, p + done, len - done);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

} // namespace lkl_test
