// The model of what a workload's sync operations promised (power_loss.hpp).
#include "power_loss.hpp"

#include <algorithm>
#include <limits>

namespace power_loss {

void Ranges::add(uint64_t begin, uint64_t end)
{
	if (begin >= end)
		return;
	auto it = r_.upper_bound(begin);
	if (it != r_.begin() && std::prev(it)->second >= begin)
		--it;
	while (it != r_.end() && it->first <= end) {
		begin = std::min(begin, it->first);
		end = std::max(end, it->second);
		it = r_.erase(it);
	}
	r_.emplace(begin, end);
}

void Ranges::remove(uint64_t begin, uint64_t end)
{
	if (begin >= end)
		return;
	std::vector<std::pair<uint64_t, uint64_t>> keep;
	auto it = r_.upper_bound(begin);
	if (it != r_.begin())
		--it;
	while (it != r_.end() && it->first < end) {
		if (it->second > begin) {
			if (it->first < begin)
				keep.emplace_back(it->first, begin);
			if (it->second > end)
				keep.emplace_back(end, it->second);
			it = r_.erase(it);
		} else {
			++it;
		}
	}
	for (auto &k : keep)
		r_.insert(k);
}

std::vector<std::pair<uint64_t, uint64_t>> Ranges::gaps(uint64_t begin, uint64_t end) const
{
	std::vector<std::pair<uint64_t, uint64_t>> out;
	uint64_t pos = begin;
	auto it = r_.upper_bound(begin);
	if (it != r_.begin() && std::prev(it)->second > begin)
		--it;
	for (; it != r_.end() && pos < end; ++it) {
		if (it->first > pos)
			out.emplace_back(pos, std::min(it->first, end));
		pos = std::max(pos, it->second);
	}
	if (pos < end)
		out.emplace_back(pos, end);
	return out;
}

namespace {
constexpr uint64_t to_end = std::numeric_limits<uint64_t>::max();

std::string parent_of(const std::string &path)
{
	auto slash = path.rfind('/');
	return slash == std::string::npos ? "" : path.substr(0, slash);
}

// Grows @data to @size: the new bytes are changed too, since a later sync of
// a range elsewhere (an O_SYNC write) may make a smaller size durable.
void grow(std::string &data, Ranges &changed, uint64_t size)
{
	if (size <= data.size())
		return;
	changed.add(data.size(), size);
	data.resize(size, '\0');
}
} // namespace

Model::Id Model::create(const std::string &path, unsigned mode)
{
	File f;
	f.names.insert(path);
	f.mode = mode;
	files_.push_back(std::move(f));
	return files_.size() - 1;
}

void Model::set_ino(Id id, uint64_t ino)
{
	// A dead file whose number the file system gave again: the new file
	// is what may be found there now.
	for (Id other = 0; other < files_.size(); other++)
		if (other != id && files_[other].ino == ino && files_[other].names.empty())
			forget(other);
	files_[id].ino = ino;
}

void Model::write(Id id, uint64_t off, const std::string &data)
{
	File &f = files_[id];
	grow(f.data, f.changed, off + data.size());
	std::copy(data.begin(), data.end(), f.data.begin() + static_cast<long>(off));
	f.changed.add(off, off + data.size());
	f.durable_mtime.reset();
}

void Model::truncate(Id id, uint64_t size)
{
	File &f = files_[id];
	if (size < f.data.size())
		f.changed.add(size, to_end);
	grow(f.data, f.changed, size);
	f.data.resize(size);
	f.durable_mtime.reset();
}

void Model::zero(Id id, uint64_t off, uint64_t len, bool keep_size)
{
	File &f = files_[id];
	uint64_t end = off + len;
	if (!keep_size)
		grow(f.data, f.changed, end);
	end = std::min<uint64_t>(end, f.data.size());
	if (off < end)
		std::fill(f.data.begin() + static_cast<long>(off),
			  f.data.begin() + static_cast<long>(end), '\0');
	f.changed.add(off, off + len);
	f.durable_mtime.reset();
}

void Model::extend(Id id, uint64_t size)
{
	File &f = files_[id];
	if (size > f.data.size()) {
		grow(f.data, f.changed, size);
	}
	f.durable_mtime.reset();
}

void Model::touch(Id id)
{
	files_[id].durable_mtime.reset();
}

void Model::rewrite_from(Id id, uint64_t off, const std::string &tail)
{
	File &f = files_[id];
	f.data.resize(off, '\0');
	f.data += tail;
	f.changed.add(off, to_end);
	f.durable_mtime.reset();
}

void Model::chmod(Id id, unsigned mode)
{
	files_[id].mode = mode;
	files_[id].durable_mode.reset();
}

void Model::link(Id id, const std::string &path)
{
	files_[id].names.insert(path);
}

void Model::drop_name(File &f, const std::string &path)
{
	f.names.erase(path);
	if (f.durable_names.erase(path))
		f.ghosts.insert(path);
	// Its last link gone: it may vanish at the next commit.
	if (f.names.empty())
		f.durable_exists = false;
}

void Model::unlink(const std::string &path)
{
	if (auto id = at(path))
		drop_name(files_[*id], path);
}

void Model::rename(const std::string &from, const std::string &to)
{
	auto id = at(from);
	if (!id || from == to)
		return;
	auto old = at(to);
	// Two links of one file: rename(2) does nothing.
	if (old && *old == *id)
		return;
	if (old)
		drop_name(files_[*old], to);
	File &f = files_[*id];
	// Still there, under one of the two names.
	bool existed = f.durable_exists;
	drop_name(f, from);
	f.durable_exists = existed;
	f.names.insert(to);
}

void Model::fsync(Id id, Timestamp mtime)
{
	File &f = files_[id];
	f.durable = std::make_shared<const std::string>(f.data);
	f.changed.clear();
	f.durable_mode = f.mode;
	f.durable_mtime = mtime;
	f.durable_names = f.names;
	f.ghosts.clear();
	f.durable_exists = !f.names.empty();
}

void Model::fdatasync(Id id)
{
	File &f = files_[id];
	f.durable = std::make_shared<const std::string>(f.data);
	f.changed.clear();
}

void Model::sync_range(Id id, uint64_t off, uint64_t len, bool names)
{
	File &f = files_[id];
	// Outside `changed` the current bytes are the durable ones; the range
	// is durable now, and the size up to its end (not beyond: writes
	// elsewhere that grew the file stay in `changed`).
	f.durable = std::make_shared<const std::string>(f.data);
	f.changed.remove(off, off + len);
	if (names) {
		f.durable_names = f.names;
		f.ghosts.clear();
		f.durable_exists = !f.names.empty();
	}
}

void Model::fsync_dir(const std::string &dir)
{
	for (File &f : files_) {
		for (const auto &n : f.names)
			if (parent_of(n) == dir) {
				f.durable_names.insert(n);
				f.durable_exists = true;
			}
		for (auto it = f.ghosts.begin(); it != f.ghosts.end();)
			it = parent_of(*it) == dir ? f.ghosts.erase(it) : std::next(it);
	}
}

void Model::forget(Id id)
{
	File &f = files_[id];
	f.names.clear();
	f.durable_names.clear();
	f.ghosts.clear();
	f.durable_exists = false;
	f.ino = 0;
}

Expectations Model::expectations() const
{
	Expectations out;
	for (const File &f : files_) {
		FileExpect e;
		e.paths = f.names;
		e.paths.insert(f.durable_names.begin(), f.durable_names.end());
		e.paths.insert(f.ghosts.begin(), f.ghosts.end());
		if (e.paths.empty() || !f.ino)
			continue;
		e.name = *e.paths.begin();
		e.ino = f.ino;
		e.must_exist = f.durable_exists;
		e.durable = f.durable;
		e.changed = f.changed;
		e.size_exact = f.changed.empty();
		e.mode = f.durable_mode;
		e.mtime = f.durable_mtime;
		out.push_back(std::move(e));
	}
	return out;
}

std::optional<Model::Id> Model::at(const std::string &path) const
{
	for (Id id = 0; id < files_.size(); id++)
		if (files_[id].names.count(path))
			return id;
	return std::nullopt;
}

std::vector<std::string> Model::names() const
{
	std::vector<std::string> out;
	for (const File &f : files_)
		out.insert(out.end(), f.names.begin(), f.names.end());
	std::sort(out.begin(), out.end());
	return out;
}

} // namespace power_loss
