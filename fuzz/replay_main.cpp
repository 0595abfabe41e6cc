// A main() for a harness built without libFuzzer (any compiler): runs each
// input named on the command line (a file, or every file in a directory)
// once, as libFuzzer would, and says which it ran. The regression tests use
// it on the seed corpus and the saved findings. Exits 77 (CTest's "skipped")
// when the template image is missing: the build had no mkfs for it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	const char *tmpl = getenv("LKL_FUZZ_TEMPLATE");
	std::error_code ec;
	if (std::filesystem::file_size(tmpl ? tmpl : LKL_FUZZ_TEMPLATE, ec) == 0 || ec) {
		printf("no template image %s (its mkfs is not installed): skipped\n",
		       tmpl ? tmpl : LKL_FUZZ_TEMPLATE);
		return 77;
	}
	std::vector<std::filesystem::path> inputs;
	for (int i = 1; i < argc; i++) {
		std::filesystem::path p = argv[i];
		if (std::filesystem::is_directory(p)) {
			for (const auto &e : std::filesystem::directory_iterator(p))
				if (e.is_regular_file())
					inputs.push_back(e.path());
		} else if (std::filesystem::exists(p)) {
			inputs.push_back(p);
		}
	}
	LLVMFuzzerInitialize(&argc, &argv);
	for (const auto &p : inputs) {
		std::ifstream in(p, std::ios::binary);
		std::vector<uint8_t> data((std::istreambuf_iterator<char>(in)),
					  std::istreambuf_iterator<char>());
		printf("%s: %zu bytes\n", p.c_str(), data.size());
		fflush(stdout);
		LLVMFuzzerTestOneInput(data.data(), data.size());
	}
	printf("%zu inputs ran\n", inputs.size());
	return 0;
}
