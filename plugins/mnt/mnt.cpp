// mnt: a new mount namespace, and optionally a root filesystem of its own.
//
// Order in the child (mount_namespaces(7), pivot_root(2)):
//  1. propagation of the whole tree made private (or slave) before anything
//     is mounted, so no mount made here reaches the host (systemd makes /
//     shared);
//  2. the new root: an overlay built by the parent as a detached mount and
//     moved into place here (see mnt::make_overlay for why), or a directory
//     bind-mounted onto itself, so that it is a mount point; `readonly`
//     applied recursively;
//  3. /dev (minimal or the host's), a fresh /proc (automatic with a pid
//     namespace or a root: ps then shows only the instance), /sys;
//  4. the profile's `mounts` in order, each target resolved inside the root
//     as the instance sees it, never leaving it (openat2 RESOLVE_IN_ROOT);
//  5. masked and read-only paths (OCI meaning);
//  6. pivot_root into the new root and a lazy unmount of the old one.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nsrig/plugin.hpp>

#include "mounts.hpp"

namespace {

// crun's defaults (OCI runtime spec config-linux.md, maskedPaths / readonlyPaths).
const std::vector<std::string> kMasked = {"/proc/acpi",        "/proc/kcore",       "/proc/keys",
                                          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                                          "/proc/sched_debug", "/proc/scsi",        "/sys/firmware",
                                          "/sys/devices/virtual/powercap"};
const std::vector<std::string> kReadonly = {"/proc/asound", "/proc/bus",  "/proc/fs",
                                            "/proc/irq",    "/proc/sys",  "/proc/sysrq-trigger"};

void need_absolute(nsrig::Context &c, const std::string &key, const std::string &v) {
  if (!v.starts_with("/")) c.fail_at(key, "must be an absolute path, e.g. \"/srv/data\"");
  if (v.find_first_of(",:") != std::string::npos && key.find("lower") != std::string::npos)
    c.fail_at(key, "must not contain ',' or ':' (overlay option separators)");
}

void need_existing(nsrig::Context &c, const std::string &key, const std::string &v, bool dir) {
  struct stat st {};
  if (stat(v.c_str(), &st) != 0) c.fail_at(key, "'" + v + "' does not exist on the host");
  if (dir && !S_ISDIR(st.st_mode)) c.fail_at(key, "'" + v + "' is not a directory");
}

mnt::Mount read_mount(nsrig::Context &c, const std::string &at) {
  mnt::Mount m;
  if (!c.has(at + ".type")) c.fail_at(at, "needs 'type': proc, sysfs, tmpfs, bind, rbind, devpts, mqueue or overlay");
  m.type = c.string_or(at + ".type", "");
  static const std::vector<std::string> types = {"proc", "sysfs", "tmpfs", "bind", "rbind", "devpts", "mqueue", "overlay"};
  if (std::find(types.begin(), types.end(), m.type) == types.end())
    c.fail_at(at + ".type", "must be one of proc, sysfs, tmpfs, bind, rbind, devpts, mqueue, overlay");
  m.target = c.string_or(at + ".target", "");
  need_absolute(c, at + ".target", m.target);
  m.create = c.boolean_or(at + ".create", false);
  bool ro = c.boolean_or(at + ".readonly", false);
  bool is_bind = m.type == "bind" || m.type == "rbind";
  // Kernel names for the usual flags; safe defaults except on binds, which keep the source's.
  bool nosuid = c.boolean_or(at + ".nosuid", !is_bind), nodev = c.boolean_or(at + ".nodev", !is_bind);
  bool noexec = c.boolean_or(at + ".noexec", m.type == "proc" || m.type == "sysfs");
  m.flags = (ro ? MS_RDONLY : 0) | (nosuid ? MS_NOSUID : 0) | (nodev ? MS_NODEV : 0) | (noexec ? MS_NOEXEC : 0);
  if (is_bind) {
    m.source = c.string_or(at + ".source", "");
    need_absolute(c, at + ".source", m.source);
    need_existing(c, at + ".source", m.source, false);
  } else if (m.type == "tmpfs") {
    if (auto size = c.integer(at + ".size")) {
      if (*size <= 0) c.fail_at(at + ".size", "must be a positive number of bytes");
      m.data = "size=" + std::to_string(*size);
    }
    if (auto mode = c.integer(at + ".mode")) {
      if (*mode < 0 || *mode > 07777) c.fail_at(at + ".mode", "must be a file mode such as 0o1777");
      char b[16];
      std::snprintf(b, sizeof b, "%llo", static_cast<long long>(*mode));
      m.data += (m.data.empty() ? "mode=" : ",mode=") + std::string(b);
    }
  } else if (m.type == "devpts") {
    m.data = "newinstance,ptmxmode=0666,mode=0620";
  } else if (m.type == "overlay") {
    m.lower = c.strings(at + ".lower");
    if (m.lower.empty()) c.fail_at(at + ".lower", "needs at least one lower directory");
    for (size_t i = 0; i < m.lower.size(); ++i) {
      need_absolute(c, at + ".lower[" + std::to_string(i) + "]", m.lower[i]);
      need_existing(c, at + ".lower[" + std::to_string(i) + "]", m.lower[i], true);
    }
    m.upper = c.string_or(at + ".upper", "");
    m.work = c.string_or(at + ".work", "");
    if (m.upper.empty() != m.work.empty()) c.fail_at(at, "give both 'upper' and 'work', or neither (read-only)");
    if (m.upper.empty() && m.lower.size() < 2) c.fail_at(at + ".lower", "a read-only overlay needs two lower dirs or more");
    if (!m.upper.empty()) {
      need_existing(c, at + ".upper", m.upper, true);
      need_existing(c, at + ".work", m.work, true);
    }
  }
  return m;
}

// The initial user namespace maps every id to itself (user_namespaces(7)): only there
// can the parent, as root, create an overlay for the child.
bool in_initial_userns() {
  FILE *f = std::fopen("/proc/self/uid_map", "re");
  if (!f) return geteuid() == 0;
  long long in = -1, out = -1, count = 0;
  int n = std::fscanf(f, "%lld %lld %lld", &in, &out, &count);
  std::fclose(f);
  return n == 3 && in == 0 && out == 0 && count == 4294967295LL && geteuid() == 0;
}

struct Mnt {
  static constexpr const char *name = "mnt";
  static constexpr const char *version = "1.2.0";
  static constexpr const char *description = "mount namespace: own root (overlay or dir), /dev, /proc, mounts";
  static constexpr uint64_t clone_flag = CLONE_NEWNS;

  unsigned long propagation = MS_PRIVATE;
  std::string root_dir;                  // root = "/dir"
  std::vector<std::string> overlay_lower;  // root = { overlay = { lower = [...] } }
  bool keep = false, readonly = false, use_chroot = false, proc = false, sys = false;
  std::string dev;  // minimal | host | none
  std::vector<mnt::Mount> mounts;
  std::vector<std::string> masked, ro_paths;
  std::string overlay_dir;  // <state dir>/mnt-root, made in prepare: the overlay's mount point
  int overlay_fd = -1;      // detached overlay mount, made in prepare, attached in the child
  bool overlay_made = false;  // keep = true keeps only an upper layer that was in use
  bool rootless = false;      // not root: the child builds the overlay (build_rootless_overlay)

  ~Mnt() {
    if (overlay_fd >= 0) close(overlay_fd);
  }

  bool has_root() const { return !root_dir.empty() || !overlay_lower.empty(); }
  /// root = "/" (or "//", "/."): the host's own tree, bound onto itself.
  bool host_root() const { return !root_dir.empty() && root_dir.find_first_not_of("/.") == std::string::npos; }

  void configure(nsrig::Context &c) {
    std::string prop = c.string_or("propagation", "private");
    if (prop == "slave")
      propagation = MS_SLAVE;
    else if (prop != "private")
      c.fail_at("propagation", "must be \"private\" or \"slave\"; \"shared\" would leak mounts to the host");
    int kind = c.kind("root");
    if (kind == NSRIG_CFG_STRING) {
      root_dir = *c.string("root");
      need_absolute(c, "root", root_dir);
      need_existing(c, "root", root_dir, true);
    } else if (kind == NSRIG_CFG_TABLE) {
      if (c.kind("root.overlay") != NSRIG_CFG_TABLE)
        c.fail_at("root", "must be a directory path or { overlay = { lower = [\"/\"] } }");
      overlay_lower = c.strings("root.overlay.lower");
      if (overlay_lower.empty()) c.fail_at("root.overlay.lower", "needs at least one directory, e.g. [\"/\"]");
      for (size_t i = 0; i < overlay_lower.size(); ++i) {
        std::string at = "root.overlay.lower[" + std::to_string(i) + "]";
        need_absolute(c, at, overlay_lower[i]);
        need_existing(c, at, overlay_lower[i], true);
      }
      keep = c.boolean_or("root.overlay.keep", false);
      // Without CAP_SYS_ADMIN in the initial user namespace the parent cannot
      // create an overlay; the child builds one per directory inside its own.
      rootless = !in_initial_userns();
      if (rootless) {
        if (!(c.clone_flags() & CLONE_NEWUSER))
          c.fail_at("root", "an overlay root as an unprivileged user needs a user namespace: add [[namespace]] "
                            "type = \"user\" first");
        if (overlay_lower.size() != 1)
          c.fail_at("root.overlay.lower", "rootless runs take one lower directory (the overlay is built per "
                                          "top-level directory of it); run as root for more");
        if (keep) c.fail_at("root.overlay.keep", "is not supported in rootless runs: the upper layers are private tmpfs");
      }
    } else if (kind != NSRIG_CFG_NONE) {
      c.fail_at("root", "must be a directory path or { overlay = { lower = [\"/\"] } }");
    }
    readonly = c.boolean_or("readonly", false);
    use_chroot = c.boolean_or("chroot", false);
    if (use_chroot) c.warn("chroot = true: the host's root stays reachable from inside; use it only where pivot_root cannot work");
    if ((readonly || use_chroot) && !has_root()) c.fail_at(readonly ? "readonly" : "chroot", "needs a 'root'");
    dev = c.string_or("dev", has_root() ? "minimal" : "none");
    if (dev != "minimal" && dev != "host" && dev != "none") c.fail_at("dev", "must be \"minimal\", \"host\" or \"none\"");
    if (dev != "none" && !has_root()) c.fail_at("dev", "needs a 'root' (without one, /dev is the host's)");
    proc = c.boolean_or("proc", true) && (has_root() || (c.clone_flags() & CLONE_NEWPID));
    sys = c.boolean_or("sys", has_root());
    if (c.has("mounts") && c.kind("mounts") != NSRIG_CFG_ARRAY)
      c.fail_at("mounts", "must be an array of tables: mounts = [{ type = \"tmpfs\", target = \"/tmp\" }]");
    size_t n = c.size("mounts");
    for (size_t i = 0; i < n; ++i) {
      std::string at = "mounts[" + std::to_string(i) + "]";
      if (c.kind(at) != NSRIG_CFG_TABLE) c.fail_at(at, "must be a table: { type = ..., target = ... }");
      mounts.push_back(read_mount(c, at));
      // Without a root of its own, or with root = "/", targets are host paths: check them now,
      // and never create them there.
      if (!has_root() || host_root()) {
        if (mounts.back().create)
          c.fail_at(at + ".create", host_root() ? "with root = \"/\" the root is the host's own tree, where it would "
                                                  "create the target; create it yourself, or use an overlay root"
                                                : "needs a 'root': without one it would create the target on the host");
        struct stat st {};
        if (stat(mounts.back().target.c_str(), &st) != 0)
          c.fail_at(at + ".target", "'" + mounts.back().target + "' does not exist");
      }
    }
    for (auto &m : mounts) {
      if (m.type == "proc" && m.target == "/proc") proc = false;  // the profile mounts it itself
      if (m.type == "sysfs" && m.target == "/sys") sys = false;
    }
    // In a user namespace, proc needs a pid namespace of its own and sysfs a net
    // namespace of its own (user_namespaces(7), "Interaction of user namespaces and
    // other types of namespaces"): the kernel would refuse the mount (EPERM) after
    // the namespaces exist. Said here, where validate sees it.
    const uint64_t flags = c.clone_flags();
    if ((flags & CLONE_NEWUSER) && !(flags & CLONE_NEWPID) && proc)
      c.fail_at(c.has("proc") ? "proc" : "root",
                "mounts /proc, which in a user namespace needs a pid namespace of its own: add [[namespace]] type = "
                "\"pid\", or set proc = false in mnt");
    if ((flags & CLONE_NEWUSER) && !(flags & CLONE_NEWNET) && sys)
      c.fail_at(c.has("sys") ? "sys" : "root",
                "mounts /sys, which in a user namespace needs a net namespace of its own: add [[namespace]] type = "
                "\"net\", or set sys = false in mnt");
    masked = c.has("masked_paths") ? c.strings("masked_paths") : has_root() ? kMasked : std::vector<std::string>{};
    ro_paths = c.has("readonly_paths") ? c.strings("readonly_paths") : has_root() ? kReadonly : std::vector<std::string>{};
    describe_steps(c);
    for (const char *key : {"masked_paths", "readonly_paths"}) {
      const auto &list = std::string(key) == "masked_paths" ? masked : ro_paths;
      for (size_t i = 0; i < list.size(); ++i)
        if (!list[i].starts_with("/") || list[i] == "/")
          c.fail_at(std::string(key) + "[" + std::to_string(i) + "]", "must be an absolute path below /, e.g. \"/proc/kcore\"");
    }
  }

  // What `nsrig explain` lists: every mount in order, with its flags.
  void describe_steps(nsrig::Context &c) const {
    std::string lower;
    for (auto &l : overlay_lower) lower += (lower.empty() ? "" : ":") + l;
    if (!overlay_lower.empty() && !rootless)
      c.describe("on_prepare", "overlay lowerdir=" + lower + (keep ? ", upper kept in the state dir" : ", upper on a private tmpfs") +
                                   " (detached mount)");
    const char *hook = "on_child_setup";
    c.describe(hook, std::string("propagation of / ") + (propagation == MS_SLAVE ? "slave" : "private") + ", recursive");
    if (!overlay_lower.empty() && !rootless) c.describe(hook, "attach the overlay as the new root");
    if (rootless)
      c.describe(hook, "rootless: tmpfs as the new root, one overlay per top-level directory of " + lower +
                           " (upper on private tmpfs), its symlinks and files");
    if (!root_dir.empty()) c.describe(hook, "bind " + root_dir + " onto itself as the new root (rec)");
    if (readonly) c.describe(hook, "root read-only, recursive (mount_setattr)");
    if (dev == "minimal") c.describe(hook, "/dev: tmpfs (nosuid,noexec) + null zero full random urandom tty bound, devpts, shm");
    if (dev == "host") c.describe(hook, "/dev: rbind of the host's");
    if (proc) c.describe(hook, "mount proc on /proc (nosuid,nodev,noexec)");
    if (sys) c.describe(hook, "mount sysfs on /sys (nosuid,nodev,noexec" + std::string((c.clone_flags() & CLONE_NEWNET) ? ")" : ",rdonly)"));
    for (const auto &m : mounts)
      c.describe(hook, "mount " + (m.source.empty() ? m.type : m.type + " " + m.source) + " on " + m.target + " (" +
                           mnt::flags_text(m.flags) + (m.data.empty() ? "" : ", " + m.data) + (m.create ? ", create" : "") + ")");
    if (!masked.empty()) c.describe(hook, "mask " + std::to_string(masked.size()) + " paths (/dev/null or empty ro tmpfs)");
    if (!ro_paths.empty()) c.describe(hook, "read-only " + std::to_string(ro_paths.size()) + " paths");
    if (has_root()) c.describe(hook, use_chroot ? "chroot into the new root" : "pivot_root into the new root, old root detached");
  }

  // Host side: the overlay, built here as a detached mount (in no mount table),
  // and the directory it is attached to inside the child's mount namespace.
  // Its upper and work dirs live on a private tmpfs, or with keep = true in
  // <state dir>/mnt-root/{upper,work}, which stay after the instance.
  void prepare(nsrig::Context &c) {
    // The root as a fact: plugins that write inside the instance (hosts) check it is not the host's.
    if (!root_dir.empty()) c.publish("root", root_dir);
    if (overlay_lower.empty()) return;
    std::string lowers;
    for (auto &l : overlay_lower) lowers += (lowers.empty() ? "" : ":") + l;
    c.publish("root", "overlay of " + lowers + (keep ? " (kept)" : "") + (rootless ? " (rootless, per directory)" : ""));
    overlay_dir = c.state_dir() + "/mnt-root";
    nsrig::check(mkdir(overlay_dir.c_str(), 0755), "mkdir('" + overlay_dir + "')");
    if (rootless) return;  // built by the child, inside its user namespace
    std::string upper_base;
    if (keep) {
      upper_base = overlay_dir + "/layer";
      for (const std::string &d : {upper_base, upper_base + "/upper", upper_base + "/work"})
        nsrig::check(mkdir(d.c_str(), 0755), "mkdir('" + d + "')");
    }
    overlay_fd = mnt::make_overlay(overlay_lower, upper_base);
    overlay_made = true;
  }

  void teardown(nsrig::Context &c) {
    if (overlay_fd >= 0) close(overlay_fd), overlay_fd = -1;
    if (overlay_dir.empty()) return;
    if (keep && overlay_made) {
      c.info("keeping the overlay's upper dir " + overlay_dir + "/layer/upper (keep = true)");
      return;
    }
    mnt::remove_tree(overlay_dir);
  }

  void child_setup(nsrig::Context &c) {
    nsrig::check(mount(nullptr, "/", nullptr, MS_REC | propagation, nullptr),
                 [&] { return mnt::describe("", "/", "", MS_REC | propagation, ""); });
    std::string root = "/";
    if (overlay_fd >= 0) {
      root = overlay_dir;
      mnt::attach(overlay_fd, root);
    } else if (rootless && !overlay_lower.empty()) {
      root = overlay_dir;
      auto skipped = mnt::build_rootless_overlay(overlay_lower.front(), root);
      std::erase_if(skipped, [&](const std::string &dir) {  // the profile mounts something there anyway
        return std::any_of(mounts.begin(), mounts.end(), [&](const mnt::Mount &m) { return m.target == dir; });
      });
      if (!skipped.empty()) {
        std::string names;
        for (auto &n : skipped) names += (names.empty() ? "" : ", ") + n;
        bool one = skipped.size() == 1;
        c.warn("rootless overlay: " + names +
               (one ? " has mounts below it and is empty inside" : " have mounts below them and are empty inside") +
               "; if the payload needs what is there, add an rbind of it to 'mounts'");
      }
    } else if (!root_dir.empty()) {
      root = root_dir;
      nsrig::check(mount(root.c_str(), root.c_str(), nullptr, MS_BIND | MS_REC, nullptr), [&] {
        return mnt::describe(root, root, "", MS_BIND | MS_REC, "") + " (making the root a mount point)";
      });
    }
    if (readonly) mnt::make_readonly_recursive(root);
    int root_fd = static_cast<int>(
        nsrig::check(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), [&] { return "open('" + root + "')"; }));
    struct Closer {
      int fd;
      ~Closer() { close(fd); }
    } closer{root_fd};
    if (dev == "minimal") mnt::setup_dev_minimal(root_fd, root);
    if (dev == "host") mnt::mount_one(root_fd, root, mnt::Mount{"rbind", "/dev", "/dev", {}, "", "", "", 0, false});
    if (proc)
      mnt::mount_one(root_fd, root, mnt::Mount{"proc", "", "/proc", {}, "", "", "", MS_NOSUID | MS_NODEV | MS_NOEXEC, false});
    if (sys) {
      // sysfs shows the network devices of the mounter's net namespace; read-only unless that is private.
      unsigned long f = MS_NOSUID | MS_NODEV | MS_NOEXEC | ((c.clone_flags() & CLONE_NEWNET) ? 0 : MS_RDONLY);
      mnt::mount_one(root_fd, root, mnt::Mount{"sysfs", "", "/sys", {}, "", "", "", f, false});
    }
    for (size_t i = 0; i < mounts.size(); ++i) {
      try {
        mnt::mount_one(root_fd, root, mounts[i]);
      } catch (const std::runtime_error &e) {
        throw nsrig::ConfigError("mounts[" + std::to_string(i) + "]", e.what());  // points at the profile entry
      }
    }
    mnt::mask_paths(root_fd, root, masked);
    mnt::readonly_paths(root_fd, root, ro_paths);
    if (root == "/") return;
    if (use_chroot)
      mnt::chroot_into(root);
    else
      mnt::pivot_into(root);
  }
};

}  // namespace

NSRIG_PLUGIN(Mnt)
