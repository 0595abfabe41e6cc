#include "lklfuse_nodes.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include <sys/stat.h>

namespace lklfuse {

namespace {

// struct file_handle of <fcntl.h>, for the kernel's calls (lkl's headers
// declare it without its members).
struct KernelHandle {
	uint32_t handle_bytes;
	int32_t handle_type;
	unsigned char f_handle[128]; // MAX_HANDLE_SZ
};

// The inode's file handle, as bytes of a KernelHandle; empty where the
// file system cannot make one (vfat without its nfs option).
std::vector<unsigned char> handle_of(int fd)
{
	KernelHandle h{};
	h.handle_bytes = sizeof(h.f_handle);
	int mount_id;
	if (lkl_sys_name_to_handle_at(fd, "",
				      reinterpret_cast<lkl_file_handle *>(&h),
				      &mount_id, LKL_AT_EMPTY_PATH) < 0)
		return {};
	auto *bytes = reinterpret_cast<const unsigned char *>(&h);
	return {bytes, bytes + offsetof(KernelHandle, f_handle) + h.handle_bytes};
}

} // namespace

ProcPath::ProcPath(int fd)
{
	snprintf(buf, sizeof(buf), "/proc/self/fd/%d", fd);
}

NodeTable::NodeTable(int root_fd)
	: chunks_(new std::atomic<Node *>[max_chunks]()),
	  generation_(static_cast<uint32_t>(
		  std::chrono::system_clock::now().time_since_epoch() /
		  std::chrono::milliseconds(1))),
	  root_fd_(root_fd),
	  mount_fd_(static_cast<int>(lkl_sys_openat(
		  LKL_AT_FDCWD, ProcPath(root_fd).c_str(),
		  LKL_O_RDONLY | LKL_O_DIRECTORY | LKL_O_CLOEXEC, 0)))
{
	struct lkl_stat st {};
	lkl_sys_newfstatat(root_fd, "", &st, LKL_AT_EMPTY_PATH);
	fuse_ino_t id;
	std::lock_guard guard(lock_);
	Node *root = add(st.st_dev, st.st_ino, id);
	if (root) {
		root->fd = root_fd;
		root->nlookup = 1;
		root->mode = st.st_mode;
	}
}

NodeTable::~NodeTable()
{
	close_all();
}

Node *NodeTable::slot(fuse_ino_t id) const
{
	std::size_t i = id - FUSE_ROOT_ID;
	Node *chunk = chunks_[i >> chunk_bits].load(std::memory_order_acquire);
	return &chunk[i & (chunk_size - 1)];
}

Node *NodeTable::add(uint64_t dev, uint64_t ino, fuse_ino_t &id)
{
	std::size_t i = next_ - FUSE_ROOT_ID;
	if ((i >> chunk_bits) >= max_chunks)
		return nullptr;
	if ((i & (chunk_size - 1)) == 0) {
		try {
			owned_.push_back(std::make_unique<Node[]>(chunk_size));
			by_key_.reserve(by_key_.size() + 1);
		} catch (const std::bad_alloc &) {
			return nullptr;
		}
		chunks_[i >> chunk_bits].store(owned_.back().get(),
					       std::memory_order_release);
	}
	try {
		by_key_[Key{dev, ino}] = next_;
	} catch (const std::bad_alloc &) {
		return nullptr;
	}
	id = next_++;
	Node *n = slot(id);
	n->dev = dev;
	n->ino = ino;
	return n;
}

void NodeTable::make_cold(Node &n)
{
	try {
		n.handle = handle_of(n.fd);
	} catch (const std::bad_alloc &) {
		n.handle.clear();
	}
	lkl_sys_close(static_cast<unsigned int>(n.fd));
	n.fd = -1;
}

long NodeTable::found(int fd, const struct lkl_stat &st, fuse_ino_t &id)
{
	int spare = -1;
	long ret = 0;
	{
		std::lock_guard guard(lock_);
		auto it = by_key_.find(Key{st.st_dev, st.st_ino});
		Node *n = nullptr;
		if (it != by_key_.end()) {
			n = slot(it->second);
			if (n->fd >= 0) {
				spare = fd; // the node has one already
			} else if (n->handle.empty() || n->handle != handle_of(fd)) {
				// The inode number now belongs to a new inode
				// (or cannot be told apart): a new node.
				n = nullptr;
			}
			if (n)
				id = it->second;
		}
		if (!n)
			n = add(st.st_dev, st.st_ino, id);
		if (!n) {
			spare = fd;
			ret = -ENOMEM;
		} else {
			if (n->fd < 0) {
				n->fd = fd;
				n->handle.clear();
			}
			n->nlookup++;
			n->mode = st.st_mode;
		}
	}
	if (spare >= 0)
		lkl_sys_close(static_cast<unsigned int>(spare));
	return ret;
}

long NodeTable::revive(fuse_ino_t id, struct lkl_stat &st)
{
	if (id < FUSE_ROOT_ID || id >= next_)
		return -ESTALE;
	std::lock_guard guard(lock_);
	Node &n = *slot(id);
	if (n.fd < 0) {
		if (n.handle.empty())
			return -ESTALE;
		long fd = lkl_sys_open_by_handle_at(
			mount_fd_, reinterpret_cast<lkl_file_handle *>(n.handle.data()),
			LKL_O_PATH | LKL_O_NOFOLLOW | LKL_O_CLOEXEC);
		if (fd < 0)
			return -ESTALE;
		n.fd = static_cast<int>(fd);
		n.handle.clear();
	}
	long ret = lkl_sys_newfstatat(n.fd, "", &st, LKL_AT_EMPTY_PATH);
	if (ret < 0) {
		if (n.nlookup == 0)
			make_cold(n);
		return ret;
	}
	n.nlookup++;
	n.mode = st.st_mode;
	return 0;
}

void NodeTable::named(fuse_ino_t id, fuse_ino_t parent, const char *name)
{
	Node &n = *slot(id);
	if (!S_ISLNK(n.mode.load()))
		return;
	std::lock_guard guard(lock_);
	try {
		n.name = name;
		n.parent = parent;
	} catch (const std::bad_alloc &) {
		n.parent = 0;
	}
}

void NodeTable::renamed(uint64_t dev, uint64_t ino, fuse_ino_t parent,
			const char *name)
{
	fuse_ino_t id;
	{
		std::lock_guard guard(lock_);
		auto it = by_key_.find(Key{dev, ino});
		if (it == by_key_.end())
			return;
		id = it->second;
	}
	named(id, parent, name);
}

bool NodeTable::name_of(fuse_ino_t id, fuse_ino_t &parent, std::string &name)
{
	std::lock_guard guard(lock_);
	Node &n = *slot(id);
	if (!n.parent || slot(n.parent)->fd < 0)
		return false;
	parent = n.parent;
	name = n.name;
	return true;
}

void NodeTable::forget(fuse_ino_t id, uint64_t count)
{
	if (id == FUSE_ROOT_ID)
		return;
	std::lock_guard guard(lock_);
	Node &n = *slot(id);
	n.nlookup -= count < n.nlookup ? count : n.nlookup;
	if (n.nlookup == 0 && n.fd >= 0)
		make_cold(n);
}

void NodeTable::close_all()
{
	std::lock_guard guard(lock_);
	for (fuse_ino_t id = FUSE_ROOT_ID; id < next_; id++) {
		Node &n = *slot(id);
		if (n.fd >= 0)
			lkl_sys_close(static_cast<unsigned int>(n.fd));
		n.fd = -1;
		n.nlookup = 0;
	}
	if (mount_fd_ >= 0)
		lkl_sys_close(static_cast<unsigned int>(std::exchange(mount_fd_, -1)));
}

} // namespace lklfuse
