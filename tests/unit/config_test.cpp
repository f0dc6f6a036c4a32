// Plugin configuration through the host API: typed getters, located errors,
// unknown keys with "did you mean", and the exception boundary of plugin.hpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "error.hpp"
#include "helpers.hpp"
#include "instance.hpp"
#include "planner.hpp"
#include <nsrig/plugin.hpp>

using namespace nsrig;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

struct Fixture {
  test::TempDir dir;
  std::string file;
  Profile profile;
  Registry registry{{NSRIG_PLUGIN_DIR, NSRIG_TEST_PLUGIN_DIR}};
  std::unique_ptr<Instance> inst;
  explicit Fixture(const std::string &toml) {
    file = dir.write("p.toml", "version = 1\n" + toml);
    load_profiles({file}, profile);
    inst = std::make_unique<Instance>(profile, registry, std::vector<std::string>{"/bin/true"});
  }
  std::string configure_error() {
    try {
      inst->configure();
    } catch (const Error &e) {
      EXPECT_EQ(e.exit_code, 125);
      return e.what();
    }
    ADD_FAILURE() << "expected a configure error";
    return "";
  }
  ~Fixture() { inst.reset(); }
};

TEST(Config, ValidProfileConfigures) {
  Fixture f(R"([[namespace]]
type = "user"
uid_map = [{ inside = 0, outside = 100000, count = 65536 }]
[[namespace]]
type = "mnt"
mounts = [{ type = "tmpfs", target = "/tmp", size = 1048576, mode = 0o1777 }]
[[namespace]]
type = "uts"
hostname = "web-1.example"
)");
  EXPECT_NO_THROW(f.inst->configure());
}

TEST(Config, HostnameTooLong) {
  Fixture f("[[namespace]]\ntype = \"uts\"\nhostname = \"" + std::string(70, 'a') + "\"\n");
  std::string e = f.configure_error();
  EXPECT_THAT(e, StartsWith(f.file + ":4:12: uts: 'hostname' must be 1 to 64 bytes long (it is 70)"));
  EXPECT_THAT(e, HasSubstr("shorten it"));
}

TEST(Config, HostnameBadCharacters) {
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"uts\"\nhostname = \"a_b\"\n").configure_error(),
              HasSubstr("may contain only letters, digits, '-' and '.', not '_' (byte 2)"));
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"uts\"\nhostname = \"\"\n").configure_error(),
              HasSubstr("must not be empty"));
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"uts\"\nhostname = \"h\u00e4\"\n").configure_error(),
              HasSubstr("not a non-ASCII byte (byte 2)"));
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"uts\"\nhostname = \"-ab\"\n").configure_error(),
              HasSubstr("must not start with a hyphen"));
}

TEST(Config, UnknownPluginKeySuggests) {
  Fixture f("[[namespace]]\ntype = \"uts\"\nhostnme = \"x\"\n");
  std::string e = f.configure_error();
  EXPECT_THAT(e, StartsWith(f.file + ":4:11: unknown key 'hostnme' for plugin 'uts'"));
  EXPECT_THAT(e, HasSubstr("did you mean 'hostname'?"));
}

TEST(Config, UnknownNestedKey) {
  Fixture f("[[namespace]]\ntype = \"mnt\"\nmounts = [{ type = \"tmpfs\", target = \"/tmp\", sise = 1 }]\n");
  std::string e = f.configure_error();
  EXPECT_THAT(e, HasSubstr("unknown key 'mounts[0].sise' for plugin 'mnt'"));
  EXPECT_THAT(e, HasSubstr("did you mean 'size'?"));
}

TEST(Config, WrongTypeIsLocated) {
  Fixture f("[[namespace]]\ntype = \"uts\"\nhostname = 7\n");
  EXPECT_THAT(f.configure_error(), StartsWith(f.file + ":4:12: uts: 'hostname' must be a string"));
}

TEST(Config, UserMapValidation) {
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"user\"\nuid_map = [{ inside = 0, outside = 1 }]\n").configure_error(),
              HasSubstr("needs 'count'"));
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"user\"\nuid_map = [{ inside = 0, outside = 1, count = 10 }, "
                      "{ inside = 5, outside = 100, count = 1 }]\n")
                  .configure_error(),
              HasSubstr("overlaps"));
}

TEST(Config, IpcMqueueNeedsMnt) {
  EXPECT_THAT(Fixture("[[namespace]]\ntype = \"ipc\"\nmqueue = true\n").configure_error(),
              HasSubstr("needs a mount namespace"));
}

TEST(Config, ExceptionsStopAtTheBoundary) {
  Fixture f("[[namespace]]\ntype = \"probe\"\nfail_in = \"configure\"\n");
  EXPECT_EQ(f.configure_error(), "plugin 'probe' failed in on_configure: probe failure in configure (requested)");
  Fixture g("[[namespace]]\ntype = \"probe\"\nfail_in = \"configure\"\nthrow = true\n");
  EXPECT_EQ(g.configure_error(), "plugin 'probe' failed in on_configure: unknown exception");
}

TEST(Config, UnknownPluginTypeSuggests) {
  test::TempDir d;
  Profile p;
  load_profiles({d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"usr\"\n")}, p);
  Registry r({NSRIG_PLUGIN_DIR});
  try {
    Instance inst(p, r, {"/bin/true"});
    FAIL();
  } catch (const Error &e) {
    EXPECT_THAT(e.what(), HasSubstr("p.toml:3:8: no plugin named 'usr'"));
    EXPECT_THAT(e.what(), HasSubstr("did you mean 'user'?"));
  }
}

// nsrig::check from plugin.hpp: the C-string and the callable forms make
// their message only on failure, with errno kept for it.
TEST(SdkCheck, MessageIsMadeOnlyOnFailureWithErrnoKept) {
  int calls = 0;
  auto what = [&] {
    ++calls;
    errno = 0;  // what a message-building call may do to errno
    return std::string("open('/nonexistent')");
  };
  EXPECT_EQ(nsrig::check(3, what), 3);
  EXPECT_EQ(calls, 0);
  errno = ENOENT;
  try {
    nsrig::check(-1, what);
    FAIL();
  } catch (const std::runtime_error &e) {
    EXPECT_STREQ(e.what(), "open('/nonexistent'): No such file or directory");
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(nsrig::check(0, "setresuid(0)"), 0);
  errno = EPERM;
  EXPECT_THROW(
      try { nsrig::check(-1, "setresuid(0)"); } catch (const std::runtime_error &e) {
        EXPECT_STREQ(e.what(), "setresuid(0): Operation not permitted");
        throw;
      },
      std::runtime_error);
  errno = EACCES;
  EXPECT_THROW(nsrig::check(-1, std::string("a std::string")), std::runtime_error);
}

}  // namespace
