#include "cli.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include <clocale>
#include <langinfo.h>

namespace lkl_tools {

std::optional<unsigned> parse_number(const char *arg, unsigned min, unsigned max)
{
	char *end = nullptr;
	errno = 0;
	unsigned long n = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || *arg == '-' || n < min || n > max)
		return std::nullopt;
	return static_cast<unsigned>(n);
}

std::optional<int> image_option(int c, const char *arg, ImageOptions &options,
				const char *prog)
{
	switch (c) {
	case 't':
		options.type = arg;
		return -1;
	case 'P':
		if (strchr(arg, '/')) {
			options.volume = arg;
			return -1;
		}
		if (auto part = parse_number(arg, 0, 255)) {
			options.part = *part;
			return -1;
		}
		fprintf(stderr, "%s: bad partition number: %s\n", prog, arg);
		return 2;
	case 'm':
		if (auto mb = parse_number(arg, 16, 65536)) {
			options.mb = *mb;
			return -1;
		}
		fprintf(stderr, "%s: bad kernel memory size: %s (MiB, 16 to 65536)\n",
			prog, arg);
		return 2;
	case 'p':
		// The session appends the kernel's messages to a file.
		options.log = "/dev/stderr";
		return -1;
	case opt_norecovery:
		options.norecovery = true;
		return -1;
	case opt_format:
		if (known_format(arg)) {
			options.format = arg;
			return -1;
		}
		fprintf(stderr, "%s: unknown image format: %s (auto, raw, qcow2, vmdk, "
				"vhdx, vdi or vpc)\n", prog, arg);
		return 2;
	case opt_overlay:
		if (parse_overlay(arg ? arg : "discard", options.overlay))
			return -1;
		fprintf(stderr, "%s: bad --overlay: %s (discard or apply)\n", prog, arg);
		return 2;
	default:
		return std::nullopt;
	}
}

void use_utf8_names()
{
	setlocale(LC_ALL, "");
	if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
}

int bad_usage(const char *prog, const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s\n", prog, why);
	fprintf(stderr, "Try '%s --help' for more information.\n", prog);
	return 2;
}

ErrorHook error_printer(const char *prog)
{
	return [prog](const std::string &path, long err, const std::string &doing) {
		fprintf(stderr, "%s: %s: %s%s\n", prog, path.c_str(),
			doing.empty() ? "" : (doing + ": ").c_str(),
			strerror(static_cast<int>(-err)));
	};
}

int tool_main(const char *prog, const std::function<int()> &body)
{
	try {
		return body();
	} catch (const std::exception &e) {
		fprintf(stderr, "%s: %s\n", prog, e.what());
		return 1;
	}
}

} // namespace lkl_tools
