// The tree copy that cptofs, cpfromfs, lklsh and the Python module share:
// files, directories, symbolic and hard links, device nodes and fifos from
// one file system (copy_fs.hpp) to another, keeping modes, owners, times to
// the nanosecond, holes, extended attributes and POSIX ACLs, as cp -a does.
#pragma once

#include "attributes.hpp"
#include "copy_fs.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace lkl_tools {

// Bytes and files, copied so far or in total.
struct Amount {
	std::uint64_t bytes = 0, files = 0;
};

// Adds up what copying path (recursively) will move, for a progress bar;
// stop is polled between entries.
void measure(Fs &fs, const std::string &path, Amount &total,
	     const std::function<bool()> &stop = {});

// What the copy tells its caller, and asks it. Each may be empty.
struct CopyHooks {
	// A failure (attributes.hpp); the copy goes on.
	ErrorHook error;
	// Bytes and files just copied.
	std::function<void(std::uint64_t bytes, std::uint64_t files)> progress;
	// Polled between files and between 1 MiB chunks: true stops the copy.
	std::function<bool()> stop;
};

// The recursive copy from one file system to the other.
class Copier {
public:
	Copier(Fs &src, Fs &dst, const CopyOptions &options, CopyHooks hooks);
	~Copier();
	Copier(const Copier &) = delete;
	Copier &operator=(const Copier &) = delete;

	// Copies from (already lstat'ed as st) in src to the path to in dst.
	// An existing non-directory at to is replaced; an existing directory
	// is copied into.
	void copy(const std::string &from, const std::string &to, const Stat &st);
	// Reports a failure the caller found, like the copy's own.
	void error(const std::string &path, long err, const std::string &doing = "");
	// Did anything fail?
	bool failed() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace lkl_tools
