// A tree of a file system (copy_fs.hpp) written to a tar archive, as
// GNU tar --format=posix --xattrs --acls -C DIR -c . writes it: entries
// "./", "./name", ... with modes, numeric owners (no names: the image's
// users are not the host's), nanosecond times, hard links, symbolic links,
// device nodes, fifos, sparse files (holes are left out), extended
// attributes and POSIX ACLs. Used by fs2tar and lklsh's tar-out.
#pragma once

#include "copier.hpp"
#include "copy_fs.hpp"

#include <archive.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace lkl_tools {

class TarOut {
public:
	// Reads from @src and writes to the open archive @out. hooks.error
	// gets each failure (the entry is left out, or its data is padded
	// with zeros if reading it failed midway) and the writing goes on,
	// unless the archive itself fails (broken()).
	TarOut(Fs &src, struct archive *out, CopyHooks hooks);

	// Called with the archive name and the security.selinux context of
	// each entry that has one (upstream LKL fs2tar's -s FILE).
	std::function<void(const std::string &name, const std::string &context)>
		selinux;

	// Adds @path of src and, for a directory, everything below it; the
	// archive names it @name ("." for the top of the archive).
	void add(const std::string &path, const std::string &name);

	// Did anything fail?
	bool failed() const { return failed_; }
	// Did writing the archive itself fail (stopping everything)? The
	// error has been reported.
	bool broken() const { return broken_; }

private:
	void error(const std::string &path, long err, const std::string &doing = "");
	bool stopping() const { return broken_ || (hooks_.stop && hooks_.stop()); }
	// Writes the data of the regular file @path (open as fd), whose
	// header announced @st.st_size bytes with the data regions @regions.
	void write_data(const std::string &path, int fd, const Stat &st,
			const std::vector<std::pair<std::int64_t, std::int64_t>> &regions);
	// Where the data of @path is: (offset, length) regions; the whole file
	// when it has no holes or they cannot be found.
	std::vector<std::pair<std::int64_t, std::int64_t>> data_regions(int fd,
									 const Stat &st);

	Fs &src_;
	struct archive *out_;
	CopyHooks hooks_;
	std::vector<char> buf_;
	bool failed_ = false;
	bool broken_ = false;
	// The archive name of each multiply-linked inode written so far.
	std::map<std::pair<std::uint64_t, std::uint64_t>, std::string> links_;
};

} // namespace lkl_tools
