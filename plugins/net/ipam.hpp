// A small IPv4 address pool for the bridge mode: one lease file per address
// in a directory shared by every instance on that bridge, guarded by an
// flock(2)ed lock file, so that concurrent spawns never hand out one address
// twice. A lease records the instance id and the pid of the process that
// owns it; a lease whose owner is gone is stale and may be taken again.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ipam {

/** An IPv4 subnet, host byte order. */
struct Subnet {
  uint32_t net = 0;  ///< network address
  int prefix = 0;    ///< 8..30
  uint32_t gateway() const { return net + 1; }               ///< the bridge's own address
  uint32_t last() const { return net + (~0u >> prefix) - 1; }  ///< the last host address
  std::string str() const;                                     ///< "10.231.0.0/24"
};

/** Parses "a.b.c.d/p" with 8 <= p <= 30 and no host bits set; throws std::invalid_argument. */
Subnet parse_subnet(const std::string &s);

/** Dotted quad of a host-order address. */
std::string ip_str(uint32_t addr);

/** The pool of one bridge. Every member runs with the pool's lock held. */
class Pool {
 public:
  /** Opens (creating) `dir` and takes its lock; blocks until it is free. Throws std::runtime_error. */
  Pool(const std::string &dir, Subnet subnet);
  /** Releases the lock; removes the lock file and the dir when no lease is left. */
  ~Pool();
  Pool(const Pool &) = delete;
  Pool &operator=(const Pool &) = delete;

  /** Takes the lowest free address (stale leases count as free); throws when the pool is exhausted. */
  uint32_t allocate(const std::string &instance, pid_t owner);
  /** Removes every lease that belongs to `instance`. */
  void release(const std::string &instance);
  /** Leases whose owner is alive. */
  int live() const;

 private:
  std::string dir_;
  Subnet subnet_;
  int lock_fd_ = -1;
};

}  // namespace ipam
