// A file-system exerciser in the spirit of fsx: random writes, reads,
// truncates, hole punches, zeroed and collapsed and inserted ranges on one
// file, each checked against a model of what the file must hold. Remounts
// and cache drops between operations make reads come back from the disk
// through readahead, so large page-cache folios (patches/0002-0004) are
// cut, extended and refilled in every way these calls allow.
//
// LKL_FSX_OPS=N (environment) sets the number of operations per run; the
// "stress" label in CTest runs a long soak that way.
#include "image_util.hpp"
#include "test_util.hpp"

#include <lkl/linux/falloc.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using lkl_test::Image;
using lkl_test::have;
using lkl_test::run;

namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;
constexpr uint64_t max_size = 24 * MiB;

struct Fs {
	const char *type;
	const char *mkfs;
	const char *fsck;
	uint64_t block; // collapse/insert work in whole blocks
};

class Exerciser {
public:
	Exerciser(const Fs &fs, const std::string &image, unsigned seed)
		: fs_(fs), image_(image), rng_(seed)
	{
	}
	~Exerciser() { unmount(); }

	// "" once every operation matched the model, else what went wrong.
	std::string run(unsigned ops)
	{
		if (std::string err = mount(); !err.empty())
			return err;
		for (op_ = 0; op_ < ops; op_++) {
			std::string err = step();
			if (!err.empty())
				return failure(err);
		}
		std::string err = check_all();
		return err.empty() ? unmount() : failure(err);
	}

private:
	std::string step()
	{
		unsigned pick = rng_() % 100;
		if (pick < 30)
			return do_write();
		if (pick < 50)
			return do_read();
		if (pick < 58)
			return do_truncate();
		if (pick < 64)
			return do_fallocate(LKL_FALLOC_FL_PUNCH_HOLE | LKL_FALLOC_FL_KEEP_SIZE);
		if (pick < 70)
			return do_fallocate(LKL_FALLOC_FL_ZERO_RANGE |
					    (rng_() % 2 ? LKL_FALLOC_FL_KEEP_SIZE : 0));
		if (pick < 74)
			return do_fallocate(0);
		if (pick < 79)
			return do_shift(LKL_FALLOC_FL_COLLAPSE_RANGE);
		if (pick < 84)
			return do_shift(LKL_FALLOC_FL_INSERT_RANGE);
		if (pick < 90)
			return call("fsync", lkl_sys_fsync(fd_));
		if (pick < 96) {
			// Clean pages go; dirty ones stay until written.
			note("fadvise dontneed");
			return call("fadvise", lkl_sys_fadvise64(fd_, 0, 0, 4));
		}
		note("remount");
		if (std::string err = unmount(); !err.empty())
			return err;
		return mount();
	}

	// Offsets and lengths mix 1 MiB-aligned (whole large folios),
	// block-aligned and arbitrary values.
	uint64_t offset(uint64_t limit)
	{
		if (limit == 0)
			return 0;
		uint64_t off = rng_() % limit;
		switch (rng_() % 3) {
		case 0:
			return off & ~(MiB - 1);
		case 1:
			return off & ~(4 * KiB - 1);
		default:
			return off;
		}
	}
	uint64_t length()
	{
		switch (rng_() % 4) {
		case 0:
			return 1 + rng_() % (8 * KiB);
		case 1:
			return 1 + rng_() % (256 * KiB);
		case 2:
			return MiB * (1 + rng_() % 3);
		default:
			return 1 + rng_() % (4 * MiB);
		}
	}

	std::string do_write()
	{
		uint64_t off = offset(std::min(model_.size() + MiB, max_size - 1));
		uint64_t len = std::min(length(), max_size - off);
		std::vector<char> data(len);
		for (auto &c : data)
			c = static_cast<char>(rng_());
		note("write " + range(off, len));
		long n = lkl_sys_pwrite64(fd_, data.data(), len, off);
		if (n != static_cast<long>(len))
			return "short or failed write: " + result(n);
		if (model_.size() < off + len)
			model_.resize(off + len, 0);
		std::copy(data.begin(), data.end(), model_.begin() + off);
		return "";
	}

	std::string do_read()
	{
		uint64_t off = offset(model_.size() + 64 * KiB);
		uint64_t len = length();
		note("read " + range(off, len));
		return compare(off, len);
	}

	std::string do_truncate()
	{
		uint64_t size = offset(max_size);
		note("truncate " + std::to_string(size));
		if (std::string err = call("ftruncate", lkl_sys_ftruncate(fd_, size));
		    !err.empty())
			return err;
		model_.resize(size, 0);
		return "";
	}

	std::string do_fallocate(int mode)
	{
		uint64_t off = offset(std::min(model_.size() + MiB, max_size - 1));
		uint64_t len = std::min(length(), max_size - off);
		note("fallocate mode " + std::to_string(mode) + " " + range(off, len));
		long err = lkl_sys_fallocate(fd_, mode, off, len);
		if (err)
			return "fallocate: " + result(err);
		bool keep = mode & LKL_FALLOC_FL_KEEP_SIZE;
		if (!keep && model_.size() < off + len)
			model_.resize(off + len, 0);
		if (mode & (LKL_FALLOC_FL_PUNCH_HOLE | LKL_FALLOC_FL_ZERO_RANGE)) {
			uint64_t end = std::min<uint64_t>(off + len, model_.size());
			if (off < end)
				std::fill(model_.begin() + off, model_.begin() + end, 0);
		}
		return "";
	}

	// Collapse removes whole blocks inside the file; insert opens a hole of
	// whole blocks before its end.
	std::string do_shift(int mode)
	{
		uint64_t blocks = model_.size() / fs_.block;
		bool collapse = mode == LKL_FALLOC_FL_COLLAPSE_RANGE;
		if (blocks < 2 || (!collapse && model_.size() + MiB > max_size))
			return "";
		uint64_t first = rng_() % (blocks - 1);
		uint64_t count = 1 + rng_() % std::min<uint64_t>(
			collapse ? blocks - 1 - first : blocks,
			4 * MiB / fs_.block);
		uint64_t off = first * fs_.block, len = count * fs_.block;
		if (!collapse)
			len = std::min(len, (max_size - model_.size()) / fs_.block * fs_.block);
		if (len == 0)
			return "";
		note(std::string(collapse ? "collapse " : "insert ") + range(off, len));
		long err = lkl_sys_fallocate(fd_, mode, off, len);
		if (err)
			return std::string(collapse ? "collapse: " : "insert: ") + result(err);
		if (collapse)
			model_.erase(model_.begin() + off, model_.begin() + off + len);
		else
			model_.insert(model_.begin() + off, len, 0);
		return "";
	}

	std::string compare(uint64_t off, uint64_t len)
	{
		std::vector<char> got(len);
		long n = lkl_sys_pread64(fd_, got.data(), len, off);
		uint64_t want = off >= model_.size() ? 0 : std::min(len, model_.size() - off);
		if (n != static_cast<long>(want))
			return "read " + range(off, len) + " returned " + result(n) +
			       ", want " + std::to_string(want);
		auto diff = std::mismatch(got.begin(), got.begin() + want,
					  model_.begin() + off);
		if (diff.first != got.begin() + want)
			return "content differs at byte " +
			       std::to_string(off + (diff.first - got.begin()));
		return "";
	}

	std::string check_all()
	{
		struct lkl_stat st;
		if (long err = lkl_sys_fstat(fd_, &st))
			return "fstat: " + result(err);
		if (static_cast<uint64_t>(st.st_size) != model_.size())
			return "size " + std::to_string(st.st_size) + ", want " +
			       std::to_string(model_.size());
		return compare(0, model_.size() + 1);
	}

	std::string mount()
	{
		disk_ = {};
		disk_.fd = ::open(image_.c_str(), O_RDWR);
		if (disk_.fd < 0)
			return "cannot open the image";
		id_ = lkl_disk_add(&disk_);
		if (id_ < 0)
			return "disk_add: " + result(id_);
		char mnt[64];
		if (long err = lkl_mount_dev(id_, 0, fs_.type, 0, nullptr, mnt, sizeof(mnt)))
			return "mount: " + result(err);
		mounted_ = true;
		path_ = std::string(mnt) + "/file";
		fd_ = lkl_sys_open(path_.c_str(), LKL_O_RDWR | LKL_O_CREAT, 0644);
		if (fd_ < 0)
			return "open: " + result(fd_);
		// Every remount starts by reading the whole file back.
		return check_all();
	}

	std::string unmount()
	{
		if (!mounted_)
			return "";
		mounted_ = false;
		if (fd_ >= 0)
			lkl_sys_close(fd_);
		fd_ = -1;
		long err = lkl_umount_dev(id_, 0, 0, 10000);
		lkl_disk_remove(disk_);
		::close(disk_.fd);
		return err ? "umount: " + result(err) : "";
	}

	std::string call(const char *what, long err)
	{
		return err ? std::string(what) + ": " + result(err) : "";
	}
	static std::string result(long n)
	{
		return n < 0 ? lkl_strerror(static_cast<int>(n)) : std::to_string(n);
	}
	static std::string range(uint64_t off, uint64_t len)
	{
		return std::to_string(off) + "+" + std::to_string(len);
	}
	void note(const std::string &what)
	{
		log_.push_back("#" + std::to_string(op_) + " " + what +
			       " (size " + std::to_string(model_.size()) + ")");
		if (log_.size() > 30)
			log_.pop_front();
	}
	std::string failure(const std::string &err)
	{
		std::ostringstream out;
		out << "operation " << op_ << ": " << err << "\nlast operations:\n";
		for (auto &line : log_)
			out << "  " << line << "\n";
		return out.str();
	}

	const Fs &fs_;
	std::string image_, path_;
	std::mt19937_64 rng_;
	std::vector<char> model_;
	std::deque<std::string> log_;
	unsigned op_ = 0;
	struct lkl_disk disk_ = {};
	int id_ = -1, fd_ = -1;
	bool mounted_ = false;
};

unsigned ops_per_run()
{
	const char *env = std::getenv("LKL_FSX_OPS");
	return env ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : 2500;
}

const Fs filesystems[] = {
	{ "xfs", "mkfs.xfs -q -f", "xfs_repair -n", 4096 },
	// Blocks smaller than a page: iomap tracks each block of a folio.
	{ "xfs", "mkfs.xfs -q -f -b size=1024", "xfs_repair -n", 1024 },
	{ "ext4", "mkfs.ext4 -q -F", "e2fsck -fn", 4096 },
};

class Fsx : public ::testing::TestWithParam<std::tuple<int, unsigned>> {};

TEST_P(Fsx, RandomOperationsMatchTheModel)
{
	const Fs &fs = filesystems[std::get<0>(GetParam())];
	unsigned seed = std::get<1>(GetParam());
	std::string tool = std::string(fs.mkfs).substr(0, std::string(fs.mkfs).find(' '));
	if (!have(tool.c_str()))
		GTEST_SKIP() << tool << " not installed";
	Image img(512 * MiB);
	ASSERT_EQ(img.format(fs.mkfs), "");
	{
		Exerciser fsx(fs, img.path(), seed);
		ASSERT_EQ(fsx.run(ops_per_run()), "")
			<< fs.mkfs << ", seed " << seed;
	}
	std::string out;
	EXPECT_EQ(run(std::string(fs.fsck) + " '" + img.path() + "'", &out), 0) << out;
}

std::string name(const ::testing::TestParamInfo<Fsx::ParamType> &info)
{
	static const char *names[] = { "xfs", "xfs1k", "ext4" };
	return std::string(names[std::get<0>(info.param)]) + "_seed" +
	       std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Filesystems, Fsx,
			 ::testing::Combine(::testing::Values(0, 1, 2),
					    ::testing::Values(1u, 2u)),
			 name);

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment("mem=256M");
	return RUN_ALL_TESTS();
}
