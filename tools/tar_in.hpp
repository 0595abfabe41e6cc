// A tar archive unpacked into a file system (copy_fs.hpp), as GNU tar
// --xattrs --acls -x -C DIR (run as root) unpacks it: files, directories,
// hard and symbolic links, device nodes and fifos, with their owners,
// modes, nanosecond times, extended attributes and POSIX ACLs; the holes
// of sparse entries stay holes. Used by tar2fs and lklsh's tar-in.
#pragma once

#include "attributes.hpp"
#include "copier.hpp"
#include "copy_fs.hpp"

#include <archive.h>

#include <string>
#include <vector>

namespace lkl_tools {

class TarIn {
public:
	// Writes into @dst from the open archive @in. Each failure goes to
	// hooks.error and the unpacking goes on with the next entry, unless
	// the archive itself cannot be read further (broken()).
	TarIn(Fs &dst, struct archive *in, const CopyOptions &options,
	      CopyHooks hooks);

	// Unpacks every entry under @dir, an existing directory of dst ("" is
	// the root of an image). Names are taken relative to it: a leading
	// "/" or "./" is dropped, and a name with a ".." component is refused
	// (EPERM). Missing parent directories are made (mode 0755); an
	// existing non-directory is replaced. Directories get their
	// attributes after their contents.
	void extract(const std::string &dir);

	bool failed() const { return failed_; }
	bool broken() const { return broken_; }

	// What errors reading the archive itself are about.
	std::string archive_name = "archive";

private:
	struct Deferred; // a directory's attributes, set at the end
	void error(const std::string &path, long err, const std::string &doing = "");
	bool stopping() const { return broken_ || (hooks_.stop && hooks_.stop()); }
	void entry(struct archive_entry *e, const std::string &dir,
		   std::vector<Deferred> &dirs);
	bool make_parents(const std::string &path);
	template <typename Make> bool replace(const std::string &to, Make make);
	bool write_data(const std::string &path, int fd, std::int64_t size);

	Fs &dst_;
	struct archive *in_;
	CopyOptions options_;
	CopyHooks hooks_;
	bool failed_ = false;
	bool broken_ = false;
};

} // namespace lkl_tools
