// The net plugin's netlink code lives in a module of its own, net-netlink.mod,
// loaded on first use (netlink_proxy.cpp): libnl-route registers every link and
// qdisc type when it is loaded, about 2 ms per process on a VM, which a profile
// with mode = "none" (loopback only, one ioctl) should not pay.
//
// The module exports one table, NSRIG_NETLINK_OPS_SYMBOL, of plain C functions
// (both sides are built together, but each carries its own C++ runtime, so no
// C++ object crosses). Each returns 0, or -1 with a message in err[0..errlen).
#pragma once

#include <stddef.h>
#include <stdint.h>

#define NSRIG_NETLINK_OPS_SYMBOL "nsrig_netlink_ops"
#define NSRIG_NETLINK_MODULE "net-netlink.mod"

struct NetlinkOps {
  uint32_t size;  // sizeof(NetlinkOps) the module was built with
  void *(*open)(char *err, size_t errlen);
  void (*close)(void *sk);
  int (*index)(void *sk, const char *name, int *out, char *err, size_t errlen);
  int (*kind)(void *sk, const char *name, char *out, size_t outlen, char *err, size_t errlen);
  int (*add_veth)(void *sk, const char *host, const char *peer, int pid, char *err, size_t errlen);
  int (*add_bridge)(void *sk, const char *name, char *err, size_t errlen);
  int (*remove)(void *sk, const char *name, char *err, size_t errlen);
  int (*up)(void *sk, const char *name, char *err, size_t errlen);
  int (*enslave)(void *sk, const char *link, const char *bridge, char *err, size_t errlen);
  int (*set_mtu)(void *sk, const char *name, unsigned mtu, char *err, size_t errlen);
  int (*set_mac)(void *sk, const char *name, const char *mac, char *err, size_t errlen);
  int (*add_address)(void *sk, const char *name, const char *cidr, char *err, size_t errlen);
  int (*add_default_route)(void *sk, const char *name, const char *gateway, char *err, size_t errlen);
  int (*overlapping_route)(void *sk, const char *cidr, const char *except, char *out, size_t outlen, char *err,
                           size_t errlen);
};
