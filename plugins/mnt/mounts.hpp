// Mount helpers of the mnt plugin: describing a mount(2) call for errors,
// resolving targets inside the new root without leaving it, and the special
// trees (/dev, masked and read-only paths, pivot_root).
#pragma once

#include <string>
#include <vector>

namespace mnt {

/** One mount of the profile's `mounts`, decoded and validated by configure. */
struct Mount {
  std::string type;                ///< proc sysfs tmpfs bind rbind devpts mqueue overlay
  std::string source;              ///< bind/rbind: host path
  std::string target;              ///< absolute, inside the instance's root
  std::vector<std::string> lower;  ///< overlay: lower dirs, top first
  std::string upper, work;         ///< overlay: both or neither
  std::string data;                ///< filesystem options (size=, mode=, ...)
  unsigned long flags = 0;         ///< MS_* from nosuid/nodev/noexec/readonly
  bool create = false;             ///< make a missing target (dir, or file for a file source)
};

/**
 * Removes `path` and everything below it, without following symlinks and
 * without crossing into other mounts (nftw(3) with FTW_DEPTH | FTW_PHYS |
 * FTW_MOUNT). A missing `path` is not an error. Throws std::runtime_error
 * naming the entry that could not be removed and strerror: ENOTEMPTY for a
 * directory with something still mounted below it (the mount and what it
 * holds are left alone), ENAMETOOLONG for an entry whose path exceeds
 * PATH_MAX. libc's nftw, not std::filesystem::remove_all: the latter links
 * about 2,500 relocations of libstdc++ into the plugin (docs/benchmarks.md).
 * Used for the overlay's mount point under the state dir (its layers live on
 * a private tmpfs, or are kept): in practice one or a few empty directories.
 */
void remove_tree(const std::string &path);

/** "nosuid,nodev,rdonly" for MS_* bits (0: "none"). */
std::string flags_text(unsigned long flags);

/** "mount('src' on 'target', type T, flags F, 'data')" for messages. */
std::string describe(const std::string &source, const std::string &target, const std::string &type,
                     unsigned long flags, const std::string &data);

/**
 * Opens `path` (absolute, as seen inside the new root) as an O_PATH fd,
 * resolved as if `root_fd` were "/" with openat2(RESOLVE_IN_ROOT |
 * RESOLVE_NO_MAGICLINKS) (openat2(2)): an absolute symlink starts again at
 * the root and ".." stops there, never followed to the host; a rename
 * racing the walk is refused (EXDEV, EAGAIN). With `create`,
 * missing directories are made (mode 0755) and, when `file` is set, the last
 * component is made as an empty file. Throws std::runtime_error naming the
 * path and the rule.
 */
int open_beneath(int root_fd, const std::string &root, const std::string &path, bool create, bool file);

/** "/proc/self/fd/N": a mount(2) target naming exactly the object fd N refers to. */
std::string fd_path(int fd);

/**
 * Mounts `m` at its target inside `root` (root_fd is an O_PATH fd of it).
 * Throws std::runtime_error from describe() with errno and a hint.
 */
void mount_one(int root_fd, const std::string &root, const Mount &m);

/**
 * dev = "minimal": a tmpfs on <root>/dev with null zero full random urandom
 * tty bind-mounted from the host's /dev (device nodes cannot be created or
 * used on mounts owned by a user namespace), a private devpts
 * (newinstance, ptmxmode=0666) with /dev/ptmx -> pts/ptmx, a tmpfs /dev/shm,
 * an empty /dev/mqueue, and the fd, stdin, stdout, stderr links.
 */
void setup_dev_minimal(int root_fd, const std::string &root);

/** OCI maskedPaths: files get /dev/null bound over them, directories an empty read-only tmpfs. Missing paths are skipped. */
void mask_paths(int root_fd, const std::string &root, const std::vector<std::string> &paths);

/** OCI readonlyPaths: each path bound onto itself and remounted read-only (locked flags kept). Missing paths are skipped. */
void readonly_paths(int root_fd, const std::string &root, const std::vector<std::string> &paths);

/** Makes every mount at and under `path` read-only: mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY) (mount_setattr(2)). */
void make_readonly_recursive(const std::string &path);

/**
 * Switches the calling process's root to `root` with pivot_root(".", ".")
 * and a lazy unmount of the old root (pivot_root(2), NOTES), then chdir("/").
 * `root` must be a mount point, and no mount involved may be shared.
 */
void pivot_into(const std::string &root);

/**
 * Builds an overlay as a detached mount with the new mount API (fsopen(2),
 * fsconfig(2), fsmount(2)), in the caller's (the host's) namespaces, so that
 * nothing appears in the host's mount table. `lower`: top first. `upper_base`:
 * a host directory to hold upper/ and work/; empty for a private tmpfs
 * (itself detached) that disappears with the instance. Why in the parent:
 * inside a new user namespace the host's "/" has locked submounts and cannot
 * be an overlay layer (clone_private_mount() refuses it), while a mount made
 * here can be moved into the child's mount namespace (move_mount(2)).
 * Returns the O_CLOEXEC mount fd; throws with the kernel's own fs-context
 * message on failure.
 */
int make_overlay(const std::vector<std::string> &lower, const std::string &upper_base);

/**
 * Rootless variant of an overlay of `lower` (one directory), built inside the
 * child's user and mount namespaces, where the parent's fsopen of an overlay
 * is not allowed (it needs CAP_SYS_ADMIN in the initial user namespace) and
 * `lower` itself cannot be a layer when mounts below it are locked
 * (user_namespaces(7), "Restrictions on mount namespaces"; overlayfs refuses
 * such a layer: "failed to clone lowerpath"). Mounts a tmpfs on `target` and
 * gives it one overlay per top-level directory of `lower` that has no mount
 * below it (each with its upper on a private tmpfs), the same symlinks, and
 * bind mounts of top-level files. Directories with mounts below them stay
 * empty; their names are returned (except /proc, /sys and /dev, which the
 * plugin mounts afresh). Throws std::runtime_error naming the entry.
 */
std::vector<std::string> build_rootless_overlay(const std::string &lower, const std::string &target);

/** Attaches detached mount `fd` on `target` (move_mount(2), MOVE_MOUNT_F_EMPTY_PATH). */
void attach(int fd, const std::string &target);

/** chroot(2) fallback for roots where pivot_root cannot work (an initramfs). */
void chroot_into(const std::string &root);

}  // namespace mnt
