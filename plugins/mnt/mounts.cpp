#include "mounts.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dirent.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace mnt {
namespace {

[[noreturn]] void fail(const std::string &what, int err, const std::string &hint = "") {
  throw std::runtime_error(what + ": " + std::strerror(err) + (hint.empty() ? "" : " (" + hint + ")"));
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd &) = delete;
  Fd &operator=(const Fd &) = delete;
};

// Flags the kernel locks on mounts that a user namespace inherited; a remount
// that drops them fails with EPERM (mount(2), EPERM), so they are kept.
unsigned long locked_flags(int fd) {
  struct statvfs sv {};
  if (fstatvfs(fd, &sv) != 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

// For a newer system call that answered ENOSYS or EPERM: who may have refused
// it (the kernel, `since`, or a seccomp profile) and what to do (`instead`).
std::string refused_hint(int err, const char *since, const char *instead) {
  if (err != ENOSYS && err != EPERM) return "";
  return std::string("refused by this kernel (") + since + ") or by a seccomp profile: allow it, " + instead;
}

std::string hint_for(const std::string &type, int err) {
  if (type == "overlay" && err == EINVAL)
    return "overlay: upper and work dirs must be on one filesystem, and not on an overlay themselves";
  if (err == ENOTDIR) return "a file cannot be mounted onto a directory, nor a directory onto a file";
  if (err == ENODEV) return "this kernel has no '" + type + "' filesystem";
  // In a user namespace, proc needs a pid namespace and sysfs a net namespace owned by it
  // (mount_namespaces(7), user_namespaces(7) "Interaction of user namespaces and other types of namespaces").
  if (err == EPERM && type == "proc")
    return "in a user namespace proc needs a pid namespace of its own: add [[namespace]] type = \"pid\", or set "
           "proc = false in mnt";
  if (err == EPERM && type == "sysfs")
    return "in a user namespace sysfs needs a net namespace of its own: add [[namespace]] type = \"net\", or set "
           "sys = false in mnt";
  if (err == EPERM) return "not allowed here: in a user namespace, some filesystems need their own namespace too";
  return "";
}

void checked_mount(const char *source, const std::string &target_fd, const std::string &shown_target,
                   const char *type, unsigned long flags, const std::string &data) {
  if (mount(source, target_fd.c_str(), type, flags, data.empty() ? nullptr : data.c_str()) == 0) return;
  int e = errno;
  fail(describe(source ? source : "", shown_target, type ? type : "", flags, data), e, hint_for(type ? type : "", e));
}

// mount(2) onto what an O_PATH fd names. A directory is reached as "." after
// fchdir(2) to it: the same mount and dentry as /proc/self/fd/N names, without
// the /proc lookups that name costs a freshly cloned child (its first one
// builds the process's /proc entries; docs/benchmarks.md, "Sixth round").
// Anything else, or where the working directory cannot be kept, goes by
// /proc/self/fd/N. The working directory is restored before returning.
void mount_on_fd(const char *source, int target_fd, const std::string &shown_target, const char *type,
                 unsigned long flags, const std::string &data) {
  Fd cwd(open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (cwd.fd < 0 || fchdir(target_fd) != 0) {
    checked_mount(source, fd_path(target_fd), shown_target, type, flags, data);
    return;
  }
  int rc = mount(source, ".", type, flags, data.empty() ? nullptr : data.c_str());
  int e = errno;
  if (fchdir(cwd.fd) != 0) fail("fchdir back to the working directory after mounting on '" + shown_target + "'", errno);
  if (rc != 0)
    fail(describe(source ? source : "", shown_target, type ? type : "", flags, data), e, hint_for(type ? type : "", e));
}

// A bind mount by file descriptors: open_tree(2) clones the source (with its
// submounts for rbind) and move_mount(2) attaches the copy onto the target's
// fd. mount(2) is given both as /proc/self/fd/N paths instead, and in a
// freshly cloned child each such lookup builds /proc entries first
// (docs/benchmarks.md, "Sixth round"). Returns false when the kernel (before
// 5.2) or a seccomp profile refuses the calls (ENOSYS, EPERM): the caller
// then binds with mount(2), whose own error says whether binding is allowed.
// With `readonly`, the copy's top mount is made read-only (mount_setattr(2),
// Linux 5.12) before it is attached, as a bind and a MS_REMOUNT|MS_RDONLY of it
// would; the flags the copy keeps are its source's, locked or not.
bool bind_by_fd(int src_dirfd, const char *src_path, bool recursive, int target_fd, const std::string &shown_source,
                const std::string &shown_target, bool readonly = false) {
  unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
                   (*src_path ? 0u : static_cast<unsigned>(AT_EMPTY_PATH));
  Fd tree(static_cast<int>(syscall(SYS_open_tree, src_dirfd, src_path, flags)));
  if (tree.fd < 0) {
    if (errno == ENOSYS || errno == EPERM) return false;
    fail("open_tree('" + shown_source + "', OPEN_TREE_CLONE) for a bind onto '" + shown_target + "'", errno);
  }
  if (readonly) {
    mount_attr attr{};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, tree.fd, "", AT_EMPTY_PATH, &attr, sizeof attr) != 0) {
      if (errno == ENOSYS || errno == EPERM) return false;
      fail("mount_setattr(a copy of '" + shown_source + "', MOUNT_ATTR_RDONLY)", errno);
    }
  }
  if (syscall(SYS_move_mount, tree.fd, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0)
    return true;
  if (errno == ENOSYS || errno == EPERM) return false;
  int e = errno;
  fail(describe(shown_source, shown_target, "", MS_BIND | (recursive ? MS_REC : 0), "") + " (move_mount)", e,
       hint_for("", e));
}

// A plain bind (MS_BIND, with MS_REC for `recursive`) of src_path under
// src_dirfd ("" for the fd itself) onto target_fd: by fds, or with mount(2)
// where bind_by_fd is refused.
void bind_mount(int src_dirfd, const char *src_path, bool recursive, int target_fd, const std::string &shown_source,
                const std::string &shown_target) {
  if (bind_by_fd(src_dirfd, src_path, recursive, target_fd, shown_source, shown_target)) return;
  std::string source = *src_path ? std::string(src_path) : fd_path(src_dirfd);
  unsigned long flags = MS_BIND | (recursive ? MS_REC : 0);
  if (mount(source.c_str(), fd_path(target_fd).c_str(), nullptr, flags, nullptr) == 0) return;
  int e = errno;
  fail(describe(shown_source, shown_target, "", flags, ""), e, hint_for("", e));
}

// Paths resolve as they would inside the instance, chrooted at root_fd
// (RESOLVE_IN_ROOT, openat2(2)): an absolute symlink or a ".." starts again
// at, or stops at, the root, and never reaches the host's tree; the kernel
// answers EXDEV, never a path outside, when a rename races the walk. This is
// what runc and crun do in user space (securejoin). Without a new root
// (root_fd is the host's "/") that is the usual resolution.
bool g_host_root = false;

// openat2(2) refused, ENOSYS (a kernel before 5.6, or a seccomp profile that
// does not know it) or EPERM (a seccomp profile): with the host's "/" as the
// root, plain openat(2) resolves the same way; inside a root of the
// instance's own it cannot keep the path from leaving the root, so the mount
// is refused and the message says why.
long openat2_beneath(int dirfd, const std::string &rel, uint64_t flags) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.resolve = RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT;
  long fd = syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
  if (g_host_root) return openat(dirfd, rel.c_str(), static_cast<int>(flags | O_CLOEXEC));
  fail("openat2('" + rel + "') beneath the instance's root", errno,
       "refused by this kernel (openat2 is Linux 5.6) or by a seccomp profile; it keeps mount targets inside the "
       "root: allow openat2, or use no root of the instance's own");
}

// Re-opens `path` after something was mounted on it: an fd opened before
// still names the covered mount, and a remount through it would hit that one.
void remount_bind(int root_fd, const std::string &root, const std::string &path, unsigned long flags);

}  // namespace

std::string flags_text(unsigned long flags) {
  static const struct {
    unsigned long bit;
    const char *name;
  } names[] = {{MS_RDONLY, "rdonly"}, {MS_NOSUID, "nosuid"}, {MS_NODEV, "nodev"},     {MS_NOEXEC, "noexec"},
               {MS_BIND, "bind"},     {MS_REC, "rec"},       {MS_REMOUNT, "remount"}, {MS_PRIVATE, "private"},
               {MS_SLAVE, "slave"},   {MS_RELATIME, "relatime"}, {MS_NOATIME, "noatime"}};
  std::string out;
  for (auto &n : names)
    if (flags & n.bit) out += (out.empty() ? "" : ",") + std::string(n.name);
  return out.empty() ? "none" : out;
}

std::string describe(const std::string &source, const std::string &target, const std::string &type,
                     unsigned long flags, const std::string &data) {
  return "mount('" + (source.empty() ? type : source) + "' on '" + target + "', type " +
         (type.empty() ? "none" : type) + ", flags " + flags_text(flags) + (data.empty() ? "" : ", '" + data + "'") +
         ")";
}

namespace {
thread_local std::string g_remove_failed;  // nftw's callback cannot carry state
int remove_entry(const char *path, const struct stat *, int, struct FTW *) {
  if (remove(path) == 0 || errno == ENOENT) return 0;
  g_remove_failed = std::string("remove '") + path + "': " + std::strerror(errno);
  return 1;
}
}  // namespace

void remove_tree(const std::string &path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 && errno == ENOENT) return;
  g_remove_failed.clear();
  int rc = nftw(path.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
  if (rc == 1) throw std::runtime_error(g_remove_failed);
  if (rc != 0) throw std::runtime_error("remove '" + path + "': " + std::strerror(errno));
}

std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

int open_beneath(int root_fd, const std::string &root, const std::string &path, bool create, bool file) {
  g_host_root = root == "/";
  std::string rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  if (rel.empty()) rel = ".";
  long fd = openat2_beneath(root_fd, rel, O_PATH);
  if (fd >= 0) return static_cast<int>(fd);
  if (errno == EXDEV || errno == EAGAIN)
    fail("'" + path + "' inside '" + root + "'", errno,
         "the tree changed (a rename) while the path was resolved inside the instance's root; try again");
  if (errno != ENOENT || !create) fail("'" + path + "' inside '" + root + "'", errno, errno == ENOENT ? "add create = true to make it" : "");
  // Make the missing components one by one, each resolved beneath the root.
  size_t pos = 0;
  while (pos < rel.size()) {
    size_t next = rel.find('/', pos);
    bool last = next == std::string::npos;
    std::string prefix = rel.substr(0, last ? rel.size() : next);
    std::string parent = pos == 0 ? "." : rel.substr(0, pos - 1);
    std::string name = prefix.substr(pos);
    if (!name.empty()) {
      Fd dir(static_cast<int>(openat2_beneath(root_fd, parent, O_PATH | O_DIRECTORY)));
      if (dir.fd < 0) fail("open '" + parent + "' inside '" + root + "'", errno);
      if (last && file) {
        int f = openat(dir.fd, name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (f < 0 && errno != EEXIST) fail("create file '" + prefix + "' inside '" + root + "'", errno);
        if (f >= 0) close(f);
      } else if (mkdirat(dir.fd, name.c_str(), 0755) != 0 && errno != EEXIST) {
        fail("mkdir '" + prefix + "' inside '" + root + "'", errno,
             errno == EROFS ? "the root is read-only: create the mount point in the image" : "");
      }
    }
    if (last) break;
    pos = next + 1;
  }
  fd = openat2_beneath(root_fd, rel, O_PATH);
  if (fd < 0) fail("'" + path + "' inside '" + root + "'", errno);
  return static_cast<int>(fd);
}

void mount_one(int root_fd, const std::string &root, const Mount &m) {
  bool is_bind = m.type == "bind" || m.type == "rbind";
  bool file = false;
  if (is_bind) {
    struct stat st {};
    if (stat(m.source.c_str(), &st) != 0) fail("bind source '" + m.source + "'", errno);
    file = !S_ISDIR(st.st_mode);
  }
  Fd target(open_beneath(root_fd, root, m.target, m.create, file));
  if (is_bind) {
    struct stat tst {};
    if (fstat(target.fd, &tst) == 0 && S_ISDIR(tst.st_mode) == file)
      fail(describe(m.source, m.target, "", MS_BIND, ""), ENOTDIR,
           std::string("source is a ") + (file ? "file" : "directory") + ", target is not: the kinds must match");
    bool rec = m.type == "rbind";
    bind_mount(AT_FDCWD, m.source.c_str(), rec, target.fd, m.source, m.target);
    if (m.flags) remount_bind(root_fd, root, m.target, m.flags);
    return;
  }
  std::string data = m.data;
  if (m.type == "overlay") {
    std::string lower;
    for (auto &l : m.lower) lower += (lower.empty() ? "" : ":") + l;
    data = "lowerdir=" + lower + (m.upper.empty() ? "" : ",upperdir=" + m.upper + ",workdir=" + m.work);
  }
  mount_on_fd(m.type.c_str(), target.fd, m.target, m.type.c_str(), m.flags, data);
}

void setup_dev_minimal(int root_fd, const std::string &root) {
  // The host's nodes, opened before the tmpfs goes on <root>/dev: with root = "/" that
  // tmpfs covers the host's /dev itself.
  const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  std::vector<std::unique_ptr<Fd>> held;
  for (const char *node : nodes) {
    std::string path = std::string("/dev/") + node;
    held.push_back(std::make_unique<Fd>(open(path.c_str(), O_PATH | O_CLOEXEC)));
    if (held.back()->fd < 0) fail("open the host's '" + path + "' (bound into the minimal /dev)", errno);
  }
  Mount dev{"tmpfs", "", "/dev", {}, "", "", "mode=755,size=65536", MS_NOSUID | MS_NOEXEC, false};
  mount_one(root_fd, root, dev);
  // The tmpfs is new and empty, and only this process can see it: its entries are
  // made and opened relative to it, with no walk from the root for each.
  Fd devfd(open_beneath(root_fd, root, "/dev", false, false));
  Fd dir(openat(devfd.fd, ".", O_DIRECTORY | O_CLOEXEC));  // O_PATH fds cannot be used for symlinkat on all kernels
  if (dir.fd < 0) fail("open '" + root + "/dev'", errno);
  for (size_t i = 0; i < held.size(); ++i) {
    std::string node = std::string("/dev/") + nodes[i];
    Fd target(openat(dir.fd, nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (target.fd < 0) fail("create '" + node + "' in the minimal /dev", errno);
    bind_mount(held[i]->fd, "", false, target.fd, node, node);
  }
  auto subdir = [&](const char *name) {
    if (mkdirat(dir.fd, name, 0755) != 0) fail(std::string("mkdir /dev/") + name, errno);
    int fd = openat(dir.fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail(std::string("open /dev/") + name, errno);
    return std::make_unique<Fd>(fd);
  };
  mount_on_fd("devpts", subdir("pts")->fd, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620");
  mount_on_fd("tmpfs", subdir("shm")->fd, "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  if (mkdirat(dir.fd, "mqueue", 0755) != 0) fail("mkdir /dev/mqueue", errno);
  const char *links[][2] = {{"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},
                            {"/proc/self/fd/0", "stdin"},  {"/proc/self/fd/1", "stdout"},
                            {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"}};
  for (auto &l : links)
    if (symlinkat(l[0], dir.fd, l[1]) != 0 && errno != EEXIST) fail(std::string("symlink /dev/") + l[1], errno);
}

namespace {
// Calls f(fd, path) for each of `paths` that exists inside the root (an O_PATH
// fd resolved beneath it); missing paths are skipped, as OCI says.
template <class F>
void for_each_existing(int root_fd, const std::string &root, const std::vector<std::string> &paths, const char *what,
                       F f) {
  g_host_root = root == "/";
  for (const auto &p : paths) {
    size_t first = p.find_first_not_of('/');
    std::string rel = first == std::string::npos ? "." : p.substr(first);
    long fd = openat2_beneath(root_fd, rel, O_PATH);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      fail(std::string(what) + " '" + p + "'", errno);
    }
    Fd target(static_cast<int>(fd));
    f(target.fd, p);
  }
}
}  // namespace

void mask_paths(int root_fd, const std::string &root, const std::vector<std::string> &paths) {
  Fd null(-1);  // the host's /dev/null, opened at the first masked file
  for_each_existing(root_fd, root, paths, "masked path", [&](int fd, const std::string &p) {
    struct stat st {};
    fstat(fd, &st);
    if (S_ISDIR(st.st_mode)) {
      mount_on_fd("tmpfs", fd, p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "");
      return;
    }
    if (null.fd < 0 && (null.fd = open("/dev/null", O_PATH | O_CLOEXEC)) < 0) fail("open('/dev/null')", errno);
    bind_mount(null.fd, "", false, fd, "/dev/null", p);
  });
}

void readonly_paths(int root_fd, const std::string &root, const std::vector<std::string> &paths) {
  for_each_existing(root_fd, root, paths, "read-only path", [&](int fd, const std::string &p) {
    if (bind_by_fd(fd, "", true, fd, p, p, true)) return;
    checked_mount(fd_path(fd).c_str(), fd_path(fd), p, nullptr, MS_BIND | MS_REC, "");
    remount_bind(root_fd, root, p, MS_RDONLY);
  });
}

namespace {
void remount_bind(int root_fd, const std::string &root, const std::string &path, unsigned long flags) {
  Fd now(open_beneath(root_fd, root, path, false, false));
  unsigned long f = MS_BIND | MS_REMOUNT | flags | locked_flags(now.fd);
  mount_on_fd(nullptr, now.fd, path, nullptr, f, "");
}
}  // namespace

void make_readonly_recursive(const std::string &path) {
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (syscall(SYS_mount_setattr, AT_FDCWD, path.c_str(), AT_RECURSIVE, &attr, sizeof attr) != 0)
    fail("mount_setattr('" + path + "', AT_RECURSIVE, MOUNT_ATTR_RDONLY)", errno,
         refused_hint(errno, "mount_setattr is Linux 5.12", "or set readonly = false"));
}

namespace {

// fsopen() contexts queue the kernel's messages ("e overlay: ..."): the best error text there is.
std::string fs_messages(int fsfd) {
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fsfd, buf, sizeof buf - 1)) > 0) {
    buf[n] = 0;
    out += (out.empty() ? "" : "; ") + std::string(buf[0] && buf[1] == ' ' ? buf + 2 : buf);
  }
  return out;
}

int fs_mount(const char *type, const std::vector<std::pair<std::string, std::string>> &opts) {
  Fd fs(static_cast<int>(syscall(SYS_fsopen, type, FSOPEN_CLOEXEC)));
  if (fs.fd < 0) fail(std::string("fsopen('") + type + "')", errno, errno == EPERM ? "needs root" : "");
  std::string shown;
  for (auto &[k, v] : opts) {
    shown += (shown.empty() ? "" : ",") + k + "=" + v;
    if (syscall(SYS_fsconfig, fs.fd, FSCONFIG_SET_STRING, k.c_str(), v.c_str(), 0) != 0) {
      int e = errno;
      fail(std::string("fsconfig(") + type + ", " + k + "='" + v + "')", e, fs_messages(fs.fd));
    }
  }
  if (syscall(SYS_fsconfig, fs.fd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    int e = errno;
    std::string msg = fs_messages(fs.fd);
    if (std::string(type) == "overlay" && msg.empty())
      msg = e == ELOOP ? "layers overlap: one layer (a lower dir, or the upper dir) lies inside another; "
                         "give disjoint directory trees"
                       : "upper and work must be on one filesystem, which is not an overlay";
    fail(std::string("create ") + type + " (" + shown + ")", e, msg);
  }
  int m = static_cast<int>(syscall(SYS_fsmount, fs.fd, FSMOUNT_CLOEXEC, 0));
  if (m < 0) fail(std::string("fsmount(") + type + ")", errno, fs_messages(fs.fd));
  return m;
}

}  // namespace

int make_overlay(const std::vector<std::string> &lower_in, const std::string &upper_base) {
  // A layer whose path is longer than one fsconfig string (256 bytes) goes by an
  // O_PATH fd of it, /proc/self/fd/N, which overlayfs resolves at mount time.
  std::vector<std::string> lower;
  std::vector<std::unique_ptr<Fd>> held;
  for (auto &l : lower_in) {
    if (l.size() < 200) {
      lower.push_back(l);
      continue;
    }
    held.push_back(std::make_unique<Fd>(open(l.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)));
    if (held.back()->fd < 0) fail("open the lower layer '" + l + "'", errno);
    lower.push_back(fd_path(held.back()->fd));
  }
  std::string lowers;
  for (auto &l : lower) lowers += (lowers.empty() ? "" : ":") + l;
  std::string base = upper_base;
  int tmp = -1;
  if (base.empty()) {
    tmp = fs_mount("tmpfs", {{"mode", "0755"}});
    if (mkdirat(tmp, "upper", 0755) != 0 || mkdirat(tmp, "work", 0755) != 0) {
      int e = errno;
      close(tmp);
      fail("mkdir upper/work on the overlay's tmpfs", e);
    }
    base = fd_path(tmp);
  }
  // One fsconfig string is at most 256 bytes (fs_context): longer stacks go layer by
  // layer with "lowerdir+" (overlayfs, Linux 6.8; Documentation/filesystems/overlayfs.rst).
  std::vector<std::pair<std::string, std::string>> opts;
  if (lowers.size() < 256)
    opts.emplace_back("lowerdir", lowers);
  else
    for (auto &l : lower) opts.emplace_back("lowerdir+", l);
  opts.emplace_back("upperdir", base + "/upper");
  opts.emplace_back("workdir", base + "/work");
  int m;
  try {
    m = fs_mount("overlay", opts);
  } catch (...) {
    if (tmp >= 0) close(tmp);
    throw;
  }
  if (tmp >= 0) close(tmp);  // the overlay holds its own reference to the upper mount
  return m;
}

std::vector<std::string> build_rootless_overlay(const std::string &lower, const std::string &target) {
  if (mount("tmpfs", target.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    fail(describe("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") + " (the rootless root's base)", errno);
  // Mount points as this mount namespace sees them (a copy of the host's, all locked).
  std::vector<std::string> points;
  if (FILE *f = std::fopen("/proc/self/mountinfo", "re")) {
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      char mp[4096];
      if (std::sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1) points.emplace_back(mp);
    }
    std::fclose(f);
  }
  std::string base = lower == "/" ? "" : lower;
  auto has_mounts_at_or_below = [&](const std::string &dir) {
    for (auto &p : points)
      if (p == dir || p.starts_with(dir + "/")) return true;
    return false;
  };
  std::vector<std::string> skipped;
  DIR *d = opendir(lower.c_str());
  if (!d) fail("opendir('" + lower + "')", errno);
  struct Closer {
    DIR *d;
    ~Closer() { closedir(d); }
  } closer{d};
  while (dirent *e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    std::string src = base + "/" + name, dst = target + "/" + name;
    struct stat st {};
    if (lstat(src.c_str(), &st) != 0) continue;  // gone since readdir
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = readlink(src.c_str(), buf, sizeof buf - 1);
      if (n < 0) fail("readlink('" + src + "')", errno);
      buf[n] = 0;
      if (symlink(buf, dst.c_str()) != 0) fail("symlink('" + std::string(buf) + "', '" + dst + "')", errno);
    } else if (S_ISDIR(st.st_mode)) {
      if (mkdir(dst.c_str(), st.st_mode & 07777) != 0) fail("mkdir('" + dst + "')", errno);
      if (has_mounts_at_or_below(src)) {
        if (src != "/proc" && src != "/sys" && src != "/dev") skipped.push_back(src);
        continue;
      }
      int fd = make_overlay({src}, "");
      Fd guard(fd);
      attach(fd, dst);
    } else if (S_ISREG(st.st_mode)) {
      int fd = open(dst.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) fail("create '" + dst + "'", errno);
      close(fd);
      if (mount(src.c_str(), dst.c_str(), nullptr, MS_BIND, nullptr) != 0)
        fail(describe(src, dst, "", MS_BIND, ""), errno);
    }
  }
  return skipped;
}

void attach(int fd, const std::string &target) {
  if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target.c_str(), MOVE_MOUNT_F_EMPTY_PATH) != 0)
    fail("move_mount(overlay root onto '" + target + "')", errno,
         refused_hint(errno, "move_mount is Linux 5.2", "or use a directory root instead of an overlay"));
}

void pivot_into(const std::string &root) {
  if (chdir(root.c_str()) != 0) fail("chdir('" + root + "')", errno);
  if (syscall(SYS_pivot_root, ".", ".") != 0) {
    int e = errno;
    fail("pivot_root('" + root + "')", e,
         e == EINVAL ? "the new root must be a mount point, and neither it nor / may be shared; "
                       "for an initramfs root set chroot = true"
                     : "");
  }
  // The old root is now stacked under "."; detach it so nothing of the host stays reachable.
  if (umount2(".", MNT_DETACH) != 0) fail("umount2(old root, MNT_DETACH)", errno);
  if (chdir("/") != 0) fail("chdir('/')", errno);
}

void chroot_into(const std::string &root) {
  if (chdir(root.c_str()) != 0) fail("chdir('" + root + "')", errno);
  if (chroot(".") != 0) fail("chroot('" + root + "')", errno);
  if (chdir("/") != 0) fail("chdir('/')", errno);
}

}  // namespace mnt
