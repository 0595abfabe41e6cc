// lkl-inspect: what is on a disk image, as virt-inspector tells it: the
// partition table, each partition's and LVM2 logical volume's file system
// (type, label, UUID, size, usage) and, for a file system that holds an
// operating system, its name and version, hostname, kernels and package
// database. The image is opened read-only and each file system mounted
// read-only in turn by the kernel's own drivers (a logical volume mapped
// read-only by its device-mapper for the while); one that does not mount
// is reported with what the kernel said, and the inspection goes on. JSON,
// or a table on a terminal.
#include "cli.hpp"
#include "emergency_exit.hpp"
#include "image_disk.hpp"
#include "image_fs.hpp"
#include "kernel_session.hpp"
#include "os_inspect.hpp"

#include <lkl.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <getopt.h>
#include <unistd.h>

#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

using json = nlohmann::ordered_json;

const char *prog = "lkl-inspect";

int usage(FILE *out, int status)
{
	fprintf(out,
		"usage: lkl-inspect [--json|--table] [-m MB] [-p] IMAGE\n"
		"\n"
		"Tells what the disk image IMAGE holds: its partition table, each\n"
		"partition's file system (type, label, UUID, size, usage) and, where a\n"
		"file system holds an operating system, its name and version\n"
		"(os-release), hostname, architecture, the kernels in /boot and its\n"
		"package database. The LVM2 logical volumes of the volume groups on it\n"
		"are listed (VG/LV, type, size) and the linear and striped ones inspected\n"
		"like partitions; thin, RAID, mirror, cache and snapshot volumes are\n"
		"listed with a note: lkl does not map them. The image is opened\n"
		"read-only and never written; the file systems are read by the Linux\n"
		"kernel's own drivers (xfs, ext4, btrfs, vfat) inside this program. A\n"
		"file system that does not mount is reported with the kernel's messages;\n"
		"one whose journal would need replaying is read at its last checkpoint\n"
		"(\"journal_not_replayed\").\n"
		"\n"
		"  -j, --json                    JSON (the default unless standard output\n"
		"                                is a terminal)\n"
		"  -T, --table                   a table (the default on a terminal)\n"
		"  -m, --mb MB                   kernel memory in MiB (default: 128)\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Exit status: 0 when the image was inspected (damaged file systems\n"
		"included, as reported), 1 when it could not be opened, 2 for bad usage.\n");
	return status;
}

struct Args {
	lkl_tools::ImageOptions image;
	bool table = false;
};

std::optional<int> parse(int argc, char **argv, Args &args)
{
	enum { opt_version = 256 };
	static const struct option longopts[] = {
		{"json", no_argument, nullptr, 'j'},
		{"table", no_argument, nullptr, 'T'},
		{"mb", required_argument, nullptr, 'm'},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	args.table = isatty(STDOUT_FILENO);
	int c;
	while ((c = getopt_long(argc, argv, "jTm:ph", longopts, nullptr)) != -1) {
		if (c == 'm' || c == 'p') {
			if (int status = *lkl_tools::image_option(c, optarg, args.image,
								   prog);
			    status >= 0)
				return status;
			continue;
		}
		switch (c) {
		case 'j':
			args.table = false;
			break;
		case 'T':
			args.table = true;
			break;
		case 'h':
			return usage(stdout, 0);
		case opt_version:
			printf("%s (lkl) %s\n", prog, LKL_VERSION);
			return 0;
		default:
			return lkl_tools::bad_usage(prog, nullptr);
		}
	}
	if (argc - optind != 1)
		return lkl_tools::bad_usage(prog, argc == optind ? "no image given"
								 : "one image at a time");
	args.image.image = argv[optind];
	args.image.read_only = true;
	return std::nullopt;
}

// The lines of what the kernel said, from ImageDisk::mount's error.
void split_error(const std::string &error, json &fs)
{
	const std::string mark = "\nthe kernel said:\n";
	std::size_t at = error.find(mark);
	std::string what = error.substr(0, at);
	// Without the image's name, which the report already gives.
	std::size_t colon = what.find(": ");
	fs["error"] = colon == std::string::npos ? what : what.substr(colon + 2);
	json lines = json::array();
	if (at != std::string::npos) {
		std::istringstream in(error.substr(at + mark.size()));
		for (std::string line; std::getline(in, line);)
			if (!line.empty())
				lines.push_back(line);
	}
	fs["kernel_messages"] = lines;
}

json usage_of(const std::string &root)
{
	struct lkl_statfs sf {};
	if (lkl_sys_statfs(root.c_str(), &sf) < 0)
		return nullptr;
	auto bytes = [&](unsigned long long blocks) {
		return blocks * static_cast<unsigned long long>(sf.f_bsize);
	};
	return {{"size", bytes(sf.f_blocks)},
		{"used", bytes(sf.f_blocks - sf.f_bfree)},
		{"available", bytes(sf.f_bavail)},
		{"files", sf.f_files},
		{"files_free", sf.f_ffree}};
}

json os_of(const std::string &root)
{
	auto fs = lkl_tools::make_image_fs(root);
	lkl_tools::OsInfo os = lkl_tools::inspect_os(*fs);
	if (!os.found)
		return nullptr;
	auto field = [&](const char *key) -> json {
		auto it = os.release.find(key);
		return it == os.release.end() ? json(nullptr) : json(it->second);
	};
	json out = {{"name", field("NAME")},
		    {"version", field("VERSION")},
		    {"id", field("ID")},
		    {"version_id", field("VERSION_ID")},
		    {"pretty_name", field("PRETTY_NAME")},
		    {"arch", os.arch.empty() ? json(nullptr) : json(os.arch)},
		    {"hostname", os.hostname.empty() ? json(nullptr) : json(os.hostname)},
		    {"kernels", os.kernels},
		    {"package_manager", os.package_manager.empty()
						? json(nullptr)
						: json(os.package_manager)},
		    {"packages", os.packages ? json(*os.packages) : json(nullptr)}};
	return out;
}

// The file system on partition @part (0: the whole disk), or on @volume
// if it is not null.
json filesystem(lkl_tools::ImageDisk &disk, unsigned part,
		const lkl_tools::Probe &found, lkl_tools::ActiveVolume *volume = nullptr)
{
	json fs = {{"type", found.type.empty() ? json(nullptr) : json(found.type)},
		   {"label", found.label.empty() ? json(nullptr) : json(found.label)},
		   {"uuid", found.uuid.empty() ? json(nullptr) : json(found.uuid)}};
	if (found.type == "LVM2_member")
		fs["note"] = "an LVM physical volume: its logical volumes are "
			     "listed after the partitions";
	if (lkl_tools::kernel_fs_type(found.type).empty())
		return fs;
	lkl_tools::MountedFs mounted;
	auto mount = [&](std::string &error, bool norecovery) {
		return volume ? disk.mount(*volume, {}, {}, mounted, error, norecovery)
			      : disk.mount(part, {}, {}, mounted, error, norecovery);
	};
	std::string error;
	bool replayed = true;
	if (!mount(error, false)) {
		// A journal to replay: read its last checkpoint instead.
		std::string first = error;
		error.clear();
		replayed = false;
		if (!disk.needs_log_replay() || !mount(error, true)) {
			split_error(error.empty() ? first : error, fs);
			return fs;
		}
	}
	if (!replayed)
		fs["journal_not_replayed"] = true;
	fs["usage"] = usage_of(mounted.root());
	fs["os"] = os_of(mounted.root());
	if (std::string failed = disk.unmount(mounted); !failed.empty())
		fs["unmount_error"] = failed;
	return fs;
}

// Without "VG/LV: ", which the report gives already.
std::string reason(const std::string &name, const std::string &error)
{
	std::string prefix = name + ": ";
	return error.rfind(prefix, 0) == 0 ? error.substr(prefix.size()) : error;
}

// The logical volumes of the volume groups on the image: each mapped,
// probed and its file system inspected in turn, then unmapped; those lkl
// does not map are listed with why.
json logical_volumes(lkl_tools::ImageDisk &disk)
{
	json out = json::array();
	int n = lkl_lvm_list(nullptr, 0);
	std::vector<struct lkl_lvm_volume> volumes(n > 0 ? static_cast<unsigned>(n) : 0);
	if (n > 0)
		n = lkl_lvm_list(volumes.data(), static_cast<unsigned>(n));
	volumes.resize(n > 0 ? std::min(volumes.size(), static_cast<size_t>(n)) : 0);
	for (const struct lkl_lvm_volume &v : volumes) {
		std::string name = v.name;
		json lv = {{"name", name},
			   {"volume_group", name.substr(0, name.find('/'))},
			   {"segment_type", v.type},
			   {"size", v.size}};
		if (v.status) {
			lv["filesystem"] = nullptr;
			lv["note"] = reason(name, v.error);
			out.push_back(lv);
			continue;
		}
		lkl_tools::ActiveVolume volume;
		std::string error;
		lkl_tools::Probe found;
		int err = 0;
		if (!disk.activate(name, volume, error)) {
			lv["filesystem"] = {{"error", reason(disk.path() + ": " + name, error)}};
		} else if ((err = lkl_tools::probe_device(volume.dev(), false, -1, found)) < 0) {
			lv["filesystem"] = {{"error", std::string("probing it: ") +
							   strerror(-err)}};
		} else {
			lv["filesystem"] = filesystem(disk, 0, found, &volume);
		}
		out.push_back(lv);
	}
	return out;
}

json inspect(lkl_tools::ImageDisk &disk, std::string &error)
{
	lkl_tools::Probe whole;
	if (int err = disk.probe(0, whole); err < 0) {
		error = disk.path() + ": reading it: " + strerror(-err);
		return nullptr;
	}
	json out = {{"image", disk.path()}, {"size", whole.size}};
	if (whole.table.empty()) {
		out["partition_table"] = nullptr;
		out["filesystem"] = filesystem(disk, 0, whole);
		out["logical_volumes"] = logical_volumes(disk);
		return out;
	}
	out["partition_table"] = {{"type", whole.table},
				  {"uuid", whole.table_uuid.empty()
						   ? json(nullptr)
						   : json(whole.table_uuid)}};
	json parts = json::array();
	for (const lkl_tools::PartitionEntry &e : whole.entries) {
		json p = {{"number", e.number},
			  {"start", e.start},
			  {"size", e.size},
			  {"type", e.type},
			  {"name", e.name.empty() ? json(nullptr) : json(e.name)},
			  {"uuid", e.uuid.empty() ? json(nullptr) : json(e.uuid)}};
		lkl_tools::Probe found;
		if (int err = disk.probe(e.number, found); err < 0) {
			p["filesystem"] = {{"error", std::string("probing it: ") +
							  strerror(-err)}};
		} else {
			p["filesystem"] = filesystem(disk, e.number, found);
		}
		parts.push_back(p);
	}
	out["partitions"] = parts;
	out["logical_volumes"] = logical_volumes(disk);
	return out;
}

std::string human(unsigned long long bytes)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = static_cast<double>(bytes);
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	char buf[32];
	snprintf(buf, sizeof(buf), u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

std::string text(const json &j)
{
	return j.is_string() ? j.get<std::string>() : "-";
}

// One line of the table and what follows it (OS, errors).
void print_fs(const std::string &where, int width, const std::string &start,
	      const std::string &size, const json &fs, std::string &notes)
{
	std::string used = "-";
	if (fs.contains("usage") && fs["usage"].is_object()) {
		const json &u = fs["usage"];
		auto total = u["size"].get<unsigned long long>();
		auto in_use = u["used"].get<unsigned long long>();
		char pct[16];
		snprintf(pct, sizeof(pct), "%llu%%", total ? in_use * 100 / total : 0);
		used = std::string(pct) + " of " + human(total);
	}
	if (fs.contains("error"))
		used = "damaged";
	printf("%-*s %-10s %-10s %-12s %-12s %-38s %s\n", width, where.c_str(),
	       start.c_str(), size.c_str(), text(fs["type"]).c_str(),
	       text(fs["label"]).c_str(), text(fs["uuid"]).c_str(), used.c_str());
	std::string head = where == "-" ? "" : where + ": ";
	if (fs.contains("error")) {
		notes += head + "does not mount: " + fs["error"].get<std::string>() + "\n";
		for (const json &line : fs["kernel_messages"])
			notes += "   kernel: " + line.get<std::string>() + "\n";
	}
	if (fs.contains("journal_not_replayed"))
		notes += head + "its journal was not replayed: this is its last "
				"checkpoint\n";
	if (fs.contains("note"))
		notes += head + fs["note"].get<std::string>() + "\n";
	if (fs.contains("os") && fs["os"].is_object()) {
		const json &os = fs["os"];
		std::string name = os["pretty_name"].is_string()
					   ? os["pretty_name"].get<std::string>()
					   : text(os["name"]) + " " + text(os["version"]);
		notes += head + name;
		if (os["arch"].is_string())
			notes += ", " + os["arch"].get<std::string>();
		if (os["hostname"].is_string())
			notes += ", hostname " + os["hostname"].get<std::string>();
		notes += "\n";
		std::string kernels;
		for (const json &k : os["kernels"])
			kernels += (kernels.empty() ? "" : ", ") + k.get<std::string>();
		if (!kernels.empty())
			notes += "   kernels: " + kernels + "\n";
		if (os["package_manager"].is_string()) {
			notes += "   packages: " + os["package_manager"].get<std::string>();
			if (os["packages"].is_number())
				notes += ", " + std::to_string(os["packages"].get<unsigned>()) +
					 " installed";
			notes += "\n";
		}
	}
}

void print_table(const json &report)
{
	printf("%s: %s", report["image"].get<std::string>().c_str(),
	       human(report["size"].get<unsigned long long>()).c_str());
	const json &table = report["partition_table"];
	if (table.is_object())
		printf(", %s partition table %s", table["type"].get<std::string>().c_str(),
		       text(table["uuid"]).c_str());
	printf("\n%-5s %-10s %-10s %-12s %-12s %-38s %s\n", "PART", "START", "SIZE",
	       "TYPE", "LABEL", "UUID", "USED");
	std::string notes;
	if (!table.is_object()) {
		print_fs("-", 5, "0", human(report["size"].get<unsigned long long>()),
			 report["filesystem"], notes);
	} else {
		for (const json &p : report["partitions"])
			print_fs(std::to_string(p["number"].get<unsigned>()), 5,
				 human(p["start"].get<unsigned long long>()),
				 human(p["size"].get<unsigned long long>()), p["filesystem"],
				 notes);
	}
	const json &volumes = report["logical_volumes"];
	if (!volumes.empty()) {
		int width = 6;
		for (const json &lv : volumes)
			width = std::max(width, static_cast<int>(lv["name"].get<std::string>().size()));
		printf("\n%-*s %-10s %-10s %-12s %-12s %-38s %s\n", width, "VOLUME",
		       "LAYOUT", "SIZE", "TYPE", "LABEL", "UUID", "USED");
		for (const json &lv : volumes) {
			std::string name = lv["name"].get<std::string>();
			json fs = lv["filesystem"].is_object()
					  ? lv["filesystem"]
					  : json{{"type", nullptr}, {"label", nullptr},
						 {"uuid", nullptr}};
			if (lv.contains("note"))
				fs["note"] = lv["note"];
			print_fs(name, width, lv["segment_type"].get<std::string>(),
				 human(lv["size"].get<unsigned long long>()), fs, notes);
		}
	}
	if (!notes.empty())
		printf("\n%s", notes.c_str());
}

int run(const Args &args)
{
	std::string error;
	lkl_tools::ImageDisk disk(args.image);
	lkl_tools::emergency_image(args.image.image, true);
	if (!disk.claim(error)) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	auto kernel = lkl_tools::KernelSession::boot({args.image.mb, args.image.log},
						     error);
	if (!kernel || !disk.attach(error)) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	for (const std::string &warning : disk.warnings())
		fprintf(stderr, "%s: warning: %s\n", prog, warning.c_str());
	json report = inspect(disk, error);
	std::string failed = disk.detach();
	if (std::string halt = kernel->halt(); failed.empty())
		failed = halt;
	if (report.is_null()) {
		fprintf(stderr, "%s: %s\n", prog, error.c_str());
		return 1;
	}
	if (!failed.empty())
		fprintf(stderr, "%s: %s: %s\n", prog, args.image.image.c_str(),
			failed.c_str());
	if (args.table)
		print_table(report);
	else
		printf("%s\n", report.dump(2).c_str());
	return fflush(stdout) == 0 && failed.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
	lkl_tools::emergency_program(prog);
	lkl_tools::exit_on_kernel_panic();
	return lkl_tools::tool_main(prog, [&] {
		Args args;
		if (auto status = parse(argc, argv, args))
			return *status;
		return run(args);
	});
}
