#include "fs_probe.hpp"

#include <lkl.h>

#include <blkid/blkid.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace lkl_tools {

namespace {

// A host descriptor, closed on scope exit.
struct HostFd {
	int fd;
	~HostFd()
	{
		if (fd >= 0)
			::close(fd);
	}
};

// A number in a sysfs file inside the kernel, or -1.
long long sysfs_number(const std::string &path)
{
	long fd = lkl_sys_openat(LKL_AT_FDCWD, path.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		return -1;
	char buf[32] = {};
	long n = lkl_sys_read(fd, buf, sizeof(buf) - 1);
	lkl_sys_close(fd);
	return n > 0 ? strtoll(buf, nullptr, 10) : -1;
}

std::string lookup(blkid_probe pr, const char *name)
{
	const char *value = nullptr;
	if (blkid_probe_lookup_value(pr, name, &value, nullptr) == 0 && value)
		return value;
	return {};
}

// Where the signatures blkid looks for lie: the first MiB (superblocks,
// partition tables, the LVM2 label) and the last 256 KiB (backup labels).
constexpr unsigned long long probe_head = 1 << 20, probe_tail = 256 << 10;

// Copies the ends of the block device @devid (@bytes long) from the
// kernel into a sparse memfd of the same size, for blkid to read like
// the device. The memfd, or a negative errno.
int copy_ends(uint32_t devid, unsigned long long bytes)
{
	static const char node[] = "/lkl-probe-dev";
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	long err = lkl_sys_mknodat(LKL_AT_FDCWD, node, LKL_S_IFBLK | 0600, devid);
	if (err < 0)
		return static_cast<int>(err);
	long dev = lkl_sys_openat(LKL_AT_FDCWD, node, LKL_O_RDONLY, 0);
	lkl_sys_unlinkat(LKL_AT_FDCWD, node, 0);
	if (dev < 0)
		return static_cast<int>(dev);
	HostFd mem{memfd_create("lkl-probe", MFD_CLOEXEC)};
	int result = mem.fd < 0 ? -errno : 0;
	if (!result && ftruncate(mem.fd, static_cast<off_t>(bytes)) < 0)
		result = -errno;
	std::vector<char> buf(probe_head);
	unsigned long long head = std::min(bytes, probe_head);
	unsigned long long tail = std::max(head, bytes > probe_tail ? bytes - probe_tail : 0);
	const std::pair<unsigned long long, unsigned long long> ranges[] = {
		{0, head}, {tail, bytes - tail}};
	for (auto [from, len] : ranges) {
		if (result || !len)
			continue;
		long n = lkl_sys_pread64(static_cast<unsigned int>(dev), buf.data(),
					 len, static_cast<lkl_loff_t>(from));
		if (n < 0)
			result = static_cast<int>(n);
		else if (pwrite(mem.fd, buf.data(), static_cast<size_t>(n),
				static_cast<off_t>(from)) != n)
			result = -EIO;
	}
	lkl_sys_close(static_cast<unsigned int>(dev));
	if (result)
		return result;
	return std::exchange(mem.fd, -1);
}

std::string text(const char *s)
{
	return s ? s : "";
}

PartitionEntry entry(blkid_partition p, unsigned number)
{
	PartitionEntry e;
	e.number = number;
	e.start = static_cast<std::uint64_t>(blkid_partition_get_start(p)) * 512;
	e.size = static_cast<std::uint64_t>(blkid_partition_get_size(p)) * 512;
	e.type = text(blkid_partition_get_type_string(p));
	if (e.type.empty()) {
		char byte[8];
		snprintf(byte, sizeof(byte), "0x%02x", blkid_partition_get_type(p));
		e.type = byte;
	}
	e.name = text(blkid_partition_get_name(p));
	e.uuid = text(blkid_partition_get_uuid(p));
	return e;
}

} // namespace

int probe(int disk_id, unsigned part, int image_fd, Probe &result)
{
	uint32_t devid;
	int err = lkl_get_virtio_blkdev(disk_id, part, &devid);
	if (err < 0)
		return err;
	return probe_device(devid, part != 0, image_fd, result);
}

int probe_device(uint32_t devid, bool partition, int image_fd, Probe &result)
{
	if (lkl_mount_fs(const_cast<char *>("sysfs")) < 0)
		return -EIO;
	// Where the kernel found the partition, in 512-byte sectors.
	std::string dir = "/sysfs/dev/block/" + std::to_string(major(devid)) + ":" +
			  std::to_string(minor(devid));
	long long start = partition ? sysfs_number(dir + "/start") : 0;
	long long size = sysfs_number(dir + "/size");
	if (start < 0 || size < 0)
		return -ENXIO;

	// A descriptor of our own: the image's may be O_DIRECT, and blkid
	// moves the file offset. A disk without a host file (NBD, a qcow2
	// that qemu-nbd serves) is read through the kernel into a memfd.
	HostFd fd{-1};
	if (image_fd >= 0) {
		fd.fd = ::open(("/proc/self/fd/" + std::to_string(image_fd)).c_str(),
			       O_RDONLY | O_CLOEXEC);
		if (fd.fd < 0)
			return -errno;
	} else {
		fd.fd = copy_ends(devid, static_cast<unsigned long long>(size) * 512);
		if (fd.fd < 0)
			return fd.fd;
		start = 0;
	}
	// ZFS's prober reads its four labels at many offsets: 10 ms of a
	// 12 ms probe here. It runs only when nothing else matched.
	char zfs[] = "zfs_member";
	char *zfs_only[] = {zfs, nullptr};
	std::unique_ptr<blkid_struct_probe, void (*)(blkid_probe)> pr(nullptr,
								       blkid_free_probe);
	int rc = 1;
	for (int filter : {BLKID_FLTR_NOTIN, BLKID_FLTR_ONLYIN}) {
		pr.reset(blkid_new_probe());
		if (!pr)
			return -ENOMEM;
		if (blkid_probe_set_device(pr.get(), fd.fd, start * 512, size * 512) < 0)
			return -EIO;
		blkid_probe_enable_superblocks(pr.get(), 1);
		blkid_probe_set_superblocks_flags(pr.get(), BLKID_SUBLKS_TYPE |
								    BLKID_SUBLKS_LABEL |
								    BLKID_SUBLKS_UUID);
		blkid_probe_filter_superblocks_type(pr.get(), filter, zfs_only);
		blkid_probe_enable_partitions(pr.get(), filter == BLKID_FLTR_NOTIN);
		rc = blkid_do_safeprobe(pr.get());
		if (rc != 1)
			break;
	}
	result = Probe{};
	result.size = static_cast<std::uint64_t>(size) * 512;
	if (rc == -2) {
		result.ambiguous = true;
		return 0;
	}
	if (rc < 0)
		return -EIO;
	if (rc == 1)
		return 0;
	result.type = lookup(pr.get(), "TYPE");
	result.label = lookup(pr.get(), "LABEL");
	result.uuid = lookup(pr.get(), "UUID");
	result.table = lookup(pr.get(), "PTTYPE");
	if (!result.table.empty()) {
		if (blkid_partlist list = blkid_probe_get_partitions(pr.get())) {
			if (blkid_parttable table = blkid_partlist_get_table(list))
				result.table_uuid = text(blkid_parttable_get_id(table));
			int n = blkid_partlist_numof_partitions(list);
			for (int i = 0; i < n; i++) {
				blkid_partition p = blkid_partlist_get_partition(list, i);
				int no = p ? blkid_partition_get_partno(p) : -1;
				if (no <= 0)
					continue;
				result.partitions.push_back(static_cast<unsigned>(no));
				result.entries.push_back(entry(p, static_cast<unsigned>(no)));
			}
		}
	}
	return 0;
}

std::string kernel_fs_type(const std::string &blkid_type)
{
	if (blkid_type == "ext2" || blkid_type == "ext3" || blkid_type == "ext4")
		return "ext4";
	if (blkid_type == "xfs" || blkid_type == "btrfs" || blkid_type == "vfat")
		return blkid_type;
	return {};
}

} // namespace lkl_tools
