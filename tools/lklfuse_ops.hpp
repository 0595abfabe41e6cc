// The FUSE operations of lklfuse: each request is carried out by the
// kernel in this process, on the image's mount point, with the requesting
// process's uid, gid and supplementary groups.
#pragma once

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse.h>

#include <string>

namespace lklfuse {

// The operations, serving paths below root (a mount point in the kernel).
fuse_operations operations(const std::string &root);

// Closes whatever files and directories the FUSE kernel left open when
// the mount went away, so that the kernel can unmount the file system.
void close_open_handles();

} // namespace lklfuse
