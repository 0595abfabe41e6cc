// The libFuzzer entry points of one file system's harness: compiled once
// per file system, with LKL_FUZZ_FSTYPE ("xfs", ...) and LKL_FUZZ_TEMPLATE
// (the template image the build made) defined.
#include "harness.hpp"

#include <cstddef>
#include <cstdint>

namespace {

const lkl_fuzz::Target target = {LKL_FUZZ_FSTYPE, nullptr, "LKL_FUZZ_TEMPLATE",
				 LKL_FUZZ_TEMPLATE};

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	lkl_fuzz::initialize(target);
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lkl_fuzz::run_one(data, size);
	return 0;
}
