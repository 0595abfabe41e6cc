// The content crash_writer gives file number i, for the test to check.
#pragma once

#include <cstddef>
#include <vector>

inline std::vector<char> crash_pattern(unsigned i)
{
	std::vector<char> v((i * 7919u) % (192 * 1024) + 1);
	for (std::size_t j = 0; j < v.size(); j++)
		v[j] = static_cast<char>((j * 31 + i * 17) >> 3);
	return v;
}
