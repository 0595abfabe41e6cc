// cptofs and cpfromfs, run as the user runs them: trees copied into XFS and
// ext4 images made by mkfs and back out to the host must come back
// identical (content, modes, owners, ns times, links, holes, xattrs, ACLs,
// special files), the images must pass their checkers, and failures must
// be named, survived and leave the image clean.
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <iostream>
#include <thread>
#include <tuple>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

using lkl_test::have;
using lkl_test::Image;
using lkl_test::quote;
using lkl_test::run_on_image;
using lkl_test::Result;
using lkl_test::run;
using lkl_test::TempDir;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

const std::string cptofs = CPTOFS_BIN;
const std::string cpfromfs = CPFROMFS_BIN;

struct Fs {
	const char *name;
	const char *mkfs;
	const char *check; // read-only checker, exit 0 when clean
};

void PrintTo(const Fs &fs, std::ostream *os)
{
	*os << fs.name;
}

const Fs xfs{"xfs", "mkfs.xfs -q -f", "xfs_repair -n"};
const Fs ext4{"ext4", "mkfs.ext4 -q -F", "e2fsck -fn"};

// Makes a fresh image of fs, or says why the test cannot run.
std::string make_image(const Fs &fs, const Image &image)
{
	std::string tool = std::string(fs.mkfs).substr(0, std::string(fs.mkfs).find(' '));
	if (!have(tool.c_str()) ||
	    !have(std::string(fs.check).substr(0, std::string(fs.check).find(' ')).c_str()))
		return tool + " or the checker is missing";
	std::string err = image.format(fs.mkfs);
	return err.empty() ? "" : "mkfs failed: " + err;
}

// The checker's verdict: "" when clean, else what it printed.
std::string check_image(const Fs &fs, const Image &image)
{
	std::string out;
	if (run(std::string(fs.check) + " " + quote(image.path()), &out) == 0)
		return "";
	return out;
}

std::string read_file(const std::string &path)
{
	int fd = open(path.c_str(), O_RDONLY | O_NOATIME);
	if (fd < 0)
		fd = open(path.c_str(), O_RDONLY);
	std::string data;
	if (fd < 0)
		return data;
	char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		data.append(buf, static_cast<size_t>(n));
	close(fd);
	return data;
}

void write_file(const std::string &path, const std::string &data,
		mode_t mode = 0644)
{
	int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, mode);
	ASSERT_GE(fd, 0) << path << ": " << strerror(errno);
	ASSERT_EQ(write(fd, data.data(), data.size()),
		  static_cast<ssize_t>(data.size()));
	close(fd);
}

std::map<std::string, std::string> xattrs(const std::string &path)
{
	std::map<std::string, std::string> all;
	ssize_t len = llistxattr(path.c_str(), nullptr, 0);
	if (len <= 0)
		return all;
	std::vector<char> names(static_cast<size_t>(len));
	len = llistxattr(path.c_str(), names.data(), names.size());
	for (ssize_t i = 0; i < len; i += static_cast<ssize_t>(strlen(&names[i])) + 1) {
		const char *name = &names[i];
		std::vector<char> value(65536);
		ssize_t n = lgetxattr(path.c_str(), name, value.data(), value.size());
		all[name] = n < 0 ? "<error>" : std::string(value.data(), n);
	}
	return all;
}

std::vector<std::string> names_in(const std::string &dir)
{
	std::vector<std::string> names;
	if (DIR *d = opendir(dir.c_str())) {
		while (const struct dirent *e = readdir(d))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				names.emplace_back(e->d_name);
		closedir(d);
	}
	std::sort(names.begin(), names.end());
	return names;
}

bool same_time(const struct timespec &a, const struct timespec &b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

// Compares two host trees entry by entry; collects what differs.
class TreeCompare {
public:
	// atime: compare access times too (not for trees other programs may
	// be reading meanwhile); owner: compare owners (needs root to copy).
	TreeCompare(bool atime, bool owner) : atime_(atime), owner_(owner) {}

	void compare(const std::string &a, const std::string &b)
	{
		struct stat sa, sb;
		if (lstat(a.c_str(), &sa) || lstat(b.c_str(), &sb)) {
			problem(b, "missing");
			return;
		}
		entries_++;
		if (sa.st_mode != sb.st_mode)
			problem(b, "mode " + std::to_string(sb.st_mode) + " != " +
					   std::to_string(sa.st_mode));
		if (owner_ && (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid))
			problem(b, "owner");
		if (!same_time(sa.st_mtim, sb.st_mtim))
			problem(b, "mtime");
		if (atime_ && !same_time(sa.st_atim, sb.st_atim))
			problem(b, "atime");
		if (xattrs(a) != xattrs(b))
			problem(b, "xattrs");
		if (S_ISLNK(sa.st_mode)) {
			char ta[4096] = {}, tb[4096] = {};
			if (readlink(a.c_str(), ta, sizeof(ta)) < 0 ||
			    readlink(b.c_str(), tb, sizeof(tb)) < 0 || strcmp(ta, tb))
				problem(b, "link target");
		} else if (S_ISREG(sa.st_mode)) {
			if (sa.st_size != sb.st_size || read_file(a) != read_file(b))
				problem(b, "content");
			if (sa.st_nlink > 1 || sb.st_nlink > 1)
				same_link_groups(b, sa.st_ino, sb.st_ino);
		} else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
			if (sa.st_rdev != sb.st_rdev)
				problem(b, "device number");
		} else if (S_ISDIR(sa.st_mode)) {
			auto na = names_in(a), nb = names_in(b);
			if (na != nb)
				problem(b, "directory entries differ");
			for (const std::string &n : na)
				compare(a + "/" + n, b + "/" + n);
		}
	}

	// The differences, one a line (empty when the trees match).
	std::string problems() const { return problems_; }
	int entries() const { return entries_; }

private:
	// Hard links: the same grouping of names on both sides.
	void same_link_groups(const std::string &b, ino_t ia, ino_t ib)
	{
		auto [fa, new_a] = a_to_b_.emplace(ia, ib);
		auto [fb, new_b] = b_to_a_.emplace(ib, ia);
		if (fa->second != ib || fb->second != ia || new_a != new_b)
			problem(b, "hard links differ");
	}

	void problem(const std::string &path, const std::string &what)
	{
		if (++count_ <= 20)
			problems_ += path + ": " + what + "\n";
	}

	bool atime_, owner_;
	int entries_ = 0, count_ = 0;
	std::string problems_;
	std::map<ino_t, ino_t> a_to_b_, b_to_a_;
};

void set_times(const std::string &path, long sec_ago, long nsec)
{
	time_t now = time(nullptr);
	// An access time after the change time: relatime then leaves it
	// alone when the trees are read, so that it can be compared.
	const struct timespec ts[2] = {{now + 3600, nsec},
				       {now - sec_ago, 999999999 - nsec}};
	ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW), 0)
		<< path << ": " << strerror(errno);
}

// A small tree with every kind of thing the copy must keep. Returns what
// was left out (e.g. ACLs without setfacl), for the test to print.
std::string build_crafted_tree(const std::string &root)
{
	std::string left_out;
	bool is_root = geteuid() == 0;
	mkdir(root.c_str(), 0755);
	mkdir((root + "/sub").c_str(), 0750);
	mkdir((root + "/sub/deeper").c_str(), 0700);
	mkdir((root + "/emptydir").c_str(), 0711);
	mkdir((root + "/readonly").c_str(), 0755);

	write_file(root + "/plain", "hello, image\n", 0640);
	write_file(root + "/empty", "");
	write_file(root + "/readonly/inside", "in a 0555 directory\n");
	chmod((root + "/readonly").c_str(), 0555);
	write_file(root + "/setuid", "#!/bin/sh\n", 0755);
	chmod((root + "/setuid").c_str(), 04755);
	std::string big(3 * MiB + 12345, '\0');
	for (size_t i = 0; i < big.size(); i++)
		big[i] = static_cast<char>(i * 2654435761u >> 13);
	write_file(root + "/sub/big", big);

	// Sparse: data at 0 and at 32 MiB, a hole up to 64 MiB.
	int fd = open((root + "/sparse").c_str(), O_CREAT | O_WRONLY, 0644);
	std::string block(4096, 'S');
	pwrite(fd, block.data(), block.size(), 0);
	pwrite(fd, block.data(), block.size(), 32 * MiB);
	ftruncate(fd, 64 * MiB);
	close(fd);

	// Hard links: a pair across directories and a group of three.
	write_file(root + "/hl1", "linked twice\n");
	link((root + "/hl1").c_str(), (root + "/sub/hl2").c_str());
	write_file(root + "/tri1", "linked three times\n");
	link((root + "/tri1").c_str(), (root + "/tri2").c_str());
	link((root + "/tri1").c_str(), (root + "/sub/deeper/tri3").c_str());

	symlink("plain", (root + "/link-rel").c_str());
	symlink("/etc/passwd", (root + "/link-abs").c_str());
	symlink("no/such/target", (root + "/dangling").c_str());
	symlink("../plain", (root + "/sub/link-up").c_str());
	mkfifo((root + "/fifo").c_str(), 0620);
	if (is_root)
		mknod((root + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3));
	else
		left_out += "device nodes (not root); ";

	write_file(root + "/with space", "s\n");
	write_file(root + "/new\nline", "n\n");
	write_file(root + "/latin1-\xe9\xff", "l\n");
	write_file(root + "/utf8-\xc3\xbc", "u\n");

	std::string bin("a\0b\xff", 4);
	if (lsetxattr((root + "/plain").c_str(), "user.text", "value", 5, 0) ||
	    lsetxattr((root + "/plain").c_str(), "user.binary", bin.data(),
		      bin.size(), 0) ||
	    lsetxattr((root + "/sub").c_str(), "user.dir", "d", 1, 0))
		left_out += "user xattrs (" + std::string(strerror(errno)) + "); ";
	if (have("setfacl")) {
		if (run("setfacl -m u:1234:rwx,g:5678:r " + quote(root + "/plain")) ||
		    run("setfacl -d -m u:1234:rx " + quote(root + "/sub")))
			left_out += "ACLs (setfacl failed); ";
	} else {
		left_out += "ACLs (setfacl missing: install the acl package); ";
	}
	if (is_root) {
		lchown((root + "/plain").c_str(), 1234, 5678);
		lchown((root + "/link-rel").c_str(), 4321, 8765);
		lchown((root + "/sub").c_str(), 1000, 1000);
	}

	// Times last, directories after their contents, all to the ns.
	long n = 1;
	std::vector<std::string> dirs;
	std::vector<std::string> todo{root};
	while (!todo.empty()) {
		std::string dir = todo.back();
		todo.pop_back();
		dirs.push_back(dir);
		for (const std::string &name : names_in(dir)) {
			std::string path = dir + "/" + name;
			struct stat st;
			lstat(path.c_str(), &st);
			if (S_ISDIR(st.st_mode))
				todo.push_back(path);
			else
				set_times(path, 86400 + n * 1000, n * 12345679 % 1000000000);
			n++;
		}
	}
	for (auto it = dirs.rbegin(); it != dirs.rend(); ++it, n++)
		set_times(*it, 86400 + n * 1000, n * 12345679 % 1000000000);
	return left_out;
}

// A tool's exit status and everything it printed.
class RoundTrip : public ::testing::TestWithParam<Fs> {
protected:
	void SetUp() override
	{
		std::string why = make_image(GetParam(), image_);
		if (!why.empty())
			GTEST_SKIP() << why;
	}

	// Copies the host tree src into the image's root and back out to
	// out, checking the image each time, and compares the trees.
	void round_trip(const std::string &src, const std::string &out,
			bool atime)
	{
		Result in = run_on_image(cptofs, image_.path(), quote(src) + " /");
		ASSERT_EQ(in.status, 0) << in.output;
		EXPECT_EQ(check_image(GetParam(), image_), "");
		std::string name = src.substr(src.rfind('/'));
		Result back = run_on_image(cpfromfs, image_.path(), quote(name) + " " + quote(out));
		ASSERT_EQ(back.status, 0) << back.output;
		TreeCompare cmp(atime, geteuid() == 0);
		cmp.compare(src, out);
		EXPECT_EQ(cmp.problems(), "");
		entries_ = cmp.entries();
		EXPECT_EQ(check_image(GetParam(), image_), "");
	}

	Image image_{2048 * MiB};
	TempDir host_;
	int entries_ = 0;
};

// The real tree of a Debian system: thousands of headers and a few links.
TEST_P(RoundTrip, UsrInclude)
{
	const std::string src = "/usr/include";
	struct stat st;
	if (stat(src.c_str(), &st))
		GTEST_SKIP() << src << " is missing";
	// Other programs read /usr/include meanwhile: no access times.
	round_trip(src, host_ / "include", false);
	EXPECT_GT(entries_, 1000);
}

TEST_P(RoundTrip, CraftedTree)
{
	std::string tree = host_ / "tree";
	std::string left_out = build_crafted_tree(tree);
	if (!left_out.empty())
		std::cout << "not covered here: " << left_out << "\n";

	std::string out = host_ / "out";
	round_trip(tree, out, true);
	ASSERT_FALSE(HasFatalFailure());

	// The holes came back as holes.
	std::string sparse = out + "/sparse";
	struct stat st;
	ASSERT_EQ(stat(sparse.c_str(), &st), 0);
	EXPECT_EQ(st.st_size, static_cast<off_t>(64 * MiB));
	EXPECT_LE(st.st_blocks * 512, static_cast<blkcnt_t>(MiB)) << "holes filled";
	int fd = open(sparse.c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	EXPECT_LT(lseek(fd, 0, SEEK_HOLE), static_cast<off_t>(32 * MiB));
	EXPECT_EQ(lseek(fd, 4096, SEEK_DATA), static_cast<off_t>(32 * MiB));
	close(fd);
	struct stat hl1, hl2;
	ASSERT_EQ(lstat((out + "/hl1").c_str(), &hl1), 0);
	ASSERT_EQ(lstat((out + "/sub/hl2").c_str(), &hl2), 0);
	EXPECT_EQ(hl1.st_ino, hl2.st_ino);
	EXPECT_EQ(hl1.st_nlink, 2u);
	if (have("setfacl"))
		EXPECT_EQ(xattrs(out + "/sub").count("system.posix_acl_default"), 1u);
}

INSTANTIATE_TEST_SUITE_P(Images, RoundTrip, ::testing::Values(xfs, ext4),
			 [](const auto &info) { return info.param.name; });

class Cptofs : public ::testing::Test {
protected:
	void SetUp() override
	{
		std::string why = make_image(xfs, image_);
		if (!why.empty())
			GTEST_SKIP() << why;
	}

	// Copies the whole image out: each file (by path in the image)
	// holds the text given.
	void expect_image_holds(const std::map<std::string, std::string> &files)
	{
		TempDir all;
		Result r = run_on_image(cpfromfs, image_.path(), "/ " + quote(all.path()));
		ASSERT_EQ(r.status, 0) << r.output;
		for (const auto &[name, text] : files)
			EXPECT_EQ(read_file(all / name), text) << name;
	}

	Image image_{512 * MiB};
	TempDir host_;
};

TEST_F(Cptofs, OwnerAndGroupOverride)
{
	if (geteuid() != 0)
		GTEST_SKIP() << "giving files to other users needs root";
	std::string tree = host_ / "tree";
	build_crafted_tree(tree);
	Result in = run_on_image(cptofs, image_.path(), "-o 1234 -g 5678 " + quote(tree) + " /");
	ASSERT_EQ(in.status, 0) << in.output;

	const struct passwd *nobody = getpwnam("nobody");
	std::string owner = nobody ? "-o nobody" : "--owner 77";
	uid_t uid = nobody ? nobody->pw_uid : 77;
	std::string out = host_ / "out";
	Result back = run_on_image(cpfromfs, image_.path(), "/tree/sub " + quote(out));
	ASSERT_EQ(back.status, 0) << back.output;
	Result back_owned = run_on_image(cpfromfs, image_.path(),
				 owner + " --group 99 /tree " + quote(host_ / "owned"));
	ASSERT_EQ(back_owned.status, 0) << back_owned.output;

	for (const auto &[path, want_uid, want_gid] :
	     {std::tuple{out, 1234u, 5678u},
	      std::tuple{out + "/link-up", 1234u, 5678u},
	      std::tuple{out + "/deeper/tri3", 1234u, 5678u},
	      std::tuple{host_ / "owned/plain", static_cast<unsigned>(uid), 99u},
	      std::tuple{host_ / "owned/link-rel", static_cast<unsigned>(uid), 99u}}) {
		struct stat st;
		ASSERT_EQ(lstat(path.c_str(), &st), 0) << path;
		EXPECT_EQ(st.st_uid, want_uid) << path;
		EXPECT_EQ(st.st_gid, want_gid) << path;
	}
	EXPECT_EQ(check_image(xfs, image_), "");
}

TEST_F(Cptofs, SingleFileAndNewNames)
{
	write_file(host_ / "a", "first\n", 0600);
	write_file(host_ / "b", "second\n", 0644);
	mkdir((host_ / "d").c_str(), 0755);
	write_file(host_ / "d/c", "third\n");

	// One source to a new name; several into a directory; a directory
	// to a new name; "dir/." copies the contents.
	ASSERT_EQ(run_on_image(cptofs, image_.path(), quote(host_ / "a") + " /renamed").status, 0);
	ASSERT_EQ(run(cptofs + " -i " + quote(image_.path()) + " --filesystem-type xfs " +
		      quote(host_ / "a") + " " + quote(host_ / "b") + " /"),
		  0);
	ASSERT_EQ(run_on_image(cptofs, image_.path(), quote(host_ / "d") + " /newdir").status, 0);
	ASSERT_EQ(run_on_image(cptofs, image_.path(), quote(host_ / "d/.") + " /").status, 0);
	// Replacing an existing file.
	write_file(host_ / "a", "replaced\n", 0600);
	ASSERT_EQ(run_on_image(cptofs, image_.path(), quote(host_ / "a") + " /renamed").status, 0);

	Result many = run_on_image(cptofs, image_.path(),
			   quote(host_ / "a") + " " + quote(host_ / "b") + " /renamed");
	EXPECT_NE(many.status, 0);
	EXPECT_NE(many.output.find("/renamed"), std::string::npos) << many.output;

	expect_image_holds({{"renamed", "replaced\n"},
			    {"a", "first\n"},
			    {"b", "second\n"},
			    {"newdir/c", "third\n"},
			    {"c", "third\n"}});
	EXPECT_EQ(check_image(xfs, image_), "");
}

// Paths in the image resolve links inside the image, absolute ones too;
// a link to a directory as DST is copied into, and a link as SRC is copied
// as a link.
TEST_F(Cptofs, LinksInImagePaths)
{
	std::string tree = host_ / "tree";
	mkdir(tree.c_str(), 0755);
	mkdir((tree + "/real").c_str(), 0755);
	mkdir((tree + "/real/sub").c_str(), 0755);
	symlink("/real", (tree + "/abs").c_str());
	symlink("real", (tree + "/rel").c_str());
	symlink("/abs/sub", (tree + "/deep").c_str());
	symlink("../../abs/./sub/..", (tree + "/real/sub/up").c_str());
	ASSERT_EQ(run_on_image(cptofs, image_.path(), quote(tree + "/.") + " /").status, 0);

	for (const char *name : {"f1", "f2", "f3", "f4", "f5"})
		write_file(host_ / name, std::string(name) + "\n");
	for (const auto &[file, dst] : {std::pair{"f1", "/abs"},
					std::pair{"f2", "/rel/renamed2"},
					std::pair{"f3", "/abs/renamed3"},
					std::pair{"f4", "/deep"},
					std::pair{"f5", "/real/sub/up/renamed5"}}) {
		Result r = run_on_image(cptofs, image_.path(), quote(host_ / file) + " " + dst);
		EXPECT_EQ(r.status, 0) << dst << ": " << r.output;
	}

	TempDir out;
	Result back = run_on_image(cpfromfs, image_.path(),
			   "/abs/f1 /deep/f4 /abs " + quote(out.path()));
	ASSERT_EQ(back.status, 0) << back.output;
	EXPECT_EQ(read_file(out / "f1"), "f1\n");
	EXPECT_EQ(read_file(out / "f4"), "f4\n");
	// The link used as DST is still the link.
	char target[64] = {};
	EXPECT_GT(readlink((out / "abs").c_str(), target, sizeof(target)), 0);
	EXPECT_STREQ(target, "/real");

	expect_image_holds({{"real/f1", "f1\n"},
			    {"real/renamed2", "f2\n"},
			    {"real/renamed3", "f3\n"},
			    {"real/sub/f4", "f4\n"},
			    {"real/renamed5", "f5\n"}});
	EXPECT_EQ(check_image(xfs, image_), "");
}

TEST_F(Cptofs, MissingSourceIsNamedAndTheRestCopied)
{
	write_file(host_ / "one", "1\n");
	write_file(host_ / "two", "2\n");
	Result r = run_on_image(cptofs, image_.path(),
			quote(host_ / "one") + " " + quote(host_ / "nonexistent") +
				" " + quote(host_ / "two") + " /");
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.output.find("cptofs: " + (host_ / "nonexistent") +
				": No such file or directory"),
		  std::string::npos)
		<< r.output;
	EXPECT_EQ(check_image(xfs, image_), "");

	TempDir out;
	Result back = run_on_image(cpfromfs, image_.path(),
			   "/one /missing-in-image /two " + quote(out.path()));
	EXPECT_EQ(back.status, 1);
	EXPECT_NE(back.output.find("cpfromfs: /missing-in-image: No such file or directory"),
		  std::string::npos)
		<< back.output;
	EXPECT_EQ(read_file(out / "one"), "1\n");
	EXPECT_EQ(read_file(out / "two"), "2\n");
	EXPECT_EQ(check_image(xfs, image_), "");
}

// Files the user may not read are named, the rest is copied; back out, an
// owner the user may not give is no failure (as with cp -a).
TEST_F(Cptofs, UnreadableFilesAsAUser)
{
	std::string as_user;
	if (geteuid() == 0) {
		// Root reads everything: drop to nobody for the copy.
		if (!have("setpriv"))
			GTEST_SKIP() << "setpriv is missing: cannot drop root";
		as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
		if (run(as_user + cptofs + " --version"))
			GTEST_SKIP() << "nobody cannot run " << cptofs;
		std::string dir = image_.path().substr(0, image_.path().rfind('/'));
		ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
		ASSERT_EQ(chmod(image_.path().c_str(), 0666), 0);
		ASSERT_EQ(chmod(host_.path().c_str(), 0777), 0);
	}
	std::string tree = host_ / "tree";
	mkdir(tree.c_str(), 0755);
	write_file(tree + "/ok", "readable\n");
	write_file(tree + "/secret", "x\n", 0000);
	mkdir((tree + "/closed").c_str(), 0700);
	write_file(tree + "/closed/inner", "x\n");
	if (geteuid() != 0)
		chmod((tree + "/closed").c_str(), 0000);

	Result r = run_on_image(as_user + cptofs, image_.path(), quote(tree) + " /");
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.output.find("cptofs: " + tree + "/secret: Permission denied"),
		  std::string::npos)
		<< r.output;
	EXPECT_NE(r.output.find("cptofs: " + tree + "/closed: Permission denied"),
		  std::string::npos)
		<< r.output;
	EXPECT_EQ(check_image(xfs, image_), "");

	Result back = run_on_image(as_user + cpfromfs, image_.path(),
			   "/tree " + quote(host_ / "out"));
	EXPECT_EQ(back.status, 0) << back.output;
	EXPECT_EQ(read_file(host_ / "out/ok"), "readable\n");
}

TEST_F(Cptofs, ImageHeldByAnotherProcessIsBusy)
{
	int fd = open(image_.path().c_str(), O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(flock(fd, LOCK_EX), 0);
	write_file(host_ / "f", "f\n");
	Result r = run_on_image(cptofs, image_.path(), quote(host_ / "f") + " /");
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.output.find("in use by another process"), std::string::npos)
		<< r.output;
	Result r2 = run_on_image(cpfromfs, image_.path(), "/ " + quote(host_.path()));
	EXPECT_EQ(r2.status, 1);
	EXPECT_NE(r2.output.find("in use by another process"), std::string::npos)
		<< r2.output;
	close(fd);
}

TEST_F(Cptofs, SignalStopsTheCopyAndUnmountsCleanly)
{
	const std::string src = "/usr/include";
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(null, 2);
		execl(cptofs.c_str(), "cptofs", "-i", image_.path().c_str(),
		      src.c_str(), "/", nullptr);
		_exit(127);
	}
	std::this_thread::sleep_for(std::chrono::milliseconds(300));
	kill(pid, SIGTERM);
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 0)
		GTEST_SKIP() << "the copy finished before the signal came";
	EXPECT_EQ(WEXITSTATUS(status), 143);
	EXPECT_EQ(check_image(xfs, image_), "");
}

TEST(CptofsErrors, MissingImage)
{
	Result r = run_on_image(cptofs, "/nonexistent/disk.img", "/etc/hostname /");
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.output.find("/nonexistent/disk.img: No such file or directory"),
		  std::string::npos)
		<< r.output;
}

TEST(CptofsErrors, UnrecognisedImage)
{
	Image image(64 * MiB);
	std::string junk(MiB, '\0');
	for (size_t i = 0; i < junk.size(); i++)
		junk[i] = static_cast<char>(i * 7919 >> 3);
	write_file(image.path(), junk);
	Result r = run_on_image(cpfromfs, image.path(), "/ /tmp");
	EXPECT_EQ(r.status, 1);
	EXPECT_NE(r.output.find("no xfs, ext4, btrfs or vfat file system found"),
		  std::string::npos)
		<< r.output;
	Result typed = run_on_image(cptofs, image.path(), "-t xfs /etc/hostname /");
	EXPECT_EQ(typed.status, 1);
	EXPECT_NE(typed.output.find("cannot mount as xfs"), std::string::npos)
		<< typed.output;
}

TEST(CptofsErrors, Usage)
{
	std::string out;
	EXPECT_EQ(run(cptofs + " --help", &out), 0);
	EXPECT_NE(out.find("usage: cptofs -i IMAGE"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(cpfromfs + " -h", &out), 0);
	EXPECT_NE(out.find("usage: cpfromfs -i IMAGE"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(cptofs + " --version", &out), 0);
	EXPECT_NE(out.find("cptofs (lkl)"), std::string::npos) << out;
	EXPECT_EQ(run(cptofs + " /etc/hostname /"), 2) << "no image";
	EXPECT_EQ(run(cptofs + " -i x.img /etc/hostname"), 2) << "no destination";
	EXPECT_EQ(run(cptofs + " --bogus"), 2);

	// The name it runs under decides the direction.
	TempDir dir;
	ASSERT_EQ(symlink(cptofs.c_str(), (dir / "cpfromfs").c_str()), 0);
	out.clear();
	EXPECT_EQ(run(quote(dir / "cpfromfs") + " --help", &out), 0);
	EXPECT_NE(out.find("usage: cpfromfs"), std::string::npos) << out;
}

} // namespace
