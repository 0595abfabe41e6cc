// How the tools take an image for themselves. Two locks on the image file:
//
// - flock(2), exclusive for a writer and shared for a read-only user, held
//   from opening the image until the kernel has unmounted it and let go of
//   it: what keeps two kernels from writing one file system;
// - an open file description lock (F_OFD_SETLK) on byte 0, the "in use"
//   mark, held only while the tool serves or copies: a tool that has let
//   go of it is finishing (lklfuse after fusermount3 -u unmounts inside its
//   kernel, which takes a moment).
//
// So a tool that finds the image flock()ed by a user without the mark waits
// a few seconds for it to finish (saying so after the first second)
// instead of failing. A user that keeps the mark for 2 s has the image in
// use.
#pragma once

#include <string>

namespace lkl_tools {

// Opens path (O_CREAT with create) and takes its flock, shared or
// exclusive, then the "in use" mark. When a finishing user holds it,
// waits up to wait_s seconds, telling how through notice. Returns the
// descriptor holding both, or -1 with error set and errno too ("PATH: in
// use by another process (it is locked)" and EBUSY when another user has
// it in use).
int lock_image(const std::string &path, bool shared, bool create,
	       double wait_s, void (*notice)(const std::string &),
	       std::string &error);

// Lets go of the "in use" mark of a descriptor from lock_image(): this
// user is finishing. The flock stays until fd is closed.
void finishing(int fd);

} // namespace lkl_tools
