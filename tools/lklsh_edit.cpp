// lklsh's commands that change the tree, as a Unix shell's (mkdir, rm, mv,
// cp, chmod, write, ...), each a few kernel calls on the kernel's path of
// its arguments; cp is the tools' copy engine within the tree.
#include "copier.hpp"
#include "lklsh_shell.hpp"
#include "signals.hpp"

#include <lkl.h>
#include <lkl/kernel.hpp>

#include <cerrno>
#include <cstdlib>

namespace lkl_tools {

namespace {

using Args = std::vector<std::string>;

bool cmd_mkdir(Shell &sh, Args &args)
{
	std::string flags;
	if (!take_flags(sh, args, "p", flags))
		return false;
	bool parents = !flags.empty();
	for (const std::string &arg : args) {
		std::string path = sh.absolute(arg);
		std::vector<std::string> todo{path};
		if (parents)
			for (std::size_t s = path.find('/', 1); s != std::string::npos;
			     s = path.find('/', s + 1))
				todo.insert(todo.end() - 1, path.substr(0, s));
		for (const std::string &dir : todo) {
			std::string k;
			if (!sh.kernel(dir, true, k))
				return false;
			long err = lkl_sys_mkdirat(LKL_AT_FDCWD, k.c_str(), 0777);
			if (err == -EEXIST && parents) {
				Stat st;
				if (kstat(k, st, true) == 0 && S_ISDIR(st.st_mode))
					continue;
			}
			if (err < 0) {
				sh.error(arg, err);
				break;
			}
		}
	}
	return true;
}

long remove_tree(Shell &sh, const std::string &shown, const std::string &k)
{
	Stat st;
	long err = kstat(k, st, false);
	if (err == 0 && S_ISDIR(st.st_mode)) {
		Args names;
		if ((err = list_dir(k, names, true)) < 0)
			return err;
		for (const std::string &name : names)
			if (name != "." && name != "..")
				if (long e = remove_tree(sh, shown + "/" + name, k + "/" + name);
				    e < 0)
					return e;
		err = lkl_sys_unlinkat(LKL_AT_FDCWD, k.c_str(), LKL_AT_REMOVEDIR);
	} else if (err == 0) {
		err = lkl_sys_unlinkat(LKL_AT_FDCWD, k.c_str(), 0);
	}
	if (err < 0)
		sh.error(shown, err);
	return err;
}

bool cmd_rm(Shell &sh, Args &args)
{
	std::string flags;
	if (!take_flags(sh, args, "rRf", flags))
		return false;
	bool recursive = flags.find_first_of("rR") != std::string::npos;
	bool force = flags.find('f') != std::string::npos;
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, false, k))
			return false;
		Stat st;
		long err = kstat(k, st, false);
		if (err == -ENOENT && force)
			continue;
		if (err == 0 && S_ISDIR(st.st_mode) && !recursive)
			err = -EISDIR;
		if (err < 0) {
			sh.error(arg, err);
			continue;
		}
		remove_tree(sh, arg, k);
	}
	return true;
}

bool cmd_rmdir(Shell &sh, Args &args)
{
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, false, k))
			return false;
		if (long err = lkl_sys_unlinkat(LKL_AT_FDCWD, k.c_str(), LKL_AT_REMOVEDIR);
		    err < 0)
			sh.error(arg, err);
	}
	return true;
}

// The destination of @src when @dst is a directory: dst/basename(src).
std::string into(Shell &sh, const std::string &src, const std::string &dst)
{
	std::string k;
	Stat st;
	if (!sh.kernel(dst, true, k) || kstat(k, st, true) < 0 || !S_ISDIR(st.st_mode))
		return dst;
	std::string name = sh.absolute(src);
	return sh.absolute(dst) + "/" + name.substr(name.rfind('/') + 1);
}

bool cmd_mv(Shell &sh, Args &args)
{
	std::string from, to;
	std::string dst = into(sh, args[0], args[1]);
	if (!sh.kernel(args[0], false, from) || !sh.kernel(dst, false, to))
		return false;
	if (long err = lkl_sys_renameat(LKL_AT_FDCWD, from.c_str(), LKL_AT_FDCWD, to.c_str());
	    err < 0)
		sh.error(args[0], err, err == -EXDEV ? "moving to " + args[1] : "");
	return true;
}

bool cmd_cp(Shell &sh, Args &args)
{
	std::string flags;
	if (!take_flags(sh, args, "ar", flags))
		return false;
	if (args.size() < 2) {
		sh.fail("usage: cp SRC... DST");
		return false;
	}
	if (!sh.view.has_root()) {
		std::string k;
		return sh.kernel("/", true, k);
	}
	Fs &fs = sh.view.fs();
	CopyHooks hooks;
	hooks.error = [&sh](const std::string &path, long err, const std::string &doing) {
		sh.error(path, err, doing);
	};
	hooks.stop = SignalWatcher::stopping;
	Copier copier(fs, fs, CopyOptions{}, hooks);
	std::string dst = args.back();
	args.pop_back();
	for (const std::string &src : args) {
		std::string from = sh.resolved(src, false);
		Stat st;
		if (long err = fs.lstat(from, st); err < 0) {
			sh.error(src, err);
			continue;
		}
		copier.copy(from, sh.resolved(into(sh, src, dst), false), st);
	}
	return !copier.failed();
}

bool cmd_ln(Shell &sh, Args &args)
{
	std::string flags;
	if (!take_flags(sh, args, "s", flags))
		return false;
	if (args.size() != 2) {
		sh.fail("usage: ln [-s] TARGET LINK");
		return false;
	}
	std::string link;
	if (!sh.kernel(into(sh, args[0], args[1]), false, link))
		return false;
	long err;
	if (!flags.empty()) {
		err = lkl_sys_symlinkat(args[0].c_str(), LKL_AT_FDCWD, link.c_str());
	} else {
		std::string target;
		if (!sh.kernel(args[0], false, target))
			return false;
		err = lkl_sys_linkat(LKL_AT_FDCWD, target.c_str(), LKL_AT_FDCWD, link.c_str(), 0);
	}
	if (err < 0)
		sh.error(args[1], err);
	return true;
}

bool cmd_chmod(Shell &sh, Args &args)
{
	char *end = nullptr;
	unsigned long mode = strtoul(args[0].c_str(), &end, 8);
	if (args[0].empty() || *end || mode > 07777) {
		sh.fail("bad mode: " + args[0] + " (an octal number)");
		return false;
	}
	for (std::size_t i = 1; i < args.size(); i++) {
		std::string k;
		if (!sh.kernel(args[i], true, k))
			return false;
		if (long err = lkl_sys_fchmodat(LKL_AT_FDCWD, k.c_str(),
						static_cast<lkl_umode_t>(mode));
		    err < 0)
			sh.error(args[i], err);
	}
	return true;
}

bool cmd_chown(Shell &sh, Args &args)
{
	std::string spec = args[0];
	std::size_t colon = spec.find(':');
	auto number = [](const std::string &s, unsigned &out) {
		char *end = nullptr;
		unsigned long v = strtoul(s.c_str(), &end, 10);
		out = static_cast<unsigned>(v);
		return !s.empty() && !*end && v <= 0xffffffffUL;
	};
	unsigned uid = static_cast<unsigned>(-1), gid = static_cast<unsigned>(-1);
	std::string u = spec.substr(0, colon);
	std::string g = colon == std::string::npos ? "" : spec.substr(colon + 1);
	if ((!u.empty() && !number(u, uid)) || (!g.empty() && !number(g, gid)) ||
	    (u.empty() && g.empty())) {
		sh.fail("bad owner: " + spec + " (UID[:GID], numbers: the image's users "
					       "are not the host's)");
		return false;
	}
	for (std::size_t i = 1; i < args.size(); i++) {
		std::string k;
		if (!sh.kernel(args[i], false, k))
			return false;
		if (long err = lkl_sys_fchownat(LKL_AT_FDCWD, k.c_str(), uid, gid,
						LKL_AT_SYMLINK_NOFOLLOW);
		    err < 0)
			sh.error(args[i], err);
	}
	return true;
}

bool cmd_touch(Shell &sh, Args &args)
{
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, true, k))
			return false;
		long fd = lkl_sys_openat(LKL_AT_FDCWD, k.c_str(),
					 LKL_O_WRONLY | LKL_O_CREAT | LKL_O_NONBLOCK, 0666);
		if (fd >= 0)
			lkl_sys_close(static_cast<unsigned>(fd));
		long err = fd == -LKL_EISDIR ? 0 : fd;
		if (err >= 0)
			err = lkl_sys_utimensat(LKL_AT_FDCWD, k.c_str(), nullptr, 0);
		if (err < 0)
			sh.error(arg, err);
	}
	return true;
}

bool cmd_write(Shell &sh, Args &args)
{
	std::string k;
	if (!sh.kernel(args[0], true, k))
		return false;
	long fd = lkl_sys_openat(LKL_AT_FDCWD, k.c_str(),
				 LKL_O_WRONLY | LKL_O_CREAT | LKL_O_TRUNC, 0666);
	if (fd < 0) {
		sh.error(args[0], fd);
		return false;
	}
	lkl::Fd file(static_cast<int>(fd));
	const std::string &text = args[1];
	for (std::size_t done = 0; done < text.size();) {
		long n = lkl_sys_write(static_cast<unsigned>(fd), text.data() + done,
				       text.size() - done);
		if (n < 0) {
			sh.error(args[0], n);
			return false;
		}
		done += static_cast<std::size_t>(n);
	}
	if (auto ec = file.close())
		sh.error(args[0], -ec.value());
	return true;
}

bool cmd_setfattr(Shell &sh, Args &args)
{
	std::string name, value;
	bool remove = false, have_value = false;
	while (args.size() >= 2 && (args[0] == "-n" || args[0] == "-v" || args[0] == "-x")) {
		if (args[0] == "-v") {
			value = args[1];
			have_value = true;
		} else {
			name = args[1];
			remove = args[0] == "-x";
		}
		args.erase(args.begin(), args.begin() + 2);
	}
	if (name.empty() || args.empty() || (remove && have_value)) {
		sh.fail("usage: setfattr -n NAME [-v VALUE] PATH... | setfattr -x NAME PATH...");
		return false;
	}
	for (const std::string &arg : args) {
		std::string k;
		if (!sh.kernel(arg, false, k))
			return false;
		long err = remove ? lkl_sys_lremovexattr(k.c_str(), name.c_str())
				  : lkl_sys_lsetxattr(k.c_str(), name.c_str(), value.data(),
						      value.size(), 0);
		if (err < 0)
			sh.error(arg, err, name);
	}
	return true;
}

} // namespace

void edit_commands(std::vector<Command> &out)
{
	out.insert(out.end(), {
		{"mkdir", "[-p] DIR...", "make directories (-p: with parents)", 1, -1, 0, cmd_mkdir},
		{"rm", "[-rf] PATH...", "remove files (-r: trees; -f: missing ones too)", 1, -1, 0, cmd_rm},
		{"rmdir", "DIR...", "remove empty directories", 1, -1, 0, cmd_rmdir},
		{"mv", "SRC DST", "rename (into DST if it is a directory)", 2, 2, 0, cmd_mv},
		{"cp", "SRC... DST", "copy trees as cp -a (into DST if a directory)", 2, -1, 0, cmd_cp},
		{"ln", "[-s] TARGET LINK", "make a hard (or -s symbolic) link", 2, 3, 0, cmd_ln},
		{"chmod", "MODE PATH...", "change modes (octal)", 2, -1, 0, cmd_chmod},
		{"chown", "UID[:GID] PATH...", "change owners (numbers)", 2, -1, 0, cmd_chown},
		{"touch", "PATH...", "make files, or set their times to now", 1, -1, 0, cmd_touch},
		{"write", "FILE TEXT", "write TEXT (\"\\n\" is a newline) to FILE", 2, 2, 0, cmd_write},
		{"setfattr", "-n NAME -v VALUE | -x NAME PATH...", "set or remove an extended attribute", 3, -1, 0, cmd_setfattr},
	});
}

} // namespace lkl_tools
