// A file system mounted in the lkl kernel as the tree copy sees it. Paths
// are absolute from the file system's own root ("" or "/" is the root),
// and its absolute symbolic links are resolved inside it, not in the
// kernel's root.
#pragma once

#include "copy_fs.hpp"

#include <memory>
#include <string>

namespace lkl_tools {

// The file system mounted at @root in the kernel (e.g. "/mnt/vda").
std::unique_ptr<Fs> make_image_fs(std::string root);

} // namespace lkl_tools
