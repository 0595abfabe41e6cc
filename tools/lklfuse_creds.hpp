// The caller of a FUSE request, inside the kernel: each host thread has a
// kernel task of its own (Documentation/architecture.md), whose fsuid,
// fsgid and supplementary groups are set to the requesting process's
// before the request's calls, so that the file system's own permission
// checks decide. Each task also has a file system context (umask, cwd) of
// its own, so that the caller's umask applies to what it creates.
#pragma once

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>

#include <lkl.h>

namespace lklfuse {

// Makes this thread's kernel task act as the caller of req.
void become_caller(fuse_req_t req);

// The same, with the caller's umask too: for the requests that create
// (FUSE gives the umask only with those, and with FUSE_CAP_DONT_MASK the
// mode has not been masked yet). In a directory with a default ACL the
// kernel ignores the umask, as it does for any caller.
void become_creating_caller(fuse_req_t req);

// Gives this thread's kernel task a working directory of its own (and
// umask); false if it cannot.
bool own_working_directory();

// Runs with the file system's own privilege (fsuid 0, all capabilities)
// until destroyed: for what lklfuse does behind the caller's back.
class AsRoot {
public:
	AsRoot();
	~AsRoot();
	AsRoot(const AsRoot &) = delete;
	AsRoot &operator=(const AsRoot &) = delete;

private:
	lkl_uid_t uid_;
	lkl_gid_t gid_;
};

} // namespace lklfuse
