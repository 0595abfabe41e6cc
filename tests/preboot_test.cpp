// A disk handed to lkl before boot is there, with the id it was given,
// once the kernel is up; one removed before boot is not, and the others
// keep their ids.
#include "image_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

TEST(Disks, AddedBeforeBootAreThereAfterBoot)
{
	if (!lkl_test::have("mkfs.ext4"))
		GTEST_SKIP() << "mkfs.ext4 not installed";
	lkl_test::Image a(64 << 20, "a.img"), b(64 << 20, "b.img");
	ASSERT_EQ(a.format("mkfs.ext4 -q -F"), "");
	ASSERT_EQ(b.format("mkfs.ext4 -q -F -L second"), "");

	ASSERT_FALSE(lkl_is_running());
	struct lkl_disk da = {}, dgone = {}, db = {};
	da.fd = open(a.path().c_str(), O_RDWR);
	dgone.fd = open(a.path().c_str(), O_RDONLY);
	db.fd = open(b.path().c_str(), O_RDWR);
	ASSERT_GE(da.fd, 0);
	ASSERT_GE(dgone.fd, 0);
	ASSERT_GE(db.fd, 0);
	EXPECT_EQ(lkl_disk_add(&da), 0);
	EXPECT_EQ(lkl_disk_add(&dgone), 1);
	EXPECT_EQ(lkl_disk_add(&db), 2);
	EXPECT_EQ(lkl_disk_remove(dgone), 0);
	close(dgone.fd);

	ASSERT_EQ(lkl_test::boot("mem=64M"), 0);
	char mnt[64];
	// Disk 1 was removed before boot: nothing is there.
	EXPECT_EQ(lkl_mount_dev(1, 0, "ext4", 0, nullptr, mnt, sizeof(mnt)),
		  -LKL_ENXIO);
	ASSERT_EQ(lkl_mount_dev(2, 0, "ext4", 0, nullptr, mnt, sizeof(mnt)), 0);
	char label[32] = {};
	int fd = lkl_sys_open(mnt, LKL_O_RDONLY | LKL_O_DIRECTORY, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(lkl_sys_ioctl(fd, LKL_FS_IOC_GETFSLABEL, (unsigned long)label), 0);
	EXPECT_STREQ(label, "second");
	lkl_sys_close(fd);
	EXPECT_EQ(lkl_umount_dev(2, 0, 0, 5000), 0);
	ASSERT_EQ(lkl_mount_dev(0, 0, nullptr, 0, nullptr, mnt, sizeof(mnt)), 0);
	EXPECT_EQ(lkl_umount_dev(0, 0, 0, 5000), 0);

	// After boot a new disk gets the lowest free id.
	struct lkl_disk dc = {};
	dc.fd = open(a.path().c_str(), O_RDONLY);
	EXPECT_EQ(lkl_disk_add(&dc), 1);
	EXPECT_EQ(lkl_disk_remove(dc), 0);
	EXPECT_EQ(lkl_disk_remove(da), 0);
	EXPECT_EQ(lkl_disk_remove(db), 0);
	EXPECT_EQ(lkl_sys_halt(), 0);
	lkl_cleanup();
	close(da.fd);
	close(db.fd);
	close(dc.fd);
}
