// Tar archives read back with libarchive, entry by entry, for comparing
// what fs2tar, tar2fs and lklsh make with what GNU tar makes.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace lkl_test {

struct ArchiveEntry {
	unsigned mode = 0; // type and permission bits, as libarchive has them
	unsigned uid = 0, gid = 0;
	long long mtime = 0;
	long mtime_nsec = 0;
	unsigned long long rdev = 0;
	std::string data;     // the contents, holes as zeros
	std::string symlink;  // a symbolic link's target
	// The other names of a hard-linked inode (normalized), if any.
	std::set<std::string> links;
	std::map<std::string, std::string> xattrs;
	std::string acl_access, acl_default; // libarchive's text, numeric ids
	bool sparse = false; // stored with holes left out
};

// The entries of the archive at @path by name ("./a/b": a leading "./" is
// added where missing and a trailing "/" dropped). Empty, with @error set,
// when it cannot be read.
std::map<std::string, ArchiveEntry> read_archive(const std::string &path,
						 std::string &error);

// What differs between @a and @b, one line each ("./x: mode 0644 != 0600",
// "./y: only in the first"); xattrs named in @ignore_xattrs are left out
// of the comparison.
std::vector<std::string> differences(const std::map<std::string, ArchiveEntry> &a,
				     const std::map<std::string, ArchiveEntry> &b,
				     const std::set<std::string> &ignore_xattrs = {});

} // namespace lkl_test
