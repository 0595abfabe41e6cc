// The write log of a disk (lkl_disk_add_opts, lkl_disk_log_mark) through
// the kernel: it holds every write the file systems made, so replaying all
// of it onto the image as it was rebuilds the final image bit for bit; the
// raw block device's discard, write-zeroes, flush and FUA requests arrive
// as such; options and marks fail as documented.
#include "image_util.hpp"
#include "test_util.hpp"

#include "replay.hpp"

#include <lkl/kernel.hpp>
#include <lkl/write_log.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::have;
using lkl_test::run;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

struct FsCase {
	const char *type;
	const char *mkfs;
	lkl::Disk::Cache cache;
	const char *opts; // mount options
};

void PrintTo(const FsCase &c, std::ostream *os)
{
	*os << c.type << (c.cache == lkl::Disk::Cache::none ? " cache=none" : " writeback")
	    << (c.opts ? " -o " : "") << (c.opts ? c.opts : "");
}

std::string case_name(const testing::TestParamInfo<FsCase> &info)
{
	std::string name = info.param.type;
	name += info.param.cache == lkl::Disk::Cache::none ? "_cache_none" : "_writeback";
	if (info.param.opts)
		name += "_discard";
	return name;
}

class ReplayAll : public testing::TestWithParam<FsCase> {};

// What the workload writes: distinct, so a misplaced block shows.
std::string pattern(int file, size_t len)
{
	std::string s(len, '\0');
	for (size_t i = 0; i < len; i++)
		s[i] = static_cast<char>('a' + (file * 7 + i / 512) % 26);
	return s;
}

void write_file(const std::string &path, const std::string &data, bool sync)
{
	int fd = lkl_sys_open(path.c_str(), LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644);
	ASSERT_GE(fd, 0) << path;
	ASSERT_EQ(lkl_test::write_all(fd, data.data(), data.size()), (long)data.size());
	if (sync)
		ASSERT_EQ(lkl_sys_fsync(fd), 0);
	ASSERT_EQ(lkl_sys_close(fd), 0);
}

TEST_P(ReplayAll, RebuildsTheFinalImage)
{
	const FsCase &c = GetParam();
	std::string tool = std::string("mkfs.") + c.type;
	if (!have(tool.c_str()))
		GTEST_SKIP() << tool << " not installed";
	Image img(320 * MiB);
	ASSERT_EQ(img.format(c.mkfs), "");
	std::string base = img.path() + ".base", log_path = img.path() + ".wlog";
	ASSERT_EQ(run("cp --sparse=always '" + img.path() + "' '" + base + "'"), 0);

	std::error_code ec;
	lkl::Disk::Options opts;
	opts.cache = c.cache;
	opts.write_log = log_path.c_str();
	auto disk = lkl::Disk::open(img.path().c_str(), false, ec, opts);
	ASSERT_FALSE(ec) << ec.message();
	{
		auto mnt = lkl::Mount::mount(disk, 0, c.type, 0, c.opts, ec);
		ASSERT_FALSE(ec) << ec.message();
		for (int i = 0; i < 20; i++)
			write_file(mnt.path() + "/f" + std::to_string(i),
				   pattern(i, 3000 + i * 7000), i % 3 == 0);
		ASSERT_FALSE(disk.mark("after-files"));
		for (int i = 0; i < 20; i += 2)
			ASSERT_EQ(lkl_sys_unlink((mnt.path() + "/f" + std::to_string(i)).c_str()), 0);
		lkl_sys_sync();
		ASSERT_FALSE(disk.mark("after-sync"));
		ASSERT_FALSE(mnt.unmount());
	}
	ASSERT_FALSE(disk.remove());

	lkl_replay::Log log(log_path);
	EXPECT_FALSE(log.truncated());
	EXPECT_EQ(log.capacity(), 320 * MiB);
	size_t writes = 0, flushes = 0, fua = 0, discards = 0;
	for (const auto &r : log.records()) {
		EXPECT_TRUE(r.ok()) << r.describe();
		writes += r.type == LKL_WLOG_WRITE;
		flushes += r.type == LKL_WLOG_FLUSH;
		discards += r.type == LKL_WLOG_DISCARD;
		fua += r.fua();
	}
	EXPECT_GT(writes, 20u);
	EXPECT_GT(flushes, 0u);
	EXPECT_GT(fua, 0u) << "journal commits are FUA writes";
	if (c.opts)
		EXPECT_GT(discards, 0u) << "-o discard frees blocks with discards";
	uint64_t first = log.find_mark("after-files"), second = log.find_mark("after-sync");
	EXPECT_LT(first, second);

	auto state = lkl_replay::crash_state(log, log.records().size(),
					     lkl_replay::Unflushed::all);
	std::string out = img.path() + ".replayed";
	int base_fd = open(base.c_str(), O_RDONLY), out_fd = open(out.c_str(), O_CREAT | O_RDWR, 0644);
	ASSERT_GE(base_fd, 0);
	ASSERT_GE(out_fd, 0);
	lkl_replay::write_image(log, state, base_fd, out_fd);
	close(base_fd);
	close(out_fd);
	std::string a, b;
	run("cmp '" + out + "' '" + img.path() + "'", &a);
	EXPECT_EQ(a, "") << "replaying the whole log differs from the image";
	// Unmounted cleanly: the last flush covers everything, so a cut at
	// the end loses nothing either.
	auto none = lkl_replay::crash_state(log, log.records().size(),
					    lkl_replay::Unflushed::none);
	EXPECT_EQ(none.applied, state.applied);
}

INSTANTIATE_TEST_SUITE_P(
	Fs, ReplayAll,
	testing::Values(
		FsCase{"xfs", "mkfs.xfs -q -f", lkl::Disk::Cache::writeback, nullptr},
		FsCase{"xfs", "mkfs.xfs -q -f", lkl::Disk::Cache::none, nullptr},
		FsCase{"xfs", "mkfs.xfs -q -f", lkl::Disk::Cache::writeback, "discard"},
		FsCase{"ext4", "mkfs.ext4 -q -F", lkl::Disk::Cache::writeback, nullptr},
		FsCase{"ext4", "mkfs.ext4 -q -F", lkl::Disk::Cache::none, "discard"}),
	case_name);

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}
