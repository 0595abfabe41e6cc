// A file's attributes beyond its data, as cp -a and tar keep them: owner,
// extended attributes (POSIX ACLs among them), mode and times, read from
// one file system (copy_fs.hpp) and given to a file on another. Shared by
// the tree copy (copier.hpp) and the archive tools (tar_in.hpp,
// tar_out.hpp).
#pragma once

#include "copy_fs.hpp"

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lkl_tools {

// How ownership and modes are given to the copies.
struct CopyOptions {
	std::optional<unsigned> uid, gid; // instead of the source's
	// Where the destination cannot represent an owner or a mode (an
	// unprivileged host user, vfat), a refusal (EPERM) is not a failure,
	// as with cp -a; an owner asked for with uid or gid always is.
	bool lenient_chown = false;
	bool lenient_chmod = false;
};

// A failure: the path it is about, a negative errno, and what was being
// done ("" for the path itself).
using ErrorHook = std::function<void(const std::string &path, long err,
				     const std::string &doing)>;

// Extended attributes as (name, value), in the order the file lists them.
using Xattrs = std::vector<std::pair<std::string, std::string>>;

// The extended attributes of @path (not following a symbolic link), but
// for XFS's second copy of the ACLs (trusted.SGI_ACL_*), which travel as
// system.posix_acl_*. A file system without them gives none. Failures go
// to @error (one per attribute that could not be read).
void read_xattrs(Fs &fs, const std::string &path, Xattrs &out,
		 const ErrorHook &error);

// Gives @to in @dst the owner, @xattrs, mode and times of @st, in that
// order: chown clears set-id bits and capabilities, and every change but
// the last would move the times. A namespace @dst does not take (trusted.*
// for a user, user.* on a link...) is left out; the other failures go to
// @error.
void set_attributes(Fs &dst, const std::string &to, const Stat &st,
		    const Xattrs &xattrs, const CopyOptions &options,
		    const ErrorHook &error);

} // namespace lkl_tools
