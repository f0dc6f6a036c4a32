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
//
// Compare ratios within one run (e.g. InProcess/all vs Floor/all); absolute
// times on shared VMs drift by tens of percent. Needs root.
#include <benchmark/benchmark.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
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

void floor_spawn(benchmark::State &state, bool exec) {
  const Case &c = kCases[state.range(0)];
  state.SetLabel(c.name);
  char *argv[] = {const_cast<char *>("/bin/true"), nullptr};
  char *envp[] = {nullptr};
  for (auto _ : state) {
    clone_args a{};
    a.flags = c.flags;
    a.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid == 0) {
      if (exec) execve(argv[0], argv, envp);
      _exit(0);
    }
    if (pid < 0) {
      state.SkipWithError("clone3 failed (needs root)");
      break;
    }
    int status;
    waitpid(static_cast<pid_t>(pid), &status, 0);
  }
}
void Floor(benchmark::State &s) { floor_spawn(s, true); }
void FloorExit(benchmark::State &s) { floor_spawn(s, false); }

std::string profile_text(const Case &c) {
  std::string t = "version = 1\n";
  for (const char *type : c.types)
    if (type) t += std::string("[[namespace]]\ntype = \"") + type + "\"\n";
  return t;
}

struct Loaded {
  std::string file;
  nsrig::Profile profile;
  nsrig::Registry registry{{NSRIG_PLUGIN_DIR}};
  std::unique_ptr<nsrig::Instance> inst;
  nsrig::Plan plan;
  explicit Loaded(const Case &c) : Loaded(c.name, profile_text(c)) {}
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

void cases(benchmark::internal::Benchmark *b) {
  for (int i = 0; i < static_cast<int>(std::size(kCases)); ++i) b->Arg(i);
}

}  // namespace

BENCHMARK(Floor)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(FloorExit)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(InProcess)->Apply(cases)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(NetMode)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(Load)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char **argv) {
  nsrig::log::init(nsrig::log::Level::warning, nsrig::log::Format::text);
  std::vector<char *> args(argv, argv + argc);
  std::string only_load = "--benchmark_filter=^Load$";
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
