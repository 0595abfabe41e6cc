// What operating system a file system holds, read from its files as
// virt-inspector does: os-release(5), the hostname, the kernels in /boot,
// the package database, the architecture of its shell. Used by lkl-inspect
// and by lklsh to find the root file system of a disk.
#pragma once

#include "copy_fs.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lkl_tools {

struct OsInfo {
	// Does it look like an operating system's root: an os-release file,
	// or /etc and /usr directories?
	bool found = false;
	// The fields of /etc/os-release (else /usr/lib/os-release), unquoted:
	// NAME, VERSION, ID, VERSION_ID, PRETTY_NAME, ...
	std::map<std::string, std::string> release;
	// /etc/hostname (else /etc/HOSTNAME); empty when neither exists.
	std::string hostname;
	// The kernel images in /boot (vmlinuz-*, vmlinux-*, bzImage*), sorted.
	std::vector<std::string> kernels;
	// The package manager whose database is there: "dpkg"
	// (/var/lib/dpkg/status), "rpm" (/var/lib/rpm, /usr/lib/sysimage/rpm),
	// "apk" (/lib/apk/db/installed), "pacman" (/var/lib/pacman/local), or
	// "".
	std::string package_manager;
	// How many packages it lists as installed, where its database is text
	// (dpkg, apk) or a directory per package (pacman).
	std::optional<unsigned> packages;
	// The machine /bin/sh is built for, from its ELF header: "x86_64",
	// "aarch64", ...; empty when unknown.
	std::string arch;
};

// Inspects the file system @fs, whose paths start at its root.
OsInfo inspect_os(Fs &fs);

// Reads at most @max bytes of @path in @fs (symbolic links followed inside
// it) into @out: 0, or a negative errno.
long read_file(Fs &fs, const std::string &path, std::string &out,
	       std::size_t max = 1 << 20);

} // namespace lkl_tools
