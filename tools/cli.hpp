// What the image tools' command lines share, with the same letters and
// messages in each: the options -t TYPE, -P PART, -m MB, -p, --norecovery,
// bad usage, errors and the end of main().
#pragma once

#include "attributes.hpp"
#include "image_disk.hpp"

#include <functional>
#include <optional>

namespace lkl_tools {

// getopt_long's values for --norecovery, --format FMT, --overlay[=HOW].
constexpr int opt_norecovery = 0x1000, opt_format = 0x1001, opt_overlay = 0x1002;

// A decimal number in [min, max], or nothing.
std::optional<unsigned> parse_number(const char *arg, unsigned min, unsigned max);

// Takes option @c with argument @arg into @options if it is one of the
// shared ones: -t (type), -P (partition, 0 to 255, or an LVM2 volume
// VG/LV), -m (kernel memory in MiB, 16 to 65536), -p (kernel messages on
// stderr), opt_norecovery, opt_format (a known_format()) and opt_overlay
// (discard, the default, or apply).
// Returns nothing for another option, else the exit status to leave with
// (2 after a message on stderr for a bad value), or -1 to go on.
std::optional<int> image_option(int c, const char *arg, ImageOptions &options,
				const char *prog);

// File names are bytes that, on Linux, are UTF-8 by convention; pax
// headers store them as UTF-8, converted from the locale's character set.
// Takes the user's locale, but for a character set that is not UTF-8 (the
// C locale's ASCII) uses C.UTF-8 for LC_CTYPE: else every name with a
// byte above 0x7f would be stored as hdrcharset=BINARY, and GNU tar and
// other readers would show it differently.
void use_utf8_names();

// "PROG: WHY" (if @why) and where to find help on stderr; returns 2, the
// exit status for bad usage.
int bad_usage(const char *prog, const char *why);

// An ErrorHook printing "PROG: PATH: [DOING: ]strerror" on stderr.
ErrorHook error_printer(const char *prog);

// Runs a tool's @body and returns its exit status; an exception escaping it
// (std::bad_alloc, ...) is told as "PROG: what" and gives 1. Unwinding has
// then unmounted the images and halted the kernel.
int tool_main(const char *prog, const std::function<int()> &body);

} // namespace lkl_tools
