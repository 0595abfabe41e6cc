// The write log format and the crash model, without a kernel: logs are
// written here byte by byte from the layout in Documentation/write-log.md
// (not with the library's writer), read back with lkl_replay, replayed,
// and handed to the lkl-replay program.
#include "image_util.hpp"
#include "replay.hpp"

#include <lkl/write_log.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using lkl_replay::Unflushed;

namespace {

constexpr uint64_t capacity = 64 * 1024;

void put(std::string &out, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		out += static_cast<char>(v >> (8 * i));
}

// A log as the documentation describes it.
class LogBuilder {
public:
	explicit LogBuilder(uint32_t version = 1)
	{
		bytes_ = "LKLWRLOG";
		put(bytes_, version, 4);
		put(bytes_, 64, 4);  // header size
		put(bytes_, 64, 4);  // record size
		put(bytes_, 512, 4); // sector size
		put(bytes_, capacity, 8);
		put(bytes_, 1700000000ULL * 1000000000ULL, 8);
		bytes_.append(24, '\0');
	}

	LogBuilder &record(uint16_t type, uint16_t flags, uint64_t issued, uint64_t sector,
			   uint64_t length, int32_t status, const std::string &payload = "")
	{
		put(bytes_, 0x4452434c, 4); // "LCRD"
		put(bytes_, type, 2);
		put(bytes_, flags, 2);
		put(bytes_, index_++, 8);
		put(bytes_, issued, 8);
		put(bytes_, sector, 8);
		put(bytes_, length, 8);
		put(bytes_, static_cast<uint32_t>(status), 4);
		put(bytes_, 0, 4);
		put(bytes_, 1000 + index_, 8);
		put(bytes_, 0, 8);
		bytes_ += payload;
		return *this;
	}
	LogBuilder &write(uint64_t issued, uint64_t sector, char fill, size_t len = 512,
			  bool fua = false, int32_t status = 0)
	{
		return record(LKL_WLOG_WRITE, fua ? LKL_WLOG_FUA : 0, issued, sector, len, status,
			      std::string(len, fill));
	}
	LogBuilder &flush(uint64_t issued, int32_t status = 0)
	{
		return record(LKL_WLOG_FLUSH, 0, issued, 0, 0, status);
	}
	LogBuilder &mark(const std::string &name)
	{
		return record(LKL_WLOG_MARK, 0, index_, 0, name.size(), 0, name);
	}

	std::string save(const std::string &path, size_t cut = 0) const
	{
		std::ofstream(path, std::ios::binary) << bytes_.substr(0, bytes_.size() - cut);
		return path;
	}
	std::string &bytes() { return bytes_; }

private:
	std::string bytes_;
	uint64_t index_ = 0;
};

class Replay : public testing::Test {
protected:
	Replay() : dir_(capacity, "base.img") {}
	std::string path(const char *name) const
	{
		std::string base = dir_.path();
		return base.substr(0, base.rfind('/') + 1) + name;
	}
	lkl_test::Image dir_; // base.img (zeros) and the scratch directory
};

TEST_F(Replay, ReadsTheDocumentedFormat)
{
	LogBuilder b;
	b.write(0, 8, 'x', 1024, true).flush(1).record(LKL_WLOG_DISCARD, 0, 2, 16, 4096, 0)
		.record(LKL_WLOG_WRITE_ZEROES, 0, 2, 32, 512, 0).mark("fsync a").write(5, 0, 'y', 512,
										    false, -5);
	lkl_replay::Log log(b.save(path("a.wlog")));
	EXPECT_EQ(log.capacity(), capacity);
	EXPECT_FALSE(log.truncated());
	const auto &r = log.records();
	ASSERT_EQ(r.size(), 6u);
	EXPECT_EQ(r[0].type, LKL_WLOG_WRITE);
	EXPECT_TRUE(r[0].fua());
	EXPECT_EQ(r[0].sector, 8u);
	EXPECT_EQ(r[0].length, 1024u);
	EXPECT_EQ(r[0].completed_ns, 1001u);
	EXPECT_EQ(r[1].type, LKL_WLOG_FLUSH);
	EXPECT_EQ(r[1].issued, 1u);
	EXPECT_EQ(r[2].type, LKL_WLOG_DISCARD);
	EXPECT_EQ(r[3].type, LKL_WLOG_WRITE_ZEROES);
	EXPECT_EQ(r[4].mark, "fsync a");
	EXPECT_EQ(r[5].status, -5);
	EXPECT_EQ(log.find_mark("fsync a"), 4u);
	char c[2];
	log.read_payload(r[0], 1022, c, 2);
	EXPECT_EQ(std::string(c, 2), "xx");
	EXPECT_THROW(log.read_payload(r[0], 1023, c, 2), lkl_replay::Error);
	EXPECT_THROW(log.find_mark("nothing"), lkl_replay::Error);
}

TEST_F(Replay, DropsARecordCutShortAndRejectsWhatIsNotALog)
{
	LogBuilder b;
	b.write(0, 0, 'a').write(1, 8, 'b');
	lkl_replay::Log cut(b.save(path("cut.wlog"), 100));
	EXPECT_TRUE(cut.truncated());
	EXPECT_EQ(cut.records().size(), 1u);

	auto rejects = [&](std::string bytes, const char *why) {
		std::string p = path("bad.wlog");
		std::ofstream(p, std::ios::binary) << bytes;
		try {
			lkl_replay::Log log(p);
			ADD_FAILURE() << why << ": accepted";
		} catch (const lkl_replay::Error &e) {
			EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
				<< why << ": the message names no file: " << e.what();
		}
	};
	rejects("", "empty");
	rejects(LogBuilder().bytes().replace(0, 1, "X"), "bad magic");
	rejects(LogBuilder(2).bytes(), "version 2");
	{
		LogBuilder bad;
		bad.write(0, 0, 'a');
		bad.bytes()[64 + 8] = 7; // index 7 for the first record
		rejects(bad.bytes(), "index gap");
	}
	rejects(LogBuilder().record(9, 0, 0, 0, 0, 0).bytes(), "unknown type");
	rejects(LogBuilder().write(0, capacity / 512, 'a').bytes(), "beyond the disk");
	rejects(LogBuilder().flush(1).bytes(), "issued after completing");
	rejects(LogBuilder().record(LKL_WLOG_MARK, 0, 0, 0, 0, 0).bytes(), "empty mark");
	std::string nowhere = path("missing.wlog");
	EXPECT_THROW(lkl_replay::Log{nowhere}, lkl_replay::Error);
}

TEST_F(Replay, CrashStatesFollowTheModel)
{
	// 0 w (done before f1 was issued) 1 w (done after) 2 f1(issued 1)
	// 3 fua w 4 w (failed) 5 flush (failed) 6 w 7 mark 8 w (in flight at
	// the mark) 9 w (submitted after the mark)
	LogBuilder b;
	b.write(0, 0, 'a').write(0, 8, 'b').flush(1).write(3, 16, 'c', 512, true)
		.write(4, 24, 'd', 512, false, -5).flush(5, -5).write(6, 32, 'e').mark("m")
		.write(7, 40, 'f').write(8, 48, 'g');
	lkl_replay::Log log(b.save(path("m.wlog")));
	auto at = [&](uint64_t p, Unflushed u, uint64_t seed = 0) {
		return lkl_replay::crash_state(log, p, u, seed).applied;
	};
	using V = std::vector<uint64_t>;
	EXPECT_EQ(at(0, Unflushed::none), V{});
	EXPECT_EQ(at(0, Unflushed::all), (V{0, 1})) << "in flight at the start";
	EXPECT_EQ(at(3, Unflushed::none), V{0}) << "f1 covers record 0 only";
	EXPECT_EQ(at(3, Unflushed::all), (V{0, 1, 3}));
	EXPECT_EQ(at(4, Unflushed::none), (V{0, 3})) << "FUA: durable when done";
	EXPECT_EQ(at(7, Unflushed::none), (V{0, 3})) << "a failed flush covers nothing";
	EXPECT_EQ(at(7, Unflushed::all), (V{0, 1, 3, 4, 6, 8}))
		<< "a failed write may have landed; 8 was in flight at the mark";
	EXPECT_EQ(at(10, Unflushed::all), (V{0, 1, 3, 4, 6, 8, 9}));
	auto all = at(7, Unflushed::all), none = at(7, Unflushed::none);
	std::set<V> subsets;
	for (uint64_t seed = 1; seed <= 16; seed++) {
		auto r = at(7, Unflushed::random, seed);
		EXPECT_EQ(r, at(7, Unflushed::random, seed)) << "same seed, same subset";
		EXPECT_TRUE(std::includes(r.begin(), r.end(), none.begin(), none.end()));
		EXPECT_TRUE(std::includes(all.begin(), all.end(), r.begin(), r.end()));
		subsets.insert(r);
	}
	EXPECT_GT(subsets.size(), 4u) << "seeds choose different subsets";
	EXPECT_THROW(lkl_replay::crash_state(log, 11, Unflushed::none), lkl_replay::Error);

	auto points = lkl_replay::crash_points(log);
	ASSERT_EQ(points.size(), 3u) << "f1, the mark, the end (not the failed flush)";
	EXPECT_EQ(points[0].point, 3u);
	EXPECT_EQ(points[1].point, 7u);
	EXPECT_EQ(points[1].name, "m");
	EXPECT_EQ(points[2].point, 10u);
}

TEST_F(Replay, WritesTheImage)
{
	std::string base = dir_.path();
	{
		std::ofstream f(base, std::ios::binary);
		f << std::string(capacity, 'z');
	}
	LogBuilder b;
	b.write(0, 0, 'a', 1024).write(0, 1, 'b').record(LKL_WLOG_DISCARD, 0, 2, 4, 512, 0)
		.record(LKL_WLOG_WRITE_ZEROES, 0, 3, 6, 1024, 0).flush(4);
	lkl_replay::Log log(b.save(path("i.wlog")));
	auto state = lkl_replay::crash_state(log, 5, Unflushed::none);
	int in = open(base.c_str(), O_RDONLY), out = open(path("out.img").c_str(),
							 O_CREAT | O_RDWR | O_TRUNC, 0600);
	ASSERT_GE(in, 0);
	ASSERT_GE(out, 0);
	lkl_replay::write_image(log, state, in, out);
	close(in);
	close(out);
	std::ifstream f(path("out.img"), std::ios::binary);
	std::string got((std::istreambuf_iterator<char>(f)), {});
	std::string want = std::string(512, 'a') + std::string(512, 'b') +
			   std::string(1024, 'z') + std::string(512, '\0') + std::string(512, 'z') +
			   std::string(1024, '\0');
	want += std::string(capacity - want.size(), 'z');
	ASSERT_EQ(got.size(), want.size());
	EXPECT_TRUE(got == want) << "later writes win; discarded and zeroed ranges read 0";
}

// lkl-replay, the program.
std::string run_replay(const std::string &args, int *status)
{
	std::string out;
	*status = lkl_test::run(std::string(LKL_REPLAY_BIN) + " " + args, &out);
	return out;
}

TEST_F(Replay, ProgramListsAndWritesImages)
{
	std::string base = dir_.path();
	{
		std::ofstream f(base, std::ios::binary);
		f << std::string(capacity, 'z');
	}
	LogBuilder b;
	b.write(0, 0, 'a').flush(1).write(2, 8, 'b').mark("after b").write(4, 16, 'c');
	std::string log = b.save(path("p.wlog")), out = path("out.img");
	std::string before = dir_.sha256();
	int status;

	EXPECT_NE(run_replay("--help", &status).find("Usage:"), std::string::npos);
	EXPECT_EQ(status, 0);
	run_replay("", &status);
	EXPECT_EQ(status, 2);
	run_replay("--at nowhere " + log + " " + base + " " + out, &status);
	EXPECT_EQ(status, 2);
	run_replay("--unflushed some " + log, &status);
	EXPECT_EQ(status, 2);
	std::string listing = run_replay(log, &status);
	EXPECT_EQ(status, 0);
	EXPECT_NE(listing.find("3 mark \"after b\""), std::string::npos) << listing;
	std::string points = run_replay("--points " + log, &status);
	EXPECT_EQ(status, 0);
	EXPECT_EQ(points, "2 flush\n3 mark after b\n5 end\n");

	run_replay("--at 'mark:after b' " + log + " " + base + " " + out, &status);
	ASSERT_EQ(status, 0);
	std::ifstream f(out, std::ios::binary);
	std::string img((std::istreambuf_iterator<char>(f)), {});
	ASSERT_EQ(img.size(), capacity);
	EXPECT_EQ(img.substr(0, 512), std::string(512, 'a'));
	EXPECT_EQ(img.substr(4096, 512), std::string(512, 'z')) << "b was not flushed";

	std::string msg = run_replay("--at end --unflushed all " + log + " " + base + " " + out,
				     &status);
	EXPECT_EQ(status, 1) << "OUT exists";
	EXPECT_NE(msg.find("--force"), std::string::npos) << msg;
	run_replay("--force --unflushed all " + log + " " + base + " " + out, &status);
	EXPECT_EQ(status, 0);
	std::ifstream g(out, std::ios::binary);
	img.assign((std::istreambuf_iterator<char>(g)), {});
	EXPECT_EQ(img.substr(4096, 512), std::string(512, 'b'));
	EXPECT_EQ(img.substr(8192, 512), std::string(512, 'c'));

	msg = run_replay("--force " + log + " " + base + " " + base, &status);
	EXPECT_EQ(status, 1) << "OUT is BASE";
	msg = run_replay("--at mark:nope " + log + " " + base + " " + path("x.img"), &status);
	EXPECT_EQ(status, 1);
	EXPECT_NE(msg.find("no mark"), std::string::npos) << msg;
	EXPECT_NE(access(path("x.img").c_str(), F_OK), 0) << "a failed run left OUT behind";
	EXPECT_EQ(dir_.sha256(), before) << "BASE was written";
}

} // namespace
