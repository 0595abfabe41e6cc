// The write log's host side alone, without booting a kernel: before boot a
// disk's requests can be handed to its host side directly, as the kernel's
// driver does (lkl_host_ops.blk_submit), so the test decides the order of
// submissions and completions. Completions then reach lkl_blk_complete,
// which before boot only queues them; this program never boots.
//
// What is checked: each record's `issued` (a flush covers exactly what had
// completed when it was submitted), FUA, marks, in-flight requests, the
// test faults, a log that cannot be written, and the documented errors.
#include "replay.hpp"

#include <lkl.h>
#include <lkl/write_log.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

namespace {

constexpr uint64_t flush_gate = ~0ULL;

// A disk backend (lkl_dev_blk_ops) whose requests wait at gates the test
// opens, so the test orders completions.
struct GatedDisk {
	std::mutex mutex;
	std::condition_variable cv;
	std::map<uint64_t, bool> open; // sector (or flush_gate) -> open
	bool all_open = false;
	std::vector<unsigned> seen;    // request types, in arrival order
	std::vector<char> data = std::vector<char>(1 << 20);

	void let_through(uint64_t key)
	{
		{
			std::lock_guard lock(mutex);
			open[key] = true;
		}
		cv.notify_all();
	}

	void open_all()
	{
		{
			std::lock_guard lock(mutex);
			all_open = true;
		}
		cv.notify_all();
	}

	int request(lkl_blk_req *req)
	{
		std::unique_lock lock(mutex);
		seen.push_back(req->type);
		uint64_t key = req->type == LKL_DEV_BLK_TYPE_FLUSH ? flush_gate : req->sector;
		cv.wait(lock, [&] { return all_open || open[key]; });
		if (req->type == LKL_DEV_BLK_TYPE_WRITE) {
			size_t off = req->sector * 512;
			for (int i = 0; i < req->count; i++) {
				std::memcpy(data.data() + off, req->buf[i].iov_base, req->buf[i].iov_len);
				off += req->buf[i].iov_len;
			}
		}
		return LKL_DEV_BLK_STATUS_OK;
	}

	static int capacity(struct lkl_disk, unsigned long long *res)
	{
		*res = 1 << 20;
		return 0;
	}
	static int request(struct lkl_disk disk, lkl_blk_req *req)
	{
		return static_cast<GatedDisk *>(disk.handle)->request(req);
	}
};

lkl_dev_blk_ops gated_ops = {GatedDisk::capacity, GatedDisk::request};

// One request as the kernel's driver makes it, with its own buffer.
struct Request {
	lkl_blk_io io = {};
	lkl_blk_seg seg = {};
	std::vector<char> buf;

	static Request write(uint64_t sector, size_t len, char fill, bool fua = false)
	{
		Request r;
		r.buf.assign(len, fill);
		r.io.type = LKL_BLK_IO_WRITE;
		r.io.fua = fua;
		r.io.sector = sector;
		r.io.len = len;
		return r;
	}
	static Request flush()
	{
		Request r;
		r.io.type = LKL_BLK_IO_FLUSH;
		return r;
	}
};

class WriteLogHost : public testing::Test {
protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/lkl-wlog-XXXXXX";
		ASSERT_TRUE(mkdtemp(tmpl));
		dir_ = tmpl;
		log_ = dir_ + "/disk.wlog";
	}

	void TearDown() override
	{
		gated_.open_all();
		if (disk_.dev)
			lkl_disk_remove(disk_);
		if (std::system(("rm -rf '" + dir_ + "'").c_str()) != 0)
			ADD_FAILURE() << "cannot remove " << dir_;
	}

	int add(unsigned flags = 0)
	{
		disk_.handle = &gated_;
		disk_.ops = &gated_ops;
		lkl_disk_opts opts = {};
		opts.write_log = log_.c_str();
		opts.flags = flags;
		return lkl_disk_add_opts(&disk_, &opts);
	}

	void submit(Request &r)
	{
		if (r.io.type == LKL_BLK_IO_WRITE) {
			r.seg = {r.buf.data(), r.buf.size()};
			r.io.segs = &r.seg;
			r.io.nr_segs = 1;
		}
		lkl_host_ops.blk_submit(disk_.dev, &r.io);
	}

	// Waits until the log holds @n records; returns them.
	std::vector<lkl_replay::Record> records(size_t n)
	{
		auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
		for (;;) {
			lkl_replay::Log log(log_);
			if (log.records().size() >= n ||
			    std::chrono::steady_clock::now() > deadline)
				return log.records();
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		}
	}

	// Removes the disk: every request has completed afterwards.
	void finish()
	{
		ASSERT_EQ(lkl_disk_remove(disk_), 0);
		disk_.dev = nullptr;
	}

	std::string dir_, log_;
	GatedDisk gated_;
	lkl_disk disk_ = {};
};

TEST_F(WriteLogHost, FlushCoversWhatCompletedBeforeItWasSubmitted)
{
	ASSERT_GE(add(), 0);
	auto w1 = Request::write(0, 4096, 'a'), w2 = Request::write(8, 4096, 'b');
	auto f1 = Request::flush(), f2 = Request::flush();
	gated_.let_through(0);
	submit(w1);
	ASSERT_EQ(records(1).size(), 1u);
	submit(w2);  // held at its gate
	submit(f1);  // issued with w2 still in flight
	gated_.let_through(8);
	ASSERT_EQ(records(2).size(), 2u);
	gated_.let_through(flush_gate);
	ASSERT_EQ(records(3).size(), 3u);
	submit(f2);
	auto recs = records(4);
	ASSERT_EQ(recs.size(), 4u);
	finish();

	// w2 completed before f1 did, but after f1 was submitted.
	EXPECT_EQ(recs[0].type, LKL_WLOG_WRITE);
	EXPECT_EQ(recs[0].issued, 0u);
	EXPECT_EQ(recs[1].type, LKL_WLOG_WRITE);
	EXPECT_EQ(recs[1].sector, 8u);
	EXPECT_EQ(recs[1].issued, 1u);
	EXPECT_EQ(recs[2].type, LKL_WLOG_FLUSH);
	EXPECT_EQ(recs[2].issued, 1u) << "f1 covers w1 only";
	EXPECT_EQ(recs[3].issued, 3u);
	for (auto *r : {&w1, &w2, &f1, &f2})
		EXPECT_EQ(r->io.status, 0);

	lkl_replay::Log log(log_);
	using lkl_replay::Unflushed;
	EXPECT_EQ(lkl_replay::crash_state(log, 3, Unflushed::none).applied,
		  (std::vector<uint64_t>{0}));
	EXPECT_EQ(lkl_replay::crash_state(log, 3, Unflushed::all).applied,
		  (std::vector<uint64_t>{0, 1}));
	EXPECT_EQ(lkl_replay::crash_state(log, 4, Unflushed::none).applied,
		  (std::vector<uint64_t>{0, 1}));
	// The data is the request's.
	char got[4096];
	log.read_payload(log.records()[1], 0, got, sizeof(got));
	EXPECT_EQ(std::string(got, sizeof(got)), std::string(4096, 'b'));
}

TEST_F(WriteLogHost, FuaWriteIsDurableOnceCompletedAndMarksSeeWhatCompleted)
{
	ASSERT_GE(add(), 0);
	auto w1 = Request::write(0, 512, 'a'), fua = Request::write(16, 1024, 'f', true);
	auto w3 = Request::write(32, 512, 'c'), late = Request::write(48, 512, 'd');
	gated_.let_through(0);
	gated_.let_through(16);
	gated_.let_through(flush_gate); // the backend's FUA is write + flush
	submit(w1);
	submit(fua);
	ASSERT_EQ(records(2).size(), 2u);
	submit(w3); // in flight across the mark
	ASSERT_EQ(lkl_disk_log_mark(disk_, "after fua"), 0);
	submit(late); // submitted after the mark
	gated_.let_through(32);
	gated_.let_through(48);
	ASSERT_EQ(records(5).size(), 5u);
	finish();

	lkl_replay::Log log(log_);
	const auto &recs = log.records();
	uint64_t mark = log.find_mark("after fua");
	EXPECT_EQ(mark, 2u);
	EXPECT_EQ(recs[mark].issued, mark);
	size_t fua_index = recs[0].sector == 16 ? 0 : 1;
	EXPECT_TRUE(recs[fua_index].fua());
	using lkl_replay::Unflushed;
	auto none = lkl_replay::crash_state(log, mark, Unflushed::none);
	EXPECT_EQ(none.applied, (std::vector<uint64_t>{fua_index}));
	auto all = lkl_replay::crash_state(log, mark, Unflushed::all);
	// Both completed writes and w3 (in flight at the mark), not `late`.
	ASSERT_EQ(all.applied.size(), 3u);
	for (uint64_t i : all.applied)
		EXPECT_NE(recs[i].sector, 48u) << "submitted after the cut";
	auto points = lkl_replay::crash_points(log);
	ASSERT_FALSE(points.empty());
	EXPECT_EQ(points[0].kind, lkl_replay::CrashPoint::mark);
	EXPECT_EQ(points[0].point, mark);
	EXPECT_EQ(points.back().kind, lkl_replay::CrashPoint::end);
}

TEST_F(WriteLogHost, FlushNoopFaultCompletesFlushesWithoutTheBackend)
{
	ASSERT_GE(add(LKL_DISK_TEST_FAULT_FLUSH_NOOP), 0);
	auto w = Request::write(0, 512, 'a');
	auto f = Request::flush();
	gated_.let_through(0);
	submit(w);
	submit(f); // its gate stays closed: it must not reach the backend
	ASSERT_EQ(records(1).size(), 1u);
	finish();
	EXPECT_EQ(f.io.status, 0);
	EXPECT_EQ(records(1).size(), 1u);
	EXPECT_EQ(gated_.seen, std::vector<unsigned>{LKL_DEV_BLK_TYPE_WRITE});
}

TEST_F(WriteLogHost, ReorderFaultLogsTheFirstWriteAfterAFlushAfterTheNext)
{
	ASSERT_GE(add(LKL_DISK_TEST_FAULT_REORDER_WRITE), 0);
	gated_.let_through(0);
	gated_.let_through(8);
	gated_.let_through(flush_gate);
	auto f0 = Request::flush(), w1 = Request::write(0, 512, 'a'),
	     w2 = Request::write(8, 512, 'b'), f1 = Request::flush();
	submit(f0);
	ASSERT_EQ(records(1).size(), 1u);
	submit(w1); // held: the first write after f0
	submit(w2);
	ASSERT_EQ(records(2).size(), 2u);
	submit(f1);
	auto recs = records(4);
	finish();
	ASSERT_EQ(recs.size(), 4u);
	EXPECT_EQ(recs[1].sector, 8u);
	EXPECT_EQ(recs[2].type, LKL_WLOG_FLUSH);
	EXPECT_EQ(recs[3].sector, 0u) << "w1 reaches the log after f1";
	EXPECT_LT(recs[2].issued, recs[3].index) << "so f1 does not cover it";
	EXPECT_EQ(w1.io.status, 0);
}

TEST_F(WriteLogHost, AWriteTheLogMissesFails)
{
	ASSERT_GE(add(), 0);
	// Room for the header and one 64-byte record with 512 bytes of data.
	struct rlimit old, small = {64 + 64 + 512, RLIM_INFINITY};
	ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	small.rlim_max = old.rlim_max;
	auto prev = signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
	gated_.let_through(0);
	gated_.let_through(8);
	auto fits = Request::write(0, 512, 'a'), too_big = Request::write(8, 4096, 'b');
	submit(fits);
	ASSERT_EQ(records(1).size(), 1u);
	submit(too_big);
	finish();
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, prev);
	EXPECT_EQ(fits.io.status, 0);
	EXPECT_EQ(too_big.io.status, -EFBIG) << "not logged, so not done";
	EXPECT_EQ(records(1).size(), 1u);
}

TEST_F(WriteLogHost, OptionAndMarkErrors)
{
	lkl_disk disk = {};
	disk.handle = &gated_;
	disk.ops = &gated_ops;
	lkl_disk_opts opts = {};
	opts.flags = LKL_DISK_TEST_FAULT_FLUSH_NOOP;
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_EINVAL) << "a fault needs a log";
	opts.write_log = log_.c_str();
	opts.flags = 0x80;
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_EINVAL) << "unknown flag";
	opts.flags = 0;
	opts.reserved = 1;
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_EINVAL) << "reserved";
	opts.reserved = 0;
	std::string missing = dir_ + "/no/such/dir/log";
	opts.write_log = missing.c_str();
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_ENOENT);
	opts.write_log = "/dev/full";
	EXPECT_EQ(lkl_disk_add_opts(&disk, &opts), -LKL_ENOSPC);
	EXPECT_EQ(disk.dev, nullptr);

	// The image itself as its own log would be destroyed: refused.
	std::string image = dir_ + "/image";
	int fd = open(image.c_str(), O_CREAT | O_RDWR, 0600);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
	lkl_disk file = {};
	file.fd = fd;
	opts.write_log = image.c_str();
	EXPECT_EQ(lkl_disk_add_opts(&file, &opts), -LKL_EINVAL);
	struct stat st;
	ASSERT_EQ(fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 1 << 20) << "the image was truncated";

	// No log: no marks.
	int id = lkl_disk_add_opts(&file, nullptr);
	ASSERT_GE(id, 0);
	EXPECT_EQ(lkl_disk_log_mark(file, "x"), -LKL_EOPNOTSUPP);
	EXPECT_EQ(lkl_disk_remove(file), 0);
	close(fd);

	ASSERT_GE(add(), 0);
	EXPECT_EQ(lkl_disk_log_mark(disk_, nullptr), -LKL_EINVAL);
	EXPECT_EQ(lkl_disk_log_mark(disk_, ""), -LKL_EINVAL);
	std::string longest(LKL_WLOG_MARK_MAX, 'm');
	EXPECT_EQ(lkl_disk_log_mark(disk_, longest.c_str()), 0);
	EXPECT_EQ(lkl_disk_log_mark(disk_, (longest + "m").c_str()), -LKL_ENAMETOOLONG);
	lkl_disk none = {};
	EXPECT_EQ(lkl_disk_log_mark(none, "x"), -LKL_EINVAL);
	finish();
	lkl_replay::Log log(log_);
	ASSERT_EQ(log.records().size(), 1u);
	EXPECT_EQ(log.records()[0].mark, longest);
}

} // namespace
