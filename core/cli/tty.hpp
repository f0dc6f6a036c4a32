// Terminals for `nsrig exec -t`: a pseudo-terminal opened inside the
// instance (from its own /dev/ptmx, so `tty` there names a device of its
// devpts), the caller's terminal in raw mode while attached, and the window
// size passed on (SIGWINCH). pty(7), termios(3), tty_ioctl(4).
#pragma once

#include <string>

namespace nsrig::cli {

struct Pty {
  int master = -1;    ///< O_CLOEXEC; the caller's end
  std::string slave;  ///< /dev/pts/N as seen from the namespace that opened it
};

/** posix_openpt + grantpt + unlockpt in the current mount namespace. Throws nsrig::Error. */
Pty open_pty();

/**
 * Child side, before exec: a new session whose controlling terminal is
 * `slave`, which also becomes stdin, stdout and stderr. Returns false with
 * errno set on failure.
 */
bool attach_slave(const std::string &slave);

/**
 * Parent side: copies the caller's stdin to `master` (when `interactive`)
 * and `master` to stdout, until the process behind `pidfd` has exited and
 * its output is drained. While attached, a terminal on stdin is in raw mode
 * and its window size follows SIGWINCH; the terminal is restored on every
 * way out (RAII, also when this throws).
 */
void relay(int master, int pidfd, bool interactive);

}  // namespace nsrig::cli
