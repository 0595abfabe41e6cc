#include "image_session.hpp"

#include <cstring>

namespace lkl_tools {

std::unique_ptr<ImageSession> ImageSession::open(const ImageOptions &options,
						 std::string &error,
						 std::error_code *code)
{
	auto s = std::make_unique<ImageSession>(Key(), options);
	if (s->start(options, error))
		return s;
	if (code)
		*code = s->code_;
	// What was noticed on the way may be why it failed.
	for (const std::string &warning : s->disk_.warnings())
		error += "\nnote: " + warning;
	return nullptr;
}

bool ImageSession::start(const ImageOptions &options, std::string &error)
{
	if (!disk_.claim(error)) {
		code_ = disk_.code();
		return false;
	}
	kernel_ = KernelSession::boot({options.mb, options.log}, error, &code_);
	if (!kernel_)
		return false;
	if (!disk_.attach(error) ||
	    !disk_.mount(options.part, options.type, options.opts, fs_, error)) {
		code_ = disk_.code();
		return false;
	}
	return true;
}

std::string ImageSession::remount(bool read_only)
{
	const std::string &image = disk_.path();
	if (!read_only && disk_.read_only())
		return image + ": it was opened read-only: unmount it and mount it "
			       "again without ro to write it";
	unsigned long flags = (fs_.flags & ~LKL_MS_RDONLY) | LKL_MS_REMOUNT |
			      (read_only ? LKL_MS_RDONLY : 0);
	long ret = lkl_sys_mount(nullptr, const_cast<char *>(root().c_str()),
				 nullptr, flags, nullptr);
	if (ret < 0)
		return image + ": remounting " +
		       (read_only ? "read-only" : "read-write") + ": " +
		       std::strerror(static_cast<int>(-ret));
	fs_.flags = flags & ~LKL_MS_REMOUNT;
	return {};
}

std::string ImageSession::close()
{
	finishing();
	std::string failed;
	failed = disk_.unmount(fs_);
	if (std::string err = disk_.detach(); !err.empty() && failed.empty())
		failed = err;
	if (kernel_) {
		if (std::string err = kernel_->halt(); !err.empty() && failed.empty())
			failed = err;
		kernel_.reset();
	}
	return failed;
}

ImageSession::~ImageSession()
{
	close();
}

} // namespace lkl_tools
