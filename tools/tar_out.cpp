#include "tar_out.hpp"

#include "archive_file.hpp"
#include "attributes.hpp"
#include "tar_acl.hpp"

#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <unistd.h>

namespace lkl_tools {

namespace {

constexpr std::size_t buf_size = 1 << 20;

struct EntryFree {
	void operator()(struct archive_entry *e) const { archive_entry_free(e); }
};

} // namespace

TarOut::TarOut(Fs &src, struct archive *out, CopyHooks hooks)
	: src_(src), out_(out), hooks_(std::move(hooks)), buf_(buf_size)
{
}

void TarOut::error(const std::string &path, long err, const std::string &doing)
{
	failed_ = true;
	if (hooks_.error)
		hooks_.error(path.empty() ? "/" : path, err, doing);
}

std::vector<std::pair<std::int64_t, std::int64_t>> TarOut::data_regions(int fd,
									 const Stat &st)
{
	std::vector<std::pair<std::int64_t, std::int64_t>> regions;
	if (st.st_blocks * 512 >= st.st_size) {
		regions.emplace_back(0, st.st_size);
		return regions;
	}
	for (std::int64_t pos = 0; pos < st.st_size;) {
		long data = src_.seek(fd, pos, SEEK_DATA);
		if (data == -ENXIO)
			break; // a hole up to the end
		if (data < 0)
			return {{0, st.st_size}};
		long hole = src_.seek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return {{0, st.st_size}};
		hole = std::min<long>(hole, st.st_size);
		if (hole > data)
			regions.emplace_back(data, hole - data);
		pos = hole;
	}
	return regions;
}

void TarOut::write_data(const std::string &path, int fd, const Stat &st,
			const std::vector<std::pair<std::int64_t, std::int64_t>> &regions)
{
	// libarchive takes the whole file, holes included, and leaves the
	// holes out of the archive itself.
	std::int64_t pos = 0;
	auto put = [&](const char *data, std::size_t len) {
		la_ssize_t n = archive_write_data(out_, data, len);
		if (n < 0) {
			error(path, -EIO, "writing the archive: " + archive_error(out_));
			broken_ = true;
			return false;
		}
		pos += static_cast<std::int64_t>(len);
		return true;
	};
	std::vector<char> zeros;
	auto put_hole = [&](std::int64_t to) {
		if (zeros.empty())
			zeros.resize(buf_size);
		while (pos < to)
			if (!put(zeros.data(), static_cast<std::size_t>(std::min<std::int64_t>(
						       to - pos, buf_size))))
				return false;
		return true;
	};
	for (const auto &[off, len] : regions) {
		if (!put_hole(off))
			return;
		std::int64_t end = off + len;
		while (pos < end) {
			if (stopping())
				return;
			std::size_t want = static_cast<std::size_t>(
				std::min<std::int64_t>(end - pos, buf_size));
			long n = src_.pread(fd, buf_.data(), want, pos);
			if (n <= 0) {
				// The header promised st_size bytes:
				// finish_entry pads the rest with zeros.
				error(path, n < 0 ? n : -EIO,
				      n < 0 ? "" : "the file shrank while it was read");
				return;
			}
			if (!put(buf_.data(), static_cast<std::size_t>(n)))
				return;
			if (hooks_.progress)
				hooks_.progress(static_cast<std::uint64_t>(n), 0);
		}
	}
	put_hole(st.st_size);
}

void TarOut::add(const std::string &path, const std::string &name)
{
	if (stopping())
		return;
	Stat st;
	if (long err = src_.lstat(path, st); err < 0) {
		error(path, err);
		return;
	}
	if (hooks_.progress)
		hooks_.progress(0, 1);
	std::unique_ptr<struct archive_entry, EntryFree> entry(archive_entry_new());
	archive_entry_set_pathname(entry.get(), name.c_str());
	archive_entry_copy_stat(entry.get(), &st);

	Xattrs xattrs;
	read_xattrs(src_, path, xattrs,
		    [this](const std::string &p, long err, const std::string &doing) {
			    error(p, err, doing);
		    });
	for (const auto &[key, value] : xattrs) {
		// Kept both as an ACL and as the attribute, as GNU tar
		// --xattrs --acls does.
		if (key == "system.posix_acl_access")
			acl_to_entry(value, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, entry.get());
		else if (key == "system.posix_acl_default")
			acl_to_entry(value, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, entry.get());
		else if (key == "security.selinux" && selinux)
			selinux(name, std::string(value.c_str()));
		archive_entry_xattr_add_entry(entry.get(), key.c_str(), value.data(),
					      value.size());
	}

	std::unique_ptr<File> file;
	std::vector<std::pair<std::int64_t, std::int64_t>> regions;
	bool linked = false;
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		auto key = std::make_pair(static_cast<std::uint64_t>(st.st_dev),
					  static_cast<std::uint64_t>(st.st_ino));
		auto it = links_.find(key);
		if (it != links_.end()) {
			archive_entry_set_hardlink(entry.get(), it->second.c_str());
			archive_entry_set_size(entry.get(), 0);
			linked = true;
		} else {
			links_.emplace(key, name);
		}
	}
	if (S_ISLNK(st.st_mode)) {
		std::string target;
		if (long err = src_.readlink(path, target); err < 0) {
			error(path, err);
			return;
		}
		archive_entry_set_symlink(entry.get(), target.c_str());
	} else if (S_ISREG(st.st_mode) && !linked) {
		long fd = src_.open_read(path);
		if (fd < 0) {
			error(path, fd);
			return;
		}
		file = std::make_unique<File>(src_, fd);
		regions = data_regions(file->get(), st);
		if (regions.size() != 1 || regions[0].first != 0 ||
		    regions[0].second != st.st_size) {
			for (const auto &[off, len] : regions)
				archive_entry_sparse_add_entry(entry.get(), off, len);
			// The end of the file, when it ends in a hole.
			archive_entry_sparse_add_entry(entry.get(), st.st_size, 0);
		}
	} else if (S_ISSOCK(st.st_mode)) {
		return; // as tar: a socket is not archived
	}

	int r = archive_write_header(out_, entry.get());
	if (r < ARCHIVE_WARN) {
		error(path, -EIO, "writing the archive: " + archive_error(out_));
		if (r == ARCHIVE_FATAL)
			broken_ = true;
		return;
	}
	if (file)
		write_data(path, file->get(), st, regions);
	if (archive_write_finish_entry(out_) == ARCHIVE_FATAL && !broken_) {
		error(path, -EIO, "writing the archive: " + archive_error(out_));
		broken_ = true;
	}
	file.reset();
	if (!S_ISDIR(st.st_mode))
		return;

	std::vector<std::string> names;
	if (long err = src_.list(path, names); err < 0)
		error(path, err);
	for (const std::string &child : names) {
		if (stopping())
			return;
		add(join(path, child), name == "." ? "./" + child : name + "/" + child);
	}
}

} // namespace lkl_tools
