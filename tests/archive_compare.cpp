#include "archive_compare.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <clocale>
#include <memory>
#include <sstream>

namespace lkl_test {

namespace {

std::string normalize(std::string name)
{
	while (name.size() > 1 && name.back() == '/')
		name.pop_back();
	if (name == "." || name == "./")
		return ".";
	if (name.rfind("./", 0) != 0)
		name = "./" + (name[0] == '/' ? name.substr(1) : name);
	return name;
}

std::string what(struct archive *a)
{
	const char *text = archive_error_string(a);
	return text ? text : "unreadable";
}

std::string acl_text(struct archive_entry *e, int type)
{
	char *text = archive_entry_acl_to_text(
		e, nullptr,
		type | ARCHIVE_ENTRY_ACL_STYLE_EXTRA_ID | ARCHIVE_ENTRY_ACL_STYLE_SEPARATOR_COMMA);
	std::string out = text ? text : "";
	free(text);
	return out;
}

} // namespace

std::map<std::string, ArchiveEntry> read_archive(const std::string &path,
						 std::string &error)
{
	// pax names are UTF-8: read them as the same bytes, whatever the
	// test's locale.
	setlocale(LC_CTYPE, "C.UTF-8");
	std::map<std::string, ArchiveEntry> out;
	std::unique_ptr<struct archive, int (*)(struct archive *)> a(archive_read_new(),
								       archive_read_free);
	archive_read_support_filter_all(a.get());
	archive_read_support_format_all(a.get());
	if (archive_read_open_filename(a.get(), path.c_str(), 65536) != ARCHIVE_OK) {
		error = path + ": " + what(a.get());
		return {};
	}
	std::map<std::string, std::string> hardlinks; // name -> first name
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(a.get(), &e)) == ARCHIVE_OK) {
		std::string name = normalize(archive_entry_pathname(e));
		ArchiveEntry entry;
		entry.mode = archive_entry_mode(e);
		entry.uid = static_cast<unsigned>(archive_entry_uid(e));
		entry.gid = static_cast<unsigned>(archive_entry_gid(e));
		entry.mtime = archive_entry_mtime(e);
		entry.mtime_nsec = archive_entry_mtime_nsec(e);
		entry.rdev = archive_entry_rdev(e);
		if (const char *target = archive_entry_symlink(e))
			entry.symlink = target;
		archive_entry_xattr_reset(e);
		const char *xname;
		const void *value;
		size_t size;
		while (archive_entry_xattr_next(e, &xname, &value, &size) == ARCHIVE_OK)
			entry.xattrs[xname] = std::string(static_cast<const char *>(value), size);
		entry.acl_access = acl_text(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
		entry.acl_default = acl_text(e, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT);
		entry.sparse = archive_entry_sparse_count(e) > 0;
		if (const char *link = archive_entry_hardlink(e))
			hardlinks[name] = normalize(link);
		const void *buf;
		la_int64_t off;
		while (archive_read_data_block(a.get(), &buf, &size, &off) == ARCHIVE_OK) {
			if (entry.data.size() < static_cast<size_t>(off) + size)
				entry.data.resize(static_cast<size_t>(off) + size);
			entry.data.replace(static_cast<size_t>(off), size,
					   static_cast<const char *>(buf), size);
		}
		if (archive_entry_size_is_set(e) && !archive_entry_hardlink(e))
			entry.data.resize(static_cast<size_t>(archive_entry_size(e)));
		out[name] = std::move(entry);
	}
	if (r != ARCHIVE_EOF) {
		error = path + ": " + what(a.get());
		return {};
	}
	// A later name of a hard-linked inode is the first one's entry.
	std::map<std::string, std::set<std::string>> groups;
	for (const auto &[name, first] : hardlinks) {
		groups[first].insert(first);
		groups[first].insert(name);
	}
	for (const auto &[first, names] : groups) {
		ArchiveEntry base = out[first];
		for (const std::string &name : names) {
			ArchiveEntry entry = base;
			entry.links = names;
			entry.links.erase(name);
			out[name] = entry;
		}
	}
	return out;
}

std::vector<std::string> differences(const std::map<std::string, ArchiveEntry> &a,
				     const std::map<std::string, ArchiveEntry> &b,
				     const std::set<std::string> &ignore_xattrs)
{
	std::vector<std::string> diffs;
	auto xattrs = [&](const ArchiveEntry &e) {
		auto x = e.xattrs;
		for (const std::string &name : ignore_xattrs)
			x.erase(name);
		return x;
	};
	for (const auto &[name, x] : a) {
		auto it = b.find(name);
		if (it == b.end()) {
			diffs.push_back(name + ": only in the first");
			continue;
		}
		const ArchiveEntry &y = it->second;
		auto differ = [&](const char *what, auto l, auto r) {
			if (l == r)
				return;
			std::ostringstream line;
			line << name << ": " << what << " " << l << " != " << r;
			diffs.push_back(line.str());
		};
		differ("mode", x.mode, y.mode);
		differ("uid", x.uid, y.uid);
		differ("gid", x.gid, y.gid);
		differ("mtime", x.mtime, y.mtime);
		differ("mtime_nsec", x.mtime_nsec, y.mtime_nsec);
		differ("rdev", x.rdev, y.rdev);
		differ("size", x.data.size(), y.data.size());
		if (x.data != y.data)
			diffs.push_back(name + ": contents differ");
		differ("symlink", x.symlink, y.symlink);
		differ("acl_access", x.acl_access, y.acl_access);
		differ("acl_default", x.acl_default, y.acl_default);
		if (x.links != y.links)
			diffs.push_back(name + ": hard links differ");
		auto xa = xattrs(x), ya = xattrs(y);
		for (const auto &[k, v] : xa)
			if (!ya.count(k))
				diffs.push_back(name + ": xattr " + k + " only in the first");
			else if (ya[k] != v)
				diffs.push_back(name + ": xattr " + k + " differs");
		for (const auto &[k, v] : ya)
			if (!xa.count(k))
				diffs.push_back(name + ": xattr " + k + " only in the second");
	}
	for (const auto &[name, y] : b)
		if (!a.count(name))
			diffs.push_back(name + ": only in the second");
	return diffs;
}

} // namespace lkl_test
