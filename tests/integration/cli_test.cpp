// The command line: errors before anything is created, explain, plugins, help.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

const std::string kMinimal = std::string(NSRIG_EXAMPLES) + "/profiles/minimal.toml";

TEST(Cli, LongHostnameFailsBeforeAnythingIsCreated) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"" + std::string(70, 'h') +
                                 "\"\n[[namespace]]\ntype = \"probe\"\nmarker = \"" + d.path() + "/m\"\n");
  for (const char *cmd : {"run", "validate"}) {
    std::vector<std::string> args = {cmd, std::string(cmd) == "run" ? "-p" : "", p};
    args.erase(std::remove(args.begin(), args.end(), ""), args.end());
    if (std::string(cmd) == "run") args.insert(args.end(), {"--", "true"});
    Result r = run_nsrig(args);
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_THAT(r.err, HasSubstr(p + ":4:12: uts: 'hostname' must be 1 to 64 bytes long (it is 70); shorten it"));
  }
  EXPECT_FALSE(std::filesystem::exists(d.path() + "/m"));
}

TEST(Cli, CyclicIncludeAndUnknownKey) {
  TempDir d;
  auto a = d.write("a.toml", "version = 1\ninclude = [\"b.toml\"]\n");
  d.write("b.toml", "version = 1\ninclude = [\"a.toml\"]\n");
  Result r = run_nsrig({"run", "-p", a, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("b.toml:2:12: include cycle"));
  auto u = d.write("u.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostnam = \"x\"\n");
  r = run_nsrig({"validate", u});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("u.toml:4:11: unknown key 'hostnam' for plugin 'uts'; did you mean 'hostname'?"));
}

TEST(Cli, ExplainPrintsResolvedProfileAndSteps) {
  Result r = run_nsrig({"explain", kMinimal});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("hostname = 'minimal'"));
  EXPECT_THAT(r.out, HasSubstr("# step plan"));
  auto at = [&](const std::string &s) { return r.out.find(s); };
  EXPECT_LT(at("on_configure           parent  user"), at("clone                  core"));
  EXPECT_LT(at("clone                  core"), at("on_parent_after_clone  parent  user"));
  EXPECT_LT(at("on_parent_after_clone  parent  user"), at("on_child_setup         child   mnt"));
  EXPECT_LT(at("on_child_setup         child   ipc"), at("exec                   child   pid"));
  // The mnt plugin lists every mount in order with its flags, under its child-side step.
  EXPECT_LT(at("on_child_setup         child   mnt"), at("mount proc on /proc (nosuid,nodev,noexec)"));
  EXPECT_LT(at("mount proc on /proc (nosuid,nodev,noexec)"), at("mount tmpfs on /tmp (nosuid,nodev, size=67108864,mode=1777)"));
  EXPECT_LT(at("mount tmpfs on /tmp"), at("on_child_setup         child   net"));
  // The plan is printed as comments: the whole output is a profile again.
  TempDir d;
  auto saved = d.write("explained.toml", r.out);
  Result v = run_nsrig({"validate", saved});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST(Cli, ValidateOk) {
  Result r = run_nsrig({"validate", kMinimal});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok: 1 file(s), 6 namespace plugin(s)"));
  // -p, as run takes profiles; not mixed with arguments.
  Result p = run_nsrig({"validate", "-p", kMinimal});
  EXPECT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(p.out, r.out);
  Result both = run_nsrig({"explain", kMinimal, "-p", kMinimal});
  EXPECT_EQ(both.exit_code, 125);
  EXPECT_THAT(both.err, HasSubstr("either as arguments or with -p, not both"));
}

TEST(Cli, PluginsListsTheSix) {
  Result r = run({NSRIG_BIN, "plugins"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const char *n : {"user ", "pid ", "mnt ", "net ", "uts ", "ipc "}) EXPECT_THAT(r.out, HasSubstr(n));
  EXPECT_THAT(r.out, HasSubstr("CLONE_NEWUSER"));
}

TEST(Cli, PluginsReportsRefusedFiles) {
  Result r = run({NSRIG_BIN, "--plugin-dir", NSRIG_BROKEN_PLUGIN_DIR, "plugins"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("broken_noentry.so refused: no entry point"));
  EXPECT_THAT(r.out, HasSubstr("user "));  // the good ones are still listed
}

TEST(Cli, HelpVersionAndUsageErrors) {
  for (const char *sub : {"run", "validate", "explain", "plugins"}) {
    Result r = run({NSRIG_BIN, sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_THAT(r.out, HasSubstr("Usage")) << sub;
  }
  Result v = run({NSRIG_BIN, "--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("plugin ABI 1"));
  EXPECT_EQ(run({NSRIG_BIN, "frobnicate"}).exit_code, 125);
  EXPECT_EQ(run({NSRIG_BIN}).exit_code, 125);
  Result nocmd = run_nsrig({"run", "-p", kMinimal});
  EXPECT_EQ(nocmd.exit_code, 0) << "minimal.toml has [process].argv = /bin/sh, which exits at EOF: " << nocmd.err;
}

TEST(Cli, NoCommandAnywhere) {
  TempDir d;
  Result r = run_nsrig({"run", "-p", d.write("p.toml", "version = 1\n")});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("no command to run"));
}

TEST(Cli, CommandArgumentsPassUntouched) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n");
  EXPECT_EQ(run_nsrig({"run", "-p", p, "--", "/bin/echo", "a", "-c", "--x", "--", "y"}).out, "a -c --x -- y\n");
  EXPECT_EQ(run_nsrig({"run", "-p", p, "/bin/echo", "a", "-c", "--", "y"}).out, "a -c -- y\n");
}

TEST(Cli, UnknownOptionAfterRunIsAUsageError) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n");
  for (std::vector<std::string> args : {std::vector<std::string>{"run", "-p", p, "--log-level", "debug", "--", "true"},
                                        std::vector<std::string>{"run", "--bogus", "--", "true"}}) {
    Result r = run_nsrig(args);
    EXPECT_EQ(r.exit_code, 125);
    EXPECT_THAT(r.err, HasSubstr("unknown option '"));
    EXPECT_THAT(r.err, HasSubstr("go before 'run'"));
  }
  Result v = run_nsrig({"validate", "--", p});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

// An empty --plugin-dir would have searched the current directory.
TEST(Cli, EmptyPluginDirIsAUsageError) {
  Result r = run({NSRIG_BIN, "--plugin-dir", "", "plugins"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("--plugin-dir: is empty"));
  EXPECT_EQ(r.out, "");
}

TEST(Cli, GlobalOptionAfterAnotherCommandSaysWhereItGoes) {
  Result r = run_nsrig({"plugins", "--plugin-dir", "/tmp"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("nsrig plugins: '--plugin-dir' is a global option: put it before 'plugins'"));
  r = run_nsrig({"ps", "--log-level=debug"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("'--log-level' is a global option: put it before 'ps'"));
  r = run_nsrig({"plugins", "extra"});  // other stray words: CLI11's own message
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("not expected: extra"));
}

TEST(Cli, JsonLogs) {
  TempDir d;
  Result r = run_nsrig({"--log-format", "json", "validate", d.write("p.toml", "version = 2\n")});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, ::testing::MatchesRegex(
                         "\\{\"level\":\"error\",\"msg\":\".*unsupported profile version.*\",\"ts\":\"[0-9T:.-]+Z\"\\}\n"));
}

}  // namespace

namespace {
// A state directory another user owns or can write to is refused: its records
// name profiles whose hooks `rm` would run as the caller.
TEST(Cli, UnsafeStateDirectoryIsRefused) {
  TempDir d;
  std::string open_dir = d.path() + "/open";
  std::filesystem::create_directory(open_dir);
  chmod(open_dir.c_str(), 01777);
  Result r = run_nsrig_in(open_dir, {"ps"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("is writable by group or others: run chmod go-w"));
  // A plugin that asks for its state directory in a run gets the same reason, after its own words.
  auto p = d.write("leak.toml", "version = 1\n[[namespace]]\ntype = \"probe\"\nleak = true\n");
  r = run_nsrig_in(open_dir, {"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("plugin 'probe' failed in on_prepare: cannot create the state directory: state "
                               "directory '" + open_dir + "' is writable by group or others: run chmod go-w '" +
                               open_dir + "'"));
  if (!is_root()) return;
  std::string theirs = d.path() + "/theirs";
  std::filesystem::create_directory(theirs);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  r = run_nsrig_in(theirs, {"rm", "x"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("is owned by uid 65534, not by you (uid 0): another user could plant instances"));
}
}  // namespace

namespace {
TEST(Cli, MissingArgumentIsNotAnUnknownCommand) {
  Result r = run_nsrig({"validate"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("nsrig validate: no profile given: nsrig validate PROFILE... (or -p PROFILE)"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("unknown command")));
  r = run_nsrig({"bogus"});
  EXPECT_THAT(r.err, HasSubstr("unknown command 'bogus'"));
  // "run" as an argument of another command does not make "--" the start of a command.
  r = run_nsrig({"inspect", "run", "--", "x"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("was not expected: x"));
}
}  // namespace

namespace {
// A required key reported missing next to an unread near-miss: the message names the typo.
TEST(Cli, MissingRequiredKeyNamesTheTypoNextToIt) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                             "uid_map = [{ insde = 0, outside = 0, count = 1 }]\n");
  Result r = run_nsrig({"validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("user: 'uid_map[0]' needs 'inside'"));
  EXPECT_THAT(r.err, HasSubstr("p.toml:4:22: 'uid_map[0].insde' is not a key of user; did you mean 'inside'?"));
}

// Keys configure never reached after an error are no typos: no "did you mean" for them.
TEST(Cli, KeysAfterAConfigureErrorAreNotCalledTypos) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                             "uid_map = [{ inside = 0, outside = 0, count = 4294967296 }]\n"
                             "gid_map = [{ inside = 0, outside = 0, count = 1 }]\n");
  Result r = run_nsrig({"validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("'uid_map[0].count' must be between 1 and 4294967295"));
  EXPECT_THAT(r.err, Not(HasSubstr("did you mean"))) << r.err;
  // Nor keys with another name, close to one the plugin reads ('mac' and 'mtu').
  auto q = d.write("q.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"veth\"\nmtu = 1\n"
                             "mac = \"02:00:00:00:00:01\"\n");
  Result net = run_nsrig({"validate", q});
  EXPECT_EQ(net.exit_code, 125);
  EXPECT_THAT(net.err, HasSubstr("'mtu' must be 68 to 65535"));
  EXPECT_THAT(net.err, Not(HasSubstr("did you mean"))) << net.err;
}
}  // namespace
