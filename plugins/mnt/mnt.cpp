// mnt: a new mount namespace. Before anything is mounted, propagation of the
// whole tree is made private (or slave), so no mount made here reaches the
// host (mount_namespaces(7), "Shared subtrees"; systemd makes / shared). Then
// the profile's `mounts` are made in order. With a new PID namespace, /proc
// is mounted fresh so that ps inside shows only the instance (proc(5)).
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <nsrig/plugin.hpp>
#include <vector>

namespace {

struct Mount {
  std::string type, source, target, data;
  bool readonly = false;
};

std::string describe(const Mount &m, unsigned long flags) {
  return "mount('" + (m.source.empty() ? m.type : m.source) + "' on '" + m.target + "', type " + m.type +
         ", flags 0x" + [&] {
           char b[16];
           std::snprintf(b, sizeof b, "%lx", flags);
           return std::string(b);
         }() + (m.data.empty() ? "" : ", '" + m.data + "'") + ")";
}

// Flags the kernel locks on mounts inherited into a user namespace; a
// read-only remount must keep them or it fails with EPERM (mount(2), EPERM).
unsigned long locked_flags(const std::string &path) {
  struct statvfs sv {};
  if (statvfs(path.c_str(), &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

void do_mount(const Mount &m) {
  unsigned long flags = 0;
  if (m.type == "bind") {
    flags = MS_BIND | MS_REC;
    nsrig::check(mount(m.source.c_str(), m.target.c_str(), nullptr, flags, nullptr), describe(m, flags));
    if (m.readonly) {
      unsigned long ro = MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(m.target);
      nsrig::check(mount(nullptr, m.target.c_str(), nullptr, ro, nullptr), describe(m, ro) + " (read-only remount)");
    }
    return;
  }
  flags = MS_NOSUID | MS_NODEV | (m.type == "proc" ? MS_NOEXEC : 0) | (m.readonly ? MS_RDONLY : 0);
  nsrig::check(mount(m.type.c_str(), m.target.c_str(), m.type.c_str(), flags, m.data.empty() ? nullptr : m.data.c_str()),
               describe(m, flags));
}

struct Mnt {
  static constexpr const char *name = "mnt";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "mount namespace: private propagation, proc/tmpfs/bind mounts";
  static constexpr uint64_t clone_flag = CLONE_NEWNS;

  std::vector<Mount> mounts;
  unsigned long propagation = MS_PRIVATE;

  void configure(nsrig::Context &c) {
    std::string prop = c.string_or("propagation", "private");
    if (prop == "slave")
      propagation = MS_SLAVE;
    else if (prop != "private")
      c.fail_at("propagation", "must be \"private\" or \"slave\"; \"shared\" would leak mounts to the host");
    size_t n = c.size("mounts");
    bool has_proc = false;
    for (size_t i = 0; i < n; ++i) {
      std::string at = "mounts[" + std::to_string(i) + "]";
      Mount m;
      m.type = c.string_or(at + ".type", "");
      m.target = c.string_or(at + ".target", "");
      m.readonly = c.boolean_or(at + ".readonly", false);
      if (m.type != "proc" && m.type != "tmpfs" && m.type != "bind")
        c.fail_at(at + ".type", "must be \"proc\", \"tmpfs\" or \"bind\"");
      if (!m.target.starts_with("/")) c.fail_at(at + ".target", "must be an absolute path, e.g. \"/tmp\"");
      if (m.type == "bind") {
        m.source = c.string_or(at + ".source", "");
        if (!m.source.starts_with("/")) c.fail_at(at + ".source", "a bind mount needs an absolute 'source'");
        struct stat st {};
        if (stat(m.source.c_str(), &st) != 0) c.fail_at(at + ".source", "'" + m.source + "' does not exist");
      }
      if (m.type == "tmpfs") {
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
      }
      has_proc |= m.type == "proc" && m.target == "/proc";
      mounts.push_back(std::move(m));
    }
    if (c.boolean_or("proc", true) && (c.clone_flags() & CLONE_NEWPID) && !has_proc)
      mounts.insert(mounts.begin(), Mount{"proc", "", "/proc", "", false});
  }

  void child_setup(nsrig::Context &) {
    nsrig::check(mount(nullptr, "/", nullptr, MS_REC | propagation, nullptr),
                 std::string("mount(NULL on '/', flags MS_REC|") + (propagation == MS_SLAVE ? "MS_SLAVE" : "MS_PRIVATE") + ")");
    for (const auto &m : mounts) do_mount(m);
  }
};

}  // namespace

NSRIG_PLUGIN(Mnt)
