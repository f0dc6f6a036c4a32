// Link, address and route work for the net plugin, through libnl-3
// (libnl-route-3). Every error names the operation, the link and the kernel's
// message (nl_geterror), as std::runtime_error.
#pragma once

#include <sys/types.h>

#include <string>

struct nl_sock;  // libnl-3

namespace nl {

/** A connected NETLINK_ROUTE socket in the calling process's network namespace. */
class Socket {
 public:
  Socket();
  ~Socket();
  Socket(const Socket &) = delete;
  Socket &operator=(const Socket &) = delete;

  /** ifindex of `name`, or 0 when there is no such link. */
  int index(const std::string &name);
  bool exists(const std::string &name) { return index(name) > 0; }
  /** The link's kind ("bridge", "veth", ...; "" for a plain device) (IFLA_INFO_KIND). */
  std::string kind(const std::string &name);

  /** veth pair: `host` here, `peer` created directly in the network namespace of `pid` (veth(4)). */
  void add_veth(const std::string &host, const std::string &peer, pid_t pid);
  /** A bridge named `name` (ip-link(8) type bridge). */
  void add_bridge(const std::string &name);
  /** Deletes link `name`; a link that is already gone is not an error. */
  void remove(const std::string &name);
  /** Sets IFF_UP on `name`. */
  void up(const std::string &name);
  /** Attaches `link` to bridge `bridge` (sets IFLA_MASTER). */
  void enslave(const std::string &link, const std::string &bridge);
  /** Sets the MTU (bytes) of `name`. */
  void set_mtu(const std::string &name, unsigned mtu);
  /** Sets the MAC address ("02:00:00:00:00:01") of `name`. */
  void set_mac(const std::string &name, const std::string &mac);
  /** Adds address `cidr` ("10.0.0.2/24", "fd00::2/64") to `name`. */
  void add_address(const std::string &name, const std::string &cidr);
  /** Adds a default route of `gateway`'s family via `gateway` on `name`. */
  void add_default_route(const std::string &name, const std::string &gateway);
  /**
   * First IPv4 route of the main table whose destination overlaps `cidr`,
   * ignoring routes on link `except` (and the default route); "" when none.
   * Shaped "10.0.0.0/8 dev eth0".
   */
  std::string overlapping_route(const std::string &cidr, const std::string &except);

 private:
  ::nl_sock *sk_;
};

}  // namespace nl
