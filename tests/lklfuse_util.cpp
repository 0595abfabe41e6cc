#include "lklfuse_util.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

namespace lkl_test {

namespace {
constexpr long fuse_magic = 0x65735546;
}

std::string why_no_fuse()
{
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		return "/dev/fuse is not usable here";
	if (!have("fusermount3"))
		return "fusermount3 is not installed";
	return "";
}

bool is_fuse_mount(const std::string &dir)
{
	struct statfs sf;
	return statfs(dir.c_str(), &sf) == 0 && sf.f_type == fuse_magic;
}

Lklfuse::Lklfuse(const Image &img, const std::string &options)
	: mnt_(img.path() + ".mnt" + std::to_string(++instances)),
	  log_(mnt_ + ".stderr")
{
	mkdir(mnt_.c_str(), 0755);
	pid_ = fork();
	if (pid_ == 0) {
		int fd = open(log_.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
		dup2(fd, 2);
		std::vector<const char *> argv = {LKLFUSE_PATH, img.path().c_str(),
						  mnt_.c_str(), "-f"};
		if (!options.empty()) {
			argv.push_back("-o");
			argv.push_back(options.c_str());
		}
		argv.push_back(nullptr);
		execv(LKLFUSE_PATH, const_cast<char **>(argv.data()));
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {
		if (is_fuse_mount(mnt_)) {
			mounted_ = true;
			return;
		}
		int status;
		if (waitpid(pid_, &status, WNOHANG) == pid_) {
			status_ = status;
			pid_ = -1;
			return;
		}
		usleep(5000);
	}
}

std::string Lklfuse::errors() const
{
	std::string out;
	run("cat '" + log_ + "'", &out);
	return out;
}

void Lklfuse::unmount_fuse_only()
{
	if (mounted_) {
		run("fusermount3 -u '" + mnt_ + "'");
		mounted_ = false;
	}
}

int Lklfuse::unmount()
{
	unmount_fuse_only();
	reap();
	return exit_status();
}

void Lklfuse::reap()
{
	if (pid_ <= 0)
		return;
	int status = 0;
	for (int i = 0; i < 3000; i++) {
		if (waitpid(pid_, &status, WNOHANG) == pid_)
			break;
		if (i == 2999) {
			kill(pid_, SIGKILL);
			waitpid(pid_, &status, 0);
		}
		usleep(10000);
	}
	status_ = status;
	pid_ = -1;
}

void Lklfuse::kill_hard()
{
	kill(pid_, SIGKILL);
	waitpid(pid_, nullptr, 0);
	pid_ = -1;
	run("fusermount3 -u -z '" + mnt_ + "'");
	mounted_ = false;
}

int Lklfuse::exit_status() const
{
	return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

std::string read_file(const std::string &path)
{
	std::string out;
	FILE *f = fopen(path.c_str(), "rb");
	if (!f)
		return "<" + std::string(strerror(errno)) + ">";
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		out.append(buf, n);
	fclose(f);
	return out;
}

bool write_file(const std::string &path, const std::string &data)
{
	FILE *f = fopen(path.c_str(), "wb");
	if (!f)
		return false;
	bool ok = fwrite(data.data(), 1, data.size(), f) == data.size();
	return fclose(f) == 0 && ok;
}

char pattern_byte(unsigned long long off, unsigned seed)
{
	return static_cast<char>((off * 2654435761ULL + seed) >> 9);
}

std::string check_image(const Image &img, const std::string &fs)
{
	std::string out;
	std::string cmd = fs == "xfs" ? "xfs_repair -n '" : "e2fsck -fn '";
	if (run(cmd + img.path() + "'", &out) == 0)
		return "";
	return out;
}

int as_user(uid_t uid, gid_t gid, int (*fn)(const std::string &),
	    const std::string &arg)
{
	pid_t pid = fork();
	if (pid == 0) {
		if (setgroups(0, nullptr) || setgid(gid) || setuid(uid))
			_exit(125);
		_exit(fn(arg));
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void FuseImage::SetUp()
{
	std::string why = why_no_fuse();
	if (!why.empty())
		GTEST_SKIP() << why;
	const std::string &fs = GetParam();
	const char *mkfs = fs == "xfs" ? "mkfs.xfs" : "mkfs.ext4";
	if (!have(mkfs))
		GTEST_SKIP() << mkfs << " is not installed";
	img_ = std::make_unique<Image>(1024 * MiB);
	ASSERT_EQ(img_->format(fs == "xfs" ? "mkfs.xfs -q -f" : "mkfs.ext4 -q -F"), "");
	// The mount point must be reachable by other users.
	chmod(img_->path().substr(0, img_->path().rfind('/')).c_str(), 0755);
}

void FuseImage::TearDown()
{
	if (img_)
		EXPECT_EQ(check_image(*img_, GetParam()), "");
}

} // namespace lkl_test
