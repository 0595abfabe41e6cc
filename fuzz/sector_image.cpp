#include "sector_image.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

#include <sys/mman.h>

namespace lkl_fuzz {

struct lkl_dev_blk_ops SectorImage::ops_ = {
	.get_capacity = SectorImage::get_capacity,
	.request = SectorImage::request,
};

static std::uint8_t *map_zeroes(std::uint64_t size)
{
	void *p = mmap(nullptr, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		throw std::system_error(errno, std::generic_category(), "mmap");
	return static_cast<std::uint8_t *>(p);
}

void SectorImage::Unmap::operator()(std::uint8_t *p) const
{
	munmap(p, size);
}

SectorImage::SectorImage(std::uint64_t size)
	: size_(size), bytes_(map_zeroes(size), Unmap{size})
{
}

void SectorImage::touch(std::uint64_t offset, std::uint64_t len)
{
	// Requests often continue the last one (log writes, readahead).
	if (!touched_.empty() && touched_.back().first + touched_.back().second == offset) {
		touched_.back().second += len;
		return;
	}
	touched_.emplace_back(offset, len);
}

void SectorImage::load(const std::uint8_t *data, std::size_t size)
{
	for (auto [offset, len] : touched_)
		memset(bytes_.get() + offset, 0, len);
	touched_.clear();

	const std::uint64_t sectors = size_ / sector_size;
	while (size > 4) {
		std::uint32_t sector = data[0] | data[1] << 8 | data[2] << 16 |
				       static_cast<std::uint32_t>(data[3]) << 24;
		std::size_t len = std::min(size - 4, sector_size);
		std::uint64_t offset = (sector % sectors) * sector_size;
		memcpy(bytes_.get() + offset, data + 4, len);
		touch(offset, len);
		data += 4 + len;
		size -= 4 + len;
	}
}

struct lkl_disk SectorImage::disk()
{
	struct lkl_disk d = {};
	d.handle = this;
	d.ops = &ops_;
	return d;
}

int SectorImage::get_capacity(struct lkl_disk disk, unsigned long long *res)
{
	*res = static_cast<SectorImage *>(disk.handle)->size();
	return 0;
}

int SectorImage::request(struct lkl_disk disk, struct lkl_blk_req *req)
{
	auto *img = static_cast<SectorImage *>(disk.handle);
	std::uint64_t offset = req->sector * sector_size;

	switch (req->type) {
	case LKL_DEV_BLK_TYPE_READ:
	case LKL_DEV_BLK_TYPE_WRITE:
		for (int i = 0; i < req->count; i++) {
			std::uint64_t len = req->buf[i].iov_len;
			if (offset > img->size() || len > img->size() - offset)
				return LKL_DEV_BLK_STATUS_IOERR;
			auto *p = img->bytes_.get() + offset;
			if (req->type == LKL_DEV_BLK_TYPE_READ) {
				memcpy(req->buf[i].iov_base, p, len);
			} else {
				memcpy(p, req->buf[i].iov_base, len);
				img->touch(offset, len);
			}
			offset += len;
		}
		return LKL_DEV_BLK_STATUS_OK;
	case LKL_DEV_BLK_TYPE_FLUSH:
	case LKL_DEV_BLK_TYPE_FLUSH_OUT:
		return LKL_DEV_BLK_STATUS_OK;
	default:
		return LKL_DEV_BLK_STATUS_UNSUP;
	}
}

} // namespace lkl_fuzz
