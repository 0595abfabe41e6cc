#include "os_inspect.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <sstream>

namespace lkl_tools {

namespace {

bool is_dir(Fs &fs, const std::string &path)
{
	Stat st;
	return fs.stat(path, st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(Fs &fs, const std::string &path)
{
	Stat st;
	return fs.stat(path, st) == 0;
}

// One os-release(5) value: shell-like quoting, backslash escapes inside
// double quotes.
std::string unquote(const std::string &v)
{
	if (v.size() < 2 || (v[0] != '"' && v[0] != '\'') || v.back() != v[0])
		return v;
	std::string out;
	for (std::size_t i = 1; i + 1 < v.size(); i++) {
		if (v[0] == '"' && v[i] == '\\' && i + 2 < v.size())
			i++;
		out += v[i];
	}
	return out;
}

std::map<std::string, std::string> parse_release(const std::string &text)
{
	std::map<std::string, std::string> fields;
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);) {
		std::size_t eq = line.find('=');
		if (line.empty() || line[0] == '#' || eq == std::string::npos)
			continue;
		std::string value = line.substr(eq + 1);
		while (!value.empty() && (value.back() == ' ' || value.back() == '\r'))
			value.pop_back();
		fields[line.substr(0, eq)] = unquote(value);
	}
	return fields;
}

std::string first_line(const std::string &text)
{
	std::string line = text.substr(0, text.find('\n'));
	while (!line.empty() && (line.back() == ' ' || line.back() == '\r'))
		line.pop_back();
	return line;
}

// Lines of @text that start with @prefix.
unsigned count_lines(const std::string &text, const std::string &prefix)
{
	unsigned n = 0;
	std::istringstream in(text);
	for (std::string line; std::getline(in, line);)
		n += line.compare(0, prefix.size(), prefix) == 0;
	return n;
}

// The ELF machine of @path's first bytes (e_machine, EM_* of elf.h).
std::string elf_arch(Fs &fs, const std::string &path)
{
	std::string head;
	if (read_file(fs, path, head, 20) < 0 || head.size() < 20 ||
	    head.compare(0, 4, "\x7f" "ELF") != 0)
		return {};
	bool little = head[5] == 1;
	bool wide = head[4] == 2;
	auto b = [&](int i) { return static_cast<unsigned>(static_cast<unsigned char>(head[i])); };
	unsigned machine = little ? b(18) | b(19) << 8 : b(19) | b(18) << 8;
	switch (machine) {
	case 3:
		return "i386";
	case 62:
		return "x86_64";
	case 40:
		return "arm";
	case 183:
		return "aarch64";
	case 243:
		return wide ? "riscv64" : "riscv32";
	case 21:
		return little ? "ppc64le" : "ppc64";
	case 20:
		return "ppc";
	case 22:
		return wide ? "s390x" : "s390";
	case 258:
		return "loongarch64";
	case 8:
		return wide ? "mips64" : "mips";
	default:
		return "elf-machine-" + std::to_string(machine);
	}
}

} // namespace

long read_file(Fs &fs, const std::string &path, std::string &out, std::size_t max)
{
	out.clear();
	long fd = fs.open_read(fs.resolve(path, true));
	if (fd < 0)
		return fd;
	File file(fs, fd);
	char buf[65536];
	while (out.size() < max) {
		std::size_t want = std::min(sizeof(buf), max - out.size());
		long n = fs.pread(file.get(), buf, want,
				  static_cast<std::int64_t>(out.size()));
		if (n < 0)
			return n;
		if (n == 0)
			break;
		out.append(buf, static_cast<std::size_t>(n));
	}
	return 0;
}

OsInfo inspect_os(Fs &fs)
{
	OsInfo os;
	std::string text;
	for (const char *path : {"/etc/os-release", "/usr/lib/os-release"})
		if (read_file(fs, path, text) == 0) {
			os.release = parse_release(text);
			break;
		}
	os.found = !os.release.empty() || (is_dir(fs, "/etc") && is_dir(fs, "/usr"));
	if (!os.found)
		return os;

	for (const char *path : {"/etc/hostname", "/etc/HOSTNAME"})
		if (read_file(fs, path, text, 4096) == 0) {
			os.hostname = first_line(text);
			break;
		}

	std::vector<std::string> names;
	if (fs.list(fs.resolve("/boot", true), names) == 0)
		for (const std::string &name : names)
			if (name.rfind("vmlinuz", 0) == 0 || name.rfind("vmlinux", 0) == 0 ||
			    name.rfind("bzImage", 0) == 0)
				os.kernels.push_back(name);
	std::sort(os.kernels.begin(), os.kernels.end());

	if (read_file(fs, "/var/lib/dpkg/status", text, 256u << 20) == 0) {
		os.package_manager = "dpkg";
		os.packages = count_lines(text, "Status: install ok installed");
	} else if (is_dir(fs, "/var/lib/rpm") || is_dir(fs, "/usr/lib/sysimage/rpm")) {
		os.package_manager = "rpm";
	} else if (read_file(fs, "/lib/apk/db/installed", text, 256u << 20) == 0) {
		os.package_manager = "apk";
		os.packages = count_lines(text, "P:");
	} else if (is_dir(fs, "/var/lib/pacman/local")) {
		os.package_manager = "pacman";
		names.clear();
		fs.list(fs.resolve("/var/lib/pacman/local", true), names);
		os.packages = static_cast<unsigned>(std::count_if(
			names.begin(), names.end(), [&](const std::string &n) {
				return is_dir(fs, "/var/lib/pacman/local/" + n);
			}));
	}

	for (const char *sh : {"/bin/sh", "/usr/bin/sh", "/bin/busybox"})
		if (exists(fs, sh)) {
			os.arch = elf_arch(fs, sh);
			break;
		}
	return os;
}

} // namespace lkl_tools
