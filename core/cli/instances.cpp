// Detached instances: run -d (a supervisor per instance), ps, inspect, exec,
// stop, kill, rm, logs, ns.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.hpp"
#include "error.hpp"
#include "spawner.hpp"
#include "state.hpp"
#include "tty.hpp"  // core

namespace fs = std::filesystem;

namespace nsrig::cli {
namespace {

// The namespace types `nsrig ns` reports, with their clone flags (namespaces(7)).
const struct {
  const char *type;
  uint64_t flag;
} kNsTypes[] = {{"pid", CLONE_NEWPID},       {"net", CLONE_NEWNET},   {"uts", CLONE_NEWUTS},
                {"mnt", CLONE_NEWNS},        {"ipc", CLONE_NEWIPC},   {"user", CLONE_NEWUSER},
                {"cgroup", CLONE_NEWCGROUP}, {"time", 0x80 /* CLONE_NEWTIME */}};

uint64_t ns_inode(pid_t pid, const char *type) {
  struct stat st {};
  std::string p = "/proc/" + std::to_string(pid) + "/ns/" + type;
  return stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string uptime(const InstanceState &s) {
  if (s.status != "running" || !s.started_at_us) return "-";
  int64_t secs = (now_us() - s.started_at_us) / 1000000;
  char b[32];
  if (secs < 120)
    std::snprintf(b, sizeof b, "%llds", static_cast<long long>(secs));
  else if (secs < 7200)
    std::snprintf(b, sizeof b, "%lldm", static_cast<long long>(secs / 60));
  else
    std::snprintf(b, sizeof b, "%lldh", static_cast<long long>(secs / 3600));
  return b;
}

int signal_number(const std::string &s) {
  std::string n = s;
  for (auto &ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (n.starts_with("SIG")) n = n.substr(3);
  if (!n.empty() && n.size() <= 3 && std::all_of(n.begin(), n.end(), ::isdigit) && std::stoi(n) < NSIG)
    return std::stoi(n);
  for (int i = 1; i < NSIG; ++i)
    if (const char *abbrev = sigabbrev_np(i); abbrev && n == abbrev) return i;
  throw Error("unknown signal '" + s + "': use a name such as TERM, KILL, HUP, or a number");
}

// Waits (bounded) until the supervisor of `s` has exited.
bool wait_gone(const InstanceState &s, std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (same_process(s.supervisor_pid, s.supervisor_start)) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

InstanceState running_state(const std::string &name) {
  InstanceState s = read_state(name);
  if (s.status != "running" || !same_process(s.pid, s.pid_start))
    throw Error("instance '" + name + "' is not running (status " + s.status + ")");
  return s;
}

// SIGTERM to the supervisor (it forwards to the first process), SIGKILL to the
// first process after `grace`; the supervisor then tears down and exits.
void stop_instance(const InstanceState &s, int grace_s) {
  if (!same_process(s.supervisor_pid, s.supervisor_start)) return;
  // An instance still starting has no first process on record: SIGTERM makes its supervisor stop the setup.
  if (grace_s > 0 || s.pid == 0) {
    kill(s.supervisor_pid, SIGTERM);
    if (wait_gone(s, std::chrono::seconds(std::max(grace_s, 1)))) return;
  }
  InstanceState now = s;
  try {
    now = read_state(s.name);  // the first process may have appeared meanwhile
  } catch (const Error &) {
  }
  if (same_process(now.pid, now.pid_start)) kill(now.pid, SIGKILL);
  if (!wait_gone(s, std::chrono::seconds(30)))
    throw Error("instance '" + s.name + "': its supervisor (pid " + std::to_string(s.supervisor_pid) +
                ") did not exit after its payload was killed");
}

// An instance whose supervisor died without tearing down: load its profile
// again under the same id and run every plugin's teardown, which works from
// names derived from the id.
void teardown_stale(const InstanceState &s, const Options &o) {
  Options again = o;
  // The merged profile as it was at start (profile.toml), so that a profile file
  // edited or removed since does not keep its instance from being torn down.
  std::string saved = instance_dir(s.name) + "/profile.toml";
  again.profiles = fs::exists(saved) ? std::vector<std::string>{saved} : s.profiles;
  again.command = s.command.empty() ? std::vector<std::string>{"true"} : s.command;
  // Its processes are gone, but the kernel frees their namespaces a moment
  // later (a network namespace is cleaned up asynchronously, and the host end
  // of its veth with it): until then a plugin's configure may still see them
  // (net: "the host already has a link named ..."). So configure is tried
  // again for up to 3 s before the failure is reported.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  for (;;) {
    try {
      Loaded l(again, s.name);
      l.inst->keep_state_dir = true;
      for (auto &slot : l.inst->slots) slot->prepared = true;
      teardown(*l.inst);
      return;
    } catch (const Error &e) {
      if (std::chrono::steady_clock::now() < until) {
        usleep(20000);
        continue;
      }
      log::warning("instance '" + s.name + "': teardown after a crash failed: " + e.what());
      return;
    }
  }
}

// FNV-1a 64 of the merged profile as TOML: tells whether a profile changed since the instance started.
std::string profile_hash(const Profile &p) {
  std::ostringstream text;
  text << toml::toml_formatter(p.root);
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text.str()) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void check_name(const std::string &name) {
  if (!valid_instance_name(name))
    throw Error("invalid instance name '" + name + "': 1-32 characters of [a-z0-9_-], starting with a letter or digit");
}

}  // namespace

int cmd_run_detached(const Options &o) {
  std::string name = o.name.empty() ? "nsrig-" + make_instance_id().substr(0, 6) : o.name;
  if (!valid_instance_name(name))
    throw Error("invalid --name '" + name + "': 1-32 characters of [a-z0-9_-], starting with a letter or digit");
  std::string base = state_base(), dir = instance_dir(name);
  if (mkdir(base.c_str(), 0700) != 0 && errno != EEXIST) throw Error(errno_text("mkdir('" + base + "')"));
  if (mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) throw Error(errno_text("mkdir('" + dir + "')"));
    if (!fs::exists(dir + "/state.json"))
      throw Error("'" + dir + "' exists but holds no instance state (a start that was killed?); remove it with "
                  "nsrig rm -f " + name);
    InstanceState old = read_state(name);
    throw Error("an instance named '" + name + "' already exists (" + old.status + "); " +
                (old.status == "running" ? "choose another --name" : "remove it with nsrig rm " + name));
  }
  std::unique_ptr<Loaded> l;
  try {
    l = std::make_unique<Loaded>(o, name);
    if (l->inst->process.argv.empty())
      throw Error("no command to run: give one after the options or set [process].argv in the profile");
  } catch (...) {
    fs::remove_all(dir);
    throw;
  }
  Instance &inst = *l->inst;
  inst.keep_state_dir = true;
  InstanceState st;
  st.name = name;
  for (auto &f : o.profiles) st.profiles.push_back(fs::absolute(f).string());
  st.command = inst.process.argv;
  st.cwd = inst.process.cwd;
  st.env = inst.process.env;
  st.profile_hash = profile_hash(l->profile);
  {
    std::ofstream saved(dir + "/profile.toml");
    saved << "# the merged profile of instance '" << name << "' at its start (nsrig rm uses it after a crash)\n"
          << "version = 1\n" << toml::toml_formatter(l->profile.root) << "\n";
  }
  st.clone_flags = inst.clone_flags;
  st.keep = !o.remove;

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) throw Error(errno_text("pipe2"));
  inst.close_in_child.push_back(ready[1]);  // the instance's processes must not hold it
  pid_t pid = fork();
  if (pid < 0) throw Error(errno_text("fork of the supervisor"));
  if (pid == 0) {
    // The supervisor: a session of its own, no terminal, output to the instance's log.
    close(ready[0]);
    setsid();
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    std::string logf = dir + "/log";
    int logfd = open(logf.c_str(), O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (null >= 0) dup2(null, 0);
    if (logfd >= 0) dup2(logfd, 1), dup2(logfd, 2);
    st.supervisor_pid = getpid();
    st.supervisor_start = process_start_time(getpid());
    int code = kExitOwnError;
    std::string report;
    bool recorded = false;  // state.json written: the record nsrig ps and rm go by
    try {
      write_state(st);
      recorded = true;
      code = run(inst, l->plan, nullptr, [&] {
        st.pid = inst.child_pid;
        st.pid_start = process_start_time(inst.child_pid);
        st.started_at_us = now_us();
        for (auto &t : kNsTypes)
          if (uint64_t ino = ns_inode(inst.child_pid, t.type)) st.namespaces[t.type] = ino;
        for (auto &[k, v] : inst.facts) st.facts[k] = v;
        st.status = "running";
        try {
          write_state(st);
        } catch (const Error &e) {  // the instance runs: say so, and keep going to its teardown
          log::error(e.what());
        }
        ssize_t n = write(ready[1], "ok\n", 3);
        (void)n;
        close(ready[1]);
        ready[1] = -1;
      });
    } catch (const Error &e) {
      log::error(e.what());
      report = std::to_string(e.exit_code) + " " + e.what();
      code = e.exit_code;
    }
    if (ready[1] >= 0) {
      if (report.empty()) report = std::to_string(code) + " the payload ended before it was reported running";
      for (auto &ch : report)
        if (ch == '\n') ch = ' ';
      report += '\n';
      ssize_t n = write(ready[1], report.data(), report.size());
      (void)n;
    }
    st.status = "stopped";
    st.exit_status = code;
    try {
      write_state(st);
    } catch (const Error &) {
    }
    if (!recorded) {
      // No record (a full state directory): nothing ran, and a directory without one
      // would only block the name (nsrig rm finds no instance in it).
      std::error_code ec;
      fs::remove_all(dir, ec);
      _exit(code);
    }
    if (o.remove) {
      // --rm. Only the supervisor's own files: what a plugin kept there (an overlay's
      // upper layer with keep = true) stays, and the directory with it.
      for (const char *f : {"/state.json", "/log", "/lock", "/profile.toml"}) unlink((dir + f).c_str());
      rmdir(dir.c_str());
    }
    _exit(code);
  }
  close(ready[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  // One line: "ok", or "<exit code> <message>".
  while (msg.find('\n') == std::string::npos &&
         ((n = read(ready[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
    if (n > 0) msg.append(buf, static_cast<size_t>(n));
  close(ready[0]);
  if (!msg.empty() && msg.back() == '\n') msg.pop_back();
  if (msg == "ok") {
    std::printf("%s\n", name.c_str());
    return 0;
  }
  if (msg.empty()) throw Error("the supervisor of '" + name + "' died before the instance started; see " + dir + "/log");
  size_t sp = msg.find(' ');
  int code = std::atoi(msg.substr(0, sp).c_str());
  waitpid(pid, nullptr, 0);
  throw Error(msg.substr(sp + 1), code ? code : kExitOwnError);
}

int cmd_ps(const Options &o) {
  std::vector<InstanceState> all;
  for (auto &name : list_instances()) {
    try {
      all.push_back(read_state(name));
    } catch (const Error &e) {
      log::warning(e.what());
    }
  }
  if (o.format == "json") {
    std::cout << "[";
    for (size_t i = 0; i < all.size(); ++i) std::cout << (i ? "," : "") << state_json(all[i], -1);
    std::cout << "]\n";
    return 0;
  }
  std::printf("%-20s %-14s %-8s %-7s %-18s %s\n", "NAME", "STATUS", "PID", "UPTIME", "ADDRESS", "PROFILE");
  for (auto &s : all) {
    std::string addr = s.facts.count("address") ? s.facts.at("address") : "-";
    std::string prof = s.profiles.empty() ? "-" : fs::path(s.profiles.back()).filename().string();
    std::string pid = s.status == "running" ? std::to_string(s.pid) : "-";
    std::string status = s.status;
    if (s.status != "running") {
      addr = "-";  // its lease was released
      if (s.exit_status) status += " (" + std::to_string(*s.exit_status) + ")";
    }
    std::printf("%-20s %-14s %-8s %-7s %-18s %s\n", s.name.c_str(), status.c_str(), pid.c_str(), uptime(s).c_str(),
                addr.c_str(), prof.c_str());
  }
  return 0;
}

int cmd_inspect(const Options &o) {
  check_name(o.name);
  std::cout << state_json(read_state(o.name)) << "\n";
  return 0;
}

int cmd_logs(const Options &o) {
  check_name(o.name);
  read_state(o.name);
  std::ifstream f(instance_dir(o.name) + "/log");
  std::cout << f.rdbuf();
  return 0;
}

// Moves the calling process into every cgroup of `pid` that differs from its own, so that
// what exec starts counts against the instance's limits and ends with it (cgroups(7),
// /proc/PID/cgroup; v1 hierarchies matched to their mounts by controller list).
void join_cgroups(pid_t pid) {
  auto read_lines = [](const std::string &path) {
    std::vector<std::string> out;
    std::ifstream f(path);
    for (std::string l; std::getline(f, l);) out.push_back(l);
    return out;
  };
  // "cpu,cpuacct" and "cpuacct,cpu" name one hierarchy: the sorted list, skipping mount flags.
  auto hierarchy_key = [](const std::string &list) {
    std::vector<std::string> words;
    std::istringstream in(list);
    for (std::string w; std::getline(in, w, ',');)
      if (w != "rw" && w != "ro" && !w.starts_with("release_agent") && w != "clone_children" && w != "noprefix" &&
          w != "xattr" && w != "nsdelegate" && w != "relatime" && w != "cpuset_v2_mode")
        words.push_back(w);
    std::sort(words.begin(), words.end());
    std::string key;
    for (auto &w : words) key += (key.empty() ? "" : ",") + w;
    return key;
  };
  std::map<std::string, std::string> mine;  // "controllers" -> path
  for (auto &l : read_lines("/proc/self/cgroup")) {
    size_t a = l.find(':'), b = l.find(':', a + 1);
    if (a != std::string::npos && b != std::string::npos) mine[l.substr(a + 1, b - a - 1)] = l.substr(b + 1);
  }
  // Mount point of each hierarchy: cgroup2 for "", else the v1 mount whose options hold its controllers.
  std::map<std::string, std::string> mounts;
  for (auto &l : read_lines("/proc/self/mountinfo")) {
    std::istringstream in(l);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE SOURCE SUPEROPTIONS (proc(5))
    size_t dash = std::find(f.begin(), f.end(), "-") - f.begin();
    if (f.size() < 5 || dash + 3 >= f.size()) continue;
    std::string type = f[dash + 1], opts = f[dash + 3];
    if (type == "cgroup2" && !mounts.count("")) mounts[""] = f[4];
    if (type != "cgroup") continue;
    std::string key = hierarchy_key(opts);
    if (!mounts.count(key)) mounts[key] = f[4];
  }
  for (auto &l : read_lines("/proc/" + std::to_string(pid) + "/cgroup")) {
    size_t a = l.find(':'), b = l.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrl = l.substr(a + 1, b - a - 1), path = l.substr(b + 1);
    if (mine[ctrl] == path) continue;
    std::string key = hierarchy_key(ctrl);
    auto m = mounts.find(key);
    if (m == mounts.end()) continue;  // a hierarchy nsrig cannot see: nothing to join
    std::string procs = m->second + path + "/cgroup.procs";
    std::ofstream out(procs);
    out << "0\n";
    out.flush();
    if (!out)
      throw Error(errno_text("join the instance's cgroup: write '0' to '" + procs + "'") +
                  "; the instance's limits would not apply to the command");
  }
}

int cmd_exec(const Options &o) {
  check_name(o.name);
  if (o.command.empty()) throw Error("no command: nsrig exec NAME -- CMD [ARGS...]");
  InstanceState s = running_state(o.name);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, s.pid, 0));
  if (pidfd < 0) throw Error(errno_text("pidfd_open(" + std::to_string(s.pid) + ")"));
  // The first process's root: setns() into a mount namespace puts us at that
  // namespace's root, which is not the instance's root when it used chroot.
  std::string root_link = "/proc/" + std::to_string(s.pid) + "/root";
  int root_fd = open(root_link.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) throw Error(errno_text("open('" + root_link + "')"));
  uint64_t flags = 0;
  for (auto &t : kNsTypes)
    if (s.clone_flags & t.flag) flags |= t.flag;
  join_cgroups(s.pid);  // while the host's cgroup mounts are still visible
  // One setns(2) on a pidfd joins them all at once, the user namespace first (setns(2), kernel >= 5.8).
  // An instance without namespaces (run -d with no profile) has none to join.
  if (flags != 0 && setns(pidfd, static_cast<int>(flags)) != 0)
    throw Error(errno_text("setns(pidfd of " + std::to_string(s.pid) + ", the instance's namespaces)") +
                (errno == EPERM ? "; joining another instance's namespaces needs root" : ""));
  close(pidfd);
  if (fchdir(root_fd) != 0 || chroot(".") != 0) throw Error(errno_text("enter the root of instance '" + o.name + "'"));
  close(root_fd);
  // The payload's environment (recorded from the profile), TERM from the caller, then -e.
  std::vector<std::string> env = s.env;
  if (env.empty()) env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"};
  if (const char *term = std::getenv("TERM")) env.push_back(std::string("TERM=") + term);
  for (auto &e : o.env) {
    if (e.find('=') == std::string::npos || e.front() == '=')
      throw Error("--env '" + e + "': use KEY=VALUE, with a KEY");
    env.push_back(e);
  }
  std::string cwd = !o.cwd.empty() ? o.cwd : !s.cwd.empty() ? s.cwd : "/";
  // -t: a pty from the instance's own /dev/ptmx (we are inside its mount namespace and root now).
  Pty pty;
  if (o.tty) pty = open_pty();
  signal(SIGINT, SIG_IGN), signal(SIGQUIT, SIG_IGN);  // the terminal's signals are for the command
  pid_t pid = fork();  // the child is inside the pid namespace
  if (pid < 0) throw Error(errno_text("fork"));
  if (pid == 0) {
    reset_signals_for_exec();  // the terminal's signals above, nsrig's SIGPIPE, the caller's ignores
    if (o.tty && !attach_slave(pty.slave)) {
      std::fprintf(stderr, "nsrig exec: attach the terminal %s: %s\n", pty.slave.c_str(), std::strerror(errno));
      _exit(kExitOwnError);
    }
    if (!o.tty && !o.interactive) {  // as docker exec: stdin is only passed on with -i
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, STDIN_FILENO);
    }
    if (flags & CLONE_NEWUSER) {
      // Root inside, as the payload is (ignored where 0 is not mapped).
      if (setresgid(0, 0, 0) == 0) setresuid(0, 0, 0);
    }
    if (chdir(cwd.c_str()) != 0) {
      std::fprintf(stderr, "nsrig exec: chdir('%s') inside '%s': %s\n", cwd.c_str(), o.name.c_str(), std::strerror(errno));
      _exit(kExitOwnError);
    }
    std::vector<char *> argv, envp;
    for (auto &a : o.command) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    for (auto &e : env) envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);
    environ = envp.data();
    execvp(argv[0], argv.data());
    int e = errno;
    std::fprintf(stderr, "nsrig exec: '%s': %s\n", o.command[0].c_str(),
                 e == ENOENT ? "command not found in the instance" : std::strerror(e));
    _exit(e == ENOENT ? kExitNotFound : kExitCannotExec);
  }
  if (o.tty) {
    int child_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    sigprocmask(SIG_BLOCK, &winch, nullptr);
    int sigfd = signalfd(-1, &winch, SFD_CLOEXEC);
    relay(pty.master, child_fd, o.interactive, sigfd, nullptr);
    close(sigfd);
    close(child_fd);
    close(pty.master);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cmd_stop(const Options &o) {
  check_name(o.name);
  read_state(o.name);  // says so when there is no such instance
  InstanceLock lock(o.name);  // one stop/kill/rm at a time per instance
  InstanceState s = read_state(o.name);
  if (s.status != "stopped") stop_instance(s, o.stop_timeout);  // also one still starting
  std::printf("%s\n", o.name.c_str());
  return 0;
}

int cmd_kill(const Options &o) {
  check_name(o.name);
  int sig = signal_number(o.signal);
  read_state(o.name);
  InstanceLock lock(o.name);
  InstanceState s = running_state(o.name);
  if (kill(s.pid, sig) != 0) throw Error(errno_text("kill(" + std::to_string(s.pid) + ", " + o.signal + ")"));
  std::printf("%s\n", o.name.c_str());
  return 0;
}

int cmd_rm(const Options &o) {
  check_name(o.name);
  std::string dir = instance_dir(o.name);
  if (o.force && fs::is_directory(dir)) {
    // A state file that cannot be read, or none at all (a run -d killed while it started): remove what is there.
    try {
      read_state(o.name);
    } catch (const Error &e) {
      log::warning(std::string(e.what()) + "; removing " + dir + " without stopping anything");
      fs::remove_all(dir);
      std::printf("%s\n", o.name.c_str());
      return 0;
    }
  }
  read_state(o.name);
  InstanceLock lock(o.name);
  InstanceState s = read_state(o.name);
  if (s.status != "stopped") {
    if (!o.force)
      throw Error("instance '" + o.name + "' is " + s.status + "; stop it first (nsrig stop " + o.name + ") or use rm -f");
    stop_instance(s, 0);
  }
  if (s.stale) teardown_stale(s, o);
  std::error_code ec;
  fs::remove_all(instance_dir(o.name), ec);
  if (ec) throw Error("remove '" + instance_dir(o.name) + "': " + ec.message());
  std::printf("%s\n", o.name.c_str());
  return 0;
}

int cmd_ns(const Options &o) {
  check_name(o.name);
  InstanceState s = running_state(o.name);
  nlohmann::json out = nlohmann::json::array();
  if (o.format != "json") std::printf("%-7s %-12s %-12s %s\n", "TYPE", "INSTANCE", "HOST", "STATE");
  for (auto &t : kNsTypes) {
    uint64_t mine = ns_inode(s.pid, t.type), host = ns_inode(getpid(), t.type);
    bool priv = mine && host && mine != host;
    if (o.format == "json") {
      out.push_back({{"type", t.type}, {"instance", mine}, {"host", host}, {"private", priv}});
    } else {
      std::printf("%-7s %-12llu %-12llu %s\n", t.type, static_cast<unsigned long long>(mine),
                  static_cast<unsigned long long>(host), mine == 0 ? "-" : priv ? "private" : "shared");
    }
  }
  if (o.format == "json") std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace nsrig::cli
