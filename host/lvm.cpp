// LVM2 logical volumes: lkl_lvm_activate(), lkl_lvm_deactivate() and
// lkl_lvm_list().
//
// The physical volumes are found on the disks and partitions the kernel
// has (its sysfs lists them), their metadata is read through the kernel
// (lvm_metadata.cpp), and the volume becomes a device-mapper device of
// the kernel's own, with a linear or striped table loaded through
// /dev/mapper/control: the same ioctls libdevmapper issues for
// "lvchange -ay" (DM_DEV_CREATE, DM_TABLE_LOAD, DM_DEV_SUSPEND to resume).
// Thin, RAID, mirror, cache, VDO and snapshot volumes need more than a
// table of linear pieces and are refused by name.

#include "lvm_metadata.cpp"

#include <lkl.h>
#include <lkl/linux/dm-ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {
namespace lvm {

// A device of the kernel: its "major:minor" and name.
struct BlockDevice {
	std::string dev, name;
};

std::string read_small(const std::string &path)
{
	long fd = lkl_sys_openat(LKL_AT_FDCWD, path.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		return {};
	char buf[64] = {};
	long n = lkl_sys_read(static_cast<unsigned int>(fd), buf, sizeof(buf) - 1);
	lkl_sys_close(static_cast<unsigned int>(fd));
	std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.pop_back();
	return s;
}

// The kernel's block devices but its device-mapper ones.
std::vector<BlockDevice> block_devices()
{
	std::vector<BlockDevice> out;
	if (lkl_mount_fs(const_cast<char *>("sysfs")) < 0)
		return out;
	int err = 0;
	struct lkl_dir *dir = lkl_opendir("/sysfs/class/block", &err);
	if (!dir)
		return out;
	while (struct lkl_linux_dirent64 *e = lkl_readdir(dir)) {
		std::string name = e->d_name;
		if (name[0] == '.' || name.rfind("dm-", 0) == 0)
			continue;
		std::string dev = read_small("/sysfs/class/block/" + name + "/dev");
		if (!dev.empty())
			out.push_back({dev, name});
	}
	lkl_closedir(dir);
	return out;
}

unsigned long long encode(const std::string &dev)
{
	unsigned major = 0, minor = 0;
	sscanf(dev.c_str(), "%u:%u", &major, &minor);
	// new_encode_dev(), as mknod(2) takes a device number.
	return (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
}

// An open kernel descriptor on the block device @dev, through a node of
// our own (unlinked at once); negative errno on failure.
long open_device(const std::string &dev, int flags)
{
	static const char node[] = "/.lkl-lvm-node";
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	long err = lkl_sys_mknodat(LKL_AT_FDCWD, node, LKL_S_IFBLK | 0600,
				   static_cast<unsigned int>(encode(dev)));
	if (err < 0)
		return err;
	long fd = lkl_sys_openat(LKL_AT_FDCWD, node, flags, 0);
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	return fd;
}

// /dev/mapper/control, where devtmpfs puts it.
long open_control()
{
	lkl_sys_mkdirat(LKL_AT_FDCWD, "/dev", 0755);
	long fd = lkl_sys_openat(LKL_AT_FDCWD, "/dev/mapper/control", LKL_O_RDWR, 0);
	if (fd == -LKL_ENOENT &&
	    lkl_sys_mount(const_cast<char *>("devtmpfs"), const_cast<char *>("/dev"),
			  const_cast<char *>("devtmpfs"), 0, nullptr) == 0)
		fd = lkl_sys_openat(LKL_AT_FDCWD, "/dev/mapper/control", LKL_O_RDWR, 0);
	return fd;
}

// device-mapper's name for VG/LV: "-" inside either doubled, joined by "-".
std::string dm_name(const std::string &vg, const std::string &lv)
{
	std::string out;
	for (const std::string *part : {&vg, &lv}) {
		if (!out.empty())
			out += '-';
		for (char c : *part)
			out += c == '-' ? std::string("--") : std::string(1, c);
	}
	return out;
}

// One device-mapper ioctl with @targets (start, length, type, params) as
// its payload; the kernel's answer in @io. 0 or a negative errno.
struct Target {
	uint64_t start, length;
	std::string type, params;
};
long dm_ioctl(long control, unsigned long cmd, const std::string &name,
	      unsigned flags, const std::vector<Target> &targets,
	      struct lkl_dm_ioctl *answer = nullptr)
{
	size_t size = sizeof(struct lkl_dm_ioctl);
	for (const Target &t : targets)
		size += (sizeof(struct lkl_dm_target_spec) + t.params.size() + 1 + 7) & ~7UL;
	std::vector<char> buf(size + 1024);
	auto *io = reinterpret_cast<struct lkl_dm_ioctl *>(buf.data());
	io->version[0] = LKL_DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = static_cast<uint32_t>(buf.size());
	io->data_start = sizeof(struct lkl_dm_ioctl);
	io->flags = flags;
	io->target_count = static_cast<uint32_t>(targets.size());
	snprintf(io->name, sizeof(io->name), "%s", name.c_str());
	char *at = buf.data() + sizeof(struct lkl_dm_ioctl);
	for (const Target &t : targets) {
		auto *spec = reinterpret_cast<struct lkl_dm_target_spec *>(at);
		spec->sector_start = t.start;
		spec->length = t.length;
		snprintf(spec->target_type, sizeof(spec->target_type), "%s",
			 t.type.c_str());
		char *params = at + sizeof(*spec);
		memcpy(params, t.params.c_str(), t.params.size() + 1);
		size_t step = (sizeof(*spec) + t.params.size() + 1 + 7) & ~7UL;
		spec->next = static_cast<uint32_t>(step);
		at += step;
	}
	long err = lkl_sys_ioctl(static_cast<unsigned int>(control), cmd,
				 reinterpret_cast<long>(io));
	if (err == 0 && answer)
		*answer = *io;
	return err;
}

bool visible(const LogicalVolume &lv)
{
	for (const std::string &s : lv.status)
		if (s == "VISIBLE")
			return true;
	return false;
}

// The device-mapper table of @lv in @vg, whose PVs are at @devices (PV
// UUID to "major:minor"); "" with @why and @error set if it has none.
std::vector<Target> table(const VolumeGroup &vg, const std::string &lv_name,
			  const std::map<std::string, std::string> &devices,
			  std::string &error, int &why)
{
	std::vector<Target> out;
	const LogicalVolume &lv = vg.lvs.at(lv_name);
	std::string full = vg.name + "/" + lv_name;
	for (const auto &[name, other] : vg.lvs)
		for (const Segment &seg : other.segments)
			if (seg.type == "snapshot") {
				why = EOPNOTSUPP;
				error = full + ": the volume group has snapshot volumes (" +
					name + "), which lkl does not map";
				return {};
			}
	for (const Segment &seg : lv.segments) {
		if (seg.type != "striped") {
			why = EOPNOTSUPP;
			error = full + ": a " + seg.type + " volume, which lkl does not "
				"map (only linear and striped volumes)";
			return {};
		}
	}
	if (!visible(lv) || lv.segments.empty()) {
		why = EOPNOTSUPP;
		error = full + ": a hidden or empty volume (part of another one)";
		return {};
	}
	for (const Segment &seg : lv.segments) {
		Target t{seg.start_extent * vg.extent_size,
			 seg.extent_count * vg.extent_size, "", ""};
		std::string pieces;
		for (const Stripe &st : seg.stripes) {
			auto pv = vg.pvs.find(st.pv);
			auto dev = pv == vg.pvs.end() ? devices.end()
						      : devices.find(pv->second.uuid);
			if (dev == devices.end()) {
				why = ENXIO;
				error = full + ": physical volume " + st.pv +
					(pv == vg.pvs.end() ? "" : " (" + pv->second.uuid + ")") +
					" of volume group " + vg.name + " is missing";
				return {};
			}
			pieces += " " + dev->second + " " +
				  std::to_string(pv->second.pe_start +
						 st.extent * vg.extent_size);
		}
		if (seg.stripes.size() == 1) {
			t.type = "linear";
			t.params = pieces.substr(1);
		} else {
			t.type = "striped";
			t.params = std::to_string(seg.stripes.size()) + " " +
				   std::to_string(seg.stripe_size) + pieces;
		}
		out.push_back(std::move(t));
	}
	return out;
}

// A volume group as the disks hold it: its newest metadata (by seqno) and
// where its physical volumes are (PV UUID to "major:minor").
struct Found {
	VolumeGroup vg;
	std::map<std::string, std::string> devices;
};

// The volume groups on the kernel's disks and partitions, by name.
std::map<std::string, Found> scan()
{
	std::map<std::string, Found> out;
	for (const BlockDevice &bd : block_devices()) {
		long fd = open_device(bd.dev, LKL_O_RDONLY);
		if (fd < 0)
			continue;
		auto read = [fd](uint64_t off, uint64_t len) {
			std::string data(len, '\0');
			long n = lkl_sys_pread64(static_cast<unsigned int>(fd), data.data(),
						 len, static_cast<lkl_loff_t>(off));
			data.resize(n > 0 ? static_cast<size_t>(n) : 0);
			return data;
		};
		std::string uuid, metadata;
		VolumeGroup vg;
		bool pv = read_pv(read, uuid, metadata) && read_vg(metadata, vg);
		lkl_sys_close(static_cast<unsigned int>(fd));
		if (!pv)
			continue;
		Found &f = out[vg.name];
		f.devices[uuid] = bd.dev;
		if (f.vg.name.empty() || vg.seqno > f.vg.seqno)
			f.vg = std::move(vg);
	}
	return out;
}

// What lvs(8) calls the type of @lv: its segments' type, "linear" for
// striped segments of one stripe, "striped" if one has more.
std::string lv_type(const LogicalVolume &lv)
{
	std::string type;
	for (const Segment &seg : lv.segments) {
		std::string t = seg.type;
		if (t == "striped" && seg.stripes.size() == 1)
			t = "linear";
		if (type.empty() || (type == "linear" && t == "striped"))
			type = t;
	}
	return type;
}

} // namespace lvm
} // namespace

extern "C" {

[[gnu::visibility("default")]] int
lkl_lvm_activate(const char *name, unsigned int flags, uint32_t *devid,
		 char *error_buf, unsigned long error_len)
{
	namespace lvm = ::lvm;
	if (!name || !devid || (flags & ~LKL_LVM_READ_ONLY))
		return -LKL_EINVAL;
	std::string error;
	int why = 0;
	try {
		std::string full = name;
		size_t slash = full.find('/');
		if (slash == std::string::npos || slash == 0 || slash + 1 == full.size() ||
		    full.find('/', slash + 1) != std::string::npos) {
			disk::set_error(error_buf, error_len,
					full + ": not a logical volume name (VG/LV)");
			return -LKL_EINVAL;
		}
		std::string vg_name = full.substr(0, slash), lv_name = full.substr(slash + 1);

		auto groups = lvm::scan();
		auto found = groups.find(vg_name);
		if (found == groups.end()) {
			why = ENOENT;
			std::string list;
			for (const auto &[g, _] : groups)
				list += (list.empty() ? "" : ", ") + g;
			error = full + ": no volume group " + vg_name + " on the disks" +
				(list.empty() ? "" : " (there is: " + list + ")");
		} else if (!found->second.vg.lvs.count(lv_name)) {
			why = ENOENT;
			std::string list;
			for (const auto &[lv, _] : found->second.vg.lvs)
				list += (list.empty() ? "" : ", ") + lv;
			error = full + ": no logical volume " + lv_name + " in volume group " +
				vg_name + (list.empty() ? "" : " (it has: " + list + ")");
		}
		std::vector<lvm::Target> targets;
		if (!why)
			targets = lvm::table(found->second.vg, lv_name,
					     found->second.devices, error, why);
		if (why) {
			disk::set_error(error_buf, error_len, error);
			return -why;
		}

		long control = lvm::open_control();
		if (control < 0) {
			disk::set_error(error_buf, error_len,
					full + ": no device-mapper in the kernel");
			return static_cast<int>(control);
		}
		std::string dm = lvm::dm_name(vg_name, lv_name);
		struct lkl_dm_ioctl answer = {};
		long err = lvm::dm_ioctl(control, LKL_DM_DEV_CREATE, dm, 0, {}, &answer);
		if (!err) {
			err = lvm::dm_ioctl(control, LKL_DM_TABLE_LOAD, dm,
					    flags & LKL_LVM_READ_ONLY ? LKL_DM_READONLY_FLAG : 0,
					    targets);
			if (!err)
				err = lvm::dm_ioctl(control, LKL_DM_DEV_SUSPEND, dm, 0, {});
			if (err)
				lvm::dm_ioctl(control, LKL_DM_DEV_REMOVE, dm, 0, {});
		}
		lkl_sys_close(static_cast<unsigned int>(control));
		if (err) {
			disk::set_error(error_buf, error_len,
					full + ": device-mapper refused its table: " +
						strerror(static_cast<int>(-err)));
			return static_cast<int>(err);
		}
		*devid = static_cast<uint32_t>(answer.dev);
		return 0;
	} catch (const std::bad_alloc &) {
		return -LKL_ENOMEM;
	}
}

[[gnu::visibility("default")]] int lkl_lvm_list(struct lkl_lvm_volume *volumes,
						unsigned int count)
{
	namespace lvm = ::lvm;
	if (!volumes && count)
		return -LKL_EINVAL;
	try {
		unsigned int n = 0;
		for (const auto &[vg_name, found] : lvm::scan()) {
			for (const auto &[lv_name, lv] : found.vg.lvs) {
				std::string full = vg_name + "/" + lv_name;
				if (!lvm::visible(lv) || full.size() >= sizeof(volumes->name))
					continue;
				if (n < count) {
					struct lkl_lvm_volume &out = volumes[n];
					out = {};
					snprintf(out.name, sizeof(out.name), "%s", full.c_str());
					snprintf(out.type, sizeof(out.type), "%s",
						 lvm::lv_type(lv).c_str());
					for (const lvm::Segment &seg : lv.segments)
						out.size += seg.extent_count * found.vg.extent_size * 512;
					std::string error;
					int why = 0;
					lvm::table(found.vg, lv_name, found.devices, error, why);
					out.status = -why;
					snprintf(out.error, sizeof(out.error), "%s", error.c_str());
				}
				n++;
			}
		}
		return static_cast<int>(n);
	} catch (const std::bad_alloc &) {
		return -LKL_ENOMEM;
	}
}

[[gnu::visibility("default")]] int lkl_lvm_deactivate(const char *name)
{
	namespace lvm = ::lvm;
	if (!name || !strchr(name, '/'))
		return -LKL_EINVAL;
	try {
		std::string full = name;
		size_t slash = full.find('/');
		long control = lvm::open_control();
		if (control < 0)
			return static_cast<int>(control);
		long err = lvm::dm_ioctl(control, LKL_DM_DEV_REMOVE,
					 lvm::dm_name(full.substr(0, slash),
						      full.substr(slash + 1)),
					 0, {});
		lkl_sys_close(static_cast<unsigned int>(control));
		return static_cast<int>(err);
	} catch (const std::bad_alloc &) {
		return -LKL_ENOMEM;
	}
}

} // extern "C"
