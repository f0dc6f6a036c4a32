#include "ipam.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace ipam {
namespace {

[[noreturn]] void fail(const std::string &what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// A lease: "<instance id> <owner pid>". Alive while the owner is.
bool lease_alive(const fs::path &p, std::string *owner_id = nullptr) {
  std::ifstream f(p);
  std::string id;
  long pid = 0;
  if (!(f >> id >> pid) || pid <= 0) return false;
  if (owner_id) *owner_id = id;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool is_lease(const fs::directory_entry &e) {
  in_addr a{};
  return inet_pton(AF_INET, e.path().filename().c_str(), &a) == 1;
}

}  // namespace

std::string Subnet::str() const { return ip_str(net) + "/" + std::to_string(prefix); }

std::string ip_str(uint32_t addr) {
  in_addr a{htonl(addr)};
  char buf[INET_ADDRSTRLEN];
  return inet_ntop(AF_INET, &a, buf, sizeof buf);
}

Subnet parse_subnet(const std::string &s) {
  size_t slash = s.find('/');
  in_addr a{};
  if (slash == std::string::npos || inet_pton(AF_INET, s.substr(0, slash).c_str(), &a) != 1)
    throw std::invalid_argument("must be an IPv4 subnet in CIDR form, e.g. \"10.231.0.0/24\"");
  int prefix = -1;
  std::string len = s.substr(slash + 1);
  if (!len.empty() && len.size() <= 2 && len.find_first_not_of("0123456789") == std::string::npos) prefix = std::stoi(len);
  if (prefix < 8 || prefix > 30) throw std::invalid_argument("prefix length must be 8 to 30");
  Subnet n{ntohl(a.s_addr), prefix};
  if (n.net & (~0u >> prefix))
    throw std::invalid_argument("has host bits set; did you mean " + ip_str(n.net & ~(~0u >> prefix)) + "/" +
                                std::to_string(prefix) + "?");
  return n;
}

Pool::Pool(const std::string &dir, Subnet subnet) : dir_(dir), subnet_(subnet) {
  // The last user of a pool removes its lock file; a process that opened the
  // old file before that must notice (different inode) and start over.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    std::string lock = dir_ + "/lock";
    int fd = open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // the dir went away under us
      fail("open('" + lock + "')");
    }
    if (flock(fd, LOCK_EX) != 0) {
      int e = errno;
      close(fd);
      errno = e;
      fail("flock('" + lock + "')");
    }
    struct stat held {}, now {};
    if (fstat(fd, &held) == 0 && stat(lock.c_str(), &now) == 0 && held.st_ino == now.st_ino) {
      lock_fd_ = fd;
      return;
    }
    close(fd);
  }
  throw std::runtime_error("could not take the lock of address pool " + dir_);
}

Pool::~Pool() {
  if (live() == 0) {
    std::error_code ec;
    for (auto &e : fs::directory_iterator(dir_, ec))
      if (is_lease(e)) fs::remove(e.path(), ec);  // stale leases
    fs::remove(dir_ + "/lock", ec);
    fs::remove(dir_, ec);  // fails harmlessly if another instance just came in
    fs::remove(fs::path(dir_).parent_path(), ec);                // .../net, when empty
    fs::remove(fs::path(dir_).parent_path().parent_path(), ec);  // /run/nsrig, when empty
  }
  close(lock_fd_);
}

uint32_t Pool::allocate(const std::string &instance, pid_t owner) {
  for (uint32_t a = subnet_.gateway() + 1; a <= subnet_.last(); ++a) {
    fs::path p = fs::path(dir_) / ip_str(a);
    if (fs::exists(p) && lease_alive(p)) continue;
    std::string tmp = p.string() + ".new";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << instance << ' ' << owner << '\n';
      if (!f) fail("write lease '" + tmp + "'");
    }
    if (rename(tmp.c_str(), p.c_str()) != 0) fail("rename('" + tmp + "')");
    return a;
  }
  throw std::runtime_error("address pool " + subnet_.str() + " is exhausted (" +
                           std::to_string(subnet_.last() - subnet_.gateway()) +
                           " addresses, all leased); use a larger 'subnet'");
}

void Pool::release(const std::string &instance) {
  std::error_code ec;
  for (auto &e : fs::directory_iterator(dir_, ec)) {
    if (!is_lease(e)) continue;
    std::string owner;
    std::ifstream f(e.path());
    f >> owner;
    if (owner == instance) fs::remove(e.path(), ec);
  }
}

int Pool::live() const {
  int n = 0;
  std::error_code ec;
  for (auto &e : fs::directory_iterator(dir_, ec))
    if (is_lease(e) && lease_alive(e.path())) ++n;
  return n;
}

}  // namespace ipam
