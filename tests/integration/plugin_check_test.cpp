// nsrig plugin-check: passes a good plugin, and catches the faults it exists to catch.
// Serial (nsrig_net_integration): it compares the host's mounts, links and cgroups before and after.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kProbe = std::string(NSRIG_TEST_PLUGIN_DIR) + "/probe.so";

TEST(PluginCheck, GoodPluginPassesEveryCheck) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("probe.toml", "marker = \"" + d.path() + "/marker\"\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("PASS  spawn: nothing left"));
  EXPECT_THAT(r.out, HasSubstr("PASS  teardown after failures"));
  EXPECT_THAT(r.out, HasSubstr("PASS  two instances at once"));
  EXPECT_THAT(r.out, HasSubstr("PASS  configure: bad values"));
  EXPECT_THAT(r.out, HasSubstr("PASS  payload: no leaked fds"));
  EXPECT_THAT(r.out, Not(HasSubstr("FAIL")));
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/marker"));
}

// A bad value in --config is reported at its file:line:column, like one in a profile.
TEST(PluginCheck, ABadConfigValueNamesItsFileAndLine) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("uts.toml", "# the checked plugin's table\nhostname = 5\n");
  Result r = run_nsrig({"plugin-check", std::string(NSRIG_PLUGIN_DIR) + "/uts.so", "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  configure                  " + cfg + ":2:12: uts: 'hostname' must be a string"));
  EXPECT_THAT(r.out, Not(HasSubstr("<profile>")));
}

// Not root, a namespace plugin's configure is checked under a rootless user
// namespace, as `nsrig run` would need one; what needs root is skipped, with why.
TEST(PluginCheck, NotRootChecksConfigureUnderAUserNamespace) {
  REQUIRE_ROOT();  // to become nobody
  std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
                                   NSRIG_BIN, "--plugin-dir", NSRIG_PLUGIN_DIR, "plugin-check",
                                   std::string(NSRIG_PLUGIN_DIR) + "/uts.so"};
  Result r = run(argv);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // skipped is not passed (README)
  EXPECT_THAT(r.out, HasSubstr(" passed, 0 failed, 0 warnings, 5 skipped"));
  EXPECT_THAT(r.out, HasSubstr("PASS  configure                  with an empty table, under a rootless user namespace"));
  EXPECT_THAT(r.out, HasSubstr("SKIP  spawn                      creating namespaces and cgroups needs root"));
  argv.back() = std::string(NSRIG_PLUGIN_DIR) + "/hosts.so";  // needs mnt with a root: no context given
  r = run(argv);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  configure                  plugin-check's empty table (no --config):1:1: hosts: "
                               "needs the mnt plugin"));
  EXPECT_THAT(r.out, HasSubstr("(give its settings with --config, the plugins it needs with -p PROFILE; if it "
                               "needs root, run plugin-check as root)"));
}

// A bundle is checked as a whole, and its siblings count as other plugins.
TEST(PluginCheck, ABundleIsCheckedAsAWhole) {
  REQUIRE_ROOT();
  const std::string k = std::string(NSRIG_BAD_BUNDLE_DIR) + "/k";
  Result dup = run_nsrig({"plugin-check", k + "2/alpha.so"});  // beta's descriptor says alpha too
  EXPECT_EQ(dup.exit_code, 1) << dup.out;
  EXPECT_THAT(dup.out, HasSubstr("FAIL  load "));
  EXPECT_THAT(dup.out, HasSubstr("its bundle holds two plugins named 'alpha'"));
  Result sibling = run_nsrig({"plugin-check", k + "6/alpha.so"});  // alpha loads; beta could not
  EXPECT_EQ(sibling.exit_code, 1) << sibling.out;
  EXPECT_THAT(sibling.out, HasSubstr("FAIL  bundle: members            entry 1: struct_size 8"));
  EXPECT_THAT(sibling.out, HasSubstr("FAIL  bundle: members            entry 1: name 'Bad Name' is not"));
  Result flag = run_nsrig({"--plugin-dir", k + "4", "plugin-check", k + "4/alpha.so"});  // both claim CLONE_NEWUTS
  EXPECT_EQ(flag.exit_code, 1) << flag.out;
  EXPECT_THAT(flag.out, HasSubstr("is also owned by " + k + "4/beta.so"));
  EXPECT_THAT(flag.out, HasSubstr("FAIL  bundle: members            entry 1: CLONE_NEWUTS is owned by 'alpha' too"));
  Result both = run_nsrig({"plugin-check", k + "5/alpha.so"});  // exports the single entry point too
  EXPECT_THAT(both.out, HasSubstr("WARN  exports                    both nsrig_plugin_bundle and nsrig_plugin_entry"));
  // The in-tree bundle: no warning that a sibling named in after/before is missing.
  Result hosts = run_nsrig({"plugin-check", std::string(NSRIG_PLUGIN_DIR) + "/hosts.so"});
  EXPECT_THAT(hosts.out, HasSubstr("PASS  bundle: members            9: "));
  EXPECT_THAT(hosts.out, Not(HasSubstr("is not on the plugin search path")));
  TempDir d;  // a member's symlink without its bundle
  std::filesystem::create_symlink("builtin.bundle", d.path() + "/pid.so");
  Result dangling = run_nsrig({"plugin-check", d.path() + "/pid.so"});
  EXPECT_EQ(dangling.exit_code, 125);
  EXPECT_THAT(dangling.err, HasSubstr("is a symlink to 'builtin.bundle', which is not a file"));
}

// An fd a configure keeps is a side effect, named with what it points at; a library
// a plugin holds open by its fd (the net plugin's netlink module) is not
// (ctest plugin_check.net_bridge, plugin_check.net_veth).
TEST(PluginCheck, AnFdKeptByConfigureFailsWithWhatItIs) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("probe.toml", "configure_fd = true\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, ::testing::ContainsRegex("FAIL  configure: no side effects 1 open fd\\(s\\) left behind: "
                                              "[0-9]+ \\(/dev/null\\)"));
}

TEST(PluginCheck, LeftoverAfterTeardownFails) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("probe.toml", "leak = true\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  spawn: nothing left"));
  EXPECT_THAT(r.out, HasSubstr("state file(s) left behind"));
  EXPECT_THAT(r.out, HasSubstr("/leaked"));
}

TEST(PluginCheck, FdLeakedIntoThePayloadFails) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("probe.toml", "leak_fd = true\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  payload: no leaked fds     the payload got fd"));
  EXPECT_THAT(r.out, HasSubstr("PASS  spawn: nothing left"));
}

// A process a hook started and left running is found wherever it was reparented.
TEST(PluginCheck, ProcessLeftByAHookFails) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("probe.toml", "sleeper = \"4242\"\n");  // sleep 1000 4242: the tag is a number of seconds too
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  spawn: nothing left        1 process started by a hook(s) left behind"));
  EXPECT_EQ(count_processes("sleep 1000 4242"), 0) << "the checker kills its worker's group at the end";
}

// A hook that crashes nsrig's own process, or hangs: reported, and nothing of the checker stays.
TEST(PluginCheck, CrashAndHangAreReported) {
  REQUIRE_ROOT();
  TempDir d;
  auto before = sh("ls /tmp | grep -c nsrig-check- || true");
  auto crash = d.write("crash.toml", "crash_prepare = true\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", crash});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  (checker)                  the checker died of signal 11"));
  auto hang = d.write("hang.toml", "hang = true\n");
  r = run_nsrig({"plugin-check", "--timeout", "3", kProbe, "--config", hang});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("the checker timed out after 3 s"));
  EXPECT_EQ(sh("ls /tmp | grep -c nsrig-check- || true"), before);
}

// Two checkers at once, one of them making cgroups: each compares only its own.
TEST(PluginCheck, TwoCheckersAtOnce) {
  REQUIRE_ROOT();
  TempDir d;
  auto cfg = d.write("cg.toml", "pids_max = 100\n");
  Child other(nsrig_argv({"plugin-check", std::string(NSRIG_PLUGIN_DIR) + "/cgroup.so", "--config", cfg}));
  Result r = run_nsrig({"plugin-check", std::string(NSRIG_PLUGIN_DIR) + "/uts.so"});
  EXPECT_EQ(other.wait(), 0) << other.out();
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(PluginCheck, SideEffectInConfigureFails) {
  const std::string touched = "/dev/shm/nsrig-plugin-check-test";
  std::filesystem::remove(touched);
  TempDir d;
  auto cfg = d.write("probe.toml", "configure_touch = \"" + touched + "\"\n");
  Result r = run_nsrig({"plugin-check", kProbe, "--config", cfg});
  std::filesystem::remove(touched);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("FAIL  configure: no side effects"));
  EXPECT_THAT(r.out, HasSubstr(touched));
}

TEST(PluginCheck, PluginThatCannotLoadFails) {
  Result r = run_nsrig({"plugin-check", std::string(NSRIG_BROKEN_PLUGIN_DIR) + "/broken_noentry.so"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("FAIL  load"));
  EXPECT_THAT(r.out, HasSubstr("no entry point 'nsrig_plugin_entry'"));
  r = run_nsrig({"plugin-check", "/nonexistent/x.so"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("'/nonexistent/x.so' is not a file"));
}

}  // namespace
