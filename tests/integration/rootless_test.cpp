// Rootless runs: nsrig started by an unprivileged user (a user this suite
// creates and removes), with user, pid, mnt, uts, ipc and net namespaces and
// the overlay root. The binary and its plugins are copied to a directory that
// user can read, wherever the build tree is.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const char *kUser = "nsrig-rootless";

std::string mountinfo_targets() {
  std::ifstream f("/proc/self/mountinfo");
  std::string line, out;
  while (std::getline(f, line)) {
    std::istringstream s(line);
    std::string id, parent, dev, root, target;
    s >> id >> parent >> dev >> root >> target;
    out += target + "\n";
  }
  return out;
}

class Rootless : public ::testing::Test {
 protected:
  // ctest runs each test in its own process, two at a time: the user is created,
  // used and removed under one lock, so a process never removes it under another.
  // The lock is this test binary's own file, which every such process shares and
  // which is there anyway: no lock file is left behind in /tmp.
  static void SetUpTestSuite() {
    if (!is_root()) return;
    lock_ = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(lock_, 0);
    ASSERT_EQ(flock(lock_, LOCK_EX), 0);
    if (getpwnam(kUser) == nullptr) {
      // A normal (not --system) user gets /etc/subuid and /etc/subgid ranges from useradd.
      Result r = run({"/usr/sbin/useradd", "-M", "-U", "-s", "/usr/sbin/nologin", kUser});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      created_ = true;
    }
  }
  static void TearDownTestSuite() {
    if (const passwd *pw = getpwnam(kUser)) {  // the user's state base, left by its runs
      std::error_code ec;
      fs::remove_all("/tmp/nsrig-" + std::to_string(pw->pw_uid), ec);
    }
    if (created_) run({"/usr/sbin/userdel", kUser});
    created_ = false;
    if (lock_ >= 0) close(lock_);  // releases the flock
    lock_ = -1;
  }

  void SetUp() override {
    if (!is_root()) GTEST_SKIP() << "needs root: creates a user and runs nsrig as that user (CI runs as root)";
    const passwd *pw = getpwnam(kUser);
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    gid_ = pw->pw_gid;
    // The user's own copy of nsrig: bin/nsrig and lib/nsrig/plugins/*.so, readable by anyone.
    fs::create_directories(dir_.path() + "/bin");
    fs::create_directories(dir_.path() + "/lib/nsrig/plugins");
    fs::copy_file(NSRIG_BIN, dir_.path() + "/bin/nsrig");
    for (auto &e : fs::directory_iterator(NSRIG_PLUGIN_DIR))
      if (e.path().extension() == ".so") fs::copy_file(e.path(), fs::path(dir_.path()) / "lib/nsrig/plugins" / e.path().filename());
    fs::copy_file(std::string(NSRIG_EXAMPLES) + "/profiles/rootfs-overlay.toml", dir_.path() + "/rootfs-overlay.toml");
    for (auto &e : fs::recursive_directory_iterator(dir_.path())) chmod(e.path().c_str(), 0755);
    chmod(dir_.path().c_str(), 0755);
  }

  // nsrig as the unprivileged user, in an environment of its own (no XDG_RUNTIME_DIR:
  // its state goes to /tmp/nsrig-UID).
  Result as_user(const std::vector<std::string> &args) {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=" + std::to_string(uid_),
                                     "--regid=" + std::to_string(gid_), "--clear-groups", "--",
                                     "/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                     dir_.path() + "/bin/nsrig"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv);
  }

  std::string profile(const std::string &name, const std::string &text) {
    std::string p = dir_.write(name, text);
    chmod(p.c_str(), 0644);
    return p;
  }

  TempDir dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  static inline bool created_ = false;
  static inline int lock_ = -1;
};

TEST_F(Rootless, OverlayRootAllSixNamespacesUidZeroInside) {
  std::string marker = "/etc/nsrig-rootless-" + std::to_string(std::random_device{}());
  std::string before = mountinfo_targets();
  Result r = as_user({"run", "-p", dir_.path() + "/rootfs-overlay.toml", "--", "sh", "-c",
                      "id -u; cat /proc/self/uid_map; touch " + marker + " && echo wrote; hostname; "
                      "readlink /proc/self/ns/net /proc/self/ns/ipc; mount | grep -c ' type overlay '"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string uid, map, wrote, host;
  std::getline(out, uid);
  std::getline(out, map);
  std::getline(out, wrote);
  std::getline(out, host);
  EXPECT_EQ(uid, "0");
  EXPECT_THAT(map, ::testing::MatchesRegex(" *0 +" + std::to_string(uid_) + " +1"));  // the caller, as 0, alone
  EXPECT_EQ(wrote, "wrote");
  EXPECT_EQ(host, "overlay");
  EXPECT_FALSE(fs::exists(marker)) << "a write inside the overlay root reached the host";
  EXPECT_EQ(mountinfo_targets(), before) << "the rootless run changed the host's mount table";
  EXPECT_FALSE(fs::exists("/tmp/nsrig-" + std::to_string(uid_) + "/" + "mnt-root"));
  // Its state directory holds no instance any more.
  std::error_code ec;
  for (auto &e : fs::directory_iterator("/tmp/nsrig-" + std::to_string(uid_), ec))
    ADD_FAILURE() << "left in the state dir: " << e.path();
}

TEST_F(Rootless, HostSeesTheCallersUidOnFilesWrittenToABindMount) {
  std::string data = dir_.path() + "/data";
  fs::create_directory(data);
  ASSERT_EQ(chown(data.c_str(), uid_, gid_), 0);
  auto p = profile("bind.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                                "[[namespace]]\ntype = \"net\"\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
                                "mounts = [{ type = \"bind\", source = \"" + data + "\", target = \"/data\", create = true }]\n");
  Result r = as_user({"run", "-p", p, "--", "sh", "-c", "echo hi > /data/f && stat -c %u /data/f"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Without the pid namespace, proc cannot be mounted, nor sysfs without the net
  // namespace: validate says so, and what to add, before anything exists.
  auto nopid = profile("nopid.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                                     "[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n");
  auto nonet = profile("nonet.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                                     "[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n");
  for (const char *cmd : {"validate", "run"}) {
    auto args = [&](const std::string &f) {
      return std::string(cmd) == "run" ? std::vector<std::string>{"run", "-p", f, "--", "true"}
                                       : std::vector<std::string>{"validate", f};
    };
    Result e = as_user(args(nopid));
    EXPECT_EQ(e.exit_code, 125) << cmd;
    EXPECT_THAT(e.err, HasSubstr("mounts /proc, which in a user namespace needs a pid namespace of its own: add "
                                 "[[namespace]] type = \"pid\", or set proc = false")) << cmd;
    Result s = as_user(args(nonet));
    EXPECT_EQ(s.exit_code, 125) << cmd;
    EXPECT_THAT(s.err, HasSubstr("mounts /sys, which in a user namespace needs a net namespace of its own")) << cmd;
  }
  EXPECT_EQ(r.out, "0\n");  // root inside
  struct stat st {};
  ASSERT_EQ(stat((data + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);  // the caller outside
  EXPECT_EQ(st.st_gid, gid_);
}

TEST_F(Rootless, SubordinateRangesGoThroughNewuidmap) {
  // useradd gave the user a range in /etc/subuid; newuidmap (package uidmap) writes it.
  std::ifstream sub("/etc/subuid");
  std::string line, start;
  while (std::getline(sub, line))
    if (line.starts_with(std::string(kUser) + ":")) start = line.substr(line.find(':') + 1, line.rfind(':') - line.find(':') - 1);
  ASSERT_FALSE(start.empty()) << "useradd gave " << kUser << " no range in /etc/subuid";
  std::ifstream subg("/etc/subgid");
  std::string gstart;
  while (std::getline(subg, line))
    if (line.starts_with(std::string(kUser) + ":")) gstart = line.substr(line.find(':') + 1, line.rfind(':') - line.find(':') - 1);
  ASSERT_FALSE(gstart.empty());
  auto p = profile("sub.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                               "uid_map = [{ inside = 0, outside = " + std::to_string(uid_) + ", count = 1 }, "
                               "{ inside = 1, outside = " + start + ", count = 1000 }]\n"
                               "gid_map = [{ inside = 0, outside = " + std::to_string(gid_) + ", count = 1 }, "
                               "{ inside = 1, outside = " + gstart + ", count = 1000 }]\n");
  Result r = as_user({"run", "-p", p, "--", "cat", "/proc/self/uid_map"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex(" *0 +" + std::to_string(uid_) + " +1\n *1 +" + start + " +1000\n"));

  // Ids outside the user's ranges: refused before anything is created (validate too), with the ranges it has.
  auto bad = profile("bad.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                                 "uid_map = [{ inside = 0, outside = " + std::to_string(uid_) + ", count = 1 }, "
                                 "{ inside = 1, outside = 1, count = 10 }]\n"
                                 "gid_map = [{ inside = 0, outside = " + std::to_string(gid_) + ", count = 1 }]\n");
  r = as_user({"validate", bad});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("bad.toml:4:55: user: 'uid_map[1]' maps outside ids 1-10, which are neither yours (" +
                               std::to_string(uid_) + ") nor in your ranges in /etc/subuid (" + start + "-"));
  // Links on the host need root: said by validate, not by a failed run.
  auto bridge = profile("bridge.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"net\"\n"
                                       "mode = \"bridge\"\n");
  r = as_user({"validate", bridge});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("net: 'mode' \"bridge\" creates links on the host and needs root"));
}

// /etc/hosts inside belongs to an unmapped id (nobody): hosts replaces it by rename.
TEST_F(Rootless, HostsPluginWritesInsideTheRootlessRoot) {
  auto p = profile("hosts.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"pid\"\n"
                                 "[[namespace]]\ntype = \"net\"\n"
                                 "[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
                                 "mounts = [{ type = \"tmpfs\", target = \"/tmp\" }]\n"
                                 "[[namespace]]\ntype = \"uts\"\nhostname = \"rootless1\"\n"
                                 "[[namespace]]\ntype = \"hosts\"\n");
  Result r = as_user({"run", "-p", p, "--", "sh", "-c", "grep rootless1 /etc/hosts; cat /etc/hostname"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "127.0.1.1\trootless1\nrootless1\n");
}

// What needs root says so at validate, not half-way through a run.
TEST_F(Rootless, ValidateSaysWhatNeedsRoot) {
  auto cg = profile("cg.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n[[namespace]]\ntype = \"cgroup\"\n");
  Result r = as_user({"validate", cg});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("cgroup: needs root: it creates cgroups under /sys/fs/cgroup"));
  auto tm = profile("tm.toml", "version = 1\n[[namespace]]\ntype = \"time\"\nboottime = 10\n");
  r = as_user({"validate", tm});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("tm.toml:2:1 (time): creating the profile's namespaces (the first: time) as an "
                               "unprivileged user needs a user namespace"));
  auto uts = profile("uts.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"x\"\n");
  r = as_user({"validate", uts});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("as an unprivileged user needs a user namespace: add [[namespace]] type = \"user\""));
  auto id = profile("id.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n"
                               "uid_map = [{ inside = 4294967295, outside = 0, count = 1 }]\n");
  r = as_user({"validate", id});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("'uid_map[0].inside' must be between 0 and 4294967294"));
}

TEST_F(Rootless, RootlessWithExplicitMapsIsAConfigError) {
  auto p = profile("both.toml", "version = 1\n[[namespace]]\ntype = \"user\"\nrootless = true\n"
                                "uid_map = [{ inside = 0, outside = 0, count = 1 }]\n");
  Result r = as_user({"validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("both.toml:4:12: user: 'rootless' is true, which maps you alone to uid/gid 0 inside, "
                               "so it cannot take uid_map or gid_map"));
  // Empty arrays in a later file are no maps: the composed profile is rootless.
  std::string clear = dir_.path() + "/only-me.toml";  // the example that does it
  fs::copy_file(std::string(NSRIG_EXAMPLES) + "/profiles/only-me.toml", clear);
  chmod(clear.c_str(), 0644);
  r = as_user({"run", "-p", p, "-p", clear, "--", "/bin/cat", "/proc/self/uid_map"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex(" *0 +" + std::to_string(uid_) + " +1\n"));
}

// As root with no maps, the user plugin maps every id nsrig's own namespace
// has to itself, read from /proc/self/uid_map and gid_map, and denies
// setgroups when nsrig's namespace does (user_namespaces(7)). Under
// `unshare -Ur` that is one line, "0 0 1", and setgroups is "deny".
TEST(RootlessLimits, RootInAUserNamespaceGetsItsOwnMapsAndSetgroups) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("u.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n");
  Result r = run({"/usr/bin/unshare", "-Ur", "/bin/sh", "-c",
                  std::string(NSRIG_BIN) + " --plugin-dir " + NSRIG_PLUGIN_DIR + " run -p " + p +
                      " -- cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::MatchesRegex(" *0 +0 +1\n *0 +0 +1\ndeny\n")) << r.out;
}

// ENOSPC from clone3(CLONE_NEWUSER): the user namespace limit, named with its value.
// Set to 0 inside a user namespace of the test's own (the host's limit is not touched).
TEST(RootlessLimits, UserNamespaceLimitHasItsOwnMessage) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("u.toml", "version = 1\n[[namespace]]\ntype = \"user\"\n");
  Result r = run({"/usr/bin/unshare", "-Ur", "/bin/sh", "-c",
                  "echo 0 > /proc/sys/user/max_user_namespaces && exec " + std::string(NSRIG_BIN) + " --plugin-dir " +
                      NSRIG_PLUGIN_DIR + " run -p " + p + " -- true"});
  EXPECT_EQ(r.exit_code, 125) << r.err;
  EXPECT_THAT(r.err, HasSubstr("clone3(CLONE_NEWUSER): No space left on device (the user namespace limit is reached "
                               "or 0: user.max_user_namespaces = 0"));
}

}  // namespace
