// Running a workload in lkl while keeping its model (power_loss.hpp).
#include "power_loss.hpp"

#include <lkl.h>

#include <cstring>

namespace power_loss {

namespace {

std::string why(const std::string &what, long err)
{
	return what + ": " + lkl_strerror(static_cast<int>(err));
}

long check(long ret, const std::string &what)
{
	if (ret < 0)
		throw OpError(why(what, ret));
	return ret;
}

// An lkl descriptor closed on every path out.
struct Fd {
	int fd;
	Fd(const std::string &path, int flags, unsigned mode = 0)
		: fd(static_cast<int>(check(lkl_sys_openat(LKL_AT_FDCWD, path.c_str(), flags,
							    mode),
					    "open " + path)))
	{
	}
	~Fd() { lkl_sys_close(static_cast<unsigned>(fd)); }
	Fd(const Fd &) = delete;
	Fd &operator=(const Fd &) = delete;
};

uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

} // namespace

std::string pattern(uint64_t seed, uint64_t off, uint64_t len)
{
	std::string s(len, '\0');
	for (uint64_t i = 0; i < len; i++) {
		uint64_t pos = off + i;
		s[i] = static_cast<char>(splitmix(seed * 1000003 + pos / 8) >> (8 * (pos % 8)));
	}
	return s;
}

Workload::Workload(const lkl::Disk &disk, std::string root)
	: disk_(disk), root_(std::move(root))
{
}

template <class Pre, class Run, class Post>
void Workload::op(const std::string &what, Pre pre, Run run, Post post)
{
	pre();
	auto during = std::make_shared<const Expectations>(model_.expectations());
	run();
	post();
	auto after = std::make_shared<const Expectations>(model_.expectations());
	std::string mark = std::to_string(steps_.size()) + " " + what;
	mark.resize(std::min<size_t>(mark.size(), 255));
	if (auto ec = disk_.mark(mark.c_str()))
		throw OpError("mark \"" + mark + "\": " + ec.message());
	steps_.push_back({mark, std::move(during), std::move(after)});
}

uint64_t Workload::ino_of(const std::string &path) const
{
	struct lkl_stat st;
	check(lkl_sys_newfstatat(LKL_AT_FDCWD, abs(path).c_str(), &st,
				 LKL_AT_SYMLINK_NOFOLLOW),
	      "stat " + path);
	return st.st_ino;
}

Timestamp Workload::mtime_of(const std::string &path) const
{
	struct lkl_stat st;
	check(lkl_sys_newfstatat(LKL_AT_FDCWD, abs(path).c_str(), &st,
				 LKL_AT_SYMLINK_NOFOLLOW),
	      "stat " + path);
	return {static_cast<int64_t>(st.lkl_st_mtime), static_cast<int64_t>(st.st_mtime_nsec)};
}

Model::Id Workload::id_of(const std::string &path) const
{
	auto id = model_.at(path);
	if (!id)
		throw OpError("the workload names " + path + ", which it never made");
	return *id;
}

void Workload::create(const std::string &path, unsigned mode)
{
	Model::Id id = 0;
	op("create " + path,
	   [&] { id = model_.create(path, mode); },
	   [&] { Fd f(abs(path), LKL_O_CREAT | LKL_O_EXCL | LKL_O_WRONLY, mode); },
	   [&] { model_.set_ino(id, ino_of(path)); });
}

void Workload::mkdir(const std::string &path)
{
	op("mkdir " + path, [] {},
	   [&] { check(lkl_sys_mkdirat(LKL_AT_FDCWD, abs(path).c_str(), 0755), "mkdir " + path); },
	   [] {});
}

void Workload::write(const std::string &path, uint64_t off, uint64_t len, uint64_t seed,
		     int sync_flags)
{
	Model::Id id = id_of(path);
	std::string data = pattern(seed, off, len);
	std::string what = "write " + path + " " + std::to_string(off) + "+" + std::to_string(len);
	if (sync_flags == LKL_O_SYNC)
		what += " O_SYNC";
	else if (sync_flags)
		what += " O_DSYNC";
	op(what, [&] { model_.write(id, off, data); },
	   [&] {
		   Fd f(abs(path), LKL_O_WRONLY | sync_flags);
		   uint64_t done = 0;
		   while (done < len) {
			   long n = check(lkl_sys_pwrite64(static_cast<unsigned>(f.fd),
							   data.data() + done, len - done,
							   static_cast<lkl_loff_t>(off + done)),
					  what);
			   done += static_cast<uint64_t>(n);
		   }
	   },
	   [&] {
		   if (sync_flags)
			   model_.sync_range(id, off, len, sync_flags == LKL_O_SYNC);
	   });
}

void Workload::truncate(const std::string &path, uint64_t size)
{
	Model::Id id = id_of(path);
	std::string what = "truncate " + path + " " + std::to_string(size);
	op(what, [&] { model_.truncate(id, size); },
	   [&] { check(lkl_sys_truncate(abs(path).c_str(), static_cast<long>(size)), what); },
	   [] {});
}

void Workload::fallocate(const std::string &path, int mode, uint64_t off, uint64_t len)
{
	Model::Id id = id_of(path);
	std::string what = "fallocate " + path + " mode " + std::to_string(mode) + " " +
			   std::to_string(off) + "+" + std::to_string(len);
	bool keep = mode & LKL_FALLOC_FL_KEEP_SIZE;
	op(what,
	   [&] {
		   model_.touch(id);
		   if (mode & (LKL_FALLOC_FL_PUNCH_HOLE | LKL_FALLOC_FL_ZERO_RANGE))
			   model_.zero(id, off, len, keep);
		   else if (mode & LKL_FALLOC_FL_COLLAPSE_RANGE)
			   model_.rewrite_from(id, off, model_.data(id).substr(off + len));
		   else if (mode & LKL_FALLOC_FL_INSERT_RANGE)
			   model_.rewrite_from(id, off, std::string(len, '\0') +
							model_.data(id).substr(off));
		   else if (!keep)
			   model_.extend(id, off + len);
	   },
	   [&] {
		   Fd f(abs(path), LKL_O_WRONLY);
		   check(lkl_sys_fallocate(f.fd, mode, static_cast<lkl_loff_t>(off),
					   static_cast<lkl_loff_t>(len)),
			 what);
	   },
	   [] {});
}

void Workload::chmod(const std::string &path, unsigned mode)
{
	Model::Id id = id_of(path);
	std::string what = "chmod " + path;
	op(what, [&] { model_.chmod(id, mode); },
	   [&] {
		   check(lkl_sys_fchmodat(LKL_AT_FDCWD, abs(path).c_str(),
					  static_cast<lkl_umode_t>(mode)),
			 what);
	   },
	   [] {});
}

void Workload::link(const std::string &from, const std::string &to)
{
	Model::Id id = id_of(from);
	std::string what = "link " + from + " " + to;
	op(what, [&] { model_.link(id, to); },
	   [&] {
		   check(lkl_sys_linkat(LKL_AT_FDCWD, abs(from).c_str(), LKL_AT_FDCWD,
					abs(to).c_str(), 0),
			 what);
	   },
	   [] {});
}

void Workload::unlink(const std::string &path)
{
	std::string what = "unlink " + path;
	op(what, [&] { model_.unlink(path); },
	   [&] { check(lkl_sys_unlinkat(LKL_AT_FDCWD, abs(path).c_str(), 0), what); },
	   [] {});
}

void Workload::rename(const std::string &from, const std::string &to)
{
	std::string what = "rename " + from + " " + to;
	op(what, [&] { model_.rename(from, to); },
	   [&] {
		   check(lkl_sys_renameat(LKL_AT_FDCWD, abs(from).c_str(), LKL_AT_FDCWD,
					  abs(to).c_str()),
			 what);
	   },
	   [] {});
}

void Workload::fsync(const std::string &path)
{
	Model::Id id = id_of(path);
	op("fsync " + path, [] {},
	   [&] {
		   Fd f(abs(path), LKL_O_RDONLY);
		   check(lkl_sys_fsync(static_cast<unsigned>(f.fd)), "fsync " + path);
	   },
	   [&] { model_.fsync(id, mtime_of(path)); });
}

void Workload::fdatasync(const std::string &path)
{
	Model::Id id = id_of(path);
	op("fdatasync " + path, [] {},
	   [&] {
		   Fd f(abs(path), LKL_O_RDONLY);
		   check(lkl_sys_fdatasync(static_cast<unsigned>(f.fd)), "fdatasync " + path);
	   },
	   [&] { model_.fdatasync(id); });
}

void Workload::fsync_dir(const std::string &path)
{
	op("fsync dir " + (path.empty() ? std::string("/") : path), [] {},
	   [&] {
		   Fd f(abs(path), LKL_O_RDONLY | LKL_O_DIRECTORY);
		   check(lkl_sys_fsync(static_cast<unsigned>(f.fd)), "fsync " + path);
	   },
	   [&] { model_.fsync_dir(path); });
}

void Workload::sync()
{
	op("sync", [] {}, [] { lkl_sys_sync(); },
	   [&] { model_.sync([&](Model::Id id) { return mtime_of(model_.any_name(id)); }); });
}

} // namespace power_loss
