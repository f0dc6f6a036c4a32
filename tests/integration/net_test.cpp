// The net plugin on real namespaces: veth, the bridge with its address pool,
// and nothing left on the host. Traffic goes only to addresses inside
// namespaces these tests create. Each test uses its own bridge and subnet, so
// that tests running side by side do not meet.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>

#include "../unit/helpers.hpp"
#include "support.hpp"

using namespace nsrig::test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {


std::string bridge_profile(const TempDir &d, const std::string &bridge, const std::string &subnet,
                           const std::string &extra = "") {
  return d.write(bridge + ".toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"bridge\"\nbridge = \"" + bridge +
                                       "\"\nsubnet = \"" + subnet + "\"\n" + extra);
}

// First IPv4 address printed as "inet A.B.C.D/" in `out`.
std::string inet(const std::string &out) {
  std::smatch m;
  return std::regex_search(out, m, std::regex("inet ([0-9.]+)/")) ? m[1].str() : "";
}

TEST(Net, NoneHasOnlyLoopbackUp) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "ip -o link show | awk -F': ' '{print $2}'; ping -c1 -W2 127.0.0.1 >/dev/null && echo lo-ok"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "lo\nlo-ok\n");
}

TEST(Net, LoopbackFalseLeavesLoDown) {
  REQUIRE_ROOT();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nloopback = false\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c",
                        "ip -o link show lo | grep -c UP; ping -c1 -W1 127.0.0.1 >/dev/null 2>&1 || echo no-lo"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "0\nno-lo\n");
  Result e = run_nsrig({"explain", p});
  EXPECT_EQ(e.exit_code, 0) << e.err;
  EXPECT_THAT(e.out, ::testing::Not(HasSubstr("lo up")));
}

TEST(Net, LoopbackFalseRefusesACniListThatBringsLoUp) {
  REQUIRE_ROOT();
  TempDir d;
  auto list = d.write("l.conflist", R"({"cniVersion": "1.0.0", "name": "nsrtlo", "plugins": [{"type": "loopback"}]})");
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"cni\"\nconflist = \"" + list +
                                 "\"\nloopback = false\n");
  Result r = run_nsrig({"validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("p.toml:6:12: net: 'loopback' is false, but " + list + " has a \"loopback\" plugin"));
}

// net.so loads net-netlink.mod from the directory of the real net.so (a plugin
// dir of symlinks works), and only a file of root's that nobody else can write:
// in a sticky directory another user could plant one.
TEST(Net, NetlinkModuleComesFromBesideTheRealNetSoAndMustBeRoots) {
  REQUIRE_ROOT();
  TempDir links, sticky, d;
  chmod(links.path().c_str(), 0755);
  fs::create_symlink(std::string(NSRIG_PLUGIN_DIR) + "/net.so", links.path() + "/net.so");
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"veth\"\n"
                             "addresses = [\"10.232.9.2/30\"]\nhost_addresses = [\"10.232.9.1/30\"]\n");
  Result r = run_nsrig({"--plugin-dir", links.path(), "validate", p});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  chmod(sticky.path().c_str(), 01777);
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/net.so", sticky.path() + "/net.so");
  fs::copy_file(std::string(NSRIG_PLUGIN_DIR) + "/net-netlink.mod", sticky.path() + "/net-netlink.mod");
  ASSERT_EQ(chown((sticky.path() + "/net-netlink.mod").c_str(), 65534, 65534), 0);
  r = run_nsrig({"--plugin-dir", sticky.path(), "validate", p});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("refusing " + fs::canonical(sticky.path()).string() + "/net-netlink.mod"));
}

TEST(Net, VethReachableFromTheHost) {
  REQUIRE_ROOT();
  std::string before = nsr_links();
  TempDir d;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"veth\"\n"
                             "addresses = [\"10.232.7.2/30\"]\nhost_addresses = [\"10.232.7.1/30\"]\nmtu = 1400\n");
  Child c(nsrig_argv({"run", "-p", p, "--", "sh", "-c",
                      "ip -o -4 addr show eth0; cat /sys/class/net/eth0/mtu; ip -o link show lo | grep -c UP; "
                      "echo ready; nc -l -w 20 10.232.7.2 7777"}));
  ASSERT_TRUE(c.wait_for_line("ready")) << c.out();
  EXPECT_THAT(c.out(), HasSubstr("inet 10.232.7.2/30"));
  EXPECT_THAT(c.out(), HasSubstr("\n1400\n1\n"));
  EXPECT_EQ(run({"/bin/ping", "-c1", "-W2", "10.232.7.2"}).exit_code, 0);
  // Connect once the listener is up (bounded retries).
  Result sent;
  for (int i = 0; i < 100; ++i) {
    sent = run({"/bin/sh", "-c", "echo hello-over-veth | nc -N -w 2 10.232.7.2 7777"});
    if (sent.exit_code == 0) break;
    usleep(50000);
  }
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  EXPECT_EQ(c.wait(), 0);
  EXPECT_THAT(c.out(), HasSubstr("hello-over-veth"));
  EXPECT_EQ(nsr_links(), before);
}

TEST(Net, TwoInstancesOnABridgeTalk) {
  REQUIRE_ROOT();
  std::string before = nsr_links();
  TempDir d, state;
  auto p = bridge_profile(d, "nsrt1", "10.232.8.0/24");
  auto env = [&](std::vector<std::string> args) { return nsrig_argv_in(state.path(), args); };
  Child a(env({"run", "-p", p, "--", "sh", "-c", "ip -o -4 addr show eth0; echo ready; nc -l -w 20 0.0.0.0 7777"}));
  ASSERT_TRUE(a.wait_for_line("ready")) << a.out();
  std::string addr_a = inet(a.out());
  ASSERT_FALSE(addr_a.empty()) << a.out();
  Child b(env({"run", "-p", p, "--", "sh", "-c",
               "ip -o -4 addr show eth0; echo ready; for i in $(seq 100); do "
               "echo from-b | nc -N -w 2 " + addr_a + " 7777 && exit 0; sleep 0.05; done; exit 1"}));
  ASSERT_TRUE(b.wait_for_line("ready")) << b.out();
  std::string addr_b = inet(b.out());
  EXPECT_NE(addr_a, addr_b);
  EXPECT_THAT(addr_a, ::testing::StartsWith("10.232.8."));
  EXPECT_THAT(addr_b, ::testing::StartsWith("10.232.8."));
  EXPECT_EQ(b.wait(), 0) << b.out();
  EXPECT_EQ(a.wait(), 0);
  EXPECT_THAT(a.out(), HasSubstr("from-b"));
  EXPECT_EQ(nsr_links(), before) << "a link (veth or bridge) was left on the host";
  EXPECT_TRUE(fs::is_empty(state.path())) << "a lease or state dir was left: " << sh("find " + state.path());
}

TEST(Net, ManySpawnsLeaveTheHostAsBefore) {
  REQUIRE_ROOT();
  std::string before = nsr_links();
  TempDir d, state;
  auto p = bridge_profile(d, "nsrt2", "10.232.9.0/24");
  for (int i = 0; i < 200; ++i) {
    Result r = run_nsrig_in(state.path(), {"run", "-p", p, "--", "true"});
    ASSERT_EQ(r.exit_code, 0) << "spawn " << i << ": " << r.err;
  }
  EXPECT_EQ(nsr_links(), before);
  EXPECT_TRUE(fs::is_empty(state.path())) << sh("find " + state.path());
}

// Leases whose owner cannot be alive are taken again, and the last instance
// still removes the pool and the bridge: a pid that overflows (strtol would
// saturate, and kill(-1, 0) succeed), trailing text, garbage, an empty file.
TEST(Net, MalformedLeasesAreTakenAndCleanedUp) {
  REQUIRE_ROOT();
  std::string before = nsr_links();
  TempDir d, state;
  auto p = bridge_profile(d, "nsrt7", "10.232.14.0/24");
  struct stat ns {};
  ASSERT_EQ(stat("/proc/self/ns/net", &ns), 0);
  std::string pool = "/run/nsrig/.net/" + std::to_string(ns.st_ino) + "-nsrt7";
  fs::create_directories(pool);
  auto lease = [&](const std::string &addr, const std::string &text) {
    FILE *f = std::fopen((pool + "/" + addr).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs(text.c_str(), f);
    std::fclose(f);
  };
  // pid 1 is alive: each of these would keep its address (and the pool) if read as a lease.
  lease("10.232.14.2", "x 99999999999999999999\n");
  lease("10.232.14.3", "y 1 and more\n");
  lease("10.232.14.4", "garbage");
  lease("10.232.14.5", "");
  lease("10.232.14.6", "x +1\n");
  lease("10.232.14.7", "x  1\n");
  lease("10.232.14.8", "x 1\ngarbage\n");
  lease("10.232.14.9", std::string(125, 'i') + " 1234567\n");  // longer than a lease: a cut read would say pid 1
  lease("10.232.14.10", "x 1");
  Result r = run_nsrig_in(state.path(), {"run", "-p", p, "--", "ip", "-4", "-o", "addr", "show", "eth0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(inet(r.out), "10.232.14.2");
  EXPECT_FALSE(fs::exists(pool)) << sh("ls -la " + pool);
  EXPECT_EQ(nsr_links(), before);
}

TEST(Net, FailureAfterNetLeavesNothing) {
  REQUIRE_ROOT();
  std::string before = nsr_links();
  TempDir d, state;
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"bridge\"\nbridge = \"nsrt3\"\n"
                             "subnet = \"10.232.10.0/24\"\n[[namespace]]\ntype = \"probe\"\nfail_in = \"child_setup\"\n");
  Result r = run_nsrig_in(state.path(), {"run", "-p", p, "--", "true"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("probe failure in child_setup"));
  EXPECT_EQ(nsr_links(), before);
  EXPECT_TRUE(fs::is_empty(state.path())) << sh("find " + state.path());
}

TEST(Net, ExhaustedPoolFailsBeforeClone) {
  REQUIRE_ROOT();
  TempDir d, state;
  auto p = bridge_profile(d, "nsrt4", "10.232.11.0/30");  // one address for instances: .2
  auto args = [&](std::vector<std::string> a) { return nsrig_argv_in(state.path(), a); };
  Child a(args({"run", "-p", p, "--", "sh", "-c", "echo ready; exec sleep 30"}));
  ASSERT_TRUE(a.wait_for_line("ready"));
  Result b = run(args({"run", "-p", p, "--", "true"}));
  EXPECT_EQ(b.exit_code, 125);
  EXPECT_THAT(b.err, HasSubstr("address pool 10.232.11.0/30 is exhausted"));
  kill(a.pid(), SIGTERM);
  a.wait();
}

TEST(Net, BridgeMustBeABridge) {
  REQUIRE_ROOT();
  ASSERT_EQ(run({"/bin/sh", "-c", "ip link add nsrtv0 type veth peer name nsrtv1"}).exit_code, 0);
  TempDir d;
  Result r = run_nsrig({"validate", bridge_profile(d, "nsrtv0", "10.232.13.0/24")});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("is not a bridge (it is a veth link)"));
  EXPECT_EQ(run({"/bin/sh", "-c", "ip link show nsrtv0 >/dev/null && ip link del nsrtv0"}).exit_code, 0);  // untouched
}

TEST(Net, SubnetOverlappingAHostRouteIsRefused) {
  REQUIRE_ROOT();
  // A route of our own to clash with, on a link of our own (nsr prefix), removed at the end.
  ASSERT_EQ(run({"/bin/sh", "-c", "ip link add nsrtd0 type veth peer name nsrtd1 && "
                                  "ip addr add 10.232.12.1/24 dev nsrtd0 && ip link set nsrtd0 up"}).exit_code, 0);
  TempDir d;
  auto p = bridge_profile(d, "nsrt5", "10.232.0.0/16");
  Result r = run_nsrig({"validate", p});
  run({"/bin/sh", "-c", "ip link del nsrtd0"});
  EXPECT_EQ(r.exit_code, 125);
  EXPECT_THAT(r.err, HasSubstr("10.232.0.0/16 overlaps the host's route 10.232.12.0/24 dev nsrtd0"));
}

// CNI with Debian's containernetworking-plugins: bridge + host-local.
TEST(Net, CniBridgeHostLocalAddAndDel) {
  REQUIRE_ROOT();
  ASSERT_TRUE(fs::exists("/usr/lib/cni/bridge")) << "containernetworking-plugins is missing (scripts/install-deps.sh)";
  TempDir d;
  auto list = d.write("net.conflist", R"({
  "cniVersion": "1.0.0", "name": "nsrtest",
  "plugins": [{ "type": "bridge", "bridge": "nsrtcni0", "isGateway": true, "ipMasq": false,
                "ipam": { "type": "host-local", "dataDir": ")" + d.path() + R"(/ipam",
                          "ranges": [[{ "subnet": "10.232.30.0/24" }]] } }]
})");
  auto p = d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"cni\"\nconflist = \"" + list + "\"\n");
  Result r = run_nsrig({"run", "-p", p, "--", "sh", "-c", "ip -o -4 addr show eth0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("inet 10.232.30.2/24"));
  // DEL released the address and removed the veth; the bridge stays, as CNI's bridge plugin does.
  EXPECT_FALSE(fs::exists(d.path() + "/ipam/nsrtest/10.232.30.2"));
  EXPECT_EQ(nsr_links(), "nsrtcni0\n");
  // A plugin that does not exist: ADD fails before the payload runs, DEL still runs.
  auto bad = d.write("bad.conflist", R"({"cniVersion": "1.0.0", "name": "nsrbad", "plugins": [{ "type": "no-such-cni" }]})");
  auto pb = d.write("pb.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"cni\"\nconflist = \"" + bad + "\"\n");
  Result b = run_nsrig({"run", "-p", pb, "--", "true"});
  EXPECT_EQ(b.exit_code, 125);
  EXPECT_THAT(b.err, HasSubstr("CNI plugin 'no-such-cni' not found in CNI_PATH"));
  run({"/bin/sh", "-c", "ip link del nsrtcni0"});
}

TEST(Net, ConfigErrors) {
  TempDir d;
  auto err = [&](const std::string &body) {
    return run_nsrig({"validate", d.write("p.toml", "version = 1\n[[namespace]]\ntype = \"net\"\n" + body)}).err;
  };
  EXPECT_THAT(err("mode = \"bridge\"\nbridge = \"br0\"\n"), HasSubstr("must start with \"nsr\""));
  EXPECT_THAT(err("mode = \"bridge\"\nbridge = \"nsrabcdefghijklmnop\"\n"), HasSubstr("1 to 15 bytes"));
  EXPECT_THAT(err("mode = \"bridge\"\nsubnet = \"10.1.2.3/24\"\n"), HasSubstr("did you mean 10.1.2.0/24?"));
  EXPECT_THAT(err("mode = \"veth\"\naddresses = [\"10.1.2.3\"]\n"), HasSubstr("needs a prefix length"));
  EXPECT_THAT(err("mode = \"veth\"\ndefault_route = true\n"), HasSubstr("needs host_addresses"));
  EXPECT_THAT(err("mode = \"cnx\"\n"), HasSubstr("must be \"none\", \"veth\", \"bridge\" or \"cni\""));
  EXPECT_THAT(err("mode = \"cni\"\n"), HasSubstr("needs 'conflist'"));
  EXPECT_THAT(err("mode = \"cni\"\nconflist = \"/nonexistent.conflist\"\n"), HasSubstr("cannot read CNI network"));
  EXPECT_THAT(err("mode = \"veth\"\nmac = \"zz\"\n"), HasSubstr("must be a unicast MAC address"));
  EXPECT_THAT(err("mode = \"veth\"\nmac = \"02-00-00-00-00-01\"\n"), HasSubstr("must be a unicast MAC address"));
  EXPECT_THAT(err("mode = \"veth\"\nmac = \"01:00:5e:00:00:01\"\n"), HasSubstr("first octet even"));
  EXPECT_THAT(err("mode = \"veth\"\nmac = \"00:00:00:00:00:00\"\n"), HasSubstr("not all zeros"));
  EXPECT_EQ(run_nsrig({"validate", d.write("ok.toml", "version = 1\n[[namespace]]\ntype = \"net\"\nmode = \"veth\"\n"
                                                      "mac = \"0A:bc:DE:00:00:01\"\n")}).exit_code, 0);
  EXPECT_THAT(err("mode = \"veth\"\naddresses = [\"10.240.9.300/24\"]\n"), HasSubstr("p.toml:5:14: net: 'addresses[0]'"));
  EXPECT_THAT(err("mode = \"veth\"\naddresses = [\"fd00::2/129\"]\n"), HasSubstr("is not an IPv4 or IPv6 address"));
  EXPECT_THAT(err("mode = \"veth\"\nhost_addresses = [\"10.240.9.1\"]\n"), HasSubstr("needs a prefix length"));
  EXPECT_THAT(err("mode = \"bridge\"\nbridge = \"nsrb%d\"\n"), HasSubstr("1 to 15 bytes"));
  EXPECT_THAT(err("mode = \"bridge\"\nsubnet = \"10.240.1.0/24abc\"\n"), HasSubstr("prefix length must be 8 to 30"));
}

}  // namespace
