#include "copier.hpp"

#include <cerrno>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace lkl_tools {

// Adds up what copying path (recursively) will move, for the progress bar.
void measure(Fs &fs, const std::string &path, Amount &total,
	     const std::function<bool()> &stop)
{
	if (stop && stop())
		return;
	Stat st;
	if (fs.lstat(path, st) < 0)
		return;
	total.files++;
	if (S_ISREG(st.st_mode))
		total.bytes += static_cast<std::uint64_t>(st.st_size);
	if (!S_ISDIR(st.st_mode))
		return;
	std::vector<std::string> names;
	fs.list(path, names);
	for (const std::string &name : names)
		measure(fs, join(path, name), total, stop);
}

struct Copier::Impl {
	Impl(Fs &src, Fs &dst, const CopyOptions &options, CopyHooks hooks)
		: src_(src), dst_(dst), options_(options), hooks_(std::move(hooks)),
		  buf_(buf_size)
	{
	}

	// Copies from (already lstat'ed as st) to the path to.
	void copy(const std::string &from, const std::string &to, const Stat &st)
	{
		if (stopping())
			return;
		if (S_ISDIR(st.st_mode)) {
			copy_dir(from, to, st);
			return;
		}
		progress(0, 1);
		if (st.st_nlink > 1 && link_again(st, to))
			return;
		bool made = false;
		if (S_ISREG(st.st_mode))
			made = copy_file(from, to, st);
		else if (S_ISLNK(st.st_mode))
			made = copy_symlink(from, to);
		else
			made = replace(to, [&] {
				return dst_.mknod(to, st.st_mode & ~07000u, st.st_rdev);
			});
		if (!made)
			return;
		if (st.st_nlink > 1)
			links_.emplace(std::make_pair(st.st_dev, st.st_ino), to);
		set_attributes(from, to, st);
	}

	// Reports a failure about path and carries on.
	void error(const std::string &path, long err, const std::string &doing = "")
	{
		failed_ = true;
		if (hooks_.error)
			hooks_.error(path.empty() ? "/" : path, err, doing);
	}

	bool stopping() const { return hooks_.stop && hooks_.stop(); }

	void progress(std::uint64_t bytes, std::uint64_t files)
	{
		if (hooks_.progress)
			hooks_.progress(bytes, files);
	}

	static constexpr std::size_t buf_size = 1 << 20;

	void copy_dir(const std::string &from, const std::string &to,
		      const Stat &st)
	{
		progress(0, 1);
		// Owner-writable until its contents are in; the mode comes last.
		long ret = dst_.mkdir(to, (st.st_mode & 0777) | 0700);
		if (ret == -EEXIST) {
			Stat there;
			if (dst_.lstat(to, there) == 0 && !S_ISDIR(there.st_mode)) {
				error(to, -ENOTDIR,
				      "cannot replace a non-directory with a "
				      "directory");
				return;
			}
		} else if (ret < 0) {
			error(to, ret);
			return;
		}
		std::vector<std::string> names;
		if (long err = src_.list(from, names); err < 0)
			error(from, err);
		for (const std::string &name : names) {
			if (stopping())
				return;
			std::string child = join(from, name);
			Stat cst;
			if (long err = src_.lstat(child, cst); err < 0) {
				error(child, err);
				continue;
			}
			copy(child, join(to, name), cst);
		}
		// After the contents, which change the directory's times.
		set_attributes(from, to, st);
	}

	// Runs make() to create to; an existing non-directory there is
	// replaced, as cp --remove-destination does.
	template <typename Make>
	bool replace(const std::string &to, Make make)
	{
		bool is_dir;
		long ret = replace_non_directory(dst_, to, make, is_dir);
		if (is_dir)
			error(to, ret, "cannot replace a directory with a non-directory");
		else if (ret < 0)
			error(to, ret);
		return ret >= 0;
	}

	// A further name of an inode already copied becomes a hard link.
	bool link_again(const Stat &st, const std::string &to)
	{
		auto it = links_.find(std::make_pair(st.st_dev, st.st_ino));
		if (it == links_.end())
			return false;
		replace(to, [&] { return dst_.link(it->second, to); });
		return true;
	}

	bool copy_symlink(const std::string &from, const std::string &to)
	{
		std::string target;
		if (long err = src_.readlink(from, target); err < 0) {
			error(from, err);
			return false;
		}
		return replace(to, [&] { return dst_.symlink(target, to); });
	}

	bool copy_file(const std::string &from, const std::string &to,
		       const Stat &st)
	{
		long fd = src_.open_read(from);
		if (fd < 0) {
			error(from, fd);
			return false;
		}
		File in(src_, fd);
		long out_fd = -1;
		if (!replace(to, [&] {
			    out_fd = dst_.create(to, st.st_mode & 0777);
			    return out_fd;
		    }))
			return false;
		File out(dst_, out_fd);
		bool good = copy_data(in.get(), out.get(), from, to, st);
		if (long err = out.close(); err < 0 && good) {
			error(to, err);
			good = false;
		}
		return good;
	}

	// Copies the data; the holes of a sparse source stay holes.
	bool copy_data(int in, int out, const std::string &from,
		       const std::string &to, const Stat &st)
	{
		// A file using as many blocks as its size has no holes: read it
		// straight through without asking where its data is.
		if (st.st_blocks * 512 >= st.st_size)
			return copy_range(in, out, 0, -1, from, to);
		std::int64_t pos = 0;
		while (pos < st.st_size) {
			long data = src_.seek(in, pos, SEEK_DATA);
			if (data == -ENXIO)
				break; // a hole up to the end
			if (data < 0)
				return copy_range(in, out, pos, -1, from, to);
			long hole = src_.seek(in, data, SEEK_HOLE);
			if (hole < 0) {
				error(from, hole, "finding holes");
				return false;
			}
			if (!copy_range(in, out, data, hole, from, to))
				return false;
			pos = hole;
		}
		long err = dst_.truncate(out, st.st_size);
		if (err < 0)
			error(to, err);
		return err == 0;
	}

	// Copies [off, end) (end -1: to the end of the file).
	bool copy_range(int in, int out, std::int64_t off, std::int64_t end,
			const std::string &from, const std::string &to)
	{
		while (end < 0 || off < end) {
			if (stopping())
				return false;
			std::size_t want = buf_.size();
			if (end >= 0)
				want = static_cast<std::size_t>(
					std::min<std::int64_t>(end - off, want));
			long n = src_.pread(in, buf_.data(), want, off);
			if (n < 0) {
				error(from, n);
				return false;
			}
			if (n == 0)
				break;
			for (long done = 0; done < n;) {
				long w = dst_.pwrite(out, buf_.data() + done,
						     static_cast<std::size_t>(n - done),
						     off + done);
				if (w < 0) {
					error(to, w);
					return false;
				}
				done += w;
			}
			off += n;
			progress(static_cast<std::uint64_t>(n), 0);
		}
		return true;
	}

	void set_attributes(const std::string &from, const std::string &to,
			    const Stat &st)
	{
		ErrorHook report = [this](const std::string &path, long err,
					  const std::string &doing) {
			error(path, err, doing);
		};
		Xattrs xattrs;
		read_xattrs(src_, from, xattrs, report);
		lkl_tools::set_attributes(dst_, to, st, xattrs, options_, report);
	}

	Fs &src_, &dst_;
	const CopyOptions options_;
	CopyHooks hooks_;
	std::vector<char> buf_;
	bool failed_ = false;
	// Where each multiply-linked source inode was copied to.
	std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> links_;
};

Copier::Copier(Fs &src, Fs &dst, const CopyOptions &options, CopyHooks hooks)
	: impl_(std::make_unique<Impl>(src, dst, options, std::move(hooks)))
{
}

Copier::~Copier() = default;

void Copier::copy(const std::string &from, const std::string &to, const Stat &st)
{
	impl_->copy(from, to, st);
}

void Copier::error(const std::string &path, long err, const std::string &doing)
{
	impl_->error(path, err, doing);
}

bool Copier::failed() const
{
	return impl_->failed_;
}

} // namespace lkl_tools
