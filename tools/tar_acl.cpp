#include "tar_acl.hpp"

#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <vector>

namespace lkl_tools {

namespace {

// The kernel's tags and libarchive's, in the kernel's order (which is the
// order the kernel wants entries in: by tag, then by id).
struct Tag {
	std::uint16_t kernel;
	int archive;
};
constexpr Tag tags[] = {
	{ACL_USER_OBJ, ARCHIVE_ENTRY_ACL_USER_OBJ},
	{ACL_USER, ARCHIVE_ENTRY_ACL_USER},
	{ACL_GROUP_OBJ, ARCHIVE_ENTRY_ACL_GROUP_OBJ},
	{ACL_GROUP, ARCHIVE_ENTRY_ACL_GROUP},
	{ACL_MASK, ARCHIVE_ENTRY_ACL_MASK},
	{ACL_OTHER, ARCHIVE_ENTRY_ACL_OTHER},
};

// The xattr's integers are little-endian.
std::uint32_t get_le(const unsigned char *p, int bytes)
{
	std::uint32_t v = 0;
	for (int i = bytes - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void put_le(std::string &out, std::uint32_t v, int bytes)
{
	for (int i = 0; i < bytes; i++, v >>= 8)
		out.push_back(static_cast<char>(v & 0xff));
}

constexpr int perm_bits = ACL_READ | ACL_WRITE | ACL_EXECUTE;
// libarchive's permission bits are the kernel's.
static_assert(ACL_READ == ARCHIVE_ENTRY_ACL_READ &&
	      ACL_WRITE == ARCHIVE_ENTRY_ACL_WRITE &&
	      ACL_EXECUTE == ARCHIVE_ENTRY_ACL_EXECUTE);

} // namespace

bool acl_to_entry(const std::string &xattr, int type, struct archive_entry *entry)
{
	const std::size_t header = sizeof(struct posix_acl_xattr_header);
	const std::size_t size = sizeof(struct posix_acl_xattr_entry);
	auto *p = reinterpret_cast<const unsigned char *>(xattr.data());
	if (xattr.size() < header || (xattr.size() - header) % size ||
	    get_le(p, 4) != POSIX_ACL_XATTR_VERSION)
		return false;
	for (std::size_t off = header; off < xattr.size(); off += size) {
		std::uint16_t tag = static_cast<std::uint16_t>(get_le(p + off, 2));
		int perm = static_cast<int>(get_le(p + off + 2, 2)) & perm_bits;
		std::uint32_t id = get_le(p + off + 4, 4);
		auto it = std::find_if(std::begin(tags), std::end(tags),
				       [tag](const Tag &t) { return t.kernel == tag; });
		if (it == std::end(tags))
			continue;
		bool qualified = tag == ACL_USER || tag == ACL_GROUP;
		archive_entry_acl_add_entry(entry, type, perm, it->archive,
					    qualified ? static_cast<int>(id) : -1,
					    nullptr);
	}
	return true;
}

std::string acl_from_entry(struct archive_entry *entry, int type, int *mask)
{
	if (mask)
		*mask = -1;
	std::vector<std::tuple<std::uint16_t, std::uint32_t, int>> entries;
	bool extended = false;
	archive_entry_acl_reset(entry, type);
	int etype, permset, tag, qual;
	const char *name;
	while (archive_entry_acl_next(entry, type, &etype, &permset, &tag, &qual,
				      &name) == ARCHIVE_OK) {
		auto it = std::find_if(std::begin(tags), std::end(tags),
				       [tag](const Tag &t) { return t.archive == tag; });
		if (it == std::end(tags) || etype != type)
			continue;
		bool qualified = it->kernel == ACL_USER || it->kernel == ACL_GROUP;
		if (qualified || it->kernel == ACL_MASK)
			extended = true;
		if (it->kernel == ACL_MASK && mask)
			*mask = permset & perm_bits;
		entries.emplace_back(it->kernel,
				     qualified ? static_cast<std::uint32_t>(qual)
					       : static_cast<std::uint32_t>(ACL_UNDEFINED_ID),
				     permset & perm_bits);
	}
	if (entries.empty() || (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS && !extended))
		return {};
	std::sort(entries.begin(), entries.end());
	std::string out;
	put_le(out, POSIX_ACL_XATTR_VERSION, 4);
	for (const auto &[tag, id, perm] : entries) {
		put_le(out, tag, 2);
		put_le(out, static_cast<std::uint32_t>(perm), 2);
		put_le(out, id, 4);
	}
	return out;
}

} // namespace lkl_tools
