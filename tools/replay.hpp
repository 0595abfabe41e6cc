// Reading a disk's write log (<lkl/write_log.h>) and rebuilding the disk as
// a power cut at any point of it would leave it: the library under
// lkl-replay and the power-loss tests. The crash model is described in
// Documentation/write-log.md; in short, after a cut at point P (the first
// P records had completed):
//  - a write, discard or write-zeroes is *durable* if it completed before
//    P and either was FUA or completed before some flush that completed
//    before P was submitted (a flush covers exactly what had completed
//    when it was issued);
//  - every other such request submitted before the cut *may* be on the
//    disk (a drive may persist any of its cached or in-flight writes);
//  - the image is the base image with the durable requests and a chosen
//    subset of the others applied in log order.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace lkl_replay {

// A log that cannot be read or is not a valid log; what() names the file.
class Error : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

struct Record {
	uint16_t type = 0;	// LKL_WLOG_WRITE, ...
	uint16_t flags = 0;	// LKL_WLOG_FUA
	uint64_t index = 0;
	uint64_t issued = 0;
	uint64_t sector = 0;
	uint64_t length = 0;
	int32_t status = 0;
	uint64_t completed_ns = 0;
	uint64_t payload = 0;	// the payload's offset in the log file
	std::string mark;	// a MARK's name

	bool ok() const { return status == 0; }
	bool fua() const;
	// WRITE, DISCARD or WRITE_ZEROES: changes what the disk holds.
	bool changes_data() const;
	uint64_t offset() const { return sector * 512; }
	// One line: index, type, range, flags, status.
	std::string describe() const;
};

class Log {
public:
	// Reads and checks the log at @path. A record cut short at the end
	// (the writer died while appending it) is dropped and truncated()
	// says so. Throws Error.
	explicit Log(const std::string &path);
	Log(const Log &) = delete;
	Log &operator=(const Log &) = delete;

	const std::string &path() const { return path_; }
	uint64_t capacity() const { return capacity_; }
	const std::vector<Record> &records() const { return records_; }
	bool truncated() const { return truncated_; }
	// The index of the mark named @name; throws Error if there is none
	// or more than one.
	uint64_t find_mark(const std::string &name) const;
	// Reads @len bytes of @r's payload from byte @off of it. Throws Error.
	void read_payload(const Record &r, uint64_t off, void *buf, size_t len) const;

private:
	struct Fd {
		int fd = -1;
		Fd() = default;
		Fd(const Fd &) = delete;
		Fd &operator=(const Fd &) = delete;
		~Fd();
	};
	std::string path_;
	Fd fd_;
	uint64_t capacity_ = 0;
	bool truncated_ = false;
	std::vector<Record> records_;
};

// What happens to requests that were not yet durable at the cut.
enum class Unflushed { none, all, random };

// The disk after a power cut at @point (0 <= point <= records().size()):
// the indexes of the records it holds, ascending.
struct CrashState {
	uint64_t point = 0;
	std::vector<uint64_t> applied;
	size_t durable = 0;	// how many of them had to be there
	size_t optional = 0;	// how many could have been there
};

// With Unflushed::random each optional request is kept or not from @seed
// and @point alone (the same on every run and host). Throws Error for a
// point beyond the log.
CrashState crash_state(const Log &log, uint64_t point, Unflushed unflushed,
		       uint64_t seed = 0);

// Where a power cut is worth checking: just after each flush completed
// (point = its index + 1), as each mark was placed (point = its index:
// what completed before it is there or not, what was submitted before it
// may be in flight, nothing submitted after it is), and at the end.
struct CrashPoint {
	enum Kind { flush, mark, end } kind;
	uint64_t point;
	std::string name; // for a mark: its name
};
std::vector<CrashPoint> crash_points(const Log &log);

// Writes the image of @state to @out_fd: @base_fd's content (a disk of
// log.capacity() bytes, as it was when the log began) with the applied
// records on top. Discarded ranges read as zeros. Throws Error.
void write_image(const Log &log, const CrashState &state, int base_fd,
		 int out_fd);

} // namespace lkl_replay
