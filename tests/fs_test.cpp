// File system calls on a tmpfs mounted inside the kernel, checked byte for
// byte.
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

class TmpfsTest : public ::testing::Test {
protected:
	static void SetUpTestSuite()
	{
		ASSERT_EQ(lkl_test::mount_tmpfs("/t"), 0);
	}

	static std::string path(const std::string &name)
	{
		return "/t/" + name;
	}

	static std::vector<char> pattern(size_t len, unsigned seed)
	{
		std::vector<char> v(len);
		for (size_t i = 0; i < len; i++)
			v[i] = static_cast<char>((i * 131 + seed) ^ (i >> 9));
		return v;
	}

	static int create(const std::string &p)
	{
		return lkl_sys_open(p.c_str(),
				    LKL_O_CREAT | LKL_O_RDWR | LKL_O_TRUNC, 0644);
	}
};

TEST_F(TmpfsTest, WriteReadPreadLseekFstat)
{
	auto data = pattern(1 << 20, 7);
	int fd = create(path("rw"));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(lkl_test::write_all(fd, data.data(), data.size()),
		  (long)data.size());

	struct lkl_stat st;
	ASSERT_EQ(lkl_sys_fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, (long)data.size());
	EXPECT_TRUE(LKL_S_ISREG(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0644u);

	ASSERT_EQ(lkl_sys_lseek(fd, 0, LKL_SEEK_SET), 0);
	std::vector<char> back(data.size());
	ASSERT_EQ(lkl_test::read_all(fd, back.data(), back.size()),
		  (long)back.size());
	EXPECT_TRUE(back == data);

	char piece[100];
	ASSERT_EQ(lkl_sys_pread64(fd, piece, sizeof(piece), 123457),
		  (long)sizeof(piece));
	EXPECT_EQ(memcmp(piece, data.data() + 123457, sizeof(piece)), 0);

	EXPECT_EQ(lkl_sys_lseek(fd, -10, LKL_SEEK_END), (long)data.size() - 10);
	char tail[20];
	EXPECT_EQ(lkl_sys_read(fd, tail, sizeof(tail)), 10);
	EXPECT_EQ(memcmp(tail, data.data() + data.size() - 10, 10), 0);
	EXPECT_EQ(lkl_sys_close(fd), 0);
}

TEST_F(TmpfsTest, MkdirRenameLinkUnlink)
{
	ASSERT_EQ(lkl_sys_mkdir(path("d").c_str(), 0750), 0);
	EXPECT_EQ(lkl_sys_mkdir(path("d").c_str(), 0750), -LKL_EEXIST);
	struct lkl_stat st;
	ASSERT_EQ(lkl_sys_stat(path("d").c_str(), &st), 0);
	EXPECT_TRUE(LKL_S_ISDIR(st.st_mode));
	EXPECT_EQ(st.st_mode & 07777, 0750u);

	auto data = pattern(5000, 3);
	int fd = create(path("d/a"));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(lkl_test::write_all(fd, data.data(), data.size()), 5000);
	ASSERT_EQ(lkl_sys_close(fd), 0);

	ASSERT_EQ(lkl_sys_rename(path("d/a").c_str(), path("d/b").c_str()), 0);
	EXPECT_EQ(lkl_sys_stat(path("d/a").c_str(), &st), -LKL_ENOENT);
	ASSERT_EQ(lkl_sys_link(path("d/b").c_str(), path("d/c").c_str()), 0);
	ASSERT_EQ(lkl_sys_stat(path("d/c").c_str(), &st), 0);
	EXPECT_EQ(st.st_nlink, 2u);
	EXPECT_EQ(st.st_size, 5000);

	fd = lkl_sys_open(path("d/c").c_str(), LKL_O_RDONLY, 0);
	ASSERT_GE(fd, 0);
	std::vector<char> back(5000);
	EXPECT_EQ(lkl_test::read_all(fd, back.data(), back.size()), 5000);
	EXPECT_TRUE(back == data);
	EXPECT_EQ(lkl_sys_close(fd), 0);

	ASSERT_EQ(lkl_sys_unlink(path("d/b").c_str()), 0);
	ASSERT_EQ(lkl_sys_stat(path("d/c").c_str(), &st), 0);
	EXPECT_EQ(st.st_nlink, 1u);
	ASSERT_EQ(lkl_sys_unlink(path("d/c").c_str()), 0);
	EXPECT_EQ(lkl_sys_rmdir(path("d").c_str()), 0);
}

TEST_F(TmpfsTest, SymlinkReadlink)
{
	ASSERT_EQ(lkl_sys_symlink("some/target/../x", path("ln").c_str()), 0);
	char buf[64] = {};
	EXPECT_EQ(lkl_sys_readlink(path("ln").c_str(), buf, sizeof(buf)), 16);
	EXPECT_STREQ(buf, "some/target/../x");
	struct lkl_stat st;
	ASSERT_EQ(lkl_sys_lstat(path("ln").c_str(), &st), 0);
	EXPECT_TRUE(LKL_S_ISLNK(st.st_mode));
	EXPECT_EQ(lkl_sys_stat(path("ln").c_str(), &st), -LKL_ENOENT);
	EXPECT_EQ(lkl_sys_unlink(path("ln").c_str()), 0);
}

TEST_F(TmpfsTest, Getdents64ListsThousandEntries)
{
	ASSERT_EQ(lkl_sys_mkdir(path("many").c_str(), 0755), 0);
	std::set<std::string> want;
	for (int i = 0; i < 1000; i++) {
		std::string name = "file-" + std::to_string(i * 7919);
		int fd = create(path("many/" + name));
		ASSERT_GE(fd, 0);
		ASSERT_EQ(lkl_sys_close(fd), 0);
		want.insert(name);
	}

	int dfd = lkl_sys_open(path("many").c_str(),
			       LKL_O_RDONLY | LKL_O_DIRECTORY, 0);
	ASSERT_GE(dfd, 0);
	std::set<std::string> got;
	std::vector<char> buf(4096);
	for (;;) {
		long n = lkl_sys_getdents64(
			dfd, reinterpret_cast<lkl_linux_dirent64 *>(buf.data()),
			buf.size());
		ASSERT_GE(n, 0);
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			auto *d = reinterpret_cast<lkl_linux_dirent64 *>(
				buf.data() + off);
			std::string name = d->d_name;
			if (name != "." && name != "..") {
				EXPECT_TRUE(got.insert(name).second) << name;
				EXPECT_EQ(d->d_type, LKL_DT_REG);
			}
			off += d->d_reclen;
		}
	}
	EXPECT_EQ(lkl_sys_close(dfd), 0);
	EXPECT_EQ(got, want);

	// The same listing through the lkl_opendir helpers.
	int err = 0;
	struct lkl_dir *dir = lkl_opendir(path("many").c_str(), &err);
	ASSERT_NE(dir, nullptr) << lkl_strerror(err);
	size_t count = 0;
	while (struct lkl_linux_dirent64 *d = lkl_readdir(dir))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			count += want.count(d->d_name);
	EXPECT_EQ(lkl_errdir(dir), 0);
	EXPECT_EQ(lkl_closedir(dir), 0);
	EXPECT_EQ(count, want.size());
}

TEST_F(TmpfsTest, TruncateShrinksAndExtendsWithZeros)
{
	auto data = pattern(10000, 11);
	int fd = create(path("tr"));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(lkl_test::write_all(fd, data.data(), data.size()), 10000);
	ASSERT_EQ(lkl_sys_ftruncate(fd, 4000), 0);
	ASSERT_EQ(lkl_sys_truncate(path("tr").c_str(), 6000), 0);

	struct lkl_stat st;
	ASSERT_EQ(lkl_sys_fstat(fd, &st), 0);
	EXPECT_EQ(st.st_size, 6000);
	std::vector<char> back(6000);
	ASSERT_EQ(lkl_sys_pread64(fd, back.data(), back.size(), 0), 6000);
	EXPECT_EQ(memcmp(back.data(), data.data(), 4000), 0);
	EXPECT_TRUE(std::all_of(back.begin() + 4000, back.end(),
				[](char c) { return c == 0; }));
	EXPECT_EQ(lkl_sys_close(fd), 0);
}

} // namespace

int main(int argc, char **argv)
{
	::testing::InitGoogleTest(&argc, argv);
	lkl_test::register_kernel_environment();
	return RUN_ALL_TESTS();
}
