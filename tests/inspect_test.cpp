// lkl-inspect, run as the user runs it, on a GPT disk made at test time by
// sfdisk and the mkfs tools: a vfat EFI partition, an ext4 root holding an
// operating system's files, an ext4 partition whose group descriptors are
// overwritten (damaged), and an XFS data partition after it. The JSON is
// checked field by field against what was made and what sfdisk says; the
// damaged one is reported with the kernel's words and the inspection goes
// on; the image is not written.
#include "image_util.hpp"
#include "lvm_util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <unistd.h>

using namespace lkl_test;
using json = nlohmann::json;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;
const std::string inspect = LKL_INSPECT_BIN;

const char *root_uuid = "11111111-2222-3333-4444-555555555555";
const char *data_uuid = "66666666-7777-4888-9999-aaaaaaaaaaaa";

// An operating system's files in @dir: os-release, hostname, two kernels,
// a dpkg database of two installed packages, the host's /bin/sh.
void make_os_tree(const std::string &dir)
{
	std::string out;
	ASSERT_EQ(run("set -e; cd " + quote(dir) +
		      "; mkdir -p etc boot bin var/lib/dpkg usr/lib\n"
		      "printf 'PRETTY_NAME=\"Test Linux 12 (bookworm)\"\\n"
		      "NAME=\"Test Linux\"\\nVERSION_ID=\"12\"\\n"
		      "VERSION=\"12 (bookworm)\"\\nID=testlinux\\n' > etc/os-release\n"
		      "echo testhost > etc/hostname\n"
		      "touch boot/vmlinuz-6.1.0-13-amd64 boot/vmlinuz-6.1.0-9-amd64 "
		      "boot/initrd.img-6.1.0-13-amd64\n"
		      "printf 'Package: a\\nStatus: install ok installed\\n\\n"
		      "Package: b\\nStatus: install ok installed\\n\\n"
		      "Package: c\\nStatus: deinstall ok config-files\\n' "
		      "> var/lib/dpkg/status\n"
		      "cp /bin/sh bin/sh",
		      &out),
		  0)
		<< out;
}

// lkl-inspect's JSON of @image (written in @work); its exit status in
// @status and what it said on standard error in @errors.
json inspect_json(const std::string &image, const std::string &work, int &status,
		  std::string &errors)
{
	// In braces: run() sends standard error to its output.
	status = run("{ " + inspect + " --json " + quote(image) + " > " +
		     quote(work + "/report.json") + " 2> " + quote(work + "/errors") +
		     "; }");
	errors = read_text(work + "/errors");
	return json::parse(read_text(work + "/report.json"), nullptr, false);
}

class Inspect : public ::testing::Test {
protected:
	void SetUp() override
	{
		for (const char *tool : {"sfdisk", "mkfs.vfat", "mkfs.ext4", "mkfs.xfs"})
			if (!have(tool))
				GTEST_SKIP() << tool << " is not installed";
		make_os_tree(os_.path());
		// EFI 34 MiB, root 64 MiB, broken 32 MiB, data 320 MiB (the
		// smallest XFS mkfs.xfs makes).
		std::string out;
		ASSERT_EQ(run("printf 'label: gpt\\n"
			      "size=34MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=EFI\\n"
			      "size=64MiB, type=0FC63DAF-8483-4772-8E79-3D69E47D7DE4, name=root\\n"
			      "size=32MiB, type=0FC63DAF-8483-4772-8E79-3D69E47D7DE4, name=broken\\n"
			      "size=320MiB, type=0FC63DAF-8483-4772-8E79-3D69E47D7DE4, name=data\\n' | "
			      "sfdisk -q " + quote(disk_.path()) + " && sfdisk -J " +
				      quote(disk_.path()) + " > " + quote(work_ / "table.json"),
			      &out),
			  0)
			<< out;
		table_ = json::parse(read_text(work_ / "table.json"))["partitiontable"];
		ASSERT_EQ(table_["partitions"].size(), 4u);
		const std::string d = quote(disk_.path());
		ASSERT_EQ(run("mkfs.vfat -n EFI -i 1234ABCD --offset " +
				      std::to_string(start(1)) + " " + d + " " +
				      std::to_string(size(1) / 1024),
			      &out),
			  0)
			<< out;
		ASSERT_EQ(run(std::string("mkfs.ext4 -q -F -b 4096 -L root -U ") + root_uuid +
				      " -d " + quote(os_.path()) + " -E offset=" +
				      std::to_string(start(2) * 512) + " " + d + " " +
				      std::to_string(size(2) / 4096),
			      &out),
			  0)
			<< out;
		// The broken one: ext4 whose group descriptor block (block 1
		// of 4 KiB) is overwritten, so the superblock still says ext4.
		ASSERT_EQ(run("mkfs.ext4 -q -F -b 4096 -L broken -E offset=" +
				      std::to_string(start(3) * 512) + " " + d + " " +
				      std::to_string(size(3) / 4096) +
				      " && head -c 4096 /dev/urandom | dd of=" + d +
				      " bs=4096 seek=" + std::to_string(start(3) * 512 / 4096 + 1) +
				      " conv=notrunc status=none",
			      &out),
			  0)
			<< out;
		Image xfs(320 * MiB, "data.img");
		ASSERT_EQ(xfs.format(std::string("mkfs.xfs -q -f -L data -m uuid=") + data_uuid), "");
		ASSERT_EQ(run("dd if=" + quote(xfs.path()) + " of=" + d + " bs=1M seek=" +
				      std::to_string(start(4) * 512 / MiB) +
				      " conv=notrunc,sparse status=none",
			      &out),
			  0)
			<< out;
	}

	// Partition @n's first sector and size in bytes, as sfdisk has them.
	unsigned long long start(int n) const
	{
		return table_["partitions"][n - 1]["start"].get<unsigned long long>();
	}
	unsigned long long size(int n) const
	{
		return table_["partitions"][n - 1]["size"].get<unsigned long long>() * 512;
	}

	json report(int &status, std::string &errors)
	{
		return inspect_json(disk_.path(), work_.path(), status, errors);
	}

	static std::string lower(std::string s)
	{
		for (char &c : s)
			c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
		return s;
	}

	TempDir work_, os_;
	Image disk_{460 * MiB};
	json table_;
};

TEST_F(Inspect, GptDiskFieldByField)
{
	std::string before = disk_.sha256();
	int status;
	std::string errors;
	json r = report(status, errors);
	ASSERT_EQ(status, 0) << errors;
	ASSERT_FALSE(r.is_discarded()) << "not JSON: " << read_text(work_ / "report.json");
	EXPECT_EQ(disk_.sha256(), before) << "inspection wrote the image";

	EXPECT_EQ(r["size"], 460 * MiB);
	EXPECT_EQ(r["partition_table"]["type"], "gpt");
	EXPECT_EQ(r["partition_table"]["uuid"], lower(table_["id"]));
	const json &parts = r["partitions"];
	ASSERT_EQ(parts.size(), 4u) << r.dump(2);
	for (int n = 1; n <= 4; n++) {
		const json &p = parts[n - 1];
		const json &t = table_["partitions"][n - 1];
		SCOPED_TRACE("partition " + std::to_string(n));
		EXPECT_EQ(p["number"], n);
		EXPECT_EQ(p["start"], start(n) * 512);
		EXPECT_EQ(p["size"], size(n));
		EXPECT_EQ(p["type"], lower(t["type"]));
		EXPECT_EQ(p["uuid"], lower(t["uuid"]));
		EXPECT_EQ(p["name"], t["name"]);
	}

	const json &efi = parts[0]["filesystem"];
	EXPECT_EQ(efi["type"], "vfat");
	EXPECT_EQ(efi["label"], "EFI");
	EXPECT_EQ(efi["uuid"], "1234-ABCD");
	EXPECT_GT(efi["usage"]["size"].get<unsigned long long>(), 30 * MiB);
	EXPECT_LE(efi["usage"]["size"].get<unsigned long long>(), size(1));
	EXPECT_TRUE(efi["os"].is_null());

	const json &root = parts[1]["filesystem"];
	EXPECT_EQ(root["type"], "ext4");
	EXPECT_EQ(root["label"], "root");
	EXPECT_EQ(root["uuid"], root_uuid);
	EXPECT_GT(root["usage"]["used"].get<unsigned long long>(), 0u);
	EXPECT_LE(root["usage"]["size"].get<unsigned long long>(), size(2));
	EXPECT_GT(root["usage"]["files"].get<unsigned long long>(),
		  root["usage"]["files_free"].get<unsigned long long>());
	const json &os = root["os"];
	ASSERT_TRUE(os.is_object()) << root.dump(2);
	EXPECT_EQ(os["name"], "Test Linux");
	EXPECT_EQ(os["version"], "12 (bookworm)");
	EXPECT_EQ(os["version_id"], "12");
	EXPECT_EQ(os["id"], "testlinux");
	EXPECT_EQ(os["pretty_name"], "Test Linux 12 (bookworm)");
	EXPECT_EQ(os["hostname"], "testhost");
	EXPECT_EQ(os["kernels"], json::array({"vmlinuz-6.1.0-13-amd64", "vmlinuz-6.1.0-9-amd64"}));
	EXPECT_EQ(os["package_manager"], "dpkg");
	EXPECT_EQ(os["packages"], 2);
	std::string machine;
	run("uname -m", &machine);
	EXPECT_EQ(os["arch"].get<std::string>() + "\n", machine);

	// Damaged: named as ext4, with the kernel's own words, and the
	// partition after it inspected all the same.
	const json &broken = parts[2]["filesystem"];
	EXPECT_EQ(broken["type"], "ext4");
	EXPECT_EQ(broken["label"], "broken");
	EXPECT_NE(broken["error"].get<std::string>().find("Structure needs cleaning"),
		  std::string::npos)
		<< broken.dump(2);
	std::string said;
	for (const json &line : broken["kernel_messages"])
		said += line.get<std::string>() + "\n";
	EXPECT_NE(said.find("EXT4-fs (vda3)"), std::string::npos) << said;
	EXPECT_NE(said.find("group descriptors corrupted"), std::string::npos) << said;
	EXPECT_FALSE(broken.contains("usage"));

	const json &data = parts[3]["filesystem"];
	EXPECT_EQ(data["type"], "xfs");
	EXPECT_EQ(data["label"], "data");
	EXPECT_EQ(data["uuid"], data_uuid);
	EXPECT_GT(data["usage"]["available"].get<unsigned long long>(), 200 * MiB);
	EXPECT_TRUE(data["os"].is_null());
}

// The table names the same things, for a person.
TEST_F(Inspect, Table)
{
	std::string out;
	ASSERT_EQ(run(inspect + " --table " + quote(disk_.path()), &out), 0) << out;
	for (const char *part : {"gpt partition table", "EFI", "1234-ABCD", root_uuid,
				 "Test Linux 12 (bookworm)", "hostname testhost",
				 "vmlinuz-6.1.0-13-amd64", "dpkg, 2 installed", "damaged",
				 "group descriptors corrupted", data_uuid})
		EXPECT_NE(out.find(part), std::string::npos) << part << " in:\n" << out;
}

// Logical volumes: a GPT disk whose one partition is an LVM2 physical
// volume made by lvm2's tools, holding an XFS volume, an ext4 volume with
// an operating system's files, and a thin pool with a thin volume in it.
// lvm2 makes thin volumes only with the host's device-mapper, which tests
// cannot count on: the thin pool and volume are written into the metadata
// from four linear volumes with vgcfgbackup and vgcfgrestore (lvm2 checks
// the result and lvs lists them). Each volume lkl maps is inspected like
// a partition; the thin ones are listed with why lkl does not map them.
class InspectLvm : public ::testing::Test {
protected:
	void SetUp() override
	{
		for (const char *tool : {"pvcreate", "vgcreate", "lvcreate", "vgcfgbackup",
					 "vgcfgrestore", "losetup", "sfdisk", "mkfs.ext4",
					 "mkfs.xfs"})
			if (!have(tool))
				GTEST_SKIP() << tool << " is not installed";
		if (geteuid() != 0)
			GTEST_SKIP() << "needs root for loop devices";
		vg_ = "lklinspect" + std::to_string(getpid());
		bool skip;
		std::string why = group_.create(work_.path(), vg_, 1, pv_size, skip);
		if (skip)
			GTEST_SKIP() << why;
		ASSERT_EQ(why, "");
		// 4 MiB extents: data 320 MiB, root 32 MiB, and the thin
		// pool's pieces.
		for (const char *lv : {"-n data -l 80", "-n root -l 8", "-n pool -l 1",
				       "-n thin -l 1", "-n tmeta -l 1", "-n tdata -l 1"})
			group_.lvm(std::string("lvcreate -q ") + lv + " " + vg_);
		make_thin();
		lvs_ = group_.lvm("lvs --noheadings --units b --nosuffix --separator , "
				  "-o lv_name,segtype,lv_size " + vg_);
		pv_uuid_ = group_.lvm("pvs --noheadings -o pv_uuid " + group_.loop(0));
		pv_uuid_ = pv_uuid_.substr(pv_uuid_.find_first_not_of(' '));
		pv_uuid_ = pv_uuid_.substr(0, pv_uuid_.find('\n'));
		group_.detach();

		make_os_tree(os_.path());
		Image data(320 * MiB, "data.img"), root(32 * MiB, "root.img");
		ASSERT_EQ(data.format(std::string("mkfs.xfs -q -f -L lvdata -m uuid=") +
				      data_uuid),
			  "");
		ASSERT_EQ(root.format(std::string("mkfs.ext4 -q -F -L lvroot -U ") + root_uuid +
				      " -d " + quote(os_.path())),
			  "");
		group_.place("data", data.path(), true);
		group_.place("root", root.path(), true);

		std::string out;
		ASSERT_EQ(run("printf 'label: gpt\\nstart=2048, size=" +
				      std::to_string(pv_size / 512) +
				      ", type=E6D6D379-F507-44C2-A23C-238F2A3DF928\\n' | sfdisk -q " +
				      quote(disk_.path()) + " && dd if=" + quote(group_.pv(0)) +
				      " of=" + quote(disk_.path()) +
				      " bs=1M seek=1 conv=sparse,notrunc status=none",
			      &out),
			  0)
			<< out;
	}

	// Turns pool into a thin pool on tmeta and tdata (hidden, renamed as
	// lvm2 names a pool's parts) and thin into a thin volume of 4 MiB
	// in it, through the metadata text.
	void make_thin()
	{
		std::string file = work_ / "meta.txt";
		group_.lvm("vgcfgbackup -q -f " + quote(file) + " " + vg_);
		std::string text = read_text(file);
		// The type and stripes of @lv's one segment become @segment.
		auto segment = [&](const std::string &lv, const std::string &segment) {
			std::size_t at = text.find("\t\t" + lv + " {");
			std::size_t from = text.find("type = \"striped\"", at);
			std::size_t to = text.find(']', from);
			ASSERT_NE(to, std::string::npos) << lv << " in:\n" << text;
			text.replace(from, to + 1 - from, segment);
		};
		segment("pool", "type = \"thin-pool\"\n metadata = \"pool_tmeta\"\n"
				" pool = \"pool_tdata\"\n transaction_id = 1\n"
				" chunk_size = 128\n zero_new_blocks = 0");
		segment("thin", "type = \"thin\"\n thin_pool = \"pool\"\n"
				" transaction_id = 0\n device_id = 1");
		for (const std::string part : {"tmeta", "tdata"}) {
			std::size_t at = text.find("\t\t" + part + " {");
			ASSERT_NE(at, std::string::npos) << part;
			text.replace(at + 2, part.size(), "pool_" + part);
			std::size_t visible = text.find(", \"VISIBLE\"", at);
			text.erase(visible, std::string(", \"VISIBLE\"").size());
		}
		std::ofstream(file) << text;
		group_.lvm("vgcfgrestore -q --force -f " + quote(file) + " " + vg_);
	}

	static constexpr unsigned long long pv_size = 400 * MiB;
	TempDir work_, os_;
	LvmGroup group_;
	std::string vg_, lvs_, pv_uuid_;
	Image disk_{pv_size + 2 * MiB};
};

TEST_F(InspectLvm, VolumesFieldByField)
{
	std::string before = disk_.sha256();
	int status;
	std::string errors;
	json r = inspect_json(disk_.path(), work_.path(), status, errors);
	ASSERT_EQ(status, 0) << errors;
	ASSERT_FALSE(r.is_discarded()) << "not JSON: " << read_text(work_ / "report.json");
	EXPECT_EQ(disk_.sha256(), before) << "inspection wrote the image";

	ASSERT_EQ(r["partitions"].size(), 1u) << r.dump(2);
	const json &pv = r["partitions"][0]["filesystem"];
	EXPECT_EQ(pv["type"], "LVM2_member");
	EXPECT_EQ(pv["uuid"], pv_uuid_);

	// Name, type and size as lvs(8) gives them: data, pool, root, thin.
	const json &lvs = r["logical_volumes"];
	std::istringstream in(lvs_);
	std::map<std::string, const json *> by_name;
	std::size_t listed = 0;
	for (std::string line; std::getline(in, line); listed++) {
		std::istringstream fields(line);
		std::string name, type, size;
		std::getline(fields >> std::ws, name, ',');
		std::getline(fields, type, ',');
		std::getline(fields, size);
		SCOPED_TRACE(name);
		ASSERT_LT(listed, lvs.size()) << r.dump(2);
		const json &lv = lvs[listed];
		EXPECT_EQ(lv["name"], vg_ + "/" + name);
		EXPECT_EQ(lv["volume_group"], vg_);
		EXPECT_EQ(lv["segment_type"], type);
		EXPECT_EQ(lv["size"], std::stoull(size));
		by_name[name] = &lv;
	}
	EXPECT_EQ(listed, 4u) << lvs_;
	ASSERT_EQ(lvs.size(), listed) << r.dump(2);
	ASSERT_EQ(by_name.count("data") + by_name.count("root") + by_name.count("pool") +
			  by_name.count("thin"),
		  4u)
		<< lvs_;

	const json &data = (*by_name["data"])["filesystem"];
	EXPECT_EQ(data["type"], "xfs");
	EXPECT_EQ(data["label"], "lvdata");
	EXPECT_EQ(data["uuid"], data_uuid);
	EXPECT_GT(data["usage"]["available"].get<unsigned long long>(), 200 * MiB);
	EXPECT_LE(data["usage"]["size"].get<unsigned long long>(), 320 * MiB);
	EXPECT_TRUE(data["os"].is_null());

	const json &root = (*by_name["root"])["filesystem"];
	EXPECT_EQ(root["type"], "ext4");
	EXPECT_EQ(root["label"], "lvroot");
	EXPECT_EQ(root["uuid"], root_uuid);
	EXPECT_GT(root["usage"]["used"].get<unsigned long long>(), 0u);
	EXPECT_LE(root["usage"]["size"].get<unsigned long long>(), 32 * MiB);
	const json &os = root["os"];
	ASSERT_TRUE(os.is_object()) << root.dump(2);
	EXPECT_EQ(os["name"], "Test Linux");
	EXPECT_EQ(os["version_id"], "12");
	EXPECT_EQ(os["hostname"], "testhost");
	EXPECT_EQ(os["kernels"], json::array({"vmlinuz-6.1.0-13-amd64", "vmlinuz-6.1.0-9-amd64"}));
	EXPECT_EQ(os["package_manager"], "dpkg");
	EXPECT_EQ(os["packages"], 2);

	for (const char *name : {"pool", "thin"}) {
		SCOPED_TRACE(name);
		const json &lv = *by_name[name];
		EXPECT_TRUE(lv["filesystem"].is_null()) << lv.dump(2);
		EXPECT_EQ(lv["note"], std::string("a ") + lv["segment_type"].get<std::string>() +
					      " volume, which lkl does not map (only linear "
					      "and striped volumes)");
	}

	// The table names them too, with the same notes.
	std::string out;
	ASSERT_EQ(run(inspect + " --table " + quote(disk_.path()), &out), 0) << out;
	for (const std::string &part :
	     {vg_ + "/data", vg_ + "/root", std::string("lvdata"), std::string(root_uuid),
	      vg_ + "/root: Test Linux 12 (bookworm)",
	      vg_ + "/pool: a thin-pool volume, which lkl does not map",
	      vg_ + "/thin: a thin volume, which lkl does not map"})
		EXPECT_NE(out.find(part), std::string::npos) << part << " in:\n" << out;
}

TEST(InspectErrors, NamesTheImage)
{
	TempDir work;
	std::string out;
	EXPECT_EQ(run(inspect + " " + quote(work / "missing.img"), &out), 1);
	EXPECT_NE(out.find("missing.img: No such file or directory"), std::string::npos) << out;
	out.clear();
	EXPECT_EQ(run(inspect, &out), 2);
	EXPECT_NE(out.find("--help"), std::string::npos) << out;
}

} // namespace
