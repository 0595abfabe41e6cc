// What the lklfuse tests share: lklfuse run as a child process on an image
// made by mkfs, file helpers, and a fixture per file system type that
// checks the image with the file system's own checker afterwards.
#pragma once

#include "image_util.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <sys/types.h>

namespace lkl_test {

constexpr unsigned long long MiB = 1ULL << 20;

// Why lklfuse cannot be tested here ("" when it can).
std::string why_no_fuse();
bool is_fuse_mount(const std::string &dir);

// lklfuse running in the foreground as a child process, on a mount point
// next to the image; unmounted (fusermount3 -u) and reaped on destruction.
class Lklfuse {
public:
	explicit Lklfuse(const Image &img, const std::string &options = "");
	~Lklfuse() { unmount(); }
	Lklfuse(const Lklfuse &) = delete;
	Lklfuse &operator=(const Lklfuse &) = delete;

	bool mounted() const { return mounted_; }
	std::string path(const std::string &rel = "") const
	{
		return rel.empty() ? mnt_ : mnt_ + "/" + rel;
	}
	// What lklfuse wrote to stderr.
	std::string errors() const;
	pid_t pid() const { return pid_; }

	// fusermount3 -u, then waits for lklfuse to unmount in its kernel and
	// exit. Returns its exit status (-1 if it did not exit normally).
	int unmount();
	// fusermount3 -u only: lklfuse goes on unmounting inside its kernel.
	void unmount_fuse_only();
	// SIGKILL, then a lazy unmount of the dead mount.
	void kill_hard();
	int exit_status() const;

private:
	void reap();

	static inline int instances = 0;
	std::string mnt_, log_;
	pid_t pid_ = -1;
	int status_ = 0;
	bool mounted_ = false;
};

std::string read_file(const std::string &path);
bool write_file(const std::string &path, const std::string &data);
char pattern_byte(unsigned long long off, unsigned seed);
// "" when the checker finds the image clean, else what it said.
std::string check_image(const Image &img, const std::string &fs);

// Runs fn in a child process as uid:gid with no supplementary groups;
// its return value is the child's exit status, returned here (-1 if the
// child did not exit normally).
int as_user(uid_t uid, gid_t gid, int (*fn)(const std::string &),
	    const std::string &arg);

// A fresh 1 GiB image of the parameter's file system type ("xfs" or
// "ext4"), checked after the test.
class FuseImage : public ::testing::TestWithParam<std::string> {
protected:
	void SetUp() override;
	void TearDown() override;

	std::unique_ptr<Image> img_;
};

} // namespace lkl_test
