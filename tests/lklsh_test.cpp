// lklsh, run as the user runs it: scripted sessions on images made by mkfs
// with their exact expected output, errors that stop a script (or not, with
// "-"), one command after "--" on a read-only image, a second disk mounted
// into the tree, and a tar-out/tar-in round trip of a tree of every kind
// of file, compared entry by entry.
#include "archive_compare.hpp"
#include "image_util.hpp"
#include "sample_tree.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <string>

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace lkl_test;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;
const std::string lklsh = LKLSH_BIN;

class Lklsh : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!have("mkfs.ext4"))
			GTEST_SKIP() << "mkfs.ext4 is not installed";
		ASSERT_EQ(image_.format("mkfs.ext4 -q -F"), "");
	}

	// Runs lklsh with @args and @script on standard input; its status,
	// with standard output and error apart.
	int shell(const std::string &args, const std::string &script, std::string &out,
		  std::string &err)
	{
		{
			std::ofstream(work_ / "script") << script;
		}
		// In braces: run() sends standard error to its output.
		int status = run("{ " + lklsh + " " + args + " < " + quote(work_ / "script") +
				 " > " + quote(work_ / "out") + " 2> " + quote(work_ / "err") +
				 "; }");
		out = read_text(work_ / "out");
		err = read_text(work_ / "err");
		return status;
	}

	Image image_{64 * MiB};
	TempDir work_;
};

TEST_F(Lklsh, ScriptedSession)
{
	std::string out, err;
	ASSERT_EQ(shell("-a " + quote(image_.path()),
			"# a comment line\n"
			"mkdir -p /d/sub\n"
			"write /d/f \"one\\ntwo\\nthree\\n\"\n"
			"cd /d\n"
			"pwd\n"
			"head -n 2 f\n"
			"cp f sub/g\n"
			"mv sub/g sub/h\n"
			"ln -s f lnk\n"
			"ln f hard\n"
			"chmod 640 f\n"
			"chown 7:8 f\n"
			"setfattr -n user.k -v 'a value' f\n"
			"getfattr f\n"
			"getfattr -d -n user.k f\n"
			"find /d\n"
			"ls\n"
			"cat sub/h\n"
			"rm -r sub\n"
			"ls /d\n"
			"echo \"done\" # trailing comment\n",
			out, err),
		  0)
		<< err;
	EXPECT_EQ(out, "/d\n"
		       "one\ntwo\n"
		       "# file: f\nuser.k=\"a value\"\n"
		       "# file: f\nuser.k=\"a value\"\n"
		       "/d\n/d/f\n/d/hard\n/d/lnk\n/d/sub\n/d/sub/h\n"
		       "f\nhard\nlnk\nsub\n"
		       "one\ntwo\nthree\n"
		       "f\nhard\nlnk\n"
		       "done\n");
	EXPECT_EQ(err, "");

	// What the session left is what the host's e2fsprogs see: owner,
	// mode, link count, a clean file system.
	std::string check;
	EXPECT_EQ(run("e2fsck -fn " + quote(image_.path()), &check), 0) << check;
	check.clear();
	ASSERT_EQ(run("debugfs -R 'stat /d/f' " + quote(image_.path()) + " 2>/dev/null", &check), 0);
	EXPECT_NE(check.find("Mode:  0640"), std::string::npos) << check;
	EXPECT_NE(check.find("User:     7   Group:     8"), std::string::npos) << check;
	EXPECT_NE(check.find("Links: 2"), std::string::npos) << check;
}

// The first failure stops a script, naming the line, the command, the path
// and the error; "-" lets a command fail.
TEST_F(Lklsh, FirstErrorStopsTheScript)
{
	std::string out, err;
	EXPECT_EQ(shell("-a " + quote(image_.path()),
			"echo before\nls /nope\necho after\n", out, err),
		  1);
	EXPECT_EQ(out, "before\n");
	EXPECT_EQ(err, "lklsh: stdin:2: ls: /nope: No such file or directory\n");

	EXPECT_EQ(shell("-a " + quote(image_.path()),
			"-cat /nope\nmkdir /x\n-mkdir /x\necho after\n", out, err),
		  0);
	EXPECT_EQ(out, "after\n");
	EXPECT_EQ(err, "lklsh: stdin:1: cat: /nope: No such file or directory\n"
		       "lklsh: stdin:3: mkdir: /x: File exists\n");

	EXPECT_EQ(shell("-a " + quote(image_.path()), "frobnicate /\n", out, err), 1);
	EXPECT_NE(err.find("frobnicate"), std::string::npos) << err;
	// An option getfattr does not know is not taken for a path.
	EXPECT_EQ(shell("-a " + quote(image_.path()), "getfattr -x /\n", out, err), 1);
	EXPECT_NE(err.find("usage: getfattr"), std::string::npos) << err;
	EXPECT_EQ(shell("-a " + quote(image_.path()), "write /x 'unclosed\n", out, err), 1);
	EXPECT_NE(err.find("unclosed"), std::string::npos) << err;
}

// "--" runs one command; --ro never writes the image.
TEST_F(Lklsh, OneCommandReadOnly)
{
	std::string out, err;
	ASSERT_EQ(shell("-a " + quote(image_.path()),
			"mkdir /etc\nwrite /etc/os-release \"ID=test\\n\"\n", out, err),
		  0)
		<< err;
	std::string before = image_.sha256();
	EXPECT_EQ(shell("-a " + quote(image_.path()) + " --ro -- cat /etc/os-release", "", out,
			err),
		  0)
		<< err;
	EXPECT_EQ(out, "ID=test\n");
	EXPECT_EQ(shell("-a " + quote(image_.path()) + " --ro -- write /etc/x 'y'", "", out, err),
		  1);
	EXPECT_EQ(err, "lklsh: write: /etc/x: Read-only file system\n");
	EXPECT_EQ(image_.sha256(), before) << "a read-only session wrote the image";
}

// A second disk mounted on a directory of the first, by -m and by mount.
TEST_F(Lklsh, SecondDiskMounted)
{
	if (!have("mkfs.vfat"))
		GTEST_SKIP() << "mkfs.vfat is not installed";
	Image second(64 * MiB, "second.img");
	ASSERT_EQ(second.format("mkfs.vfat"), "");
	std::string out, err;
	std::string both = "-a " + quote(image_.path()) + " -a " + quote(second.path());
	ASSERT_EQ(shell(both,
			"mkdir /data\n"
			"mount vdb /data\n"
			"write /data/x 'on vfat'\n"
			"mounts\n"
			"umount /data\n"
			"-cat /data/x\n"
			"list-filesystems\n",
			out, err),
		  0)
		<< err;
	EXPECT_EQ(out, "vda on / type ext4 (rw)\nvdb on /data type vfat (rw)\n"
		       "vda: ext4\nvdb: vfat\n");
	EXPECT_EQ(err, "lklsh: stdin:6: cat: /data/x: No such file or directory\n");
	ASSERT_EQ(shell(both + " -m vda -m vdb:/data -- cat /data/x", "", out, err), 0) << err;
	EXPECT_EQ(out, "on vfat");
}

// upload and download, through files and standard input and output.
TEST_F(Lklsh, UploadDownload)
{
	std::string out, err;
	ASSERT_EQ(run("head -c 3000000 /dev/urandom > " + quote(work_ / "blob")), 0);
	ASSERT_EQ(shell("-a " + quote(image_.path()),
			"upload " + work_ / "blob" + " /blob\n"
			"download /blob " + work_ / "back\n",
			out, err),
		  0)
		<< err;
	EXPECT_EQ(run("cmp " + quote(work_ / "blob") + " " + quote(work_ / "back")), 0);
	ASSERT_EQ(run("printf piped | " + lklsh + " -a " + quote(image_.path()) +
			      " -- upload - /p && " + lklsh + " -a " + quote(image_.path()) +
			      " -- download /p -",
		      &out),
		  0)
		<< out;
	EXPECT_EQ(out, "piped");
}

// lklsh on a pseudo-terminal, HOME in @home: what it writes is read as
// the test waits for it.
class Terminal {
public:
	Terminal(const std::string &lklsh_bin, const std::string &image,
		 const std::string &home)
	{
		pid_ = forkpty(&fd_, nullptr, nullptr, nullptr);
		if (pid_ == 0) {
			setenv("HOME", home.c_str(), 1);
			execl(lklsh_bin.c_str(), lklsh_bin.c_str(), "-a", image.c_str(),
			      static_cast<char *>(nullptr));
			_exit(127);
		}
	}
	~Terminal()
	{
		if (pid_ > 0) {
			kill(pid_, SIGKILL);
			waitpid(pid_, nullptr, 0);
		}
		if (fd_ >= 0)
			close(fd_);
	}
	bool started() const { return pid_ > 0; }
	// Reads until @want appears after what was seen so far (30 s at most).
	bool wait_for(const std::string &want)
	{
		std::size_t from = seen.size();
		for (int waited = 0; waited < 300; waited++) {
			if (seen.find(want, from) != std::string::npos)
				return true;
			pollfd p{fd_, POLLIN, 0};
			if (poll(&p, 1, 100) > 0) {
				char buf[4096];
				ssize_t n = read(fd_, buf, sizeof(buf));
				if (n <= 0)
					return false;
				seen.append(buf, static_cast<std::size_t>(n));
			}
		}
		return false;
	}
	bool type(const std::string &keys)
	{
		return write(fd_, keys.data(), keys.size()) ==
		       static_cast<ssize_t>(keys.size());
	}
	// Sends @sig and reaps lklsh: its wait status.
	int stop(int sig)
	{
		kill(pid_, sig);
		wait_for("stopped by");
		int status = 0;
		waitpid(pid_, &status, 0);
		pid_ = -1;
		return status;
	}

	std::string seen;

private:
	pid_t pid_ = -1;
	int fd_ = -1;
};

// A terminal session: ^C at the prompt drops the line being typed and the
// shell goes on; SIGTERM at the prompt ends it with 128 + 15 after
// unmounting the image.
TEST_F(Lklsh, InterruptAndStopAtThePrompt)
{
	Terminal t(lklsh, image_.path(), work_.path());
	ASSERT_TRUE(t.started()) << strerror(errno);
	ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
	ASSERT_TRUE(t.type("write /a 'first'\r"));
	ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
	ASSERT_TRUE(t.type("write /b 'dropped'\x03")); // ^C before the end of the line
	ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
	ASSERT_TRUE(t.type("cat /a\r"));
	ASSERT_TRUE(t.wait_for("firstlklsh:/> ")) << t.seen;
	ASSERT_TRUE(t.type("ls /\r"));
	ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
	EXPECT_EQ(t.seen.find("\r\nb\r\n"), std::string::npos) << "the line ^C dropped ran: "
								    << t.seen;
	int status = t.stop(SIGTERM);
	EXPECT_NE(t.seen.find("stopped by Terminated"), std::string::npos) << t.seen;
	ASSERT_TRUE(WIFEXITED(status)) << status;
	EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << t.seen;
	std::string said;
	EXPECT_EQ(run("e2fsck -fn " + quote(image_.path()), &said), 0)
		<< "the image was not left clean: " << said;
}

// A name typed at the prompt in UTF-8 reaches the image as those bytes
// (each key goes to libedit as one wide character).
TEST_F(Lklsh, NonAsciiNameTypedAtThePrompt)
{
	const std::string name = "caf\xc3\xa9-\xe2\x82\xac";
	{
		Terminal t(lklsh, image_.path(), work_.path());
		ASSERT_TRUE(t.started()) << strerror(errno);
		ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
		ASSERT_TRUE(t.type("mkdir /" + name + "\r"));
		ASSERT_TRUE(t.wait_for("lklsh:/> ")) << t.seen;
		t.stop(SIGTERM);
	}
	std::string out, err;
	ASSERT_EQ(shell("-a " + quote(image_.path()) + " --ro -- ls /", "", out, err), 0) << err;
	EXPECT_NE(("\n" + out).find("\n" + name + "\n"), std::string::npos) << out;
}

// tar-out of a tree of every kind of file, tar-in into a fresh image, and
// the fresh image's tar-out is the same archive entry by entry; it is also
// what fs2tar makes of the first image.
TEST_F(Lklsh, TarOutTarInRoundTrip)
{
	TempDir tree;
	std::string why = make_sample_tree(tree.path());
	if (!why.empty())
		GTEST_SKIP() << why;
	std::string out, err;
	ASSERT_EQ(run(CPTOFS_BIN " -i " + quote(image_.path()) + " " + quote(tree.path() + "/.") +
			      " /",
		      &out),
		  0)
		<< out;
	ASSERT_EQ(shell("-a " + quote(image_.path()) + " --ro -- tar-out / " +
				quote(work_ / "a.tar.gz"),
			"", out, err),
		  0)
		<< err;
	Image fresh(64 * MiB, "fresh.img");
	ASSERT_EQ(fresh.format("mkfs.ext4 -q -F"), "");
	ASSERT_EQ(shell("-a " + quote(fresh.path()),
			"tar-in " + work_ / "a.tar.gz" + " /\n"
			"tar-out / " + work_ / "b.tar\n",
			out, err),
		  0)
		<< err;
	ASSERT_EQ(run(FS2TAR_BIN " " + quote(image_.path()) + " -o " + quote(work_ / "c.tar"), &out),
		  0)
		<< out;
	std::string error;
	auto a = read_archive(work_ / "a.tar.gz", error);
	ASSERT_EQ(error, "");
	auto b = read_archive(work_ / "b.tar", error);
	ASSERT_EQ(error, "");
	auto c = read_archive(work_ / "c.tar", error);
	ASSERT_EQ(error, "");
	EXPECT_GE(a.size(), 15u);
	EXPECT_EQ(a["./a/f"].xattrs["user.comment"], "a comment");
	std::string diff;
	for (const std::string &line : differences(a, b))
		diff += line + "\n";
	EXPECT_EQ(diff, "");
	diff.clear();
	for (const std::string &line : differences(a, c))
		diff += line + "\n";
	EXPECT_EQ(diff, "");
	EXPECT_EQ(run("e2fsck -fn " + quote(fresh.path()), &out), 0) << out;
}

TEST(LklshUsage, BadUsage)
{
	std::string out;
	EXPECT_EQ(run(lklsh + " -- ls", &out), 2);
	EXPECT_NE(out.find("no image given"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(lklsh + " -a /nonexistent.img -- ls", &out), 1);
	EXPECT_NE(out.find("/nonexistent.img: No such file or directory"), std::string::npos)
		<< out;
}

} // namespace
