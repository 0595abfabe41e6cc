// The write log reader and the crash model (see replay.hpp and
// Documentation/write-log.md).
#include "replay.hpp"

#include <lkl/write_log.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

namespace lkl_replay {
namespace {

template <class T> T get_le(const unsigned char *p)
{
	uint64_t v = 0;
	for (size_t i = 0; i < sizeof(T); i++)
		v |= static_cast<uint64_t>(p[i]) << (8 * i);
	return static_cast<T>(v);
}

std::string errno_text(int err)
{
	return std::strerror(err);
}

// Reads exactly @len bytes at @off; false at end of file.
bool pread_full(int fd, void *buf, size_t len, uint64_t off, const std::string &what)
{
	auto *p = static_cast<char *>(buf);
	while (len) {
		ssize_t n = pread(fd, p, len, static_cast<off_t>(off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw Error(what + ": " + errno_text(errno));
		if (n == 0)
			return false;
		p += n;
		off += static_cast<uint64_t>(n);
		len -= static_cast<size_t>(n);
	}
	return true;
}

void pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	auto *p = static_cast<const char *>(buf);
	while (len) {
		ssize_t n = pwrite(fd, p, len, static_cast<off_t>(off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			throw Error(std::string("writing the image: ") +
				    errno_text(n < 0 ? errno : EIO));
		p += n;
		off += static_cast<uint64_t>(n);
		len -= static_cast<size_t>(n);
	}
}

const char *type_name(uint16_t type)
{
	switch (type) {
	case LKL_WLOG_WRITE: return "write";
	case LKL_WLOG_FLUSH: return "flush";
	case LKL_WLOG_DISCARD: return "discard";
	case LKL_WLOG_WRITE_ZEROES: return "write-zeroes";
	case LKL_WLOG_MARK: return "mark";
	default: return "?";
	}
}

// Zeros @len bytes at @off: a hole where the file system can punch one.
void zero_range(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      static_cast<off_t>(off), static_cast<off_t>(len)) == 0)
		return;
	static const std::vector<char> zeros(1 << 20);
	while (len) {
		size_t n = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
		pwrite_full(fd, zeros.data(), n, off);
		off += n;
		len -= n;
	}
}

// Copies @len bytes at @off from @in to @out, in the kernel where it can.
void copy_range(int in, int out, uint64_t off, uint64_t len)
{
	loff_t in_off = static_cast<loff_t>(off), out_off = in_off;
	while (len) {
		ssize_t n = copy_file_range(in, &in_off, out, &out_off,
					    static_cast<size_t>(std::min<uint64_t>(len, 1 << 30)), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len -= static_cast<uint64_t>(n);
	}
	std::vector<char> buf(1 << 20);
	while (len) {
		size_t n = static_cast<size_t>(std::min<uint64_t>(len, buf.size()));
		if (!pread_full(in, buf.data(), n, static_cast<uint64_t>(in_off),
				"reading the base image"))
			std::memset(buf.data(), 0, n);
		pwrite_full(out, buf.data(), n, static_cast<uint64_t>(out_off));
		in_off += static_cast<loff_t>(n);
		out_off += static_cast<loff_t>(n);
		len -= n;
	}
}

// @out becomes a copy of @in's first @size bytes, holes kept.
void copy_sparse(int in, int out, uint64_t size)
{
	if (ftruncate(out, 0) || ftruncate(out, static_cast<off_t>(size)))
		throw Error(std::string("sizing the image: ") + errno_text(errno));
	uint64_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, static_cast<off_t>(pos), SEEK_DATA);
		if (data < 0) {
			if (errno == ENXIO)
				return; // only a hole is left
			// No SEEK_DATA here: copy everything.
			copy_range(in, out, pos, size - pos);
			return;
		}
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			hole = static_cast<off_t>(size);
		uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), size);
		if (static_cast<uint64_t>(data) >= end)
			return;
		copy_range(in, out, static_cast<uint64_t>(data), end - static_cast<uint64_t>(data));
		pos = end;
	}
}

} // namespace

bool Record::fua() const
{
	return flags & LKL_WLOG_FUA;
}

bool Record::changes_data() const
{
	return type == LKL_WLOG_WRITE || type == LKL_WLOG_DISCARD ||
	       type == LKL_WLOG_WRITE_ZEROES;
}

std::string Record::describe() const
{
	std::string s = std::to_string(index) + " " + type_name(type);
	if (type == LKL_WLOG_MARK)
		return s + " \"" + mark + "\"";
	if (changes_data())
		s += " sector " + std::to_string(sector) + " +" +
		     std::to_string(length);
	if (fua())
		s += " fua";
	s += " issued " + std::to_string(issued);
	if (status)
		s += " status " + std::to_string(status);
	return s;
}

Log::Log(const std::string &path) : path_(path)
{
	fd_.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd_.fd < 0)
		throw Error(path + ": " + errno_text(errno));
	auto fail = [&](const std::string &why) { throw Error(path + ": " + why); };

	unsigned char head[sizeof(lkl_wlog_header)];
	if (!pread_full(fd_.fd, head, sizeof(head), 0, path))
		fail("too short for a write log");
	if (std::memcmp(head, LKL_WLOG_MAGIC, 8) != 0)
		fail("not a write log (bad magic)");
	auto version = get_le<uint32_t>(head + 8);
	if (version != LKL_WLOG_VERSION)
		fail("write log version " + std::to_string(version) +
		     ", this reader knows " + std::to_string(LKL_WLOG_VERSION));
	auto header_size = get_le<uint32_t>(head + 12);
	auto record_size = get_le<uint32_t>(head + 16);
	auto sector_size = get_le<uint32_t>(head + 20);
	capacity_ = get_le<uint64_t>(head + 24);
	if (header_size < sizeof(lkl_wlog_header) ||
	    record_size != sizeof(lkl_wlog_record) ||
	    sector_size != LKL_WLOG_SECTOR_SIZE)
		fail("unexpected header, record or sector size");

	struct stat st;
	if (fstat(fd_.fd, &st))
		fail(errno_text(errno));
	auto file_size = static_cast<uint64_t>(st.st_size);
	uint64_t pos = header_size;
	while (pos < file_size) {
		unsigned char rec[sizeof(lkl_wlog_record)];
		if (file_size - pos < sizeof(rec)) {
			truncated_ = true;
			break;
		}
		pread_full(fd_.fd, rec, sizeof(rec), pos, path);
		Record r;
		std::string at = "record " + std::to_string(records_.size()) +
				 " (byte " + std::to_string(pos) + "): ";
		if (get_le<uint32_t>(rec) != LKL_WLOG_RECORD_MAGIC)
			fail(at + "bad record magic");
		r.type = get_le<uint16_t>(rec + 4);
		r.flags = get_le<uint16_t>(rec + 6);
		r.index = get_le<uint64_t>(rec + 8);
		r.issued = get_le<uint64_t>(rec + 16);
		r.sector = get_le<uint64_t>(rec + 24);
		r.length = get_le<uint64_t>(rec + 32);
		r.status = get_le<int32_t>(rec + 40);
		r.completed_ns = get_le<uint64_t>(rec + 48);
		r.payload = pos + sizeof(rec);
		if (r.index != records_.size())
			fail(at + "index " + std::to_string(r.index));
		if (r.issued > r.index)
			fail(at + "issued after it completed");
		if (r.type < LKL_WLOG_WRITE || r.type > LKL_WLOG_MARK)
			fail(at + "unknown type " + std::to_string(r.type));
		if (r.flags & ~LKL_WLOG_FUA)
			fail(at + "unknown flags");
		if (r.changes_data() &&
		    (r.sector > capacity_ / 512 || r.length > capacity_ - r.offset()))
			fail(at + "beyond the end of the disk");
		uint64_t payload = 0;
		if (r.type == LKL_WLOG_WRITE)
			payload = r.length;
		if (r.type == LKL_WLOG_MARK) {
			if (r.length == 0 || r.length > LKL_WLOG_MARK_MAX)
				fail(at + "bad mark length");
			payload = r.length;
		}
		if (file_size - r.payload < payload) {
			truncated_ = true;
			break;
		}
		if (r.type == LKL_WLOG_MARK) {
			r.mark.resize(r.length);
			pread_full(fd_.fd, r.mark.data(), r.length, r.payload, path);
		}
		records_.push_back(std::move(r));
		pos = records_.back().payload + payload;
	}
}

Log::Fd::~Fd()
{
	if (fd >= 0)
		close(fd);
}

uint64_t Log::find_mark(const std::string &name) const
{
	const Record *found = nullptr;
	for (const Record &r : records_) {
		if (r.type != LKL_WLOG_MARK || r.mark != name)
			continue;
		if (found)
			throw Error(path_ + ": more than one mark \"" + name + "\" (records " +
				    std::to_string(found->index) + " and " +
				    std::to_string(r.index) + ")");
		found = &r;
	}
	if (!found)
		throw Error(path_ + ": no mark \"" + name + "\"");
	return found->index;
}

void Log::read_payload(const Record &r, uint64_t off, void *buf, size_t len) const
{
	if (off > r.length || len > r.length - off)
		throw Error(path_ + ": read beyond record " + std::to_string(r.index));
	if (!pread_full(fd_.fd, buf, len, r.payload + off, path_))
		throw Error(path_ + ": ends inside record " + std::to_string(r.index));
}

CrashState crash_state(const Log &log, uint64_t point, Unflushed unflushed,
		       uint64_t seed)
{
	const auto &records = log.records();
	if (point > records.size())
		throw Error(log.path() + ": point " + std::to_string(point) +
			    " is beyond the log's " + std::to_string(records.size()) +
			    " records");
	// Records below this index completed before a flush that completed
	// before the cut had been submitted: they are durable.
	uint64_t covered = 0;
	for (uint64_t i = 0; i < point; i++)
		if (records[i].type == LKL_WLOG_FLUSH && records[i].ok())
			covered = std::max(covered, records[i].issued);

	// Independent of the standard library's distributions, so a seed
	// means the same state everywhere.
	std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL ^ point);
	CrashState state;
	state.point = point;
	for (const Record &r : records) {
		if (!r.changes_data())
			continue;
		// Submitted after the cut: cannot be on the disk.
		if (r.index >= point && r.issued > point)
			continue;
		bool durable = r.ok() && r.index < point && (r.index < covered || r.fua());
		bool keep = durable;
		if (!durable) {
			state.optional++;
			keep = unflushed == Unflushed::all ||
			       (unflushed == Unflushed::random && (rng() >> 63));
		} else {
			state.durable++;
		}
		if (keep)
			state.applied.push_back(r.index);
	}
	return state;
}

std::vector<CrashPoint> crash_points(const Log &log)
{
	std::vector<CrashPoint> points;
	for (const Record &r : log.records()) {
		if (r.type == LKL_WLOG_FLUSH && r.ok())
			points.push_back({CrashPoint::flush, r.index + 1, {}});
		else if (r.type == LKL_WLOG_MARK)
			points.push_back({CrashPoint::mark, r.index, r.mark});
	}
	points.push_back({CrashPoint::end, log.records().size(), {}});
	return points;
}

void write_image(const Log &log, const CrashState &state, int base_fd, int out_fd)
{
	struct stat st;
	if (fstat(base_fd, &st))
		throw Error(std::string("base image: ") + errno_text(errno));
	if (static_cast<uint64_t>(st.st_size) < log.capacity())
		throw Error("the base image (" + std::to_string(st.st_size) +
			    " bytes) is smaller than the disk of " + log.path() + " (" +
			    std::to_string(log.capacity()) + " bytes)");
	copy_sparse(base_fd, out_fd, log.capacity());

	std::vector<char> buf;
	for (uint64_t i : state.applied) {
		const Record &r = log.records().at(i);
		if (r.type != LKL_WLOG_WRITE) {
			zero_range(out_fd, r.offset(), r.length);
			continue;
		}
		buf.resize(static_cast<size_t>(std::min<uint64_t>(r.length, 4 << 20)));
		for (uint64_t done = 0; done < r.length;) {
			size_t n = static_cast<size_t>(std::min<uint64_t>(r.length - done, buf.size()));
			log.read_payload(r, done, buf.data(), n);
			pwrite_full(out_fd, buf.data(), n, r.offset() + done);
			done += n;
		}
	}
}

} // namespace lkl_replay
