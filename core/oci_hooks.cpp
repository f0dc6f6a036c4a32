#include "oci_hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "error.hpp"

namespace nsrig {
namespace {

std::vector<char *> c_strings(const std::vector<std::string> &v) {
  std::vector<char *> out;
  for (auto &s : v) out.push_back(const_cast<char *>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

std::string run_one(const CommandHook &h, const std::string &json) {
  std::string who = "hook " + h.path + " (" + h.where + ", " + h.stage + ")";
  int in[2];
  if (pipe2(in, O_CLOEXEC) != 0) return who + ": " + errno_text("pipe2");
  auto argv = c_strings(h.args);
  auto envp = c_strings(h.env);
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]), close(in[1]);
    return who + ": " + errno_text("fork");
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(in[0], STDIN_FILENO);
    execve(h.path.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  // A hook that does not read stdin must not kill us: SIGPIPE is ignored by the CLI.
  for (size_t off = 0; off < json.size();) {
    ssize_t n = write(in[1], json.data() + off, json.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(in[1]);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (h.timeout_ms > 0 && pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(h.timeout_ms)) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      close(pidfd);
      return who + " timed out after " + std::to_string(h.timeout_ms) + " ms and was killed";
    }
  }
  if (pidfd >= 0) close(pidfd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return who + " could not be executed (exit 127: missing or not executable?)";
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
  return j.dump();
}

std::string run_command_hooks(const Instance &inst, const char *stage, const char *status, pid_t pid) {
  std::string json;  // built only when the stage has hooks: this is on the spawn path
  for (const auto &h : inst.profile.hooks) {
    if (h.stage != stage) continue;
    if (json.empty()) json = oci_state(inst, status, pid);
    std::string err = run_one(h, json);
    if (!err.empty()) return err;
  }
  return "";
}

}  // namespace nsrig
