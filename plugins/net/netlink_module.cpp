// net-netlink.mod: nl::Socket (netlink.cpp, libnl-route) behind the C table of
// netlink_module.hpp. Every exception stops here and becomes a message.
#include <cstring>
#include <stdexcept>

#include "netlink.hpp"
#include "netlink_module.hpp"

namespace {

void put(const std::string &text, char *buf, size_t len) {
  if (!buf || len == 0) return;
  std::strncpy(buf, text.c_str(), len - 1);
  buf[len - 1] = '\0';
}

template <class F>
int guard(char *err, size_t errlen, F &&f) noexcept {
  try {
    f();
    return 0;
  } catch (const std::exception &e) {
    put(e.what(), err, errlen);
  } catch (...) {
    put("unknown exception in the netlink module", err, errlen);
  }
  return -1;
}

nl::Socket &S(void *sk) { return *static_cast<nl::Socket *>(sk); }

const NetlinkOps kOps = {
    sizeof(NetlinkOps),
    [](char *err, size_t errlen) -> void * {
      nl::Socket *s = nullptr;
      guard(err, errlen, [&] { s = new nl::Socket(); });
      return s;
    },
    [](void *sk) { delete static_cast<nl::Socket *>(sk); },
    [](void *sk, const char *name, int *out, char *err, size_t errlen) {
      return guard(err, errlen, [&] { *out = S(sk).index(name); });
    },
    [](void *sk, const char *name, char *out, size_t outlen, char *err, size_t errlen) {
      return guard(err, errlen, [&] { put(S(sk).kind(name), out, outlen); });
    },
    [](void *sk, const char *host, const char *peer, int pid, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).add_veth(host, peer, pid); });
    },
    [](void *sk, const char *name, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).add_bridge(name); });
    },
    [](void *sk, const char *name, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).remove(name); });
    },
    [](void *sk, const char *name, char *err, size_t errlen) { return guard(err, errlen, [&] { S(sk).up(name); }); },
    [](void *sk, const char *link, const char *bridge, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).enslave(link, bridge); });
    },
    [](void *sk, const char *name, unsigned mtu, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).set_mtu(name, mtu); });
    },
    [](void *sk, const char *name, const char *mac, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).set_mac(name, mac); });
    },
    [](void *sk, const char *name, const char *cidr, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).add_address(name, cidr); });
    },
    [](void *sk, const char *name, const char *gateway, char *err, size_t errlen) {
      return guard(err, errlen, [&] { S(sk).add_default_route(name, gateway); });
    },
    [](void *sk, const char *cidr, const char *except, char *out, size_t outlen, char *err, size_t errlen) {
      return guard(err, errlen, [&] { put(S(sk).overlapping_route(cidr, except), out, outlen); });
    },
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const NetlinkOps nsrig_netlink_ops = kOps;
