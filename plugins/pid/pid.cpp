// pid: a new PID namespace. The first process of the instance is PID 1, and
// PID 1 has two duties a normal program does not (pid_namespaces(7)): it must
// reap orphans, or zombies pile up; and the kernel delivers it only the
// signals it has handlers for, so a payload run as PID 1 ignores SIGTERM
// unless it installs a handler. When PID 1 exits, the kernel kills every
// other process of the namespace. So by default a small init runs as PID 1:
// it starts the payload as PID 2, reaps every child, forwards the usual
// signals to the payload, and exits with the payload's status (128+N when
// the payload died of signal N). `init = false` makes the payload PID 1.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <nsrig/plugin.hpp>

namespace {

constexpr int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

struct Pid {
  static constexpr const char *name = "pid";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "PID namespace with a reaping, signal-forwarding init as PID 1";
  static constexpr uint64_t clone_flag = CLONE_NEWPID;

  bool init = true;

  void configure(nsrig::Context &c) { init = c.boolean_or("init", true); }

  int child_exec(nsrig::Context &c) {
    if (!init) c.exec_payload();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (int s : kForwarded) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, nullptr);  // before the fork: no signal is lost
    prctl(PR_SET_NAME, "nsrig-init");
    pid_t payload = c.spawn_payload();
    for (;;) {
      int sig = sigwaitinfo(&set, nullptr);
      if (sig == SIGCHLD) {
        int status = 0;
        pid_t w;
        while ((w = waitpid(-1, &status, WNOHANG)) > 0)
          if (w == payload) {
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
          }
      } else if (sig > 0) {
        kill(payload, sig);
      }
    }
  }
};

}  // namespace

NSRIG_PLUGIN(Pid)
