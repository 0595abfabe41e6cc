// lklfuse's request loop. One kernel runs one task at a time, so more
// threads only help while a request waits for I/O; and every hand-over of
// /dev/fuse between host threads costs a sleep and a wake-up. So one
// thread reads and serves requests itself, and hands the reading over to
// another thread only before a request that may wait for the disk.
#pragma once

#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse3/fuse_lowlevel.h>

namespace lklfuse {

// Blocks SIGINT, SIGTERM, SIGHUP (and SIGUSR1, used internally) in the
// calling thread and the threads it starts later. Call in main() before
// any thread starts: serve_requests() takes them with sigwait().
void block_stop_signals();

// Serves se with up to max_threads threads until the file system is
// unmounted (fusermount3 -u), or SIGINT, SIGTERM or SIGHUP arrive (then
// calls unmount(arg) and sets stop_signal to the signal's number; else it
// is 0). Call from the main thread; returns 0, or the error that ended the
// loop. With LKLFUSE_STATS=FILE in the environment, the service time of
// each request type (count, mean in microseconds, total in seconds) is
// written to FILE at the end.
int serve_requests(fuse_session *se, unsigned int max_threads,
		   void (*unmount)(void *), void *arg, int &stop_signal);

} // namespace lklfuse
