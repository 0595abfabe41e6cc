#include "archive_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace lkl_tools {

void ArchiveFree::operator()(struct archive *a) const
{
	archive_free(a); // frees either kind, closing it first
}

namespace {

// Archive name suffixes and their libarchive filters.
const std::pair<const char *, const char *> suffixes[] = {
	{".gz", "gzip"},   {".tgz", "gzip"},   {".taz", "gzip"},
	{".bz2", "bzip2"}, {".tbz", "bzip2"},  {".tbz2", "bzip2"},
	{".xz", "xz"},     {".txz", "xz"},     {".zst", "zstd"},
	{".tzst", "zstd"}, {".lz4", "lz4"},    {".lzma", "lzma"},
	{".lz", "lzip"},   {".Z", "compress"},
};

bool ends_with(const std::string &s, const char *suffix)
{
	std::size_t n = strlen(suffix);
	return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

std::string name_of(const std::string &name, bool out)
{
	return name == "-" ? (out ? "standard output" : "standard input") : name;
}

} // namespace

std::string archive_error(struct archive *a)
{
	const char *what = archive_error_string(a);
	if (what)
		return what;
	int err = archive_errno(a);
	return err > 0 ? strerror(err) : "unknown archive error";
}

bool known_filter(const std::string &filter)
{
	if (filter == "none")
		return true;
	for (const auto &entry : suffixes)
		if (filter == entry.second)
			return true;
	return false;
}

std::string filter_for(const std::string &name)
{
	for (const auto &[suffix, filter] : suffixes)
		if (ends_with(name, suffix))
			return filter;
	return {};
}

Archive open_archive_out(const std::string &name, const std::string &filter,
			 std::string &error)
{
	if (name == "-" && isatty(STDOUT_FILENO)) {
		error = "refusing to write an archive to a terminal (give -o FILE, "
			"or redirect standard output)";
		return nullptr;
	}
	Archive a(archive_write_new());
	if (!a) {
		error = strerror(ENOMEM);
		return nullptr;
	}
	std::string use = filter.empty() ? filter_for(name) : filter;
	// Extended attributes as SCHILY.xattr records only, the ones GNU tar
	// reads: by default libarchive adds LIBARCHIVE.xattr copies, which
	// GNU tar warns about for each file.
	if (archive_write_set_format_pax(a.get()) != ARCHIVE_OK ||
	    archive_write_set_format_option(a.get(), "pax", "xattrheader",
					    "SCHILY") != ARCHIVE_OK ||
	    (!use.empty() && use != "none" &&
	     archive_write_add_filter_by_name(a.get(), use.c_str()) != ARCHIVE_OK)) {
		error = use + ": " + archive_error(a.get());
		return nullptr;
	}
	// Padding goes inside the compressed stream: zeros after it would
	// be garbage to the decompressor (zstd refuses them).
	if (!use.empty() && use != "none")
		archive_write_set_bytes_in_last_block(a.get(), 1);
	if (archive_write_open_filename(a.get(), name == "-" ? nullptr
							     : name.c_str()) !=
	    ARCHIVE_OK) {
		error = name_of(name, true) + ": " + archive_error(a.get());
		return nullptr;
	}
	return a;
}

Archive open_archive_in(const std::string &name, std::string &error)
{
	Archive a(archive_read_new());
	if (!a) {
		error = strerror(ENOMEM);
		return nullptr;
	}
	archive_read_support_filter_all(a.get());
	archive_read_support_format_tar(a.get());
	archive_read_support_format_gnutar(a.get());
	if (archive_read_open_filename(a.get(), name == "-" ? nullptr : name.c_str(),
				       1 << 16) != ARCHIVE_OK) {
		error = name_of(name, false) + ": " + archive_error(a.get());
		return nullptr;
	}
	return a;
}

} // namespace lkl_tools
