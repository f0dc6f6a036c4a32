// Profile loading and merging: every loader error names file:line:column.
#include <gmock/gmock.h>
#include <sys/stat.h>
#include <gtest/gtest.h>

#include "error.hpp"
#include "helpers.hpp"
#include "profile.hpp"

using nsrig::Error;
using nsrig::Profile;
using nsrig::test::TempDir;

namespace {

std::string load_error(const std::vector<std::string> &files) {
  Profile p;
  try {
    nsrig::load_profiles(files, p);
  } catch (const Error &e) {
    EXPECT_EQ(e.exit_code, 125);
    return e.what();
  }
  ADD_FAILURE() << "expected an error";
  return "";
}

TEST(Profile, LoadsCoreKeys) {
  TempDir d;
  auto f = d.write("p.toml", R"(version = 1
name = "web"
[process]
argv = ["/bin/echo", "hi"]
cwd = "/tmp"
env = { A = "1", B = "2" }
[[namespace]]
type = "uts"
hostname = "h"
[[hooks.prestart]]
path = "/bin/true"
timeout_ms = 500
)");
  Profile p;
  nsrig::load_profiles({f}, p);
  EXPECT_EQ(p.name, "web");
  EXPECT_EQ(p.argv, (std::vector<std::string>{"/bin/echo", "hi"}));
  EXPECT_EQ(p.cwd, "/tmp");
  ASSERT_EQ(p.env.size(), 2u);
  EXPECT_EQ(p.env[1], (std::pair<std::string, std::string>{"B", "2"}));
  ASSERT_EQ(p.namespaces.size(), 1u);
  EXPECT_EQ(p.namespaces[0].type, "uts");
  EXPECT_EQ((*p.namespaces[0].table)["hostname"].value_or(std::string()), "h");
  ASSERT_EQ(p.hooks.size(), 1u);
  EXPECT_EQ(p.hooks[0].stage, "prestart");
  EXPECT_EQ(p.hooks[0].args, std::vector<std::string>{"/bin/true"});
  EXPECT_EQ(p.hooks[0].timeout_ms, 500);
  EXPECT_EQ(p.hooks[0].where, f + ":10:1");
}

TEST(Profile, MergeRules) {
  TempDir d;
  d.write("base.toml", R"(version = 1
name = "base"
[process]
argv = ["/bin/base"]
env = { A = "base", B = "base" }
[[namespace]]
type = "user"
[[namespace]]
type = "mnt"
mounts = [{ type = "tmpfs", target = "/tmp" }]
propagation = "private"
[[namespace]]
type = "net"
[[hooks.poststop]]
path = "/bin/true"
)");
  auto top = d.write("top.toml", R"(version = 1
include = ["base.toml"]
name = "top"
[process]
env = { B = "top" }
[[namespace]]
type = "mnt"
mounts = [{ type = "proc", target = "/proc" }]
propagation = "slave"
[[namespace]]
type = "net"
enabled = false
[[namespace]]
type = "uts"
hostname = "top"
[[hooks.poststop]]
path = "/bin/false"
)");
  Profile p;
  nsrig::load_profiles({top}, p);
  EXPECT_EQ(p.name, "top");
  EXPECT_EQ(p.argv, std::vector<std::string>{"/bin/base"});
  ASSERT_EQ(p.env.size(), 2u);
  EXPECT_EQ(p.env[0].second, "base");
  EXPECT_EQ(p.env[1].second, "top");
  ASSERT_EQ(p.namespaces.size(), 3u);  // net removed, uts appended
  EXPECT_EQ(p.namespaces[0].type, "user");
  EXPECT_EQ(p.namespaces[1].type, "mnt");
  EXPECT_EQ(p.namespaces[2].type, "uts");
  const auto &mnt = *p.namespaces[1].table;
  EXPECT_EQ(mnt["propagation"].value_or(std::string()), "slave");
  ASSERT_EQ(mnt["mounts"].as_array()->size(), 2u);  // mounts append
  EXPECT_EQ(mnt["mounts"][1]["type"].value_or(std::string()), "proc");
  EXPECT_FALSE(mnt.contains("enabled"));
  ASSERT_EQ(p.hooks.size(), 2u);  // hooks append
  EXPECT_EQ(p.hooks[0].path, "/bin/true");
  EXPECT_EQ(p.hooks[1].path, "/bin/false");
  // Moved nodes keep their source: the merged mount still points into its own file.
  EXPECT_EQ(nsrig::where(*mnt["mounts"][1].node()), top + ":8:11");
  EXPECT_EQ(p.files.size(), 2u);
}

TEST(Profile, CommandLineProfilesMergeInOrder) {
  TempDir d;
  auto a = d.write("a.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"a\"\n");
  auto b = d.write("b.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\nhostname = \"b\"\n");
  Profile p;
  nsrig::load_profiles({a, b}, p);
  ASSERT_EQ(p.namespaces.size(), 1u);
  EXPECT_EQ((*p.namespaces[0].table)["hostname"].value_or(std::string()), "b");
}

TEST(Profile, DisabledTypeReachesEarlierFilesAndLaterOnesReenable) {
  TempDir d;
  auto base = d.write("base.toml", "version = 1\n[[namespace]]\ntype = \"uts\"\n[[namespace]]\ntype = \"net\"\n");
  auto off = d.write("off.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nenabled = false\n");
  auto on = d.write("on.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"none\"\n");
  auto types = [](const Profile &p) {
    std::vector<std::string> t;
    for (auto &n : p.namespaces) t.push_back(n.type);
    return t;
  };
  Profile a;
  nsrig::load_profiles({base, off}, a);  // across -p files
  EXPECT_EQ(types(a), std::vector<std::string>{"uts"});
  Profile b;
  nsrig::load_profiles({d.write("sib.toml", "version = 1\ninclude = [\"base.toml\", \"off.toml\"]\n")}, b);
  EXPECT_EQ(types(b), std::vector<std::string>{"uts"});  // across sibling includes
  Profile c;
  nsrig::load_profiles({base, off, on}, c);  // later wins: enabled again, in its old place
  EXPECT_EQ(types(c), (std::vector<std::string>{"uts", "net"}));
  EXPECT_FALSE(c.namespaces[1].table->contains("enabled"));
  EXPECT_EQ((*c.namespaces[1].table)["mode"].value_or(std::string()), "none");
}

TEST(Profile, DiamondIncludeIsMergedOnce) {
  TempDir d;
  d.write("base.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nmounts = [{ type = \"tmpfs\", target = \"/mnt\" }]\n"
                       "[[hooks.poststop]]\npath = \"/bin/true\"\n");
  d.write("a.toml", "version = 1\ninclude = [\"base.toml\"]\n");
  d.write("b.toml", "version = 1\ninclude = [\"base.toml\"]\n");
  auto top = d.write("top.toml", "version = 1\ninclude = [\"a.toml\", \"b.toml\"]\n");
  Profile p;
  nsrig::load_profiles({top}, p);
  ASSERT_EQ(p.namespaces.size(), 1u);
  EXPECT_EQ((*p.namespaces[0].table)["mounts"].as_array()->size(), 1u);
  EXPECT_EQ(p.hooks.size(), 1u);
}

TEST(Profile, RejectedValues) {
  TempDir d;
  auto err = [&](const std::string &body) { return load_error({d.write("p.toml", "version = 1\n" + body)}); };
  EXPECT_THAT(load_error({d.write("v.toml", "version = 1.0\n")}), ::testing::HasSubstr("(an integer)"));
  EXPECT_THAT(err("[[namespace]]\ntype = \"uts\"\n[[namespace]]\ntype = \"uts\"\n"),
              ::testing::HasSubstr("a second [[namespace]] of type \"uts\" in one file"));
  EXPECT_THAT(err("[[namespace]]\ntype = \"../plugins/uts\"\n"), ::testing::HasSubstr("1-32 characters of [a-z0-9_-]"));
  EXPECT_THAT(err("[process]\nargv = [\"a\\u0000b\"]\n"), ::testing::HasSubstr("must not contain a NUL byte"));
  // In a plugin's table at any depth, and in [process].env's keys.
  EXPECT_THAT(err("[[namespace]]\ntype = \"uts\"\nhostname = \"a\\u0000b\"\n"),
              ::testing::HasSubstr(":4:12: 'hostname' must not contain a NUL byte"));
  EXPECT_THAT(err("[[namespace]]\ntype = \"mnt\"\nmounts = [{ type = \"bind\", source = \"/etc\\u0000/passwd\", "
                  "target = \"/mnt\" }]\n"),
              ::testing::HasSubstr("'mounts[0].source' must not contain a NUL byte"));
  EXPECT_THAT(err("[process]\nenv = { \"A\\u0000B\" = \"x\" }\n"), ::testing::HasSubstr("must not contain a NUL byte"));
  EXPECT_THAT(err("[process]\ncwd = \"rel\"\n"), ::testing::HasSubstr("'cwd' must be an absolute path"));
  EXPECT_THAT(err("[[hooks.prestart]]\npath = \"/nonexistent/hook\"\n"),
              ::testing::HasSubstr("hook program '/nonexistent/hook': No such file or directory"));
  EXPECT_THAT(err("[[hooks.prestart]]\npath = \"/etc/passwd\"\n"), ::testing::HasSubstr("Permission denied"));
  EXPECT_THAT(err("[[hooks.prestart]]\npath = \"/bin/true\"\nenv = [\"NOEQUALS\"]\n"),
              ::testing::HasSubstr("\"KEY=VALUE\""));
  EXPECT_THAT(err("[[hooks.prestart]]\npath = \"/bin/true\"\ntimeout_ms = 4294967296\n"),
              ::testing::HasSubstr("at most 2147483647"));
  EXPECT_THAT(err("[[hooks.prestart]]\npath = \"/bin/true\"\ntimeout = 5\n"),
              ::testing::HasSubstr("did you mean 'timeout_ms'?"));
}

TEST(Profile, ErrorsInIncludedFilesSayWhereTheyWereIncluded) {
  TempDir d;
  d.write("broken.toml", "version = 1\nname = \n");
  auto top = d.write("top.toml", "version = 1\ninclude = [\"broken.toml\"]\n");
  std::string e = load_error({top});
  EXPECT_THAT(e, ::testing::HasSubstr("broken.toml:2:"));
  EXPECT_THAT(e, ::testing::HasSubstr("(included from " + top + ":2:12)"));
}

TEST(Profile, ParseErrorHasLocation) {
  TempDir d;
  auto f = d.write("bad.toml", "version = 1\nname = \"x\nfoo = 1\n");
  EXPECT_THAT(load_error({f}), ::testing::StartsWith(f + ":2:"));
}

TEST(Profile, UnknownTopLevelKeySuggests) {
  TempDir d;
  auto f = d.write("p.toml", "version = 1\n\n[[namspace]]\ntype = \"uts\"\n");
  std::string e = load_error({f});
  EXPECT_THAT(e, ::testing::StartsWith(f + ":3:"));
  EXPECT_THAT(e, ::testing::HasSubstr("unknown key 'namspace'"));
  EXPECT_THAT(e, ::testing::HasSubstr("did you mean 'namespace'?"));
}

TEST(Profile, UnknownProcessKeySuggests) {
  TempDir d;
  auto f = d.write("p.toml", "version = 1\n[process]\nargs = [\"/bin/true\"]\n");
  std::string e = load_error({f});
  EXPECT_THAT(e, ::testing::StartsWith(f + ":3:8"));
  EXPECT_THAT(e, ::testing::HasSubstr("did you mean 'argv'?"));
}

TEST(Profile, MissingOrWrongVersion) {
  TempDir d;
  EXPECT_THAT(load_error({d.write("a.toml", "name = \"x\"\n")}), ::testing::HasSubstr("missing 'version = 1'"));
  auto f = d.write("b.toml", "version = 2\n");
  EXPECT_THAT(load_error({f}), ::testing::StartsWith(f + ":1:11: unsupported profile version: 'version' is 2;"));
  auto g = d.write("c.toml", "version = \"1\"\n");
  EXPECT_THAT(load_error({g}), ::testing::HasSubstr("'version' is '1'; this nsrig reads 'version = 1' (an integer)"));
}

TEST(Profile, HookPathMissingOrRelative) {
  TempDir d;
  auto f = d.write("a.toml", "version = 1\n[[hooks.prestart]]\nargs = []\n");
  EXPECT_THAT(load_error({f}), ::testing::StartsWith(f + ":2:1: [[hooks.prestart]] needs 'path'"));
  auto g = d.write("b.toml", "version = 1\n[[hooks.prestart]]\npath = \"bin/x\"\n");
  EXPECT_THAT(load_error({g}), ::testing::StartsWith(g + ":3:8: [[hooks.prestart]] 'path' must be an absolute path "
                                                         "to the program (it is 'bin/x')"));
  auto h = d.write("c.toml", "version = 1\n[[hooks.prestart]]\npath = 3\n");
  EXPECT_THAT(load_error({h}), ::testing::HasSubstr("(it is 3)"));
}

TEST(Profile, TypeErrorsHaveLocation) {
  TempDir d;
  auto f = d.write("p.toml", "version = 1\n[process]\nargv = \"/bin/true\"\n");
  EXPECT_THAT(load_error({f}), ::testing::StartsWith(f + ":3:8: 'argv' must be an array of strings"));
  auto g = d.write("q.toml", "version = 1\n[[namespace]]\nhostname = \"x\"\n");
  EXPECT_THAT(load_error({g}), ::testing::HasSubstr("without 'type'"));
  auto h = d.write("r.toml", "version = 1\n[[hooks.prestrat]]\npath = \"/bin/true\"\n");
  std::string e = load_error({h});
  EXPECT_THAT(e, ::testing::HasSubstr("unknown hook stage 'prestrat'"));
  EXPECT_THAT(e, ::testing::HasSubstr("did you mean 'prestart'?"));
  auto i = d.write("s.toml", "version = 1\n[[hooks.poststop]]\npath = \"relative\"\n");
  EXPECT_THAT(load_error({i}), ::testing::HasSubstr("absolute path"));
}

TEST(Profile, IncludeCycleIsAnError) {
  TempDir d;
  auto a = d.write("a.toml", "version = 1\ninclude = [\"b.toml\"]\n");
  d.write("b.toml", "version = 1\ninclude = [\"a.toml\"]\n");
  std::string e = load_error({a});
  EXPECT_THAT(e, ::testing::HasSubstr("b.toml:2:12: include cycle"));
  EXPECT_THAT(e, ::testing::HasSubstr("a.toml -> "));
}

TEST(Profile, IncludeDepthLimit) {
  TempDir d;
  for (int i = 0; i < 20; ++i)
    d.write("p" + std::to_string(i) + ".toml",
            "version = 1\ninclude = [\"p" + std::to_string(i + 1) + ".toml\"]\n");
  d.write("p20.toml", "version = 1\n");
  EXPECT_THAT(load_error({d.path() + "/p0.toml"}), ::testing::HasSubstr("deeper than 16"));
  // 16 levels are fine.
  TempDir ok;
  for (int i = 0; i < 16; ++i)
    ok.write("p" + std::to_string(i) + ".toml",
             "version = 1\ninclude = [\"p" + std::to_string(i + 1) + ".toml\"]\n");
  ok.write("p16.toml", "version = 1\nname = \"deep\"\n");
  Profile p;
  nsrig::load_profiles({ok.path() + "/p0.toml"}, p);
  EXPECT_EQ(p.name, "deep");
}

TEST(Profile, IncludeIsRelativeToIncludingFile) {
  TempDir d;
  d.write("sub/base.toml", "version = 1\nname = \"from-sub\"\n");
  d.write("sub/mid.toml", "version = 1\ninclude = [\"base.toml\"]\n");
  auto top = d.write("top.toml", "version = 1\ninclude = [\"sub/mid.toml\"]\n");
  Profile p;
  nsrig::load_profiles({top}, p);
  EXPECT_EQ(p.name, "from-sub");
  auto missing = d.write("m.toml", "version = 1\ninclude = [\"nope.toml\"]\n");
  std::string e = load_error({missing});
  EXPECT_THAT(e, ::testing::StartsWith(missing + ":2:12: cannot read profile"));
}

TEST(Profile, MissingFile) {
  EXPECT_THAT(load_error({"/nonexistent/x.toml"}), ::testing::HasSubstr("cannot read profile '/nonexistent/x.toml'"));
}

// The profile is read with open/read: what is not a regular file is refused
// at once (a FIFO opened O_NONBLOCK, not waited on), and a file without a
// final newline parses.
TEST(Profile, OnlyARegularFileIsRead) {
  TempDir d;
  std::string fifo = d.path() + "/fifo.toml";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THAT(load_error({fifo}), ::testing::HasSubstr("cannot read profile '" + fifo + "': not a regular file"));
  EXPECT_THAT(load_error({d.path()}), ::testing::HasSubstr("not a regular file"));
  auto last = d.write("nonl.toml", "version = 1\nname = \"no-newline\"");
  Profile p;
  nsrig::load_profiles({last}, p);
  EXPECT_EQ(p.name, "no-newline");
  auto bad = d.write("bad.toml", "version = 1\nname = \n");
  EXPECT_THAT(load_error({bad}), ::testing::StartsWith(bad + ":2:8: "));
}

TEST(DidYouMean, PicksClosestWithinDistance) {
  EXPECT_EQ(nsrig::did_you_mean("hostnme", {"hostname", "domainname"}), "; did you mean 'hostname'?");
  EXPECT_EQ(nsrig::did_you_mean("zzzzzz", {"hostname"}), "");
  EXPECT_EQ(nsrig::did_you_mean("x", {}), "");
}

}  // namespace
