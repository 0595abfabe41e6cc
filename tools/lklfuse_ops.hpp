// The FUSE operations of lklfuse, on libfuse's low-level API: every request
// names nodes (lklfuse_nodes.hpp) and is carried out by the kernel in this
// process, relative to the nodes' descriptors, as the requesting process
// (lklfuse_creds.hpp). lklfuse_ops.cpp has the operations on names and
// attributes, lklfuse_io.cpp those on open files and directories.
#pragma once

#include "lklfuse_nodes.hpp"

#include <mutex>
#include <unordered_set>

namespace lklfuse {

struct Settings {
	// How long the host kernel may keep names, attributes and the
	// absence of names: every change to the image comes through this
	// mount, which keeps them up to date, so they may be kept long.
	double timeout = 86400;
	// FUSE's writeback cache (-o writeback_cache).
	bool writeback_cache = false;
	// The file system keeps POSIX ACLs: the host kernel then checks
	// them and leaves the umask to lklfuse (FUSE_CAP_POSIX_ACL).
	bool posix_acl = false;
	// The image's file system is mounted read-only inside.
	bool read_only = false;
};

// What the operations share; fuse_req_userdata() of every request.
struct Server {
	Server(int root_fd, const Settings &s) : nodes(root_fd), settings(s) {}

	NodeTable nodes;
	Settings settings;
	fuse_session *session = nullptr;

	// Open files (kernel descriptors) and directories (Dir *, see
	// lklfuse_io.cpp), closed at unmount whatever FUSE released.
	std::mutex open_lock;
	std::unordered_set<int> open_files;
	std::unordered_set<void *> open_dirs;

	// Closes every open file, directory and node.
	void close_all();
};

// The operations; fuse_session_new()'s userdata must be a Server.
fuse_lowlevel_ops operations();

// Shared by the two halves.
Server &server_of(fuse_req_t req);
// Looks name up in the directory node parent and fills e (with a new
// reference to the node); negative errno on failure.
long lookup_entry(Server &s, fuse_ino_t parent, const char *name,
		  fuse_entry_param &e);
// The entry of the inode open at fd (O_PATH, ownership passes).
long entry_of_fd(Server &s, int fd, fuse_entry_param &e);
void add_io_operations(fuse_lowlevel_ops &ops);
// Makes the host kernel fetch the attributes of ino again (after the
// kernel inside changed them as a side effect FUSE does not know of).
void attributes_changed(Server &s, fuse_ino_t ino);

} // namespace lklfuse
