// A fuzzer's input as a disk: a small image held in memory, made of an
// all-zero image of a fixed size with the input's sectors written over it.
//
// Input format: a sequence of records, each a 32-bit little-endian sector
// number (taken modulo the image's sector count) followed by that sector's
// 512 bytes; a last, shorter record writes only the bytes it has. Only the
// non-zero sectors of an image need to be in an input (for a freshly made
// file system, its metadata: 50-400 KiB), in the spirit of JANUS's
// metadata-only images (Xu et al., "Fuzzing File Systems via Two-Dimensional
// Input Space Exploration", IEEE S&P 2019). The format names every sector
// it sets, so an input reproduces without the image it was made from.
#pragma once

#include <lkl.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace lkl_fuzz {

constexpr std::size_t sector_size = 512;
constexpr std::size_t record_size = 4 + sector_size;

class SectorImage {
public:
	// size: the image's size in bytes, a multiple of sector_size. Throws
	// std::system_error when the memory cannot be mapped.
	explicit SectorImage(std::uint64_t size);

	// Zero what the last input and the kernel wrote, then write the
	// records of data over the image.
	void load(const std::uint8_t *data, std::size_t size);

	std::uint64_t size() const { return size_; }

	// A disk backed by this image, for lkl_disk_add(): reads and writes
	// of the kernel go to the image in memory; flushes do nothing.
	struct lkl_disk disk();

private:
	static int get_capacity(struct lkl_disk disk, unsigned long long *res);
	static int request(struct lkl_disk disk, struct lkl_blk_req *req);
	void touch(std::uint64_t offset, std::uint64_t len);

	// Anonymous memory: pages the inputs never touch cost nothing, so the
	// image may be as large as mkfs wants (300 MiB for XFS).
	struct Unmap {
		std::uint64_t size;
		void operator()(std::uint8_t *p) const;
	};
	std::uint64_t size_;
	std::unique_ptr<std::uint8_t[], Unmap> bytes_;
	// Byte ranges written since the last load(), zeroed by the next one:
	// cheaper than clearing the whole image for every input.
	std::vector<std::pair<std::uint64_t, std::uint64_t>> touched_;
	static struct lkl_dev_blk_ops ops_;
};

} // namespace lkl_fuzz
