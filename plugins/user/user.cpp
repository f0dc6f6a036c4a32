// user: a new user namespace. Its uid_map and gid_map are written by the
// parent once the child exists and before it does anything else
// (user_namespaces(7), "User and group ID mappings: uid_map and gid_map").
// Rules followed here from that page: one write per map file; at most 340
// lines; ranges must not overlap; an unprivileged writer may only map its own
// id, one line, and must write "deny" to /proc/PID/setgroups before gid_map.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <unistd.h>

#include <nsrig/plugin.hpp>
#include <vector>

namespace {

struct Range {
  int64_t inside, outside, count;
};

std::vector<Range> read_map(nsrig::Context &c, const std::string &key) {
  std::vector<Range> out;
  size_t n = c.size(key);
  if (n > 340) c.fail_at(key, "has more than 340 ranges, the kernel's limit");
  for (size_t i = 0; i < n; ++i) {
    std::string at = key + "[" + std::to_string(i) + "]";
    Range r{};
    auto need = [&](const char *k) {
      auto v = c.integer(at + "." + k);
      if (!v) c.fail_at(at, std::string("needs '") + k + "' (inside, outside, count are all required)");
      if (*v < 0 || *v > 4294967295LL) c.fail_at(at + "." + k, "must be between 0 and 4294967295");
      return *v;
    };
    r.inside = need("inside");
    r.outside = need("outside");
    r.count = need("count");
    if (r.count == 0) c.fail_at(at + ".count", "must be at least 1");
    constexpr int64_t kIds = 4294967296LL;  // ids are 32-bit: a range may not run past 2^32
    if (r.inside + r.count > kIds || r.outside + r.count > kIds)
      c.fail_at(at, "runs past id 4294967295: lower 'count' or the first id");
    for (auto &o : out) {
      if (r.inside < o.inside + o.count && o.inside < r.inside + r.count)
        c.fail_at(at, "overlaps another range inside the namespace");
      if (r.outside < o.outside + o.count && o.outside < r.outside + r.count)
        c.fail_at(at, "overlaps another range outside the namespace");
    }
    out.push_back(r);
  }
  return out;
}

std::string format(const std::vector<Range> &m) {
  std::string s;
  for (auto &r : m) s += std::to_string(r.inside) + " " + std::to_string(r.outside) + " " + std::to_string(r.count) + "\n";
  return s;
}

void write_file(const std::string &path, const std::string &data) {
  int fd = static_cast<int>(nsrig::check(open(path.c_str(), O_WRONLY | O_CLOEXEC), "open('" + path + "')"));
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  errno = e;
  std::string shown = data;
  while (!shown.empty() && shown.back() == '\n') shown.pop_back();
  for (auto &ch : shown)
    if (ch == '\n') ch = ',';
  if (n != static_cast<ssize_t>(data.size())) nsrig::check(-1, "write('" + path + "', '" + shown + "')");
}

struct User {
  static constexpr const char *name = "user";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "user namespace: uid_map/gid_map written by the parent";
  static constexpr uint64_t clone_flag = CLONE_NEWUSER;

  std::vector<Range> uids, gids;
  std::string setgroups;

  void configure(nsrig::Context &c) {
    uids = read_map(c, "uid_map");
    gids = read_map(c, "gid_map");
    bool root = geteuid() == 0;
    // As root with no maps: root to root, every id to itself (the initial namespace's map).
    const int64_t uid = geteuid(), gid = getegid();
    if (uids.empty()) uids = {root ? Range{0, 0, 4294967295LL} : Range{0, uid, 1}};
    if (gids.empty()) gids = {root ? Range{0, 0, 4294967295LL} : Range{0, gid, 1}};
    setgroups = c.string_or("setgroups", root ? "allow" : "deny");
    if (setgroups != "allow" && setgroups != "deny") c.fail_at("setgroups", "must be \"allow\" or \"deny\"");
    if (!root) {
      if (uids.size() != 1 || uids[0].outside != uid || uids[0].count != 1)
        c.fail_at("uid_map", "as an unprivileged user only your own uid (" + std::to_string(uid) +
                                 ") can be mapped, with count = 1; run as root for more");
      if (gids.size() != 1 || gids[0].outside != gid || gids[0].count != 1)
        c.fail_at("gid_map", "as an unprivileged user only your own gid (" + std::to_string(gid) +
                                 ") can be mapped, with count = 1; run as root for more");
      if (setgroups != "deny")
        c.fail_at("setgroups", "must be \"deny\" when running unprivileged (user_namespaces(7))");
    }
    switch_to_root = maps_zero(uids) && maps_zero(gids);
    if (!switch_to_root)
      c.warn("uid/gid 0 is not mapped inside: the payload runs as the overflow id (65534) without capabilities");
  }

  void child_setup(nsrig::Context &) {
    if (!switch_to_root) return;
    if (setgroups == "allow") nsrig::check(::setgroups(0, nullptr), "setgroups([]) inside the user namespace");
    nsrig::check(setresgid(0, 0, 0), "setresgid(0) inside the user namespace");
    nsrig::check(setresuid(0, 0, 0), "setresuid(0) inside the user namespace");
  }

  // The first process was created by root (or the caller) outside; if that id
  // is not mapped it shows as the overflow id inside, and an execve would drop
  // every capability. So it becomes uid/gid 0 inside when 0 is mapped.
  static bool maps_zero(const std::vector<Range> &m) {
    for (auto &r : m)
      if (r.inside == 0) return true;
    return false;
  }
  bool switch_to_root = false;

  void parent_after_clone(nsrig::Context &c) {
    std::string proc = "/proc/" + std::to_string(c.child_pid());
    write_file(proc + "/uid_map", format(uids));
    // setgroups must be set before gid_map; "deny" is required for an unprivileged gid_map.
    write_file(proc + "/setgroups", setgroups + "\n");
    write_file(proc + "/gid_map", format(gids));
  }
};

}  // namespace

NSRIG_PLUGIN(User)
