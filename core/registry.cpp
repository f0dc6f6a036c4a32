#include "registry.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>

#include "error.hpp"
#include "host_api.hpp"
#include "log.hpp"

namespace fs = std::filesystem;

namespace nsrig {
namespace {

struct FlagName {
  uint64_t flag;
  const char *name;
};
constexpr FlagName kFlags[] = {
    {CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWPID, "CLONE_NEWPID"},       {CLONE_NEWNS, "CLONE_NEWNS"},
    {CLONE_NEWNET, "CLONE_NEWNET"},   {CLONE_NEWUTS, "CLONE_NEWUTS"},       {CLONE_NEWIPC, "CLONE_NEWIPC"},
    {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {0x80 /* CLONE_NEWTIME */, "CLONE_NEWTIME"},
};

[[noreturn]] void refuse(const std::string &path, const std::string &why) {
  throw Error("plugin " + path + " refused: " + why);
}

// As root, a plugin is code that will run as root: refuse a file that another
// user could have written or replaced, as sudo and PAM do for their modules.
// The path is resolved here component by component, as path_resolution(7)
// describes, and every directory it passes through, symlinks' targets and
// `..` included, must be root's and not writable by group or others (a
// sticky directory owned by root, /tmp, is fine: nobody else can rename or
// delete what root put there); every symlink followed must be root's; the
// file must be root's and not writable by group or others. Then no other
// user can change what the path names between this check and dlopen(3).
//
// `trusted` holds the directories already checked; `real_dirs` maps a
// directory as given to its real path, once resolved that way: six plugins
// from one directory cost one walk, and one lstat each.
class TrustedPath {
 public:
  TrustedPath(const std::string &path, std::vector<std::string> &trusted) : path_(path), trusted_(trusted) {}

  // The real path of `p`, an absolute path or one relative to `from` (a real
  // directory already checked); refuses the plugin on any untrusted step.
  // `last`, when given, gets lstat(2) of what the path names.
  std::string resolve(const std::string &p, std::string from = "/", struct stat *last = nullptr) {
    std::vector<std::string> todo;  // components still to walk, the next one last
    push(todo, p);
    std::string cur = p.starts_with("/") ? "/" : std::move(from);
    check_dir(cur);
    for (int links = 0; !todo.empty();) {
      std::string c = std::move(todo.back());
      todo.pop_back();
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        cur = cur == "/" ? cur : cur.substr(0, std::max<size_t>(1, cur.rfind('/')));
        check_dir(cur);
        continue;
      }
      std::string next = (cur == "/" ? "" : cur) + "/" + c;
      struct stat st {};
      if (lstat(next.c_str(), &st) != 0) refuse(path_, errno_text("cannot resolve it: lstat('" + next + "')"));
      if (S_ISLNK(st.st_mode)) {
        if (++links > 40) refuse(path_, "cannot resolve it: more than 40 symlinks (ELOOP)");
        if (st.st_uid != 0)
          refuse(path_, "the symlink '" + next + "' is owned by uid " + std::to_string(st.st_uid) +
                            ", not root, and nsrig runs as root; it could be pointed anywhere");
        char buf[PATH_MAX];
        ssize_t n = readlink(next.c_str(), buf, sizeof buf - 1);
        if (n <= 0) refuse(path_, errno_text("cannot resolve it: readlink('" + next + "')"));
        std::string target(buf, static_cast<size_t>(n));
        push(todo, target);
        if (target[0] == '/') cur = "/";
        continue;
      }
      if (S_ISDIR(st.st_mode) && !todo.empty()) {
        check_dir(next, &st);
        cur = next;
        continue;
      }
      if (!todo.empty()) refuse(path_, "cannot resolve it: '" + next + "' is not a directory");
      if (last) *last = st;
      if (S_ISDIR(st.st_mode)) check_dir(next, &st);
      return next;
    }
    if (last && lstat(cur.c_str(), last) != 0) refuse(path_, errno_text("stat('" + cur + "')"));
    return cur;
  }

  // Root's and not writable by group or others; a directory may be writable when
  // sticky (nobody else can rename or delete what root put in it).
  static void check_owner(const std::string &path, const std::string &what, const struct stat &st) {
    if (st.st_uid != 0)
      refuse(path, "'" + what + "' is owned by uid " + std::to_string(st.st_uid) +
                       ", not root, and nsrig runs as root; chown root '" + what + "'");
    bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX);
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky_dir)
      refuse(path, "'" + what + "' is writable by group or others; run chmod go-w '" + what + "'");
  }

  static void push(std::vector<std::string> &todo, const std::string &p) {
    std::vector<std::string> parts;
    for (size_t start = 0; start <= p.size();) {
      size_t end = std::min(p.find('/', start), p.size());
      parts.push_back(p.substr(start, end - start));
      start = end + 1;
    }
    todo.insert(todo.end(), parts.rbegin(), parts.rend());
  }
  // Adds what this walk checked to `trusted`: once the whole plugin passed.
  void commit() { trusted_.insert(trusted_.end(), checked_.begin(), checked_.end()); }

 private:
  // `known`: lstat(2) of `d` when it was just taken (a directory, no link).
  void check_dir(const std::string &d, const struct stat *known = nullptr) {
    if (std::find(trusted_.begin(), trusted_.end(), d) != trusted_.end() ||
        std::find(checked_.begin(), checked_.end(), d) != checked_.end())
      return;
    struct stat st {};
    if (known)
      st = *known;
    else if (stat(d.c_str(), &st) != 0)
      refuse(path_, errno_text("stat('" + d + "')"));
    check_owner(path_, d, st);
    checked_.push_back(d);
  }

  const std::string &path_;
  std::vector<std::string> &trusted_;
  std::vector<std::string> checked_;
};

// As root: the walk above; `st` gets lstat(2) of the real file.
void check_ownership(const std::string &path, std::vector<std::string> &trusted,
                     std::vector<std::pair<std::string, std::string>> &real_dirs, struct stat &st) {
  std::error_code ec;
  fs::path given = fs::absolute(path, ec);
  if (ec) refuse(path, "cannot resolve it: " + ec.message());
  std::string dir = given.parent_path().string(), name = given.filename().string();
  TrustedPath walk(path, trusted);
  auto seen = std::find_if(real_dirs.begin(), real_dirs.end(), [&](auto &d) { return d.first == dir; });
  std::string real_dir = seen != real_dirs.end() ? seen->second : walk.resolve(dir);
  // The last step, from the real directory: the file itself (one lstat), or a symlink walked like the rest.
  std::string real = walk.resolve(name, real_dir, &st);
  if (!S_ISREG(st.st_mode)) refuse(path, "'" + real + "' is not a regular file");
  TrustedPath::check_owner(path, real, st);
  walk.commit();
  if (seen == real_dirs.end()) real_dirs.emplace_back(dir, real_dir);
}

std::vector<std::string> names(const char *const *list) {
  std::vector<std::string> out;
  for (; list && *list; ++list) out.emplace_back(*list);
  return out;
}

using EntryFn = int32_t(uint32_t, const nsrig_host_api *, const nsrig_plugin_descriptor **);
using BundleFn = int32_t(uint32_t, const nsrig_host_api *, const nsrig_plugin_descriptor *const **, uint32_t *);

// See call_entry; `name` is the descriptor wanted from a bundle.
int32_t entry_for(const boost::dll::shared_library &lib, bool bundled, const std::string &name, uint32_t abi,
                  const nsrig_host_api *host, const nsrig_plugin_descriptor **out) {
  if (!bundled) return lib.get<EntryFn>(NSRIG_ENTRY_SYMBOL)(abi, host, out);
  const nsrig_plugin_descriptor *const *all = nullptr;
  uint32_t count = 0;
  int32_t rc = lib.get<BundleFn>(NSRIG_BUNDLE_SYMBOL)(abi, host, &all, &count);
  if (rc != NSRIG_OK) return rc;
  if (!all || count > kMaxBundle) return NSRIG_ERR;
  const nsrig_plugin_descriptor *found = nullptr;
  for (uint32_t i = 0; i < count; ++i)
    if (all[i] && all[i]->name && name == all[i]->name) {
      if (found) return NSRIG_ERR_INVALID;  // two of that name: which one is meant?
      found = all[i];
    }
  if (!found) return NSRIG_ERR_NOT_FOUND;
  *out = found;
  return NSRIG_OK;
}

// The valid names a bundle answers with, in its order, for messages; none when it fails.
std::vector<std::string> bundle_names(const boost::dll::shared_library &lib) {
  const nsrig_plugin_descriptor *const *all = nullptr;
  uint32_t count = 0;
  std::vector<std::string> out;
  if (lib.get<BundleFn>(NSRIG_BUNDLE_SYMBOL)(NSRIG_ABI_VERSION, &host_api(), &all, &count) != NSRIG_OK || !all ||
      count > kMaxBundle)
    return out;
  for (uint32_t i = 0; i < count; ++i)
    if (all[i] && valid_plugin_name(all[i]->name)) out.emplace_back(all[i]->name);
  return out;
}

}  // namespace

bool valid_plugin_name(const char *n) {
  if (!n || !*n || std::strlen(n) > 32) return false;
  return std::all_of(n, n + std::strlen(n), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

int32_t call_bundle(const Plugin &p, uint32_t abi, const nsrig_host_api *host, const nsrig_plugin_descriptor *const **out,
                    uint32_t *count) {
  return p.lib->get<BundleFn>(NSRIG_BUNDLE_SYMBOL)(abi, host, out, count);
}

int32_t call_entry(const Plugin &p, uint32_t abi, const nsrig_host_api *host, const nsrig_plugin_descriptor **out) {
  return entry_for(*p.lib, p.bundled, p.name(), abi, host, out);
}

std::string clone_flag_name(uint64_t flag) {
  if (flag == 0) return "0";
  for (auto &f : kFlags)
    if (f.flag == flag) return f.name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(flag));
  return buf;
}

Registry::Registry(std::vector<std::string> dirs) : dirs_(std::move(dirs)) {}

std::vector<std::string> Registry::default_dirs(const std::vector<std::string> &cli_dirs) {
  std::vector<std::string> out(cli_dirs);
  for (auto &d : cli_dirs)  // a typo would otherwise just fall through to the other dirs
    if (std::error_code ec; !fs::is_directory(d, ec))
      log::warning("--plugin-dir '" + d + "' is not a directory; searching the others");
  if (const char *env = std::getenv("NSRIG_PLUGIN_PATH")) {
    std::string s(env);
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) out.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {  // the build tree's layout, then the installed one (a prefix given at install time)
    out.push_back((exe.parent_path().parent_path() / "lib/nsrig/plugins").lexically_normal().string());
    out.push_back((exe.parent_path().parent_path() / NSRIG_PLUGIN_RELDIR).lexically_normal().string());
  }
  out.push_back(NSRIG_INSTALL_PLUGIN_DIR);
  std::vector<std::string> unique;  // first occurrence wins
  for (auto &d : out)
    if (std::find(unique.begin(), unique.end(), d) == unique.end()) unique.push_back(d);
  out = std::move(unique);
  return out;
}

const Plugin &Registry::load(const std::string &name) {
  for (auto &p : loaded_)
    if (p->name() == name) return *p;
  if (!valid_plugin_name(name.c_str()))
    throw Error("no plugin named '" + name + "': plugin names are 1-32 characters of [a-z0-9_-]");
  std::string searched;
  for (const auto &d : dirs_) {
    fs::path f = fs::path(d) / (name + ".so");
    std::error_code ec;
    // symlink_status: a dangling or looping link here is this plugin, refused
    // with the reason, not a silent fall-through to the next directory.
    if (fs::exists(fs::symlink_status(f, ec))) return load_file(f.string(), name);
    searched += "\n  " + d;
  }
  throw Error("no plugin named '" + name + "' (looked for " + name + ".so in:" + searched +
              ")\n  add a directory with --plugin-dir or NSRIG_PLUGIN_PATH; `nsrig plugins` lists what is found");
}

const Plugin &Registry::load_file(const std::string &path, const std::string &expected_name) {
  // What the kernel resolves the path to, as dlopen(3) will.
  struct stat st {};
  const bool root = geteuid() == 0;
  if (!root) {
    if (stat(path.c_str(), &st) != 0) refuse(path, errno_text("cannot read it: stat('" + path + "')"));
  } else {
    // As root, without following /proc "magic links" (/proc/PID/root, /proc/PID/cwd,
    // /proc/PID/fd/N, /dev/fd/N): the walk below reads links as text, and such a
    // link leads the kernel elsewhere, into another mount namespace for instance,
    // where what the path names could be swapped between the check and dlopen.
    // Without them, the kernel's route is the walk's (openat2(2), RESOLVE_NO_MAGICLINKS).
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
    if (fd < 0 && errno == ELOOP) {  // a magic link, or more than 40 symlinks: which?
      how.resolve = 0;
      long again = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how);
      if (again < 0) refuse(path, errno_text("cannot resolve it: openat2('" + path + "')"));
      close(static_cast<int>(again));
      refuse(path, "it goes through a /proc magic link (such as /proc/PID/root or /dev/fd/N), which could lead "
                   "anywhere; give a plain path");
    }
    // ENOSYS: before Linux 5.6; EPERM: a seccomp filter that does not know openat2 (container
    // runtimes' older profiles). The walk's comparison below still refuses a link that leads
    // elsewhere than it reads, though not a swap between the check and dlopen.
    if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
      if (stat(path.c_str(), &st) != 0) refuse(path, errno_text("cannot read it: stat('" + path + "')"));
    } else {
      if (fd < 0) refuse(path, errno_text("cannot read it: openat2('" + path + "')"));
      int rc = fstat(static_cast<int>(fd), &st);
      close(static_cast<int>(fd));
      if (rc != 0) refuse(path, errno_text("cannot read it: fstat('" + path + "')"));
    }
  }
  if (!S_ISREG(st.st_mode)) refuse(path, "not a regular file");  // dlopen would block on a FIFO
  if (root) {
    struct stat walked {};
    check_ownership(path, trusted_dirs_, real_dirs_, walked);
    if (walked.st_dev != st.st_dev || walked.st_ino != st.st_ino)
      refuse(path, "the kernel resolves it to another file than the one whose ownership was checked: it changed "
                   "meanwhile, or a link on the way is not what it reads; give a plain path");
  }
  auto p = std::make_unique<Plugin>();
  p->path = path;
  p->dev = st.st_dev;
  p->ino = st.st_ino;
  // A file already loaded (another member of a bundle): dlopen(3) would find it by device and
  // inode and return the same handle; taking it here saves its open, read, fstat and close.
  for (auto &o : loaded_)
    if (o->dev == p->dev && o->ino == p->ino) p->lib = o->lib;
  try {
    if (!p->lib)
      p->lib = std::make_shared<boost::dll::shared_library>(
          path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception &e) {
    // Boost.DLL wraps dlerror(): "...load() failed (dlerror system message: TEXT): ..."; show TEXT.
    std::string msg = e.what();
    const std::string tag = "dlerror system message: ";
    size_t at = msg.find(tag), end = msg.rfind("): ");
    if (at != std::string::npos && end != std::string::npos && end > at)
      msg = msg.substr(at + tag.size(), end - at - tag.size());
    refuse(path, "dlopen failed: " + msg);
  }
  p->bundled = p->lib->has(NSRIG_BUNDLE_SYMBOL);
  if (!p->bundled && !p->lib->has(NSRIG_ENTRY_SYMBOL))
    refuse(path, "no entry point '" NSRIG_ENTRY_SYMBOL "' (export it with C linkage and default visibility; "
                 "NSRIG_PLUGIN() in <nsrig/plugin.hpp> does)");
  // The name it is wanted by: a bundle gives the descriptor of that name.
  std::string wanted = expected_name.empty() ? fs::path(path).stem().string() : expected_name;
  const nsrig_plugin_descriptor *d = nullptr;
  int32_t rc = entry_for(*p->lib, p->bundled, wanted, NSRIG_ABI_VERSION, &host_api(), &d);
  if (rc == NSRIG_ERR_ABI)
    refuse(path, "it does not speak ABI version " + std::to_string(NSRIG_ABI_VERSION) +
                     ", the newest this nsrig offers; rebuild it against this SDK");
  if (p->bundled && rc == NSRIG_ERR_INVALID)
    refuse(path, "its bundle holds two plugins named '" + wanted + "'");
  if (p->bundled && rc != NSRIG_OK && rc != NSRIG_ERR_ABI) {
    std::error_code ec;
    std::string file = fs::weakly_canonical(path, ec).filename().string();
    std::vector<std::string> names = bundle_names(*p->lib);
    if (names.empty())
      refuse(path, "its bundle entry point " + (rc == NSRIG_ERR || rc == NSRIG_ERR_NOT_FOUND ? std::string("answered with no "
                   "valid plugin (a NULL array, a count of 0 or more than ") + std::to_string(kMaxBundle) + ")"
                   : "failed with status " + std::to_string(rc)));
    std::string members;
    for (auto n = names.begin(); n != names.end(); ++n) {
      if (std::find(names.begin(), n, *n) != n)  // a name twice: a member's source probably says the wrong name
        refuse(path, "it is a bundle that holds '" + *n + "' twice and no '" + wanted + "': does the source of '" +
                         wanted + "' give its descriptor the name '" + *n + "'?");
      members += (members.empty() ? "" : ", ") + *n;
    }
    if (rc == NSRIG_ERR_NOT_FOUND)
      refuse(path, "it is a bundle of the plugins " + members + ", and none is named '" + wanted +
                       "'; a bundle is loaded through a symlink named after one of them (" + names.front() +
                       ".so -> " + file + ")" +
                       (file.ends_with(".so") ? "; name the bundle's own file other than *.so (e.g. " +
                                                    fs::path(file).stem().string() + ".bundle), so that it is not "
                                                    "taken for a plugin"
                                              : ""));
  }
  if (rc != NSRIG_OK || !d) refuse(path, "its entry point failed with status " + std::to_string(rc));
  if (d->struct_size < NSRIG_DESCRIPTOR_V1_MIN_SIZE)
    refuse(path, "descriptor struct_size is " + std::to_string(d->struct_size) + " bytes, at least " +
                     std::to_string(NSRIG_DESCRIPTOR_V1_MIN_SIZE) + " are required");
  if (d->abi_version < 1 || d->abi_version > NSRIG_ABI_VERSION)
    refuse(path, "it answers with ABI version " + std::to_string(d->abi_version) + ", but this nsrig offered " +
                     std::to_string(NSRIG_ABI_VERSION));
  std::memcpy(&p->desc, d, std::min<size_t>(d->struct_size, sizeof(nsrig_plugin_descriptor)));
  p->desc.struct_size = sizeof(nsrig_plugin_descriptor);
  if (!valid_plugin_name(p->desc.name)) refuse(path, "its name must be 1-32 characters of [a-z0-9_-]");
  if (!expected_name.empty() && p->name() != expected_name)
    refuse(path, "the file is named for '" + expected_name + "' but the plugin calls itself '" + p->name() +
                     "'; rename it to " + p->name() + ".so (profiles find plugins by file name)");
  if (!p->desc.version) refuse(path, "its descriptor has no version string");
  bool known = p->desc.clone_flag == 0;
  for (auto &f : kFlags) known |= f.flag == p->desc.clone_flag;
  if (!known) refuse(path, "clone_flag " + clone_flag_name(p->desc.clone_flag) + " is not one CLONE_NEW* flag");
  for (auto &o : loaded_) {
    if (o->name() == p->name())
      refuse(path, "a plugin named '" + p->name() + "' is already loaded from " + o->path);
    if (p->desc.clone_flag && o->desc.clone_flag == p->desc.clone_flag)
      refuse(path, clone_flag_name(p->desc.clone_flag) + " is already owned by plugin '" + o->name() + "' (" +
                       o->path + "); one plugin per namespace type");
  }
  p->after = names(p->desc.after);
  p->before = names(p->desc.before);
  if (log::enabled(log::Level::debug))
    log::debug("loaded plugin '" + p->name() + "' " + p->desc.version + " (ABI " + std::to_string(p->desc.abi_version) +
               ", " + clone_flag_name(p->desc.clone_flag) + ") from " + path);
  loaded_.push_back(std::move(p));
  return *loaded_.back();
}

std::vector<std::string> Registry::discover() const {
  // The first file per name in search order, as load() finds them; nothing is
  // opened here (a FIFO or a device named *.so would block or act), and a
  // symlink naming another plugin's file is listed under its own name, which
  // is what a profile would use (and what load() then says of it).
  std::vector<std::string> out, seen;
  for (const auto &d : dirs_) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(d, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path &f = it->path();
      if (f.extension() != ".so") continue;
      std::string name = f.filename().string();
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      out.push_back(f.string());
    }
  }
  std::sort(out.begin(), out.end(), [](const std::string &a, const std::string &b) {
    return fs::path(a).filename() < fs::path(b).filename();
  });
  return out;
}

}  // namespace nsrig
