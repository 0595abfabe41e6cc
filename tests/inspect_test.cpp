// lkl-inspect, run as the user runs it, on a GPT disk made at test time by
// sfdisk and the mkfs tools: a vfat EFI partition, an ext4 root holding an
// operating system's files, an ext4 partition whose group descriptors are
// overwritten (damaged), and an XFS data partition after it. The JSON is
// checked field by field against what was made and what sfdisk says; the
// damaged one is reported with the kernel's words and the inspection goes
// on; the image is not written.
#include "image_util.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

using namespace lkl_test;
using json = nlohmann::json;

namespace {

constexpr unsigned long long MiB = 1ULL << 20;
const std::string inspect = LKL_INSPECT_BIN;

const char *root_uuid = "11111111-2222-3333-4444-555555555555";
const char *data_uuid = "66666666-7777-4888-9999-aaaaaaaaaaaa";

class Inspect : public ::testing::Test {
protected:
	void SetUp() override
	{
		for (const char *tool : {"sfdisk", "mkfs.vfat", "mkfs.ext4", "mkfs.xfs"})
			if (!have(tool))
				GTEST_SKIP() << tool << " is not installed";
		make_os_tree();
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

	void make_os_tree()
	{
		std::string out;
		ASSERT_EQ(run("set -e; cd " + quote(os_.path()) +
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

	// Partition @n's first sector and size in bytes, as sfdisk has them.
	unsigned long long start(int n) const
	{
		return table_["partitions"][n - 1]["start"].get<unsigned long long>();
	}
	unsigned long long size(int n) const
	{
		return table_["partitions"][n - 1]["size"].get<unsigned long long>() * 512;
	}

	// lkl-inspect's JSON of the disk; its exit status in @status.
	json report(int &status, std::string &errors)
	{
		// In braces: run() sends standard error to its output.
		status = run("{ " + inspect + " --json " + quote(disk_.path()) + " > " +
			     quote(work_ / "report.json") + " 2> " + quote(work_ / "errors") +
			     "; }");
		errors = read_text(work_ / "errors");
		return json::parse(read_text(work_ / "report.json"), nullptr, false);
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
