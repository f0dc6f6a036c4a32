// net: a new network namespace.
//   mode = "none"   only lo, brought up (the fast path); `loopback = false`
//                   leaves it down, as unshare -n does (nsjail: iface_no_lo);
//   mode = "veth"   a veth pair: the host end nsr<id> stays on the host, the
//                   peer is created directly in the instance's namespace as
//                   `ifname` (eth0), with static addresses;
//   mode = "bridge" the same, with the host end attached to an nsrig bridge
//                   (nsrig0 by default, created on first use and deleted by
//                   the last instance) and an address leased from its subnet.
// No NAT, no forwarding and no default route unless the profile asks
// (default_route = true). Links, addresses and routes go through libnl-3.
// Both ends of a veth pair vanish when the namespace dies (veth(4)), so a
// killed nsrig leaves no link behind; teardown deletes the host end anyway.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nsrig/plugin.hpp>
#include <vector>

#include "cni.hpp"
#include "ipam.hpp"
#include "netlink.hpp"

namespace {

constexpr const char *kDefaultBridge = "nsrig0";
constexpr const char *kDefaultSubnet = "10.231.0.0/24";

// A bridge is one link per network namespace, whatever state dir the
// instances on it use (NSRIG_STATE_DIR): so is its address pool. Keyed by the
// namespace's inode and the bridge's name.
// A leading dot: instance names cannot start with one, so no instance dir
// (state base /run/nsrig) ever meets the pools.
constexpr const char *kPoolBase = "/run/nsrig/.net";

std::string pool_dir_for(const std::string &bridge) {
  struct stat st {};
  if (stat("/proc/self/ns/net", &st) != 0) throw std::runtime_error("stat('/proc/self/ns/net'): cannot identify the network namespace");
  return std::string(kPoolBase) + "/" + std::to_string(st.st_ino) + "-" + bridge;
}

// Link names: 1-15 bytes; letters, digits, '-', '_', '.' (no '%': the kernel would number it).
bool valid_ifname(const std::string &n) {
  return !n.empty() && n.size() < IFNAMSIZ && n != "." && n != ".." &&
         n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == std::string::npos;
}

// "a.b.c.d/p" (p <= 32) or an IPv6 address "/p" (p <= 128), nothing else.
bool valid_cidr(const std::string &s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos || slash + 1 >= s.size()) return false;
  std::string addr = s.substr(0, slash), len = s.substr(slash + 1);
  if (len.find_first_not_of("0123456789") != std::string::npos || len.size() > 3) return false;
  int prefix = std::stoi(len);
  unsigned char buf[16];
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) return prefix <= 32;
  if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) return prefix <= 128;
  return false;
}

// Six colon-separated pairs of hex digits, "02:42:ac:11:00:02", of a unicast
// address that is not all zeros: the kernel refuses a multicast address (the
// lowest bit of the first octet, I/G, set) and the zero address for a link
// (EADDRNOTAVAIL; is_valid_ether_addr in include/linux/etherdevice.h).
bool valid_mac(const std::string &m) {
  if (m.size() != 17) return false;
  for (size_t i = 0; i < m.size(); ++i)
    if (i % 3 == 2 ? m[i] != ':' : !std::isxdigit(static_cast<unsigned char>(m[i]))) return false;
  return (std::strtoul(m.substr(0, 2).c_str(), nullptr, 16) & 1) == 0 && m != "00:00:00:00:00:00";
}

// The address part of "a/p" (a gateway for the default route).
std::string address_of(const std::string &cidr) { return cidr.substr(0, cidr.find('/')); }

struct Net {
  static constexpr const char *name = "net";
  static constexpr const char *version = "1.1.0";
  static constexpr const char *description = "network namespace: lo, veth or bridge (libnl)";
  static constexpr uint64_t clone_flag = CLONE_NEWNET;

  std::string mode, ifname, mac, bridge, host_if;
  std::vector<std::string> addresses, host_addresses;
  ipam::Subnet subnet;
  unsigned mtu = 0;
  bool default_route = false;
  bool loopback = true;     // bring lo up in the child (about 120 us here: addrconf, routes)
  uint32_t leased = 0;      // bridge mode: the address taken in prepare
  std::string leased_cidr;  // ... as "a.b.c.d/prefix", added before `addresses`
  std::string pool_dir;  // kPoolBase/<netns inode>-<bridge>
  // mode = "cni"
  cni::List cni_list;
  std::string cni_path, cni_result;
  int netns_fd = -1;
  bool cni_added = false;
  std::string id;

  void configure(nsrig::Context &c) {
    mode = c.string_or("mode", "none");
    if (mode != "none" && mode != "veth" && mode != "bridge" && mode != "cni")
      c.fail_at("mode", "must be \"none\", \"veth\", \"bridge\" or \"cni\"");
    loopback = c.boolean_or("loopback", true);
    if (loopback) c.describe("on_child_setup", "lo up (SIOCSIFFLAGS)");
    if (mode == "none") return;
    // Links on the host side (a veth end, a bridge, CNI plugins) need CAP_NET_ADMIN in the
    // initial network namespace's user namespace, which an unprivileged user never has.
    if (geteuid() != 0)
      c.fail_at("mode", "\"" + mode + "\" creates links on the host and needs root; as an unprivileged user use "
                        "mode = \"none\" (loopback only), or run nsrig as root");
    id = c.instance_id();
    if (mode == "cni") {
      ifname = c.string_or("ifname", "eth0");
      if (!valid_ifname(ifname)) c.fail_at("ifname", "must be a link name of 1 to 15 bytes");
      cni_path = c.string_or("cni_path", "/usr/lib/cni:/opt/cni/bin");
      std::string file = c.string_or("conflist", "");
      if (file.empty()) c.fail_at("mode", "\"cni\" needs 'conflist', the path of a CNI network configuration list");
      try {
        cni_list = cni::load(file);
      } catch (const std::runtime_error &e) {
        c.fail_at("conflist", e.what());
      }
      // CNI's loopback plugin brings lo up from outside, after this plugin's choice.
      if (!loopback && std::find(cni_list.types.begin(), cni_list.types.end(), "loopback") != cni_list.types.end())
        c.fail_at("loopback", "is false, but " + file + " has a \"loopback\" plugin, which brings lo up; remove "
                              "one of the two");
      c.describe("on_parent_after_clone", "CNI ADD of each plugin in the network list, in order");
      return;
    }
    // nsr + 8 hex digits of FNV-1a of the id: fits IFNAMSIZ whatever the id (a --name) is,
    // and can be derived again from the id alone (nsrig rm of a crashed instance).
    uint32_t h = 2166136261u;
    for (unsigned char ch : id) h = (h ^ ch) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", h);
    host_if = std::string("nsr") + hex;
    ifname = c.string_or("ifname", "eth0");
    if (!valid_ifname(ifname)) c.fail_at("ifname", "must be a link name of 1 to 15 bytes without '/', ':' or spaces");
    if (auto m = c.integer("mtu")) {
      if (*m < 68 || *m > 65535) c.fail_at("mtu", "must be 68 to 65535 (bytes)");
      mtu = static_cast<unsigned>(*m);
    }
    mac = c.string_or("mac", "");
    if (!mac.empty() && !valid_mac(mac)) c.fail_at("mac", "must be a unicast MAC address (first octet even), not all zeros, like \"02:00:00:00:00:01\"");
    default_route = c.boolean_or("default_route", false);
    addresses = c.strings("addresses");
    if (mode == "veth") {
      host_addresses = c.strings("host_addresses");
      if (default_route && host_addresses.empty())
        c.fail_at("default_route", "needs host_addresses: the route goes via the host end");
    } else {
      bridge = c.string_or("bridge", kDefaultBridge);
      if (!valid_ifname(bridge))
        c.fail_at("bridge", "must be a link name of 1 to 15 bytes without '/', ':' or spaces");
      if (!bridge.starts_with("nsr"))
        c.fail_at("bridge", "must start with \"nsr\": nsrig creates and deletes its bridges, and touches no other link");
      std::string s = c.string_or("subnet", kDefaultSubnet);
      try {
        subnet = ipam::parse_subnet(s);
      } catch (const std::invalid_argument &e) {
        c.fail_at("subnet", e.what());
      }
    }
    for (const char *key : {"addresses", "host_addresses"}) {
      const auto &list = std::string(key) == "addresses" ? addresses : host_addresses;
      for (size_t i = 0; i < list.size(); ++i) {
        const auto &a = list[i];
        std::string at = std::string(key) + "[" + std::to_string(i) + "]";
        if (a.find('/') == std::string::npos) c.fail_at(at, "'" + a + "' needs a prefix length, e.g. \"" + a + "/24\"");
        if (!valid_cidr(a)) c.fail_at(at, "'" + a + "' is not an IPv4 or IPv6 address with a prefix length");
      }
    }
    if (mode == "bridge")
      c.describe("on_prepare", "bridge " + bridge + " (made if missing, gateway " + ipam::ip_str(subnet.gateway()) +
                                   "), an address leased from " + subnet.str());
    if (mode == "veth" || mode == "bridge")
      c.describe("on_parent_after_clone", "veth " + host_if + " on the host, " + ifname + " in the instance" +
                                              (mode == "bridge" ? ", attached to " + bridge : ""));
    if (mode == "veth" || mode == "bridge")
      c.describe("on_child_setup", ifname + ": addresses, up" + std::string(default_route ? ", default route" : ""));
    // Reads only: checks that would otherwise fail after namespaces exist.
    nl::Socket sk;
    if (sk.exists(host_if))
      c.fail_at("mode", "cannot be set up: the host already has a link named '" + host_if + "', the host end for "
                        "instance '" + id + "'; an instance of that name is running (perhaps under another "
                        "NSRIG_STATE_DIR): choose another --name");
    if (mode == "bridge") {
      if (sk.exists(bridge) && sk.kind(bridge) != "bridge")
        c.fail_at("bridge", "the host's link '" + bridge + "' is not a bridge (it is a " + sk.kind(bridge) +
                                " link); name one that nsrig may create");
      std::string clash = sk.overlapping_route(subnet.str(), bridge);
      if (!clash.empty())
        c.fail_at("subnet", subnet.str() + " overlaps the host's route " + clash + "; choose another 'subnet'");
    }
  }

  // Bridge mode: the bridge (first instance creates it) and a lease, under the pool's lock.
  void prepare(nsrig::Context &c) {
    if (mode != "bridge") return;
    pool_dir = pool_dir_for(bridge);
    ipam::Pool pool(pool_dir, subnet);
    nl::Socket sk;
    if (!sk.exists(bridge)) {
      sk.add_bridge(bridge);
      sk.add_address(bridge, ipam::ip_str(subnet.gateway()) + "/" + std::to_string(subnet.prefix));
      sk.up(bridge);
    }
    leased = pool.allocate(id, getpid());
    leased_cidr = ipam::ip_str(leased) + "/" + std::to_string(subnet.prefix);
    c.info("instance address " + leased_cidr + " on bridge " + bridge);
    c.publish("address", leased_cidr);
  }

  // The veth pair, its peer created right inside the child's namespace.
  void parent_after_clone(nsrig::Context &c) {
    if (mode == "none") return;
    if (mode == "cni") return cni_add(c);
    if (mode == "veth" && !addresses.empty()) c.publish("address", addresses.front());
    nl::Socket sk;
    sk.add_veth(host_if, ifname, c.child_pid());
    if (mode == "bridge") sk.enslave(host_if, bridge);
    for (const auto &a : host_addresses) sk.add_address(host_if, a);
    sk.up(host_if);
  }

  void child_setup(nsrig::Context &) {
    if (loopback) lo_up();
    if (mode == "none" || mode == "cni") return;  // CNI plugins configured eth0 from outside
    nl::Socket sk;
    if (mtu) sk.set_mtu(ifname, mtu);
    if (!mac.empty()) sk.set_mac(ifname, mac);
    if (!leased_cidr.empty()) sk.add_address(ifname, leased_cidr);
    for (const auto &a : addresses) sk.add_address(ifname, a);
    sk.up(ifname);
    if (default_route)
      sk.add_default_route(ifname, mode == "bridge" ? ipam::ip_str(subnet.gateway()) : address_of(host_addresses.front()));
  }

  // Works from the id alone too (nsrig rm after a crash): every name is derived from it.
  void teardown(nsrig::Context &c) {
    if (mode == "none") return;
    if (mode == "cni") return cni_del(c);
    nl::Socket sk;
    sk.remove(host_if);  // usually gone already, with the namespace
    if (mode != "bridge") return;
    if (pool_dir.empty()) pool_dir = pool_dir_for(bridge);
    if (access(pool_dir.c_str(), F_OK) != 0) return;
    ipam::Pool pool(pool_dir, subnet);
    pool.release(id);
    if (pool.live() == 0) sk.remove(bridge);  // the last instance on it
  }

  // CNI: the instance's netns is held open by an fd of ours from ADD to DEL,
  // so that DEL still finds it after the payload has gone (spec: DEL runs
  // also when ADD failed half-way, and must not fail on what is missing).
  void cni_add(nsrig::Context &c) {
    std::string ns = "/proc/" + std::to_string(c.child_pid()) + "/ns/net";
    netns_fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) throw std::runtime_error("open('" + ns + "'): " + std::strerror(errno));
    cni_added = true;  // DEL is owed from here, whatever ADD does
    cni_result = cni::add(cni_list, id, netns_path(), ifname, cni_path);
    for (const auto &a : cni::addresses(cni_result)) {
      c.info("CNI network '" + cni_list.name + "' gave " + ifname + " address " + a);
      c.publish("address", a);
    }
  }
  void cni_del(nsrig::Context &c) {
    if (!cni_added) return;
    std::string errors = cni::del(cni_list, id, netns_path(), ifname, cni_path, cni_result);
    if (netns_fd >= 0) close(netns_fd), netns_fd = -1;
    cni_added = false;
    if (!errors.empty()) c.warn("CNI DEL: " + errors);
  }
  std::string netns_path() const {
    return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(netns_fd);
  }
  ~Net() {
    if (netns_fd >= 0) close(netns_fd);
  }

  // SIOCSIFFLAGS on lo: one ioctl (netdevice(7)); a new netns has lo down.
  static void lo_up() {
    int fd = static_cast<int>(nsrig::check(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket(AF_INET)"));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
      ifr.ifr_flags |= IFF_UP;
      rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(fd);
    errno = e;
    nsrig::check(rc, "bring up 'lo' (SIOCSIFFLAGS)");
  }
};

}  // namespace

NSRIG_PLUGIN(Net)
