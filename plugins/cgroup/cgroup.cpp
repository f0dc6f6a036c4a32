// cgroup: a new cgroup namespace, and a cgroup of its own for every instance,
// named after the instance id, under a shared `nsrig` parent cgroup at the
// root of each hierarchy (cgroups(7), cgroup_namespaces(7)).
//
// Built like a third party's plugin: only <nsrig/plugin.hpp> and the system.
//
// Hierarchies are found in /proc/self/mountinfo, not assumed:
//  - cgroup v2 (pure v2 at /sys/fs/cgroup, or the hybrid's /sys/fs/cgroup/unified):
//    <mount>/nsrig/<id> is created in on_prepare, limits are written there
//    (memory.max, pids.max, cpu.max; the controllers are enabled in the
//    parents' cgroup.subtree_control when missing), and the first process is
//    created directly in it with CLONE_INTO_CGROUP (host API clone_into_cgroup;
//    on an older host the parent moves it in on_parent_after_clone).
//  - cgroup v1 (one hierarchy per controller, or co-mounted ones): the same
//    directory in every controller hierarchy; the limits the v2 hierarchy
//    cannot take go to the v1 files (memory.limit_in_bytes, pids.max,
//    cpu.cfs_period_us/cpu.cfs_quota_us); the parent moves the first process
//    in with cgroup.procs in on_parent_after_clone, while the child waits.
// The cgroup namespace's root is fixed when it is created (clone3), which is
// before the process reached its v1 cgroups (CLONE_INTO_CGROUP only places
// it in v2): the child makes a fresh one with unshare(CLONE_NEWCGROUP) in
// on_child_setup, after the user plugin made it root in its user namespace,
// so /proc/self/cgroup shows `/` for every hierarchy.
//
// Teardown (also after a failure half-way, also twice, also from `nsrig rm`
// of a crashed instance, which only knows the id): every process left in the
// instance's cgroups is killed (cgroup.kill, else SIGKILL per pid until they
// are empty, bounded), then the directories are removed, and the `nsrig`
// parents too unless another instance uses them (rmdir says EBUSY): nsrig
// owns them, and the last instance to end removes them.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <set>

#include <nsrig/plugin.hpp>

namespace {

constexpr const char *kParent = "nsrig";
constexpr int kKillWaitMs = 5000;   // teardown: how long processes may take to die
constexpr int kRmdirWaitMs = 2000;  // teardown: how long rmdir may say EBUSY

// Controllers of cgroup v1 (cgroups(7)); other mount options are not controllers.
const std::set<std::string> kV1Controllers = {"cpu",     "cpuacct", "cpuset",   "memory", "devices",
                                              "freezer", "net_cls", "net_prio", "blkio",  "perf_event",
                                              "hugetlb", "pids",    "rdma",     "misc"};

std::string join(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (auto &x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// Whitespace-separated words.
std::vector<std::string> words(const std::string &s) {
  std::vector<std::string> out;
  for (size_t at = s.find_first_not_of(" \t\n"); at != std::string::npos;) {
    size_t end = s.find_first_of(" \t\n", at);
    out.push_back(s.substr(at, end - at));
    at = s.find_first_not_of(" \t\n", end);
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Reads a small file; nullopt when it cannot be opened. Plain read(2), not
// <fstream>: iostreams link about 2,500 relocations of libstdc++ into the
// plugin, paid by every run that loads it (docs/benchmarks.md).
std::optional<std::string> read_file(const std::string &path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

bool exists(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// A failed system call on a cgroup file: the message, and errno for callers that retry.
struct SysError : std::runtime_error {
  SysError(int e, const std::string &what) : std::runtime_error(what + ": " + std::strerror(e)), err(e) {}
  int err;
};

[[noreturn]] void fail(const std::string &what) { throw SysError(errno, what); }

// One write(2), as the cgroup files want; the error names the file and the
// value, then `hint(errno)` when there is one for that errno.
void write_file(const std::string &path, const std::string &value,
                const std::function<std::string(int)> &hint = nullptr) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  int e = errno;
  ssize_t n = -1;
  if (fd >= 0) {
    n = write(fd, value.data(), value.size());
    e = n < 0 ? errno : EIO;
    close(fd);
  }
  if (n != static_cast<ssize_t>(value.size()))
    throw SysError(e, "write '" + value + "' to " + path + (hint ? hint(e) : ""));
}

void sleep_ms(int ms) {
  timespec ts{ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

// A mounted cgroup hierarchy.
struct Hierarchy {
  std::string mount;  // e.g. /sys/fs/cgroup/memory or /sys/fs/cgroup/unified
  bool v2 = false;
  std::vector<std::string> controllers;  // v1: bound to it; v2: available at its root (cgroup.controllers)
  bool has(const std::string &c) const {
    return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
  }
  std::string label() const { return v2 ? "cgroup v2" : "v1 " + join(controllers, ","); }
};

// The cgroup hierarchies of this mount namespace: the first mount of each
// (bind mounts of one hierarchy share its device number). Named v1
// hierarchies (name=systemd) have no controller and are left alone.
std::vector<Hierarchy> discover() {
  std::vector<Hierarchy> out;
  std::string info = read_file("/proc/self/mountinfo").value_or("");
  std::set<std::string> seen;
  for (size_t at = 0; at < info.size();) {
    size_t end = std::min(info.find('\n', at), info.size());
    auto w = words(info.substr(at, end - at));
    at = end + 1;
    auto dash = std::find(w.begin(), w.end(), "-");
    if (w.size() < 5 || dash == w.end() || w.end() - dash < 4) continue;
    const std::string &fstype = dash[1];
    if (fstype != "cgroup" && fstype != "cgroup2") continue;
    if (!seen.insert(w[2]).second) continue;
    Hierarchy h;
    h.mount = unescape(w[4]);
    h.v2 = fstype == "cgroup2";
    if (h.v2) {
      h.controllers = words(read_file(h.mount + "/cgroup.controllers").value_or(""));
    } else {
      std::string opts = dash[3];
      for (size_t start = 0; start <= opts.size();) {
        size_t end = std::min(opts.find(',', start), opts.size());
        std::string o = opts.substr(start, end - start);
        if (kV1Controllers.count(o)) h.controllers.push_back(o);
        start = end + 1;
      }
      if (h.controllers.empty()) continue;
    }
    out.push_back(std::move(h));
  }
  // v2 first: it is the main one (the fact, CLONE_INTO_CGROUP, cgroup.kill).
  std::stable_sort(out.begin(), out.end(), [](const Hierarchy &a, const Hierarchy &b) { return a.v2 && !b.v2; });
  return out;
}

// One value written into the instance's cgroup of one hierarchy.
struct Write {
  size_t hierarchy;
  std::string file, value;
};

// pids listed in <dir>/cgroup.procs.
std::vector<pid_t> procs(const std::string &dir) {
  std::vector<pid_t> out;
  for (auto &w : words(read_file(dir + "/cgroup.procs").value_or("")))
    out.push_back(static_cast<pid_t>(std::strtol(w.c_str(), nullptr, 10)));
  return out;
}

struct Cgroup {
  static constexpr const char *name = "cgroup";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "cgroup namespace and a cgroup per instance: memory, pids and cpu limits";
  static constexpr uint64_t clone_flag = CLONE_NEWCGROUP;
  // Its unshare(CLONE_NEWCGROUP) in on_child_setup needs CAP_SYS_ADMIN in the
  // child's user namespace: the user plugin's on_child_setup comes first.
  static constexpr const char *after[] = {"user", nullptr};

  std::string id;
  std::vector<Hierarchy> hier;
  std::vector<Write> writes;
  std::set<std::string> v2_controllers;  // to enable in the parents' cgroup.subtree_control
  std::set<size_t> required;             // hierarchies that carry a limit: failing there is an error

  bool prepared = false;
  bool into_cgroup = false;          // the first process is created in the v2 cgroup (CLONE_INTO_CGROUP)
  std::vector<std::string> created;  // instance directories made by this instance's on_prepare
  std::vector<std::string> to_move;  // directories the parent moves the first process into

  std::string dir(const Hierarchy &h) const { return h.mount + "/" + kParent + "/" + id; }
  std::optional<size_t> v2_index() const {
    for (size_t i = 0; i < hier.size(); ++i)
      if (hier[i].v2) return i;
    return std::nullopt;
  }

  // ---- configure: parse, choose v2 or v1 per limit, describe; no side effects.

  // Where `controller` lives: the v2 hierarchy when it has it, else its v1 hierarchy.
  size_t locate(nsrig::Context &c, const std::string &key, const std::string &controller) {
    for (size_t i = 0; i < hier.size(); ++i)
      if (hier[i].v2 && hier[i].has(controller)) return i;
    for (size_t i = 0; i < hier.size(); ++i)
      if (!hier[i].v2 && hier[i].has(controller)) return i;
    c.fail_at(
        key,
        "cannot be applied: " + controller + " controller not available: neither cgroup v2 " + controller + " (" +
            (v2_index() ? hier[*v2_index()].mount + "/cgroup.controllers lacks it" : std::string("no cgroup2 mount")) +
            ") nor a v1 " + controller + " hierarchy is mounted; remove " + key +
            ", or make the controller available (mount it, or drop cgroup_disable=" + controller +
            " from the kernel command line)");
  }

  void add(size_t h, const std::string &file, const std::string &value, const std::string &controller) {
    writes.push_back({h, file, value});
    required.insert(h);
    if (hier[h].v2) v2_controllers.insert(controller);
  }

  // The cgroup's name: the instance id and a hash of its state directory. Instance
  // names are unique per state directory only (NSRIG_STATE_DIR), while the cgroup
  // tree is shared by all: `nsrig rm` of a crashed record must never find, and kill,
  // a live instance of the same name recorded elsewhere.
  static std::string unique_name(nsrig::Context &c) {
    std::string dir = c.state_dir();
    uint32_t h = 2166136261u;  // FNV-1a 32
    for (unsigned char ch : dir) h = (h ^ ch) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", h);
    return c.instance_id() + "-" + std::string(hex, 6);
  }

  void configure(nsrig::Context &c) {
    // The instance's cgroups go under the root-owned nsrig/ of each hierarchy.
    if (geteuid() != 0)
      c.fail_at("", "needs root: it creates cgroups under /sys/fs/cgroup/.../nsrig; as an unprivileged user "
                    "drop the cgroup plugin, or run nsrig as root");
    id = c.instance_id();  // for explain; prepare adds the state directory's hash
    hier = discover();
    // Every key is read (and type-checked) before anything can fail on the host's state.
    auto mem = c.kind("memory_max"), pids = c.kind("pids_max"), cpu = c.kind("cpu_max");
    std::optional<std::string> mem_v, pids_v;
    std::optional<std::pair<std::string, int64_t>> cpu_v;  // quota ("max" or µs), period µs
    if (mem != NSRIG_CFG_NONE) mem_v = bytes_or_max(c, "memory_max");
    if (pids != NSRIG_CFG_NONE) pids_v = count_or_max(c, "pids_max");
    if (cpu != NSRIG_CFG_NONE) cpu_v = parse_cpu(c);

    if (hier.empty())
      throw std::runtime_error(
          "no cgroup filesystem is mounted (neither cgroup2 nor a v1 controller hierarchy in "
          "/proc/self/mountinfo); mount cgroup2 on /sys/fs/cgroup, or remove the cgroup "
          "[[namespace]]");
    if (mem_v) {
      size_t h = locate(c, "memory_max", "memory");
      add(h, hier[h].v2 ? "memory.max" : "memory.limit_in_bytes",
          hier[h].v2 || *mem_v != "max" ? *mem_v : std::string("-1"), "memory");
    }
    if (pids_v) {
      size_t h = locate(c, "pids_max", "pids");
      add(h, "pids.max", *pids_v, "pids");
    }
    if (cpu_v) {
      size_t h = locate(c, "cpu_max", "cpu");
      auto [quota, period] = *cpu_v;
      if (hier[h].v2) {
        add(h, "cpu.max", quota + " " + std::to_string(period), "cpu");
      } else {
        add(h, "cpu.cfs_period_us", std::to_string(period), "cpu");
        add(h, "cpu.cfs_quota_us", quota == "max" ? "-1" : quota, "cpu");
      }
    }
    describe(c);
  }

  static std::string bytes_or_max(nsrig::Context &c, const char *key) {
    if (c.kind(key) == NSRIG_CFG_STRING) {
      if (*c.string(key) != "max")
        c.fail_at(key, "must be a number of bytes (an integer, e.g. 536870912 for 512 MiB) or \"max\", not \"" +
                           *c.string(key) + "\"");
      return "max";
    }
    if (c.kind(key) != NSRIG_CFG_INT) c.fail_at(key, "must be a number of bytes (an integer) or \"max\"");
    int64_t v = *c.integer(key);
    if (v < 4096)
      c.fail_at(key, "must be at least 4096 bytes (one page; it is " + std::to_string(v) +
                         "); the kernel rounds the limit down to whole pages");
    return std::to_string(v);
  }

  static std::string count_or_max(nsrig::Context &c, const char *key) {
    if (c.kind(key) == NSRIG_CFG_STRING) {
      if (*c.string(key) != "max")
        c.fail_at(key, "must be an integer number of processes or \"max\", not \"" + *c.string(key) + "\"");
      return "max";
    }
    if (c.kind(key) != NSRIG_CFG_INT) c.fail_at(key, "must be an integer number of processes or \"max\"");
    int64_t v = *c.integer(key);
    constexpr int64_t kPidMaxLimit = 4194304;  // PID_MAX_LIMIT: the kernel refuses more in pids.max
    if (v < 1 || v > kPidMaxLimit)
      c.fail_at(key, "must be between 1 and " + std::to_string(kPidMaxLimit) + " (it is " + std::to_string(v) +
                         "); it counts every process and thread of the instance, nsrig's init included");
    return std::to_string(v);
  }

  // cpu_max = "QUOTA PERIOD" | "QUOTA" | "max" | "max PERIOD", in microseconds (cgroup v2 cpu.max).
  static std::pair<std::string, int64_t> parse_cpu(nsrig::Context &c) {
    const char *key = "cpu_max";
    auto s = c.string(key);  // ConfigError "must be a string" for other kinds
    auto w = words(*s);
    const std::string form =
        "; write \"QUOTA PERIOD\" in microseconds as in cgroup v2 cpu.max, e.g. \"50000 100000\" "
        "for half a CPU, or \"max\" / \"max PERIOD\" for no limit";
    if (w.empty() || w.size() > 2) c.fail_at(key, "\"" + *s + "\" is not a cpu.max value" + form);
    auto number = [&](const std::string &t, const char *what, int64_t lo, int64_t hi) -> int64_t {
      if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos)
        c.fail_at(key, std::string(what) + " '" + t + "' is not a whole number of microseconds" + form);
      int64_t v = std::stoll(t);
      if (v < lo || v > hi)
        c.fail_at(key, std::string(what) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                           " microseconds (it is " + t + ")" + form);
      return v;
    };
    // Kernel bounds (kernel/sched/core.c): period 1 ms to 1 s, quota at least 1 ms, at most 2^44-1 µs.
    int64_t period = w.size() == 2 ? number(w[1], "the period", 1000, 1000000) : 100000;
    std::string quota = w[0] == "max" ? "max" : std::to_string(number(w[0], "the quota", 1000, (int64_t{1} << 44) - 1));
    return {quota, period};
  }

  void describe(nsrig::Context &c) {
    bool has_into = NSRIG_HOST_HAS(c.host(), clone_into_cgroup);
    auto v2 = v2_index();
    if (v2 && !v2_controllers.empty()) {
      std::string plus;
      for (auto &ctl : v2_controllers) plus += (plus.empty() ? "+" : " +") + ctl;
      c.describe("on_prepare", "enable " + plus + " in " + hier[*v2].mount + "/cgroup.subtree_control and " +
                                   hier[*v2].mount + "/" + kParent + "/cgroup.subtree_control where missing");
    }
    for (size_t i = 0; i < hier.size(); ++i) {
      std::string what = "create " + dir(hier[i]) + " (" + hier[i].label() + ")";
      if (hier[i].v2 && has_into) what += "; the first process is created in it (CLONE_INTO_CGROUP)";
      c.describe("on_prepare", what);
      for (auto &w : writes)
        if (w.hierarchy == i) c.describe("on_prepare", "  write " + w.value + " to " + w.file);
    }
    std::vector<std::string> v1;
    for (size_t i = 0; i < hier.size(); ++i) {
      if (!hier[i].v2)
        v1.push_back(join(hier[i].controllers, ","));
      else if (!has_into)
        c.describe("on_parent_after_clone", "move the first process into " + dir(hier[i]) + " (cgroup.procs)");
    }
    if (!v1.empty())
      c.describe("on_parent_after_clone", "move the first process into " + std::string(kParent) + "/" + id +
                                              " of the v1 hierarchies " + join(v1, ", ") + " (cgroup.procs)");
    c.describe("on_child_setup",
               "unshare(CLONE_NEWCGROUP) now that the process is in its cgroups: "
               "/proc/self/cgroup shows / for every hierarchy");
    c.describe("on_teardown", "kill what is left in the instance's cgroups (" +
                                  std::string(v2 ? "cgroup.kill, else " : "") +
                                  "SIGKILL to each pid of cgroup.procs, "
                                  "at most " +
                                  std::to_string(kKillWaitMs / 1000) + " s), then rmdir them, and the " + kParent +
                                  " parents when no other instance uses them");
  }

  // ---- prepare: the directories and the limits.

  void enable_v2(const std::string &cg) {
    auto have = words(read_file(cg + "/cgroup.subtree_control").value_or(""));
    std::string plus;
    for (auto &ctl : v2_controllers)
      if (std::find(have.begin(), have.end(), ctl) == have.end()) plus += (plus.empty() ? "+" : " +") + ctl;
    if (!plus.empty())
      write_file(cg + "/cgroup.subtree_control", plus, [](int e) -> std::string {
        return e != EBUSY ? ""
                          : " (the cgroup has processes of its own: controllers can only be enabled for the "
                            "children of a cgroup without processes, the no-internal-process rule of cgroups(7))";
      });
  }

  // v1 cpuset: a new cgroup starts with no CPUs and no memory nodes, and takes no process until it has some.
  static void inherit_cpuset(const std::string &parent, const std::string &child) {
    for (const char *f : {"cpuset.cpus", "cpuset.mems"}) {
      auto mine = read_file(child + "/" + f);
      if (mine && !words(*mine).empty()) continue;
      auto from = read_file(parent + "/" + f).value_or("");
      if (!words(from).empty()) write_file(child + "/" + f, words(from)[0]);
    }
  }

  // mkdir <dir>; an empty one left by a crashed run of this id is replaced, one in use is an error.
  void make_dir(const std::string &d) {
    if (mkdir(d.c_str(), 0755) == 0) return;
    if (errno != EEXIST) fail("mkdir('" + d + "')");
    if (!procs(d).empty())
      throw std::runtime_error("cgroup " + d + " already exists and has processes: another instance has the id '" + id +
                               "'");
    if (rmdir(d.c_str()) != 0)
      fail("rmdir('" + d + "'), a stale cgroup of an earlier instance with the id '" + id + "'");
    if (mkdir(d.c_str(), 0755) != 0) fail("mkdir('" + d + "')");
  }

  // The parent (made if missing, controllers enabled), then the instance's
  // directory and its limits. The parent can vanish meanwhile (another
  // instance's teardown removes it when it is empty): then this starts over.
  void prepare_one(size_t i) {
    const Hierarchy &h = hier[i];
    std::string parent = h.mount + "/" + kParent, d = dir(h);
    for (int attempt = 1;; ++attempt) {
      try {
        if (h.v2 && !v2_controllers.empty()) enable_v2(h.mount);
        if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir('" + parent + "')");
        if (h.v2 && !v2_controllers.empty()) enable_v2(parent);
        if (h.has("cpuset")) inherit_cpuset(h.mount, parent);
        make_dir(d);
        break;
      } catch (const SysError &e) {
        if (e.err != ENOENT || exists(parent) || attempt == 5) throw;
      }
    }
    created.push_back(d);  // from here on, teardown removes it (and it keeps the parent alive)
    if (h.has("cpuset")) inherit_cpuset(parent, d);
    for (auto &w : writes)
      if (w.hierarchy == i) write_file(d + "/" + w.file, w.value);
  }

  void prepare(nsrig::Context &c) {
    id = unique_name(c);
    prepared = true;
    for (size_t i = 0; i < hier.size(); ++i) {
      try {
        prepare_one(i);
      } catch (const std::exception &e) {
        // A v1 hierarchy that carries no limit is for accounting only: go on without it.
        if (!hier[i].v2 && !required.count(i)) {
          c.warn(std::string("skipping the v1 ") + join(hier[i].controllers, ",") + " hierarchy: " + e.what());
          continue;
        }
        auto *se = dynamic_cast<const SysError *>(&e);
        if (!se || (se->err != EACCES && se->err != EPERM && se->err != EROFS)) throw;
        throw std::runtime_error(std::string(e.what()) + "; creating cgroups under " + hier[i].mount +
                                 " needs root (CAP_SYS_ADMIN) and a writable cgroup filesystem");
      }
      if (!hier[i].v2) to_move.push_back(dir(hier[i]));
    }
    if (auto v2 = v2_index()) {
      std::string d = dir(hier[*v2]);
      int fd = static_cast<int>(nsrig::check(open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC), "open('" + d + "')"));
      try {
        into_cgroup = c.clone_into_cgroup(fd);  // the host keeps a copy of the fd
      } catch (...) {
        close(fd);
        throw;
      }
      close(fd);
      if (!into_cgroup) to_move.insert(to_move.begin(), d);  // an older host: the parent moves it
      c.publish("cgroup", d);
    } else if (!created.empty()) {  // v1 only: the memory cgroup, else the first one
      std::string main = created.front();
      for (auto &h : hier)
        if (h.has("memory") && std::find(created.begin(), created.end(), dir(h)) != created.end()) main = dir(h);
      c.publish("cgroup", main);
    }
    c.debug("created " + join(created, ", "));
  }

  // ---- parent_after_clone: v1 (and v2 on an older host) by cgroup.procs, while the child waits.

  void parent_after_clone(nsrig::Context &c) {
    std::string pid = std::to_string(c.child_pid());
    for (auto &d : to_move) write_file(d + "/cgroup.procs", pid);
  }

  // ---- child_setup: a cgroup namespace rooted where the process is now.

  void child_setup(nsrig::Context &) {
    nsrig::check(unshare(CLONE_NEWCGROUP), "unshare(CLONE_NEWCGROUP) after moving into the instance's cgroups");
  }

  // ---- teardown: kill what is left, remove the directories.

  // Kills every process in `d` until cgroup.procs is empty; false after the deadline.
  static bool empty_out(const std::string &d, timespec deadline) {
    if (exists(d + "/cgroup.kill")) {
      int fd = open((d + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        ssize_t n = write(fd, "1", 1);
        (void)n;
        close(fd);
      }
    }
    for (;;) {
      auto left = procs(d);
      if (left.empty()) return true;
      for (pid_t p : left)
        if (p > 0 && p != getpid()) kill(p, SIGKILL);
      timespec now{};
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
        return false;
      sleep_ms(10);
    }
  }

  void teardown(nsrig::Context &c) {
    std::vector<std::string> dirs;
    if (!prepared) id = unique_name(c);  // nsrig rm after a crash: the same name prepare gave
    if (prepared) {
      dirs = created;  // only what this instance made: never another's cgroup
    } else {
      // `nsrig rm` of a crashed instance: on_prepare ran in another process; the names come from the id.
      for (auto &h : hier)
        if (exists(dir(h))) dirs.push_back(dir(h));
    }
    created.clear();  // a second teardown has nothing to do
    timespec deadline{};
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += kKillWaitMs / 1000;
    std::vector<std::string> errors;
    for (auto &d : dirs)  // the v2 directory first: it holds every process of the instance
      if (!empty_out(d, deadline)) {
        std::string left;
        for (pid_t p : procs(d)) left += (left.empty() ? "" : " ") + std::to_string(p);
        errors.push_back(d + " still has processes after " + std::to_string(kKillWaitMs / 1000) + " s: " + left);
      }
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      int waited = 0;
      while (rmdir(it->c_str()) != 0) {
        if (errno == ENOENT) break;
        if (errno != EBUSY || waited >= kRmdirWaitMs) {
          errors.push_back("rmdir('" + *it + "'): " + std::strerror(errno));
          break;
        }
        sleep_ms(10);
        waited += 10;
      }
    }
    // The parents, unless another instance uses them now (EBUSY). One that
    // is starting meanwhile makes them again (prepare_one).
    for (auto &h : hier)
      if (std::string p = h.mount + "/" + kParent; rmdir(p.c_str()) == 0) dirs.push_back(p);
    if (!errors.empty()) throw std::runtime_error(join(errors, "; "));
    if (!dirs.empty()) c.debug("removed " + join(dirs, ", "));
  }
};

}  // namespace

NSRIG_PLUGIN(Cgroup)
