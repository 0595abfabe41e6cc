// A host directory tree holding every kind of thing an archive or a copy
// must keep: owners, modes (set-id, sticky), nanosecond times, hard and
// symbolic links, fifos, device nodes, a sparse file, a long and a
// non-ASCII name, user.* xattrs (one binary), access and default ACLs.
#pragma once

#include <string>

namespace lkl_test {

// Fills the existing empty directory @dir; "" when done, else why it
// cannot be made here (the test should skip).
std::string make_sample_tree(const std::string &dir);

} // namespace lkl_test
