#include "spawner.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "error.hpp"
#include "log.hpp"
#include "oci_hooks.hpp"
#include "tty.hpp"

namespace nsrig {
namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

// Sync-socket messages from child to parent: an exit code, then the text.
// kReady alone says "about to execve"; EOF after it (the socket is
// close-on-exec) means the payload was executed. EOF without it means the
// child died during setup (a plugin crashed).
struct Failure {
  int32_t code;
  char text[4096];
};
constexpr int32_t kReady = -1;
// Largest "go" message: 'g' and the published facts (checked when sent).
constexpr size_t kGoMax = 64 * 1024;

[[noreturn]] void child_fail(int fd, int code, const std::string &msg) {
  Failure f{};
  f.code = code;
  std::strncpy(f.text, msg.c_str(), sizeof f.text - 1);
  ssize_t ignored = send(fd, &f, sizeof f.code + std::strlen(f.text), MSG_NOSIGNAL);
  (void)ignored;
  _exit(code);
}

}  // namespace

void reset_signals_for_exec() {
  // Asked of the kernel signal by signal (sigaction(2) with no new action),
  // not read from SigIgn in /proc/self/status: in a freshly cloned child that
  // read made the kernel build the process's /proc entries first, about
  // 110 µs against 28 µs for the 62 questions (docs/benchmarks.md, "Fifth
  // round"). Needs no /proc either.
  struct sigaction old {};
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN)
      signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void prepare_exec(Instance &inst) {
  const auto &p = inst.process;
  auto &x = inst.exec;
  x.argv = c_strings(p.argv);
  x.envp = c_strings(p.env);
  x.paths.clear();
  x.path_var = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (auto &e : p.env)
    if (e.starts_with("PATH=")) x.path_var = e.substr(5);
  const std::string cmd = p.argv.empty() ? std::string() : p.argv[0];
  if (cmd.empty() || cmd.find('/') != std::string::npos) {
    x.paths.push_back(cmd);
    return;
  }
  for (size_t start = 0; start <= x.path_var.size();) {
    size_t end = std::min(x.path_var.find(':', start), x.path_var.size());
    x.paths.push_back((end > start ? x.path_var.substr(start, end - start) : std::string(".")) + "/" + cmd);
    start = end + 1;
  }
}

void exec_payload(Instance &inst) {
  if (inst.tty_slave_fd >= 0 && !attach_slave(inst.tty_slave_fd))
    child_fail(inst.sync_fd, kExitOwnError, errno_text("attach the terminal " + inst.tty_slave));
  reset_signals_for_exec();
  const auto &p = inst.process;
  if (!p.cwd.empty() && chdir(p.cwd.c_str()) != 0)
    child_fail(inst.sync_fd, kExitOwnError, errno_text("chdir('" + p.cwd + "') inside the instance") +
                                                "; fix [process].cwd");
  if (inst.exec.argv.empty()) prepare_exec(inst);  // the spawner made them before clone3
  const auto &x = inst.exec;
  const std::string &cmd = p.argv[0];
  if (cmd.empty()) child_fail(inst.sync_fd, kExitNotFound, "the command is an empty string");
  ssize_t sent = send(inst.sync_fd, &kReady, sizeof kReady, MSG_NOSIGNAL);
  (void)sent;
  if (cmd.find('/') != std::string::npos) {
    execve(cmd.c_str(), x.argv.data(), x.envp.data());
    int e = errno;
    if (e == ENOENT && access(cmd.c_str(), F_OK) == 0)  // the file is there: its #! interpreter or loader is not
      child_fail(inst.sync_fd, kExitCannotExec,
                 "cannot execute '" + cmd + "': its interpreter (the #! line) or dynamic loader was not found");
    child_fail(inst.sync_fd, e == ENOENT ? kExitNotFound : kExitCannotExec,
               "cannot execute '" + cmd + "': " + std::strerror(e));
  }
  int denied = 0;
  for (const auto &full : x.paths) {
    execve(full.c_str(), x.argv.data(), x.envp.data());
    if (errno != ENOENT && errno != ENOTDIR) denied = errno;
  }
  if (denied)
    child_fail(inst.sync_fd, kExitCannotExec, "cannot execute '" + cmd + "': " + std::strerror(denied));
  child_fail(inst.sync_fd, kExitNotFound, "'" + cmd + "': command not found in PATH=" + x.path_var);
}

namespace {

// The child, right after clone3: wait for the parent, set up, exec.
[[noreturn]] void child_main(Instance &inst, const Plan &plan) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  for (int fd : inst.close_in_child) close(fd);
  // "go", then the facts published so far: "g" key NUL value NUL ... (host_api fact).
  static char go[kGoMax];
  ssize_t n = recv(inst.sync_fd, go, sizeof go, MSG_TRUNC);
  if (n < 1 || go[0] != 'g' || n > static_cast<ssize_t>(sizeof go)) _exit(kExitOwnError);  // parent reports it
  // Merged as host->publish does. A fact this copy already holds (published
  // before clone3) is left untouched: no write, no copy-on-write fault.
  for (const char *p = go + 1, *end = go + n; p < end;) {
    const char *key = p;
    p += std::strlen(p) + 1;
    if (p >= end) break;
    auto it = std::find_if(inst.facts.begin(), inst.facts.end(), [&](auto &f) { return f.first == key; });
    if (it == inst.facts.end())
      inst.facts.emplace_back(key, p);
    else if (it->second != p)
      it->second = p;
    p += std::strlen(p) + 1;
  }
  // The parent may have sent "go" and died before PR_SET_PDEATHSIG above took
  // effect; its end of the socket is closed then. After this check, the
  // death signal covers us.
  pollfd hup{inst.sync_fd, POLLRDHUP, 0};
  if (poll(&hup, 1, 0) > 0 && (hup.revents & (POLLHUP | POLLRDHUP))) _exit(kExitOwnError);
  for (auto &s : inst.slots)
    if (auto hook = s->plugin->desc.on_child_setup; hook && hook(&s->ctx, s->state) != NSRIG_OK)
      child_fail(inst.sync_fd, kExitOwnError, inst.hook_error(*s, "on_child_setup"));
  if (inst.fail_after == "child_setup") child_fail(inst.sync_fd, kExitOwnError, "injected failure after on_child_setup");
  for (const char *stage : {"createContainer", "startContainer"}) {
    std::string err = run_command_hooks(inst, stage, "created", getpid());
    if (!err.empty()) child_fail(inst.sync_fd, kExitOwnError, err);
  }
  if (Slot *s = plan.exec_slot) {
    inst.in_child_exec = true;
    int32_t code = 0;
    if (s->plugin->desc.on_child_exec(&s->ctx, s->state, &code) != NSRIG_OK)
      child_fail(inst.sync_fd, kExitOwnError, inst.hook_error(*s, "on_child_exec"));
    _exit(code);
  }
  exec_payload(inst);
}

class Clock {
 public:
  explicit Clock(Timings *t) : t_(t), last_(std::chrono::steady_clock::now()) {}
  void mark(const char *phase) {
    if (!t_) return;
    auto now = std::chrono::steady_clock::now();
    t_->emplace_back(phase, std::chrono::duration_cast<std::chrono::microseconds>(now - last_).count());
    last_ = now;
  }

 private:
  Timings *t_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

void teardown(Instance &inst) {
  inst.teardown_errors.clear();
  for (auto it = inst.slots.rbegin(); it != inst.slots.rend(); ++it) {
    Slot &s = **it;
    if (!s.prepared || !s.plugin->desc.on_teardown) continue;
    // Written only when set: after clone3 every page the parent writes takes a
    // copy-on-write fault, and each slot sits on a page of its own; an
    // unconditional clear() cost one fault per plugin (docs/benchmarks.md).
    if (!s.error.empty()) s.error.clear();
    if (!s.host_error.empty()) s.host_error.clear();
    if (s.plugin->desc.on_teardown(&s.ctx, s.state) != NSRIG_OK) {
      inst.teardown_errors.push_back(inst.hook_error(s, "on_teardown"));
      log::warning(inst.teardown_errors.back());
    }
  }
  inst.remove_state_dir_if_empty();
  std::string err = run_command_hooks(inst, "poststop", "stopped", 0);
  if (!err.empty()) log::warning(err);
}

namespace {

int status_to_exit(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitOwnError;
}

int pidfd_signal(int pidfd, int sig) { return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

// Restores the signal mask and closes fds on every way out of run().
struct RunGuard {
  sigset_t old{};
  int fds[2] = {-1, -1};
  int sigfd = -1;
  Instance *inst;
  ~RunGuard() {
    for (int fd : {fds[0], fds[1], sigfd})
      if (fd >= 0) close(fd);
    if (inst->child_pidfd >= 0) close(inst->child_pidfd), inst->child_pidfd = -1;
    sigprocmask(SIG_SETMASK, &old, nullptr);
  }
};

// Waits until `fd` is readable. Signals of the blocked set arrive on `sigfd`:
// SIGCHLD is skipped (hook programs end too); any other is returned (> 0).
// With `fd_first`, when both are ready `fd` comes first and the signal stays
// queued for the next wait: a signal sent once the payload runs (the child's
// "about to execve" already waiting on the sync socket) is forwarded to it,
// not taken for an interruption of the set-up, however late this process is
// scheduled. Without it (the last wait, on the child's exit), signals first,
// so that none is left queued when the signal mask is restored.
int wait_readable(int fd, int sigfd, bool fd_first = false) {
  for (;;) {
    pollfd p[2] = {{fd, POLLIN, 0}, {sigfd, POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (fd_first && p[0].revents) return 0;
    if (p[1].revents) {
      signalfd_siginfo si{};
      if (read(sigfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si) && si.ssi_signo != SIGCHLD)
        return static_cast<int>(si.ssi_signo);
    }
    if (p[0].revents) return 0;
  }
}

// Reads a one-number sysctl file; -1 when absent.
long read_sysctl(const char *path) {
  FILE *f = std::fopen(path, "re");
  if (!f) return -1;
  long v = -1;
  if (std::fscanf(f, "%ld", &v) != 1) v = -1;
  std::fclose(f);
  return v;
}

// Why clone3 failed, for the common errnos (clone(2) ERRORS; namespaces(7), /proc/sys/user).
std::string clone_hint(int err, uint64_t flags) {
  if (err == ENOSPC) {
    if (flags & CLONE_NEWUSER) {
      long max = read_sysctl("/proc/sys/user/max_user_namespaces");
      return " (the user namespace limit is reached or 0: user.max_user_namespaces = " + std::to_string(max) +
             "; raise it with sysctl -w user.max_user_namespaces=15000, or end other instances)";
    }
    return " (a namespace limit is reached or 0: see /proc/sys/user/max_*_namespaces)";
  }
  if (err == EPERM) {
    if ((flags & CLONE_NEWUSER) && geteuid() != 0) {
      if (read_sysctl("/proc/sys/kernel/unprivileged_userns_clone") == 0)
        return " (unprivileged user namespaces are disabled: sysctl -w kernel.unprivileged_userns_clone=1, or run "
               "as root)";
      if (read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1)
        return " (AppArmor restricts unprivileged user namespaces: kernel.apparmor_restrict_unprivileged_userns = 1)";
      return " (the kernel refused an unprivileged user namespace: check user.max_user_namespaces and any LSM policy)";
    }
    if (geteuid() == 0 || (flags & CLONE_NEWUSER))  // privilege is not what is missing
      return " (refused although the privilege is there: a seccomp profile or an LSM policy (AppArmor, SELinux) "
             "forbids clone3 or these namespaces here)";
    return " (creating these namespaces needs CAP_SYS_ADMIN or a user namespace: add [[namespace]] type = \"user\" "
           "first)";
  }
  return "";
}

}  // namespace

namespace {
int payload_main(void *inst) { exec_payload(*static_cast<Instance *>(inst)); }
}  // namespace

pid_t spawn_payload(Instance &inst) {
  // vfork-style, as posix_spawn does: the child borrows this process's memory on a
  // stack of its own until it executes the payload (or exits on failure), while this
  // process waits. No page table is copied and nothing is copied on write: the
  // init that calls this is a copy of nsrig, and a fork of it costs page faults
  // that are slow on VMs (clone(2), CLONE_VM and CLONE_VFORK). The caller is
  // single-threaded (the first process of an instance), so no lock is held.
  constexpr size_t kStack = 256 * 1024;
  void *stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return -1;
  pid_t pid = clone(payload_main, static_cast<char *>(stack) + kStack, CLONE_VM | CLONE_VFORK | SIGCHLD, &inst);
  int err = errno;
  munmap(stack, kStack);
  errno = err;
  if (pid > 0) {
    close(inst.sync_fd);
    inst.sync_fd = -1;
    if (inst.tty_slave_fd >= 0) close(inst.tty_slave_fd);  // the payload's alone, not its init's
    inst.tty_slave_fd = -1;
  }
  return pid;
}

int run(Instance &inst, const Plan &plan, Timings *timings, const std::function<void()> &on_started) {
  Clock clock(timings);
  RunGuard guard{};
  guard.inst = &inst;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (int s : kForwarded) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, &guard.old);
  guard.sigfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (guard.sigfd < 0) throw Error(errno_text("signalfd"));

  auto forward = [&](int sig) {
    log::debug("forwarding signal " + std::to_string(sig) + " to pid " + std::to_string(inst.child_pid));
    pidfd_signal(inst.child_pidfd, sig);
  };
  // Kills and reaps the child, tears down, and reports `msg`.
  auto abort_run = [&](const std::string &msg, int code) -> Error {
    if (inst.child_pid > 0) {
      pidfd_signal(inst.child_pidfd, SIGKILL);
      waitpid(inst.child_pid, nullptr, 0);
    }
    teardown(inst);
    return Error(msg, code);
  };

  inst.in_prepare = true;
  for (auto &s : inst.slots) {
    // Teardown is owed even when on_prepare fails half-way. Set only when it
    // changes: a spawn after an earlier one (bench, an embedder) would
    // otherwise take a copy-on-write fault on every slot's page.
    if (!s->prepared) s->prepared = true;
    if (auto hook = s->plugin->desc.on_prepare; hook && hook(&s->ctx, s->state) != NSRIG_OK) {
      inst.in_prepare = false;
      throw abort_run(inst.hook_error(*s, "on_prepare"), kExitOwnError);
    }
  }
  inst.in_prepare = false;
  if (inst.fail_after == "prepare") throw abort_run("injected failure after on_prepare", kExitOwnError);
  clock.mark("prepare");

  if (inst.exec.argv.empty()) prepare_exec(inst);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, guard.fds) != 0)
    throw abort_run(errno_text("socketpair"), kExitOwnError);
  int pidfd = -1;
  clone_args args{};
  // CLONE_NEWTIME stays out: a time namespace's offsets can only be written before any
  // process is in it (time_namespaces(7)), so its owner unshares it in the child, writes
  // /proc/self/timens_offsets and joins time_for_children (plugins/time).
  args.flags = (inst.clone_flags & ~static_cast<uint64_t>(CLONE_NEWTIME)) | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (inst.clone_cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(inst.clone_cgroup_fd);
  }
  long pid = syscall(SYS_clone3, &args, sizeof args);
  // clone3 refused with ENOSYS: a seccomp profile older than the call (Docker's
  // answers ENOSYS so that callers fall back; clone(2), NOTES). clone(2) takes
  // the same flags but CLONE_INTO_CGROUP, which has no clone(2) form. No stack
  // given: fork-like, the child goes on with a copy of this one. The pidfd
  // comes back through parent_tid (x86-64 order: flags, stack, parent_tid,
  // child_tid, tls).
  bool into_cgroup = inst.clone_cgroup_fd >= 0;
  bool via_clone = false;
  if (pid < 0 && errno == ENOSYS && !into_cgroup && !(args.flags >> 32)) {
    via_clone = true;
    pid = syscall(SYS_clone, static_cast<unsigned long>(args.flags) | SIGCHLD, nullptr, &pidfd, nullptr, nullptr);
  }
  int clone_errno = errno;
  if (into_cgroup && pid != 0) {
    close(inst.clone_cgroup_fd);
    inst.clone_cgroup_fd = -1;
  }
  if (pid < 0) {
    std::string hint = clone_hint(clone_errno, inst.clone_flags);
    if (!via_clone && clone_errno == ENOSYS)
      hint = std::string(" (clone3 is refused, by the kernel (before 5.3) or a seccomp profile") +
             (into_cgroup ? ", and placing the first process in its cgroup (the cgroup plugin) needs it" : "") +
             ": allow clone3)";
    std::string flags;
    for (uint64_t bit = 1; bit; bit <<= 1)
      if (inst.clone_flags & bit) flags += (flags.empty() ? "" : "|") + clone_flag_name(bit);
    errno = clone_errno;
    throw abort_run(errno_text(std::string(via_clone ? "clone" : "clone3") + "(" +
                               (flags.empty() ? std::string("0") : flags) + ")") +
                        hint,
                    kExitOwnError);
  }
  if (pid == 0) {
    close(guard.fds[0]);
    inst.sync_fd = guard.fds[1];
    // The caller's signal mask, not the one blocked here for the signalfd: whatever a
    // child-side hook starts (a helper, a daemon) must not inherit blocked SIGTERM.
    sigprocmask(SIG_SETMASK, &guard.old, nullptr);
    child_main(inst, plan);
  }
  inst.child_pid = static_cast<pid_t>(pid);
  inst.child_pidfd = pidfd;
  if (log::enabled(log::Level::debug))
    log::debug("instance " + inst.id + ": clone3 done, first process is pid " + std::to_string(pid));
  close(guard.fds[1]);
  guard.fds[1] = -1;
  if (inst.tty_slave_fd >= 0) {  // the child's now: the relay sees EIO once the last holder is gone
    close(inst.tty_slave_fd);
    inst.tty_slave_fd = -1;
  }
  clock.mark("clone");

  for (auto &s : inst.slots)
    if (auto hook = s->plugin->desc.on_parent_after_clone; hook && hook(&s->ctx, s->state) != NSRIG_OK)
      throw abort_run(inst.hook_error(*s, "on_parent_after_clone"), kExitOwnError);
  for (const char *stage : {"prestart", "createRuntime"}) {
    std::string err = run_command_hooks(inst, stage, "created", inst.child_pid);
    if (!err.empty()) throw abort_run(err, kExitOwnError);
  }
  if (inst.fail_after == "parent_after_clone")
    throw abort_run("injected failure after on_parent_after_clone", kExitOwnError);
  clock.mark("parent_after_clone");

  std::string go = "g";
  for (auto &[k, v] : inst.facts) go.append(k).append(1, '\0').append(v).append(1, '\0');
  if (go.size() > kGoMax)
    throw abort_run("the published facts take " + std::to_string(go.size()) + " bytes, more than the " +
                        std::to_string(kGoMax) + " a child can receive; publish shorter values",
                    kExitOwnError);
  if (send(guard.fds[0], go.data(), go.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(go.size()))
    throw abort_run(errno_text("sync socket: send"), kExitOwnError);
  // A signal while the child sets up (a hung plugin, Ctrl-C) stops the run.
  if (int sig = wait_readable(guard.fds[0], guard.sigfd, true); sig > 0)
    throw abort_run("interrupted by signal " + std::to_string(sig) + " (" + strsignal(sig) +
                        ") while the instance was being set up; nothing is left running",
                    128 + sig);
  Failure f{};
  ssize_t n;
  bool ready = false;
  for (;;) {
    while ((n = recv(guard.fds[0], &f, sizeof f - 1, 0)) < 0 && errno == EINTR) {
    }
    if (n != static_cast<ssize_t>(sizeof f.code) || f.code != kReady) break;
    ready = true;
    // The payload is being executed (the pid init, if any, has blocked the
    // signals it forwards): a signal now is the payload's, as it will be once
    // the exec is seen, so it is forwarded, not taken for an interrupted set-up.
    int sig;
    while ((sig = wait_readable(guard.fds[0], guard.sigfd, true)) > 0) forward(sig);
  }
  if (n == 0 && !ready) {  // EOF, but the child never got to exec: it died in a hook
    int status = 0;
    waitpid(inst.child_pid, &status, 0);
    inst.child_pid = 0;
    std::string how = WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
                                                strsignal(WTERMSIG(status)) + ")"
                                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    std::string hooks;
    for (auto &s : inst.slots)
      if (s->plugin->desc.on_child_setup || s->plugin->desc.on_child_exec) hooks += (hooks.empty() ? "" : ", ") + s->name();
    // SIGKILL that nsrig did not send: most often the OOM killer, when a memory limit
    // (the cgroup plugin's memory_max) is smaller than what setting up takes.
    bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    throw abort_run("the instance's first process " + how + " before the payload was executed, without a message: " +
                        (killed ? "the kernel's OOM killer (a memory limit too small to set up the instance?) or a "
                                  "child-side plugin hook"
                                : "a child-side plugin hook crashed") +
                        " (child-side plugins: " + (hooks.empty() ? "none" : hooks) + ")",
                    kExitOwnError);
  }
  if (n >= static_cast<ssize_t>(sizeof f.code)) {
    int status = 0;
    waitpid(inst.child_pid, &status, 0);
    inst.child_pid = 0;  // reaped: abort_run must not signal or wait again
    std::string msg(f.text, static_cast<size_t>(n) - sizeof f.code);
    throw abort_run(msg, f.code);
  }
  clock.mark("child_setup_exec");
  if (log::enabled(log::Level::debug)) log::debug("instance " + inst.id + ": payload executed");

  for (auto &s : inst.slots)
    if (auto hook = s->plugin->desc.on_post_start; hook && hook(&s->ctx, s->state) != NSRIG_OK)
      throw abort_run(inst.hook_error(*s, "on_post_start"), kExitOwnError);
  int stopped_by = 0;
  if (std::string err = run_command_hooks(inst, "poststart", "running", inst.child_pid, &stopped_by); !err.empty())
    log::warning(err);  // OCI: a poststart failure is logged, the container keeps running
  if (stopped_by) forward(stopped_by);  // Ctrl-C during a poststart hook was meant for the payload too
  clock.mark("post_start");
  if (on_started) on_started();

  // The child's pidfd becomes readable when it exits; meanwhile forward signals
  // (and with -t, relay the terminal).
  int status = 0;
  // run -t: relay the pty; signals other than SIGWINCH are forwarded as without a terminal.
  if (inst.tty_master >= 0)
    relay(inst.tty_master, inst.child_pidfd, inst.tty_stdin, guard.sigfd,
          [&](int sig) { pidfd_signal(inst.child_pidfd, sig); });
  for (;;) {
    int sig = wait_readable(inst.child_pidfd, guard.sigfd);
    if (sig > 0) {
      forward(sig);
      continue;
    }
    if (waitpid(inst.child_pid, &status, 0) == inst.child_pid) break;
    if (errno != EINTR) throw abort_run(errno_text("waitpid(" + std::to_string(inst.child_pid) + ")"), kExitOwnError);
  }
  clock.mark("wait");
  if (log::enabled(log::Level::debug))
    log::debug("instance " + inst.id + ": first process ended, exit status " + std::to_string(status_to_exit(status)));
  teardown(inst);
  clock.mark("teardown");
  return status_to_exit(status);
}

}  // namespace nsrig
