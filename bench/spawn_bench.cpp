// Spawn latency, measured with Google Benchmark.
//
//  Floor/*      clone3 with a set of CLONE_NEW* flags, child execve("/bin/true")
//               (or _exit(0) at once: FloorExit), parent waits. No nsrig code.
//  InProcess/*  nsrig's spawn API (core::run) with the plugins already loaded
//               and the profile already planned and configured: what a
//               service embedding nsrig pays per spawn. Per-phase times are
//               reported as counters (microseconds per spawn).
//  NetMode/*     spawn cost of net modes none, veth, bridge, cni over no net namespace.
//  Load         profile parse + merge, plugin loading, planning, configure.
//  BindMounts/N the mnt plugin alone with N bind mounts (1, 10, 100, 1000),
//               against mnt with none; counter per_mount_us.
//  Concurrency/C  C forked workers spawning the six at once; items_per_second
//               is spawns per second.
//  Plugins/K    the six plus K no-op plugins (0, 10, 50; bench/noop_plugin.cpp)
//               against the six alone; counters per_plugin_us (whole spawn)
//               and per_plugin_parent_hooks_us (the parent's hook loops). Runs last.
//
// Scaling cases time their subject interleaved with its base case, in the
// same process (manual time: the subject's spawns only), so drift hits both
// alike. Compare ratios within one run (e.g. InProcess/all vs Floor/all);
// absolute times on shared VMs drift by tens of percent. Needs root.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "error.hpp"
#include "instance.hpp"
#include "log.hpp"
#include "planner.hpp"
#include "spawner.hpp"

namespace {

struct Case {
  const char *name;
  uint64_t flags;
  const char *types[6];
};
const Case kCases[] = {
    {"none", 0, {}},
    {"user", CLONE_NEWUSER, {"user"}},
    {"pid", CLONE_NEWPID, {"pid"}},
    {"mnt", CLONE_NEWNS, {"mnt"}},
    {"net", CLONE_NEWNET, {"net"}},
    {"uts", CLONE_NEWUTS, {"uts"}},
    {"ipc", CLONE_NEWIPC, {"ipc"}},
    {"all", CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC,
     {"user", "pid", "mnt", "net", "uts", "ipc"}},
};

// One bare spawn: clone3 with the case's flags, the child execs /bin/true
// (or _exits), the parent waits. False when clone3 failed.
bool floor_once(const Case &c, bool exec) {
  char *argv[] = {const_cast<char *>("/bin/true"), nullptr};
  char *envp[] = {nullptr};
  clone_args a{};
  a.flags = c.flags;
  a.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &a, sizeof a);
  if (pid == 0) {
    if (exec) execve(argv[0], argv, envp);
    _exit(0);
  }
  if (pid < 0) return false;
  int status;
  waitpid(static_cast<pid_t>(pid), &status, 0);
  return true;
}

void floor_spawn(benchmark::State &state, bool exec) {
  const Case &c = kCases[state.range(0)];
  state.SetLabel(c.name);
  for (auto _ : state)
    if (!floor_once(c, exec)) {
      state.SkipWithError("clone3 failed (needs root)");
      break;
    }
}
void Floor(benchmark::State &s) { floor_spawn(s, true); }
void FloorExit(benchmark::State &s) { floor_spawn(s, false); }

// The case's plugins with their defaults; with `bare`, set to do no more than
// the floor's clone3 + exec where a key allows: the payload is PID 1 (pid
// init = false), no /proc is mounted (mnt proc = false), lo stays down (net
// loopback = false). The user plugin still writes uid_map and gid_map: a
// user namespace without them runs the payload as the overflow id.
std::string profile_text(const Case &c, bool bare = false) {
  std::string t = "version = 1\n";
  for (const char *type : c.types) {
    if (!type) continue;
    t += std::string("[[namespace]]\ntype = \"") + type + "\"\n";
    if (!bare) continue;
    std::string ty = type;
    if (ty == "pid") t += "init = false\n";
    if (ty == "mnt") t += "proc = false\n";
    if (ty == "net") t += "loopback = false\n";
  }
  return t;
}

struct Loaded {
  std::string file;
  nsrig::Profile profile;
  nsrig::Registry registry{{NSRIG_PLUGIN_DIR, NSRIG_NOOP_DIR}};
  std::unique_ptr<nsrig::Instance> inst;
  nsrig::Plan plan;
  explicit Loaded(const Case &c, bool bare = false)
      : Loaded(std::string(c.name) + (bare ? "-bare" : ""), profile_text(c, bare)) {}
  Loaded(const std::string &name, const std::string &text) {
    file = "/tmp/nsrig-bench-" + name + "-" + std::to_string(getpid()) + ".toml";
    std::ofstream(file) << text;
    nsrig::load_profiles({file}, profile);
    inst = std::make_unique<nsrig::Instance>(profile, registry, std::vector<std::string>{"/bin/true"});
    plan = nsrig::make_plan(*inst);
    inst->configure();
  }
  ~Loaded() {
    inst.reset();
    unlink(file.c_str());
  }
};

void InProcess(benchmark::State &state) {
  const Case &c = kCases[state.range(0)];
  state.SetLabel(c.name);
  Loaded l(c);
  std::map<std::string, double> phase_us;
  nsrig::Timings t;
  for (auto _ : state) {
    t.clear();
    if (nsrig::run(*l.inst, l.plan, &t) != 0) {
      state.SkipWithError("payload failed");
      break;
    }
    for (auto &[p, us] : t) phase_us[p] += static_cast<double>(us);
  }
  for (auto &[p, us] : phase_us)
    state.counters[p + "_us"] = benchmark::Counter(us, benchmark::Counter::kAvgIterations);
}

// The cost of each net mode, over the same spawn without a net namespace.
// The bridge case pays for creating and deleting the bridge every time (it
// is the only instance on it): the worst case, a first and last instance.
const char *const kNetModes[][2] = {
    {"no-netns", ""},
    {"none", "[[namespace]]\ntype = \"net\"\n"},
    {"veth", "[[namespace]]\ntype = \"net\"\nmode = \"veth\"\naddresses = [\"10.239.0.2/30\"]\n"
             "host_addresses = [\"10.239.0.1/30\"]\n"},
    {"bridge", "[[namespace]]\ntype = \"net\"\nmode = \"bridge\"\nbridge = \"nsrbench0\"\n"
               "subnet = \"10.239.1.0/24\"\n"},
    {"cni", "[[namespace]]\ntype = \"net\"\nmode = \"cni\"\nconflist = \"/tmp/nsrig-bench.conflist\"\n"},
};

// bridge + host-local from Debian's containernetworking-plugins; its bridge
// outlives the instances (CNI's way) and is deleted after the benchmark.
const char *kBenchConflist = R"({"cniVersion": "1.0.0", "name": "nsrbench",
  "plugins": [{"type": "bridge", "bridge": "nsrbcni0", "ipMasq": false,
    "ipam": {"type": "host-local", "dataDir": "/tmp/nsrig-bench-ipam", "ranges": [[{"subnet": "10.239.2.0/24"}]]}}]})";

void NetMode(benchmark::State &state) {
  const auto &m = kNetModes[state.range(0)];
  state.SetLabel(m[0]);
  bool cni = std::string(m[0]) == "cni";
  if (cni) {
    if (access("/usr/lib/cni/bridge", X_OK) != 0) {
      state.SkipWithError("containernetworking-plugins is not installed");
      return;
    }
    std::ofstream("/tmp/nsrig-bench.conflist") << kBenchConflist;
  }
  Loaded l(std::string("net-") + m[0], std::string("version = 1\n") + m[1]);
  for (auto _ : state) {
    try {
      if (nsrig::run(*l.inst, l.plan) != 0) throw nsrig::Error("payload failed");
    } catch (const nsrig::Error &e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  if (cni) {
    int ignored = std::system("ip link del nsrbcni0 2>/dev/null; rm -rf /tmp/nsrig-bench-ipam /tmp/nsrig-bench.conflist");
    (void)ignored;
  }
}

void Load(benchmark::State &state) {
  const Case &c = kCases[7];
  for (auto _ : state) {
    Loaded l(c);
    benchmark::DoNotOptimize(l.plan.steps.data());
  }
}

// ---- Scaling ---------------------------------------------------------------

// One spawn of `l`; its wall time in microseconds, or -1 after SkipWithError.
// `hooks_us` gets the parent-side hook phases' time (prepare,
// parent_after_clone, post_start, teardown: the core's loops over the
// plugins, little else), which vary far less than a whole spawn.
double timed_spawn(benchmark::State &state, Loaded &l, double &hooks_us) {
  nsrig::Timings t;
  auto start = std::chrono::steady_clock::now();
  try {
    if (nsrig::run(*l.inst, l.plan, &t) != 0) throw nsrig::Error("payload failed");
  } catch (const nsrig::Error &e) {
    state.SkipWithError(e.what());
    return -1;
  }
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
  for (auto &[phase, v] : t)
    if (phase == "prepare" || phase == "parent_after_clone" || phase == "post_start" || phase == "teardown")
      hooks_us += static_cast<double>(v);
  return us;
}

// nsrig::run against the floor of the same flags in one loop, which of the two
// goes first alternating, so that a machine getting busier or quieter during
// the run hits both alike (Floor and InProcess, run one after the other, do
// not have that guarantee). The time is nsrig's; floor_us the floor's mean;
// x_floor = nsrig's total over the floor's.
void InProcessVsFloor(benchmark::State &state) {
  const Case &c = kCases[state.range(0)];
  bool bare = state.range(1) != 0;
  state.SetLabel(std::string(c.name) + (bare ? ", bare" : ", defaults"));
  Loaded l(c, bare);
  double floor_sum = 0, nsrig_sum = 0, hooks_us = 0;
  bool nsrig_first = false;
  for (auto _ : state) {
    nsrig_first = !nsrig_first;
    double n = nsrig_first ? timed_spawn(state, l, hooks_us) : 0;
    if (n < 0) break;
    auto start = std::chrono::steady_clock::now();
    if (!floor_once(c, true)) {
      state.SkipWithError("clone3 failed (needs root)");
      break;
    }
    double f = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    if (!nsrig_first && (n = timed_spawn(state, l, hooks_us)) < 0) break;
    floor_sum += f;
    nsrig_sum += n;
    state.SetIterationTime(n / 1e6);
  }
  state.counters["floor_us"] = benchmark::Counter(floor_sum, benchmark::Counter::kAvgIterations);
  if (floor_sum > 0) state.counters["x_floor"] = nsrig_sum / floor_sum;
}

// Each iteration spawns `base` and `subject` (which goes first alternates);
// the benchmark's time is the subject's alone (UseManualTime). Counters:
// base_us, the base's mean; `per` = (subject - base) / units, the cost of
// one unit of what the subject adds, whole spawns; and with `hooks`,
// `per`_parent_hooks the same over the parent-side hook phases only. On a
// noisy machine a small difference over few iterations can come out
// negative; run longer.
void versus_base(benchmark::State &state, Loaded &base, Loaded &subject, int units, const std::string &per,
                 bool hooks = false) {
  double base_sum = 0, subject_sum = 0, base_hooks = 0, subject_hooks = 0;
  bool subject_first = false;
  for (auto _ : state) {
    subject_first = !subject_first;
    double s = subject_first ? timed_spawn(state, subject, subject_hooks) : 0;
    double b = s < 0 ? -1 : timed_spawn(state, base, base_hooks);
    if (!subject_first && b >= 0) s = timed_spawn(state, subject, subject_hooks);
    if (b < 0 || s < 0) break;
    base_sum += b;
    subject_sum += s;
    state.SetIterationTime(s / 1e6);
  }
  using benchmark::Counter;
  state.counters["base_us"] = Counter(base_sum, Counter::kAvgIterations);
  if (units <= 0) return;
  state.counters[per + "_us"] = Counter((subject_sum - base_sum) / units, Counter::kAvgIterations);
  if (hooks)
    state.counters[per + "_parent_hooks_us"] = Counter((subject_hooks - base_hooks) / units, Counter::kAvgIterations);
}

// A tree under /tmp for bind mounts: src/ and the targets t/0 ... t/N-1,
// made before the profile is configured (without a root of its own the mnt
// plugin never creates targets on the host) and removed afterwards. Every
// mount happens in the child's mount namespace, made private first, so none
// reaches the host; remove_all would fail on a leaked one (EBUSY).
struct BindTree {
  std::string dir;
  explicit BindTree(int n) {
    char tmpl[] = "/tmp/nsrig-bench-binds-XXXXXX";
    if (!mkdtemp(tmpl)) throw nsrig::Error(nsrig::errno_text("mkdtemp('/tmp/nsrig-bench-binds-XXXXXX')"));
    dir = tmpl;
    std::filesystem::create_directories(dir + "/src");
    std::filesystem::create_directories(dir + "/t");
    for (int i = 0; i < n; ++i) std::filesystem::create_directory(dir + "/t/" + std::to_string(i));
  }
  ~BindTree() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) std::fprintf(stderr, "spawn_bench: cannot remove %s: %s\n", dir.c_str(), ec.message().c_str());
  }
  std::string profile(int n) const {
    std::string t = "version = 1\n[[namespace]]\ntype = \"mnt\"\nmounts = [\n";
    for (int i = 0; i < n; ++i) {
      std::string target = dir + "/t/" + std::to_string(i);
      t += "  { type = \"bind\", source = \"" + dir + "/src\", target = \"" + target + "\" },\n";
    }
    return t + "]\n";
  }
};

void BindMounts(benchmark::State &state) {
  int n = static_cast<int>(state.range(0));
  BindTree tree(n);
  Loaded base("binds-base", tree.profile(0));
  Loaded subject("binds-" + std::to_string(n), tree.profile(n));
  versus_base(state, base, subject, n, "per_mount");
}

// The six namespace plugins, then `noops` no-op plugins (noop0 ...).
std::string plugins_profile(int noops) {
  std::string t = profile_text(kCases[7]);
  for (int i = 0; i < noops; ++i) t += "[[namespace]]\ntype = \"noop" + std::to_string(i) + "\"\n";
  return t;
}

// Registered last: the no-op libraries may stay mapped after their registry
// is gone, and clone3 copies every mapping into each child.
void Plugins(benchmark::State &state) {
  int k = static_cast<int>(state.range(0));
  Loaded base("plugins-base", plugins_profile(0));
  Loaded subject("plugins-" + std::to_string(k), plugins_profile(k));
  versus_base(state, base, subject, k, "per_plugin", true);
}

// C workers, forked with the six-namespace instance already loaded, each its
// own instance (id); one iteration is one round: every worker spawns once,
// at the same time, and the round ends when the last is done. Forked
// workers, not ->Threads(): clone3 called directly (not glibc's fork) in a
// multi-threaded process gives the child copies of locks another thread may
// hold (malloc's), and the child runs plugin code that allocates.
class Workers {
 public:
  Workers(Loaded &l, int n) {
    for (int i = 0; i < n; ++i) {
      int to[2], from[2];
      if (pipe2(to, O_CLOEXEC) != 0 || pipe2(from, O_CLOEXEC) != 0) throw nsrig::Error(nsrig::errno_text("pipe2"));
      pid_t pid = fork();
      if (pid < 0) throw nsrig::Error(nsrig::errno_text("fork of a bench worker"));
      if (pid == 0) {
        close(to[1]);
        close(from[0]);
        for (int fd : go_) close(fd);  // earlier workers' ends: their EOF must come from the parent alone
        for (int fd : done_) close(fd);
        serve(l, to[0], from[1]);
      }
      close(to[0]);
      close(from[1]);
      pids_.push_back(pid);
      go_.push_back(to[1]);
      done_.push_back(from[0]);
    }
  }
  ~Workers() {
    for (int fd : go_) close(fd);  // EOF: each worker exits
    for (int fd : done_) close(fd);
    for (pid_t p : pids_) waitpid(p, nullptr, 0);
  }
  Workers(const Workers &) = delete;
  Workers &operator=(const Workers &) = delete;

  /** One round; false when a worker's spawn failed (it printed why). */
  bool round() {
    char c = 'g';
    for (int fd : go_)
      if (write(fd, &c, 1) != 1) return false;
    bool ok = true;
    for (int fd : done_) ok &= read(fd, &c, 1) == 1 && c == '0';
    return ok;
  }

 private:
  [[noreturn]] static void serve(Loaded &l, int go, int done) {
    l.inst->id = nsrig::make_instance_id();  // names plugins derive from the id stay apart
    char c;
    while (read(go, &c, 1) == 1) {
      char r = '0';
      try {
        if (nsrig::run(*l.inst, l.plan) != 0) r = '1';
      } catch (const nsrig::Error &e) {
        std::fprintf(stderr, "spawn_bench worker %d: %s\n", getpid(), e.what());
        r = '1';
      }
      if (write(done, &r, 1) != 1) break;
    }
    _exit(0);
  }
  std::vector<pid_t> pids_;
  std::vector<int> go_, done_;
};

void Concurrency(benchmark::State &state) {
  int n = static_cast<int>(state.range(0));
  Loaded l("concurrency", plugins_profile(0));
  Workers w(l, n);
  for (auto _ : state)
    if (!w.round()) {
      state.SkipWithError("a worker's spawn failed (see its message above)");
      break;
    }
  state.SetItemsProcessed(state.iterations() * n);
}

void cases(benchmark::internal::Benchmark *b) {
  for (int i = 0; i < static_cast<int>(std::size(kCases)); ++i) b->Arg(i);
}
// InProcessVsFloor/I/0: the plugins' defaults; /I/1: bare (profile_text).
void cases_bare(benchmark::internal::Benchmark *b) {
  for (int i = 0; i < static_cast<int>(std::size(kCases)); ++i) b->Args({i, 0})->Args({i, 1});
}

}  // namespace

BENCHMARK(Floor)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(FloorExit)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(InProcess)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(InProcessVsFloor)->Apply(cases_bare)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(NetMode)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(Load)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BindMounts)->Arg(1)->Arg(10)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond)->UseManualTime();
BENCHMARK(Concurrency)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(Plugins)->Arg(0)->Arg(10)->Arg(50)->Unit(benchmark::kMicrosecond)->UseManualTime();

int main(int argc, char **argv) {
  nsrig::log::init(nsrig::log::Level::warning, nsrig::log::Format::text);
  std::vector<char *> args(argv, argv + argc);
  std::string only_load = "--benchmark_filter=^Load/";  // UseRealTime names it Load/real_time
  if (geteuid() != 0) {
    std::fprintf(stderr, "spawn_bench: not root, so only Load runs (creating namespaces needs root)\n");
    args.push_back(only_load.data());
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::AddCustomContext("kernel", [] {
    std::ifstream f("/proc/sys/kernel/osrelease");
    std::string s;
    std::getline(f, s);
    return s;
  }());
  benchmark::AddCustomContext("cpu", [] {
    std::ifstream f("/proc/cpuinfo");
    for (std::string l; std::getline(f, l);)
      if (l.starts_with("model name")) return l.substr(l.find(':') + 2);
    return std::string("unknown");
  }());
  benchmark::AddCustomContext("host_mounts", [] {
    std::ifstream f("/proc/self/mountinfo");
    int n = 0;
    for (std::string l; std::getline(f, l);) ++n;
    return std::to_string(n);
  }());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
