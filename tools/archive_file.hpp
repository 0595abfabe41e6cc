// Archive files for the tar tools (fs2tar, tar2fs, lklsh's tar-in and
// tar-out), with libarchive: pax archives written with the compression
// their name asks for, any tar (compressed or not) read; "-" is standard
// output or input, so a pipe works either way.
#pragma once

#include <archive.h>

#include <memory>
#include <string>

namespace lkl_tools {

struct ArchiveFree {
	void operator()(struct archive *a) const;
};
using Archive = std::unique_ptr<struct archive, ArchiveFree>;

// What libarchive last said about @a.
std::string archive_error(struct archive *a);

// The libarchive filter for an archive named @name: "gzip" for .gz, .tgz,
// .taz; "bzip2" for .bz2, .tbz, .tbz2; "xz" for .xz, .txz; "zstd" for .zst,
// .tzst; "lz4", "lzma", "lzip" for .lz4, .lzma, .lz; "compress" for .Z;
// "" (none) for any other name.
std::string filter_for(const std::string &name);

// Is @filter one of the names above, or "none"?
bool known_filter(const std::string &filter);

// Opens @name ("-": standard output) to write a pax archive through
// @filter ("": chosen by filter_for(name)). nullptr with @error set on
// failure, which names the file (or the unknown filter). Standard output
// is refused when it is a terminal.
Archive open_archive_out(const std::string &name, const std::string &filter,
			 std::string &error);

// Opens @name ("-": standard input) to read a tar archive of any kind
// libarchive knows (pax, GNU, ustar...), compressed or not. nullptr with
// @error set on failure.
Archive open_archive_in(const std::string &name, std::string &error);

} // namespace lkl_tools
