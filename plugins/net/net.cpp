// net: a new network namespace with only the loopback link, brought up.
// A new netns has lo, down (network_namespaces(7)); veth and bridge modes
// come with the networking work.
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <nsrig/plugin.hpp>

namespace {

struct Net {
  static constexpr const char *name = "net";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "network namespace: loopback up";
  static constexpr uint64_t clone_flag = CLONE_NEWNET;

  void configure(nsrig::Context &c) {
    std::string mode = c.string_or("mode", "none");
    if (mode != "none")
      c.fail_at("mode", "'" + mode + "' is not available in this version; use mode = \"none\" (loopback only)");
  }
  // SIOCSIFFLAGS on lo: one ioctl, no netlink socket needed for this (netdevice(7)).
  void child_setup(nsrig::Context &) {
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
