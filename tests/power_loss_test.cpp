// Power-loss tests: each workload runs on XFS and on ext4 with a write log;
// then every crash point of the log (after each flush, at each mark placed
// when an operation returned, the end), with none, all and seeded random
// subsets of the writes not yet durable, is replayed, mounted with lkl (log
// recovery runs), checked against what the returned fsyncs promised, and
// checked by xfs_repair -n / e2fsck -fn. Workloads follow fstests'
// log-writes tests (generic/455, 457, 482) and CrashMonkey's bounded
// workloads (Mohan et al., OSDI 2018). A broken block path (flushes not
// done, a write reordered past a flush, FUA dropped) must make the same
// checks fail.
//
// LKL_POWER_LOSS_RANDOM sets how many random subsets per crash point
// (default 2), LKL_POWER_LOSS_OPS and LKL_POWER_LOSS_SEED the length and
// the seed of the random workloads (default 60 and 1),
// LKL_POWER_LOSS_CACHE=none the AIO backend (O_DIRECT) for the workloads,
// LKL_POWER_LOSS_KEEP a directory where failing images are kept.
#include "image_util.hpp"
#include "power_loss.hpp"
#include "test_util.hpp"

#include <lkl/kernel.hpp>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

using lkl_test::Image;
using power_loss::Workload;

namespace {

constexpr uint64_t KiB = 1024;

unsigned env_number(const char *name, unsigned fallback)
{
	const char *v = getenv(name);
	return v && *v ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : fallback;
}

// fstests generic/ style: files of awkward sizes, appends, overwrites,
// sparse extension, truncation, each made durable by fsync or fdatasync.
void create_write_fsync(Workload &w)
{
	w.create("a");
	w.write("a", 0, 4 * KiB, 1);
	w.fsync("a");
	w.create("b");
	w.write("b", 0, 1, 2);
	w.fsync("b");
	w.create("c");
	w.write("c", 0, 64 * KiB + 1, 3);
	w.fdatasync("c");
	w.write("a", 4 * KiB, 100000, 4);
	w.fsync("a");
	w.write("a", 1000, 3000, 5);
	w.fdatasync("a");
	w.create("empty");
	w.fsync("empty");
	w.write("c", 200 * KiB, 5000, 6);
	w.fsync("c");
	w.truncate("c", 30000);
	w.fsync("c");
	w.write("b", 0, 1024 * KiB, 7);
	w.fsync("b");
	w.write("a", 0, 8 * KiB, 8);
	w.write("c", 0, 8 * KiB, 9);
	w.fsync("c");
}

// CrashMonkey's bounded sequences on names: rename, link, unlink, the
// atomic-replace idiom, across directories.
void rename_link_unlink(Workload &w)
{
	w.mkdir("d1");
	w.mkdir("d2");
	w.create("d1/x");
	w.write("d1/x", 0, 8 * KiB, 1);
	w.fsync("d1/x");
	w.rename("d1/x", "d2/y");
	w.fsync("d2/y");
	w.link("d2/y", "d1/z");
	w.fsync("d1/z");
	w.unlink("d2/y");
	w.fsync_dir("d2");
	w.create("d2/w");
	w.write("d2/w", 0, 5000, 2);
	w.fsync("d2/w");
	w.rename("d2/w", "d1/z");
	w.fsync("d1/z");
	w.create("t");
	w.write("t", 0, 3000, 3);
	w.rename("t", "d1/t2");
	w.fsync_dir("d1");
	w.create("tmp");
	w.write("tmp", 0, 12 * KiB, 4);
	w.fsync("tmp");
	w.rename("tmp", "d1/t2");
	w.fsync_dir("d1");
	w.link("d1/t2", "d2/t3");
	w.unlink("d1/t2");
	w.fsync("d2/t3");
	w.unlink("d1/z");
	w.fsync_dir("d1");
}

// fsync of directories: it makes names durable, not their content.
void dir_fsync(Workload &w)
{
	w.mkdir("d");
	for (int i = 0; i < 5; i++) {
		std::string f = "d/f" + std::to_string(i);
		w.create(f);
		w.write(f, 0, 2000 + 3000 * i, 10 + i);
	}
	w.fsync_dir("d");
	w.fsync("d/f0");
	w.mkdir("d/sub");
	w.create("d/sub/g");
	w.write("d/sub/g", 0, 7000, 20);
	w.fsync("d/sub/g");
	w.unlink("d/f1");
	w.unlink("d/f2");
	w.fsync_dir("d");
	w.create("h");
	w.chmod("h", 0600);
	w.fsync_dir("");
	w.fsync("h");
}

// Writes through descriptors opened O_SYNC and O_DSYNC: each is durable
// when it returns, other unsynced writes to the same file are not.
void osync_writes(Workload &w)
{
	w.create("s");
	w.fsync_dir("");
	w.write("s", 0, 4 * KiB, 1, LKL_O_SYNC);
	w.write("s", 8 * KiB, 100, 2, LKL_O_SYNC);
	w.write("s", 4000, 300, 3, LKL_O_SYNC);
	w.write("s", 1024 * KiB, 4 * KiB, 4, LKL_O_SYNC);
	w.create("t");
	w.fsync("t");
	w.write("t", 0, 50000, 5, LKL_O_DSYNC);
	w.write("t", 70000, 10, 6, LKL_O_DSYNC);
	w.write("s", 0, 10000, 7);
	w.write("s", 20000, 512, 8, LKL_O_SYNC);
	w.write("t", 1000, 20000, 9, LKL_O_SYNC);
}

// fallocate: preallocation, punching, zeroing, collapsing and inserting
// ranges, each fsynced.
void fallocate_punch(Workload &w)
{
	constexpr int keep = LKL_FALLOC_FL_KEEP_SIZE;
	w.create("p");
	w.write("p", 0, 256 * KiB, 1);
	w.fsync("p");
	w.fallocate("p", LKL_FALLOC_FL_PUNCH_HOLE | keep, 4 * KiB, 16 * KiB);
	w.fsync("p");
	w.fallocate("p", keep, 256 * KiB, 128 * KiB);
	w.fsync("p");
	w.write("p", 256 * KiB, 8 * KiB, 2);
	w.fsync("p");
	w.fallocate("p", LKL_FALLOC_FL_ZERO_RANGE, 64 * KiB, 12 * KiB);
	w.fdatasync("p");
	w.fallocate("p", 0, 0, 512 * KiB);
	w.fsync("p");
	w.fallocate("p", LKL_FALLOC_FL_COLLAPSE_RANGE, 0, 64 * KiB);
	w.fsync("p");
	w.fallocate("p", LKL_FALLOC_FL_INSERT_RANGE, 16 * KiB, 8 * KiB);
	w.fsync("p");
	w.write("p", 100 * KiB, 30 * KiB, 3);
	w.fallocate("p", LKL_FALLOC_FL_PUNCH_HOLE | keep, 0, 1024 * KiB);
	w.fsync("p");
}

// fsstress-style: random operations on a few files in a few directories,
// with a sync operation now and then.
void random_ops(Workload &w, uint64_t seed, unsigned count)
{
	std::mt19937_64 rng(seed);
	auto pick = [&](uint64_t n) { return n ? rng() % n : 0; };
	std::vector<std::string> dirs = {""};
	auto fresh_name = [&] {
		std::string d = dirs[pick(dirs.size())];
		return (d.empty() ? "" : d + "/") + "f" + std::to_string(rng() % 1000);
	};
	for (unsigned i = 0; i < count; i++) {
		auto names = w.model().names();
		std::string any = names.empty() ? "" : names[pick(names.size())];
		unsigned roll = static_cast<unsigned>(pick(100));
		if (names.size() < 3 || (roll < 8 && names.size() < 12)) {
			std::string n = fresh_name();
			if (!w.exists(n))
				w.create(n);
		} else if (roll < 30) {
			w.write(any, pick(256 * KiB), 1 + pick(64 * KiB), rng());
		} else if (roll < 35) {
			w.write(any, pick(256 * KiB), 1 + pick(16 * KiB), rng(),
				roll % 2 ? LKL_O_SYNC : LKL_O_DSYNC);
		} else if (roll < 40) {
			w.truncate(any, pick(300 * KiB));
		} else if (roll < 45) {
			static const int modes[] = {
				0, LKL_FALLOC_FL_KEEP_SIZE,
				LKL_FALLOC_FL_PUNCH_HOLE | LKL_FALLOC_FL_KEEP_SIZE,
				LKL_FALLOC_FL_ZERO_RANGE};
			w.fallocate(any, modes[pick(4)], pick(256 * KiB), 1 + pick(64 * KiB));
		} else if (roll < 48) {
			w.chmod(any, 0600 | static_cast<unsigned>(pick(0100)));
		} else if (roll < 53) {
			std::string n = fresh_name();
			if (!w.exists(n))
				w.link(any, n);
		} else if (roll < 58) {
			w.unlink(any);
		} else if (roll < 66) {
			std::string n = roll % 2 ? fresh_name() : names[pick(names.size())];
			w.rename(any, n);
		} else if (roll < 80) {
			w.fsync(any);
		} else if (roll < 87) {
			w.fdatasync(any);
		} else if (roll < 94) {
			w.fsync_dir(dirs[pick(dirs.size())]);
		} else if (roll < 97 && dirs.size() < 4) {
			std::string d = "d" + std::to_string(dirs.size());
			w.mkdir(d);
			dirs.push_back(d);
		} else {
			w.sync();
		}
	}
}

struct WorkloadCase {
	const char *name;
	std::function<void(Workload &)> run;
};

const std::vector<WorkloadCase> &workloads()
{
	static const std::vector<WorkloadCase> all = {
		{"create_write_fsync", create_write_fsync},
		{"rename_link_unlink", rename_link_unlink},
		{"dir_fsync", dir_fsync},
		{"osync_writes", osync_writes},
		{"fallocate_punch", fallocate_punch},
		{"random_ops", [](Workload &w) {
			 random_ops(w, env_number("LKL_POWER_LOSS_SEED", 1),
				    env_number("LKL_POWER_LOSS_OPS", 60));
		 }},
	};
	return all;
}

power_loss::FsSpec spec(const std::string &fs)
{
	return fs == "xfs" ? power_loss::xfs_spec() : power_loss::ext4_spec();
}

// Runs @workload on a fresh @fs image with a write log (and @faults),
// then checks every crash point.
power_loss::Summary run(const power_loss::FsSpec &fs, const WorkloadCase &workload,
			unsigned faults = 0, size_t enough = 0)
{
	std::string tools[] = {std::string("mkfs.") + fs.type,
			       fs.fsck.substr(0, fs.fsck.find(' '))};
	for (const auto &t : tools)
		if (!lkl_test::have(t.c_str()))
			throw power_loss::OpError("SKIP " + t + " not installed");
	Image img(fs.size);
	std::string err = img.format(fs.mkfs);
	if (!err.empty())
		throw power_loss::OpError(err);
	std::string base = img.path() + ".base", log = img.path() + ".wlog";
	if (lkl_test::run("cp --sparse=always '" + img.path() + "' '" + base + "'"))
		throw power_loss::OpError("cannot copy the image");

	std::error_code ec;
	lkl::Disk::Options opts;
	opts.write_log = log.c_str();
	opts.flags = faults;
	const char *cache = getenv("LKL_POWER_LOSS_CACHE");
	if (cache && std::string(cache) == "none")
		opts.cache = lkl::Disk::Cache::none;
	auto disk = lkl::Disk::open(img.path().c_str(), false, ec, opts);
	if (ec)
		throw power_loss::OpError("adding the disk: " + ec.message());
	auto mnt = lkl::Mount::mount(disk, 0, fs.type, 0, nullptr, ec);
	if (ec)
		throw power_loss::OpError("mounting: " + ec.message());
	Workload w(disk, mnt.path());
	workload.run(w);
	if ((ec = mnt.unmount()) || (ec = disk.remove()))
		throw power_loss::OpError("unmounting: " + ec.message());

	auto sum = power_loss::check_crash_points(fs, base, log, w,
						  env_number("LKL_POWER_LOSS_RANDOM", 2), enough);
	std::printf("power loss %s %s%s: %zu operations, %zu crash points, %zu crash "
		    "states, %zu distinct images checked, %zu failed\n",
		    fs.type, workload.name, faults ? " (faulty block path)" : "",
		    w.steps().size(), sum.points, sum.states, sum.checked, sum.failed);
	return sum;
}

class PowerLoss : public testing::TestWithParam<std::tuple<std::string, size_t>> {};

TEST_P(PowerLoss, EveryCrashPointKeepsWhatFsyncPromised)
{
	const auto &[fs, index] = GetParam();
	const WorkloadCase &workload = workloads()[index];
	power_loss::Summary sum;
	try {
		sum = run(spec(fs), workload);
	} catch (const power_loss::OpError &e) {
		std::string why = e.what();
		if (why.rfind("SKIP ", 0) == 0)
			GTEST_SKIP() << why.substr(5);
		FAIL() << why;
	}
	RecordProperty("crash_points", static_cast<int>(sum.points));
	RecordProperty("images_checked", static_cast<int>(sum.checked));
	EXPECT_GT(sum.points, 5u) << "the workload made too few crash points to mean much";
	EXPECT_EQ(sum.failed, 0u);
	for (const auto &f : sum.failures)
		ADD_FAILURE() << f;
}

std::string param_name(const testing::TestParamInfo<PowerLoss::ParamType> &info)
{
	return std::get<0>(info.param) + "_" + workloads()[std::get<1>(info.param)].name;
}

INSTANTIATE_TEST_SUITE_P(Workloads, PowerLoss,
			 testing::Combine(testing::Values("xfs", "ext4"),
					  testing::Range<size_t>(0, workloads().size())),
			 param_name);

// The test of the test: a block path that breaks the durability contract
// must make the same checks fail.
class PowerLossFault : public testing::TestWithParam<std::tuple<std::string, unsigned>> {};

TEST_P(PowerLossFault, BrokenBlockPathIsCaught)
{
	const auto &[fs, fault] = GetParam();
	power_loss::Summary sum;
	try {
		sum = run(spec(fs), workloads()[0], fault, 3);
	} catch (const power_loss::OpError &e) {
		std::string why = e.what();
		if (why.rfind("SKIP ", 0) == 0)
			GTEST_SKIP() << why.substr(5);
		FAIL() << why;
	}
	EXPECT_GT(sum.failed, 0u) << "a broken block path went unnoticed";
	for (const auto &f : sum.failures)
		std::printf("  caught: %s\n", f.substr(0, 300).c_str());
}

std::string fault_name(const testing::TestParamInfo<PowerLossFault::ParamType> &info)
{
	unsigned fault = std::get<1>(info.param);
	return std::get<0>(info.param) +
	       (fault == LKL_DISK_TEST_FAULT_FLUSH_NOOP    ? "_flush_noop"
		: fault == LKL_DISK_TEST_FAULT_REORDER_WRITE ? "_reorder_write"
							     : "_drop_fua");
}

INSTANTIATE_TEST_SUITE_P(
	Faults, PowerLossFault,
	testing::Combine(testing::Values("xfs", "ext4"),
			 testing::Values(LKL_DISK_TEST_FAULT_FLUSH_NOOP,
					 LKL_DISK_TEST_FAULT_REORDER_WRITE,
					 LKL_DISK_TEST_FAULT_DROP_FUA)),
	fault_name);

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment("mem=256M loglevel=4");
	return RUN_ALL_TESTS();
}
