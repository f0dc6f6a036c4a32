// ipc: a new IPC namespace (System V IPC objects and POSIX message queues are
// private, ipc_namespaces(7)); `mqueue = true` mounts a fresh mqueue
// filesystem at /dev/mqueue, which needs the mount namespace (mq_overview(7)).
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <nsrig/plugin.hpp>

namespace {

struct Ipc {
  static constexpr const char *name = "ipc";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "IPC namespace; optional fresh /dev/mqueue";
  static constexpr uint64_t clone_flag = CLONE_NEWIPC;
  // Mounting must wait until the mnt plugin has made propagation private.
  static constexpr const char *after[] = {"mnt", nullptr};

  bool mqueue = false;
  bool own_root = false;  ///< the mnt plugin gave the instance a root (its "root" fact)

  void configure(nsrig::Context &c) {
    mqueue = c.boolean_or("mqueue", false);
    if (mqueue && !c.has_plugin("mnt"))
      c.fail_at("mqueue", "needs a mount namespace: add [[namespace]] type = \"mnt\" before this one");
    if (mqueue) c.describe("on_child_setup", "mount a fresh mqueue filesystem on /dev/mqueue (nosuid,nodev,noexec)");
  }
  // Without a root of the instance's own (mnt publishes "root" in its prepare,
  // which runs first), the instance's /dev is the host's: a missing
  // /dev/mqueue is known here, before the namespaces are created.
  void prepare(nsrig::Context &c) {
    if (!mqueue) return;
    own_root = c.fact("root").has_value();
    struct stat st {};
    if (!own_root && (stat("/dev/mqueue", &st) != 0 || !S_ISDIR(st.st_mode)))
      throw std::runtime_error("mqueue = true, but the host has no /dev/mqueue directory to mount it on (the "
                               "instance's /dev is the host's): create it with mkdir /dev/mqueue, or set mqueue = false");
  }
  void child_setup(nsrig::Context &) {
    if (!mqueue) return;
    if (mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) return;
    std::string what = "mount('mqueue' on '/dev/mqueue', type mqueue, flags nosuid,nodev,noexec)";
    // Creating the directory here would create it on the host's /dev too (same devtmpfs).
    if (errno == ENOENT)
      what += own_root ? " (the instance's /dev has no mqueue directory: use mnt's dev = \"minimal\", which makes "
                         "it, add it to the root's /dev, or set mqueue = false)"
                       : " (the host has no /dev/mqueue directory: create it with mkdir /dev/mqueue, or set "
                         "mqueue = false)";
    nsrig::check(-1, what);
  }
};

}  // namespace

NSRIG_PLUGIN(Ipc)
