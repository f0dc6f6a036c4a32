#include "support.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace nsrig::test {
namespace {

std::vector<char *> c_argv(const std::vector<std::string> &v) {
  std::vector<char *> out;
  for (auto &s : v) out.push_back(const_cast<char *>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

int decode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

}  // namespace

bool is_root() { return geteuid() == 0; }

std::string sh(const std::string &cmd) { return run({"/bin/sh", "-c", cmd}).out; }

std::string nsr_links() { return sh("ip -o link show | awk -F': ' '{print $2}' | grep '^nsr' | sort || true"); }

std::vector<std::string> nsrig_argv(const std::vector<std::string> &args) {
  std::vector<std::string> v = {NSRIG_BIN, "--plugin-dir", NSRIG_TEST_PLUGIN_DIR};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

Result run_nsrig(const std::vector<std::string> &args) { return run(nsrig_argv(args)); }

std::vector<std::string> nsrig_argv_in(const std::string &state, const std::vector<std::string> &args) {
  std::vector<std::string> v = {"/usr/bin/env", "NSRIG_STATE_DIR=" + state};
  for (auto &a : nsrig_argv(args)) v.push_back(a);
  return v;
}

Result run_nsrig_in(const std::string &state, const std::vector<std::string> &args) {
  return run(nsrig_argv_in(state, args));
}

Result run(const std::vector<std::string> &argv, bool ignore_sigchld) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return {};
  auto a = c_argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (ignore_sigchld) signal(SIGCHLD, SIG_IGN);  // survives execve
    execv(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Result r;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !fds[i].revents) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i ? r.err : r.out).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = decode(status);
  return r;
}

Child::Child(const std::vector<std::string> &argv) {
  int out[2];
  if (pipe2(out, O_CLOEXEC)) return;
  auto a = c_argv(argv);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], 1);
    execv(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  fd_ = out[0];
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

bool Child::wait_for_line(const std::string &line) {
  size_t scanned = 0;
  for (;;) {
    size_t nl;
    while ((nl = out_.find('\n', scanned)) != std::string::npos) {
      if (out_.substr(scanned, nl - scanned) == line) return true;
      scanned = nl + 1;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20000) <= 0) return false;  // generous bound: shared, noisy machines
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    out_.append(buf, static_cast<size_t>(n));
  }
}

int Child::wait() {
  char buf[4096];
  ssize_t n;
  while ((n = read(fd_, buf, sizeof buf)) > 0) out_.append(buf, static_cast<size_t>(n));
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return decode(status);
}

Result run_on_pty(const std::vector<std::string> &argv, const std::string &input, bool *lflag_restored) {
  Result r;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) || unlockpt(master)) return r;
  std::string slave_name = ptsname(master);
  int slave = open(slave_name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  termios before{};
  tcgetattr(slave, &before);
  close(slave);  // held open here, the master would never see the child's side close
  auto a = c_argv(argv);
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    int fd = open(slave_name.c_str(), O_RDWR);
    ioctl(fd, TIOCSCTTY, 0);
    for (int i = 0; i < 3; ++i) dup2(fd, i);
    if (fd > 2) close(fd);  // else nsrig, its payload and what outlives it would hold the slave
    execv(a[0], a.data());
    _exit(127);
  }
  if (!input.empty()) {
    ssize_t w = write(master, input.data(), input.size());
    (void)w;
  }
  char buf[4096];
  // Read until the child has exited and the master says EIO: no slave is open
  // any more, and the kernel returns EIO only once the pty's buffer is drained
  // (an empty poll after the exit is no proof: the last output may still be in
  // the pty's work queue on a loaded machine). Before the exit, EIO only means
  // that no slave is open right now. Bounded: 20 s.
  for (int ticks = 0; ticks < 2000; ++ticks) {
    pollfd p{master, POLLIN, 0};
    ssize_t n = poll(&p, 1, 10) > 0 ? read(master, buf, sizeof buf) : 0;
    if (n > 0) {
      r.out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (pid < 0 && n < 0) break;
    if (n < 0) poll(nullptr, 0, 1);  // no slave open yet: EIO at once, so no busy loop
    int st;
    if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
      r.exit_code = decode(st);
      pid = -1;
    }
  }
  if (pid > 0) {
    int st = 0;
    waitpid(pid, &st, 0);
    r.exit_code = decode(st);
  }
  termios after{};
  slave = open(slave_name.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  tcgetattr(slave, &after);
  if (lflag_restored) *lflag_restored = after.c_lflag == before.c_lflag && after.c_oflag == before.c_oflag;
  close(slave);
  close(master);
  return r;
}

int count_processes(const std::string &needle) {
  int n = 0;
  for (auto &e : std::filesystem::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "cmdline");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string cmd = ss.str();
    for (auto &c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace nsrig::test
