// Detached instances (run -d, exec, ps, stop, kill, rm) and the main job:
// nginx and Apache httpd side by side. Run serially (they use the host's
// nsr* links and bridge). Each test keeps its state in a directory of its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <filesystem>
#include <fstream>
#include <regex>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const std::string kExamples = std::string(NSRIG_EXAMPLES) + "/profiles/";

struct Host {
  TempDir state;
  Result nsrig(const std::vector<std::string> &args) { return run_nsrig_in(state.path(), args); }
  std::string field(const std::string &name, const std::string &key) {
    std::smatch m;
    std::string j = nsrig({"inspect", name}).out;
    return std::regex_search(j, m, std::regex("\"" + key + "\": \"?([^\",\\n]*)")) ? m[1].str() : "";
  }
};


TEST(Instances, ExecSeesTheInstance) {
  REQUIRE_ROOT();
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\ninclude = [\"" + kExamples + "web-base.toml\"]\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"detached\"\n");
  Result r = h.nsrig({"run", "-d", "--name", "box", "-p", p, "--", "sleep", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "box\n");
  Result ps = h.nsrig({"exec", "box", "--", "ps", "-eo", "pid,comm"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_THAT(ps.out, HasSubstr("      1 nsrig-init\n      2 sleep\n"));
  EXPECT_EQ(std::count(ps.out.begin(), ps.out.end(), '\n'), 4) << ps.out;  // header, init, sleep, ps: nothing else
  EXPECT_EQ(h.nsrig({"exec", "box", "--", "hostname"}).out, "detached\n");
  EXPECT_EQ(h.nsrig({"exec", "box", "--", "findmnt", "-no", "FSTYPE", "/"}).out, "overlay\n");
  EXPECT_EQ(h.nsrig({"exec", "box", "--", "sh", "-c", "exit 7"}).exit_code, 7);
  EXPECT_EQ(h.nsrig({"exec", "box", "--", "no-such-cmd"}).exit_code, 127);
  Result nokey = h.nsrig({"exec", "-e", "=x", "box", "--", "true"});
  EXPECT_EQ(nokey.exit_code, 125);
  EXPECT_THAT(nokey.err, HasSubstr("--env '=x': use KEY=VALUE, with a KEY"));
  // nsrig ignores SIGPIPE, INT and QUIT itself; the command starts with every signal at its default.
  EXPECT_EQ(h.nsrig({"exec", "box", "--", "grep", "SigIgn", "/proc/self/status"}).out, "SigIgn:\t0000000000000000\n");
  Result list = h.nsrig({"ps"});
  EXPECT_THAT(list.out, ::testing::ContainsRegex("box +running +[0-9]+ +[0-9]+s +10\\.231\\.0\\.[0-9]+/24 +p.toml"));
  Result ns = h.nsrig({"ns", "--format", "json", "box"});
  for (const char *t : {"pid", "net", "uts", "mnt", "ipc", "user"})
    EXPECT_THAT(ns.out, HasSubstr(std::string("\"private\":true,\"type\":\"") + t + "\""));
  Result dup = h.nsrig({"run", "-d", "--name", "box", "-p", p, "--", "true"});
  EXPECT_EQ(dup.exit_code, 125);
  EXPECT_THAT(dup.err, HasSubstr("already exists (running)"));
  EXPECT_EQ(h.nsrig({"rm", "box"}).exit_code, 125);  // running: needs -f
  EXPECT_EQ(h.nsrig({"rm", "-f", "box"}).exit_code, 0);
  EXPECT_TRUE(fs::is_empty(h.state.path())) << sh("find " + h.state.path());
}

TEST(Instances, ExecWithATerminal) {
  REQUIRE_ROOT();
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\ninclude = [\"" + kExamples + "web-base.toml\"]\n");
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "term", "-p", p, "--", "sleep", "1000"}).exit_code, 0);
  bool restored = false;
  Result r = run_on_pty(nsrig_argv_in(h.state.path(), {"exec", "-it", "term", "--",
                                                      "sh", "-c", "tty; read line; echo got:$line; exit 3"}),
                        "hello\n", &restored);
  EXPECT_EQ(r.exit_code, 3) << r.out;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("/dev/pts/[0-9]+"));
  EXPECT_THAT(r.out, HasSubstr("got:hello"));
  EXPECT_TRUE(restored) << "the caller's terminal was left in raw mode";
  // Without -t, no terminal: tty says so; without -i, stdin is empty.
  Result plain = h.nsrig({"exec", "term", "--", "sh", "-c", "tty; cat | wc -c"});
  EXPECT_THAT(plain.out, HasSubstr("not a tty"));
  EXPECT_THAT(plain.out, HasSubstr("0\n"));
  EXPECT_EQ(h.nsrig({"rm", "-f", "term"}).exit_code, 0);
}

TEST(Instances, StopKillsAPayloadThatIgnoresSigterm) {
  REQUIRE_ROOT();
  Host h;
  TempDir d;
  std::string marker = d.path() + "/marker";
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"probe\"\n"
                             "marker = \"" + marker + "\"\n");
  ASSERT_EQ(h.nsrig({"run", "-d", "--rm", "--name", "stubborn", "-p", p, "--", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"})
                .exit_code, 0);
  ASSERT_TRUE(fs::exists(marker));
  auto start = std::chrono::steady_clock::now();
  Result s = h.nsrig({"stop", "-t", "1", "stubborn"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.exit_code, 0) << s.err;
  EXPECT_LT(took, std::chrono::seconds(2) + std::chrono::milliseconds(900));  // grace + 1 s, as promised
  EXPECT_FALSE(fs::exists(marker)) << "teardown did not run";
  EXPECT_THAT(h.nsrig({"ps"}).out, ::testing::Not(HasSubstr("stubborn")));
}

TEST(Instances, KilledSupervisorLeavesAStoppedInstanceThatRmCleans) {
  REQUIRE_ROOT();
  std::string links = nsr_links();
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\ninclude = [\"" + kExamples + "web-base.toml\"]\n");
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "orphan", "-p", p, "--", "sleep", "1000"}).exit_code, 0);
  fs::remove(p);  // rm must not need the profile file: the instance keeps its merged profile
  pid_t sup = std::stoi(h.field("orphan", "supervisor_pid"));
  ASSERT_GT(sup, 0);
  kill(sup, SIGKILL);
  for (int i = 0; i < 100 && h.nsrig({"ps"}).out.find("running") != std::string::npos; ++i) usleep(20000);
  EXPECT_THAT(h.nsrig({"ps"}).out, ::testing::ContainsRegex("orphan +stopped"));
  Result rm = h.nsrig({"rm", "orphan"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(nsr_links(), links) << "the bridge or a veth outlived rm";
  EXPECT_TRUE(fs::is_empty(h.state.path())) << sh("find " + h.state.path());
  EXPECT_EQ(sh("grep -c nsrig /proc/self/mountinfo || true"), "0\n");
}

// A start that cannot write its record (a full state directory) leaves no
// directory behind to block the name. The tmpfs is mounted in a private mount
// namespace of the test's own.
TEST(Instances, AStartWithoutARecordLeavesNoDirectory) {
  REQUIRE_ROOT();
  TempDir d;
  std::string state = d.path() + "/state";
  std::vector<std::string> argv = {"/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c",
                                   "mkdir -p \"$0\" && mount -t tmpfs -o size=64k,mode=700 none \"$0\" && "
                                   "dd if=/dev/zero of=\"$0/fill\" bs=4k count=100 2>/dev/null; "
                                   "NSRIG_STATE_DIR=\"$0\" \"$@\"; echo rc=$?; ls -A \"$0\"",
                                   state};
  for (auto &a : nsrig_argv({"run", "-d", "--name", "full1", "-p", kExamples + "minimal.toml", "--", "sleep", "5"}))
    argv.push_back(a);
  Result r = run(argv);
  EXPECT_EQ(r.out, "rc=125\nfill\n") << r.err;
  EXPECT_THAT(r.err, HasSubstr("No space left on device"));
}

TEST(Instances, FiftyStartStopCyclesLeaveNothing) {
  REQUIRE_ROOT();
  std::string links = nsr_links(), mounts = sh("cat /proc/self/mountinfo");
  int sleepers = count_processes("sleep 1000");
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\ninclude = [\"" + kExamples + "web-base.toml\"]\n");
  for (int i = 0; i < 50; ++i) {
    Result r = h.nsrig({"run", "-d", "--name", "cycle", "-p", p, "--", "sleep", "1000"});
    ASSERT_EQ(r.exit_code, 0) << "cycle " << i << ": " << r.err;
    Result s = h.nsrig({"stop", "-t", "2", "cycle"});
    ASSERT_EQ(s.exit_code, 0) << s.err;
    if (i == 0) {
      EXPECT_THAT(h.nsrig({"ps"}).out, ::testing::ContainsRegex("cycle +stopped \\(143\\)"));
    }
    ASSERT_EQ(h.nsrig({"rm", "cycle"}).exit_code, 0);  // a stopped instance stays listed until rm, as in docker
  }
  EXPECT_EQ(nsr_links(), links);
  EXPECT_EQ(sh("cat /proc/self/mountinfo"), mounts);
  EXPECT_TRUE(fs::is_empty(h.state.path())) << sh("find " + h.state.path());
  EXPECT_EQ(count_processes("sleep 1000"), sleepers);
}

TEST(Instances, ExecEntersAChrootRootToo) {
  REQUIRE_ROOT();
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n"
                             "root = { overlay = { lower = [\"/\"] } }\nchroot = true\n"
                             "mounts = [{ type = \"tmpfs\", target = \"/tmp\" }]\n");
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "ch", "-p", p, "--", "sleep", "1000"}).exit_code, 0);
  std::string marker = "/tmp/nsrig-chroot-escape-" + std::to_string(getpid());
  Result r = h.nsrig({"exec", "ch", "--", "sh", "-c", "echo x > " + marker + " && ls /proc | grep -c '^[0-9]'"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(marker)) << "exec wrote to the host's /tmp, not the instance's";
  EXPECT_EQ(r.out, "5\n");  // init, sleep, sh, ls, grep: the instance's /proc
  fs::remove(marker);
  EXPECT_EQ(h.nsrig({"rm", "-f", "ch"}).exit_code, 0);
}

TEST(Instances, StopAndRmWhileStarting) {
  REQUIRE_ROOT();
  Host h;
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n"
                             "[[hooks.prestart]]\npath = \"/bin/sleep\"\nargs = [\"sleep\", \"3\"]\n");
  Child starting(nsrig_argv_in(h.state.path(), {"run", "-d", "--rm", "--name", "slow", "-p", p, "--", "sleep", "1000"}));
  for (int i = 0; i < 100 && !fs::exists(h.state.path() + "/slow/state.json"); ++i) usleep(20000);
  Result rm = h.nsrig({"rm", "slow"});
  EXPECT_EQ(rm.exit_code, 125);
  EXPECT_THAT(rm.err, HasSubstr("is created; stop it first"));
  EXPECT_EQ(h.nsrig({"stop", "-t", "1", "slow"}).exit_code, 0);
  EXPECT_NE(starting.wait(), 0);  // the start was interrupted, not reported as running
  EXPECT_THAT(h.nsrig({"ps"}).out, ::testing::Not(HasSubstr("slow")));
  EXPECT_EQ(count_processes("sleep 1000"), 0);
}

TEST(Instances, CorruptOrHalfMadeStateCanBeRemoved) {
  Host h;
  fs::create_directories(h.state.path() + "/broken");
  { std::ofstream(h.state.path() + "/broken/state.json") << "{garbage"; }
  Result r = h.nsrig({"ps"});
  EXPECT_THAT(r.err, HasSubstr("unreadable instance state"));
  EXPECT_EQ(h.nsrig({"rm", "-f", "broken"}).exit_code, 0);
  fs::create_directories(h.state.path() + "/half");  // a run -d killed before its first write
  Result again = h.nsrig({"run", "-d", "--name", "half", "--", "true"});
  EXPECT_EQ(again.exit_code, 125);
  EXPECT_THAT(again.err, HasSubstr("nsrig rm -f half"));
  EXPECT_EQ(h.nsrig({"rm", "-f", "half"}).exit_code, 0);
  EXPECT_TRUE(fs::is_empty(h.state.path()));
  EXPECT_EQ(h.nsrig({"rm", "../x"}).exit_code, 125);  // names are checked by every command
}

// The main job, with assertions: nginx and httpd, each seeing only itself.
TEST(Instances, NginxAndHttpdSideBySide) {
  REQUIRE_ROOT();
  ASSERT_TRUE(fs::exists("/usr/sbin/nginx") && fs::exists("/usr/sbin/apache2"))
      << "nginx and apache2 are missing: scripts/install-deps.sh installs them";
  std::string links = nsr_links(), mounts = sh("cat /proc/self/mountinfo"), host = sh("hostname");
  std::string servers = sh("pgrep -x 'nginx|apache2' | wc -l");  // other sessions may run some
  Host h;
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "nginx", "-p", kExamples + "nginx.toml"}).exit_code, 0);
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "httpd", "-p", kExamples + "httpd.toml"}).exit_code, 0);
  std::map<std::string, std::string> addr, title = {{"nginx", "Welcome to nginx!"},
                                                     {"httpd", "Apache2 Debian Default Page: It works"}};
  for (std::string n : {"nginx", "httpd"}) {
    SCOPED_TRACE(n);
    addr[n] = h.field(n, "address").substr(0, h.field(n, "address").find('/'));
    Result ps = h.nsrig({"exec", n, "--", "ps", "-eo", "pid,comm"});
    EXPECT_THAT(ps.out, HasSubstr("  2 " + std::string(n == "nginx" ? "nginx" : "apache2")));
    EXPECT_THAT(ps.out, ::testing::Not(HasSubstr(n == "nginx" ? "apache2" : "nginx")));  // the other is invisible
    EXPECT_EQ(h.nsrig({"exec", n, "--", "hostname"}).out, n + "\n");
    Result get;
    for (int i = 0; i < 50; ++i) {
      get = run({"/usr/bin/curl", "-s", "--max-time", "2", "http://" + addr[n] + "/"});
      if (get.exit_code == 0) break;
      usleep(100000);
    }
    EXPECT_THAT(get.out, HasSubstr("<title>" + title[n] + "</title>"));
  }
  EXPECT_NE(addr["nginx"], addr["httpd"]);
  // Each instance reaches the other.
  EXPECT_THAT(h.nsrig({"exec", "nginx", "--", "curl", "-s", "--max-time", "5", "http://" + addr["httpd"] + "/"}).out,
              HasSubstr(title["httpd"]));
  // Every namespace type differs from the host's and from the other instance's.
  std::string ns_n = h.nsrig({"ns", "--format", "json", "nginx"}).out, ns_h = h.nsrig({"ns", "--format", "json", "httpd"}).out;
  for (const char *t : {"pid", "net", "uts", "mnt", "ipc", "user"}) {
    std::regex re(std::string("\"instance\":([0-9]+),\"private\":true,\"type\":\"") + t + "\"");
    std::smatch a, b;
    ASSERT_TRUE(std::regex_search(ns_n, a, re)) << t << ns_n;
    ASSERT_TRUE(std::regex_search(ns_h, b, re)) << t << ns_h;
    EXPECT_NE(a[1].str(), b[1].str()) << t;
  }
  EXPECT_EQ(sh("hostname"), host);
  EXPECT_EQ(h.nsrig({"stop", "nginx"}).exit_code, 0);
  EXPECT_EQ(h.nsrig({"stop", "httpd"}).exit_code, 0);
  EXPECT_EQ(h.nsrig({"rm", "nginx"}).exit_code, 0);
  EXPECT_EQ(h.nsrig({"rm", "httpd"}).exit_code, 0);
  EXPECT_EQ(sh("pgrep -x 'nginx|apache2' | wc -l"), servers);
  EXPECT_EQ(nsr_links(), links);
  EXPECT_EQ(sh("cat /proc/self/mountinfo"), mounts);
  EXPECT_TRUE(fs::is_empty(h.state.path())) << sh("find " + h.state.path());
}

}  // namespace

namespace {
// An instance started without a profile has no namespace of its own: exec just runs there.
TEST(Instances, ExecIntoAnInstanceWithoutNamespaces) {
  REQUIRE_ROOT();
  Host h;
  ASSERT_EQ(h.nsrig({"run", "-d", "--name", "plain", "--", "sleep", "1000"}).exit_code, 0);
  Result e = h.nsrig({"exec", "plain", "--", "echo", "inside"});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(e.out, "inside\n");
  EXPECT_EQ(h.nsrig({"rm", "-f", "plain"}).exit_code, 0);
}

// nsrig bench: repeated spawns of one loaded profile (its state dir made again each
// time), concurrent workers each an instance of its own, failures counted.
TEST(Bench, RepeatedAndConcurrentSpawnsAllSucceed) {
  REQUIRE_ROOT();
  std::string links = nsr_links();
  Host h;
  Result r = h.nsrig({"bench", "-p", kExamples + "rootfs-overlay.toml", "-n", "3", "--format", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"failures\": 0"));
  EXPECT_THAT(r.out, HasSubstr("\"spawns\": 3"));
  r = h.nsrig({"bench", "-p", kExamples + "net-bridge.toml", "-n", "6", "--concurrency", "3", "--format", "json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"failures\": 0"));
  EXPECT_THAT(r.out, HasSubstr("\"spawns\": 6"));
  // A profile that fails at spawn time: every spawn counted as failed, exit 125, the reason shown.
  TempDir d;
  auto bad = d.write("bad.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\nfail_in = \"child_setup\"\n");
  r = h.nsrig({"--plugin-dir", NSRIG_TEST_PLUGIN_DIR, "bench", "-p", bad, "-n", "4", "--concurrency", "2"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("4 of 4 spawns failed; the first: plugin 'probe' failed in on_child_setup"));
  EXPECT_EQ(nsr_links(), links);
  EXPECT_TRUE(fs::is_empty(h.state.path())) << sh("find " + h.state.path());
}
}  // namespace
