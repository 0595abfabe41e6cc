// POSIX ACLs between the kernel's extended attribute form
// (system.posix_acl_access and system.posix_acl_default: the layout of
// <linux/posix_acl_xattr.h>, tags and permissions of <linux/posix_acl.h>)
// and libarchive's entry ACLs, which pax archives carry as
// SCHILY.acl.access and SCHILY.acl.default (the form GNU tar --acls
// writes and reads).
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <string>

namespace lkl_tools {

// Adds the ACL in @xattr (the value of system.posix_acl_access or _default)
// to @entry as libarchive ACL @type (ARCHIVE_ENTRY_ACL_TYPE_ACCESS or
// _DEFAULT); its owner, group and other entries of an access ACL become
// the entry's mode bits, as libarchive keeps them. false if @xattr is not a
// version 2 ACL (nothing added).
bool acl_to_entry(const std::string &xattr, int type, struct archive_entry *entry);

// The kernel's form of @entry's ACL of @type, or "" when the entry has
// none (an access ACL of only the owner, group and other entries is the
// mode, not an ACL). The owner, group and other entries of an access ACL
// come from the entry's mode. @mask, when not null, is set to the mask
// entry's permissions (-1 without one): with a mask, the group bits of
// the file's mode are the mask's, not the group entry's.
std::string acl_from_entry(struct archive_entry *entry, int type, int *mask = nullptr);

} // namespace lkl_tools
