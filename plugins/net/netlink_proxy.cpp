// nl::Socket in the net plugin: forwards to net-netlink.mod (netlink_module.hpp),
// which is loaded, with libnl, the first time a socket is made. The module
// sits next to net.so, so it passed the registry's ownership checks with it.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "netlink.hpp"
#include "netlink_module.hpp"

namespace nl {
namespace {

const NetlinkOps &ops() {
  static const NetlinkOps *table = [] {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void *>(&ops), &info) || !info.dli_fname)
      throw std::runtime_error("cannot find where the net plugin was loaded from (dladdr)");
    // Next to the real net.so: the registry resolved its path through trusted directories only.
    char real[PATH_MAX];
    std::string self = realpath(info.dli_fname, real) ? real : info.dli_fname;
    std::string path = self.substr(0, self.rfind('/') + 1) + NSRIG_NETLINK_MODULE;
    // The registry's rule for plugin files, for this one too: as root, root's and not writable by others.
    // Checked on the file opened, and that file loaded (/proc/self/fd/N), since the directory may be a
    // sticky one where others can create a missing module. No symlink (O_NOFOLLOW); O_NONBLOCK: no FIFO hang.
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st {};
    if (fd < 0 || fstat(fd, &st) != 0) {
      std::string why = std::strerror(errno);
      if (fd >= 0) close(fd);
      throw std::runtime_error("cannot load the net plugin's netlink module " + path + ": " + why +
                               " (it is installed next to net.so, as a file of its own; reinstall nsrig)");
    }
    if (!S_ISREG(st.st_mode) || (geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022)))) {
      close(fd);
      throw std::runtime_error("refusing " + path + ": it must be a regular file and, as nsrig runs as root, owned by "
                               "root and not writable by group or others (chown root; chmod go-w)");
    }
    // The descriptor stays open: the library's name is /proc/self/fd/N, and a later
    // dlopen of that name would be taken for this library if N were reused.
    std::string by_fd = "/proc/self/fd/" + std::to_string(fd);
    void *h = dlopen(access(by_fd.c_str(), F_OK) == 0 ? by_fd.c_str() : path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      std::string why = dlerror();
      close(fd);
      for (size_t i; (i = why.find(by_fd)) != std::string::npos;) why.replace(i, by_fd.size(), path);
      throw std::runtime_error("cannot load the net plugin's netlink module " + path + ": " + why +
                               " (it is installed next to net.so; reinstall nsrig)");
    }
    auto *t = static_cast<const NetlinkOps *>(dlsym(h, NSRIG_NETLINK_OPS_SYMBOL));
    if (!t || t->size < sizeof(NetlinkOps))
      throw std::runtime_error(path + " is not the netlink module of this net plugin (rebuild nsrig)");
    return t;
  }();
  return *table;
}

constexpr size_t kErr = 1024;

void check(int rc, const char *err) {
  if (rc != 0) throw std::runtime_error(err);
}

}  // namespace

Socket::Socket() {
  char err[kErr] = "";
  void *s = ops().open(err, sizeof err);
  if (!s) throw std::runtime_error(err);
  sk_ = static_cast<::nl_sock *>(s);  // the module's handle: opaque here
}

Socket::~Socket() { ops().close(sk_); }

int Socket::index(const std::string &name) {
  char err[kErr] = "";
  int out = 0;
  check(ops().index(sk_, name.c_str(), &out, err, sizeof err), err);
  return out;
}

std::string Socket::kind(const std::string &name) {
  char err[kErr] = "", out[64] = "";
  check(ops().kind(sk_, name.c_str(), out, sizeof out, err, sizeof err), err);
  return out;
}

void Socket::add_veth(const std::string &host, const std::string &peer, pid_t pid) {
  char err[kErr] = "";
  check(ops().add_veth(sk_, host.c_str(), peer.c_str(), pid, err, sizeof err), err);
}

void Socket::add_bridge(const std::string &name) {
  char err[kErr] = "";
  check(ops().add_bridge(sk_, name.c_str(), err, sizeof err), err);
}

void Socket::remove(const std::string &name) {
  char err[kErr] = "";
  check(ops().remove(sk_, name.c_str(), err, sizeof err), err);
}

void Socket::up(const std::string &name) {
  char err[kErr] = "";
  check(ops().up(sk_, name.c_str(), err, sizeof err), err);
}

void Socket::enslave(const std::string &link, const std::string &bridge) {
  char err[kErr] = "";
  check(ops().enslave(sk_, link.c_str(), bridge.c_str(), err, sizeof err), err);
}

void Socket::set_mtu(const std::string &name, unsigned mtu) {
  char err[kErr] = "";
  check(ops().set_mtu(sk_, name.c_str(), mtu, err, sizeof err), err);
}

void Socket::set_mac(const std::string &name, const std::string &mac) {
  char err[kErr] = "";
  check(ops().set_mac(sk_, name.c_str(), mac.c_str(), err, sizeof err), err);
}

void Socket::add_address(const std::string &name, const std::string &cidr) {
  char err[kErr] = "";
  check(ops().add_address(sk_, name.c_str(), cidr.c_str(), err, sizeof err), err);
}

void Socket::add_default_route(const std::string &name, const std::string &gateway) {
  char err[kErr] = "";
  check(ops().add_default_route(sk_, name.c_str(), gateway.c_str(), err, sizeof err), err);
}

std::string Socket::overlapping_route(const std::string &cidr, const std::string &except) {
  char err[kErr] = "", out[512] = "";
  check(ops().overlapping_route(sk_, cidr.c_str(), except.c_str(), out, sizeof out, err, sizeof err), err);
  return out;
}

}  // namespace nl
