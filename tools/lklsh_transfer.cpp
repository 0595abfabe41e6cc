// lklsh's commands between the host and the tree (upload, download,
// copy-in, copy-out, tar-in, tar-out) on the tools' copy engine and
// archive code, and those on mounts (mount, umount, mounts, df,
// list-filesystems).
#include "archive_file.hpp"
#include "copier.hpp"
#include "host_fs.hpp"
#include "lklsh_shell.hpp"
#include "signals.hpp"
#include "tar_in.hpp"
#include "tar_out.hpp"

#include <lkl.h>
#include <lkl/kernel.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace lkl_tools {

namespace {

using Args = std::vector<std::string>;

CopyHooks hooks_for(Shell &sh)
{
	CopyHooks hooks;
	hooks.error = [&sh](const std::string &path, long err, const std::string &doing) {
		sh.error(path, err, doing);
	};
	hooks.stop = SignalWatcher::stopping;
	return hooks;
}

// Host descriptors, closed on scope exit (not standard input or output).
struct HostFile {
	int fd;
	~HostFile()
	{
		if (fd > STDERR_FILENO)
			::close(fd);
	}
};

bool cmd_upload(Shell &sh, Args &args)
{
	std::string k;
	if (!sh.kernel(args[1], true, k))
		return false;
	HostFile in{args[0] == "-" ? STDIN_FILENO
				   : ::open(args[0].c_str(), O_RDONLY | O_CLOEXEC)};
	if (in.fd < 0) {
		sh.error(args[0], -errno);
		return false;
	}
	long fd = lkl_sys_openat(LKL_AT_FDCWD, k.c_str(),
				 LKL_O_WRONLY | LKL_O_CREAT | LKL_O_TRUNC, 0666);
	if (fd < 0) {
		sh.error(args[1], fd);
		return false;
	}
	lkl::Fd out(static_cast<int>(fd));
	std::vector<char> buf(1 << 20);
	for (;;) {
		if (SignalWatcher::stopping())
			return false;
		ssize_t n = ::read(in.fd, buf.data(), buf.size());
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sh.error(args[0], -errno);
			return false;
		}
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			long w = lkl_sys_write(static_cast<unsigned>(fd), buf.data() + done,
					       static_cast<std::size_t>(n - done));
			if (w < 0) {
				sh.error(args[1], w);
				return false;
			}
			done += w;
		}
	}
	if (auto ec = out.close())
		sh.error(args[1], -ec.value());
	return true;
}

bool cmd_download(Shell &sh, Args &args)
{
	std::string k;
	if (!sh.kernel(args[0], true, k))
		return false;
	long fd = lkl_sys_openat(LKL_AT_FDCWD, k.c_str(), LKL_O_RDONLY, 0);
	if (fd < 0) {
		sh.error(args[0], fd);
		return false;
	}
	lkl::Fd in(static_cast<int>(fd));
	fflush(stdout);
	HostFile out{args[1] == "-" ? STDOUT_FILENO
				    : ::open(args[1].c_str(),
					     O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666)};
	if (out.fd < 0) {
		sh.error(args[1], -errno);
		return false;
	}
	std::vector<char> buf(1 << 20);
	for (;;) {
		if (SignalWatcher::stopping())
			return false;
		long n = lkl_sys_read(static_cast<unsigned>(fd), buf.data(), buf.size());
		if (n < 0) {
			sh.error(args[0], n);
			return false;
		}
		if (n == 0)
			break;
		for (long done = 0; done < n;) {
			ssize_t w = ::write(out.fd, buf.data() + done,
					    static_cast<std::size_t>(n - done));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				sh.error(args[1], -errno);
				return false;
			}
			done += w;
		}
	}
	if (out.fd > STDERR_FILENO && ::close(std::exchange(out.fd, -1)) < 0)
		sh.error(args[1], -errno);
	return true;
}

// copy-in and copy-out: sources into an existing directory, as cp -a.
bool copy_between(Shell &sh, Args &args, bool into_image)
{
	std::string k;
	if (!sh.kernel("/", true, k))
		return false;
	auto host = make_host_fs();
	Fs &image = sh.view.fs();
	Fs &src = into_image ? *host : image;
	Fs &dst = into_image ? image : *host;
	std::string dir = args.back();
	args.pop_back();
	std::string to = into_image ? sh.resolved(dir, true) : host->resolve(dir, true);
	Stat st;
	long err = dst.stat(to, st);
	if (err == 0 && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err < 0) {
		sh.error(dir, err);
		return false;
	}
	CopyOptions options;
	options.lenient_chown = !into_image && geteuid() != 0;
	Copier copier(src, dst, options, hooks_for(sh));
	for (const std::string &arg : args) {
		std::string from = into_image ? host->resolve(arg, false) : sh.resolved(arg, false);
		while (from.size() > 1 && from.back() == '/')
			from.pop_back();
		if (long e = src.lstat(from, st); e < 0) {
			sh.error(arg, e);
			continue;
		}
		std::size_t slash = from.rfind('/');
		std::string name = slash == std::string::npos ? from : from.substr(slash + 1);
		copier.copy(from, name.empty() ? to : join(to, name), st);
	}
	return !copier.failed();
}

bool cmd_copy_in(Shell &sh, Args &args)
{
	return copy_between(sh, args, true);
}

bool cmd_copy_out(Shell &sh, Args &args)
{
	return copy_between(sh, args, false);
}

bool cmd_tar_in(Shell &sh, Args &args)
{
	std::string k;
	if (!sh.kernel(args[1], true, k))
		return false;
	std::string dir = sh.resolved(args[1], true);
	Stat st;
	long err = sh.view.fs().stat(dir, st);
	if (err == 0 && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err < 0) {
		sh.error(args[1], err);
		return false;
	}
	std::string error;
	Archive archive = open_archive_in(args[0], error);
	if (!archive) {
		sh.fail(error);
		return false;
	}
	TarIn tar(sh.view.fs(), archive.get(), CopyOptions{}, hooks_for(sh));
	tar.archive_name = args[0];
	tar.extract(dir == "/" ? "" : dir);
	return !tar.failed();
}

bool cmd_tar_out(Shell &sh, Args &args)
{
	std::string k;
	if (!sh.kernel(args[0], true, k))
		return false;
	std::string dir = sh.resolved(args[0], true);
	Stat st;
	long err = sh.view.fs().stat(dir, st);
	if (err == 0 && !S_ISDIR(st.st_mode))
		err = -ENOTDIR;
	if (err < 0) {
		sh.error(args[0], err);
		return false;
	}
	fflush(stdout);
	std::string error;
	Archive archive = open_archive_out(args[1], "", error);
	if (!archive) {
		sh.fail(error);
		return false;
	}
	TarOut tar(sh.view.fs(), archive.get(), hooks_for(sh));
	tar.add(dir == "/" ? "" : dir, ".");
	if (archive_write_close(archive.get()) != ARCHIVE_OK) {
		sh.fail(args[1] + ": " + archive_error(archive.get()));
		return false;
	}
	return !tar.failed();
}

bool cmd_mount(Shell &sh, Args &args)
{
	std::string error;
	std::string where = args[1] == "/" ? "/" : sh.absolute(args[1]);
	if (!sh.view.mount(args[0], where, args.size() > 2 ? args[2] : "", error)) {
		sh.fail(error);
		return false;
	}
	return true;
}

bool cmd_umount(Shell &sh, Args &args)
{
	std::string error;
	std::string where = args[0] == "/" ? "/" : sh.absolute(args[0]);
	if (!sh.view.umount(where, error)) {
		sh.fail(error);
		return false;
	}
	if (where == "/")
		sh.cwd = "/";
	return true;
}

bool cmd_mounts(Shell &sh, Args &)
{
	for (const ImageView::Mounted &m : sh.view.mounts())
		printf("%s on %s type %s (%s)\n", m.device.c_str(), m.mountpoint.c_str(),
		       m.fs.type.c_str(),
		       sh.view.disks()[static_cast<std::size_t>(m.device[2] - 'a')]->read_only()
			       ? "ro"
			       : "rw");
	return true;
}

bool cmd_df(Shell &sh, Args &)
{
	printf("%-10s %12s %12s %12s %5s %s\n", "Filesystem", "1K-blocks", "Used",
	       "Available", "Use%", "Mounted on");
	for (const ImageView::Mounted &m : sh.view.mounts()) {
		struct lkl_statfs sf {};
		if (long err = lkl_sys_statfs(m.fs.root().c_str(), &sf); err < 0) {
			sh.error(m.mountpoint, err);
			continue;
		}
		auto kib = [&](unsigned long long blocks) {
			return blocks * static_cast<unsigned long long>(sf.f_bsize) / 1024;
		};
		unsigned long long used = kib(sf.f_blocks - sf.f_bfree);
		unsigned long long avail = kib(sf.f_bavail);
		unsigned long long pct = used + avail ? (used * 100 + used + avail - 1) / (used + avail) : 0;
		printf("%-10s %12llu %12llu %12llu %4llu%% %s\n", m.device.c_str(),
		       kib(sf.f_blocks), used, avail, pct, m.mountpoint.c_str());
	}
	return true;
}

bool cmd_list_filesystems(Shell &sh, Args &)
{
	const auto &disks = sh.view.disks();
	for (std::size_t i = 0; i < disks.size(); i++) {
		Probe whole;
		if (int err = disks[i]->probe(0, whole); err < 0) {
			sh.error(disks[i]->path(), err);
			continue;
		}
		std::vector<unsigned> parts = whole.table.empty() ? std::vector<unsigned>{0}
								  : whole.partitions;
		for (unsigned part : parts) {
			Probe found;
			if (part && disks[i]->probe(part, found) < 0)
				continue;
			const Probe &p = part ? found : whole;
			printf("%s: %s%s%s\n", ImageView::device_name(i, part).c_str(),
			       p.type.empty() ? "unknown" : p.type.c_str(),
			       p.label.empty() ? "" : " ", p.label.c_str());
		}
	}
	return true;
}

} // namespace

void transfer_commands(std::vector<Command> &out)
{
	out.insert(out.end(), {
		{"upload", "HOSTFILE|- FILE", "copy a host file (or standard input) to FILE", 2, 2, 1u << 0, cmd_upload},
		{"download", "FILE HOSTFILE|-", "copy FILE to a host file (or standard output)", 2, 2, 1u << 1, cmd_download},
		{"copy-in", "HOSTPATH... DIR", "copy host trees into DIR, as cp -a", 2, -1, host_all_but_last, cmd_copy_in},
		{"copy-out", "PATH... HOSTDIR", "copy trees out to a host directory, as cp -a", 2, -1, host_last, cmd_copy_out},
		{"tar-in", "ARCHIVE|- DIR", "unpack a tar archive (any compression) into DIR", 2, 2, 1u << 0, cmd_tar_in},
		{"tar-out", "DIR ARCHIVE|-", "pack DIR into a pax archive (compressed as named)", 2, 2, 1u << 1, cmd_tar_out},
		{"mount", "DEVICE MOUNTPOINT [TYPE]", "mount vdXN (or N: vdaN) at / or a directory", 2, 3, 0, cmd_mount},
		{"umount", "MOUNTPOINT", "unmount", 1, 1, 0, cmd_umount},
		{"mounts", "", "list what is mounted where", 0, 0, 0, cmd_mounts},
		{"df", "", "space used on each mounted file system", 0, 0, 0, cmd_df},
		{"list-filesystems", "", "what each disk and partition holds", 0, 0, 0, cmd_list_filesystems},
	});
}

} // namespace lkl_tools
