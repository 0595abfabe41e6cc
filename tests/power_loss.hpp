// Power-loss testing: a workload runs on a disk with a write log, keeping a
// model of what each completed fsync (fdatasync, O_SYNC write, directory
// fsync, sync) promised and marking the log after every operation; then
// every crash point of the log is replayed (lkl_replay), mounted with lkl
// (log recovery runs), checked against the promises in force at that point
// and checked by the file system's own checker.
//
// The promises are those XFS and ext4 keep, as fstests' log-writes tests
// and CrashMonkey (Mohan et al., OSDI 2018) check them:
//  - fsync(f): f's data, size, mode and mtime, and each name f has;
//  - fdatasync(f): f's data and size, wherever f is found;
//  - a write to a file opened O_SYNC: those bytes, the size up to their
//    end, and the names (O_DSYNC: the bytes and the size up to their end);
//  - fsync(dir): the names in dir, and the absence of the names removed;
//  - sync(): everything.
// Names change atomically (a renamed file is at its old or its new name,
// a file with a durable name is somewhere until its last link goes): both
// file systems journal metadata in order. A file is known by its inode
// number; bytes changed after the last promise are not checked.
#pragma once

#include <lkl/kernel.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace power_loss {

// Byte ranges [begin, end), kept merged.
class Ranges {
public:
	void add(uint64_t begin, uint64_t end);
	void remove(uint64_t begin, uint64_t end);
	void clear() { r_.clear(); }
	bool empty() const { return r_.empty(); }
	// The parts of [begin, end) that no range covers.
	std::vector<std::pair<uint64_t, uint64_t>> gaps(uint64_t begin, uint64_t end) const;

private:
	std::map<uint64_t, uint64_t> r_; // begin -> end
};

struct Timestamp {
	int64_t sec = 0;
	int64_t nsec = 0;
	bool operator==(const Timestamp &) const = default;
};

// What must hold about one file after a power cut.
struct FileExpect {
	std::string name;		// for messages
	uint64_t ino = 0;
	std::set<std::string> paths;	// where it may be, relative to the mount
	bool must_exist = false;	// at one of paths at least
	// Its content at the last promise: wherever it is found, the bytes
	// outside `changed` read back as these, and the file is no shorter.
	std::shared_ptr<const std::string> durable;
	Ranges changed;
	bool size_exact = false;	// nothing changed: the size is durable's
	std::optional<unsigned> mode;	// permission bits
	std::optional<Timestamp> mtime;
};
using Expectations = std::vector<FileExpect>;

// The files of a workload and what the file system has promised about
// each. Operations change the current state; they promise nothing until a
// sync operation says so.
class Model {
public:
	using Id = size_t;

	Id create(const std::string &path, unsigned mode);
	void set_ino(Id id, uint64_t ino);
	void write(Id id, uint64_t off, const std::string &data);
	void truncate(Id id, uint64_t size);
	// Zeros [off, off + len) (punch, zero range); !keep_size may extend.
	void zero(Id id, uint64_t off, uint64_t len, bool keep_size);
	void extend(Id id, uint64_t size); // fallocate without KEEP_SIZE
	// The content stays, the mtime changes (fallocate(2) of any mode).
	void touch(Id id);
	// The content from @off on becomes @tail (collapse, insert range).
	void rewrite_from(Id id, uint64_t off, const std::string &tail);
	void chmod(Id id, unsigned mode);
	void link(Id id, const std::string &path);
	void unlink(const std::string &path);
	void rename(const std::string &from, const std::string &to);

	void fsync(Id id, Timestamp mtime);
	void fdatasync(Id id);
	// After a write of [off, off + len) to a file opened O_SYNC
	// (names = true) or O_DSYNC.
	void sync_range(Id id, uint64_t off, uint64_t len, bool names);
	void fsync_dir(const std::string &dir);
	// sync(): @mtime gives each file's current mtime.
	template <class MtimeOf> void sync(MtimeOf mtime)
	{
		for (Id id = 0; id < files_.size(); id++)
			if (!files_[id].names.empty())
				fsync(id, mtime(id));
			else
				forget(id);
	}

	Expectations expectations() const;
	std::optional<Id> at(const std::string &path) const;
	// Every name of every file, sorted.
	std::vector<std::string> names() const;
	const std::string &data(Id id) const { return files_[id].data; }
	const std::string &any_name(Id id) const { return *files_[id].names.begin(); }
	bool alive(Id id) const { return !files_[id].names.empty(); }
	size_t size() const { return files_.size(); }

private:
	struct File {
		uint64_t ino = 0;
		std::set<std::string> names, durable_names, ghosts;
		bool durable_exists = false;
		std::string data;
		std::shared_ptr<const std::string> durable =
			std::make_shared<const std::string>();
		Ranges changed;
		unsigned mode = 0;
		std::optional<unsigned> durable_mode;
		std::optional<Timestamp> durable_mtime;
	};
	void drop_name(File &f, const std::string &path);
	void forget(Id id);

	std::vector<File> files_;
};

// A workload's failure to do what it meant (not a crash-consistency one).
class OpError : public std::runtime_error {
public:
	using std::runtime_error::runtime_error;
};

// Runs operations in the mounted file system, keeps the model, and marks
// the log after each: mark k names the point where operation k's promises
// hold. Operations throw OpError when lkl refuses one.
class Workload {
public:
	Workload(const lkl::Disk &disk, std::string root);

	void create(const std::string &path, unsigned mode = 0644);
	void mkdir(const std::string &path);
	// Writes @len bytes made from @seed at @off; with @sync_flags
	// (LKL_O_SYNC or LKL_O_DSYNC) the file is opened with them.
	void write(const std::string &path, uint64_t off, uint64_t len,
		   uint64_t seed, int sync_flags = 0);
	void truncate(const std::string &path, uint64_t size);
	// fallocate(2) with @mode (LKL_FALLOC_FL_*).
	void fallocate(const std::string &path, int mode, uint64_t off, uint64_t len);
	void chmod(const std::string &path, unsigned mode);
	void link(const std::string &from, const std::string &to);
	void unlink(const std::string &path);
	void rename(const std::string &from, const std::string &to);
	void fsync(const std::string &path);
	void fdatasync(const std::string &path);
	void fsync_dir(const std::string &path);
	void sync();

	const Model &model() const { return model_; }
	bool exists(const std::string &path) const { return model_.at(path).has_value(); }

	// Per operation k: its mark's name, the promises in force while it
	// ran (before it, too) and those in force once it returned.
	struct Step {
		std::string mark;
		std::shared_ptr<const Expectations> during, after;
	};
	const std::vector<Step> &steps() const { return steps_; }

private:
	template <class Pre, class Run, class Post>
	void op(const std::string &what, Pre pre, Run run, Post post);
	std::string abs(const std::string &path) const { return root_ + "/" + path; }
	uint64_t ino_of(const std::string &path) const;
	Timestamp mtime_of(const std::string &path) const;
	Model::Id id_of(const std::string &path) const;

	const lkl::Disk &disk_;
	std::string root_;
	Model model_;
	std::vector<Step> steps_;
};

// The bytes Workload::write writes.
std::string pattern(uint64_t seed, uint64_t off, uint64_t len);

struct FsSpec {
	const char *type;	// "xfs", "ext4"
	std::string mkfs;	// the command, the image path appended
	std::string fsck;	// read-only check, the image path appended
	unsigned long long size;
};
FsSpec xfs_spec();
FsSpec ext4_spec();

struct Summary {
	size_t points = 0;	// crash points of the log
	size_t states = 0;	// (point, unflushed variant) pairs
	size_t checked = 0;	// distinct images mounted and checked
	size_t failed = 0;
	std::vector<std::string> failures; // the first few, in words
};

// Checks every crash point of @log_path (the log of @w's disk, added on
// @base) with Unflushed::none, ::all and @random_variants seeded subsets;
// stops early once @enough images have failed (0: never).
Summary check_crash_points(const FsSpec &fs, const std::string &base,
			   const std::string &log_path, const Workload &w,
			   unsigned random_variants, size_t enough = 0);

} // namespace power_loss
