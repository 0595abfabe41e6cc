// Disk images of other formats, as users hold them: qcow2, VMDK, VHDX, VDI
// and VHD made by qemu-img convert from a raw image that mkfs made and
// cptofs filled, opened by cptofs and cpfromfs (--format=auto: detected
// from the header, never from the name), checked with qemu-img check and,
// converted back to raw, with xfs_repair -n / e2fsck -fn and the host's
// loop mount; a qcow2 with a backing file; NBD exports on loopback and a
// Unix socket; overlays; and bad input, each refused in one clear line
// without touching the image.
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using lkl_test::have;
using lkl_test::Image;
using lkl_test::quote;
using lkl_test::Result;
using lkl_test::run;
using lkl_test::run_on_image;
using lkl_test::TempDir;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;

const std::string cptofs = CPTOFS_BIN;
const std::string cpfromfs = CPFROMFS_BIN;

struct Fs {
	const char *name, *mkfs, *check;
};
const Fs xfs{"xfs", "mkfs.xfs -q -f", "xfs_repair -n"};
const Fs ext4{"ext4", "mkfs.ext4 -q -F", "e2fsck -fn"};

std::string digest(const std::string &path)
{
	return lkl_test::sparse_digest(path);
}

// Why this machine cannot run these tests, or "".
std::string missing_tools()
{
	for (const char *tool : {"qemu-img", "qemu-nbd", "mkfs.xfs", "xfs_repair",
				 "mkfs.ext4", "e2fsck"})
		if (!have(tool))
			return std::string(tool) + " is not installed";
	return "";
}

// A tree on the host to copy in: files of several sizes, a directory, a
// symbolic link.
void make_tree(const std::string &dir)
{
	ASSERT_EQ(run("mkdir -p " + quote(dir + "/d1/d2") +
		      " && head -c 3000000 /dev/urandom > " + quote(dir + "/d1/big") +
		      " && echo hello > " + quote(dir + "/d1/f1") +
		      " && seq 1 20000 > " + quote(dir + "/d1/d2/numbers") +
		      " && ln -s f1 " + quote(dir + "/d1/link")),
		  0);
}

// "" when the trees are the same, else diff's report.
std::string differ(const std::string &a, const std::string &b)
{
	std::string out;
	if (run("diff -r --no-dereference " + quote(a) + " " + quote(b), &out) == 0)
		return "";
	return out.empty() ? "differ" : out;
}

// A raw image of @fs holding the tree in @tree (copied to /d1), in @dir.
std::string make_raw(const Fs &fs, const TempDir &dir, const std::string &tree)
{
	std::string raw = dir / "source.raw";
	std::string out;
	EXPECT_EQ(run("truncate -s 512M " + quote(raw) + " && " + fs.mkfs + " " +
			      quote(raw),
		      &out),
		  0)
		<< out;
	Result r = run_on_image(cptofs, raw, quote(tree + "/d1") + " /");
	EXPECT_EQ(r.status, 0) << r.output;
	return raw;
}

// qemu-img convert, to a file whose name says nothing of its format.
std::string convert(const std::string &from, const std::string &format,
		    const std::string &to)
{
	std::string out;
	EXPECT_EQ(run("qemu-img convert -f raw -O " + format + " " + quote(from) +
			      " " + quote(to),
		      &out),
		  0)
		<< out;
	return to;
}

// The host kernel's view of an image through a loop mount, or why not.
class HostMount {
public:
	explicit HostMount(const std::string &image, const Fs &fs) : dir_()
	{
		std::string out;
		ok_ = geteuid() == 0 &&
		      run("mount -o loop,ro -t " + std::string(fs.name) + " " +
				  quote(image) + " " + quote(dir_.path()),
			  &out) == 0;
		why_ = geteuid() ? "not root" : out;
	}
	~HostMount()
	{
		if (ok_)
			run("umount " + quote(dir_.path()));
	}
	bool ok() const { return ok_; }
	const std::string &why() const { return why_; }
	std::string path(const std::string &rel) const { return dir_ / rel; }

private:
	TempDir dir_;
	bool ok_ = false;
	std::string why_;
};

struct Case {
	const char *format;
	const Fs *fs;
	bool checkable; // qemu-img check knows the format
};

void PrintTo(const Case &c, std::ostream *os)
{
	*os << c.format << "_" << c.fs->name;
}

class FormatRoundTrip : public testing::TestWithParam<Case> {};

// cpfromfs reads the converted image as the tree it was made from and
// leaves it bit-identical; cptofs writes into it, and qemu-img, the
// file system's checker and the host kernel all agree with what it wrote.
TEST_P(FormatRoundTrip, CopyOutAndIn)
{
	if (std::string why = missing_tools(); !why.empty())
		GTEST_SKIP() << why;
	const Case &c = GetParam();
	TempDir dir;
	make_tree(dir / "tree");
	std::string raw = make_raw(*c.fs, dir, dir / "tree");
	std::string image = convert(raw, c.format, dir / "disk.img");

	std::string before = digest(image);
	Result r = run_on_image(cpfromfs, image, "/d1 " + quote(dir / "out"));
	ASSERT_EQ(r.status, 0) << r.output;
	EXPECT_EQ(differ(dir / "tree/d1", dir / "out"), "");
	EXPECT_EQ(digest(image), before) << "a read-only open changed the image";

	ASSERT_EQ(run("head -c 5000000 /dev/urandom > " + quote(dir / "new")), 0);
	r = run_on_image(cptofs, image, quote(dir / "new") + " /d1/new");
	ASSERT_EQ(r.status, 0) << r.output;
	std::string out;
	if (c.checkable)
		EXPECT_EQ(run("qemu-img check -q -f " + std::string(c.format) + " " +
				      quote(image),
			      &out),
			  0)
			<< out;
	std::string back = dir / "back.raw";
	ASSERT_EQ(run("qemu-img convert -f " + std::string(c.format) +
			      " -O raw " + quote(image) + " " + quote(back),
		      &out),
		  0)
		<< out;
	EXPECT_EQ(run(std::string(c.fs->check) + " " + quote(back), &out), 0) << out;
	r = run_on_image(cpfromfs, back, "/d1/new " + quote(dir / "new.back"));
	ASSERT_EQ(r.status, 0) << r.output;
	EXPECT_EQ(run("cmp " + quote(dir / "new") + " " + quote(dir / "new.back"),
		      &out),
		  0)
		<< out;

	HostMount host(back, *c.fs);
	if (!host.ok())
		GTEST_SKIP() << "loop mount unavailable: " << host.why();
	EXPECT_EQ(run("cmp " + quote(dir / "new") + " " + quote(host.path("d1/new")),
		      &out),
		  0)
		<< out;
	EXPECT_EQ(run("cmp " + quote(dir / "tree/d1/big") + " " +
			      quote(host.path("d1/big")),
		      &out),
		  0)
		<< out;
}

INSTANTIATE_TEST_SUITE_P(
	Formats, FormatRoundTrip,
	testing::Values(Case{"qcow2", &xfs, true}, Case{"vmdk", &xfs, true},
			Case{"vhdx", &xfs, true}, Case{"vdi", &xfs, true},
			Case{"vpc", &xfs, false}, Case{"qcow2", &ext4, true}),
	[](const testing::TestParamInfo<Case> &info) {
		return std::string(info.param.format) + "_" + info.param.fs->name;
	});

// A fixture with a source tree, its XFS raw image and a qcow2 of it.
class Qcow2 : public testing::Test {
protected:
	void SetUp() override
	{
		if (std::string why = missing_tools(); !why.empty())
			GTEST_SKIP() << why;
		make_tree(dir_ / "tree");
		raw_ = make_raw(xfs, dir_, dir_ / "tree");
		image_ = convert(raw_, "qcow2", dir_ / "disk.qcow2");
	}

	TempDir dir_;
	std::string raw_, image_;
};

// Writes to a qcow2 whose backing file holds the tree land in the qcow2:
// both are visible through it, the backing file is never written.
TEST_F(Qcow2, BackingFile)
{
	std::string top = dir_ / "top.qcow2", out;
	ASSERT_EQ(run("qemu-img create -q -f qcow2 -F qcow2 -b " + quote(image_) +
			      " " + quote(top),
		      &out),
		  0)
		<< out;
	std::string base = digest(image_);
	Result r = run_on_image(cptofs, top, quote(dir_ / "tree/d1/f1") + " /top-f1");
	ASSERT_EQ(r.status, 0) << r.output;
	EXPECT_EQ(digest(image_), base);
	ASSERT_EQ(mkdir((dir_ / "out").c_str(), 0755), 0);
	r = run_on_image(cpfromfs, top, "/d1 /top-f1 " + quote(dir_ / "out"));
	ASSERT_EQ(r.status, 0) << r.output;
	EXPECT_EQ(differ(dir_ / "tree/d1", dir_ / "out/d1"), "");
	EXPECT_EQ(run("cmp " + quote(dir_ / "tree/d1/f1") + " " +
			      quote(dir_ / "out/top-f1"),
		      &out),
		  0)
		<< out;
	EXPECT_EQ(run("qemu-img check -q " + quote(top), &out), 0) << out;
}

// A qemu-nbd the test starts, serving an image, killed with the object.
class NbdServer {
public:
	// Serves @image (@format) on @args ("-k PATH" or "-b ADDR -p PORT").
	NbdServer(const std::string &image, const char *format,
		  const std::vector<std::string> &args)
	{
		pid_ = fork();
		if (pid_ == 0) {
			std::vector<const char *> argv = {"qemu-nbd", "-f", format,
							  "-t"};
			for (const std::string &a : args)
				argv.push_back(a.c_str());
			argv.push_back(image.c_str());
			argv.push_back(nullptr);
			execvp("qemu-nbd", const_cast<char **>(argv.data()));
			_exit(127);
		}
	}
	~NbdServer()
	{
		if (pid_ > 0) {
			kill(pid_, SIGTERM);
			waitpid(pid_, nullptr, 0);
		}
	}
	NbdServer(const NbdServer &) = delete;
	NbdServer &operator=(const NbdServer &) = delete;

private:
	pid_t pid_ = -1;
};

// A TCP port on loopback that nothing listens on just now.
int free_port()
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a {};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	int port = -1;
	if (bind(s, reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0 &&
	    getsockname(s, reinterpret_cast<sockaddr *>(&a), &len) == 0)
		port = ntohs(a.sin_port);
	close(s);
	return port;
}

// Waits until @probe (a shell command) succeeds, for up to 5 s.
bool wait_for(const std::string &probe)
{
	for (int i = 0; i < 500; i++) {
		if (run(probe) == 0)
			return true;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
	return false;
}

TEST_F(Qcow2, NbdOverTcpAndUnixSocket)
{
	int port = free_port();
	ASSERT_GT(port, 0);
	std::string sock = dir_ / "nbd.sock";
	{
		NbdServer tcp(image_, "qcow2",
			      {"-b", "127.0.0.1", "-p", std::to_string(port)});
		ASSERT_TRUE(wait_for("bash -c 'exec 3<>/dev/tcp/127.0.0.1/" +
				     std::to_string(port) + "'"));
		std::string uri = "nbd://127.0.0.1:" + std::to_string(port) + "/";
		Result r = run_on_image(cpfromfs, uri, "/d1 " + quote(dir_ / "tcp"));
		ASSERT_EQ(r.status, 0) << r.output;
		EXPECT_EQ(differ(dir_ / "tree/d1", dir_ / "tcp"), "");
		r = run_on_image(cptofs, uri, quote(dir_ / "tree/d1/f1") + " /via-tcp");
		ASSERT_EQ(r.status, 0) << r.output;
	}
	{
		NbdServer unix_server(image_, "qcow2", {"-k", sock});
		ASSERT_EQ(mkdir((dir_ / "unix").c_str(), 0755), 0);
		ASSERT_TRUE(wait_for("test -S " + quote(sock)));
		std::string uri = "nbd+unix:///?socket=" + sock;
		Result r = run_on_image(cpfromfs, uri,
					"/d1 /via-tcp " + quote(dir_ / "unix"));
		ASSERT_EQ(r.status, 0) << r.output;
		EXPECT_EQ(differ(dir_ / "tree/d1", dir_ / "unix/d1"), "");
		EXPECT_EQ(run("cmp " + quote(dir_ / "tree/d1/f1") + " " +
			      quote(dir_ / "unix/via-tcp")),
			  0);
	}
	std::string out;
	EXPECT_EQ(run("qemu-img check -q " + quote(image_), &out), 0) << out;
	EXPECT_EQ(run("qemu-img convert -O raw " + quote(image_) + " " +
			      quote(dir_ / "back.raw") + " && xfs_repair -n " +
			      quote(dir_ / "back.raw"),
		      &out),
		  0)
		<< out;
}

// --overlay=discard leaves the image bit-identical; --overlay=apply makes
// the change visible to a later plain open. No overlay file is left.
TEST_F(Qcow2, Overlays)
{
	TempDir tmp;
	std::string env = "TMPDIR=" + quote(tmp.path()) + " ";
	for (const std::string &image : {image_, raw_}) {
		SCOPED_TRACE(image);
		std::string before = digest(image);
		Result r = run_on_image(env + cptofs, image,
					"--overlay " + quote(dir_ / "tree/d1/f1") +
						" /dropped");
		ASSERT_EQ(r.status, 0) << r.output;
		EXPECT_EQ(digest(image), before);
		r = run_on_image(cpfromfs, image, "/dropped " + quote(dir_ / "x"));
		EXPECT_NE(r.status, 0) << "a discarded change is in the image";

		r = run_on_image(env + cptofs, image,
				 "--overlay=apply " + quote(dir_ / "tree/d1/f1") +
					 " /applied");
		ASSERT_EQ(r.status, 0) << r.output;
		r = run_on_image(cpfromfs, image,
				 "/applied " + quote(dir_ / ("applied" + before)));
		ASSERT_EQ(r.status, 0) << r.output;
		EXPECT_EQ(run("cmp " + quote(dir_ / "tree/d1/f1") + " " +
			      quote(dir_ / ("applied" + before))),
			  0);
		EXPECT_EQ(lkl_test::run("ls -A " + quote(tmp.path()) + " | grep -q ."),
			  1)
			<< "an overlay file was left behind";
	}
	std::string out;
	EXPECT_EQ(run("qemu-img check -q " + quote(image_), &out), 0) << out;
	EXPECT_EQ(run("xfs_repair -n " + quote(raw_), &out), 0) << out;
}

// Bad input: one clear line naming the file and the trouble, a failing
// exit status, and the image untouched.
TEST_F(Qcow2, BadInput)
{
	struct Bad {
		std::string image, args, says;
	};
	std::string truncated = dir_ / "truncated.qcow2";
	std::string orphan = dir_ / "orphan.qcow2";
	std::string out;
	ASSERT_EQ(run("head -c 300000 " + quote(image_) + " > " + quote(truncated)), 0);
	ASSERT_EQ(run("qemu-img create -q -f qcow2 -F qcow2 -b " +
			      quote(dir_ / "gone.qcow2") + " " + quote(orphan) +
			      " 512M -u",
		      &out),
		  0)
		<< out;
	int port = free_port();
	const Bad cases[] = {
		{truncated, "", "truncated.qcow2: a damaged qcow2 image (qemu-img check: "},
		{orphan, "", "gone.qcow2"},
		{image_, "--format=qcow3", "unknown image format: qcow3"},
		{image_, "--format=vmdk", "disk.qcow2: qemu-nbd: "},
		{"nbd://127.0.0.1:" + std::to_string(port) + "/", "",
		 "nbd://127.0.0.1:" + std::to_string(port) + "/: "},
		{"nbd+unix:///?socket=" + dir_ / "none.sock", "", "none.sock"},
	};
	for (const Bad &b : cases) {
		SCOPED_TRACE(b.image + " " + b.args);
		bool file = b.image.rfind("nbd", 0) != 0;
		std::string before = file ? digest(b.image) : "";
		for (const std::string &tool : {cpfromfs, cptofs}) {
			Result r = run_on_image(tool, b.image,
						b.args + " " +
							(tool == cptofs
								 ? quote(dir_ / "tree/d1/f1") + " /x"
								 : "/d1 " + quote(dir_ / "o")));
			EXPECT_NE(r.status, 0) << r.output;
			EXPECT_NE(r.output.find(b.says), std::string::npos) << r.output;
			// One line, unless the kernel's own messages follow.
			std::string first = r.output.substr(0, r.output.find('\n'));
			EXPECT_NE(first.find(b.says), std::string::npos) << r.output;
		}
		if (file)
			EXPECT_EQ(digest(b.image), before);
	}
}

} // namespace
