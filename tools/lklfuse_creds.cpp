#include "lklfuse_creds.hpp"

#include <lkl/linux/sched.h>

#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace lklfuse {

namespace {

// Supplementary groups by process, which libfuse reads from /proc. They
// are needed for every request of a non-root caller, and reading them
// costs far more than the request, so they are kept for a second.
class GroupCache {
public:
	std::vector<lkl_gid_t> groups_of(fuse_req_t req, const fuse_ctx *ctx)
	{
		auto now = std::chrono::steady_clock::now();
		{
			std::lock_guard guard(lock_);
			auto it = cache_.find(ctx->pid);
			if (it != cache_.end() && it->second.uid == ctx->uid &&
			    it->second.gid == ctx->gid && now - it->second.when < ttl)
				return it->second.groups;
		}
		std::vector<gid_t> list(64);
		int n = fuse_req_getgroups(req, static_cast<int>(list.size()),
					   list.data());
		if (n > static_cast<int>(list.size())) {
			list.resize(static_cast<std::size_t>(n));
			n = fuse_req_getgroups(req, n, list.data());
		}
		list.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
		std::vector<lkl_gid_t> groups(list.begin(), list.end());
		std::lock_guard guard(lock_);
		if (cache_.size() > max_entries)
			cache_.clear();
		cache_[ctx->pid] = {ctx->uid, ctx->gid, now, groups};
		return groups;
	}

private:
	static constexpr auto ttl = std::chrono::seconds(1);
	static constexpr std::size_t max_entries = 4096;

	struct Entry {
		uid_t uid;
		gid_t gid;
		std::chrono::steady_clock::time_point when;
		std::vector<lkl_gid_t> groups;
	};
	std::mutex lock_;
	std::unordered_map<pid_t, Entry> cache_;
};

GroupCache g_groups;

// What this thread's kernel task has now. A task starts as root with no
// supplementary groups, sharing init's file system context (umask 022).
struct TaskCreds {
	bool own_fs = false;
	lkl_uid_t uid = 0;
	lkl_gid_t gid = 0;
	int umask = 022;
	std::vector<lkl_gid_t> groups;
};

thread_local TaskCreds t_creds;

void set_fsuid(lkl_uid_t uid)
{
	if (uid != t_creds.uid) {
		lkl_sys_setfsuid(uid);
		t_creds.uid = uid;
	}
}

void set_fsgid(lkl_gid_t gid)
{
	if (gid != t_creds.gid) {
		lkl_sys_setfsgid(gid);
		t_creds.gid = gid;
	}
}

} // namespace

void become_caller(fuse_req_t req)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	TaskCreds &now = t_creds;
	if (ctx->uid != 0) {
		auto groups = g_groups.groups_of(req, ctx);
		if (groups != now.groups) {
			lkl_sys_setgroups(static_cast<int>(groups.size()),
					  groups.data());
			now.groups = std::move(groups);
		}
	} else if (!now.groups.empty()) {
		lkl_sys_setgroups(0, nullptr);
		now.groups.clear();
	}
	set_fsgid(ctx->gid);
	// A non-zero fsuid also drops the file capabilities of root.
	set_fsuid(ctx->uid);
}

bool own_working_directory()
{
	// Without this, every thread's task shares init's umask and cwd.
	if (!t_creds.own_fs && lkl_sys_unshare(LKL_CLONE_FS) == 0)
		t_creds.own_fs = true;
	return t_creds.own_fs;
}

void become_creating_caller(fuse_req_t req)
{
	become_caller(req);
	TaskCreds &now = t_creds;
	if (!own_working_directory())
		return;
	int mask = static_cast<int>(fuse_req_ctx(req)->umask & 0777);
	if (mask != now.umask) {
		lkl_sys_umask(mask);
		now.umask = mask;
	}
}

AsRoot::AsRoot() : uid_(t_creds.uid), gid_(t_creds.gid)
{
	set_fsuid(0);
	set_fsgid(0);
}

AsRoot::~AsRoot()
{
	set_fsgid(gid_);
	set_fsuid(uid_);
}

} // namespace lklfuse
