#include "netlink.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include <stdexcept>

namespace nl {
namespace {

[[noreturn]] void fail(const std::string &what, int err) {
  throw std::runtime_error(what + ": " + nl_geterror(err));
}

struct Link {
  rtnl_link *p = rtnl_link_alloc();
  ~Link() { rtnl_link_put(p); }
};
struct Addr {
  nl_addr *p = nullptr;
  ~Addr() {
    if (p) nl_addr_put(p);
  }
};

Addr parse(const std::string &text, int family, const std::string &what) {
  Addr a;
  int err = nl_addr_parse(text.c_str(), family, &a.p);
  if (err < 0) fail(what + ": cannot parse '" + text + "'", err);
  return a;
}

// Applies `change` to link `name` (RTM_NEWLINK on the existing link).
void change(nl_sock *sk, const std::string &name, rtnl_link *change, const std::string &what) {
  rtnl_link *orig = nullptr;
  int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &orig);
  if (err < 0) fail(what + " '" + name + "'", err);
  err = rtnl_link_change(sk, orig, change, 0);
  rtnl_link_put(orig);
  if (err < 0) fail(what + " '" + name + "'", err);
}

}  // namespace

Socket::Socket() : sk_(nl_socket_alloc()) {
  if (!sk_) throw std::runtime_error("nl_socket_alloc: out of memory");
  int err = nl_connect(sk_, NETLINK_ROUTE);
  if (err < 0) {
    nl_socket_free(sk_);
    fail("connect a NETLINK_ROUTE socket", err);
  }
}

Socket::~Socket() { nl_socket_free(sk_); }

int Socket::index(const std::string &name) {
  rtnl_link *l = nullptr;
  if (rtnl_link_get_kernel(sk_, 0, name.c_str(), &l) < 0) return 0;
  int i = rtnl_link_get_ifindex(l);
  rtnl_link_put(l);
  return i;
}

std::string Socket::kind(const std::string &name) {
  rtnl_link *l = nullptr;
  if (rtnl_link_get_kernel(sk_, 0, name.c_str(), &l) < 0) return "";
  const char *t = rtnl_link_get_type(l);
  std::string out = t ? t : "";
  rtnl_link_put(l);
  return out;
}

void Socket::add_veth(const std::string &host, const std::string &peer, pid_t pid) {
  int err = rtnl_link_veth_add(sk_, host.c_str(), peer.c_str(), pid);
  if (err < 0)
    fail("create veth pair '" + host + "' (host) / '" + peer + "' (in the netns of pid " + std::to_string(pid) + ")",
         err);
}

void Socket::add_bridge(const std::string &name) {
  int err = rtnl_link_bridge_add(sk_, name.c_str());
  if (err < 0) fail("create bridge '" + name + "'", err);
}

void Socket::remove(const std::string &name) {
  Link l;
  rtnl_link_set_name(l.p, name.c_str());
  int err = rtnl_link_delete(sk_, l.p);
  if (err < 0 && err != -NLE_NODEV && err != -NLE_OBJ_NOTFOUND) fail("delete link '" + name + "'", err);
}

void Socket::up(const std::string &name) {
  Link c;
  rtnl_link_set_flags(c.p, IFF_UP);
  change(sk_, name, c.p, "set up");
}

void Socket::enslave(const std::string &link, const std::string &bridge) {
  int master = index(bridge);
  if (!master) throw std::runtime_error("attach '" + link + "' to bridge '" + bridge + "': no such bridge");
  Link c;
  rtnl_link_set_master(c.p, master);
  change(sk_, link, c.p, "attach to bridge '" + bridge + "'");
}

void Socket::set_mtu(const std::string &name, unsigned mtu) {
  Link c;
  rtnl_link_set_mtu(c.p, mtu);
  change(sk_, name, c.p, "set mtu " + std::to_string(mtu) + " on");
}

void Socket::set_mac(const std::string &name, const std::string &mac) {
  Addr a = parse(mac, AF_LLC, "mac");
  Link c;
  rtnl_link_set_addr(c.p, a.p);
  change(sk_, name, c.p, "set mac " + mac + " on");
}

void Socket::add_address(const std::string &name, const std::string &cidr) {
  int idx = index(name);
  if (!idx) throw std::runtime_error("add address " + cidr + " to '" + name + "': no such link");
  Addr local = parse(cidr, AF_UNSPEC, "address");
  rtnl_addr *a = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(a, idx);
  rtnl_addr_set_local(a, local.p);
  int err = rtnl_addr_add(sk_, a, 0);
  rtnl_addr_put(a);
  if (err < 0) fail("add address " + cidr + " to '" + name + "'", err);
}

void Socket::add_default_route(const std::string &name, const std::string &gateway) {
  int idx = index(name);
  if (!idx) throw std::runtime_error("add default route on '" + name + "': no such link");
  Addr gw = parse(gateway, AF_UNSPEC, "gateway");
  int family = nl_addr_get_family(gw.p);
  Addr dst = parse("default", family, "default route");
  rtnl_route *r = rtnl_route_alloc();
  rtnl_route_set_family(r, static_cast<uint8_t>(family));
  rtnl_route_set_dst(r, dst.p);
  rtnl_nexthop *nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, idx);
  rtnl_route_nh_set_gateway(nh, gw.p);
  rtnl_route_add_nexthop(r, nh);
  int err = rtnl_route_add(sk_, r, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_route_put(r);
  if (err < 0) fail("add default route via " + gateway + " on '" + name + "'", err);
}

std::string Socket::overlapping_route(const std::string &cidr, const std::string &except) {
  Addr want = parse(cidr, AF_INET, "subnet");
  nl_cache *routes = nullptr, *links = nullptr;
  int err = rtnl_route_alloc_cache(sk_, AF_INET, 0, &routes);
  if (err < 0) fail("list IPv4 routes", err);
  err = rtnl_link_alloc_cache(sk_, AF_UNSPEC, &links);
  if (err < 0) {
    nl_cache_free(routes);
    fail("list links", err);
  }
  int skip = except.empty() ? 0 : rtnl_link_name2i(links, except.c_str());
  std::string found;
  for (nl_object *o = nl_cache_get_first(routes); o && found.empty(); o = nl_cache_get_next(o)) {
    auto *r = reinterpret_cast<rtnl_route *>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) continue;
    nl_addr *dst = rtnl_route_get_dst(r);
    if (!dst || nl_addr_get_prefixlen(dst) == 0) continue;  // the default route overlaps everything
    int ifindex = rtnl_route_get_nnexthops(r) ? rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)) : 0;
    if (skip && ifindex == skip) continue;
    // Two prefixes overlap when the shorter one contains the other's network address.
    unsigned plen = std::min(nl_addr_get_prefixlen(dst), nl_addr_get_prefixlen(want.p));
    if (nl_addr_cmp_prefix(dst, want.p) == 0 || (plen && [&] {
          Addr a, b;
          a.p = nl_addr_clone(dst), b.p = nl_addr_clone(want.p);
          nl_addr_set_prefixlen(a.p, static_cast<int>(plen));
          nl_addr_set_prefixlen(b.p, static_cast<int>(plen));
          return nl_addr_cmp_prefix(a.p, b.p) == 0;
        }())) {
      char buf[64], name[IFNAMSIZ] = "?";
      rtnl_link_i2name(links, ifindex, name, sizeof name);
      found = std::string(nl_addr2str(dst, buf, sizeof buf)) + " dev " + name;
    }
  }
  nl_cache_free(links);
  nl_cache_free(routes);
  return found;
}

}  // namespace nl
