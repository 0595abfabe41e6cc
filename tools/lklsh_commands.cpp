// lklsh's commands that read the tree (ls, cat, stat, find, ...) and
// those of the shell itself (cd, echo, help, ...), each a few kernel
// calls on the kernel's path of its arguments.
#include "attributes.hpp"
#include "lklsh_shell.hpp"

#include <lkl.h>
#include <lkl/kernel.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <set>

#include <sys/sysmacros.h>

namespace lkl_tools {

namespace {

using Args = std::vector<std::string>;

std::string mode_string(unsigned mode)
{
	std::string s = "?rwxrwxrwx";
	switch (mode & S_IFMT) {
	case S_IFREG: s[0] = '-'; break;
	case S_IFDIR: s[0] = 'd'; break;
	case S_IFLNK: s[0] = 'l'; break;
	case S_IFCHR: s[0] = 'c'; break;
	case S_IFBLK: s[0] = 'b'; break;
	case S_IFIFO: s[0] = 'p'; break;
	case S_IFSOCK: s[0] = 's'; break;
	}
	for (int i = 0; i < 9; i++)
		if (!(mode & (1u << (8 - i))))
			s[static_cast<std::size_t>(i + 1)] = '-';
	auto special = [&](unsigned bit, int pos, char on_x, char on_nox) {
		if (mode & bit)
			s[static_cast<std::size_t>(pos)] = s[static_cast<std::size_t>(pos)] == 'x' ? on_x : on_nox;
	};
	special(S_ISUID, 3, 's', 'S');
	special(S_ISGID, 6, 's', 'S');
	special(S_ISVTX, 9, 't', 'T');
	return s;
}

std::string time_string(const struct timespec &t, bool ns)
{
	char buf[64];
	struct tm tm;
	time_t sec = t.tv_sec;
	localtime_r(&sec, &tm);
	strftime(buf, sizeof(buf), ns ? "%Y-%m-%d %H:%M:%S" : "%Y-%m-%d %H:%M", &tm);
	std::string out = buf;
	if (ns) {
		char frac[16];
		snprintf(frac, sizeof(frac), ".%09ld", t.tv_nsec);
		strftime(buf, sizeof(buf), " %z", &tm);
		out += std::string(frac) + buf;
	}
	return out;
}

void print_long(const std::string &kpath, const std::string &name, const Stat &st)
{
	std::string size;
	if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
		size = std::to_string(major(st.st_rdev)) + ", " +
		       std::to_string(minor(st.st_rdev));
	else
		size = std::to_string(st.st_size);
	std::string target;
	if (S_ISLNK(st.st_mode))
		read_link(target, [&](char *buf, std::size_t len) {
			return lkl_sys_readlinkat(LKL_AT_FDCWD, kpath.c_str(), buf,
						  static_cast<int>(len));
		});
	printf("%s %3lu %5u %5u %10s %s %s%s%s\n", mode_string(st.st_mode).c_str(),
	       static_cast<unsigned long>(st.st_nlink), st.st_uid, st.st_gid, size.c_str(),
	       time_string(st.st_mtim, false).c_str(), name.c_str(),
	       target.empty() ? "" : " -> ", target.c_str());
}

bool ls(Shell &sh, Args &args, bool long_form, bool all)
{
	std::string flags;
	if (!take_flags(sh, args, "la", flags))
		return false;
	long_form |= flags.find('l') != std::string::npos;
	all |= flags.find('a') != std::string::npos;
	if (args.empty())
		args.push_back(".");
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, true, k))
			return false;
		Stat st;
		if (long err = kstat(k, st, true); err < 0) {
			sh.error(arg, err);
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			std::string lk;
			sh.kernel(arg, false, lk);
			Stat lst;
			if (long_form && kstat(lk, lst, false) == 0)
				print_long(lk, arg, lst);
			else
				printf("%s\n", arg.c_str());
			continue;
		}
		if (args.size() > 1)
			printf("%s:\n", arg.c_str());
		Args names;
		if (long err = list_dir(k, names, all); err < 0)
			sh.error(arg, err);
		for (const std::string &name : names) {
			if (!long_form) {
				printf("%s\n", name.c_str());
				continue;
			}
			Stat est;
			std::string ek = k + "/" + name;
			if (long err = kstat(ek, est, false); err < 0)
				sh.error(sh.absolute(arg + "/" + name), err);
			else
				print_long(ek, name, est);
		}
	}
	return true;
}

bool cmd_ls(Shell &sh, Args &args)
{
	return ls(sh, args, false, false);
}

bool cmd_ll(Shell &sh, Args &args)
{
	return ls(sh, args, true, true);
}

void find_in(Shell &sh, const std::string &shown, const std::string &k)
{
	printf("%s\n", shown.c_str());
	Stat st;
	if (long err = kstat(k, st, false); err < 0) {
		sh.error(shown, err);
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return;
	Args names;
	if (long err = list_dir(k, names, true); err < 0)
		sh.error(shown, err);
	for (const std::string &name : names)
		if (name != "." && name != "..")
			find_in(sh, shown == "/" ? "/" + name : shown + "/" + name,
				k + "/" + name);
}

bool cmd_find(Shell &sh, Args &args)
{
	if (args.empty())
		args.push_back(".");
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, true, k))
			return false;
		find_in(sh, arg, k);
	}
	return true;
}

// Opens @path for reading; -errno told.
long open_read(Shell &sh, const std::string &path, std::string &k)
{
	if (!sh.kernel(path, true, k))
		return -EINVAL;
	long fd = lkl_sys_openat(LKL_AT_FDCWD, k.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0)
		sh.error(path, fd);
	return fd;
}

bool cmd_cat(Shell &sh, Args &args)
{
	std::vector<char> buf(1 << 20);
	for (const std::string &arg : args) {
		std::string k;
		long fd = open_read(sh, arg, k);
		if (fd < 0)
			continue;
		lkl::Fd file(static_cast<int>(fd));
		for (;;) {
			long n = lkl_sys_read(static_cast<unsigned>(fd), buf.data(), buf.size());
			if (n < 0)
				sh.error(arg, n);
			if (n <= 0)
				break;
			if (fwrite(buf.data(), 1, static_cast<std::size_t>(n), stdout) !=
			    static_cast<std::size_t>(n)) {
				sh.error("standard output", -errno);
				return false;
			}
		}
	}
	return true;
}

bool cmd_head(Shell &sh, Args &args)
{
	long lines = 10;
	if (args.size() >= 2 && args[0] == "-n") {
		char *end = nullptr;
		lines = strtol(args[1].c_str(), &end, 10);
		if (args[1].empty() || *end || lines < 0) {
			sh.fail("bad number of lines: " + args[1]);
			return false;
		}
		args.erase(args.begin(), args.begin() + 2);
	}
	for (const std::string &arg : args) {
		std::string k;
		long fd = open_read(sh, arg, k);
		if (fd < 0)
			continue;
		lkl::Fd file(static_cast<int>(fd));
		char buf[65536];
		long left = lines;
		while (left > 0) {
			long n = lkl_sys_read(static_cast<unsigned>(fd), buf, sizeof(buf));
			if (n < 0)
				sh.error(arg, n);
			if (n <= 0)
				break;
			long i = 0;
			for (; i < n && left > 0; i++)
				left -= buf[i] == '\n';
			fwrite(buf, 1, static_cast<std::size_t>(i), stdout);
		}
	}
	return true;
}

const char *type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: return "regular file";
	case S_IFDIR: return "directory";
	case S_IFLNK: return "symbolic link";
	case S_IFCHR: return "character special file";
	case S_IFBLK: return "block special file";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	default: return "unknown";
	}
}

bool cmd_stat(Shell &sh, Args &args)
{
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, false, k))
			return false;
		Stat st;
		if (long err = kstat(k, st, false); err < 0) {
			sh.error(arg, err);
			continue;
		}
		printf("  File: %s\n", arg.c_str());
		printf("  Size: %-15lld Blocks: %-10lld IO Block: %-6ld %s\n",
		       static_cast<long long>(st.st_size), static_cast<long long>(st.st_blocks),
		       static_cast<long>(st.st_blksize), type_name(st.st_mode));
		printf("Device: %u,%-10u Inode: %-11llu Links: %lu", major(st.st_dev),
		       minor(st.st_dev), static_cast<unsigned long long>(st.st_ino),
		       static_cast<unsigned long>(st.st_nlink));
		if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			printf("     Device type: %u,%u", major(st.st_rdev), minor(st.st_rdev));
		printf("\nAccess: (%04o/%s)  Uid: %u  Gid: %u\n", st.st_mode & 07777,
		       mode_string(st.st_mode).c_str(), st.st_uid, st.st_gid);
		printf("Access: %s\nModify: %s\nChange: %s\n",
		       time_string(st.st_atim, true).c_str(),
		       time_string(st.st_mtim, true).c_str(),
		       time_string(st.st_ctim, true).c_str());
	}
	return true;
}

// Blocks used below @k, in bytes, each inode counted once.
unsigned long long usage_of(Shell &sh, const std::string &shown, const std::string &k,
			    std::set<std::pair<unsigned long long, unsigned long long>> &seen)
{
	Stat st;
	if (long err = kstat(k, st, false); err < 0) {
		sh.error(shown, err);
		return 0;
	}
	if (!seen.emplace(st.st_dev, st.st_ino).second)
		return 0;
	unsigned long long total = static_cast<unsigned long long>(st.st_blocks) * 512;
	if (!S_ISDIR(st.st_mode))
		return total;
	Args names;
	if (long err = list_dir(k, names, true); err < 0)
		sh.error(shown, err);
	for (const std::string &name : names)
		if (name != "." && name != "..")
			total += usage_of(sh, shown + "/" + name, k + "/" + name, seen);
	return total;
}

bool cmd_du(Shell &sh, Args &args)
{
	if (args.empty())
		args.push_back(".");
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, true, k))
			return false;
		std::set<std::pair<unsigned long long, unsigned long long>> seen;
		unsigned long long bytes = usage_of(sh, arg, k, seen);
		printf("%llu\t%s\n", (bytes + 1023) / 1024, arg.c_str());
	}
	return true;
}

std::string shown_value(const std::string &v)
{
	bool text = std::all_of(v.begin(), v.end(), [](char c) {
		return c == 0 || (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
	}) && (v.empty() || v.back() == 0 || v.find('\0') == std::string::npos);
	if (text) {
		std::string s = v.substr(0, v.find('\0'));
		std::string q = "\"";
		for (char c : s)
			q += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
		return q + "\"";
	}
	std::string hex = "0x";
	char b[3];
	for (unsigned char c : v) {
		snprintf(b, sizeof(b), "%02x", c);
		hex += b;
	}
	return hex;
}

bool cmd_getfattr(Shell &sh, Args &args)
{
	// getfattr(1)'s -d (dump values) is what this one always does; an
	// unknown option is not taken for a path.
	std::string only;
	bool usage = false;
	while (!args.empty() && args[0].size() > 1 && args[0][0] == '-') {
		std::string opt = args[0];
		args.erase(args.begin());
		if (opt == "--")
			break;
		if (opt == "-n" && !args.empty()) {
			only = args[0];
			args.erase(args.begin());
		} else if (opt.rfind("--name=", 0) == 0) {
			only = opt.substr(7);
		} else if (opt != "-d" && opt != "--dump") {
			usage = true;
		}
	}
	if (args.empty() || usage) {
		sh.fail("usage: getfattr [-d] [-n NAME] PATH...");
		return false;
	}
	for (const std::string &arg : args) {
		if (!sh.view.has_root()) {
			std::string k;
			return sh.kernel(arg, false, k);
		}
		Xattrs xattrs;
		std::string path = sh.resolved(arg, false);
		read_xattrs(sh.view.fs(), path, xattrs,
			    [&](const std::string &, long err, const std::string &doing) {
				    sh.error(arg, err, doing);
			    });
		bool found = false;
		printf("# file: %s\n", arg.c_str());
		for (const auto &[name, value] : xattrs)
			if (only.empty() || name == only) {
				printf("%s=%s\n", name.c_str(), shown_value(value).c_str());
				found = true;
			}
		if (!only.empty() && !found)
			sh.error(arg, -ENODATA, only);
	}
	return true;
}

bool cmd_cd(Shell &sh, Args &args)
{
	std::string path = args.empty() ? "/" : args[0];
	std::string k;
	if (!sh.kernel(path, true, k))
		return false;
	Stat st;
	long err = kstat(k, st, true);
	if (err == 0 && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err < 0) {
		sh.error(path, err);
		return false;
	}
	sh.cwd = sh.absolute(path);
	return true;
}

bool cmd_pwd(Shell &sh, Args &)
{
	printf("%s\n", sh.cwd.c_str());
	return true;
}

bool cmd_echo(Shell &, Args &args)
{
	std::string line;
	for (const std::string &a : args)
		line += (line.empty() ? "" : " ") + a;
	printf("%s\n", line.c_str());
	return true;
}

bool cmd_sync(Shell &, Args &)
{
	lkl_sys_sync();
	return true;
}

bool cmd_help(Shell &sh, Args &args)
{
	if (!args.empty()) {
		const Command *c = find_command(args[0]);
		if (!c) {
			sh.fail(args[0] + ": no such command");
			return false;
		}
		printf("%s %s\n    %s\n", c->name, c->usage, c->help);
		return true;
	}
	for (const Command &c : commands()) {
		std::string head = std::string(c.name) + " " + c.usage;
		printf("  %-36s %s\n", head.c_str(), c.help);
	}
	printf("\nA command prefixed with '-' may fail without stopping a script.\n");
	return true;
}

} // namespace

void file_commands(std::vector<Command> &out)
{
	out.insert(out.end(), {
		{"ls", "[-l] [-a] [PATH...]", "list a directory (one name a line, sorted)", 0, -1, 0, cmd_ls},
		{"ll", "[PATH...]", "list a directory in long form, all names", 0, -1, 0, cmd_ll},
		{"find", "[PATH...]", "list a tree, every path below PATH", 0, -1, 0, cmd_find},
		{"cat", "FILE...", "print files", 1, -1, 0, cmd_cat},
		{"head", "[-n LINES] FILE...", "print the first lines of files (10)", 1, -1, 0, cmd_head},
		{"stat", "PATH...", "show a file's status (links not followed)", 1, -1, 0, cmd_stat},
		{"du", "[PATH...]", "disk usage of a tree, in KiB", 0, -1, 0, cmd_du},
		{"getfattr", "[-d] [-n NAME] PATH...", "show extended attributes", 1, -1, 0, cmd_getfattr},
		{"cd", "[DIR]", "change the current directory", 0, 1, 0, cmd_cd},
		{"pwd", "", "print the current directory", 0, 0, 0, cmd_pwd},
		{"echo", "[WORD...]", "print words", 0, -1, 0, cmd_echo},
		{"sync", "", "write everything cached to the images", 0, 0, 0, cmd_sync},
		{"help", "[COMMAND]", "list the commands, or explain one", 0, 1, 0, cmd_help},
	});
}

} // namespace lkl_tools
