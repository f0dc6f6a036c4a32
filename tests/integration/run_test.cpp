// nsrig run on real namespaces, as a user runs it. Needs root (CI is root).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/msg.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;

namespace {

const std::string kMinimal = std::string(NSRIG_EXAMPLES) + "/profiles/minimal.toml";

std::string host_name() {
  char b[128] = {};
  gethostname(b, sizeof b - 1);
  return b;
}

size_t count(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(Run, MinimalExampleAsInTheIssue) {
  REQUIRE_ROOT();
  Result r = run_nsrig({"run", "-p", kMinimal, "--", "sh", "-c",
                    "hostname; cat /proc/self/uid_map; ls /proc | grep -c '^[0-9]'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string hostname, map, procs;
  std::getline(lines, hostname);
  std::getline(lines, map);
  std::getline(lines, procs);
  EXPECT_EQ(hostname, "minimal");
  EXPECT_THAT(map, ::testing::MatchesRegex(" *0 +0 +65536"));
  EXPECT_LE(std::stoi(procs), 4);  // init, sh, ls, grep
  EXPECT_GE(std::stoi(procs), 2);
}

// clone3 refused with ENOSYS, as seccomp profiles that predate it answer:
// the first process is made with clone(2) and the same flags. The cgroup
// plugin's placement (CLONE_INTO_CGROUP) has no clone(2) form, and EPERM is
// not a missing call: both fail saying so, with nothing left behind.
TEST(Run, Clone3RefusedFallsBackToClone) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                             "[[namespace]]\ntype = \"mnt\"\n[[namespace]]\ntype = \"uts\"\nhostname = \"viaclone\"\n");
  auto refused = [&](const char *rule, const std::string &profile) {
    auto argv = nsrig_argv({"run", "-p", profile, "--", "sh", "-c", "cat /proc/1/comm; hostname; id -u"});
    argv.insert(argv.begin(), {NSRIG_SECCOMP_ERRNO, rule, "--"});
    return run(argv);
  };
  Result r = refused("clone3=ENOSYS", p);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "nsrig-init\nviaclone\n0\n");
  Result cg = refused("clone3=ENOSYS", std::string(NSRIG_EXAMPLES) + "/profiles/limits.toml");
  EXPECT_EQ(cg.exit_code, 125);
  EXPECT_THAT(cg.err, HasSubstr("clone3 is refused"));
  EXPECT_THAT(cg.err, HasSubstr("(the cgroup plugin) needs it: allow clone3"));
  Result perm = refused("clone3=EPERM", p);
  EXPECT_EQ(perm.exit_code, 125);
  EXPECT_THAT(perm.err, HasSubstr("a seccomp profile or an LSM policy"));
}

TEST(Run, HostnameInsideDiffersHostUnchanged) {
  REQUIRE_ROOT();
  std::string before = host_name();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"nsrig-uts-test\"\n"
                             "domainname = \"example.test\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "hostname; domainname"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "nsrig-uts-test\nexample.test\n");
  EXPECT_EQ(host_name(), before);
}

TEST(Run, SysVQueueOfTheHostIsInvisibleInside) {
  REQUIRE_ROOT();
  key_t key = 0x4e535200 + (getpid() & 0xff);
  int id = msgget(key, IPC_CREAT | 0600);
  ASSERT_GE(id, 0);
  char hex[16];
  std::snprintf(hex, sizeof hex, "0x%08x", key);
  TempDir d;
  auto with = d.write("ipc.toml", "version = 1\n[[namespace]]\ntype = \"ipc\"\n");
  auto without = d.write("none.toml", "version = 1\n");
  Result in = run_nsrig({"run", "-p", with, "--", "cat", "/proc/sysvipc/msg"});
  Result host = run_nsrig({"run", "-p", without, "--", "cat", "/proc/sysvipc/msg"});
  msgctl(id, IPC_RMID, nullptr);
  ASSERT_EQ(in.exit_code, 0) << in.err;
  ASSERT_EQ(host.exit_code, 0) << host.err;
  std::string dec = std::to_string(key);
  EXPECT_THAT(host.out, HasSubstr(dec));  // control: the queue is visible without the plugin
  EXPECT_THAT(in.out, ::testing::Not(HasSubstr(dec)));
}

// mqueue = true: explain names the mount; run mounts it where /dev/mqueue is a
// directory. Where the instance's /dev is the host's and has none, the run
// fails before the namespaces are made; with a root of its own, mnt's
// dev = "minimal" makes one. The host's /dev is not touched: nsrig runs in a
// private mount namespace on an empty tmpfs /dev, with and without /dev/mqueue.
TEST(Run, MqueueMountIsExplainedAndAMissingDirectoryFailsEarly) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("mq.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\n[[namespace]]\ntype = \"ipc\"\nmqueue = true\n");
  Result e = run_nsrig({"explain", p});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_THAT(e.out, HasSubstr("mount a fresh mqueue filesystem on /dev/mqueue"));
  auto on_empty_dev = [&](const std::string &then, const std::vector<std::string> &args) {
    std::vector<std::string> argv = {"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c",
                                     "mount -t tmpfs none /dev && " + then + "exec \"$@\"", "sh"};
    for (auto &a : nsrig_argv(args)) argv.push_back(a);
    return run(argv);
  };
  const std::string count = "grep -c ' /dev/mqueue .* - mqueue ' /proc/self/mountinfo";
  Result r = on_empty_dev("mkdir /dev/mqueue && ", {"run", "-p", p, "--", "sh", "-c", count});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  Result f = on_empty_dev("", {"run", "--timings", "-p", p, "--", "true"});
  EXPECT_EQ(f.exit_code, 125);
  EXPECT_THAT(f.err, HasSubstr("plugin 'ipc' failed in on_prepare: mqueue = true, but the host has no /dev/mqueue "
                               "directory to mount it on"));
  // A root of its own with dev = "minimal" (the default with a root) has the
  // directory, whether the host has one or not.
  std::string root = d.path() + "/root";
  Result made = run({"/bin/sh", "-c", "set -e; r=" + root + "; mkdir -p $r/bin $r/dev $r/proc $r/sys; cp /bin/dash $r/bin/sh; "
                                      "cp /bin/grep $r/bin/; for f in $(ldd /bin/dash /bin/grep | grep -o '/[^ :]*' | "
                                      "sort -u); do cp --parents -L $f $r; done"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  auto q = d.write("mqr.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"" + root +
                                   "\"\n[[namespace]]\ntype = \"ipc\"\nmqueue = true\n");
  Result m = run_nsrig({"run", "-p", q, "--", "/bin/sh", "-c", count});
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_EQ(m.out, "1\n");
  auto none = d.write("mqn.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"" + root +
                                      "\"\ndev = \"none\"\n[[namespace]]\ntype = \"ipc\"\nmqueue = true\n");
  Result n = run_nsrig({"run", "-p", none, "--", "/bin/sh", "-c", "true"});  // the root's /dev is empty
  EXPECT_EQ(n.exit_code, 125);
  EXPECT_THAT(n.err, HasSubstr("(the instance's /dev has no mqueue directory: use mnt's dev = \"minimal\""));
  EXPECT_THAT(m.err, ::testing::Not(HasSubstr("mqueue")));
}

TEST(Run, InitIsPid1AndPayloadSeesOnlyTheInstance) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "cat /proc/1/comm; echo $$; ls /proc | grep -c '^[0-9]'"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "nsrig-init\n2\n4\n");  // init, sh, ls, grep
}

TEST(Run, InitFalseMakesPayloadPid1) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\ninit = false\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "echo $$"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
}

// Signals the caller ignored (nohup, a shell's background job) reach the
// payload at their defaults, with and without the pid init (which starts the
// payload vfork-style); nsrig's own SIGPIPE ignore does not leak either.
TEST(Run, PayloadStartsWithDefaultSignalDispositions) {
  REQUIRE_ROOT();
  TempDir d;
  auto with_init = d.write("i.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n");
  auto no_ns = d.write("n.toml", "version = 1\n");
  for (const auto &p : {with_init, no_ns}) {
    auto argv = nsrig_argv({"run", "-p", p, "--", "sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"});
    argv.insert(argv.begin(), {"/bin/sh", "-c", "trap '' HUP INT USR1 TERM; exec \"$@\"", "sh"});
    Result r = run(argv);
    ASSERT_EQ(r.exit_code, 0) << p << ": " << r.err;
    EXPECT_EQ(r.out, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n") << p;
  }
}

// Signals the caller ignores reach the payload at their default disposition,
// with and without the pid init, whatever the caller's supplementary groups
// (they once pushed SigIgn past the part of /proc/self/status that was read).
TEST(Run, DefaultSignalDispositionsWhateverTheCallersGroups) {
  REQUIRE_ROOT();
  TempDir d;
  auto with_init = d.write("i.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n");
  auto no_ns = d.write("n.toml", "version = 1\n");
  std::string groups;
  for (int n = 1; n <= 75; ++n) {
    groups += (groups.empty() ? "" : ",") + std::to_string(20000 + n);
    if (n < 40) continue;
    for (const auto &p : {with_init, no_ns}) {
      auto argv = nsrig_argv({"run", "-p", p, "--", "grep", "SigIgn", "/proc/self/status"});
      argv.insert(argv.begin(), {"/usr/bin/setpriv", "--groups", groups, "--", "/bin/sh", "-c",
                                 "trap '' HUP INT; exec \"$@\"", "sh"});
      Result r = run(argv);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      ASSERT_EQ(r.out, "SigIgn:\t0000000000000000\n") << n << " groups, " << p;
    }
  }
}

TEST(Run, ZombiesAreReaped) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n"
                             "mounts = [{ type = \"tmpfs\", target = \"/mnt\" }]\n");
  // The subshell exits at once, so its child is re-parented to PID 1; when
  // that orphan exits, only init can reap it. Wait (bounded) until its /proc
  // entry is gone; a zombie keeps it, in state Z.
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c",
                        "(sh -c 'echo $$ > /mnt/orphan; exec sleep 0.1' &); "
                        "while [ ! -s /mnt/orphan ]; do sleep 0.01; done; o=$(cat /mnt/orphan); "
                        "i=0; while [ -e /proc/$o ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; "
                        "if [ -e /proc/$o ]; then echo \"left: $(cut -d' ' -f3 /proc/$o/stat)\"; else echo reaped; fi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "reaped\n");
}

TEST(Run, SigtermToNsrigReachesThePayload) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "sh", "-c",
                      "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.05; done"}));
  ASSERT_TRUE(c.wait_for_line("ready")) << c.out();
  kill(c.pid(), SIGTERM);
  EXPECT_EQ(c.wait(), 7);
  EXPECT_THAT(c.out(), HasSubstr("got-term"));
}

TEST(Run, SignalDuringSetupStopsTheRunAndTearsDown) {
  REQUIRE_ROOT();
  TempDir d;
  std::string marker = d.path() + "/marker";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"probe\"\n"
                             "hang = true\nmarker = \"" + marker + "\"\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "true"}));
  ASSERT_TRUE(c.wait_for_line("hanging")) << c.out();
  ASSERT_TRUE(std::filesystem::exists(marker));
  kill(c.pid(), SIGTERM);
  EXPECT_EQ(c.wait(), 128 + SIGTERM);
  EXPECT_FALSE(std::filesystem::exists(marker)) << "teardown did not run";
}

TEST(Run, WithATerminal) {
  REQUIRE_ROOT();
  bool restored = false;
  Result r = run_on_pty(nsrig_argv({"run", "-it", "-p", kMinimal, "--", "sh", "-c",
                                    "tty; stty size; read line; echo got:$line; exit 4"}),
                        "typed\n", &restored);
  EXPECT_EQ(r.exit_code, 4) << r.out;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("/dev/pts/[0-9]+"));
  EXPECT_THAT(r.out, HasSubstr("got:typed"));
  EXPECT_TRUE(restored) << "the caller's terminal was left in raw mode";
  // With a root of its own (dev = "minimal": a devpts of the instance's own), the
  // slave is the one opened before clone3, by its host path.
  const std::string overlay = std::string(NSRIG_EXAMPLES) + "/profiles/rootfs-overlay.toml";
  Result own = run_on_pty(nsrig_argv({"run", "-it", "-p", overlay, "--", "sh", "-c",
                                      "test -t 0 && test -t 1 && echo term; read line; echo got:$line; exit 5"}),
                          "typed\n", &restored);
  EXPECT_EQ(own.exit_code, 5) << own.out;
  EXPECT_THAT(own.out, HasSubstr("term"));
  EXPECT_THAT(own.out, HasSubstr("got:typed"));
  Result d = run_nsrig({"run", "-d", "-t", "-p", kMinimal, "--", "true"});
  EXPECT_EQ(d.exit_code, 125);
  EXPECT_THAT(d.err, HasSubstr("-t with -d is not supported"));
  // -i without -t: stdin goes on, as it does without -i (docker run -i, for pipes); not with -d.
  Result piped = run({"/bin/sh", "-c", "echo piped | \"$0\" --plugin-dir \"$1\" run -i -p \"$2\" -- cat", NSRIG_BIN,
                      NSRIG_TEST_PLUGIN_DIR, kMinimal});
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, "piped\n");
  Result rk = run_nsrig({"run", "-d", "--rm", "--keep", "-p", kMinimal, "--", "true"});
  EXPECT_EQ(rk.exit_code, 125);
  EXPECT_THAT(rk.err, HasSubstr("--keep and --rm contradict each other"));
  Result di = run_nsrig({"run", "-d", "-i", "-p", kMinimal, "--", "true"});
  EXPECT_EQ(di.exit_code, 125);
  EXPECT_THAT(di.err, HasSubstr("-i with -d is not supported: a detached instance's stdin is /dev/null"));
}

// Without a pid namespace a payload's background process can outlive it and
// keep its terminal open and busy: nsrig drains for a while, then returns the
// payload's exit status without waiting for that process.
TEST(Run, WithATerminalDoesNotWaitForWhatOutlivesThePayload) {
  REQUIRE_ROOT();
  nsrig::test::TempDir d;
  auto profile = d.write("uts.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\n");
  const std::string marker = "nsrig-outliver-" + std::to_string(getpid());
  Result r = run_on_pty(nsrig_argv({"run", "-t", "-p", profile, "--", "sh", "-c",
                                    "setsid sh -c 'for i in $(seq 300); do echo bg; sleep 0.1; done' " + marker +
                                        " & sleep 0.5; echo fg; exit 3"}),
                        "", nullptr);
  int left = count_processes(marker);
  std::system(("pkill -f " + marker).c_str());
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, HasSubstr("fg"));
  EXPECT_GT(left, 0) << "the background process ended first: the test proves nothing";
}

TEST(Run, BenchReportsEverySpawn) {
  REQUIRE_ROOT();
  Result r = run_nsrig({"bench", "-p", kMinimal, "-n", "6", "--concurrency", "2", "--format", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"spawns\": 6"));
  EXPECT_THAT(r.out, HasSubstr("\"failures\": 0"));
  EXPECT_THAT(r.out, ::testing::ContainsRegex("\"p99_us\": [1-9][0-9]*"));
  EXPECT_THAT(r.out, HasSubstr("\"child_setup_exec\""));  // the phase breakdown
}

// --timings: the load, then every phase of the spawn in order, then their sum.
TEST(Run, TimingsListLoadAndEveryPhase) {
  REQUIRE_ROOT();
  Result r = run_nsrig({"run", "--timings", "-p", kMinimal, "--", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> phases;
  long long sum = 0, total = -1;
  std::istringstream in(r.err);
  for (std::string line; std::getline(in, line);) {
    char phase[64];
    long long us = 0;
    if (std::sscanf(line.c_str(), "nsrig timings: %63s %lld us", phase, &us) != 2) continue;
    if (std::string(phase) == "total") total = us;
    else phases.push_back(phase), sum += us;
  }
  EXPECT_EQ(phases, (std::vector<std::string>{"load", "prepare", "clone", "parent_after_clone", "child_setup_exec",
                                              "post_start", "wait", "teardown"}))
      << r.err;
  EXPECT_EQ(total, sum);
}

TEST(Run, ExitStatuses) {
  REQUIRE_ROOT();
  EXPECT_EQ(run_nsrig({"run", "-p", kMinimal, "--", "true"}).exit_code, 0);
  EXPECT_EQ(run_nsrig({"run", "-p", kMinimal, "--", "sh", "-c", "exit 3"}).exit_code, 3);
  EXPECT_EQ(run_nsrig({"run", "-p", kMinimal, "--", "sh", "-c", "kill -9 $$"}).exit_code, 137);
  TempDir d;
  auto none = d.write("none.toml", "version = 1\n");
  EXPECT_EQ(run_nsrig({"run", "-p", none, "--", "sh", "-c", "kill -9 $$"}).exit_code, 137);
}

TEST(Run, ExecFailures) {
  REQUIRE_ROOT();
  Result nf = run_nsrig({"run", "-p", kMinimal, "--", "no-such-command-xyz"});
  EXPECT_EQ(nf.exit_code, 127);
  EXPECT_EQ(count(nf.err, "no-such-command-xyz': command not found"), 1u) << nf.err;
  TempDir d;
  auto data = d.write("data.txt", "not a program\n");  // mode 0644: no execute bit
  auto uts = d.write("uts.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\n");  // keeps the host's /tmp
  Result ne = run_nsrig({"run", "-p", uts, "--", data});
  EXPECT_EQ(ne.exit_code, 126);
  EXPECT_EQ(count(ne.err, "cannot execute '" + data + "': Permission denied"), 1u) << ne.err;
}

TEST(Run, PayloadIsRootInsideWhenZeroIsMappedElsewhere) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                             "uid_map = [{ inside = 0, outside = 100000, count = 65536 }]\n"
                             "gid_map = [{ inside = 0, outside = 100000, count = 65536 }]\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"mapped\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "id -u; id -g; grep CapEff /proc/self/status; hostname"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n0\nCapEff:\t000001ffffffffff\nmapped\n");
}

TEST(Run, UserMapsAreWritten) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", R"(version = 1
[[namespace]]
type = "user"
uid_map = [{ inside = 0, outside = 100000, count = 1000 }, { inside = 1000, outside = 0, count = 1 }]
gid_map = [{ inside = 0, outside = 200000, count = 1000 }]
setgroups = "deny"
)");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex(" *0 +100000 +1000\n *1000 +0 +1\n *0 +200000 +1000\ndeny\n"));
}

// A plugin failing in each phase: exit 125, its message exactly once, the
// teardown ran (marker removed), no process of the instance left.
TEST(Run, FailureInEachPhaseLeavesNothing) {
  REQUIRE_ROOT();
  for (std::string phase : {"configure", "prepare", "parent_after_clone", "child_setup", "post_start"}) {
    SCOPED_TRACE(phase);
    TempDir d;
    std::string marker = d.path() + "/marker";
    std::string tag = "nsrig-sleeper-" + phase + std::to_string(getpid());
    auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                               "[[namespace]]\ntype = \"mnt\"\nmounts = [{ type = \"tmpfs\", target = \"/mnt\" }]\n"
                               "[[namespace]]\ntype = \"probe\"\nfail_in = \"" + phase + "\"\nmarker = \"" + marker +
                               "\"\nsleeper = \"" + tag + "\"\n");
    Result r = run_nsrig({"run", "-p", p, "--", "sleep", "1000", tag});
    EXPECT_EQ(r.exit_code, 125) << r.err;
    EXPECT_EQ(count(r.err, "probe failure in " + phase + " (requested)"), 1u) << r.err;
    EXPECT_EQ(count(r.err, "plugin 'probe' failed in on_" + phase), 1u) << r.err;
    EXPECT_FALSE(std::filesystem::exists(marker)) << "teardown did not undo on_prepare";
    for (int i = 0; i < 50 && count_processes(tag) > 0; ++i) usleep(20000);  // SIGKILL delivery is async
    EXPECT_EQ(count_processes(tag), 0) << "a process of the failed instance is still running";
  }
}

TEST(Run, TeardownFailureIsLoggedAndRunContinues) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\nfail_in = \"teardown\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "exit 4"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("plugin 'probe' failed in on_teardown"));
}

TEST(Run, MountsDoNotLeakToTheHost) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\n"
                             "mounts = [{ type = \"tmpfs\", target = \"" + d.path() + "\" }]\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "touch " + d.path() + "/inside && grep -c ' " + d.path() + " ' /proc/self/mountinfo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/inside"));
  EXPECT_TRUE(std::filesystem::exists(d.path() + "/p.toml"));
  std::ifstream mi("/proc/self/mountinfo");
  std::string all((std::istreambuf_iterator<char>(mi)), {});
  EXPECT_THAT(all, ::testing::Not(HasSubstr(" " + d.path() + " ")));
}

TEST(Run, OciHooksGetStateAndRunOnTheirSide) {
  REQUIRE_ROOT();
  TempDir d;
  std::string log = d.path() + "/hooks.log";
  auto hook = d.write("hook.sh", "#!/bin/sh\n{ printf '%s ' \"$1\"; cat; echo; } >> " + log + "\n");
  std::filesystem::permissions(hook, std::filesystem::perms::owner_all);
  std::string h;
  for (const char *stage : {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"})
    h += std::string("[[hooks.") + stage + "]]\npath = \"" + hook + "\"\nargs = [\"hook\", \"" + stage + "\"]\n";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"hooked\"\n" + h);
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(f, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_THAT(lines[0], ::testing::StartsWith("prestart {\"annotations\""));
  EXPECT_THAT(lines[0], HasSubstr("\"status\":\"created\""));
  EXPECT_THAT(lines[2], ::testing::StartsWith("createContainer "));
  EXPECT_THAT(lines[4], HasSubstr("\"status\":\"running\""));
  EXPECT_THAT(lines[5], ::testing::StartsWith("poststop "));
  EXPECT_THAT(lines[5], HasSubstr("\"status\":\"stopped\""));
}

TEST(Run, FailingPrestartHookAbortsAndTearsDown) {
  REQUIRE_ROOT();
  TempDir d;
  std::string marker = d.path() + "/marker";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\nmarker = \"" + marker + "\"\n"
                             "[[hooks.prestart]]\npath = \"/bin/false\"\n"
                             "[[hooks.poststop]]\npath = \"/bin/sh\"\nargs = [\"sh\", \"-c\", \"touch " + d.path() +
                             "/poststop-ran\"]\n");
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("hook /bin/false"));
  EXPECT_THAT(r.err, HasSubstr("exited with status 1"));
  EXPECT_FALSE(std::filesystem::exists(marker));
  EXPECT_TRUE(std::filesystem::exists(d.path() + "/poststop-ran"));
}

TEST(Run, CallerIgnoringSigchldDoesNotHang) {
  REQUIRE_ROOT();
  TempDir d;
  auto none = d.write("none.toml", "version = 1\n");
  auto pid = d.write("pid.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n");
  for (const auto &p : {none, pid}) {
    Result r = run(nsrig_argv({"run", "-p", p, "--", "sh", "-c", "echo hi; exit 5"}), true);
    EXPECT_EQ(r.exit_code, 5) << p << r.err;
    EXPECT_EQ(r.out, "hi\n");
  }
}

TEST(Run, PluginCrashingInTheChildIsAFailure) {
  REQUIRE_ROOT();
  TempDir d;
  std::string marker = d.path() + "/marker", started = d.path() + "/started";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\ncrash = true\nmarker = \"" + marker +
                             "\"\n[[hooks.poststart]]\npath = \"/bin/sh\"\nargs = [\"sh\", \"-c\", \"touch " + started + "\"]\n");
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("killed by signal 11"));
  EXPECT_THAT(r.err, HasSubstr("child-side plugins: probe"));
  EXPECT_FALSE(std::filesystem::exists(started)) << "poststart ran for an instance that never started";
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(Run, HookTimeoutKillsItsWholeProcessGroup) {
  REQUIRE_ROOT();
  TempDir d;
  std::string tag = "nsrig-hook-child-" + std::to_string(getpid());
  auto p = d.write("p.toml", "version = 1\n[[hooks.prestart]]\npath = \"/bin/sh\"\n"
                             "args = [\"sh\", \"-c\", \"sleep 1000 " + tag + " & sleep 1000\"]\ntimeout_ms = 300\n");
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("timed out after 300 ms"));
  for (int i = 0; i < 50 && count_processes(tag) > 0; ++i) usleep(20000);
  EXPECT_EQ(count_processes(tag), 0) << "the hook's own child outlived the timeout";
}

TEST(Run, HookThatDoesNotReadStdinStillTimesOut) {
  REQUIRE_ROOT();
  TempDir d;
  // A state JSON far larger than a pipe buffer, and a hook that never reads it.
  auto p = d.write("p.toml", "version = 1\nname = \"" + std::string(200000, 'a') +
                                 "\"\n[[hooks.prestart]]\npath = \"/bin/sleep\"\nargs = [\"sleep\", \"30\"]\n"
                                 "timeout_ms = 300\n");
  auto start = std::chrono::steady_clock::now();
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("timed out after 300 ms"));
  // Bounded, not a timing assertion: the hook would otherwise run for 30 s.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(Run, SigtermDuringAHookStopsTheRun) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[hooks.prestart]]\npath = \"/bin/sh\"\n"
                             "args = [\"sh\", \"-c\", \"echo in-hook; exec sleep 1000\"]\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "true"}));
  ASSERT_TRUE(c.wait_for_line("in-hook"));
  kill(c.pid(), SIGTERM);
  EXPECT_EQ(c.wait(), 125);
}

// Ctrl-C while a poststart hook runs: the hook is killed and the signal goes
// on to the payload, which has started, as it would a moment later.
TEST(Run, SigintDuringAPoststartHookReachesThePayload) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[hooks.poststart]]\npath = \"/bin/sh\"\n"
                             "args = [\"sh\", \"-c\", \"echo in-hook; exec sleep 1000\"]\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "sleep", "1000"}));
  ASSERT_TRUE(c.wait_for_line("in-hook"));
  kill(c.pid(), SIGINT);
  EXPECT_EQ(c.wait(), 128 + SIGINT);
}

TEST(Run, HookTimeout) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[hooks.prestart]]\npath = \"/bin/sleep\"\nargs = [\"sleep\", \"30\"]\n"
                             "timeout_ms = 100\n");
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("timed out after 100 ms"));
}

}  // namespace

namespace {
// A process a child-side hook starts gets the caller's signal mask, not the one
// nsrig blocks for its signalfd: SIGTERM reaches it.
TEST(Run, ProcessesStartedByChildHooksDoNotInheritBlockedSignals) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\nsleeper = \"4545\"\n");
  std::string cmd;  // output to /dev/null: the sleeper keeps whatever stdout it inherits
  for (auto &a : nsrig_argv({"run", "-p", p, "--", "true"})) cmd += "'" + a + "' ";
  ASSERT_EQ(sh(cmd + ">/dev/null 2>&1; echo $?"), "0\n");
  std::string pid = sh("pgrep -f 'sleep 1000 4545' | head -1");
  ASSERT_FALSE(pid.empty()) << "the probe's sleeper did not start";
  pid.pop_back();
  std::string blocked = sh("grep SigBlk /proc/" + pid + "/status");
  sh("kill -TERM " + pid);
  EXPECT_EQ(blocked, "SigBlk:\t0000000000000000\n");
  for (int i = 0; i < 100 && count_processes("sleep 1000 4545") > 0; ++i) usleep(20000);
  EXPECT_EQ(count_processes("sleep 1000 4545"), 0) << "SIGTERM did not end it";
}
}  // namespace
