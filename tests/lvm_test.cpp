// LVM2 logical volumes through cptofs and cpfromfs (-P VG/LV): a GPT disk
// whose partitions are physical volumes that lvm2's own tools made
// (pvcreate, vgcreate, lvcreate on loop devices with activation off: the
// host needs no device-mapper), the file systems written into the
// volumes' extents at the offsets pvs and lvs report, then read and
// written by lkl through its own device-mapper and checked by the real
// checkers. Volumes lkl does not map, and a missing physical volume, are
// refused by name with the image untouched.
#include "image_util.hpp"
#include "lvm_util.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

using lkl_test::have;
using lkl_test::LvmGroup;
using lkl_test::quote;
using lkl_test::Result;
using lkl_test::run;
using lkl_test::run_on_image;
using lkl_test::TempDir;

namespace {

const std::string cptofs = CPTOFS_BIN;
const std::string cpfromfs = CPFROMFS_BIN;

constexpr unsigned long long MiB = 1ULL << 20;
// Two GPT partitions of 512 MiB from 1 MiB on: the physical volumes.
constexpr unsigned long long part_start = 1 * MiB, part_size = 512 * MiB;

std::string digest(const std::string &path)
{
	return lkl_test::sparse_digest(path);
}

// Runs @cmd; a test failure with its output if it fails. Its output.
std::string must(const std::string &cmd)
{
	std::string out;
	EXPECT_EQ(run(cmd, &out), 0) << cmd << "\n" << out;
	return out;
}

// A volume group of two PVs with volumes "root" (XFS, linear, 320 MiB),
// "data" (ext4, 24 MiB, linear, spanning both PVs) and "wide" (XFS, 320
// MiB, striped over both in 64 KiB chunks), in GPT partitions 1 and 2 of
// disk.img. Files stay sparse: only what mkfs and cptofs wrote is copied.
class Lvm : public testing::Test {
protected:
	void SetUp() override
	{
		for (const char *tool : {"pvcreate", "vgcreate", "lvcreate", "losetup",
					 "sfdisk", "mkfs.xfs", "mkfs.ext4", "xfs_repair",
					 "e2fsck"})
			if (!have(tool))
				GTEST_SKIP() << tool << " is not installed";
		if (geteuid() != 0)
			GTEST_SKIP() << "needs root for loop devices";
		vg_ = "lkltest" + std::to_string(getpid());
		bool skip;
		std::string why = group_.create(dir_.path(), vg_, 2, part_size, skip);
		if (skip)
			GTEST_SKIP() << why;
		ASSERT_EQ(why, "");
		// Extents of 4 MiB, 127 per PV: root on PV 0, wide striped
		// over both, data at the ends of both (so it spans them).
		const std::string &l0 = group_.loop(0), &l1 = group_.loop(1);
		group_.lvm("lvcreate -q -n root -l 80 " + vg_ + " " + l0 + ":0-79");
		group_.lvm("lvcreate -q -n wide -i 2 -I 64k -l 80 " + vg_ + " " + l0 +
			   ":80-119 " + l1 + ":0-39");
		group_.lvm("lvcreate -q -n data -l 6 " + vg_ + " " + l0 + ":121-123 " +
			   l1 + ":121-123");
		// Detach before anything else touches the files.
		group_.detach();
		for (unsigned i = 0; i < 2; i++)
			pv_[i] = group_.pv(i);

		disk_ = dir_ / "disk.img";
		must("truncate -s " + std::to_string(part_start * 2 + 2 * part_size) +
		     " " + quote(disk_));
		must("printf 'label: gpt\\nstart=2048, size=" +
		     std::to_string(part_size / 512) + "\\nsize=" +
		     std::to_string(part_size / 512) + "\\n' | sfdisk -q " + quote(disk_));
	}

	void place(const std::string &lv, const std::string &file, bool in,
		   unsigned long long stripe = 0)
	{
		group_.place(lv, file, in, stripe);
	}

	// Writes the PV files into the disk's partitions (only @which).
	void assemble(std::vector<int> which = {0, 1})
	{
		for (int i : which)
			must("dd if=" + quote(pv_[i]) + " of=" + quote(disk_) +
			     " bs=1M seek=" + std::to_string((part_start + i * part_size) / MiB) +
			     " conv=sparse,notrunc status=none");
	}

	// The PV files back from the disk.
	void disassemble()
	{
		for (int i = 0; i < 2; i++)
			must("dd if=" + quote(disk_) + " of=" + quote(pv_[i]) + " bs=1M skip=" +
			     std::to_string((part_start + i * part_size) / MiB) + " count=" +
			     std::to_string(part_size / MiB) + " conv=sparse status=none");
	}

	TempDir dir_;
	LvmGroup group_;
	std::string vg_, pv_[2], disk_;
};

// An XFS root, an ext4 volume spanning both PVs and a striped XFS volume,
// each filled by cptofs and copied out by cpfromfs through -P VG/LV, and
// found clean by its checker when taken back out of the disk.
TEST_F(Lvm, XfsAndExt4VolumesOnGpt)
{
	struct Volume {
		const char *lv, *mkfs, *check;
		unsigned long long size, stripe;
	};
	const Volume volumes[] = {
		{"root", "mkfs.xfs -q -f", "xfs_repair -n", 320 * MiB, 0},
		{"data", "mkfs.ext4 -q -F", "e2fsck -fn", 24 * MiB, 0},
		{"wide", "mkfs.xfs -q -f", "xfs_repair -n", 320 * MiB, 64 << 10},
	};
	must("mkdir -p " + quote(dir_ / "tree/sub") + " && head -c 2000000 "
	     "/dev/urandom > " + quote(dir_ / "tree/sub/big") + " && echo hi > " +
	     quote(dir_ / "tree/small"));
	for (const Volume &v : volumes) {
		std::string fs = dir_ / (std::string(v.lv) + ".fs");
		must("truncate -s " + std::to_string(v.size) + " " + quote(fs) + " && " +
		     v.mkfs + " " + quote(fs));
		place(v.lv, fs, true, v.stripe);
	}
	assemble();
	for (const Volume &v : volumes) {
		SCOPED_TRACE(v.lv);
		std::string name = vg_ + "/" + v.lv;
		Result r = run_on_image(cptofs, disk_, "-P " + name + " " +
							quote(dir_ / "tree") + " /");
		ASSERT_EQ(r.status, 0) << r.output;
		std::string out = dir_ / (std::string("out-") + v.lv);
		r = run_on_image(cpfromfs, disk_, "-P " + name + " /tree " + quote(out));
		ASSERT_EQ(r.status, 0) << r.output;
		must("diff -r " + quote(dir_ / "tree") + " " + quote(out));
	}
	disassemble();
	for (const Volume &v : volumes) {
		SCOPED_TRACE(v.lv);
		std::string fs = dir_ / (std::string(v.lv) + ".back");
		must("truncate -s " + std::to_string(v.size) + " " + quote(fs));
		place(v.lv, fs, false, v.stripe);
		must(std::string(v.check) + " " + quote(fs));
	}
}

// Bad names, volumes lkl does not map and a missing physical volume: one
// line naming the volume, a failing status, the image untouched.
TEST_F(Lvm, RefusedByName)
{
	std::string fs = dir_ / "root.fs";
	must("truncate -s 320M " + quote(fs) + " && mkfs.xfs -q -f " + quote(fs));
	place("root", fs, true);
	assemble();
	// The host cannot make thin, RAID or snapshot volumes without
	// device-mapper: the test renames the type in the metadata text
	// (lkl's reader does not check the text's CRC; lvm2 would).
	std::string meta = dir_ / "meta.img";
	must("cp " + quote(disk_) + " " + quote(meta));
	{
		std::fstream f(meta, std::ios::in | std::ios::out | std::ios::binary);
		std::string data((std::istreambuf_iterator<char>(f)), {});
		const std::string from = "type = \"striped\"", to = "type = \"raid1\"  ";
		for (std::size_t at = 0; (at = data.find(from, at)) != std::string::npos;
		     at += from.size()) {
			f.seekp(static_cast<std::streamoff>(at));
			f.write(to.data(), static_cast<std::streamsize>(to.size()));
		}
	}
	std::string half = dir_ / "half.img";
	must("cp " + quote(disk_) + " " + quote(half) + " && dd if=/dev/zero of=" +
	     quote(half) + " bs=1M seek=" + std::to_string((part_start + part_size) / MiB) +
	     " count=1 conv=notrunc status=none");
	struct Bad {
		std::string image, volume, says;
	};
	const Bad cases[] = {
		{disk_, vg_ + "/nothere", "no logical volume nothere in volume group " + vg_},
		{disk_, "novg/root", "no volume group novg"},
		{meta, vg_ + "/root", "a raid1 volume, which lkl does not map"},
		{half, vg_ + "/data", "is missing"},
	};
	for (const Bad &b : cases) {
		SCOPED_TRACE(b.volume);
		std::string before = digest(b.image);
		for (const std::string &tool : {cpfromfs, cptofs}) {
			Result r = run_on_image(tool, b.image,
						"-P " + b.volume + " " +
							(tool == cptofs ? quote(fs) + " /x"
									: "/ " + quote(dir_ / "o")));
			EXPECT_NE(r.status, 0) << r.output;
			std::string first = r.output.substr(0, r.output.find('\n'));
			EXPECT_NE(first.find(b.says), std::string::npos) << r.output;
		}
		EXPECT_EQ(digest(b.image), before);
	}
	// The volume on the intact PV still works from the half disk.
	Result r = run_on_image(cpfromfs, half, "-P " + vg_ + "/root / " +
							 quote(dir_ / "from-half"));
	EXPECT_EQ(r.status, 0) << r.output;
}

} // namespace
