// lklsh: a shell on disk images, in the spirit of guestfish and of a Unix
// shell. One kernel in this process holds every image given; their file
// systems are mounted into one tree (lklsh_view.hpp) and the commands
// (lklsh_commands.cpp, lklsh_transfer.cpp) work on it. Interactive with
// line editing, history and completion of paths inside the images
// (libedit), or one command per line from a script, standard input or
// the words after "--".
#include "cli.hpp"
#include "lklsh_shell.hpp"
#include "signals.hpp"

#include <lkl.h>

#include <editline/readline.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cwchar>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#ifndef LKL_VERSION
#define LKL_VERSION "unknown"
#endif

namespace {

using lkl_tools::Shell;

const char *prog = "lklsh";

int usage(FILE *out, int status)
{
	fprintf(out,
		"usage: lklsh -a IMAGE [-a IMAGE...] [--ro] [-m PART[:MOUNTPOINT]...]\n"
		"             [-f SCRIPT] [-x] [-M MB] [-p] [-- COMMAND [ARG...]]\n"
		"\n"
		"A shell on disk images: their file systems (xfs, ext4, btrfs, vfat) are\n"
		"read and written by the Linux kernel's own drivers running inside this\n"
		"program, with no mount and no root. The images are disks vda, vdb, ...\n"
		"in the order given; -m mounts partition PART (\"vdb2\", or a number for\n"
		"the first disk, 0 or \"vda\" for a whole disk) at MOUNTPOINT (default /:\n"
		"the tree's root; then existing directories in it). Without -m the first\n"
		"image's file system is mounted at /: for a partitioned disk, the\n"
		"partition that holds an operating system.\n"
		"\n"
		"Commands come from the words after \"--\" (one command), from SCRIPT,\n"
		"or from standard input: interactive on a terminal (line editing,\n"
		"history, tab completion of paths in the image), else one command per\n"
		"line. Words are split as in a shell: quotes '...' and \"...\" (where\n"
		"\\n, \\t, \\\\ and \\\" are escapes), # starts a comment. \"help\" lists the\n"
		"commands.\n"
		"\n"
		"  -a, --add IMAGE               add a disk image (raw file or block device)\n"
		"      --ro                      open every image read-only (never written)\n"
		"  -m, --mount PART[:MOUNTPOINT] mount a partition (may be repeated)\n"
		"  -f, --file SCRIPT             run the commands in SCRIPT\n"
		"  -x                            echo each command to stderr before it runs\n"
		"  -M, --mb MB                   kernel memory in MiB (default: 128)\n"
		"  -p, --enable-printk           show the kernel's messages on stderr\n"
		"  -h, --help                    show this help\n"
		"      --version                 show the version\n"
		"\n"
		"Errors name the path and the system's error. In a script the first\n"
		"failing command stops it, unless it is written with a '-' before its\n"
		"name (\"-rm /tmp/x\"). Exit status: 0 when every command succeeded, 1 when\n"
		"one failed (or the images could not be opened), 2 for bad usage, 128+N\n"
		"when stopped by signal N. The images are always unmounted cleanly.\n");
	return status;
}

struct Args {
	std::vector<std::string> images;
	std::vector<std::pair<std::string, std::string>> mounts; // part, where
	bool read_only = false;
	bool trace = false;
	std::string script;
	std::vector<std::string> command;
	lkl_tools::ImageOptions kernel; // mb and log
};

std::optional<int> parse(int argc, char **argv, Args &args)
{
	enum { opt_version = 256, opt_ro };
	static const struct option longopts[] = {
		{"add", required_argument, nullptr, 'a'},
		{"ro", no_argument, nullptr, opt_ro},
		{"mount", required_argument, nullptr, 'm'},
		{"file", required_argument, nullptr, 'f'},
		{"mb", required_argument, nullptr, 'M'},
		{"enable-printk", no_argument, nullptr, 'p'},
		{"help", no_argument, nullptr, 'h'},
		{"version", no_argument, nullptr, opt_version},
		{nullptr, 0, nullptr, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "+a:m:f:xM:ph", longopts, nullptr)) != -1) {
		switch (c) {
		case 'a':
			args.images.push_back(optarg);
			break;
		case opt_ro:
			args.read_only = true;
			break;
		case 'm': {
			std::string spec = optarg;
			std::size_t colon = spec.find(':');
			std::string where = colon == std::string::npos ? "/" : spec.substr(colon + 1);
			if (where.empty() || where[0] != '/')
				return lkl_tools::bad_usage(prog, "a mount point is an absolute path");
			args.mounts.emplace_back(spec.substr(0, colon), where);
			break;
		}
		case 'f':
			args.script = optarg;
			break;
		case 'x':
			args.trace = true;
			break;
		case 'M':
		case 'p':
			if (int status = *lkl_tools::image_option(c == 'M' ? 'm' : 'p', optarg,
								   args.kernel, "lklsh");
			    status >= 0)
				return status;
			break;
		case 'h':
			return usage(stdout, 0);
		case opt_version:
			printf("lklsh (lkl) %s\n", LKL_VERSION);
			return 0;
		default:
			return lkl_tools::bad_usage(prog, nullptr);
		}
	}
	if (args.images.empty())
		return lkl_tools::bad_usage(prog, "no image given (-a IMAGE)");
	if (optind < argc) {
		if (strcmp(argv[optind - 1], "--") != 0)
			return lkl_tools::bad_usage(prog, "commands come after \"--\"");
		args.command.assign(argv + optind, argv + argc);
	}
	if (!args.command.empty() && !args.script.empty())
		return lkl_tools::bad_usage(prog, "give a command after \"--\" or a "
						  "script, not both");
	return std::nullopt;
}

// Splits @line into words as a shell does (quotes, escapes in double
// quotes, # comments). false with @error for an unclosed quote.
bool split(const std::string &line, std::vector<std::string> &words, std::string &error)
{
	words.clear();
	std::string word;
	bool in_word = false;
	for (std::size_t i = 0; i < line.size(); i++) {
		char c = line[i];
		if (c == '#' && !in_word)
			break;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			if (in_word)
				words.push_back(std::exchange(word, {}));
			in_word = false;
			continue;
		}
		in_word = true;
		if (c == '\\' && i + 1 < line.size()) {
			word += line[++i];
		} else if (c == '\'') {
			std::size_t end = line.find('\'', i + 1);
			if (end == std::string::npos) {
				error = "unclosed '";
				return false;
			}
			word += line.substr(i + 1, end - i - 1);
			i = end;
		} else if (c == '"') {
			for (i++;; i++) {
				if (i >= line.size()) {
					error = "unclosed \"";
					return false;
				}
				if (line[i] == '"')
					break;
				if (line[i] == '\\' && i + 1 < line.size()) {
					char e = line[++i];
					word += e == 'n' ? '\n' : e == 't' ? '\t' : e;
				} else {
					word += line[i];
				}
			}
		} else {
			word += c;
		}
	}
	if (in_word)
		words.push_back(word);
	return true;
}

// Runs one line; false if it failed and must stop a script.
bool run_line(Shell &sh, const std::string &line, bool trace)
{
	std::vector<std::string> words;
	std::string error;
	if (!split(line, words, error)) {
		fprintf(stderr, "lklsh: %s%s\n", sh.where.c_str(), error.c_str());
		return false;
	}
	if (words.empty())
		return true;
	bool may_fail = words[0].size() > 1 && words[0][0] == '-';
	if (may_fail)
		words[0].erase(0, 1);
	if (trace) {
		std::string shown;
		for (const std::string &w : words)
			shown += " " + w;
		fprintf(stderr, "+%s\n", shown.c_str());
	}
	return sh.run(words) || may_fail;
}

int run_script(Shell &sh, std::istream &in, const std::string &name, bool trace)
{
	std::string line;
	for (int n = 1; std::getline(in, line); n++) {
		if (n == 1 && line.rfind("#!", 0) == 0)
			continue;
		sh.where = name + ":" + std::to_string(n) + ": ";
		if (!run_line(sh, line, trace))
			return 1;
		if (lkl_tools::SignalWatcher::stopping())
			break;
	}
	return 0;
}

// Tab completion: commands for the first word, paths inside the tree
// (or on the host, for a command's host arguments) for the others.
Shell *completing;
std::vector<std::string> matches;

char *next_match(const char *, int state)
{
	static std::size_t i;
	if (!state)
		i = 0;
	return i < matches.size() ? strdup(matches[i++].c_str()) : nullptr;
}

char **complete(const char *text, int start, int)
{
	rl_attempted_completion_over = 1;
	matches.clear();
	std::vector<std::string> words;
	std::string error;
	split(std::string(rl_line_buffer, static_cast<std::size_t>(start)), words, error);
	std::string prefix = text;
	if (words.empty()) {
		for (const lkl_tools::Command &c : lkl_tools::commands())
			if (std::string(c.name).rfind(prefix, 0) == 0)
				matches.push_back(c.name);
	} else {
		std::string name = words[0][0] == '-' ? words[0].substr(1) : words[0];
		const lkl_tools::Command *c = lkl_tools::find_command(name);
		unsigned arg = static_cast<unsigned>(words.size() - 1);
		bool host = c && ((c->host_args & (1u << std::min(arg, 29u))) ||
				  (c->host_args & lkl_tools::host_all_but_last) ||
				  (c->host_args & lkl_tools::host_last && arg >= 1));
		if (host) {
			rl_attempted_completion_over = 0; // libedit's file names
			return nullptr;
		}
		std::size_t slash = prefix.rfind('/');
		std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
		std::string base = prefix.substr(dir.size());
		std::vector<std::string> names;
		lkl_tools::Fs &fs = completing->view.fs();
		std::string at = completing->resolved(dir.empty() ? "." : dir, true);
		if (completing->view.has_root() && fs.list(at, names) == 0)
			for (const std::string &n : names) {
				if (n.rfind(base, 0) != 0 || (base.empty() && n[0] == '.'))
					continue;
				lkl_tools::Stat st;
				bool is_dir = fs.stat(lkl_tools::join(at, n), st) == 0 &&
					      S_ISDIR(st.st_mode);
				matches.push_back(dir + n + (is_dir ? "/" : ""));
			}
	}
	if (matches.empty())
		return nullptr;
	std::sort(matches.begin(), matches.end());
	rl_completion_suppress_append = matches.size() == 1 && matches[0].back() == '/';
	return rl_completion_matches(text, next_match);
}

// The stop signal taken at the prompt, or 0.
volatile sig_atomic_t prompt_signal;
// The signal that ended an interactive session, or 0.
int stopped_by;

// The signals that stop lklsh at the prompt (SIGUSR1, also blocked, is the
// tools' own and stays blocked).
const int prompt_stops[] = {SIGINT, SIGTERM, SIGHUP};

void take_at_prompt(int sig)
{
	prompt_signal = sig;
}

// One key for readline(). The stop signals stay blocked except inside
// ppoll(), which unblocks them atomically: libedit prints the prompt
// before it reads, and a ^C that arrived in between would otherwise be
// taken before the read and leave the read waiting for the next key.
int read_key(FILE *)
{
	sigset_t open;
	pthread_sigmask(SIG_SETMASK, nullptr, &open);
	for (int sig : prompt_stops)
		sigdelset(&open, sig);
	std::mbstate_t state{};
	for (;;) {
		if (prompt_signal)
			return EOF;
		pollfd p{STDIN_FILENO, POLLIN, 0};
		int n = ppoll(&p, 1, nullptr, &open);
		if (n < 0 && errno != EINTR)
			return EOF;
		if (n <= 0)
			continue;
		char c;
		ssize_t got = read(STDIN_FILENO, &c, 1);
		if (got == 1) {
			// libedit takes the value as one wide character: a
			// multibyte one is read whole (an invalid byte
			// stands for itself).
			wchar_t wc;
			std::size_t len = mbrtowc(&wc, &c, 1, &state);
			if (len == static_cast<std::size_t>(-2))
				continue;
			if (len == static_cast<std::size_t>(-1)) {
				state = {};
				return static_cast<unsigned char>(c);
			}
			return static_cast<int>(wc);
		}
		if (got == 0 || (errno != EINTR && errno != EAGAIN))
			return EOF;
	}
}

// readline() with the stop signals taken at the prompt by this thread
// (the kernel's threads keep them blocked, see run()): read_key() ends
// the read when one arrives.
char *read_line(const char *prompt)
{
	constexpr std::size_t count = std::size(prompt_stops);
	struct sigaction take {}, old[count];
	take.sa_handler = take_at_prompt;
	sigemptyset(&take.sa_mask);
	for (std::size_t i = 0; i < count; i++)
		sigaction(prompt_stops[i], &take, &old[i]);
	prompt_signal = 0;
	char *raw = readline(prompt);
	for (std::size_t i = 0; i < count; i++)
		sigaction(prompt_stops[i], &old[i], nullptr);
	return raw;
}

int interactive(Shell &sh)
{
	sh.interactive = true;
	completing = &sh;
	rl_readline_name = "lklsh";
	rl_getc_function = read_key;
	rl_attempted_completion_function = complete;
	std::string history;
	if (const char *home = getenv("HOME"))
		history = std::string(home) + "/.lklsh_history";
	if (!history.empty())
		read_history(history.c_str());
	fprintf(stderr, "lklsh: \"help\" lists the commands; ^D leaves.\n");
	for (const auto &m : sh.view.mounts())
		fprintf(stderr, "lklsh: %s (%s) is mounted at %s\n", m.device.c_str(),
			m.fs.type.c_str(), m.mountpoint.c_str());
	for (;;) {
		std::string prompt = "lklsh:" + sh.cwd + "> ";
		char *raw = read_line(prompt.c_str());
		int sig = prompt_signal;
		if (sig == SIGINT) {
			// ^C at the prompt drops the line, as a shell does
			// (readline returns it, or nothing when the read was
			// interrupted).
			free(raw);
			fputc('\n', stderr);
			continue;
		}
		if (sig && sig != SIGINT) {
			free(raw);
			stopped_by = sig;
			break;
		}
		if (!raw) {
			fputc('\n', stderr);
			break;
		}
		std::string line = raw;
		free(raw);
		if (line.find_first_not_of(" \t") != std::string::npos)
			add_history(line.c_str());
		if (line == "exit" || line == "quit")
			break;
		// A signal stops the command, not the shell; a second one (or
		// a command that does not stop in time) ends the program.
		lkl_tools::SignalWatcher watcher;
		run_line(sh, line, false);
		sig = lkl_tools::SignalWatcher::signal();
		if (sig == SIGINT) {
			fprintf(stderr, "lklsh: interrupted\n");
		} else if (sig) {
			stopped_by = sig;
			break;
		}
	}
	if (!history.empty()) {
		write_history(history.c_str());
		history_truncate_file(history.c_str(), 1000);
	}
	return 0;
}

int run(const Args &args)
{
	// Blocked before the kernel's threads start, so that they inherit it;
	// taken by a SignalWatcher, or at the prompt by read_line().
	sigset_t stops = lkl_tools::stop_signal_set();
	pthread_sigmask(SIG_BLOCK, &stops, nullptr);
	bool on_terminal = args.command.empty() && args.script.empty() &&
			   isatty(STDIN_FILENO);
	std::optional<lkl_tools::SignalWatcher> signals;
	if (!on_terminal)
		signals.emplace();
	lkl_tools::emergency_image(args.images[0], args.read_only);
	std::string error;
	auto view = lkl_tools::ImageView::open(args.images, args.read_only, args.kernel.mb,
					       args.kernel.log, error);
	if (!view) {
		fprintf(stderr, "lklsh: %s\n", error.c_str());
		return 1;
	}
	for (const std::string &warning : view->warnings())
		fprintf(stderr, "lklsh: warning: %s\n", warning.c_str());
	lkl_sys_umask(022);
	bool mounted = true;
	if (args.mounts.empty()) {
		mounted = view->mount_default(error);
	} else {
		// "/" first, then the others in the order given.
		for (bool root : {true, false})
			for (const auto &[part, where] : args.mounts)
				if ((where == "/") == root && mounted)
					mounted = view->mount(part, where, {}, error);
	}
	if (!mounted)
		fprintf(stderr, "lklsh: %s\n", error.c_str());
	else if (!view->mounts().empty())
		lkl_tools::emergency_fstype(view->mounts().front().fs.type);

	Shell sh(*view);
	int status = mounted ? 0 : 1;
	if (mounted || on_terminal) {
		if (!args.command.empty()) {
			std::string line;
			for (const std::string &w : args.command) {
				std::string q = "'";
				for (char c : w)
					q += c == '\'' ? std::string("'\\''") : std::string(1, c);
				line += (line.empty() ? "" : " ") + q + "'";
			}
			status = run_line(sh, line, args.trace) && !sh.failed() ? 0 : 1;
		} else if (!args.script.empty()) {
			std::ifstream in(args.script);
			if (!in) {
				fprintf(stderr, "lklsh: %s: %s\n", args.script.c_str(),
					strerror(errno));
				status = 1;
			} else {
				status = run_script(sh, in, args.script, args.trace);
			}
		} else if (on_terminal) {
			status = interactive(sh);
		} else {
			status = run_script(sh, std::cin, "stdin", args.trace);
		}
	}
	fflush(stdout);
	std::string failed = view->close();
	if (!failed.empty()) {
		fprintf(stderr, "lklsh: %s\n", failed.c_str());
		status = 1;
	}
	if (int sig = on_terminal ? stopped_by : lkl_tools::SignalWatcher::signal()) {
		fprintf(stderr, "lklsh: stopped by %s; the images were unmounted cleanly\n",
			strsignal(sig));
		return 128 + sig;
	}
	return status;
}

} // namespace

int main(int argc, char **argv)
{
	lkl_tools::emergency_program(prog);
	lkl_tools::exit_on_kernel_panic();
	return lkl_tools::tool_main(prog, [&] {
		lkl_tools::use_utf8_names();
		Args args;
		if (auto status = parse(argc, argv, args))
			return *status;
		return run(args);
	});
}
