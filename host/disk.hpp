// What the host disk files share: a backend is what the kernel's blk_submit
// reaches; a layer on top of one (the write log) hears of its completions
// before the kernel does.
#pragma once

#include <lkl_host.h>

namespace {
namespace disk {

// Where a backend hands requests it has carried out.
class Completion {
public:
	virtual void completed(lkl_blk_io *io) noexcept = 0;

protected:
	~Completion() = default;
};

class Backend {
public:
	virtual ~Backend() = default;
	virtual void submit(lkl_blk_io *io) = 0;

	// Finished requests go to @upper instead of the kernel. Set before
	// the first request.
	virtual void set_completion(Completion *upper) noexcept
	{
		upper_ = upper;
	}

	// The kernel has let go of the disk: last work that can fail
	// (an overlay to apply). 0 or a negative errno.
	virtual int finish() noexcept
	{
		return 0;
	}

	long id = -1;

protected:
	void complete(lkl_blk_io *io) noexcept
	{
		if (upper_)
			upper_->completed(io);
		else
			lkl_blk_complete(io);
	}

private:
	Completion *upper_ = nullptr;
};

} // namespace disk
} // namespace
