#include "tar_in.hpp"

#include "archive_file.hpp"
#include "tar_acl.hpp"

#include <archive_entry.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/stat.h>

namespace lkl_tools {

namespace {

// The archive's name relative to the directory unpacked into: "" for the
// directory itself; false for a name that climbs out of it.
bool relative_name(const char *name, std::string &out)
{
	out.clear();
	std::string part;
	for (const char *p = name;; p++) {
		if (*p && *p != '/') {
			part += *p;
			continue;
		}
		if (part == "..")
			return false;
		if (!part.empty() && part != ".")
			out += (out.empty() ? "" : "/") + part;
		part.clear();
		if (!*p)
			return true;
	}
}

} // namespace

struct TarIn::Deferred {
	std::string path;
	Stat st;
	Xattrs xattrs;
};

TarIn::TarIn(Fs &dst, struct archive *in, const CopyOptions &options,
	     CopyHooks hooks)
	: dst_(dst), in_(in), options_(options), hooks_(std::move(hooks))
{
}

void TarIn::error(const std::string &path, long err, const std::string &doing)
{
	failed_ = true;
	if (hooks_.error)
		hooks_.error(path.empty() ? "/" : path, err, doing);
}

template <typename Make>
bool TarIn::replace(const std::string &to, Make make)
{
	bool is_dir;
	long ret = replace_non_directory(dst_, to, make, is_dir);
	if (is_dir)
		error(to, ret, "cannot replace a directory with a non-directory");
	else if (ret < 0)
		error(to, ret);
	return ret >= 0;
}

bool TarIn::make_parents(const std::string &path)
{
	std::size_t slash = path.rfind('/');
	if (slash == std::string::npos || slash == 0)
		return true;
	std::string parent = path.substr(0, slash);
	Stat st;
	if (dst_.stat(parent, st) == 0)
		return true;
	if (!make_parents(parent))
		return false;
	long err = dst_.mkdir(parent, 0755);
	if (err < 0 && err != -EEXIST) {
		error(parent, err);
		return false;
	}
	return true;
}

bool TarIn::write_data(const std::string &path, int fd, std::int64_t size)
{
	for (;;) {
		if (stopping())
			return false;
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(in_, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			error(path, -EIO, "reading " + archive_name + ": " + archive_error(in_));
			if (r == ARCHIVE_FATAL)
				broken_ = true;
			return false;
		}
		for (size_t done = 0; done < len;) {
			long w = dst_.pwrite(fd, static_cast<const char *>(buf) + done,
					     len - done,
					     static_cast<std::int64_t>(off + done));
			if (w < 0) {
				error(path, w);
				return false;
			}
			done += static_cast<size_t>(w);
		}
		if (hooks_.progress)
			hooks_.progress(len, 0);
	}
	// Holes at the end leave the file short.
	long err = dst_.truncate(fd, size);
	if (err < 0)
		error(path, err);
	return err == 0;
}

void TarIn::entry(struct archive_entry *e, const std::string &dir,
		  std::vector<Deferred> &dirs)
{
	const char *raw = archive_entry_pathname(e);
	std::string rel;
	if (!raw || !relative_name(raw, rel)) {
		error(raw ? raw : "(no name)", -EPERM,
		      "a name with \"..\" in the archive is not unpacked");
		return;
	}
	// Existing links to directories on the way are followed, as tar does;
	// absolute ones lead to the image's own root.
	std::string path = rel.empty() ? dir : join(dir, rel);
	std::size_t slash = path.rfind('/');
	if (!rel.empty() && slash != std::string::npos)
		path = join(dst_.resolve(path.substr(0, slash), true),
			    path.substr(slash + 1));
	if (hooks_.progress)
		hooks_.progress(0, 1);
	if (!rel.empty() && !make_parents(path))
		return;

	Stat st = *archive_entry_stat(e);
	if (!archive_entry_atime_is_set(e))
		st.st_atim.tv_nsec = UTIME_NOW;
	Xattrs xattrs;
	bool has_acl[2] = {false, false};
	const int acl_types[2] = {ARCHIVE_ENTRY_ACL_TYPE_ACCESS,
				  ARCHIVE_ENTRY_ACL_TYPE_DEFAULT};
	const char *acl_names[2] = {"system.posix_acl_access",
				    "system.posix_acl_default"};
	for (int i = 0; i < 2; i++) {
		int mask = -1;
		std::string acl = acl_from_entry(e, acl_types[i], &mask);
		if (acl.empty())
			continue;
		has_acl[i] = true;
		xattrs.emplace_back(acl_names[i], std::move(acl));
		// With a mask, the mode's group bits are the mask (chmod
		// would otherwise set the mask to the group entry's bits).
		if (i == 0 && mask >= 0)
			st.st_mode = (st.st_mode & ~070u) | (static_cast<unsigned>(mask) << 3);
	}
	archive_entry_xattr_reset(e);
	const char *name;
	const void *value;
	size_t size;
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		if ((has_acl[0] && !strcmp(name, acl_names[0])) ||
		    (has_acl[1] && !strcmp(name, acl_names[1])))
			continue; // the ACL, already taken from the entry's
		xattrs.emplace_back(name, std::string(static_cast<const char *>(value),
						      size));
	}

	const char *hardlink = archive_entry_hardlink(e);
	if (hardlink) {
		std::string target_rel;
		if (!relative_name(hardlink, target_rel) || target_rel.empty()) {
			error(path, -EPERM, std::string("a hard link to ") + hardlink +
						    " is not unpacked");
			return;
		}
		std::string target = dst_.resolve(join(dir, target_rel), false);
		replace(path, [&] { return dst_.link(target, path); });
		return; // the attributes are the first name's
	}

	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		long err = dst_.mkdir(path, (st.st_mode & 0777) | 0700);
		if (err == -EEXIST) {
			Stat there;
			if (dst_.stat(path, there) == 0 && !S_ISDIR(there.st_mode) &&
			    !replace(path, [&] { return dst_.mkdir(path, 0700); }))
				return;
		} else if (err < 0) {
			error(path, err);
			return;
		}
		dirs.push_back({rel.empty() ? dir : path, st, std::move(xattrs)});
		return;
	}
	case S_IFREG: {
		long fd = -1;
		if (!replace(path, [&] {
			    fd = dst_.create(path, st.st_mode & 0777);
			    return fd;
		    }))
			return;
		File out(dst_, fd);
		bool good = write_data(path, out.get(), st.st_size);
		if (long err = out.close(); err < 0 && good) {
			error(path, err);
			good = false;
		}
		if (!good)
			return;
		break;
	}
	case S_IFLNK: {
		const char *target = archive_entry_symlink(e);
		if (!replace(path, [&] { return dst_.symlink(target ? target : "", path); }))
			return;
		break;
	}
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (!replace(path, [&] {
			    return dst_.mknod(path, st.st_mode & ~07000u, st.st_rdev);
		    }))
			return;
		break;
	default:
		error(path, -EINVAL, "an entry of unknown type is not unpacked");
		return;
	}
	set_attributes(dst_, path, st, xattrs, options_,
		       [this](const std::string &p, long err, const std::string &doing) {
			       error(p, err, doing);
		       });
}

void TarIn::extract(const std::string &dir)
{
	std::vector<Deferred> dirs;
	for (;;) {
		if (stopping())
			break;
		struct archive_entry *e;
		int r = archive_read_next_header(in_, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			error(archive_name, -EIO, archive_error(in_));
			if (r == ARCHIVE_FATAL) {
				broken_ = true;
				break;
			}
			continue;
		}
		entry(e, dir, dirs);
	}
	// Deepest first: setting a directory's times must come after its
	// contents changed it, and its mode may take away our write right.
	for (auto it = dirs.rbegin(); it != dirs.rend(); ++it)
		set_attributes(dst_, it->path, it->st, it->xattrs, options_,
			       [this](const std::string &p, long err,
				      const std::string &doing) { error(p, err, doing); });
}

} // namespace lkl_tools
