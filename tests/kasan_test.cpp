// KASAN (-DLKL_KASAN=ON): an out-of-bounds read and a use-after-free in
// kernel code are reported with the kernel's usual "BUG: KASAN: ..." report,
// and with kasan.fault=panic the report stops the kernel through the panic
// handler, as the fuzz targets need. Skipped, with the reason, when the
// kernel was built without KASAN.
#include <lkl.h>
#include <lkl_host.h>

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace {

int panics;

void on_panic()
{
	panics++;
}

std::string messages()
{
	static char buf[65536];
	long len = lkl_kernel_messages(buf, sizeof(buf));
	return len > 0 ? std::string(buf, static_cast<size_t>(len)) : std::string();
}

class Kasan : public ::testing::Test {
protected:
	void SetUp() override
	{
		panics = 0;
		lkl_host_ops.panic = on_panic;
		ASSERT_EQ(lkl_init(&lkl_host_ops), 0);
	}

	void TearDown() override
	{
		lkl_sys_halt();
	}

	// Boots; false (the test is skipped) if the kernel has no KASAN.
	bool boot(const char *cmdline)
	{
		EXPECT_EQ(lkl_start_kernel(cmdline), 0);
		return messages().find("KernelAddressSanitizer initialized") != std::string::npos;
	}
};

} // namespace

TEST_F(Kasan, ReportsOutOfBoundsAndUseAfterFree)
{
	if (!boot("mem=64M kasan_multi_shot"))
		GTEST_SKIP() << "the kernel was built without KASAN (-DLKL_KASAN=ON)";
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_BAD_ACCESS, 0), 0);
	std::string log = messages();
	EXPECT_NE(log.find("BUG: KASAN: slab-out-of-bounds"), std::string::npos)
		<< log;
	EXPECT_NE(log.find("BUG: KASAN: use-after-free"), std::string::npos)
		<< log;
	// Where the object was allocated and freed, and where the bad access
	// was made: stack traces work, their frames (raw addresses, no
	// KALLSYMS) are in the log.
	EXPECT_TRUE(std::regex_search(log, std::regex(R"(Allocated by task [0-9]+:\n[^\n]*\] +0x[0-9a-f]+\n)")))
		<< log;
	EXPECT_TRUE(std::regex_search(log, std::regex(R"(Freed by task [0-9]+:\n[^\n]*\] +0x[0-9a-f]+\n)")))
		<< log;
	EXPECT_TRUE(std::regex_search(log, std::regex(R"(Call Trace:\n[^\n]*\] +0x[0-9a-f]+\n)")))
		<< log;
	EXPECT_EQ(panics, 0);
	// Nothing else in a boot and a system call trips it.
	EXPECT_EQ(log.find("BUG: KASAN:"), log.find("BUG: KASAN: slab-out-of-bounds"))
		<< log;
}

TEST_F(Kasan, PanicsWhenAsked)
{
	if (!boot("mem=64M kasan.fault=panic"))
		GTEST_SKIP() << "the kernel was built without KASAN (-DLKL_KASAN=ON)";
	EXPECT_EQ(lkl_sys_lkl_debug(LKL_DEBUG_BAD_ACCESS, 0), -LKL_ENODEV);
	EXPECT_EQ(panics, 1);
	EXPECT_NE(messages().find("BUG: KASAN: slab-out-of-bounds"), std::string::npos);
}
