// Plugin registry and ABI negotiation, against plugins built to be broken.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "error.hpp"
#include "helpers.hpp"
#include "registry.hpp"

namespace fs = std::filesystem;
using nsrig::Error;
using nsrig::Registry;
using ::testing::HasSubstr;

namespace {

const std::string kBroken = NSRIG_BROKEN_PLUGIN_DIR;

std::string refusal(Registry &r, const std::string &file) {
  try {
    r.load_file(file);
  } catch (const Error &e) {
    return e.what();
  }
  ADD_FAILURE() << file << " was not refused";
  return "";
}

TEST(Registry, LoadsInTreePluginsByName) {
  Registry r({NSRIG_PLUGIN_DIR});
  for (const char *n : {"user", "pid", "mnt", "net", "uts", "ipc"}) {
    const auto &p = r.load(n);
    EXPECT_EQ(p.name(), n);
    EXPECT_EQ(p.desc.abi_version, 1u);
    EXPECT_NE(p.desc.clone_flag, 0u);
    EXPECT_NE(p.desc.on_configure, nullptr);
  }
  EXPECT_EQ(&r.load("uts"), &r.load("uts"));  // loaded once
  EXPECT_EQ(r.load("ipc").after, std::vector<std::string>{"mnt"});
}

// The in-tree plugins are one bundle: every NAME.so is a symlink to
// builtin.bundle, mapped once, and each name gives its own descriptor.
TEST(Registry, InTreePluginsAreOneBundleMappedOnce) {
  const std::string dir = NSRIG_PLUGIN_DIR;
  Registry r({dir});
  std::set<void *> bases;
  std::set<std::string> names;
  for (const char *n : {"user", "pid", "mnt", "net", "uts", "ipc", "cgroup", "time", "hosts"}) {
    EXPECT_EQ(fs::read_symlink(dir + "/" + n + ".so"), "builtin.bundle") << n;
    const auto &p = r.load(n);
    EXPECT_TRUE(p.bundled) << n;
    names.insert(p.name());
    Dl_info info{};
    ASSERT_NE(dladdr(reinterpret_cast<void *>(p.desc.on_configure), &info), 0) << n;
    bases.insert(info.dli_fbase);
  }
  EXPECT_EQ(names.size(), 9u);
  EXPECT_EQ(bases.size(), 1u) << "the members of one bundle were mapped more than once";
  // `nsrig plugins`: each name once, though all are one real file.
  std::set<std::string> listed;
  for (auto &f : r.discover()) listed.insert(fs::path(f).stem().string());
  for (auto &n : names) EXPECT_TRUE(listed.count(n)) << n << " is not listed";
}

TEST(Registry, ABundleUnderANameItDoesNotHoldIsRefusedWithItsNames) {
  nsrig::test::TempDir d;
  fs::create_symlink(std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle", d.path() + "/nosuch.so");
  Registry r({d.path()});
  try {
    r.load("nosuch");
    FAIL() << "a bundle without a plugin named nosuch was loaded";
  } catch (const Error &e) {
    EXPECT_THAT(e.what(), HasSubstr("it is a bundle of the plugins user, pid, uts, ipc, mnt, net, cgroup, time, hosts,"));
    EXPECT_THAT(e.what(), HasSubstr("none is named 'nosuch'"));
    EXPECT_THAT(e.what(), HasSubstr("(user.so -> builtin.bundle)"));
  }
  Registry direct({});
  EXPECT_THAT(refusal(direct, std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle"),
              HasSubstr("none is named 'builtin'"));
  // A copy under a member's name is that member.
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle", d.path() + "/uts.so");
  EXPECT_EQ(r.load("uts").name(), "uts");
}

// Bundles built to be broken (tests/plugins/bad_bundle.c): refused with the
// reason, never read past what they hold.
TEST(Registry, MalformedBundlesAreRefused) {
  auto load = [](int kind, const std::string &name) {
    Registry r({std::string(NSRIG_BAD_BUNDLE_DIR) + "/k" + std::to_string(kind)});
    try {
      r.load(name);
    } catch (const Error &e) {
      return std::string(e.what());
    }
    return std::string("loaded");
  };
  EXPECT_THAT(load(1, "alpha"), HasSubstr("answered with no valid plugin"));  // count 0xffffffff: not read
  EXPECT_THAT(load(2, "alpha"), HasSubstr("its bundle holds two plugins named 'alpha'"));
  EXPECT_THAT(load(2, "beta"), HasSubstr("holds 'alpha' twice and no 'beta'"));
  EXPECT_THAT(load(3, "alpha"), HasSubstr("answered with no valid plugin"));
  EXPECT_EQ(load(4, "beta"), "loaded");
  EXPECT_EQ(load(5, "alpha"), "loaded");  // the bundle entry wins over the single one (which says beta)
  Registry r({std::string(NSRIG_BAD_BUNDLE_DIR) + "/k4"});
  r.load("alpha");
  EXPECT_THAT(refusal(r, std::string(NSRIG_BAD_BUNDLE_DIR) + "/k4/beta.so"),
              HasSubstr("CLONE_NEWUTS is already owned by plugin 'alpha'"));
}

// A symlink loop is a loop, not a magic link (openat2 says ELOOP for both).
TEST(Registry, ASymlinkLoopIsNotCalledAMagicLink) {
  nsrig::test::TempDir d;
  chmod(d.path().c_str(), 0755);
  fs::create_symlink("uts.so", d.path() + "/uts.so");
  Registry r({d.path()});
  std::string e = refusal(r, d.path() + "/uts.so");
  EXPECT_THAT(e, HasSubstr("Too many levels of symbolic links"));
  EXPECT_THAT(e, ::testing::Not(HasSubstr("magic link")));
}

// Listing opens no file: a FIFO named *.so is listed (and refused when
// loaded), not opened, which would block.
TEST(Registry, ListingOpensNoFile) {
  nsrig::test::TempDir d;
  ASSERT_EQ(mkfifo((d.path() + "/evil.so").c_str(), 0644), 0);
  fs::create_symlink(std::string(NSRIG_PLUGIN_DIR) + "/uts.so", d.path() + "/alias.so");
  Registry r({d.path()});
  std::vector<std::string> listed;
  for (auto &f : r.discover()) listed.push_back(fs::path(f).filename());
  EXPECT_EQ(listed, (std::vector<std::string>{"alias.so", "evil.so"}));
  EXPECT_THAT(refusal(r, d.path() + "/evil.so"), HasSubstr("not a regular file"));
  // A second name for a plugin is listed under that name, and refused as load() would.
  EXPECT_THAT(refusal(r, d.path() + "/alias.so"), HasSubstr("none is named 'alias'"));
}

// A bundle whose own file is named *.so: its members are still listed, each once.
TEST(Registry, MembersOfABundleNamedSoAreListed) {
  nsrig::test::TempDir d;
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle", d.path() + "/acme.so");
  fs::create_symlink("acme.so", d.path() + "/pid.so");
  fs::create_symlink("acme.so", d.path() + "/uts.so");
  Registry r({d.path()});
  std::vector<std::string> listed;
  for (auto &f : r.discover())
    if (fs::path(f).parent_path() == d.path()) listed.push_back(fs::path(f).filename());
  EXPECT_EQ(listed, (std::vector<std::string>{"acme.so", "pid.so", "uts.so"}));
  EXPECT_THAT(refusal(r, d.path() + "/acme.so"), HasSubstr("name the bundle's own file other than *.so"));
  EXPECT_EQ(r.load("uts").name(), "uts");
}

// As root, a path through a /proc magic link (/proc/PID/root) leads the kernel
// into another mount namespace than the walk, which reads the link as "/",
// and there a directory writable by all could have what the path names
// swapped between the check and dlopen: refused, whatever the walk found on
// the host at the same path.
TEST(Registry, AsRootAProcMagicLinkIntoAnotherMountNamespaceIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "the ownership check only applies when nsrig runs as root";
  nsrig::test::TempDir d;
  chmod(d.path().c_str(), 0755);
  fs::create_directory(d.path() + "/x");
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle", d.path() + "/x/uts.so");
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t pid = fork();
  if (pid == 0) {  // another mount namespace, where x is a tmpfs with another uts.so, writable by all
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount("none", (d.path() + "/x").c_str(), "tmpfs", 0, "mode=0777") != 0)
      _exit(1);
    std::error_code ec;
    fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/builtin.bundle", d.path() + "/x/uts.so", ec);
    chmod((d.path() + "/x/uts.so").c_str(), 0666);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  Registry r({"/proc/" + std::to_string(pid) + "/root" + d.path() + "/x"});
  std::string e;
  try {
    r.load("uts");
  } catch (const Error &err) {
    e = err.what();
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  EXPECT_THAT(e, HasSubstr("it goes through a /proc magic link"));
  Registry host({d.path() + "/x"});  // the host's own file at that path is fine
  EXPECT_EQ(host.load("uts").name(), "uts");
}

TEST(Registry, SearchOrderAndMissingPlugin) {
  Registry r({"/nonexistent", NSRIG_TEST_PLUGIN_DIR, NSRIG_PLUGIN_DIR});
  EXPECT_THAT(r.load("probe").path, HasSubstr(NSRIG_TEST_PLUGIN_DIR));
  try {
    r.load("nope");
    FAIL();
  } catch (const Error &e) {
    EXPECT_THAT(e.what(), HasSubstr("no plugin named 'nope'"));
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent"));
  }
}

TEST(Registry, DefaultDirsOrder) {
  setenv("NSRIG_PLUGIN_PATH", "/a:/b", 1);
  auto dirs = Registry::default_dirs({"/cli"});
  unsetenv("NSRIG_PLUGIN_PATH");
  ASSERT_GE(dirs.size(), 4u);
  EXPECT_EQ(dirs[0], "/cli");
  EXPECT_EQ(dirs[1], "/a");
  EXPECT_EQ(dirs[2], "/b");
}

TEST(Registry, RefusesNoEntryPoint) {
  Registry r({});
  EXPECT_THAT(refusal(r, kBroken + "/broken_noentry.so"), HasSubstr("no entry point 'nsrig_plugin_entry'"));
}

TEST(Registry, RefusesWhenVersionNotSpoken) {
  Registry r({});
  EXPECT_THAT(refusal(r, kBroken + "/broken_refuses.so"), HasSubstr("does not speak ABI version 1"));
  EXPECT_THAT(refusal(r, kBroken + "/broken_newer.so"), HasSubstr("answers with ABI version 99"));
}

TEST(Registry, RefusesSmallDescriptor) {
  Registry r({});
  EXPECT_THAT(refusal(r, kBroken + "/broken_small.so"), HasSubstr("struct_size is 8 bytes"));
}

TEST(Registry, OldSmallerDescriptorLoadsWithLaterMembersIgnored) {
  Registry r({});
  const auto &p = r.load_file(kBroken + "/broken_oldsize.so");
  EXPECT_EQ(p.name(), "small");
  // The plugin's struct ends before on_configure; its garbage there must not be read.
  EXPECT_EQ(p.desc.on_configure, nullptr);
  EXPECT_EQ(p.desc.destroy, nullptr);
}

TEST(Registry, RefusesDuplicateNameAndCloneFlag) {
  Registry r({});
  r.load_file(std::string(NSRIG_TEST_PLUGIN_DIR) + "/probe.so");
  std::string e = refusal(r, kBroken + "/broken_dupname.so");
  EXPECT_THAT(e, HasSubstr("a plugin named 'probe' is already loaded from"));
  r.load_file(std::string(NSRIG_PLUGIN_DIR) + "/uts.so");
  e = refusal(r, kBroken + "/broken_dupflag.so");
  EXPECT_THAT(e, HasSubstr("CLONE_NEWUTS is already owned by plugin 'uts'"));
}

TEST(Registry, DlopenFailureShowsDlerror) {
  nsrig::test::TempDir d;
  auto f = d.write("garbage.so", "this is not an ELF file");
  Registry r({});
  std::string e = refusal(r, f);
  EXPECT_THAT(e, HasSubstr(f));
  EXPECT_THAT(e, HasSubstr("dlopen failed: " + f + ": file too short"));  // dlerror()'s own words
  EXPECT_THAT(e, ::testing::Not(HasSubstr("boost::")));
}

TEST(Registry, AsRootRefusesWritableOrForeignFiles) {
  if (geteuid() != 0) GTEST_SKIP() << "the ownership check only applies when nsrig runs as root";
  nsrig::test::TempDir d;
  chmod(d.path().c_str(), 0755);
  auto f = d.path() + "/uts.so";
  std::filesystem::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/uts.so", f);
  chmod(f.c_str(), 0664);
  Registry r({});
  EXPECT_THAT(refusal(r, f), HasSubstr("writable by group or others"));
  chmod(f.c_str(), 0644);
  ASSERT_EQ(chown(f.c_str(), 65534, 65534), 0);
  EXPECT_THAT(refusal(r, f), HasSubstr("owned by uid 65534"));
  ASSERT_EQ(chown(f.c_str(), 0, 0), 0);
  chmod(d.path().c_str(), 0777);
  EXPECT_THAT(refusal(r, f), HasSubstr("writable by group or others"));
  chmod(d.path().c_str(), 0755);
  EXPECT_EQ(r.load_file(f).name(), "uts");
}

// The real path of a directory is resolved once (later plugins there cost
// one lstat): each file is still checked, and a symlink there is followed to
// where it points, whose directory is checked too.
TEST(Registry, AsRootADirectorySeenBeforeStillChecksEachFileAndFollowsSymlinks) {
  if (geteuid() != 0) GTEST_SKIP() << "the ownership check only applies when nsrig runs as root";
  nsrig::test::TempDir d, open_dir;
  chmod(d.path().c_str(), 0755);
  chmod(open_dir.path().c_str(), 0777);
  namespace fs = std::filesystem;
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/uts.so", d.path() + "/uts.so");
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/ipc.so", d.path() + "/ipc.so");
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/pid.so", open_dir.path() + "/pid.so");
  fs::create_symlink(open_dir.path() + "/pid.so", d.path() + "/pid.so");
  Registry r({});
  EXPECT_EQ(r.load_file(d.path() + "/uts.so").name(), "uts");
  chmod((d.path() + "/ipc.so").c_str(), 0666);
  EXPECT_THAT(refusal(r, d.path() + "/ipc.so"), HasSubstr("writable by group or others"));
  std::string e = refusal(r, d.path() + "/pid.so");
  EXPECT_THAT(e, HasSubstr("'" + fs::canonical(open_dir.path()).string() + "' is writable by group or others"));
  chmod((d.path() + "/ipc.so").c_str(), 0644);
  EXPECT_EQ(r.load_file(d.path() + "/ipc.so").name(), "ipc");
}

// Every directory the path passes through is checked, not only those of the
// file's real path: a link to a good directory that sits in a directory
// others can write could be pointed elsewhere between the check and dlopen.
TEST(Registry, AsRootEveryDirectoryOnTheWayIsChecked) {
  if (geteuid() != 0) GTEST_SKIP() << "the ownership check only applies when nsrig runs as root";
  nsrig::test::TempDir good, open_dir;
  namespace fs = std::filesystem;
  chmod(good.path().c_str(), 0755);
  chmod(open_dir.path().c_str(), 0777);
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/uts.so", good.path() + "/uts.so");
  fs::create_symlink(good.path(), open_dir.path() + "/link");
  std::string open_real = fs::canonical(open_dir.path()).string();
  Registry r({});
  // A link to a good directory, in a world-writable one.
  EXPECT_THAT(refusal(r, open_dir.path() + "/link/uts.so"), HasSubstr("'" + open_real + "' is writable by group or others"));
  // Through the writable directory and back out with "..".
  EXPECT_THAT(refusal(r, open_dir.path() + "/link/../" + fs::path(good.path()).filename().string() + "/uts.so"),
              HasSubstr("is writable by group or others"));
  // A symlink that is not root's, in a good directory.
  fs::create_symlink(good.path() + "/uts.so", good.path() + "/ipc.so");
  ASSERT_EQ(lchown((good.path() + "/ipc.so").c_str(), 65534, 65534), 0);
  EXPECT_THAT(refusal(r, good.path() + "/ipc.so"), HasSubstr("the symlink '"));
  EXPECT_THAT(refusal(r, good.path() + "/ipc.so"), HasSubstr("is owned by uid 65534"));
  EXPECT_EQ(r.load_file(good.path() + "/uts.so").name(), "uts");
}

}  // namespace
