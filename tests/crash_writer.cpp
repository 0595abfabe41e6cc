// The victim of the crash-consistency test: mounts an XFS image, then
// writes files forever, fsyncing each one and only then recording its
// number in a host file. The test kills it with SIGKILL at a random moment.
//
//   crash_writer IMAGE RECORD
#include <lkl.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "crash_pattern.hpp"

static void quiet(const char *, int)
{
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: crash_writer IMAGE RECORD\n");
		return 2;
	}
	int record = open(argv[2], O_WRONLY | O_CREAT | O_APPEND, 0600);
	struct lkl_disk disk = {};
	disk.fd = open(argv[1], O_RDWR);
	if (record < 0 || disk.fd < 0)
		return 1;

	lkl_host_ops.print = quiet;
	if (lkl_init(&lkl_host_ops) || lkl_start_kernel("mem=128M"))
		return 1;
	int id = lkl_disk_add(&disk);
	char mnt[64];
	if (id < 0 || lkl_mount_dev(id, 0, "xfs", 0, nullptr, mnt, sizeof(mnt)))
		return 1;
	// Tell the test we are writing.
	if (write(record, "start\n", 6) != 6)
		return 1;

	for (unsigned i = 0;; i++) {
		std::string path = std::string(mnt) + "/f" + std::to_string(i);
		std::vector<char> data = crash_pattern(i);
		int fd = lkl_sys_open(path.c_str(),
				      LKL_O_CREAT | LKL_O_WRONLY | LKL_O_TRUNC, 0644);
		if (fd < 0)
			return 1;
		for (size_t off = 0; off < data.size();) {
			long n = lkl_sys_write(fd, data.data() + off,
					       data.size() - off);
			if (n <= 0)
				return 1;
			off += n;
		}
		if (lkl_sys_fsync(fd) || lkl_sys_close(fd))
			return 1;
		std::string line = std::to_string(i) + "\n";
		if (write(record, line.data(), line.size()) != (long)line.size())
			return 1;
	}
}
