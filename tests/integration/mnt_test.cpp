// The mnt plugin with roots of its own: overlay of the host's /, a directory
// root, read-only and masked paths, and targets that try to leave the root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

const std::string kOverlay = std::string(NSRIG_EXAMPLES) + "/profiles/rootfs-overlay.toml";

std::string slurp(const std::string &path) {
  std::ifstream f(path);
  return {std::istreambuf_iterator<char>(f), {}};
}

std::set<std::string> state_entries(const std::string &dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto &e : fs::directory_iterator(dir, ec)) out.insert(e.path().string());
  return out;
}


// A tiny root filesystem: dash as /bin/sh, cat, and the libraries they need.
std::string make_rootfs(const TempDir &d) {
  std::string r = d.path() + "/rootfs";
  Result res = run({"/bin/sh", "-c",
                    "set -e; r=" + r + "; mkdir -p $r/bin $r/proc $r/dev $r/tmp $r/etc $r/sys; "
                    "cp /bin/dash $r/bin/sh; cp /bin/cat /bin/ls $r/bin/; "
                    "for f in $(ldd /bin/dash /bin/cat /bin/ls | grep -o '/[^ :]*' | sort -u); do "
                    "cp --parents -L $f $r; done; echo inside-the-rootfs > $r/etc/marker"});
  EXPECT_EQ(res.exit_code, 0) << res.err;
  return r;
}

TEST(Mnt, OverlayRootKeepsTheHostUntouched) {
  REQUIRE_ROOT();
  std::string before = slurp("/proc/self/mountinfo");
  TempDir state;
  std::string name = "/etc/nsrig-inside-" + std::to_string(getpid());
  Result r = run_nsrig_in(state.path(), {"run", "-p", kOverlay, "--", "sh", "-c",
                        "touch " + name + " && cat " + name + " && findmnt -no FSTYPE /; id -u"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "overlay\n0\n");  // the root's filesystem type, then the uid inside
  EXPECT_FALSE(fs::exists(name)) << "a write inside the overlay root reached the host";
  EXPECT_EQ(slurp("/proc/self/mountinfo"), before) << "the host's mount table changed";
  EXPECT_EQ(state_entries(state.path()), std::set<std::string>{}) << "the instance's state dir was left behind";
}

TEST(Mnt, ReadonlyAndMaskedPathsHold) {
  REQUIRE_ROOT();
  Result r = run_nsrig({"run", "-p", kOverlay, "--", "sh", "-c",
                        "wc -c < /proc/timer_list; wc -c < /proc/keys; "
                        "if echo 1 > /proc/sys/kernel/domainname 2>/dev/null; then echo writable; else echo ro; fi; "
                        "ls /sys/firmware | wc -l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n0\nro\n0\n");
  // Control: the host's own files are not empty, so the check above can fail.
  EXPECT_GT(slurp("/proc/timer_list").size(), 0u);
}

TEST(Mnt, MinimalDev) {
  REQUIRE_ROOT();
  Result r = run_nsrig({"run", "-p", kOverlay, "--", "sh", "-c",
                        "ls /dev | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; "
                        "readlink /dev/ptmx /dev/fd; findmnt -no FSTYPE /dev/pts"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero \n4\nnull-ok\n"
                   "pts/ptmx\n/proc/self/fd\ndevpts\n");
}

// bwrap's --ro-bind / / --dev /dev: the host's / as a read-only root, with a
// minimal /dev whose nodes come from the host's /dev, which its tmpfs covers.
TEST(Mnt, HostRootReadonlyWithMinimalDev) {
  REQUIRE_ROOT();
  std::string mounts_before = slurp("/proc/self/mountinfo");
  Result r = run_nsrig({"run", "-p", std::string(NSRIG_EXAMPLES) + "/../bench/profiles/bwrap.toml", "--", "sh", "-c",
                        "echo x > /dev/null && echo null-ok; ls /dev | wc -l; touch /nsrig-ro-test 2>/dev/null || "
                        "echo refused"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "null-ok\n15\nrefused\n");
  EXPECT_FALSE(fs::exists("/nsrig-ro-test"));
  EXPECT_EQ(slurp("/proc/self/mountinfo"), mounts_before);
}

TEST(Mnt, DirectoryRootAndReadonly) {
  REQUIRE_ROOT();
  TempDir d;
  std::string root = make_rootfs(d);
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\nroot = \"" +
                                 root + "\"\nmounts = [{ type = \"tmpfs\", target = \"/tmp\" }]\n");
  Result r = run_nsrig({"run", "-p", p, "--", "/bin/sh", "-c", "cat /etc/marker; ls /; echo w > /tmp/t && cat /tmp/t"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("inside-the-rootfs\n"));
  EXPECT_THAT(r.out, HasSubstr("w\n"));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("usr\n")));  // the host's / has usr, the tiny root has not
  auto ro = d.write("ro.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"" + root + "\"\nreadonly = true\n");
  Result w = run_nsrig({"run", "-p", ro, "--", "/bin/sh", "-c", "echo x > /etc/new || echo refused"});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(w.out, HasSubstr("refused"));
  EXPECT_FALSE(fs::exists(root + "/etc/new"));
}

// A target is resolved as inside the instance (RESOLVE_IN_ROOT): an absolute
// symlink starts again at the root, a ".." stops there; neither reaches the host.
TEST(Mnt, SymlinksInTargetsResolveInsideTheRoot) {
  REQUIRE_ROOT();
  TempDir d;
  std::string root = make_rootfs(d);
  fs::create_directories(d.path() + "/outside");
  fs::create_directories(root + d.path() + "/outside");             // where /escape lands inside
  fs::create_directories(root + "/outside");                         // where /tmp/up lands inside
  fs::create_symlink(d.path() + "/outside", root + "/escape");       // absolute: the host's path, read inside
  fs::create_symlink("../../outside", root + "/tmp/up");             // relative, climbs past the root
  fs::create_directories(root + "/run/x");
  fs::create_symlink("/run", root + "/var-run");                     // as /var/run -> /run in many images
  for (auto [target, lands] : {std::pair<std::string, std::string>{"/escape", d.path() + "/outside"},
                               {"/tmp/up", "/outside"}, {"/var-run/x", "/run/x"}}) {
    SCOPED_TRACE(target);
    auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"" + root +
                                   "\"\nmounts = [{ type = \"tmpfs\", target = \"" + target + "\" }]\n");
    std::string before = slurp("/proc/self/mountinfo");
    Result r = run_nsrig({"run", "-p", p, "--", "/bin/sh", "-c",
                          "echo in > " + target + "/file && ls " + lands});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "file\n");  // written through the target, seen where it lands
    EXPECT_EQ(slurp("/proc/self/mountinfo"), before);
    EXPECT_FALSE(fs::exists(d.path() + "/outside/file")) << "the mount reached the host's directory";
    EXPECT_FALSE(fs::exists(root + lands + "/file")) << "the write went under the mount";
  }
}

TEST(Mnt, BindKindsMustMatchAndCreate) {
  REQUIRE_ROOT();
  TempDir d;
  std::string root = make_rootfs(d);
  auto file = d.write("file.txt", "bound-file\n");
  fs::create_directories(d.path() + "/dir");
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"" + root + "\"\nmounts = [\n"
                             "  { type = \"tmpfs\", target = \"/tmp\" },\n"
                             "  { type = \"bind\", source = \"" + file + "\", target = \"/etc/sub/new.txt\", "
                             "create = true, readonly = true },\n]\n");
  Result r = run_nsrig({"run", "-p", p, "--", "/bin/sh", "-c", "cat /etc/sub/new.txt; echo x > /etc/sub/new.txt || echo ro"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "bound-file\nro\n");
  EXPECT_TRUE(fs::exists(root + "/etc/sub/new.txt"));  // made inside the root, where the profile asked
  // Without a root, targets are host paths: they must exist, and are never created.
  auto nocreate = d.write("nc.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nmounts = [\n"
                                     "  { type = \"tmpfs\", target = \"" + d.path() + "/missing\", create = true },\n]\n");
  Result n = run_nsrig({"validate", nocreate});
  EXPECT_EQ(n.exit_code, 125);
  EXPECT_THAT(n.err, HasSubstr("needs a 'root': without one it would create the target on the host"));
  EXPECT_FALSE(fs::exists(d.path() + "/missing"));
  // root = "/" is the host's tree too.
  auto slash = d.write("sl.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"/\"\nsys = false\nmounts = [\n"
                                  "  { type = \"tmpfs\", target = \"" + d.path() + "/missing/sub\", create = true },\n]\n");
  for (const char *cmd : {"validate", "run"}) {
    std::vector<std::string> args = {cmd, slash};
    if (std::string(cmd) == "run") args = {"run", "-p", slash, "--", "true"};
    Result sr = run_nsrig(args);
    EXPECT_EQ(sr.exit_code, 125) << cmd;
    EXPECT_THAT(sr.err, HasSubstr("with root = \"/\" the root is the host's own tree, where it would create")) << cmd;
  }
  EXPECT_FALSE(fs::exists(d.path() + "/missing"));
  auto bad = d.write("bad.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nmounts = [\n"
                                 "  { type = \"bind\", source = \"" + file + "\", target = \"" + d.path() + "/dir\" },\n]\n");
  Result b = run_nsrig({"run", "-p", bad, "--", "true"});
  EXPECT_EQ(b.exit_code, 125);
  EXPECT_THAT(b.err, HasSubstr(bad + ":5:3: mnt: 'mounts[0]'"));  // the failing entry's place in the profile
  EXPECT_THAT(b.err, HasSubstr("source is a file, target is not: the kinds must match"));
}

TEST(Mnt, KeepLeavesTheUpperLayer) {
  REQUIRE_ROOT();
  TempDir d;
  std::string lower = make_rootfs(d);  // not "/": the kept upper dir must not lie inside a lower layer
  TempDir state;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"" +
                                 lower + "\"], keep = true } }\n");
  Result r = run_nsrig_in(state.path(),
                            {"--log-level", "info", "run", "-p", p, "--", "/bin/sh", "-c", "echo kept > /etc/kept-file"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto added = state_entries(state.path());
  ASSERT_EQ(added.size(), 1u) << r.err;
  EXPECT_EQ(slurp(*added.begin() + "/mnt-root/layer/upper/etc/kept-file"), "kept\n");
  EXPECT_THAT(r.err, HasSubstr("keeping the overlay's upper dir"));
  // Layers that overlap are refused by the kernel: the reason is shown, and nothing is kept.
  TempDir state2;
  auto bad = d.write("bad.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"" +
                                 lower + "\", \"" + lower + "/bin\"], keep = true } }\n");
  Result b = run_nsrig_in(state2.path(), {"run", "-p", bad, "--", "true"});
  EXPECT_EQ(b.exit_code, 125);
  EXPECT_THAT(b.err, HasSubstr("layers overlap"));
  EXPECT_EQ(state_entries(state2.path()), std::set<std::string>{});
}

}  // namespace

namespace {
// fsconfig takes at most 256 bytes per string: a longer stack of lower layers goes
// layer by layer ("lowerdir+"). The root is made (the run gets as far as the exec,
// which finds no /bin/true in these empty layers: 127, not a mount error).
TEST(Mnt, OverlayRootWithLongLowerStack) {
  REQUIRE_ROOT();
  TempDir d;
  std::string lowers;
  for (int i = 0; i < 4; ++i) {
    std::string dir = d.path() + "/sha256-" + std::string(64, static_cast<char>('a' + i));
    fs::create_directories(dir);
    lowers += (lowers.empty() ? "\"" : ", \"") + dir + "\"";
  }
  // and one layer whose own path is longer than 256 bytes (it goes by an fd)
  std::string deep = d.path() + "/" + std::string(120, 'x') + "/" + std::string(150, 'y');
  fs::create_directories(deep);
  lowers += ", \"" + deep + "\"";
  ASSERT_GT(lowers.size(), 256u);
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [" + lowers +
                                 "] } }\ndev = \"none\"\nproc = false\nsys = false\nmasked_paths = []\n"
                                 "readonly_paths = []\n");
  Result r = run_nsrig({"run", "-p", p, "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 127) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot execute '/bin/true': No such file or directory"));
}
// The registry resolves plugin paths with openat2(RESOLVE_NO_MAGICLINKS) as
// root; refused by seccomp, it falls back to its own walk and still loads.
TEST(SeccompFallback, PluginsLoadWhenOpenat2IsRefused) {
  REQUIRE_ROOT();
  for (const char *rule : {"openat2=ENOSYS", "openat2=EPERM"}) {
    std::vector<std::string> argv = nsrig_argv({"plugins"});
    argv.insert(argv.begin(), {NSRIG_SECCOMP_ERRNO, rule, "--"});
    Result r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << rule << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("CLONE_NEWUSER")) << rule;
  }
}

// Binds (the minimal /dev's nodes, masked files, read-only paths, the
// profile's binds) go by fds with open_tree and move_mount; refused, they are
// made with mount(2) instead, and the instance looks the same.
TEST(SeccompFallback, BindsWhenOpenTreeOrMoveMountIsRefused) {
  REQUIRE_ROOT();
  TempDir d;
  fs::create_directories(d.path() + "/data");
  std::ofstream(d.path() + "/data/f") << "bound\n";
  auto p = d.write("b.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\nroot = \"" +
                                 make_rootfs(d) + "\"\nmounts = [{ type = \"bind\", source = \"" + d.path() +
                                 "/data\", target = \"/data\", create = true, readonly = true }]\n");
  const std::string look = "cat /data/f; echo x > /dev/null && echo null-ok; ls /proc/sys > /dev/null && "
                           "(echo 1 > /proc/sys/kernel/domainname) 2>/dev/null || echo sys-ro; "
                           "(echo x > /data/g) 2>/dev/null || echo data-ro";
  const std::string want = "bound\nnull-ok\nsys-ro\ndata-ro\n";
  Result plain = run_nsrig({"run", "-p", p, "--", "/bin/sh", "-c", look});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, want);
  for (const char *rule : {"open_tree=ENOSYS", "open_tree=EPERM", "move_mount=EPERM", "mount_setattr=ENOSYS"}) {
    auto argv = nsrig_argv({"run", "-p", p, "--", "/bin/sh", "-c", look});
    argv.insert(argv.begin(), {NSRIG_SECCOMP_ERRNO, rule, "--"});
    Result r = run(argv);
    EXPECT_EQ(r.exit_code, 0) << rule << ": " << r.err;
    EXPECT_EQ(r.out, want) << rule;
  }
  EXPECT_FALSE(fs::exists(d.path() + "/data/g"));
}

// The mnt plugin resolves mount targets with openat2 too. Refused, it uses
// openat where the root is the host's "/" (nothing to leave), and refuses a
// root of the instance's own with a message that says why.
TEST(SeccompFallback, MountTargetsWhenOpenat2IsRefused) {
  REQUIRE_ROOT();
  TempDir d;
  auto host = d.write("h.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n");
  auto own = d.write("o.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n"
                               "root = \"" + make_rootfs(d) + "\"\n");
  for (const char *rule : {"openat2=ENOSYS", "openat2=EPERM"}) {
    auto with = [&](const std::string &p) {
      std::vector<std::string> argv = nsrig_argv({"run", "-p", p, "--", "/bin/sh", "-c", "cat /proc/1/comm"});
      argv.insert(argv.begin(), {NSRIG_SECCOMP_ERRNO, rule, "--"});
      return run(argv);
    };
    Result h = with(host);
    EXPECT_EQ(h.exit_code, 0) << rule << ": " << h.err;
    EXPECT_EQ(h.out, "nsrig-init\n") << rule;  // the instance's own /proc: its PID 1 is the pid plugin's init
    Result o = with(own);
    EXPECT_EQ(o.exit_code, 125) << rule;
    EXPECT_THAT(o.err, HasSubstr("beneath the instance's root")) << rule;
    EXPECT_THAT(o.err, HasSubstr("allow openat2, or use no root of the instance's own")) << rule;
  }
}

// mount_setattr (a read-only root) and move_mount (an overlay root) have no
// fallback: refused, the run fails saying by whom and what to change, and
// leaves no mount or state behind.
TEST(SeccompFallback, NewerMountCallsRefusedSayWhatToChange) {
  REQUIRE_ROOT();
  TempDir d;
  auto ro = d.write("ro.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"/\"\nreadonly = true\n");
  struct Case {
    const char *rule;
    std::string profile, says;
  } cases[] = {{"mount_setattr=ENOSYS", ro, "(mount_setattr is Linux 5.12) or by a seccomp profile: allow it, or set "
                                            "readonly = false"},
               {"move_mount=EPERM", kOverlay, "(move_mount is Linux 5.2) or by a seccomp profile: allow it, or use a "
                                              "directory root instead of an overlay"}};
  // A state directory of this test's own: /run/nsrig is shared with the tests ctest runs alongside.
  TempDir state;
  for (const auto &c : cases) {
    auto argv = nsrig_argv_in(state.path(), {"run", "-p", c.profile, "--", "true"});
    argv.insert(argv.begin(), {NSRIG_SECCOMP_ERRNO, c.rule, "--"});
    Result r = run(argv);
    EXPECT_EQ(r.exit_code, 125) << c.rule;
    EXPECT_THAT(r.err, HasSubstr(c.says)) << c.rule;
  }
  EXPECT_EQ(state_entries(state.path()), std::set<std::string>{}) << "the instance's state dir was left behind";
  EXPECT_THAT(slurp("/proc/self/mountinfo"), ::testing::Not(HasSubstr("nsrig")));
}

}  // namespace
