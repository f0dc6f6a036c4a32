// The hosts plugin: /etc/hosts and /etc/hostname from the facts other plugins
// published (host->fact), including net's address, published after clone3
// and carried to the child with the "go" message. Serial (a veth link).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::string slurp(const std::string &path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

const char *kBase =
    "version = 1\n"
    "[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
    "[[namespace]]\ntype = \"uts\"\nhostname = \"web1\"\n";

TEST(Hosts, HostnameAndAddressFromFacts) {
  REQUIRE_ROOT();
  TempDir d;
  std::string hosts_before = slurp("/etc/hosts"), hostname_before = slurp("/etc/hostname");
  auto p = d.write("p.toml", std::string(kBase) +
                                 "[[namespace]]\ntype = \"net\"\nmode = \"veth\"\naddresses = [\"10.232.9.2/30\"]\n"
                                 "host_addresses = [\"10.232.9.1/30\"]\n"
                                 "[[namespace]]\ntype = \"hosts\"\n");  // after mnt, uts and net (its descriptor says so)
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/hostname"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("127.0.0.1\tlocalhost\n"));
  EXPECT_THAT(r.out, HasSubstr("\n10.232.9.2\tweb1\n"));  // net published it in parent_after_clone
  EXPECT_THAT(r.out, HasSubstr("---\nweb1\n"));
  EXPECT_EQ(slurp("/etc/hosts"), hosts_before) << "the host's /etc/hosts changed";
  EXPECT_EQ(slurp("/etc/hostname"), hostname_before) << "the host's /etc/hostname changed";
}

TEST(Hosts, WithoutAddressUsesDebianLoopbackAndExtraEntries) {
  REQUIRE_ROOT();
  TempDir d;
  auto q = d.write("q.toml", "version = 1\n"
                             "[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"web2\"\n"
                             "[[namespace]]\ntype = \"hosts\"\nhostname_file = false\n"
                             "extra = [{ address = \"10.0.0.5\", names = [\"db\", \"db.local\"] }]\n");
  Result r = run_nsrig({"run", "-p", q, "--", "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/hostname"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("127.0.1.1\tweb2\n"));
  EXPECT_THAT(r.out, HasSubstr("10.0.0.5\tdb db.local\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("---\nweb2\n")));  // hostname_file = false: the host's file shows through
}

TEST(Hosts, RefusesToWriteTheHostsFiles) {
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"hosts\"\n");
  Result r = run_nsrig({"validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("needs the mnt plugin with a root of the instance's own"));
  auto q = d.write("q.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\n[[namespace]]\ntype = \"hosts\"\n"
                             "extra = [{ address = \"10.0.0.300\", names = [\"db\"] }]\n");
  r = run_nsrig({"validate", q});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("q.toml:6:22: hosts: 'extra[0].address' '10.0.0.300' is not an IPv4 or IPv6 address"));
  if (!is_root()) return;
  // mnt without a root: the child-side check refuses before writing anything.
  std::string before = slurp("/etc/hosts");
  auto m = d.write("m.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\n[[namespace]]\ntype = \"hosts\"\n");
  r = run_nsrig({"run", "-p", m, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("refusing to write the host's /etc/hosts"));
  EXPECT_EQ(slurp("/etc/hosts"), before);
}

}  // namespace

namespace {
// A directory root is the directory itself (bound, not copied): hosts refuses to change it.
TEST(Hosts, RefusesADirectoryRoot) {
  REQUIRE_ROOT();
  std::string before = slurp("/etc/hosts");
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = \"/\"\nsys = false\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"dirroot\"\n[[namespace]]\ntype = \"hosts\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("the instance's root is the directory '/', bound and not copied"));
  EXPECT_EQ(slurp("/etc/hosts"), before);
  // An overlay root, but a host directory bound onto /etc: refused too, the directory unchanged.
  auto etc = d.write("etc/hosts", "original\n");
  auto q = d.write("q.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
                             "sys = false\nmounts = [{ type = \"bind\", source = \"" + d.path() + "/etc\", target = \"/etc\" }]\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"dirroot\"\n[[namespace]]\ntype = \"hosts\"\n");
  r = run_nsrig({"run", "-p", q, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("/etc inside is not on the overlay root"));
  EXPECT_EQ(slurp(etc), "original\n");
  // A host tmpfs bound onto /etc is refused as well.
  auto t = d.write("t.toml", "version = 1\n[[namespace]]\ntype = \"mnt\"\nroot = { overlay = { lower = [\"/\"] } }\n"
                             "sys = false\nmounts = [{ type = \"bind\", source = \"/dev/shm\", target = \"/etc\" }]\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"dirroot\"\n[[namespace]]\ntype = \"hosts\"\n");
  r = run_nsrig({"run", "-p", t, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("/etc inside is not on the overlay root"));
  EXPECT_FALSE(std::filesystem::exists("/dev/shm/hosts"));
  // An image whose /etc is a symlink (here to /dev, with the host's /dev inside): refused,
  // nothing written in the host's /dev.
  std::string img = d.path() + "/img";
  ASSERT_EQ(run({"/bin/sh", "-c", "mkdir -p " + img + "/proc " + img + "/dev && ln -s /dev " + img + "/etc"}).exit_code,
            0);
  auto u = d.write("u.toml", "version = 1\n[[namespace]]\ntype = \"pid\"\n[[namespace]]\ntype = \"mnt\"\n"
                             "root = { overlay = { lower = [\"" + img + "\"] } }\ndev = \"host\"\nsys = false\n"
                             "[[namespace]]\ntype = \"uts\"\nhostname = \"pwned\"\n[[namespace]]\ntype = \"hosts\"\n");
  r = run_nsrig({"run", "-p", u, "--", "/bin/true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("/etc inside is not a directory of the overlay root"));
  EXPECT_FALSE(std::filesystem::exists("/dev/hosts"));
  EXPECT_FALSE(std::filesystem::exists("/dev/hosts.nsrig-new"));
}
}  // namespace
