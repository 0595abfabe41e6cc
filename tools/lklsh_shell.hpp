// lklsh's commands and the state they share: the view of the disks
// (lklsh_view.hpp), the current directory, and how errors are told.
#pragma once

#include "lklsh_view.hpp"

#include <string>
#include <vector>

namespace lkl_tools {

class Shell;

// One command of the shell.
struct Command {
	const char *name;
	const char *usage; // its arguments, "[-l] [PATH...]"
	const char *help;  // one line
	int min_args, max_args; // max -1: any number
	// Which arguments are host paths (for completion): a bit per
	// argument position (bit 0: the first); host_last: the last one.
	unsigned host_args;
	bool (*run)(Shell &sh, std::vector<std::string> &args);
};
constexpr unsigned host_last = 1u << 31;
// Every argument but the last.
constexpr unsigned host_all_but_last = 1u << 30;

// The commands, in the order help lists them (lklsh_commands.cpp,
// lklsh_edit.cpp and lklsh_transfer.cpp define them).
const std::vector<Command> &commands();
const Command *find_command(const std::string &name);
void file_commands(std::vector<Command> &out);
void edit_commands(std::vector<Command> &out);
void transfer_commands(std::vector<Command> &out);

class Shell {
public:
	explicit Shell(ImageView &view) : view(view) {}

	// Runs one command; false if it failed (its errors were told).
	bool run(std::vector<std::string> words);

	// The image path of @path (from the current directory), with ".",
	// ".." and repeated slashes taken out: always absolute.
	std::string absolute(const std::string &path) const;
	// The kernel's path of image path @path (symbolic links resolved
	// inside the tree, the last one only if @follow). Tells and returns
	// false when nothing is mounted at "/".
	bool kernel(const std::string &path, bool follow, std::string &out);
	// The image path of @path with its links resolved (see kernel()).
	std::string resolved(const std::string &path, bool follow);

	// "lklsh: [WHERE]CMD: PATH: [DOING: ]strerror(-err)" on stderr.
	void error(const std::string &path, long err, const std::string &doing = "");
	// "lklsh: [WHERE]CMD: MESSAGE" on stderr.
	void fail(const std::string &message);
	bool failed() const { return failed_; }

	ImageView &view;
	std::string cwd = "/";
	// Where a script's command comes from, "FILE:LINE: ", for messages.
	std::string where;
	bool interactive = false;

private:
	std::string command_;
	bool failed_ = false;
};

// lstat (stat with @follow) of kernel path @kpath: 0 or a negative errno.
long kstat(const std::string &kpath, Stat &st, bool follow);
// The names in directory @kpath, sorted; "." and ".." only with @all
// (names starting with '.' too). 0 or a negative errno.
long list_dir(const std::string &kpath, std::vector<std::string> &names, bool all);

// Splits "-abc" style flags off the front of @args (until "--" or the
// first non-flag) into @flags; false (told) for a flag not in @allowed.
bool take_flags(Shell &sh, std::vector<std::string> &args, const std::string &allowed,
		std::string &flags);

} // namespace lkl_tools
