// The host's own I/O calls, as the disk backends make them: a program that
// links host_io_trace.cpp replaces pwrite, pwritev, fallocate, fdatasync,
// fsync, io_submit and io_getevents with versions that call the C library's
// (or libaio's) and record each call with the inode it touched and when it
// began and ended (CLOCK_MONOTONIC, the write log's clock).
#pragma once

#include <cstdint>
#include <vector>

namespace host_io_trace {

struct Event {
	enum Kind { write, zero, sync } kind;
	uint64_t dev = 0, ino = 0;	// the file's identity
	uint64_t offset = 0, length = 0; // write and zero
	uint64_t start_ns = 0, end_ns = 0;
	bool dsync = false;		// RWF_DSYNC, or an O_SYNC/O_DSYNC fd
	bool ok = true;
};

// The next @count fdatasync/fsync calls do their work but fail with @err,
// as the host's do once when writeback lost data (the next call, on the
// same open file, then succeeds: the error is reported once).
void fail_syncs(int count, int err);

// Starts recording (dropping what was recorded before).
void start();
// Stops recording; returns the events, in the order they ended.
std::vector<Event> stop();

} // namespace host_io_trace
