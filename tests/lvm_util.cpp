#include "lvm_util.hpp"

#include "image_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace lkl_test {

namespace {

unsigned long long sectors(const std::string &s)
{
	std::size_t at = s.find_first_not_of(' ');
	return at == std::string::npos ? 0 : std::stoull(s.substr(at));
}

} // namespace

std::string LvmGroup::create(const std::string &dir, const std::string &name,
			     unsigned pvs, unsigned long long pv_size, bool &skip)
{
	skip = false;
	name_ = name;
	for (unsigned i = 0; i < pvs; i++) {
		pvs_.push_back(dir + "/pv" + std::to_string(i));
		std::string out;
		if (run("truncate -s " + std::to_string(pv_size) + " " + quote(pvs_[i]),
			&out) != 0)
			return "truncate: " + out;
		if (run("losetup -f --show " + quote(pvs_[i]), &out) != 0) {
			skip = true;
			return "no loop device: " + out;
		}
		loops_.push_back(out.substr(0, out.find('\n')));
	}
	loop_names_ = loops_;
	std::string all;
	for (const std::string &l : loops_)
		all += " " + l;
	std::string out;
	if (run(lvm_command("pvcreate -q -y") + all, &out) != 0 ||
	    run(lvm_command("vgcreate -q") + name + all, &out) != 0)
		return out.empty() ? "pvcreate or vgcreate failed" : out;
	return {};
}

std::string LvmGroup::lvm_command(const std::string &cmd) const
{
	std::string filter = "devices/filter=[";
	for (const std::string &l : loops_)
		filter += "\"a|^" + l + "$|\",";
	filter += "\"r|.*|\"]";
	std::string tool = cmd.substr(0, cmd.find(' '));
	return "LVM_SUPPRESS_FD_WARNINGS=1 LVM_SYSTEM_DIR=/nonexistent " + tool +
	       " --config '" + filter +
	       " backup/backup=0 backup/archive=0 devices/use_devicesfile=0' " +
	       (tool == "lvcreate" ? "--driverloaded n --activate n --zero n " : "") +
	       cmd.substr(tool.size()) + " ";
}

std::string LvmGroup::lvm(const std::string &cmd)
{
	std::string out;
	EXPECT_EQ(run(lvm_command(cmd), &out), 0) << cmd << "\n" << out;
	return out;
}

void LvmGroup::detach()
{
	if (loops_.empty())
		return;
	// run() appends to its output: a string for each.
	std::string extent, pe_start, out;
	if (run(lvm_command("vgs --noheadings --units s -o vg_extent_size " + name_),
		&extent) == 0)
		extent_ = sectors(extent) * 512;
	if (run(lvm_command("pvs --noheadings --units s -o pe_start " + loops_[0]),
		&pe_start) == 0)
		pe_start_ = sectors(pe_start) * 512;
	if (run(lvm_command("lvs -a --noheadings --separator , -o lv_name,seg_pe_ranges " +
			    name_),
		&out) == 0) {
		// "  root,/dev/loop0:0-79" per segment.
		std::istringstream lines(out);
		for (std::string line; std::getline(lines, line);) {
			std::size_t comma = line.find(',');
			if (comma == std::string::npos)
				continue;
			std::string lv = line.substr(line.find_first_not_of(' '));
			lv = lv.substr(0, lv.find(','));
			std::istringstream in(line.substr(comma + 1));
			for (std::string word; in >> word;) {
				std::string dev = word.substr(0, word.find(':'));
				auto it = std::find(loop_names_.begin(), loop_names_.end(), dev);
				unsigned first = 0, last = 0;
				if (it == loop_names_.end() ||
				    sscanf(word.c_str() + dev.size() + 1, "%u-%u", &first,
					   &last) != 2)
					continue;
				runs_[lv].push_back(
					{static_cast<unsigned>(it - loop_names_.begin()),
					 pe_start_ + first * extent_,
					 (last - first + 1) * extent_});
			}
		}
	}
	for (const std::string &l : loops_)
		run("losetup -d " + l);
	loops_.clear();
}

void LvmGroup::place(const std::string &lv, const std::string &file, bool in,
		     unsigned long long stripe) const
{
	auto found = runs_.find(lv);
	ASSERT_NE(found, runs_.end()) << lv << ": no such volume (detach() first)";
	const std::vector<Extents> &rs = found->second;
	std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
	ASSERT_TRUE(f) << file;
	std::vector<std::fstream> pv(pvs_.size());
	for (std::size_t i = 0; i < pvs_.size(); i++) {
		pv[i].open(pvs_[i], std::ios::in | std::ios::out | std::ios::binary);
		ASSERT_TRUE(pv[i]) << pvs_[i];
	}
	std::vector<char> buf(1 << 20);
	unsigned long long at = 0;
	auto move = [&](unsigned which, unsigned long long off, unsigned long long len) {
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

} // namespace lkl_test
