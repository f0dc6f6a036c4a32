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
#include <climits>
#include <functional>
#include <string>

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
  int fd = open(slave.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);  // made the controlling terminal below
  return fd >= 0 && attach_slave(fd);
}

bool attach_slave(int fd) {
  if (setsid() < 0) return false;
  if (ioctl(fd, TIOCSCTTY, 0) != 0 && errno != EPERM) return false;  // tty_ioctl(4): the session's terminal
  for (int i = 0; i < 3; ++i)
    if (dup2(fd, i) < 0) return false;  // without O_CLOEXEC, unlike fd
  if (fd > 2) close(fd);
  return true;
}

// One write of what `buf` holds, from its front: false when `fd` is gone (EPIPE,
// EIO, ENOSPC...); EAGAIN and EINTR leave it for the next POLLOUT.
static bool write_some(int fd, std::string &buf) {
  // At most PIPE_BUF after POLLOUT: a pipe takes that much without blocking.
  ssize_t w = write(fd, buf.data(), std::min<size_t>(buf.size(), PIPE_BUF));
  if (w > 0) buf.erase(0, static_cast<size_t>(w));
  return w >= 0 || errno == EAGAIN || errno == EINTR;
}

void relay(int master, int pidfd, bool interactive, int sigfd, const std::function<void(int)> &forward) {
  RawMode raw;
  copy_window_size(master);
  // Nothing in this loop blocks but poll: the caller's stdout and the pty are
  // written only after POLLOUT, from buffers (the master is non-blocking; stdout
  // is the caller's and keeps its flags), so signals are handled while either
  // side is slow, and a full pty input queue cannot deadlock with its echo.
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  // Once the process has exited, drain what its terminal still holds: until the last
  // slave is closed (read gives EIO, which the kernel returns only after the pty's
  // flip buffer is flushed) and the output is written, until nothing moved for
  // kDrainMs (something else still holds the slave open, or stdout takes nothing),
  // or for kDrainMaxMs at most (something else keeps writing). Not a zero timeout:
  // the last output can still be on its way through the pty's work queue when the
  // exit is seen.
  constexpr int kDrainMs = 250, kDrainMaxMs = 2000;
  constexpr size_t kBufMax = 64 * 1024;  // read no more from a side while this much waits for the other
  using clock = std::chrono::steady_clock;
  clock::time_point drain_end{};
  bool in_open = interactive, exited = false, slave_gone = false, out_ok = true;
  std::string out, in;  // for stdout; for the pty
  char buf[8192];
  for (;;) {
    int timeout = -1;
    if (exited) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(drain_end - clock::now()).count();
      if ((slave_gone && out.empty()) || left <= 0) break;
      timeout = static_cast<int>(std::min<long long>(kDrainMs, left));
    }
    short master_events = static_cast<short>((out.size() < kBufMax ? POLLIN : 0) | (in.empty() ? 0 : POLLOUT));
    pollfd p[5] = {{slave_gone ? -1 : master, master_events, 0},
                   {exited ? -1 : pidfd, POLLIN, 0},
                   {sigfd, POLLIN, 0},
                   {in_open && !exited && in.size() < kBufMax ? STDIN_FILENO : -1, POLLIN, 0},
                   {out.empty() ? -1 : STDOUT_FILENO, POLLOUT, 0}};
    int n = poll(p, 5, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0 && out_ok)
        out.append(buf, static_cast<size_t>(r));
      else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
        slave_gone = true, in.clear();  // EIO: no slave is open; the exit comes through the pidfd
    }
    if ((p[0].revents & POLLOUT) && !write_some(master, in)) in.clear();
    if (p[4].revents && !write_some(STDOUT_FILENO, out)) {
      out_ok = false;  // our output is gone: read on, dropping it, so that the process does not block
      out.clear();
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
        if (!isatty(STDIN_FILENO)) in += '\x04';  // end of input: ^D to the line discipline
      } else {
        in.append(buf, static_cast<size_t>(r));
      }
    }
    if (p[1].revents && !exited) {
      exited = true;
      in.clear();  // input for a process that is gone
      drain_end = clock::now() + std::chrono::milliseconds(kDrainMaxMs);
    }
  }
}

}  // namespace nsrig
