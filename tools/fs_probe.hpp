// What a disk or partition attached to the kernel holds, identified by
// libblkid (the library behind blkid(8) and mount(8)) on the image's host
// descriptor, at the partition's offset and size as the kernel's own
// partition scan found them; for a disk without a host file (NBD, a
// qcow2 served by qemu-nbd) on a copy of the ends of the device read
// through the kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lkl_tools {

// One entry of a partition table, as blkid reads it.
struct PartitionEntry {
	unsigned number = 0;
	std::uint64_t start = 0, size = 0; // bytes
	// GPT: the partition type GUID; MBR: the type byte, "0x83".
	std::string type;
	std::string name; // GPT's partition name
	std::string uuid; // GPT's unique partition GUID; MBR: "DISKID-NN"
};

struct Probe {
	// blkid's TYPE: "xfs", "ext4", "vfat", "LVM2_member", ...; empty when
	// no signature was found.
	std::string type;
	std::string label, uuid;
	// A partition table (blkid's PTTYPE: "gpt", "dos") and the numbers of
	// its partitions, when the probed device holds one.
	std::string table;
	std::vector<unsigned> partitions;
	// The table's identifier (GPT disk GUID, MBR disk signature) and its
	// entries, in table order.
	std::string table_uuid;
	std::vector<PartitionEntry> entries;
	// The size of the probed disk or partition, in bytes.
	std::uint64_t size = 0;
	// Several signatures that contradict each other (mount(8) refuses).
	bool ambiguous = false;
};

// Probes partition @part (0: the whole disk) of lkl disk @disk_id, whose
// image is open on the host as @image_fd (-1: none, read it through the
// kernel). Returns 0, or a negative errno
// (-ENXIO: no such partition) with nothing probed.
int probe(int disk_id, unsigned part, int image_fd, Probe &result);

// The same for the kernel's block device @devid (a partition when
// @partition), such as a logical volume's device-mapper device (with
// @image_fd -1).
int probe_device(uint32_t devid, bool partition, int image_fd, Probe &result);

// The kernel's name for a file system blkid reports: lkl's ext4 driver
// mounts ext2 and ext3 too. Empty if lkl cannot mount it.
std::string kernel_fs_type(const std::string &blkid_type);

} // namespace lkl_tools
