// A progress bar for long copies on a terminal.
#pragma once

#include "copier.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace lkl_tools {

// "[#####     ]  45%  123/293 MiB  12034/24390 files" on stderr, redrawn at
// most ten times a second, only for copies big enough to take a while.
class Progress {
public:
	Progress(bool enabled, Amount total)
		: enabled_(enabled && (total.bytes >= 64 * MiB ||
				       total.files >= 2000)),
		  total_(total)
	{
	}
	~Progress() { finish(); }
	Progress(const Progress &) = delete;
	Progress &operator=(const Progress &) = delete;

	void add(std::uint64_t bytes, std::uint64_t files)
	{
		done_.bytes += bytes;
		done_.files += files;
		if (!enabled_)
			return;
		auto now = std::chrono::steady_clock::now();
		if (now - drawn_ < std::chrono::milliseconds(100))
			return;
		drawn_ = now;
		draw();
	}

	// Erases the bar (until the next redraw), so that a message can
	// take the line.
	void clear()
	{
		if (enabled_ && drawn_ != std::chrono::steady_clock::time_point())
			fprintf(stderr, "\r\033[K");
		drawn_ = {};
	}

	// Shows text in place of the bar, until finish().
	void say(const char *text)
	{
		if (!enabled_)
			return;
		fprintf(stderr, "\r%s\033[K", text);
		drawn_ = std::chrono::steady_clock::now();
	}

	void finish()
	{
		clear();
		enabled_ = false;
	}

private:
	static constexpr std::uint64_t MiB = 1 << 20;

	void draw() const
	{
		constexpr int width = 30;
		std::uint64_t bytes = std::min(done_.bytes, total_.bytes);
		double frac = total_.bytes
				      ? static_cast<double>(bytes) /
						static_cast<double>(total_.bytes)
				      : static_cast<double>(done_.files) /
						static_cast<double>(std::max<std::uint64_t>(
							total_.files, 1));
		frac = std::min(frac, 1.0);
		int filled = static_cast<int>(frac * width);
		fprintf(stderr, "\r[%.*s%*s] %3d%%  %llu/%llu MiB  %llu/%llu files\033[K",
			filled, "##############################", width - filled, "",
			static_cast<int>(frac * 100),
			static_cast<unsigned long long>(bytes / MiB),
			static_cast<unsigned long long>(total_.bytes / MiB),
			static_cast<unsigned long long>(done_.files),
			static_cast<unsigned long long>(total_.files));
	}

	bool enabled_;
	Amount total_, done_;
	std::chrono::steady_clock::time_point drawn_{};
};

} // namespace lkl_tools
