#include "ipam.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

// Plain POSIX file calls, not <fstream>/<filesystem>: those link about 2,500
// relocations of libstdc++ into the plugin, which every nsrig run that loads
// it pays for (docs/benchmarks.md, "Making it fast").

namespace ipam {
namespace {

[[noreturn]] void fail(const std::string &what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

// A lease file: exactly "<instance id> <owner pid>\n", as allocate() writes
// it (an id without blanks, one space, a pid of decimal digits that fits a
// pid_t). False when unreadable or anything else: a malformed lease is free.
bool read_lease(const std::string &path, std::string &id, long &pid) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof buf) || buf[n - 1] != '\n') return false;  // cut, or no end
  std::string line(buf, static_cast<size_t>(n - 1));
  size_t space = line.find(' ');
  if (space == 0 || space == std::string::npos || line.find_first_of(" \t\r\n", space + 1) != std::string::npos)
    return false;
  std::string digits = line.substr(space + 1);
  if (digits.empty() || digits.size() > 10 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  pid = std::stol(digits);
  if (pid <= 0 || pid > INT_MAX) return false;
  id = line.substr(0, space);
  return id.find_first_of(" \t\r") == std::string::npos;
}

// Alive while its owner is.
bool lease_alive(const std::string &path) {
  std::string id;
  long pid = 0;
  if (!read_lease(path, id, pid)) return false;
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

// The lease files in `dir` (their names are the addresses), as full paths.
std::vector<std::string> leases(const std::string &dir) {
  std::vector<std::string> out;
  DIR *d = opendir(dir.c_str());
  if (!d) return out;
  while (const dirent *e = readdir(d)) {
    in_addr a{};
    if (inet_pton(AF_INET, e->d_name, &a) == 1) out.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  return out;
}

// mkdir -p, mode 0755 for what it makes. False when a directory on the way
// vanished between two mkdir calls: the last instance on another pool (or
// this one) removes the empty ones above it as it ends (~Pool), so the caller
// starts over. Other errors throw.
bool make_dirs(const std::string &dir) {
  for (size_t at = 1; at != std::string::npos;) {
    at = dir.find('/', at + 1);
    std::string part = dir.substr(0, at);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
      if (errno == ENOENT) return false;
      fail("mkdir('" + part + "')");
    }
  }
  return true;
}

// The directory part of `path` ("/run/nsrig/net" for "/run/nsrig/net/br0").
std::string parent_of(const std::string &path) { return path.substr(0, path.rfind('/')); }

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
    if (!make_dirs(dir_)) continue;
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
    for (auto &f : leases(dir_)) unlink(f.c_str());  // stale leases
    unlink((dir_ + "/lock").c_str());
    rmdir(dir_.c_str());  // fails harmlessly if another instance just came in
    rmdir(parent_of(dir_).c_str());             // .../net, when empty
    rmdir(parent_of(parent_of(dir_)).c_str());  // /run/nsrig, when empty
  }
  close(lock_fd_);
}

uint32_t Pool::allocate(const std::string &instance, pid_t owner) {
  for (uint32_t a = subnet_.gateway() + 1; a <= subnet_.last(); ++a) {
    std::string p = dir_ + "/" + ip_str(a);
    if (access(p.c_str(), F_OK) == 0 && lease_alive(p)) continue;
    std::string tmp = p + ".new", text = instance + " " + std::to_string(owner) + "\n";
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail("open lease '" + tmp + "'");
    bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    int e = errno;
    if (close(fd) != 0 && written) written = false, e = errno;
    if (!written) {
      unlink(tmp.c_str());
      errno = e;
      fail("write lease '" + tmp + "'");
    }
    if (rename(tmp.c_str(), p.c_str()) != 0) fail("rename('" + tmp + "')");
    return a;
  }
  throw std::runtime_error("address pool " + subnet_.str() + " is exhausted (" +
                           std::to_string(subnet_.last() - subnet_.gateway()) +
                           " addresses, all leased); use a larger 'subnet'");
}

void Pool::release(const std::string &instance) {
  for (auto &f : leases(dir_)) {
    std::string owner;
    long pid = 0;
    if (read_lease(f, owner, pid) && owner == instance) unlink(f.c_str());
  }
}

int Pool::live() const {
  int n = 0;
  for (auto &f : leases(dir_))
    if (lease_alive(f)) ++n;
  return n;
}

}  // namespace ipam
