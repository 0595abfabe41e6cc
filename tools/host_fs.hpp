// The host's own file system as the tree copy sees it: its system calls on
// host paths.
#pragma once

#include "copy_fs.hpp"

#include <memory>

namespace lkl_tools {

std::unique_ptr<Fs> make_host_fs();

} // namespace lkl_tools
