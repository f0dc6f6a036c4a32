#include "tty.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <chrono>
#include <functional>

#include "error.hpp"

namespace nsrig {
struct RawMode::Saved {
  termios t;
};

RawMode::RawMode() {
  termios t{};
  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t) != 0) return;
  termios raw = t;
  cfmakeraw(&raw);
  if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) saved_ = new Saved{t};
}

RawMode::~RawMode() {
  if (saved_) tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_->t);
  delete saved_;
}

void copy_window_size(int master) {
  winsize ws{};
  if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

bool write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w, n -= static_cast<size_t>(w);
  }
  return true;
}

Pty open_pty() {
  Pty p;
  p.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (p.master < 0) throw Error(errno_text("posix_openpt (open /dev/ptmx inside the instance)"));
  if (grantpt(p.master) != 0 || unlockpt(p.master) != 0) throw Error(errno_text("grantpt/unlockpt"));
  const char *name = ptsname(p.master);
  if (!name) throw Error(errno_text("ptsname"));
  p.slave = name;
  return p;
}

bool attach_slave(const std::string &slave) {
  if (setsid() < 0) return false;
  int fd = open(slave.c_str(), O_RDWR);  // a session leader opening a tty makes it its controlling terminal
  if (fd < 0) return false;
  if (ioctl(fd, TIOCSCTTY, 0) != 0 && errno != EPERM) return false;
  for (int i = 0; i < 3; ++i)
    if (dup2(fd, i) < 0) return false;
  if (fd > 2) close(fd);
  return true;
}

void relay(int master, int pidfd, bool interactive, int sigfd, const std::function<void(int)> &forward) {
  RawMode raw;
  copy_window_size(master);
  // Once the process has exited, drain what its terminal still holds: until the last
  // slave is closed (read gives EIO, which the kernel returns only after the pty's
  // flip buffer is flushed), until nothing came for kDrainMs (something else still
  // holds the slave open), or for kDrainMaxMs at most (something else keeps
  // writing). Not a zero timeout: the last output can still be on its way through
  // the pty's work queue when the exit is seen.
  constexpr int kDrainMs = 250, kDrainMaxMs = 2000;
  using clock = std::chrono::steady_clock;
  clock::time_point drain_end{};
  bool in_open = interactive, exited = false, slave_gone = false, out_ok = true;
  char buf[8192];
  for (;;) {
    int timeout = -1;
    if (exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_end - clock::now()).count();
      if (slave_gone || left <= 0) break;
      timeout = static_cast<int>(std::min<long long>(kDrainMs, left));
    }
    pollfd p[4] = {{slave_gone ? -1 : master, POLLIN, 0},
                   {exited ? -1 : pidfd, POLLIN, 0},
                   {sigfd, POLLIN, 0},
                   {in_open && !exited ? STDIN_FILENO : -1, POLLIN, 0}};
    int n = poll(p, 4, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (p[0].revents) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r <= 0)
        slave_gone = true;  // EIO: no slave is open; the exit comes through the pidfd
      else if (out_ok && !write_all(STDOUT_FILENO, buf, static_cast<size_t>(r)))
        out_ok = false;  // our output is gone: read on, dropping it, so that the process does not block
      if (!out_ok && exited) break;
    }
    if (p[2].revents) {
      signalfd_siginfo si{};
      if (read(sigfd, &si, sizeof si) > 0 && si.ssi_signo != SIGCHLD) {
        if (si.ssi_signo == SIGWINCH)
          copy_window_size(master);  // the kernel tells the process
        else if (exited)
          break;  // nobody to forward it to: stop draining
        else if (forward)
          forward(static_cast<int>(si.ssi_signo));
      }
    }
    if (p[3].revents) {
      ssize_t r = read(STDIN_FILENO, buf, sizeof buf);
      if (r <= 0) {
        in_open = false;
        if (!isatty(STDIN_FILENO)) write_all(master, "\x04", 1);  // end of input: ^D to the line discipline
      } else {
        write_all(master, buf, static_cast<size_t>(r));
      }
    }
    if (p[1].revents && !exited) {
      exited = true;
      drain_end = clock::now() + std::chrono::milliseconds(kDrainMaxMs);
    }
  }
}

}  // namespace nsrig
