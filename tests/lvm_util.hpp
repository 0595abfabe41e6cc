// Volume groups made by lvm2's own tools for the tests (pvcreate,
// vgcreate, lvcreate on loop devices of PV files, activation off: the host
// needs no device-mapper), and file systems moved in and out of their
// volumes' extents at the offsets pvs(8) and lvs(8) report.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace lkl_test {

class LvmGroup {
public:
	LvmGroup() = default;
	LvmGroup(const LvmGroup &) = delete;
	LvmGroup &operator=(const LvmGroup &) = delete;
	~LvmGroup() { detach(); }

	// Makes @pvs sparse PV files of @pv_size bytes in @dir, puts them on
	// loop devices and makes volume group @name on them. "" on success,
	// else why not (the caller skips: no loop devices here) with
	// @skip set, or what failed.
	std::string create(const std::string &dir, const std::string &name,
			   unsigned pvs, unsigned long long pv_size, bool &skip);

	// Runs the lvm2 command @cmd ("lvcreate -n root -l 80 VG") on the
	// group's loop devices only, keeping no cache or backups on the
	// host, with activation off for lvcreate; its output. A test
	// failure if it fails.
	std::string lvm(const std::string &cmd);
	// The loop device of PV @i, for lvcreate's PV:PE ranges.
	const std::string &loop(unsigned i) const { return loops_.at(i); }

	// Reads where the volumes lie (lvs -o seg_pe_ranges, pvs -o pe_start),
	// then detaches the loop devices: after it only the files count.
	void detach();

	// The PV files.
	const std::string &pv(unsigned i) const { return pvs_.at(i); }
	const std::string &name() const { return name_; }

	// Copies volume @lv's content between @file and the PV files (@in:
	// into the volume), chunk by chunk as a linear or a striped volume
	// lays it out (@stripe bytes per chunk, the runs taking turns).
	void place(const std::string &lv, const std::string &file, bool in,
		   unsigned long long stripe = 0) const;

private:
	// @cmd with the options lvm() adds.
	std::string lvm_command(const std::string &cmd) const;

	// A run of a volume's extents in a PV file, in bytes.
	struct Extents {
		unsigned pv;
		unsigned long long offset, length;
	};

	std::string name_;
	std::vector<std::string> pvs_, loops_, loop_names_;
	unsigned long long extent_ = 0, pe_start_ = 0;
	std::map<std::string, std::vector<Extents>> runs_;
};

} // namespace lkl_test
