// LVM2 metadata: the label and metadata area of a physical volume, and the
// text format of the volume group description in it, read far enough to
// build device-mapper tables for linear and striped logical volumes.
//
// The on-disk layout is LVM2's (lib/label/label.h, lib/format_text/
// layout.h and the text format of lib/format_text/export.c, as documented
// in lvm2's doc/lvm_fault_handling and man lvm.conf's metadata section):
//  - in one of the first four 512-byte sectors a label header: "LABELONE",
//    its sector, a CRC, the offset of the PV header, type "LVM2 001";
//  - the PV header: the PV's 32-character UUID, the device size, then two
//    lists of {offset, size} (data areas, then metadata areas), each
//    ended by a zero entry; all numbers little-endian;
//  - a metadata area begins with its header: a checksum, the magic
//    " LVM2 x[5A%r0N*>", version 1, its start and size, and raw locations
//    {offset, size, checksum, flags} of which the first is the current
//    text (offset relative to the area, wrapping past its end to just
//    after the 512-byte header);
//  - the text: "name = value", sections "name { ... }", lists "[a, b]",
//    "#" comments; the volume group is the one top-level section.

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace {
namespace lvm {

// One value of the text format.
struct Value;
using Section = std::map<std::string, Value>;
using List = std::vector<Value>;
struct Value {
	std::variant<std::string, long long, List, std::shared_ptr<Section>> v;

	const std::string *str() const { return std::get_if<std::string>(&v); }
	const long long *num() const { return std::get_if<long long>(&v); }
	const List *list() const { return std::get_if<List>(&v); }
	const Section *section() const
	{
		auto *s = std::get_if<std::shared_ptr<Section>>(&v);
		return s ? s->get() : nullptr;
	}
};

// A recursive-descent reader of the text format; false on bad syntax.
class Parser {
public:
	explicit Parser(const std::string &text) : s_(text) {}

	bool parse(Section &top)
	{
		return body(top, 0) && (skip(), pos_ == s_.size());
	}

private:
	void skip()
	{
		while (pos_ < s_.size()) {
			char c = s_[pos_];
			if (c == '#') {
				while (pos_ < s_.size() && s_[pos_] != '\n')
					pos_++;
			} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
				   c == '\0') {
				pos_++;
			} else {
				return;
			}
		}
	}

	bool name(std::string &out)
	{
		skip();
		size_t start = pos_;
		while (pos_ < s_.size() &&
		       (isalnum(static_cast<unsigned char>(s_[pos_])) ||
			strchr("_.+-", s_[pos_])))
			pos_++;
		out = s_.substr(start, pos_ - start);
		return !out.empty();
	}

	bool value(Value &out, int depth)
	{
		skip();
		if (pos_ >= s_.size() || depth > 16)
			return false;
		char c = s_[pos_];
		if (c == '"') {
			std::string str;
			for (pos_++; pos_ < s_.size() && s_[pos_] != '"'; pos_++) {
				if (s_[pos_] == '\\' && pos_ + 1 < s_.size())
					pos_++;
				str += s_[pos_];
			}
			if (pos_++ >= s_.size())
				return false;
			out.v = std::move(str);
			return true;
		}
		if (c == '[') {
			List list;
			pos_++;
			for (;;) {
				skip();
				if (pos_ < s_.size() && s_[pos_] == ']') {
					pos_++;
					break;
				}
				Value item;
				if (!value(item, depth + 1))
					return false;
				list.push_back(std::move(item));
				skip();
				if (pos_ < s_.size() && s_[pos_] == ',')
					pos_++;
			}
			out.v = std::move(list);
			return true;
		}
		std::string word;
		if (!name(word))
			return false;
		char *end = nullptr;
		long long n = strtoll(word.c_str(), &end, 10);
		if (*end)
			out.v = std::move(word);
		else
			out.v = n;
		return true;
	}

	bool body(Section &section, int depth)
	{
		for (;;) {
			skip();
			if (pos_ >= s_.size() || s_[pos_] == '}')
				return true;
			std::string key;
			if (!name(key))
				return false;
			skip();
			if (pos_ >= s_.size())
				return false;
			if (s_[pos_] == '{') {
				pos_++;
				auto sub = std::make_shared<Section>();
				if (depth > 16 || !body(*sub, depth + 1))
					return false;
				skip();
				if (pos_ >= s_.size() || s_[pos_] != '}')
					return false;
				pos_++;
				section[key].v = std::move(sub);
			} else if (s_[pos_] == '=') {
				pos_++;
				if (!value(section[key], depth))
					return false;
			} else {
				return false;
			}
		}
	}

	const std::string &s_;
	size_t pos_ = 0;
};

// What this reader needs of a volume group.
struct Stripe {
	std::string pv;		// the PV's name in the metadata ("pv0")
	uint64_t extent;	// first physical extent on it
};
struct Segment {
	uint64_t start_extent = 0, extent_count = 0;
	std::string type;	// "striped" (linear is one stripe), "thin", ...
	uint64_t stripe_size = 0; // sectors
	std::vector<Stripe> stripes;
};
struct LogicalVolume {
	std::vector<std::string> status;
	std::vector<Segment> segments;
};
struct PhysicalVolume {
	std::string uuid;	// without dashes, as in the PV header
	uint64_t pe_start = 0;	// sectors
};
struct VolumeGroup {
	std::string name;
	long long seqno = 0;
	uint64_t extent_size = 0; // sectors
	std::map<std::string, PhysicalVolume> pvs;
	std::map<std::string, LogicalVolume> lvs;
};

long long number(const Section &s, const char *key, long long none = -1)
{
	auto it = s.find(key);
	const long long *n = it == s.end() ? nullptr : it->second.num();
	return n ? *n : none;
}

std::string text(const Section &s, const char *key)
{
	auto it = s.find(key);
	const std::string *str = it == s.end() ? nullptr : it->second.str();
	return str ? *str : std::string();
}

std::vector<std::string> strings(const Section &s, const char *key)
{
	std::vector<std::string> out;
	auto it = s.find(key);
	if (const List *l = it == s.end() ? nullptr : it->second.list())
		for (const Value &v : *l)
			if (const std::string *str = v.str())
				out.push_back(*str);
	return out;
}

std::string undashed(const std::string &uuid)
{
	std::string out;
	for (char c : uuid)
		if (c != '-')
			out += c;
	return out;
}

// The volume group described by @metadata; false if it is not one.
bool read_vg(const std::string &metadata, VolumeGroup &vg)
{
	Section top;
	if (!Parser(metadata).parse(top))
		return false;
	for (const auto &[name, value] : top) {
		const Section *s = value.section();
		if (!s || !s->count("physical_volumes"))
			continue;
		vg.name = name;
		vg.seqno = number(*s, "seqno", 0);
		long long extent = number(*s, "extent_size");
		if (extent <= 0)
			return false;
		vg.extent_size = static_cast<uint64_t>(extent);
		for (const auto &[pv_name, pv_value] :
		     *s->at("physical_volumes").section()) {
			const Section *pv = pv_value.section();
			if (!pv || number(*pv, "pe_start") < 0)
				return false;
			vg.pvs[pv_name] = {undashed(text(*pv, "id")),
					   static_cast<uint64_t>(number(*pv, "pe_start"))};
		}
		auto lvs = s->find("logical_volumes");
		const Section *lv_list = lvs == s->end() ? nullptr : lvs->second.section();
		for (const auto &[lv_name, lv_value] : lv_list ? *lv_list : Section()) {
			const Section *lv = lv_value.section();
			if (!lv)
				return false;
			LogicalVolume &out = vg.lvs[lv_name];
			out.status = strings(*lv, "status");
			for (long long i = 1; i <= number(*lv, "segment_count", 0); i++) {
				auto seg_it = lv->find("segment" + std::to_string(i));
				const Section *seg = seg_it == lv->end()
							     ? nullptr
							     : seg_it->second.section();
				if (!seg)
					return false;
				Segment g;
				g.start_extent = static_cast<uint64_t>(
					number(*seg, "start_extent", 0));
				g.extent_count = static_cast<uint64_t>(
					number(*seg, "extent_count", 0));
				g.type = text(*seg, "type");
				g.stripe_size = static_cast<uint64_t>(
					number(*seg, "stripe_size", 0));
				auto st = seg->find("stripes");
				const List *l = st == seg->end() ? nullptr : st->second.list();
				for (size_t k = 0; l && k + 1 < l->size(); k += 2) {
					const std::string *pv = (*l)[k].str();
					const long long *pe = (*l)[k + 1].num();
					if (!pv || !pe)
						return false;
					g.stripes.push_back({*pv, static_cast<uint64_t>(*pe)});
				}
				out.segments.push_back(std::move(g));
			}
		}
		return true;
	}
	return false;
}

uint64_t le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// The PV UUID of a device and the metadata text of its first metadata
// area; false if the device is no LVM2 physical volume. @read(offset,
// length) gives the device's bytes (fewer at its end or on an error).
template <typename Read>
bool read_pv(Read &&read, std::string &uuid, std::string &metadata)
{
	std::string head = read(0, 4 * 512);
	if (head.size() < 4 * 512)
		return false;
	for (unsigned sector = 0; sector < 4; sector++) {
		auto *label = reinterpret_cast<const unsigned char *>(head.data()) +
			      sector * 512;
		if (memcmp(label, "LABELONE", 8) || memcmp(label + 24, "LVM2 001", 8) ||
		    le64(label + 8) != sector)
			continue;
		uint32_t offset = le32(label + 20);
		if (offset < 32 || offset + 32 + 8 > 512)
			return false;
		const unsigned char *pvh = label + offset;
		uuid.assign(reinterpret_cast<const char *>(pvh), 32);
		// Data areas, then metadata areas, each list ending in zeros.
		const unsigned char *locn = pvh + 40;
		const unsigned char *end = label + 512;
		while (locn + 16 <= end && le64(locn))
			locn += 16;
		locn += 16;
		if (locn + 16 > end || !le64(locn))
			return false; // no metadata area on this PV
		uint64_t mda = le64(locn), mda_size = le64(locn + 8);
		std::string hdr = read(mda, 512);
		static const char magic[] = " LVM2 x[5A%r0N*>";
		if (hdr.size() < 512 || memcmp(hdr.data() + 4, magic, 16))
			return false;
		auto *h = reinterpret_cast<const unsigned char *>(hdr.data());
		uint64_t text_off = le64(h + 40), text_size = le64(h + 48);
		if (!text_size || text_off >= mda_size || text_size > mda_size)
			return false;
		uint64_t first = std::min(text_size, mda_size - text_off);
		metadata = read(mda + text_off, first);
		if (first < text_size)
			metadata += read(mda + 512, text_size - first);
		return metadata.size() == text_size;
	}
	return false;
}

} // namespace lvm
} // namespace
