#include "lklsh_shell.hpp"

#include <lkl/kernel.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>

namespace lkl_tools {

const std::vector<Command> &commands()
{
	static const std::vector<Command> all = [] {
		std::vector<Command> list;
		file_commands(list);
		edit_commands(list);
		transfer_commands(list);
		return list;
	}();
	return all;
}

const Command *find_command(const std::string &name)
{
	for (const Command &c : commands())
		if (name == c.name)
			return &c;
	return nullptr;
}

bool Shell::run(std::vector<std::string> words)
{
	failed_ = false;
	command_ = words.empty() ? "" : words[0];
	const Command *c = find_command(command_);
	if (!c) {
		command_.clear();
		fail(words[0] + ": no such command (\"help\" lists them)");
		return false;
	}
	words.erase(words.begin());
	int n = static_cast<int>(words.size());
	if (n < c->min_args || (c->max_args >= 0 && n > c->max_args)) {
		fail(std::string("usage: ") + c->name + " " + c->usage);
		return false;
	}
	bool ok = c->run(*this, words) && !failed_;
	fflush(stdout);
	return ok;
}

std::string Shell::absolute(const std::string &path) const
{
	std::string full = !path.empty() && path[0] == '/' ? path : cwd + "/" + path;
	std::vector<std::string> parts;
	std::size_t start = 0;
	while (start <= full.size()) {
		std::size_t slash = full.find('/', start);
		if (slash == std::string::npos)
			slash = full.size();
		std::string part = full.substr(start, slash - start);
		if (part == "..") {
			if (!parts.empty())
				parts.pop_back();
		} else if (!part.empty() && part != ".") {
			parts.push_back(part);
		}
		start = slash + 1;
	}
	std::string out;
	for (const std::string &part : parts)
		out += "/" + part;
	return out.empty() ? "/" : out;
}

std::string Shell::resolved(const std::string &path, bool follow)
{
	std::string p = view.fs().resolve(absolute(path), follow);
	return p.empty() ? "/" : p;
}

bool Shell::kernel(const std::string &path, bool follow, std::string &out)
{
	if (!view.has_root()) {
		fail(path + ": no file system is mounted at / (see \"mount\")");
		return false;
	}
	out = ImageView::kernel_path(resolved(path, follow));
	return true;
}

void Shell::error(const std::string &path, long err, const std::string &doing)
{
	fail(path + ": " + (doing.empty() ? "" : doing + ": ") +
	     strerror(static_cast<int>(-err)));
}

void Shell::fail(const std::string &message)
{
	failed_ = true;
	fflush(stdout);
	fprintf(stderr, "lklsh: %s%s%s\n", where.c_str(),
		command_.empty() ? "" : (command_ + ": ").c_str(), message.c_str());
}

long kstat(const std::string &kpath, Stat &st, bool follow)
{
	struct lkl_stat s;
	long err = lkl_sys_newfstatat(LKL_AT_FDCWD, kpath.c_str(), &s,
				      follow ? 0 : LKL_AT_SYMLINK_NOFOLLOW);
	if (err == 0)
		st = lkl::host_stat(s);
	return err;
}

long list_dir(const std::string &kpath, std::vector<std::string> &names, bool all)
{
	int err = 0;
	std::unique_ptr<lkl_dir, int (*)(lkl_dir *)> d(lkl_opendir(kpath.c_str(), &err),
						       lkl_closedir);
	if (!d)
		return err;
	while (const struct lkl_linux_dirent64 *e = lkl_readdir(d.get())) {
		bool dot = e->d_name[0] == '.';
		bool special = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
		if (all || (!dot && !special))
			names.emplace_back(e->d_name);
	}
	std::sort(names.begin(), names.end());
	return lkl_errdir(d.get());
}

bool take_flags(Shell &sh, std::vector<std::string> &args, const std::string &allowed,
		std::string &flags)
{
	std::size_t i = 0;
	for (; i < args.size(); i++) {
		const std::string &a = args[i];
		if (a == "--") {
			i++;
			break;
		}
		if (a.size() < 2 || a[0] != '-')
			break;
		for (char c : a.substr(1)) {
			if (allowed.find(c) == std::string::npos) {
				sh.fail(std::string("unknown option -") + c);
				return false;
			}
			flags += c;
		}
	}
	args.erase(args.begin(), args.begin() + static_cast<long>(i));
	return true;
}

} // namespace lkl_tools
