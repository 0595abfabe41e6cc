// Runs a fuzz target over saved inputs without libFuzzer, so that the seed
// corpora and the findings run as regression tests in the ordinary (gcc)
// build: fuzz_TARGET FILE_OR_DIRECTORY... runs every file once, in name
// order within a directory, and says how long each took. A kernel panic
// aborts the run, as it would under libFuzzer.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace fs = std::filesystem;

namespace {

bool run(const fs::path &file)
{
	std::ifstream in(file, std::ios::binary);
	if (!in) {
		fprintf(stderr, "%s: cannot open\n", file.c_str());
		return false;
	}
	std::vector<uint8_t> data{std::istreambuf_iterator<char>(in), {}};
	auto start = std::chrono::steady_clock::now();
	LLVMFuzzerTestOneInput(data.data(), data.size());
	std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
	printf("%s: %zu bytes, %.1f ms\n", file.c_str(), data.size(), took.count());
	fflush(stdout);
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1] == std::string("--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: %s FILE_OR_DIRECTORY...\n"
			"Runs the fuzz target once over each input file (every file of\n"
			"a directory, in name order). Exits 1 if an input cannot be read;\n"
			"a kernel panic aborts the program.\n",
			argv[0]);
		return argc < 2 ? 2 : 0;
	}
	LLVMFuzzerInitialize(&argc, &argv);
	bool ok = true;
	int inputs = 0;
	for (int i = 1; i < argc; i++) {
		std::error_code ec;
		if (!fs::is_directory(argv[i], ec)) {
			ok &= run(argv[i]);
			inputs++;
			continue;
		}
		std::vector<fs::path> files;
		for (const auto &e : fs::directory_iterator(argv[i], ec))
			if (e.is_regular_file())
				files.push_back(e.path());
		if (ec) {
			fprintf(stderr, "%s: %s\n", argv[i], ec.message().c_str());
			ok = false;
		}
		std::sort(files.begin(), files.end());
		for (const auto &f : files) {
			ok &= run(f);
			inputs++;
		}
	}
	printf("%d inputs run\n", inputs);
	return ok ? 0 : 1;
}
