// Checking every crash point of a write log (power_loss.hpp): replay,
// mount with lkl, compare with the promises, unmount, run the checker.
// The checker of one image runs in a child process while lkl mounts the
// next one.
#include "image_util.hpp"
#include "power_loss.hpp"
#include "test_util.hpp"

#include "replay.hpp"

#include <lkl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace power_loss {

FsSpec xfs_spec()
{
	// Below 300 MiB mkfs.xfs wants to know it is in a test harness, as
	// fstests tells it; a small image keeps every replay cheap.
	// xfs_repair: no prefetch and a small cache (it checks the same)
	// halve its time on such an image.
	return {"xfs", "TEST_DIR=/tmp TEST_DEV=lkl QA_CHECK_FS=1 mkfs.xfs -q -f",
		"xfs_repair -n -P -m 128", 64ULL << 20};
}

FsSpec ext4_spec()
{
	return {"ext4", "mkfs.ext4 -q -F", "e2fsck -fn", 64ULL << 20};
}

namespace {

const char *variant_name(lkl_replay::Unflushed u)
{
	return u == lkl_replay::Unflushed::none ? "none"
	       : u == lkl_replay::Unflushed::all ? "all" : "random";
}

uint64_t hash_state(const std::vector<uint64_t> &applied)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (uint64_t i : applied) {
		h ^= i + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
		h *= 0x100000001b3ULL;
	}
	return h;
}

std::string to_string(const Timestamp &t)
{
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%lld.%09lld", static_cast<long long>(t.sec),
		      static_cast<long long>(t.nsec));
	return buf;
}

// Problems with @e in the file system mounted at @mnt ("" if none).
std::string verify(const FileExpect &e, const std::string &mnt)
{
	struct lkl_stat st {};
	std::string where;
	for (const auto &p : e.paths) {
		if (lkl_sys_newfstatat(LKL_AT_FDCWD, (mnt + "/" + p).c_str(), &st,
				       LKL_AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_ino == e.ino) {
			where = p;
			break;
		}
	}
	std::string names;
	for (const auto &p : e.paths)
		names += (names.empty() ? "" : ", ") + p;
	if (where.empty())
		return e.must_exist ? "lost: inode " + std::to_string(e.ino) +
					      " is at none of " + names
				    : "";
	std::string at = where + " (inode " + std::to_string(e.ino) + ")";
	if (!LKL_S_ISREG(st.st_mode))
		return at + " is not a regular file";
	const std::string &want = *e.durable;
	auto size = static_cast<uint64_t>(st.st_size);
	if (e.size_exact && size != want.size())
		return at + " has " + std::to_string(size) + " bytes, fsynced " +
		       std::to_string(want.size());
	if (e.mode && (st.st_mode & 07777) != *e.mode)
		return at + " has mode " + std::to_string(st.st_mode & 07777) +
		       ", fsynced " + std::to_string(*e.mode);
	Timestamp mtime{static_cast<int64_t>(st.lkl_st_mtime),
			static_cast<int64_t>(st.st_mtime_nsec)};
	if (e.mtime && mtime != *e.mtime)
		return at + " has mtime " + to_string(mtime) + ", fsynced " +
		       to_string(*e.mtime);

	std::string got(std::min<uint64_t>(size, want.size()), '\0');
	int fd = static_cast<int>(lkl_sys_openat(LKL_AT_FDCWD, (mnt + "/" + where).c_str(),
						 LKL_O_RDONLY, 0));
	if (fd < 0)
		return at + ": open: " + lkl_strerror(fd);
	long n = lkl_test::read_all(fd, got.data(), got.size());
	lkl_sys_close(static_cast<unsigned>(fd));
	if (n != static_cast<long>(got.size()))
		return at + ": read: " + (n < 0 ? lkl_strerror(static_cast<int>(n)) : "short");
	for (auto [b, end] : e.changed.gaps(0, want.size())) {
		if (size < end)
			return at + " ends at " + std::to_string(size) + ", fsynced bytes up to " +
			       std::to_string(end);
		auto diff = std::mismatch(want.begin() + static_cast<long>(b),
					  want.begin() + static_cast<long>(end),
					  got.begin() + static_cast<long>(b));
		if (diff.first != want.begin() + static_cast<long>(end))
			return at + ": fsynced byte " +
			       std::to_string(diff.first - want.begin()) + " differs";
	}
	return "";
}

class Checker {
public:
	Checker(const FsSpec &fs, const std::string &base, const lkl_replay::Log &log,
		Summary &sum)
		: fs_(fs), base_(base), log_(log), sum_(sum)
	{
		base_fd_ = open(base.c_str(), O_RDONLY | O_CLOEXEC);
		if (base_fd_ < 0)
			throw OpError(base + ": " + std::strerror(errno));
		for (int i = 0; i < 2; i++) {
			slots_[i].image = log.path() + ".crash" + std::to_string(i);
			slots_[i].output = slots_[i].image + ".fsck";
		}
		if (const char *k = getenv("LKL_POWER_LOSS_KEEP"))
			keep_ = k;
	}

	~Checker()
	{
		for (auto &s : slots_) {
			finish(s);
			unlink(s.image.c_str());
			unlink(s.output.c_str());
		}
		close(base_fd_);
	}

	Checker(const Checker &) = delete;
	Checker &operator=(const Checker &) = delete;

	void check(const lkl_replay::CrashState &state, const Expectations &expect,
		   const std::string &what)
	{
		Slot &slot = slots_[next_];
		next_ ^= 1;
		finish(slot);
		sum_.checked++;

		int out = open(slot.image.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (out < 0)
			throw OpError(slot.image + ": " + std::strerror(errno));
		try {
			lkl_replay::write_image(log_, state, base_fd_, out);
		} catch (...) {
			close(out);
			throw;
		}
		close(out);

		struct lkl_disk disk = {};
		disk.fd = open(slot.image.c_str(), O_RDWR | O_CLOEXEC);
		int id = lkl_disk_add(&disk);
		if (id < 0) {
			close(disk.fd);
			throw OpError(std::string("lkl_disk_add: ") + lkl_strerror(id));
		}
		char mnt[64];
		size_t log_before = lkl_test::kernel_log().size();
		long err = lkl_mount_dev(static_cast<unsigned>(id), 0, fs_.type, 0, nullptr,
					 mnt, sizeof(mnt));
		std::string problems;
		if (err) {
			problems = std::string("mount: ") + lkl_strerror(static_cast<int>(err)) +
				   "; the kernel said: " + lkl_test::kernel_log().substr(log_before);
		} else {
			for (const FileExpect &e : expect) {
				std::string p = verify(e, mnt);
				if (!p.empty())
					problems += (problems.empty() ? "" : "; ") + p;
			}
			err = lkl_umount_dev(static_cast<unsigned>(id), 0, 0, 10000);
			if (err)
				problems += std::string("; umount: ") +
					    lkl_strerror(static_cast<int>(err));
		}
		lkl_disk_remove(disk);
		close(disk.fd);
		if (!problems.empty()) {
			fail(slot, what, problems);
			return;
		}
		spawn_fsck(slot, what);
	}

	void finish_all()
	{
		for (auto &s : slots_)
			finish(s);
	}

private:
	struct Slot {
		std::string image, output, what;
		pid_t fsck = -1;
	};

	void spawn_fsck(Slot &slot, const std::string &what)
	{
		std::string cmd = fs_.fsck + " " + lkl_test::quote(slot.image) + " >" +
				  lkl_test::quote(slot.output) + " 2>&1";
		const char *argv[] = {"sh", "-c", cmd.c_str(), nullptr};
		int err = posix_spawn(&slot.fsck, "/bin/sh", nullptr, nullptr,
				      const_cast<char **>(argv), environ);
		if (err)
			throw OpError(std::string("posix_spawn: ") + std::strerror(err));
		slot.what = what;
	}

	void finish(Slot &slot)
	{
		if (slot.fsck < 0)
			return;
		int status = 0;
		while (waitpid(slot.fsck, &status, 0) < 0 && errno == EINTR) {
		}
		slot.fsck = -1;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return;
		std::ifstream in(slot.output);
		std::stringstream out;
		out << in.rdbuf();
		fail(slot, slot.what, fs_.fsck + " found the image damaged:\n" + out.str());
	}

	void fail(const Slot &slot, const std::string &what, const std::string &problems)
	{
		sum_.failed++;
		std::string msg = what + ": " + problems;
		if (!keep_.empty()) {
			std::string name = keep_ + "/" + fs_.type + "-failure-" +
					   std::to_string(sum_.failed);
			keep_copy(slot.image, name + ".img");
			keep_copy(log_.path(), name + ".wlog");
			keep_copy(base_, name + ".base");
			msg += "\n  kept as " + name + ".{img,wlog,base}";
		}
		if (sum_.failures.size() < 10)
			sum_.failures.push_back(msg);
	}

	static void keep_copy(const std::string &from, const std::string &to)
	{
		std::string cmd = "cp --sparse=always " + lkl_test::quote(from) + " " +
				  lkl_test::quote(to);
		if (std::system(cmd.c_str()) != 0)
			std::fprintf(stderr, "power loss: could not keep %s\n", from.c_str());
	}

	const FsSpec &fs_;
	std::string base_;
	const lkl_replay::Log &log_;
	Summary &sum_;
	int base_fd_ = -1;
	Slot slots_[2];
	int next_ = 0;
	std::string keep_;
};

} // namespace

Summary check_crash_points(const FsSpec &fs, const std::string &base,
			   const std::string &log_path, const Workload &w,
			   unsigned random_variants, size_t enough)
{
	Summary sum;
	lkl_replay::Log log(log_path);
	if (log.truncated())
		throw OpError(log_path + ": the log is cut short");

	// Mark k was placed when operation k returned.
	const auto &steps = w.steps();
	std::vector<uint64_t> marks;
	for (const auto &s : steps)
		marks.push_back(log.find_mark(s.mark));
	static const Expectations nothing;
	auto expectations_at = [&](uint64_t point) -> const Expectations & {
		auto it = std::lower_bound(marks.begin(), marks.end(), point);
		if (it == marks.end())
			return steps.empty() ? nothing : *steps.back().after;
		const auto &step = steps[static_cast<size_t>(it - marks.begin())];
		return *it == point ? *step.after : *step.during;
	};

	std::vector<std::pair<lkl_replay::Unflushed, uint64_t>> variants = {
		{lkl_replay::Unflushed::none, 0}, {lkl_replay::Unflushed::all, 0}};
	for (unsigned s = 1; s <= random_variants; s++)
		variants.emplace_back(lkl_replay::Unflushed::random, s);

	Checker checker(fs, base, log, sum);
	std::set<std::pair<uint64_t, const void *>> seen;
	for (const auto &p : lkl_replay::crash_points(log)) {
		if (enough && sum.failed >= enough)
			break;
		sum.points++;
		const Expectations &expect = expectations_at(p.point);
		for (auto [unflushed, seed] : variants) {
			sum.states++;
			auto state = lkl_replay::crash_state(log, p.point, unflushed, seed);
			if (!seen.emplace(hash_state(state.applied), &expect).second)
				continue;
			std::string what = "crash point " + std::to_string(p.point) + " (" +
				(p.kind == lkl_replay::CrashPoint::flush ? "after a flush"
				 : p.kind == lkl_replay::CrashPoint::mark ? "at mark \"" + p.name + "\""
				 : std::string("end of log")) +
				"), unflushed " + variant_name(unflushed);
			std::string replay = "lkl-replay --at " + std::to_string(p.point) +
					     " --unflushed " + variant_name(unflushed);
			if (unflushed == lkl_replay::Unflushed::random) {
				what += " seed " + std::to_string(seed);
				replay += " --seed " + std::to_string(seed);
			}
			what += " [" + replay + " LOG BASE OUT]";
			checker.check(state, expect, what);
		}
	}
	checker.finish_all();
	return sum;
}

} // namespace power_loss
