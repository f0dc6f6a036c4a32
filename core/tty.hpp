// Terminals for `nsrig exec -t` and `nsrig run -t`. For exec, the
// pseudo-terminal is opened inside the
// instance (from its own /dev/ptmx, so `tty` there names a device of its
// devpts), the caller's terminal in raw mode while attached, and the window
// size passed on (SIGWINCH). pty(7), termios(3), tty_ioctl(4).
#pragma once

#include <functional>
#include <string>

namespace nsrig {

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
 * The same with a slave opened earlier (O_NOCTTY is fine): TIOCSCTTY makes it
 * the new session's controlling terminal (tty_ioctl(4)), then it becomes
 * stdin, stdout and stderr and `fd` is closed. Returns false with errno set.
 */
bool attach_slave(int fd);

/** Raw mode on the caller's terminal (stdin) while alive; a no-op when stdin is not a terminal. */
class RawMode {
 public:
  RawMode();
  ~RawMode();
  RawMode(const RawMode &) = delete;
  RawMode &operator=(const RawMode &) = delete;

 private:
  struct Saved;
  Saved *saved_ = nullptr;
};

/** Copies the caller's window size (TIOCGWINSZ on stdin) to `master` (TIOCSWINSZ). */
void copy_window_size(int master);

/**
 * Parent side: copies the caller's stdin to `master` (when `interactive`)
 * and `master` to stdout, until the process behind `pidfd` has exited and
 * its output is drained: until no slave is open (EIO), 250 ms without
 * output, or 2 s after the exit at most (another process may hold the
 * slave and keep writing). Output that stdout no longer takes is dropped;
 * nothing blocks but poll(2), so a slow stdout or a full pty delays no signal.
 * `sigfd` is a signalfd of blocked signals that includes SIGWINCH: SIGWINCH
 * resizes the pty to the caller's terminal, SIGCHLD is ignored, any other
 * signal goes to `forward` (when set) while the process runs, and ends the
 * drain after its exit. While
 * attached, a terminal on stdin is in raw mode; it is restored on every way
 * out (RAII, also when this throws).
 */
void relay(int master, int pidfd, bool interactive, int sigfd, const std::function<void(int)> &forward);

}  // namespace nsrig
