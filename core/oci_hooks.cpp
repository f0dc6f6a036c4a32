#include "oci_hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "spawner.hpp"

namespace nsrig {
namespace {

// Runs one hook. The program gets its own process group, so that a timeout
// or an interrupt kills everything it started, not just its first process.
// Its stdin is written without blocking, within the same deadline; an exec
// failure comes back as errno over a close-on-exec pipe (as posix_spawn does).
std::string run_one(const CommandHook &h, const std::string &json, int *signal) {
  std::string who = "hook " + h.path + " (" + h.where + ", " + h.stage + ")";
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return who + ": " + errno_text("pipe2");
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(in[0]), close(in[1]);
    return who + ": " + errno_text("pipe2");
  }
  auto argv = c_strings(h.args);
  auto envp = c_strings(h.env);
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {in[0], in[1], err[0], err[1]}) close(fd);
    return who + ": " + errno_text("fork");
  }
  if (pid == 0) {
    setpgid(0, 0);
    reset_signals_for_exec();
    dup2(in[0], STDIN_FILENO);
    execve(h.path.c_str(), argv.data(), envp.data());
    int e = errno;
    ssize_t ignored = write(err[1], &e, sizeof e);
    (void)ignored;
    _exit(127);
  }
  setpgid(pid, pid);  // also here: no race with the kill below
  close(in[0]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  sigset_t stop;
  sigemptyset(&stop);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) sigaddset(&stop, sig);
  int sigfd = signalfd(-1, &stop, SFD_CLOEXEC);  // the spawner has these blocked while hooks run
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(h.timeout_ms);
  size_t off = 0;
  std::string failure;
  int wfd = in[1];
  for (;;) {
    int timeout = -1;
    if (h.timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        failure = who + " timed out after " + std::to_string(h.timeout_ms) + " ms and was killed";
        break;
      }
      timeout = static_cast<int>(left.count());
    }
    pollfd p[3] = {{pidfd, POLLIN, 0}, {sigfd, POLLIN, 0}, {wfd, POLLOUT, 0}};
    int n = poll(p, wfd >= 0 ? 3 : 2, timeout);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (p[1].revents) {
      signalfd_siginfo si{};
      if (read(sigfd, &si, sizeof si) > 0) {
        failure = who + " interrupted by signal " + std::to_string(si.ssi_signo) + " and killed";
        if (signal) *signal = static_cast<int>(si.ssi_signo);
        break;
      }
    }
    if (wfd >= 0 && p[2].revents) {
      ssize_t w = write(wfd, json.data() + off, json.size() - off);
      if (w > 0) off += static_cast<size_t>(w);
      if (w < 0 && errno != EAGAIN) off = json.size();  // EPIPE: the hook does not read its stdin
      if (off >= json.size()) close(wfd), wfd = in[1] = -1;
    }
    if (p[0].revents) break;  // exited
  }
  if (in[1] >= 0) close(in[1]);
  if (!failure.empty()) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (failure.empty()) kill(-pid, SIGKILL);  // whatever the hook left running in its group
  int exec_errno = 0;
  bool exec_failed = read(err[0], &exec_errno, sizeof exec_errno) == static_cast<ssize_t>(sizeof exec_errno);
  for (int fd : {err[0], pidfd, sigfd})
    if (fd >= 0) close(fd);
  if (!failure.empty()) return failure;
  if (exec_failed) return who + " could not be executed: " + std::strerror(exec_errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status)) return who + " exited with status " + std::to_string(WEXITSTATUS(status));
  return who + " died of signal " + std::to_string(WTERMSIG(status));
}

}  // namespace

std::string oci_state(const Instance &inst, const char *status, pid_t pid) {
  std::string bundle = inst.profile.files.empty()
                           ? std::string()
                           : std::filesystem::absolute(inst.profile.files.front()).parent_path().string();
  nlohmann::json j = {{"ociVersion", "1.0.2"}, {"id", inst.id},         {"status", status},
                      {"pid", pid},            {"bundle", bundle},      {"annotations", {{"org.nsrig.profile", inst.profile.name}}}};
  // A profile path need not be UTF-8: replace what JSON cannot carry instead of failing.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string run_command_hooks(const Instance &inst, const char *stage, const char *status, pid_t pid, int *signal) {
  if (signal) *signal = 0;
  std::string json;  // built only when the stage has hooks: this is on the spawn path
  for (const auto &h : inst.profile.hooks) {
    if (h.stage != stage) continue;
    if (json.empty()) json = oci_state(inst, status, pid);
    std::string err = run_one(h, json, signal);
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace nsrig
