// The durability contract of each disk backend, checked against the host's
// own calls: requests go to a disk's host side as the kernel's driver hands
// them over (lkl_host_ops.blk_submit, before any boot, so the test chooses
// what is in flight), the write log says when the kernel would have seen
// each complete, and host_io_trace records every pwrite, fallocate,
// io_submit/io_getevents and fdatasync the backend made. The contract:
//  - a flush completes only after a sync of the image (fdatasync) that
//    began after every write, write-zeroes and discard that had completed
//    before the flush was submitted had reached the host;
//  - a FUA write or write-zeroes completes only after its data reached the
//    host with RWF_DSYNC, or after a sync that began once it had.
// Backends: the buffered pool and Linux AIO on O_DIRECT, on a file and on
// a block device (a loop device, as root), and a program's own ops.
#include "host_io_trace.hpp"
#include "image_util.hpp"
#include "replay.hpp"

#include <lkl.h>
#include <lkl/write_log.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

constexpr uint64_t disk_size = 16 << 20;

// A program's own backend: a file written with pwritev, flushed with
// fdatasync.
int ops_capacity(struct lkl_disk, unsigned long long *res)
{
	*res = disk_size;
	return 0;
}

int ops_request(struct lkl_disk disk, lkl_blk_req *req)
{
	switch (req->type) {
	case LKL_DEV_BLK_TYPE_WRITE: {
		off_t off = static_cast<off_t>(req->sector * 512);
		auto *iov = reinterpret_cast<struct iovec *>(req->buf);
		size_t len = 0;
		for (int i = 0; i < req->count; i++)
			len += iov[i].iov_len;
		return pwritev(disk.fd, iov, req->count, off) == static_cast<ssize_t>(len)
			       ? LKL_DEV_BLK_STATUS_OK
			       : LKL_DEV_BLK_STATUS_IOERR;
	}
	case LKL_DEV_BLK_TYPE_FLUSH:
		return fdatasync(disk.fd) ? LKL_DEV_BLK_STATUS_IOERR : LKL_DEV_BLK_STATUS_OK;
	default:
		return LKL_DEV_BLK_STATUS_UNSUP;
	}
}

lkl_dev_blk_ops file_ops = {ops_capacity, ops_request};

struct Buffer {
	std::unique_ptr<char, decltype(&std::free)> mem{nullptr, &std::free};
	Buffer(size_t len, char fill)
	{
		void *p = nullptr;
		if (posix_memalign(&p, 4096, len + 4096))
			std::abort();
		mem.reset(static_cast<char *>(p));
		std::memset(p, fill, len + 4096);
	}
};

struct Request {
	lkl_blk_io io = {};
	lkl_blk_seg seg = {};
	std::unique_ptr<Buffer> buf;
};

class Contract : public testing::Test {
protected:
	enum class Kind { pool, aio, ops };

	void TearDown() override
	{
		if (disk_.dev)
			lkl_disk_remove(disk_);
		if (fd_ >= 0)
			close(fd_);
		if (!loop_.empty())
			lkl_test::run("losetup -d " + loop_);
	}

	// Adds the image at @path (a file or a block device) with @kind.
	void add(Kind kind, const std::string &path, unsigned faults = 0)
	{
		kind_ = kind;
		fd_ = open(path.c_str(), O_RDWR | O_CLOEXEC | (kind == Kind::aio ? O_DIRECT : 0));
		if (fd_ < 0 && kind == Kind::aio && errno == EINVAL)
			GTEST_SKIP() << path << ": the host file system refuses O_DIRECT";
		ASSERT_GE(fd_, 0) << path << ": " << strerror(errno);
		struct stat st;
		ASSERT_EQ(fstat(fd_, &st), 0);
		dev_ = st.st_dev;
		ino_ = st.st_ino;
		zeroes_ = S_ISREG(st.st_mode) && kind != Kind::ops;
		disk_.fd = fd_;
		if (kind == Kind::ops)
			disk_.ops = &file_ops;
		log_ = path_base_ + ".wlog";
		lkl_disk_opts opts = {};
		opts.write_log = log_.c_str();
		opts.flags = faults;
		ASSERT_GE(lkl_disk_add_opts(&disk_, &opts), 0);
	}

	// A file image in a fresh directory.
	std::string file_image()
	{
		image_ = std::make_unique<lkl_test::Image>(disk_size);
		path_base_ = image_->path();
		return image_->path();
	}

	// A loop device on a file image, or "" (and the test skipped).
	std::string loop_image()
	{
		std::string file = file_image(), out;
		if (getuid() != 0 || !lkl_test::have("losetup"))
			return "";
		if (lkl_test::run("losetup -f --show '" + file + "'", &out) != 0)
			return "";
		loop_ = out.substr(0, out.find('\n'));
		return loop_;
	}

	Request &write(uint64_t sector, size_t len, char fill, bool fua, bool misaligned = false)
	{
		auto r = std::make_unique<Request>();
		r->buf = std::make_unique<Buffer>(len, fill);
		r->io.type = LKL_BLK_IO_WRITE;
		r->io.fua = fua;
		r->io.sector = sector;
		r->io.len = len;
		r->seg = {r->buf->mem.get() + (misaligned ? 8 : 0), len};
		r->io.segs = &r->seg;
		r->io.nr_segs = 1;
		return submit(std::move(r));
	}

	Request &other(unsigned type, uint64_t sector = 0, size_t len = 0, bool fua = false)
	{
		auto r = std::make_unique<Request>();
		r->io.type = type;
		r->io.fua = fua;
		r->io.sector = sector;
		r->io.len = len;
		return submit(std::move(r));
	}

	Request &submit(std::unique_ptr<Request> r)
	{
		requests_.push_back(std::move(r));
		lkl_host_ops.blk_submit(disk_.dev, &requests_.back()->io);
		return *requests_.back();
	}

	// Waits until everything submitted is in the log.
	void settle()
	{
		auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
		while (lkl_replay::Log(log_).records().size() < requests_.size()) {
			ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "requests never completed";
			std::this_thread::sleep_for(std::chrono::milliseconds(1));
		}
	}

	// What the kernel would send: writes in flight together, FUA ones,
	// ones in buffers the AIO path cannot take, flushes submitted while
	// writes are in flight, write-zeroes (plain and FUA) and discards.
	void workload()
	{
		host_io_trace::start();
		for (int i = 0; i < 8; i++)
			write(static_cast<uint64_t>(i) * 64, 4096, static_cast<char>('a' + i),
			      i == 2 || i == 7, i >= 6);
		ASSERT_NO_FATAL_FAILURE(settle());
		other(LKL_BLK_IO_FLUSH);
		ASSERT_NO_FATAL_FAILURE(settle());
		for (int i = 0; i < 6; i++)
			write(1024 + static_cast<uint64_t>(i) * 16, 8192, static_cast<char>('k' + i),
			      i == 3, i == 4);
		if (zeroes_) {
			other(LKL_BLK_IO_WRITE_ZEROES, 2048, 65536);
			other(LKL_BLK_IO_WRITE_ZEROES, 4096, 4096, true);
			other(LKL_BLK_IO_DISCARD, 8192, 65536);
		}
		other(LKL_BLK_IO_FLUSH);
		for (int i = 0; i < 3; i++)
			write(12288 + static_cast<uint64_t>(i) * 8, 4096, 'x', false);
		ASSERT_NO_FATAL_FAILURE(settle());
		other(LKL_BLK_IO_FLUSH);
		ASSERT_NO_FATAL_FAILURE(settle());
		ASSERT_EQ(lkl_disk_remove(disk_), 0);
		disk_.dev = nullptr;
		trace_ = host_io_trace::stop();
		for (auto &r : requests_)
			EXPECT_EQ(r->io.status, 0) << "request of type " << r->io.type;
	}

	// Where the contract is broken, in words.
	std::vector<std::string> violations() const
	{
		lkl_replay::Log log(log_);
		std::vector<std::string> out;
		auto mine = [&](const host_io_trace::Event &e) {
			return e.ok && e.dev == dev_ && e.ino == ino_;
		};
		// When the host finished writing @r's range before it completed.
		auto landed = [&](const lkl_replay::Record &r, bool *dsync) -> uint64_t {
			uint64_t last = 0;
			*dsync = true;
			bool any = false;
			for (const auto &e : trace_) {
				if (!mine(e) || e.kind == host_io_trace::Event::sync ||
				    e.end_ns > r.completed_ns || e.offset >= r.offset() + r.length ||
				    e.offset + e.length <= r.offset())
					continue;
				any = true;
				*dsync = *dsync && e.dsync;
				last = std::max(last, e.end_ns);
			}
			if (!any)
				*dsync = false;
			return any ? last : 0;
		};
		auto synced = [&](uint64_t after, uint64_t before) {
			for (const auto &e : trace_)
				if (mine(e) && e.kind == host_io_trace::Event::sync &&
				    e.start_ns >= after && e.end_ns <= before)
					return true;
			return false;
		};
		for (const auto &r : log.records()) {
			if (!r.changes_data() || !r.ok() || r.type == LKL_WLOG_DISCARD)
				continue;
			bool dsync;
			uint64_t at = landed(r, &dsync);
			if (!at)
				out.push_back(r.describe() + ": no host call wrote it before it completed");
			else if (r.fua() && !dsync && !synced(at, r.completed_ns))
				out.push_back(r.describe() + ": FUA, completed before it was synced");
		}
		for (const auto &f : log.records()) {
			if (f.type != LKL_WLOG_FLUSH || !f.ok())
				continue;
			for (uint64_t i = 0; i < f.issued; i++) {
				const auto &r = log.records()[i];
				if (!r.changes_data() || !r.ok() || r.type == LKL_WLOG_DISCARD)
					continue;
				bool dsync;
				uint64_t at = landed(r, &dsync);
				if (at && !synced(at, f.completed_ns))
					out.push_back(f.describe() + " completed before " + r.describe() +
						      " was synced");
			}
		}
		return out;
	}

	void expect_contract_kept()
	{
		size_t syncs = 0;
		for (const auto &e : trace_)
			syncs += e.kind == host_io_trace::Event::sync && e.ino == ino_;
		EXPECT_GE(syncs, 3u) << "three flushes and FUA writes, and the host never synced";
		if (kind_ == Kind::aio) {
			size_t direct_fua = 0;
			for (const auto &e : trace_)
				direct_fua += e.kind == host_io_trace::Event::write && e.dsync;
			EXPECT_GT(direct_fua, 0u) << "no FUA write went to io_submit with RWF_DSYNC";
		}
		auto v = violations();
		EXPECT_TRUE(v.empty()) << v.size() << " violations, the first: "
				       << (v.empty() ? "" : v[0]);
	}

	Kind kind_ = Kind::pool;
	std::unique_ptr<lkl_test::Image> image_;
	std::string path_base_, log_, loop_;
	int fd_ = -1;
	uint64_t dev_ = 0, ino_ = 0;
	bool zeroes_ = false;
	lkl_disk disk_ = {};
	std::vector<std::unique_ptr<Request>> requests_;
	std::vector<host_io_trace::Event> trace_;
};

TEST_F(Contract, BufferedPoolOnAFile)
{
	ASSERT_NO_FATAL_FAILURE(add(Kind::pool, file_image()));
	ASSERT_NO_FATAL_FAILURE(workload());
	expect_contract_kept();
}

TEST_F(Contract, AioWithODirectOnAFile)
{
	ASSERT_NO_FATAL_FAILURE(add(Kind::aio, file_image()));
	if (IsSkipped())
		return;
	ASSERT_NO_FATAL_FAILURE(workload());
	expect_contract_kept();
}

TEST_F(Contract, ProgramOwnOps)
{
	std::string path = file_image();
	ASSERT_NO_FATAL_FAILURE(add(Kind::ops, path));
	ASSERT_NO_FATAL_FAILURE(workload());
	expect_contract_kept();
}

TEST_F(Contract, BufferedPoolOnABlockDevice)
{
	std::string dev = loop_image();
	if (dev.empty())
		GTEST_SKIP() << "no loop device (needs root and losetup)";
	ASSERT_NO_FATAL_FAILURE(add(Kind::pool, dev));
	ASSERT_NO_FATAL_FAILURE(workload());
	expect_contract_kept();
}

TEST_F(Contract, AioWithODirectOnABlockDevice)
{
	std::string dev = loop_image();
	if (dev.empty())
		GTEST_SKIP() << "no loop device (needs root and losetup)";
	ASSERT_NO_FATAL_FAILURE(add(Kind::aio, dev));
	ASSERT_NO_FATAL_FAILURE(workload());
	expect_contract_kept();
}

// The host reports a writeback error to one fdatasync only; the data it
// lost was covered by every later flush too, so those must fail as well.
TEST_F(Contract, AHostSyncErrorFailsEveryLaterFlush)
{
	ASSERT_NO_FATAL_FAILURE(add(Kind::pool, file_image()));
	host_io_trace::start();
	write(0, 4096, 'a', false);
	ASSERT_NO_FATAL_FAILURE(settle());
	host_io_trace::fail_syncs(1, EIO);
	Request &f1 = other(LKL_BLK_IO_FLUSH);
	ASSERT_NO_FATAL_FAILURE(settle());
	Request &f2 = other(LKL_BLK_IO_FLUSH);
	ASSERT_NO_FATAL_FAILURE(settle());
	Request &fua = write(64, 4096, 'b', true);
	ASSERT_NO_FATAL_FAILURE(settle());
	ASSERT_EQ(lkl_disk_remove(disk_), 0);
	disk_.dev = nullptr;
	host_io_trace::stop();
	EXPECT_EQ(f1.io.status, -EIO);
	EXPECT_EQ(f2.io.status, -EIO) << "a flush after the host lost data claimed it durable";
	EXPECT_EQ(fua.io.status, -EIO);
}

// The test of the test: a host that completes flushes without syncing.
TEST_F(Contract, FlushesNeverSyncedAreCaught)
{
	ASSERT_NO_FATAL_FAILURE(add(Kind::pool, file_image(), LKL_DISK_TEST_FAULT_FLUSH_UNSYNCED));
	ASSERT_NO_FATAL_FAILURE(workload());
	auto v = violations();
	EXPECT_FALSE(v.empty()) << "flushes that never reached the host went unnoticed";
	bool flush_caught = false;
	for (const auto &s : v)
		flush_caught = flush_caught || s.find(" flush issued ") != std::string::npos;
	EXPECT_TRUE(flush_caught) << v.size() << " violations, none about a flush";
}

} // namespace
