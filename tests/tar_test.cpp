// fs2tar and tar2fs, run as the user runs them, on ext4 and XFS images made
// by mkfs and filled by cptofs with a tree of every kind of file: fs2tar's
// archive must hold what GNU tar --xattrs --acls makes of the host's loop
// mount of the same image, entry by entry; tar2fs of that archive into a
// fresh image must give the same tree back (and a clean file system);
// pipes, compression, bad archives and hostile names are checked too.
#include "archive_compare.hpp"
#include "image_util.hpp"
#include "sample_tree.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

const std::string fs2tar = FS2TAR_BIN;
const std::string tar2fs = TAR2FS_BIN;
const std::string cptofs = CPTOFS_BIN;

struct Fs {
	const char *name, *mkfs, *check;
	unsigned long long size;
};
const Fs xfs{"xfs", "mkfs.xfs -q -f", "xfs_repair -n", 320 * MiB};
const Fs ext4{"ext4", "mkfs.ext4 -q -F -b 4096", "e2fsck -fn", 64 * MiB};

void PrintTo(const Fs &fs, std::ostream *os)
{
	*os << fs.name;
}

// XFS shows root the ACLs again as trusted.SGI_ACL_*: GNU tar archives
// them as such, fs2tar (like cp) as the ACLs they are.
const std::set<std::string> xfs_acl_storage = {"trusted.SGI_ACL_FILE",
					       "trusted.SGI_ACL_DEFAULT"};

std::string joined(const std::vector<std::string> &lines)
{
	std::string out;
	for (const std::string &l : lines)
		out += l + "\n";
	return out;
}

class Tar : public ::testing::TestWithParam<Fs> {
protected:
	void SetUp() override
	{
		const Fs &fs = GetParam();
		std::string tool = std::string(fs.mkfs).substr(0, std::string(fs.mkfs).find(' '));
		if (!have(tool.c_str()))
			GTEST_SKIP() << tool << " is not installed";
		std::string why = make_sample_tree(tree_.path());
		if (!why.empty())
			GTEST_SKIP() << why;
		image_ = std::make_unique<Image>(fs.size);
		ASSERT_EQ(image_->format(fs.mkfs), "");
		std::string out;
		ASSERT_EQ(run(cptofs + " -i " + quote(image_->path()) + " " +
				      quote(tree_.path() + "/.") + " /",
			      &out),
			  0)
			<< out;
	}

	// fs2tar of @image into @archive; its output.
	std::string to_archive(const std::string &image, const std::string &archive,
			       int expect = 0)
	{
		std::string out;
		EXPECT_EQ(run(fs2tar + " " + quote(image) + " -o " + quote(archive), &out),
			  expect)
			<< out;
		return out;
	}

	std::map<std::string, ArchiveEntry> read(const std::string &archive)
	{
		std::string error;
		auto entries = read_archive(archive, error);
		EXPECT_EQ(error, "");
		return entries;
	}

	TempDir tree_, work_;
	std::unique_ptr<Image> image_;
};

// The archive holds the tree as it is: checked field by field against what
// was made, whatever the host allows.
TEST_P(Tar, ArchiveKeepsEverything)
{
	to_archive(image_->path(), work_ / "lkl.tar");
	auto a = read(work_ / "lkl.tar");
	ASSERT_TRUE(a.count("./a/f")) << "entries: " << a.size();
	const ArchiveEntry &f = a["./a/f"];
	EXPECT_EQ(f.data, "hello\n");
	EXPECT_EQ(f.uid, 1001u);
	EXPECT_EQ(f.gid, 1002u);
	EXPECT_EQ(f.mtime_nsec, 123456789);
	EXPECT_EQ(f.xattrs.at("user.comment"), "a comment");
	EXPECT_NE(f.acl_access.find("user:1234:rw-"), std::string::npos) << f.acl_access;
	EXPECT_NE(f.acl_access.find("group:5678:r--"), std::string::npos) << f.acl_access;
	EXPECT_EQ(f.links, std::set<std::string>{"./a/f2"});
	EXPECT_NE(a["./a"].acl_default.find("user:1234:rwx"), std::string::npos);
	EXPECT_EQ(a["./a"].mode & 07777, 0750u);
	EXPECT_EQ(a["./a/l"].symlink, "f");
	EXPECT_EQ(a["./a/l"].uid, 1003u);
	EXPECT_EQ(a["./abs"].symlink, "/a/f");
	EXPECT_TRUE(S_ISFIFO(a["./p"].mode));
	EXPECT_TRUE(S_ISCHR(a["./c"].mode));
	EXPECT_EQ(a["./c"].rdev, makedev(1, 3));
	EXPECT_TRUE(S_ISBLK(a["./b"].mode));
	EXPECT_EQ(a["./su"].mode & 07777, 04755u);
	EXPECT_EQ(a["./e"].mode & 07777, 01777u);
	EXPECT_EQ(a["./" + std::string(150, 'n')].data, "x");
	EXPECT_EQ(a["./\xc3\xbc.txt"].data, "y");
	const ArchiveEntry &s = a["./s"];
	EXPECT_TRUE(s.sparse) << "the holes were archived";
	EXPECT_EQ(s.data.size(), 8 * MiB);
	EXPECT_EQ(s.data.substr(0, 4), "data");
	EXPECT_EQ(s.data.substr(5 * MiB, 4), "more");
	EXPECT_EQ(s.xattrs.at("user.bin"), std::string("\x00\xff\x10", 3));
	EXPECT_EQ(a["./big"].data.size(), 300000u);
	EXPECT_TRUE(a.count("."));
}

// Entry by entry what GNU tar makes of the host's loop mount of the image.
TEST_P(Tar, EqualsGnuTarOfLoopMount)
{
	std::string why = no_host_mounts(GetParam().name);
	if (why.empty() && !have("tar"))
		why = "GNU tar is missing";
	if (!why.empty())
		GTEST_SKIP() << why;
	{
		HostMount host(image_->path(), work_ / "mnt", "loop,ro");
		if (!host.mounted())
			GTEST_SKIP() << "the host cannot mount it: " << host.errors();
		std::string out;
		ASSERT_EQ(run("tar --format=posix --xattrs --xattrs-include='*' --acls "
			      "--numeric-owner -C " + quote(work_ / "mnt") + " -cf " +
				      quote(work_ / "gnu.tar") + " .",
			      &out),
			  0)
			<< out;
	}
	to_archive(image_->path(), work_ / "lkl.tar");
	auto gnu = read(work_ / "gnu.tar");
	auto lkl = read(work_ / "lkl.tar");
	EXPECT_GE(gnu.size(), 15u) << "the sample tree has 15 entries";
	EXPECT_EQ(joined(differences(gnu, lkl, xfs_acl_storage)), "");
}

// GNU tar reads the archive without a word, extended attributes included
// (libarchive's own LIBARCHIVE.xattr records draw a warning per file).
TEST_P(Tar, GnuTarReadsItQuietly)
{
	if (!have("tar"))
		GTEST_SKIP() << "GNU tar is missing";
	to_archive(image_->path(), work_ / "lkl.tar");
	std::string said;
	// In braces: run() sends standard error to its output.
	EXPECT_EQ(run("{ tar --xattrs --xattrs-include='*' --acls -tvf " +
			      quote(work_ / "lkl.tar") + " > /dev/null; }",
		      &said),
		  0);
	EXPECT_EQ(said, "");
}

// tar2fs of an archive into a fresh image gives the same tree: archived
// again, it is the same archive; and the file system is clean.
TEST_P(Tar, RoundTripThroughFreshImage)
{
	to_archive(image_->path(), work_ / "a.tar");
	Image fresh(GetParam().size, "fresh.img");
	ASSERT_EQ(fresh.format(GetParam().mkfs), "");
	std::string out;
	ASSERT_EQ(run(tar2fs + " " + quote(fresh.path()) + " " + quote(work_ / "a.tar"), &out),
		  0)
		<< out;
	to_archive(fresh.path(), work_ / "b.tar");
	EXPECT_EQ(joined(differences(read(work_ / "a.tar"), read(work_ / "b.tar"))), "");
	out.clear();
	EXPECT_EQ(run(std::string(GetParam().check) + " " + quote(fresh.path()), &out), 0)
		<< out;
	// The sparse file kept its holes: far fewer blocks than bytes.
	out.clear();
	ASSERT_EQ(run(CPFROMFS_BIN " -i " + quote(fresh.path()) + " /s " +
			      quote(work_ / "s"),
		      &out),
		  0)
		<< out;
	struct stat st;
	ASSERT_EQ(stat((work_ / "s").c_str(), &st), 0);
	EXPECT_LT(st.st_blocks * 512, 1 * (long long)MiB);
}

// Pipes both ways, with compression chosen from the name or asked for.
TEST_P(Tar, PipesAndCompression)
{
	Image fresh(GetParam().size, "fresh.img");
	ASSERT_EQ(fresh.format(GetParam().mkfs), "");
	std::string out;
	ASSERT_EQ(run(fs2tar + " " + quote(image_->path()) + " /a -z zstd | " + tar2fs +
			      " -C / " + quote(fresh.path()),
		      &out),
		  0)
		<< out;
	to_archive(image_->path(), work_ / "x.tar.gz");
	out.clear();
	EXPECT_EQ(run("gzip -t " + quote(work_ / "x.tar.gz"), &out), 0) << out;
	auto gz = read(work_ / "x.tar.gz");
	EXPECT_EQ(gz["./a/f"].data, "hello\n");
	// /a of the image went to / of the fresh one.
	out.clear();
	ASSERT_EQ(run(fs2tar + " " + quote(fresh.path()) + " -o " + quote(work_ / "f.tar"),
		      &out),
		  0)
		<< out;
	auto f = read(work_ / "f.tar");
	EXPECT_EQ(f["./f"].data, "hello\n");
	EXPECT_EQ(f["./f"].links, std::set<std::string>{"./f2"});
	EXPECT_EQ(f["./l"].symlink, "f");
	// The root took /a's owner and mode, as tar -x -C / does with "./".
	EXPECT_EQ(f["."].uid, 1001u);
	EXPECT_EQ(f["."].mode & 07777, 0750u);
}

INSTANTIATE_TEST_SUITE_P(Fs, Tar, ::testing::Values(ext4, xfs),
			 [](const auto &info) { return std::string(info.param.name); });

class TarErrors : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!have("mkfs.ext4"))
			GTEST_SKIP() << "mkfs.ext4 is not installed";
		ASSERT_EQ(image_.format(ext4.mkfs), "");
	}
	Image image_{64 * MiB};
	TempDir work_;
};

TEST_F(TarErrors, NamesWhatFailed)
{
	std::string out;
	EXPECT_EQ(run(fs2tar + " " + quote(image_.path()) + " /nope -o " +
			      quote(work_ / "x.tar"),
		      &out),
		  1);
	EXPECT_NE(out.find("/nope: No such file or directory"), std::string::npos) << out;
	EXPECT_NE(access((work_ / "x.tar").c_str(), F_OK), 0) << "a failed archive was left";
	out.clear();
	EXPECT_EQ(run(fs2tar + " " + quote(work_ / "missing.img") + " -o " +
			      quote(work_ / "x.tar"),
		      &out),
		  1);
	EXPECT_NE(out.find("missing.img: No such file or directory"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(tar2fs + " " + quote(image_.path()) + " " + quote(work_ / "none.tar"),
		      &out),
		  1);
	EXPECT_NE(out.find("none.tar"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(fs2tar + " -z rar " + quote(image_.path()), &out), 2);
	EXPECT_NE(out.find("unknown compression: rar"), std::string::npos) << out;
	out.clear();
	// An empty archive: the directory is what fails.
	EXPECT_EQ(run("tar -cf - -T /dev/null | " + tar2fs + " -C /nodir " +
			      quote(image_.path()) + " -",
		      &out),
		  1);
	EXPECT_NE(out.find("/nodir: No such file or directory"), std::string::npos) << out;
}

// A truncated archive: what came before it is unpacked, the failure named,
// the status 1 and the file system clean.
TEST_F(TarErrors, TruncatedArchive)
{
	TempDir src;
	std::string out;
	ASSERT_EQ(run("cd " + quote(src.path()) + " && printf one > one && head -c 200000 "
		      "/dev/urandom > two && tar --format=posix -cf " +
			      quote(work_ / "t.tar") + " one two && truncate -s 100000 " +
			      quote(work_ / "t.tar"),
		      &out),
		  0)
		<< out;
	out.clear();
	EXPECT_EQ(run(tar2fs + " " + quote(image_.path()) + " " + quote(work_ / "t.tar"), &out),
		  1);
	EXPECT_NE(out.find("t.tar"), std::string::npos) << out;
	out.clear();
	ASSERT_EQ(run(fs2tar + " " + quote(image_.path()) + " -o " + quote(work_ / "back.tar"),
		      &out),
		  0)
		<< out;
	std::string error;
	auto back = read_archive(work_ / "back.tar", error);
	EXPECT_EQ(back["./one"].data, "one");
	out.clear();
	EXPECT_EQ(run("e2fsck -fn " + quote(image_.path()), &out), 0) << out;
}

// Names that climb out of the directory are refused; the rest goes in.
TEST_F(TarErrors, DotDotIsRefused)
{
	TempDir src;
	std::string out;
	ASSERT_EQ(run("mkdir -p " + quote(src / "d") + " && printf in > " + quote(src / "d/in") +
			      " && printf evil > " + quote(src / "evil") + " && cd " +
			      quote(src / "d") + " && tar --format=posix -cPf " +
			      quote(work_ / "e.tar") + " in ../evil",
		      &out),
		  0)
		<< out;
	out.clear();
	ASSERT_EQ(run("mkdir " + quote(src / "sub") + " && " + cptofs + " -i " +
			      quote(image_.path()) + " " + quote(src / "sub") + " /",
		      &out),
		  0)
		<< out;
	out.clear();
	EXPECT_EQ(run(tar2fs + " -C /sub " + quote(image_.path()) + " " + quote(work_ / "e.tar"),
		      &out),
		  1);
	EXPECT_NE(out.find("../evil"), std::string::npos) << out;
	out.clear();
	ASSERT_EQ(run(fs2tar + " " + quote(image_.path()) + " -o " + quote(work_ / "back.tar"),
		      &out),
		  0)
		<< out;
	std::string error;
	auto back = read_archive(work_ / "back.tar", error);
	EXPECT_EQ(back["./sub/in"].data, "in");
	EXPECT_FALSE(back.count("./evil"));
}

} // namespace
