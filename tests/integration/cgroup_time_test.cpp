// The cgroup and time plugins on real cgroups and clocks. Needs root (CI is root).
// The cgroup tests work on cgroup v2, v1 and hybrid hosts: they find the
// hierarchies in /proc/self/mountinfo and the instance's cgroups in
// /proc/PID/cgroup, as seen from the host.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const std::string kLimits = std::string(NSRIG_EXAMPLES) + "/profiles/limits.toml";

std::string slurp(const std::string &path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<std::string> lines(const std::string &s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A mounted cgroup hierarchy: where, and its controllers ("" for v2).
struct Hierarchy {
  std::string mount;
  std::string controllers;  // v1: "memory", "cpu,cpuacct"...; v2: ""
};

std::vector<Hierarchy> hierarchies() {
  std::vector<Hierarchy> out;
  for (auto &l : lines(slurp("/proc/self/mountinfo"))) {
    std::istringstream in(l);
    std::vector<std::string> w;
    for (std::string x; in >> x;) w.push_back(x);
    auto dash = std::find(w.begin(), w.end(), "-");
    if (dash == w.end() || w.end() - dash < 4) continue;
    if (dash[1] == "cgroup2") out.push_back({w[4], ""});
    if (dash[1] == "cgroup") {
      std::string ctl;
      std::istringstream opts(dash[3]);
      for (std::string o; std::getline(opts, o, ',');)
        if (o != "rw" && o != "ro" && o.find('=') == std::string::npos && o != "clone_children" && o != "noprefix" &&
            o != "xattr")
          ctl += (ctl.empty() ? "" : ",") + o;
      if (!ctl.empty()) out.push_back({w[4], ctl});
    }
  }
  return out;
}

// The host paths of `pid`'s cgroups, keyed by the controllers field of /proc/PID/cgroup ("" for v2).
std::map<std::string, std::string> cgroup_dirs(pid_t pid) {
  std::map<std::string, std::string> out;
  auto hs = hierarchies();
  for (auto &l : lines(slurp("/proc/" + std::to_string(pid) + "/cgroup"))) {
    size_t a = l.find(':'), b = l.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctl = l.substr(a + 1, b - a - 1), path = l.substr(b + 1);
    if (ctl.find("name=") == 0) continue;
    for (auto &h : hs)
      if (h.controllers == ctl) out[ctl] = h.mount + path;
  }
  return out;
}

// Every place where a cgroup of instance `id` could be.
// The instance's cgroups: nsrig/<id>-<6 hex of its state dir> in every hierarchy.
std::vector<std::string> possible_dirs(const std::string &id) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto &h : hierarchies())
    for (auto &e : fs::directory_iterator(h.mount + "/nsrig", ec)) {
      std::string n = e.path().filename().string();
      if (n == id || (n.size() == id.size() + 7 && n.starts_with(id + "-"))) out.push_back(e.path().string());
    }
  return out;
}

std::string leftovers(const std::string &id) {
  std::string s;
  for (auto &d : possible_dirs(id))
    if (fs::exists(d)) s += d + " ";
  return s;
}

// The instance id, from the core's debug log.
std::string instance_id(const std::string &err) {
  std::smatch m;
  return std::regex_search(err, m, std::regex("instance ([a-z0-9_-]+): clone3 done")) ? m[1].str() : "";
}

double seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double first_number(const std::string &s) { return std::stod(s); }

// A program that prints CLOCK_MONOTONIC in seconds, or "" when none is installed.
std::string monotonic_printer() {
  if (access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3 -c 'import time; print(time.monotonic())'";
  if (run({"/usr/bin/perl", "-MTime::HiRes=clock_gettime,CLOCK_MONOTONIC", "-e", "1"}).exit_code == 0)
    return "/usr/bin/perl -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC -e 'printf \"%.3f\\n\", "
           "clock_gettime(CLOCK_MONOTONIC)'";
  return "";
}

const std::string kUserPidMnt = "[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                                "[[namespace]]\ntype = \"mnt\"\n";

// ---- cgroup ------------------------------------------------------------

// The limits land in the right files (v2 or v1, whichever has the controller),
// the payload's /proc/self/cgroup shows / everywhere, and teardown removes
// every directory of the instance.
TEST(Cgroup, LimitsAreWrittenAndTheCgroupsGoAway) {
  REQUIRE_ROOT();
  TempDir d;
  std::string go = d.path() + "/go";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\nmemory_max = 67108864\n"
                             "pids_max = 20\ncpu_max = \"50000 100000\"\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "sh", "-c",
                      "echo $$; cat /proc/self/cgroup; echo ready; while [ ! -e " + go + " ]; do sleep 0.05; done"}));
  ASSERT_TRUE(c.wait_for_line("ready")) << c.out();
  auto out = lines(c.out());
  pid_t pid = std::stoi(out.at(0));
  auto dirs = cgroup_dirs(pid);
  std::ofstream(go) << "";

  ASSERT_FALSE(dirs.empty());
  std::string id;
  for (auto &[ctl, dir] : dirs) {
    SCOPED_TRACE(ctl + " " + dir);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(dir, m, std::regex("/nsrig/([a-z0-9_-]+)$")));
    if (id.empty()) id = m[1];
    EXPECT_EQ(m[1].str(), id) << "one cgroup per instance, named after its id";
    EXPECT_TRUE(fs::is_directory(dir));
  }
  auto file = [&](const char *v2, const char *ctl, const char *v1) {
    if (dirs.count("") && fs::exists(dirs[""] + "/" + v2)) return trim(slurp(dirs[""] + "/" + v2));
    for (auto &[k, dir] : dirs)
      if (("," + k + ",").find(std::string(",") + ctl + ",") != std::string::npos) return trim(slurp(dir + "/" + v1));
    return std::string("(no ") + ctl + " cgroup)";
  };
  EXPECT_EQ(file("memory.max", "memory", "memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(file("pids.max", "pids", "pids.max"), "20");
  if (dirs.count("") && fs::exists(dirs[""] + "/cpu.max")) {
    EXPECT_EQ(trim(slurp(dirs[""] + "/cpu.max")), "50000 100000");
  } else {
    EXPECT_EQ(file("-", "cpu", "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(file("-", "cpu", "cpu.cfs_period_us"), "100000");
  }
  // Inside: every hierarchy's line ends in ":/".
  size_t n = 0;
  for (size_t i = 1; i < out.size() && out[i] != "ready"; ++i, ++n) EXPECT_THAT(out[i], ::testing::EndsWith(":/"));
  EXPECT_EQ(n, lines(slurp("/proc/self/cgroup")).size());

  EXPECT_EQ(c.wait(), 0);
  for (auto &[ctl, dir] : dirs) EXPECT_FALSE(fs::exists(dir)) << dir << " outlived the instance";
  EXPECT_EQ(leftovers(id), "");
}

TEST(Cgroup, ProcSelfCgroupIsRootWithUserAndPidNamespaces) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n" + kUserPidMnt + "[[namespace]]\ntype = \"cgroup\"\npids_max = 50\n");
  Result r = run_nsrig({"--log-level", "debug", "run", "-p", p, "--", "cat", "/proc/self/cgroup"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = lines(r.out);
  EXPECT_EQ(got.size(), lines(slurp("/proc/self/cgroup")).size()) << r.out;
  for (auto &l : got) EXPECT_THAT(l, ::testing::EndsWith(":/"));
  std::string id = instance_id(r.err);
  ASSERT_FALSE(id.empty()) << r.err;
  EXPECT_EQ(leftovers(id), "");
}

// nsrig exec joins the instance's cgroups too: what it starts counts against the
// limits and is killed with the instance.
TEST(Cgroup, ExecJoinsTheInstancesCgroups) {
  REQUIRE_ROOT();
  TempDir state, d;
  std::string name = "cgexec" + std::to_string(getpid());
  auto p = d.write("p.toml", "version = 1\n" + kUserPidMnt + "[[namespace]]\ntype = \"cgroup\"\npids_max = 50\n");
  Result r = run_nsrig_in(state.path(), {"run", "-d", "--name", name, "-p", p, "--", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Result e = run_nsrig_in(state.path(), {"exec", name, "--", "cat", "/proc/self/cgroup"});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  auto got = lines(e.out);
  EXPECT_FALSE(got.empty());
  for (auto &l : got) EXPECT_THAT(l, ::testing::EndsWith(":/")) << "exec'd command outside the instance's cgroup";
  EXPECT_EQ(run_nsrig_in(state.path(), {"rm", "-f", name}).exit_code, 0);
  EXPECT_EQ(leftovers(name), "");
}

// A bounded fork bomb: a loop that starts sleeps in the background stops
// when fork fails at pids_max, and never more than pids_max processes exist.
TEST(Cgroup, ForkBombStopsAtPidsMax) {
  REQUIRE_ROOT();
  TempDir d;
  std::string log = d.path() + "/count";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n"
                             "[[namespace]]\ntype = \"cgroup\"\npids_max = 10\n");
  // Counting /proc entries uses only shell builtins: no fork needed once the limit is reached.
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c",
                        "ok=0; while [ $ok -lt 40 ]; do sleep 30 & ok=$((ok+1)); n=0; "
                        "for e in /proc/[0-9]*; do n=$((n+1)); done; echo \"$ok $n\" > " + log + "; done"});
  auto last = lines(slurp(log));
  ASSERT_FALSE(last.empty()) << r.err;
  int started = 0, procs = 0;
  std::istringstream(last.back()) >> started >> procs;
  EXPECT_LT(started, 40) << "fork never failed: " << r.err;
  EXPECT_GE(started, 1);
  EXPECT_LE(started, 8) << "init and sh count too: 10 - 2";
  EXPECT_LE(procs, 10);
  EXPECT_NE(r.exit_code, 0) << "the shell goes on although fork failed";
  EXPECT_THAT(r.err, ::testing::AnyOf(HasSubstr("fork"), HasSubstr("Resource temporarily unavailable")));
}

// Without a pid namespace nothing kills what the payload leaves running:
// teardown does, through the cgroup, then removes it.
TEST(Cgroup, TeardownKillsWhatThePayloadLeftBehind) {
  REQUIRE_ROOT();
  TempDir d;
  std::string tag = "nsrig-cg-left-" + std::to_string(getpid());
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\n");
  Result r = run_nsrig({"--log-level", "debug", "run", "-p", p, "--", "sh", "-c",
                        "setsid sh -c 'sleep 1000; : " + tag + "' >/dev/null 2>&1 < /dev/null & echo started"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "started\n");
  for (int i = 0; i < 100 && count_processes(tag) > 0; ++i) usleep(20000);
  EXPECT_EQ(count_processes(tag), 0) << "a process of the instance outlived its teardown";
  std::string id = instance_id(r.err);
  ASSERT_FALSE(id.empty()) << r.err;
  EXPECT_EQ(leftovers(id), "");
}

// A detached instance whose supervisor was killed: `rm` runs the teardown
// from the id alone, kills the processes still in the cgroup, removes it.
TEST(Cgroup, RmAfterAKilledSupervisorCleansTheCgroups) {
  REQUIRE_ROOT();
  TempDir state, d;
  std::string name = "cgorphan" + std::to_string(getpid());
  std::string tag = "nsrig-cg-orphan-" + std::to_string(getpid());
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\npids_max = 100\n");
  Result r = run_nsrig_in(state.path(), {"run", "-d", "--name", name, "-p", p, "--", "sh", "-c",
                                         "sh -c 'sleep 1000; : " + tag + "' >/dev/null 2>&1 & exec sleep 1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string j = run_nsrig_in(state.path(), {"inspect", name}).out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(j, m, std::regex("\"cgroup\": \"([^\"]+)\""))) << j;
  std::string main = m[1];
  EXPECT_THAT(main, ::testing::MatchesRegex(".*/nsrig/" + name + "-[0-9a-f]{6}"));
  EXPECT_TRUE(fs::is_directory(main));
  ASSERT_TRUE(std::regex_search(j, m, std::regex("\"supervisor_pid\": ([0-9]+)"))) << j;
  kill(std::stoi(m[1]), SIGKILL);
  for (int i = 0; i < 100 && run_nsrig_in(state.path(), {"ps"}).out.find("running") != std::string::npos; ++i)
    usleep(20000);
  for (int i = 0; i < 100 && count_processes(tag) > 1; ++i) usleep(20000);
  EXPECT_EQ(count_processes(tag), 1) << "the background process should still be there before rm";
  Result rm = run_nsrig_in(state.path(), {"rm", name});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  for (int i = 0; i < 100 && count_processes(tag) > 0; ++i) usleep(20000);
  EXPECT_EQ(count_processes(tag), 0);
  EXPECT_EQ(leftovers(name), "");
}

// A pure cgroup v2 layout (cgroup2 on /sys/fs/cgroup, nothing else), made in
// a private mount namespace: on a hybrid host, v2 has no memory controller
// there, which must be a clear error; the instance itself works.
TEST(Cgroup, WorksWithOnlyCgroup2Mounted) {
  REQUIRE_ROOT();
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "needs unshare(1) (util-linux)";
  TempDir d;
  auto plain = d.write("plain.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\n");
  auto mem = d.write("mem.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\nmemory_max = 67108864\n");
  std::string nsrig;
  for (auto &a : nsrig_argv({})) nsrig += "'" + a + "' ";
  std::string tag = "nsrig-cg-v2-" + std::to_string(getpid());
  Result r = run({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                  "umount -R /sys/fs/cgroup 2>/dev/null; "
                  "mount -t cgroup2 none /sys/fs/cgroup || exit 99; "
                  "echo controllers: $(cat /sys/fs/cgroup/cgroup.controllers); " +
                      nsrig + "--log-level debug run -p " + plain + " -- sh -c 'cat /proc/self/cgroup; "
                      "sh -c \"sleep 1000; : " + tag + "\" >/dev/null 2>&1 &'; echo rc=$?; " +
                      nsrig + "run -p " + mem + " -- cat /proc/self/cgroup; echo rc=$?"});
  ASSERT_NE(r.exit_code, 99) << r.err;
  auto out = lines(r.out);
  ASSERT_GE(out.size(), 3u) << r.out << r.err;
  size_t i = 1;
  for (; i < out.size() && out[i].find("rc=") != 0; ++i) EXPECT_THAT(out[i], ::testing::EndsWith(":/"));
  ASSERT_LT(i, out.size()) << r.out;
  EXPECT_EQ(out[i - 1], "0::/");  // /proc/self/cgroup lists every hierarchy of the kernel, v2 last
  EXPECT_EQ(out[i], "rc=0") << r.err;
  bool v2_memory = out[0].find(" memory") != std::string::npos;
  if (v2_memory) {
    EXPECT_THAT(r.out, ::testing::EndsWith("0::/\nrc=0\n"));
  } else {
    EXPECT_THAT(r.out, ::testing::EndsWith("rc=125\n"));
    EXPECT_THAT(r.err, HasSubstr("mem.toml:4:14: cgroup: 'memory_max' cannot be applied: memory controller not "
                                 "available: neither cgroup v2 memory"));
  }
  for (int i = 0; i < 100 && count_processes(tag) > 0; ++i) usleep(20000);
  EXPECT_EQ(count_processes(tag), 0);
  std::string id = instance_id(r.err);
  ASSERT_FALSE(id.empty()) << r.err;
  EXPECT_EQ(leftovers(id), "");  // the same cgroup2 hierarchy is mounted on the host
}

TEST(Cgroup, BadValuesAreRefusedWithFileAndLine) {
  REQUIRE_ROOT();
  struct Case {
    std::string line, expect;
  };
  for (const Case &c : std::vector<Case>{
           {"memory_max = \"lots\"", "'memory_max' must be a number of bytes"},
           {"memory_max = 100", "'memory_max' must be at least 4096 bytes"},
           {"memory_max = true", "'memory_max' must be a number of bytes"},
           {"pids_max = 0", "'pids_max' must be between 1 and 4194304"},
           {"pids_max = \"lots\"", "'pids_max' must be an integer number of processes or \"max\""},
           {"cpu_max = \"10 100000\"", "'cpu_max' the quota must be between 1000 and"},
           {"cpu_max = \"50000 5\"", "'cpu_max' the period must be between 1000 and 1000000"},
           {"cpu_max = \"half\"", "'cpu_max' the quota 'half' is not a whole number"},
           {"cpu_max = 50000", "'cpu_max' must be a string"},
           {"memory_limit = 1", "memory_limit"},
       }) {
    SCOPED_TRACE(c.line);
    TempDir d;
    auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\n" + c.line + "\n");
    Result r = run_nsrig({"run", "-p", p, "--", "true"});
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_THAT(r.err, HasSubstr(p + ":4:"));
    EXPECT_THAT(r.err, HasSubstr(c.expect));
  }
}

TEST(Cgroup, ExplainShowsWhatWillBeCreatedAndWritten) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"cgroup\"\nmemory_max = 67108864\n"
                             "cpu_max = \"max\"\n");
  Result r = run_nsrig({"explain", p});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("create /[^ ]+/nsrig/[a-z0-9_-]+ \\("));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("write 67108864 to memory\\.(max|limit_in_bytes)"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("write (max 100000 to cpu\\.max|-1 to cpu\\.cfs_quota_us)"));
  EXPECT_THAT(r.out, HasSubstr("unshare(CLONE_NEWCGROUP)"));
  EXPECT_THAT(r.out, HasSubstr("then rmdir them"));
  EXPECT_THAT(r.out, HasSubstr("CLONE_NEWCGROUP|CLONE_PIDFD"));
}

// ---- time --------------------------------------------------------------

TEST(Time, BoottimeOffsetShowsInProcUptime) {
  REQUIRE_ROOT();
  for (const std::string &ns : {std::string(), kUserPidMnt}) {
    SCOPED_TRACE(ns.empty() ? "time alone" : "with user, pid and mnt");
    TempDir d;
    auto p = d.write("p.toml", "version = 1\n" + ns + "[[namespace]]\ntype = \"time\"\nboottime = 86400\n");
    double before = first_number(slurp("/proc/uptime"));
    Result r = run_nsrig({"run", "-p", p, "--", "cat", "/proc/uptime"});
    double after = first_number(slurp("/proc/uptime"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    double inside = first_number(r.out);
    EXPECT_GE(inside, before + 86400 - 1) << r.out;
    EXPECT_LE(inside, after + 86400 + 1) << r.out;
  }
}

TEST(Time, MonotonicAndNegativeOffsets) {
  REQUIRE_ROOT();
  std::string printer = monotonic_printer();
  if (printer.empty()) GTEST_SKIP() << "needs /usr/bin/python3 or perl's Time::HiRes to read CLOCK_MONOTONIC";
  // A negative offset may not take the clock below 0: at most what the host's boottime reads.
  int64_t back = std::min<int64_t>(60, static_cast<int64_t>(seconds(CLOCK_BOOTTIME)) - 5);
  for (const std::string &ns : {std::string(), kUserPidMnt}) {
    SCOPED_TRACE(ns.empty() ? "time alone" : "with user, pid and mnt");
    TempDir d;
    std::string boot = back > 0 ? "boottime = -" + std::to_string(back) + "\n" : "";
    auto p = d.write("p.toml", "version = 1\n" + ns + "[[namespace]]\ntype = \"time\"\nmonotonic = 3600\n" + boot);
    double mono0 = seconds(CLOCK_MONOTONIC), boot0 = first_number(slurp("/proc/uptime"));
    Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", printer + "; cat /proc/uptime"});
    double mono1 = seconds(CLOCK_MONOTONIC), boot1 = first_number(slurp("/proc/uptime"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto out = lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.out;
    double mono = first_number(out[0]), up = first_number(out[1]);
    EXPECT_GE(mono, mono0 + 3600 - 1) << r.out;
    EXPECT_LE(mono, mono1 + 3600 + 1) << r.out;
    if (back > 0) {
      EXPECT_GE(up, boot0 - back - 1) << r.out;
      EXPECT_LE(up, boot1 - back + 1) << r.out;
    }
  }
}

TEST(Time, OffsetsOutOfRangeAreRefused) {
  REQUIRE_ROOT();
  for (std::string line : {"boottime = -99999999999", "monotonic = 5000000000", "monotonic = \"1h\""}) {
    SCOPED_TRACE(line);
    TempDir d;
    auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"time\"\n" + line + "\n");
    Result r = run_nsrig({"run", "-p", p, "--", "true"});
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_THAT(r.err, HasSubstr(p + ":4:"));
    EXPECT_THAT(r.err, ::testing::ContainsRegex("must be (between|an integer)"));
  }
}

// ---- the example profile -----------------------------------------------

TEST(CgroupTime, LimitsExampleRuns) {
  REQUIRE_ROOT();
  double before = first_number(slurp("/proc/uptime"));
  Result r = run_nsrig({"--log-level", "debug", "run", "-p", kLimits, "--", "sh", "-c",
                        "cat /proc/self/cgroup; cat /proc/uptime"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines(r.out);
  ASSERT_GE(out.size(), 2u);
  for (size_t i = 0; i + 1 < out.size(); ++i) EXPECT_THAT(out[i], ::testing::EndsWith(":/"));
  EXPECT_GE(first_number(out.back()), before + 86400 - 1) << r.out;
  std::string id = instance_id(r.err);
  ASSERT_FALSE(id.empty()) << r.err;
  EXPECT_EQ(leftovers(id), "");
}

}  // namespace
