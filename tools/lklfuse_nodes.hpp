// lklfuse's nodes: one per inode of the image, keyed by the inode's
// (st_dev, st_ino) inside the kernel, as libfuse's passthrough_hp does for a
// host directory. A node holds a descriptor of its inode opened with O_PATH
// in the kernel (every operation then works relative to it with the *at
// calls) and FUSE's lookup count; when FUSE forgets the node, the
// descriptor is closed and the inode's file handle (name_to_handle_at) is
// kept instead, so that a FUSE file handle of the node (nodeid and
// generation, from open_by_handle_at or NFS) still finds the inode.
#pragma once

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>

#include <lkl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace lklfuse {

struct Node {
	// O_PATH descriptor in the kernel; -1 while FUSE holds no reference.
	// Stable while FUSE holds one: only lookup and forget change it.
	int fd = -1;
	// The inode's file type and permission bits as last seen, for the
	// set-ID checks after writes (see lklfuse_io.cpp).
	std::atomic<uint32_t> mode{0};

private:
	friend class NodeTable;
	uint64_t nlookup = 0;
	uint64_t dev = 0, ino = 0;
	// A symbolic link's last known directory (nodeid) and name: the
	// xattr calls reach a link itself only by its name.
	fuse_ino_t parent = 0;
	std::string name;
	// The kernel's file handle of a forgotten inode (struct file_handle
	// as bytes); empty while fd is open, or if the file system has none.
	std::vector<unsigned char> handle;
};

// "/proc/self/fd/N" for a kernel descriptor: reopens (or names, for the
// path-only calls: chmod, truncate, xattrs, link) exactly the inode the
// descriptor holds. The kernel's /proc is mounted by lklfuse.
struct ProcPath {
	explicit ProcPath(int fd);
	const char *c_str() const { return buf; }
	char buf[32];
};

class NodeTable {
public:
	// root_fd: an O_PATH descriptor of the image's root (owned from
	// now on); it is node FUSE_ROOT_ID for good.
	explicit NodeTable(int root_fd);
	~NodeTable();
	NodeTable(const NodeTable &) = delete;
	NodeTable &operator=(const NodeTable &) = delete;

	// The node of a nodeid FUSE holds a reference to.
	Node &node(fuse_ino_t id) const { return *slot(id); }

	// A lookup found the inode open at fd (O_PATH, ownership passes) with
	// attributes st: one more reference to its node, which is returned
	// with its nodeid. Negative errno when the table cannot grow.
	long found(int fd, const struct lkl_stat &st, fuse_ino_t &id);

	// FUSE's lookup "." of a nodeid it may have forgotten (decoding a
	// file handle): a new reference, with st filled in. -ESTALE when the
	// inode is gone.
	long revive(fuse_ino_t id, struct lkl_stat &st);

	// A name of node id is parent/name now (kept for symbolic links).
	void named(fuse_ino_t id, fuse_ino_t parent, const char *name);
	// The inode (dev, ino) was renamed to parent/name.
	void renamed(uint64_t dev, uint64_t ino, fuse_ino_t parent, const char *name);
	// A symbolic link's directory and name; false if not known.
	bool name_of(fuse_ino_t id, fuse_ino_t &parent, std::string &name);

	// FUSE drops n references; the last one closes the descriptor.
	void forget(fuse_ino_t id, uint64_t n);

	// The generation of every nodeid of this table: nodeids are never
	// reused while lklfuse runs, and the generation differs between runs
	// (it is taken from the clock), so that a file handle never finds an
	// inode other than its own.
	uint64_t generation() const { return generation_; }

	// Closes every descriptor (at unmount, whatever FUSE forgot or not).
	void close_all();

private:
	static constexpr unsigned chunk_bits = 16;
	static constexpr std::size_t chunk_size = std::size_t(1) << chunk_bits;
	static constexpr std::size_t max_chunks = std::size_t(1) << 16;

	Node *slot(fuse_ino_t id) const;
	// With lock_ held: a fresh node for (dev, ino), or nullptr.
	Node *add(uint64_t dev, uint64_t ino, fuse_ino_t &id);
	// With lock_ held: drops the descriptor, keeping the file handle.
	void make_cold(Node &n);

	struct Key {
		uint64_t dev, ino;
		bool operator==(const Key &) const = default;
	};
	struct KeyHash {
		std::size_t operator()(const Key &k) const
		{
			return std::hash<uint64_t>()(k.ino * 0x9e3779b97f4a7c15ULL ^ k.dev);
		}
	};

	std::mutex lock_;
	std::unordered_map<Key, fuse_ino_t, KeyHash> by_key_;
	// nodeid n lives at chunks_[(n - 1) >> chunk_bits][(n - 1) & mask];
	// chunks are never freed or moved, so node() needs no lock.
	std::unique_ptr<std::atomic<Node *>[]> chunks_;
	std::vector<std::unique_ptr<Node[]>> owned_;
	fuse_ino_t next_ = FUSE_ROOT_ID;
	uint64_t generation_;
	int root_fd_;
	// The root opened for reading: open_by_handle_at() takes no O_PATH
	// descriptor for the mount.
	int mount_fd_;
};

} // namespace lklfuse
