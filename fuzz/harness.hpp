// What every file-system harness shares: the template image and how an
// input is put back into it, a fresh kernel per input, the walk and the
// small writes. Each harness (xfs_fuzzer.cpp, ...) names its file system.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lkl_fuzz {

struct Target {
	// The kernel's name of the file system ("xfs", "ext4", ...).
	const char *fstype;
	// Mount options, or nullptr.
	const char *options;
	// The environment variable naming the template image, and the path
	// built in at configure time (the build makes it with mkfs).
	const char *template_env;
	const char *template_path;
};

// Loads the template image (an image whose blocks outside the metadata
// are zero: see make-template.sh) and boots nothing yet. Exits on error.
void initialize(const Target &target);

// One input: the image is the template with its metadata blocks, in
// order, replaced by the input's bytes (a shorter input replaces the first
// ones only). Boots a kernel, mounts, walks, writes a little, unmounts,
// halts. A kernel panic or BUG aborts the process (a finding).
void run_one(const uint8_t *data, size_t size);

} // namespace lkl_fuzz
