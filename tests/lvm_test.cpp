// LVM2 logical volumes through cptofs and cpfromfs (-P VG/LV): a GPT disk
// whose partitions are physical volumes that lvm2's own tools made
// (pvcreate, vgcreate, lvcreate on loop devices with activation off: the
// host needs no device-mapper), the file systems written into the
// volumes' extents at the offsets pvs and lvs report, then read and
// written by lkl through its own device-mapper and checked by the real
// checkers. Volumes lkl does not map, and a missing physical volume, are
// refused by name with the image untouched.
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using lkl_test::have;
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

// lvm2's tools run on loop devices of the PV files, on nothing else,
// keeping no cache and no backups on the host.
const std::string lvm_env =
	"LVM_SUPPRESS_FD_WARNINGS=1 LVM_SYSTEM_DIR=/nonexistent ";
std::string lvm_config(const std::vector<std::string> &loops)
{
	std::string filter = "devices/filter=[";
	for (const std::string &l : loops)
		filter += "\"a|^" + l + "$|\",";
	filter += "\"r|.*|\"]";
	return " --config '" + filter +
	       " backup/backup=0 backup/archive=0 devices/use_devicesfile=0' ";
}

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

// Where a volume's extents lie in its PV file: byte offset and length of
// each run, in the volume's order.
struct Extents {
	unsigned pv;
	unsigned long long offset, length;
};

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
		std::vector<std::string> loops;
		for (int i = 0; i < 2; i++) {
			pv_[i] = dir_ / ("pv" + std::to_string(i));
			must("truncate -s " + std::to_string(part_size) + " " + quote(pv_[i]));
			std::string loop;
			if (run("losetup -f --show " + quote(pv_[i]), &loop) != 0)
				GTEST_SKIP() << "no loop device: " << loop;
			loops.push_back(loop.substr(0, loop.find('\n')));
		}
		loops_ = loops;
		std::string cfg = lvm_config(loops);
		std::string noact = " --driverloaded n --activate n --zero n ";
		must(lvm_env + "pvcreate -q -y" + cfg + loops[0] + " " + loops[1]);
		must(lvm_env + "vgcreate -q" + cfg + vg_ + " " + loops[0] + " " + loops[1]);
		// Extents of 4 MiB, 127 per PV: root on PV 0, wide striped
		// over both, data at the ends of both (so it spans them).
		must(lvm_env + "lvcreate -q" + cfg + noact + "-n root -l 80 " + vg_ +
		     " " + loops[0] + ":0-79");
		must(lvm_env + "lvcreate -q" + cfg + noact + "-n wide -i 2 -I 64k -l 80 " +
		     vg_ + " " + loops[0] + ":80-119 " + loops[1] + ":0-39");
		must(lvm_env + "lvcreate -q" + cfg + noact + "-n data -l 6 " + vg_ + " " +
		     loops[0] + ":121-123 " + loops[1] + ":121-123");
		extent_ = sectors(must(lvm_env + "vgs --noheadings --units s -o "
						 "vg_extent_size" + cfg + vg_)) * 512;
		pe_start_ = sectors(must(lvm_env + "pvs --noheadings --units s -o "
						   "pe_start" + cfg + loops[0])) * 512;
		for (const char *lv : {"root", "data", "wide"})
			ranges_[lv] = must(lvm_env + "lvs --noheadings -o seg_pe_ranges" +
					   cfg + vg_ + "/" + lv);
		// Detach before anything else touches the files.
		loop_names_[0] = loops[0];
		loop_names_[1] = loops[1];
		detach();

		disk_ = dir_ / "disk.img";
		must("truncate -s " + std::to_string(part_start * 2 + 2 * part_size) +
		     " " + quote(disk_));
		must("printf 'label: gpt\\nstart=2048, size=" +
		     std::to_string(part_size / 512) + "\\nsize=" +
		     std::to_string(part_size / 512) + "\\n' | sfdisk -q " + quote(disk_));
	}

	void TearDown() override
	{
		detach();
	}

	void detach()
	{
		for (const std::string &l : loops_)
			run("losetup -d " + l);
		loops_.clear();
	}

	static unsigned long long sectors(const std::string &s)
	{
		return std::stoull(s.substr(s.find_first_not_of(' ')));
	}

	// The runs of @lv: "/dev/loop0:0-9 /dev/loop1:0-2" in extents.
	std::vector<Extents> runs(const std::string &lv)
	{
		std::vector<Extents> out;
		std::istringstream in(ranges_[lv]);
		std::string word;
		while (in >> word) {
			std::string dev = word.substr(0, word.find(':'));
			unsigned first = 0, last = 0;
			sscanf(word.c_str() + dev.size() + 1, "%u-%u", &first, &last);
			unsigned pv = dev == loop_names_[0] ? 0 : 1;
			out.push_back({pv, pe_start_ + first * extent_,
				       (last - first + 1) * extent_});
		}
		return out;
	}

	// Copies the content of @lv between @file and the PV files (in: into
	// the volume), chunk by chunk as a linear or a striped volume lays
	// it out (@stripe bytes per chunk, the runs taking turns).
	void place(const std::string &lv, const std::string &file, bool in,
		   unsigned long long stripe = 0)
	{
		std::vector<Extents> rs = runs(lv);
		std::vector<std::pair<std::string, unsigned long long>> chunks;
		if (!stripe) {
			for (const Extents &r : rs)
				chunks.push_back({pv_[r.pv] + ":" + std::to_string(r.offset),
						  r.length});
		}
		std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
		ASSERT_TRUE(f) << file;
		std::fstream pv[2];
		for (int i = 0; i < 2; i++) {
			pv[i].open(pv_[i], std::ios::in | std::ios::out | std::ios::binary);
			ASSERT_TRUE(pv[i]) << pv_[i];
		}
		std::vector<char> buf(1 << 20);
		unsigned long long at = 0;
		auto move = [&](unsigned which, unsigned long long off,
				unsigned long long len) {
			while (len) {
				std::size_t n = std::min<unsigned long long>(len, buf.size());
				std::fstream &from = in ? f : pv[which];
				std::fstream &to = in ? pv[which] : f;
				from.seekg(static_cast<std::streamoff>(in ? at : off));
				from.read(buf.data(), static_cast<std::streamsize>(n));
				// The destination is zeros (and sparse) already.
				if (std::any_of(buf.begin(), buf.begin() + n,
						[](char c) { return c != 0; })) {
					to.seekp(static_cast<std::streamoff>(in ? off : at));
					to.write(buf.data(), static_cast<std::streamsize>(n));
				}
				at += n;
				off += n;
				len -= n;
			}
		};
		if (!stripe) {
			for (const Extents &r : rs)
				move(r.pv, r.offset, r.length);
		} else {
			// One run per stripe, all the same length.
			for (unsigned long long c = 0; c * stripe < rs[0].length; c++)
				for (const Extents &r : rs)
					move(r.pv, r.offset + c * stripe, stripe);
		}
		ASSERT_TRUE(f.good());
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
	std::string vg_, pv_[2], disk_;
	std::vector<std::string> loops_;
	std::string loop_names_[2];
	unsigned long long extent_ = 0, pe_start_ = 0;
	std::map<std::string, std::string> ranges_;
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
