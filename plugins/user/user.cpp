// user: a new user namespace. Its uid_map and gid_map are written by the
// parent once the child exists and before it does anything else
// (user_namespaces(7), "User and group ID mappings: uid_map and gid_map").
// Rules followed here from that page: one write per map file; at most 340
// lines; ranges must not overlap; an unprivileged writer may only map its own
// id, one line, and must write "deny" to /proc/PID/setgroups before gid_map.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nsrig/plugin.hpp>
#include <tuple>
#include <vector>

namespace {

struct Range {
  int64_t inside, outside, count;
};

// The way out when ranges cannot be mapped: map only the caller, as rootless does.
constexpr const char *kOnlyYou =
    "map yourself alone: no uid_map and gid_map (uid_map = [] and gid_map = [] in a later -p file clear "
    "an earlier one's), and rootless maps you to 0 inside";

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
      // Ids are 0 to 4294967294: (uid_t)-1 is no id, and the kernel refuses it as a range's first.
      bool count = std::string(k) == "count";
      int64_t min = count ? 1 : 0, max = count ? 4294967295LL : 4294967294LL;
      if (*v < min || *v > max)
        c.fail_at(at + "." + k, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return *v;
    };
    r.inside = need("inside");
    r.outside = need("outside");
    r.count = need("count");
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

// The rule an EPERM on a map file breaks (user_namespaces(7), "Defining user and group ID mappings").
std::string eperm_rule(const std::string &path) {
  if (path.ends_with("/setgroups"))
    return "setgroups must be written before gid_map, only once, and must be \"deny\" under a namespace that denies it";
  return "each map is written once; a writer without CAP_SETUID/CAP_SETGID over the parent namespace may map only "
         "its own id, in one line, and for gid_map only after writing \"deny\" to setgroups; ranges beyond that "
         "go through newuidmap/newgidmap (package uidmap) and /etc/subuid, /etc/subgid";
}

void write_file(const std::string &path, const std::string &data) {
  int fd = static_cast<int>(nsrig::check(open(path.c_str(), O_WRONLY | O_CLOEXEC), "open('" + path + "')"));
  ssize_t n = write(fd, data.data(), data.size());
  int e = errno;
  close(fd);
  std::string shown = data;
  while (!shown.empty() && shown.back() == '\n') shown.pop_back();
  for (auto &ch : shown)
    if (ch == '\n') ch = ',';
  if (n == static_cast<ssize_t>(data.size())) return;
  std::string what = "write('" + path + "', '" + shown + "'): " + std::strerror(e);
  if (e == EPERM) what += " (" + eperm_rule(path) + ")";
  throw std::runtime_error(what);
}

// Absolute path of `tool` in the usual places, or "".
std::string find_tool(const char *tool) {
  for (const char *dir : {"/usr/bin/", "/bin/", "/usr/local/bin/", "/usr/sbin/"}) {
    std::string p = std::string(dir) + tool;
    if (access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

// Runs newuidmap/newgidmap PID INSIDE OUTSIDE COUNT...; its stderr becomes the message.
void run_map_tool(const std::string &tool, int pid, const std::vector<Range> &m) {
  std::vector<std::string> args = {tool, std::to_string(pid)};
  for (auto &r : m)
    for (int64_t v : {r.inside, r.outside, r.count}) args.push_back(std::to_string(v));
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int err[2];
  nsrig::check(pipe2(err, O_CLOEXEC), "pipe2");
  pid_t child = fork();
  if (child == 0) {
    dup2(err[1], 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(err[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = read(err[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(err[0]);
  if (child < 0) nsrig::check(-1, "fork for " + tool);
  int st = 0;
  while (waitpid(child, &st, 0) < 0 && errno == EINTR) {
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    std::string cmd;
    for (auto &a : args) cmd += (cmd.empty() ? "" : " ") + a;
    throw std::runtime_error(cmd + " failed" + (text.empty() ? "" : ": " + text) +
                             " (the ranges must be yours in /etc/subuid and /etc/subgid)");
  }
}

// Up to `cap` bytes of a small /proc file (a uid_map of 340 lines holds at
// most 11,220), read with plain system calls; "" when it cannot be read.
// Not stdio: on the spawn path fopen/fscanf cost a FILE buffer on the heap
// and scanf's code, cold at that point (docs/benchmarks.md, "Fifth round").
std::string read_proc(const char *file, size_t cap = 16384) {
  std::string out;
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[512];
  ssize_t n;
  while (out.size() < cap && (n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// The ids mapped in nsrig's own user namespace, each to itself: "inside inside count" per line of `file`
// (user_namespaces(7): each line of /proc/PID/uid_map is three decimal numbers).
std::vector<Range> identity_of(const char *file) {
  std::vector<Range> out;
  std::string text = read_proc(file);
  const char *p = text.c_str();
  for (;;) {
    char *end = nullptr;
    long long v[3];
    int i = 0;
    for (; i < 3; ++i, p = end) {
      v[i] = std::strtoll(p, &end, 10);
      if (end == p) break;
    }
    if (i < 3) break;
    out.push_back(Range{v[0], v[0], v[2]});
  }
  if (out.empty()) out.push_back(Range{0, 0, 4294967295LL});
  return out;
}

// The subordinate ranges of the user named `user` (or numbered `id`) in `file` (subuid(5)).
std::vector<std::pair<int64_t, int64_t>> subid_ranges(const char *file, const std::string &user, int64_t id) {
  std::vector<std::pair<int64_t, int64_t>> out;
  FILE *f = std::fopen(file, "re");
  if (!f) return out;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    std::string l(line);
    size_t a = l.find(':'), b = l.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string owner = l.substr(0, a);
    if (owner != user && owner != std::to_string(id)) continue;
    try {
      out.emplace_back(std::stoll(l.substr(a + 1, b - a - 1)), std::stoll(l.substr(b + 1)));
    } catch (const std::exception &) {
    }
  }
  std::fclose(f);
  return out;
}

// The first range of `m` that newuidmap/newgidmap would refuse: not the caller's own id
// and not inside one of its subordinate ranges. -1 when all are allowed.
int uncovered(const std::vector<Range> &m, int64_t own, const std::vector<std::pair<int64_t, int64_t>> &sub) {
  for (size_t i = 0; i < m.size(); ++i) {
    const Range &r = m[i];
    if (r.outside == own && r.count == 1) continue;
    bool ok = false;
    for (auto &[start, count] : sub) ok = ok || (r.outside >= start && r.outside + r.count <= start + count);
    if (!ok) return static_cast<int>(i);
  }
  return -1;
}

struct User {
  static constexpr const char *name = "user";
  static constexpr const char *version = "1.1.0";
  static constexpr const char *description = "user namespace: uid_map/gid_map written by the parent";
  static constexpr uint64_t clone_flag = CLONE_NEWUSER;

  std::vector<Range> uids, gids;
  std::string setgroups;
  bool rootless = false;
  std::string newuidmap, newgidmap;  // set when the maps need the setuid helpers

  // Only the caller's own id, once: what an unprivileged process may write itself.
  static bool own_id_only(const std::vector<Range> &m, int64_t id) {
    return m.size() == 1 && m[0].outside == id && m[0].count == 1;
  }

  void configure(nsrig::Context &c) {
    uids = read_map(c, "uid_map");
    gids = read_map(c, "gid_map");
    bool root = geteuid() == 0;
    const int64_t uid = geteuid(), gid = getegid();
    // An empty array is no map: a later -p file clears an earlier one's maps with uid_map = [].
    bool has_maps = !uids.empty() || !gids.empty();
    // rootless: the caller becomes 0 inside, alone (unshare -r); the default when not root.
    auto asked = c.boolean("rootless");
    rootless = asked.value_or(!root && !has_maps);
    if (rootless && has_maps)
      c.fail_at(asked ? "rootless" : "uid_map",
                "is true, which maps you alone to uid/gid 0 inside, so it cannot take uid_map or gid_map: remove "
                "them (uid_map = [] and gid_map = [] in a later -p file), or set rootless = false to give ranges "
                "(more than your own id needs newuidmap and /etc/subuid)");
    if (rootless) {
      uids = {Range{0, uid, 1}};
      gids = {Range{0, gid, 1}};
    }
    // As root with no maps: every id nsrig's own namespace has maps to itself (in the
    // initial namespace all of them; under `unshare -r` only 0).
    if (uids.empty()) uids = root ? identity_of("/proc/self/uid_map") : std::vector<Range>{Range{0, uid, 1}};
    if (gids.empty()) gids = root ? identity_of("/proc/self/gid_map") : std::vector<Range>{Range{0, gid, 1}};
    bool helpers = !root && !(own_id_only(uids, uid) && own_id_only(gids, gid));
    // A namespace under one that denies setgroups must deny it too (user_namespaces(7), /proc/PID/setgroups).
    bool parent_denies = read_proc("/proc/self/setgroups", 16).starts_with("deny");
    setgroups = c.string_or("setgroups", (root && !rootless) || helpers ? (parent_denies ? "deny" : "allow") : "deny");
    if (setgroups != "allow" && setgroups != "deny") c.fail_at("setgroups", "must be \"allow\" or \"deny\"");
    if (!root && !helpers && setgroups != "deny")
      c.fail_at("setgroups", "must be \"deny\" when an unprivileged user maps its own gid (user_namespaces(7))");
    if (helpers) {
      // More than the caller's own id: the setuid helpers from shadow's uidmap package,
      // which check the ranges against /etc/subuid and /etc/subgid (newuidmap(1)).
      newuidmap = find_tool("newuidmap");
      newgidmap = find_tool("newgidmap");
      if (newuidmap.empty() || newgidmap.empty())
        c.fail_at("uid_map", "maps more than your own id (" + std::to_string(uid) + "), which as an unprivileged "
                             "user needs newuidmap and newgidmap: apt-get install uidmap; or " + kOnlyYou);
      std::string name;  // /etc/subuid names users by name or by uid
      if (const passwd *pw = getpwuid(static_cast<uid_t>(uid))) name = pw->pw_name;
      if (subid_ranges("/etc/subuid", name, uid).empty())
        c.fail_at("uid_map", "maps more than your own id, but /etc/subuid has no range for uid " + std::to_string(uid) +
                                 (name.empty() ? "" : " (" + name + ")") + ": add one (usermod --add-subuids) or " + kOnlyYou);
      if (subid_ranges("/etc/subgid", name, gid).empty())
        c.fail_at("gid_map", "maps more than your own id, but /etc/subgid has no range for gid " + std::to_string(gid) +
                                 ": add one (usermod --add-subgids) or " + kOnlyYou);
      if (setgroups == "deny") c.fail_at("setgroups", "\"deny\" cannot be combined with newgidmap; remove it");
      // What newuidmap/newgidmap will check, checked now: before anything is created.
      for (auto [key, map, file, own] : {std::tuple{"uid_map", &uids, "/etc/subuid", uid},
                                         std::tuple{"gid_map", &gids, "/etc/subgid", gid}}) {
        auto sub = subid_ranges(file, name, own);
        if (int i = uncovered(*map, own, sub); i >= 0) {
          std::string have;
          for (auto &[st, n] : sub) have += (have.empty() ? "" : ", ") + std::to_string(st) + "-" + std::to_string(st + n - 1);
          const Range &r = (*map)[static_cast<size_t>(i)];
          c.fail_at(std::string(key) + "[" + std::to_string(i) + "]",
                    "maps outside ids " + std::to_string(r.outside) + "-" + std::to_string(r.outside + r.count - 1) +
                        ", which are neither yours (" + std::to_string(own) + ") nor in your ranges in " + file +
                        " (" + (have.empty() ? "none" : have) + "): map your own id or ids of those ranges "
                        "outside, or " + kOnlyYou);
        }
      }
    }
    auto shown = [](const std::vector<Range> &m) {
      std::string s;
      for (auto &r : m)
        s += (s.empty() ? "" : ", ") + std::to_string(r.inside) + " " + std::to_string(r.outside) + " " +
             std::to_string(r.count);
      return s;
    };
    const char *how = newuidmap.empty() ? "" : " (newuidmap/newgidmap)";
    c.describe("on_parent_after_clone", "uid_map " + shown(uids) + how);
    c.describe("on_parent_after_clone", "setgroups " + setgroups + ", gid_map " + shown(gids) + how);
    switch_to_root = maps_zero(uids) && maps_zero(gids);
    if (switch_to_root) c.describe("on_child_setup", "setresgid/setresuid(0): root inside, with its capabilities");
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
    if (!newuidmap.empty()) {
      run_map_tool(newuidmap, c.child_pid(), uids);
      run_map_tool(newgidmap, c.child_pid(), gids);
      return;
    }
    std::string proc = "/proc/" + std::to_string(c.child_pid());
    write_file(proc + "/uid_map", format(uids));
    // setgroups must be set before gid_map; "deny" is required for an unprivileged gid_map.
    write_file(proc + "/setgroups", setgroups + "\n");
    write_file(proc + "/gid_map", format(gids));
  }
};

}  // namespace

NSRIG_PLUGIN(User)
