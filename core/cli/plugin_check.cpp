// nsrig plugin-check: the conformance checker for one plugin file.
//
// Every check prints one line, PASS / FAIL / WARN / SKIP, with the reason.
// The spawn checks run the plugin for real (payload /bin/true) in throw-away
// instances whose state lives in a private NSRIG_STATE_DIR, and compare what
// the host looks like before and after: mounts, network links, cgroup
// directories, state and lease files, open fds, child processes.
#include <elf.h>
#include <net/if.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "error.hpp"
#include "host_api.hpp"
#include "spawner.hpp"

namespace fs = std::filesystem;

namespace nsrig::cli {
namespace {

struct Report {
  int fails = 0, warns = 0, skips = 0, passes = 0;
  void line(const char *tag, const std::string &check, const std::string &detail) {
    std::printf("%-4s  %-26s %s\n", tag, check.c_str(), detail.c_str());
    std::fflush(stdout);
  }
  void pass(const std::string &c, const std::string &d) { ++passes, line("PASS", c, d); }
  void fail(const std::string &c, const std::string &d) { ++fails, line("FAIL", c, d); }
  void warn(const std::string &c, const std::string &d) { ++warns, line("WARN", c, d); }
  void skip(const std::string &c, const std::string &d) { ++skips, line("SKIP", c, d); }
};

// ---- What the host looks like: compared before and after each check. ----

void list_tree(const fs::path &root, int depth, std::set<std::string> &out, bool dirs_only) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it.depth() >= depth) it.disable_recursion_pending();
    std::error_code e2;
    bool dir = it->is_directory(e2) && !it->is_symlink(e2);
    if (!dirs_only || dir) out.insert(it->path().string());
  }
}

std::string check_id();
std::string check_prefix();

struct Snapshot {
  std::map<std::string, std::set<std::string>> parts;
  std::map<std::string, std::string> fd_target;  ///< "open fd" number -> what it names (for messages)

  static Snapshot take(const std::string &state_dir) {
    Snapshot s;
    for (const char *kind : {"mount", "network link", "cgroup directory", "state file", "lease file", "/dev/shm file",
                             "open fd", "child process", "process started by a hook"})
      s.parts[kind];  // every kind in every snapshot, empty or not
    {
      std::ifstream mi("/proc/self/mountinfo");
      for (std::string l; std::getline(mi, l);) s.parts["mount"].insert(l);
    }
    std::error_code ec;
    // Links of this network namespace (the worker's own, as root): if_nameindex asks the
    // kernel, where /sys/class/net would show the namespace sysfs was mounted in.
    if (struct if_nameindex *ifs = if_nameindex()) {
      for (auto *i = ifs; i->if_index; ++i) s.parts["network link"].insert(i->if_name);
      if_freenameindex(ifs);
    }
    // Only this checker's cgroups (see check_id()): the host's own churn is not the plugin's.
    std::set<std::string> cgroups;
    list_tree("/sys/fs/cgroup", 4, cgroups, true);
    std::string mine_cg = check_prefix();
    for (auto &p : cgroups)
      if (p.find(mine_cg) != std::string::npos) s.parts["cgroup directory"].insert(p);
    list_tree(state_dir, 8, s.parts["state file"], false);
    // Address pools are per network namespace: /run/nsrig/.net/<netns inode>-<bridge>.
    struct stat ns {};
    std::string mine = stat("/proc/self/ns/net", &ns) == 0 ? std::to_string(ns.st_ino) + "-" : "";
    for (auto &e : fs::directory_iterator("/run/nsrig/.net", ec))
      if (!mine.empty() && e.path().filename().string().starts_with(mine))
        list_tree(e.path(), 4, s.parts["lease file"], false), s.parts["lease file"].insert(e.path().string());
    list_tree("/dev/shm", 2, s.parts["/dev/shm file"], false);
    // By number only: what an inherited fd points at may be renamed meanwhile (ctest's own log);
    // what it points at goes with the message. A file mapped into this process (a library a
    // plugin loaded as dlopen("/proc/self/fd/N") and holds open, writing-plugins.md) is the
    // plugin's code, loaded once per process, not a side effect of one configure.
    std::set<std::string> mapped;
    {
      std::ifstream maps("/proc/self/maps");
      for (std::string l; std::getline(maps, l);)
        if (size_t slash = l.find('/'); slash != std::string::npos) mapped.insert(l.substr(slash));
    }
    const std::string own_dir = "/proc/" + std::to_string(getpid()) + "/fd";  // the iterator's
    for (auto &e : fs::directory_iterator("/proc/self/fd", ec)) {
      std::string n = e.path().filename(), target = fs::read_symlink(e.path(), ec).string();
      if (!ec && (mapped.count(target) || target == own_dir)) continue;
      s.parts["open fd"].insert(n);
      s.fd_target[n] = ec ? "?" : target;
    }
    // Our children (the directory iterator's own fd above is closed by now), and the
    // processes a hook started, wherever they were reparented: they carry the checker's token.
    std::string self = std::to_string(getpid());
    const char *token = std::getenv("NSRIG_PLUGIN_CHECK");
    std::string needle = token ? std::string("NSRIG_PLUGIN_CHECK=") + token : "";
    for (auto &e : fs::directory_iterator("/proc", ec)) {
      std::string pid = e.path().filename().string();
      if (pid == self || !std::all_of(pid.begin(), pid.end(), ::isdigit)) continue;
      std::ifstream st(e.path() / "stat");
      std::string line;
      if (!std::getline(st, line)) continue;
      size_t rp = line.rfind(')');
      if (rp == std::string::npos) continue;
      std::istringstream rest(line.substr(rp + 2));
      std::string state, ppid;
      rest >> state >> ppid;
      if (ppid == self && state != "Z") s.parts["child process"].insert(pid);
      if (needle.empty()) continue;
      std::ifstream env(e.path() / "environ", std::ios::binary);
      std::string all((std::istreambuf_iterator<char>(env)), {});
      if (all.find(needle) != std::string::npos)
        s.parts["process started by a hook"].insert(pid + " (" + line.substr(line.find('(') + 1, rp - line.find('(') - 1) + ")");
    }
    return s;
  }

  // "" when equal; else what appeared or went away (a few of each).
  std::string diff(const Snapshot &after) const {
    std::string out;
    for (auto &[kind, before] : parts) {
      const auto &now = after.parts.at(kind);
      std::vector<std::string> added, gone;
      std::set_difference(now.begin(), now.end(), before.begin(), before.end(), std::back_inserter(added));
      std::set_difference(before.begin(), before.end(), now.begin(), now.end(), std::back_inserter(gone));
      auto show = [&](const std::vector<std::string> &v, const char *what) {
        if (v.empty()) return;
        // The longest path is the most telling (a file, not the directories above it).
        auto best = std::max_element(v.begin(), v.end(), [](auto &a, auto &b) { return a.size() < b.size(); });
        out += (out.empty() ? "" : "; ") + std::to_string(v.size()) + " " + kind + "(s) " + what + ": " + *best;
        if (kind == "open fd") {
          const auto &names = what == std::string("gone") ? fd_target : after.fd_target;
          if (auto it = names.find(*best); it != names.end()) out += " (" + it->second + ")";
        }
        if (v.size() > 1) out += ", ...";
      };
      show(added, "left behind");
      show(gone, "gone");
    }
    return out;
  }
};

// ---- The dynamic symbols a plugin file exports (ELF .dynsym). ----

// The names the file exports as functions or objects (global or weak,
// defined); empty when it is no regular 64-bit ELF file. Untrusted input:
// every offset is bounds-checked, and at most 100,000 names of 4 KiB are read.
std::vector<std::string> exported_symbols(const std::string &path) {
  std::vector<std::string> out;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return out;
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return out;
  }
  void *map = st.st_size > 0 ? mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) return out;
  auto *base = static_cast<const unsigned char *>(map);
  size_t size = st.st_size;
  auto *eh = reinterpret_cast<const Elf64_Ehdr *>(base);
  // [off, off + len) inside the file, without overflow: the file is untrusted input.
  auto inside = [&](uint64_t off, uint64_t len) { return off <= size && len <= size - off; };
  if (size >= sizeof *eh && std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64 &&
      eh->e_shentsize == sizeof(Elf64_Shdr) && inside(eh->e_shoff, uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr))) {
    auto *sh = reinterpret_cast<const Elf64_Shdr *>(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr &strs = sh[sh[i].sh_link];
      if (!inside(sh[i].sh_offset, sh[i].sh_size) || !inside(strs.sh_offset, strs.sh_size)) break;
      auto *sym = reinterpret_cast<const Elf64_Sym *>(base + sh[i].sh_offset);
      const char *names = reinterpret_cast<const char *>(base + strs.sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym) && out.size() < 100000; ++k) {
        if (sym[k].st_shndx == SHN_UNDEF || sym[k].st_name >= strs.sh_size) continue;
        int bind = ELF64_ST_BIND(sym[k].st_info), type = ELF64_ST_TYPE(sym[k].st_info);
        if ((bind == STB_GLOBAL || bind == STB_WEAK) && (type == STT_FUNC || type == STT_OBJECT))
          out.emplace_back(names + sym[k].st_name,
                           strnlen(names + sym[k].st_name, std::min<size_t>(strs.sh_size - sym[k].st_name, 4096)));
      }
    }
  }
  munmap(map, size);
  return out;
}

// ---- Throw-away instances. ----

// Instance ids of the checker's runs: "nsrig-check-" and 8 hex digits. Plugins name
// per-instance things after the id, so the cgroup comparison can ignore the host's own
// cgroup churn (a service manager's) and look only at paths with "nsrig" in them.
// What every id of this checker starts with: "nsrig-check-<the last 6 characters of its
// token, lower case>-", so two checkers at once never compare each other's.
std::string check_prefix() {
  std::string t = std::getenv("NSRIG_PLUGIN_CHECK") ? std::getenv("NSRIG_PLUGIN_CHECK") : "";
  if (t.size() > 6) t.erase(0, t.size() - 6);
  for (auto &ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return "nsrig-check-" + t + "-";
}

std::string check_id() { return check_prefix() + make_instance_id().substr(0, 4); }

struct Checker {
  const Options &o;
  Registry &reg;
  const Plugin &plugin;
  std::string state_dir;   ///< private NSRIG_STATE_DIR
  Report &r;
  int position = -1;  ///< index of the checked plugin's table among the context's; -1: last
  bool added_user = false;  ///< profile() put a user namespace first (adds_user_namespace)
  mutable std::optional<bool> user_installed;  ///< a user plugin on the search path (found once)

  // The first place, from the end, where the plan's ordering rules (user first,
  // after/before) accept the checked plugin among the context's plugins.
  void find_position() {
    auto p = profile();
    auto *arr = p->root.get_as<toml::array>("namespace");
    int n = arr ? static_cast<int>(arr->size()) - 1 : 0;  // the context's tables, without the checked one
    for (int at = n; at >= 0; --at) {
      position = at;
      try {
        auto q = profile();
        Instance inst(*q, reg, {"/bin/true"});
        make_plan(inst);
        return;
      } catch (const Error &) {
      }
    }
    position = -1;  // none: the plan's own error will say why
  }

  // Not root, a namespace plugin is checked inside a rootless user namespace
  // (as `nsrig run` needs one, planner.cpp) when the context has none and the
  // user plugin is installed.
  bool adds_user_namespace(const toml::array &arr) const {
    if (geteuid() == 0 || !plugin.desc.clone_flag || plugin.desc.clone_flag == CLONE_NEWUSER) return false;
    for (auto &&e : arr)
      if (auto *t = e.as_table(); t && (*t)["type"].value_or(std::string()) == "user") return false;
    if (!user_installed) {  // profile() runs for every check: the plugin dirs are listed once
      auto found = reg.discover();  // paths, the first per name
      user_installed = std::any_of(found.begin(), found.end(), [](const std::string &f) { return fs::path(f).stem() == "user"; });
    }
    return *user_installed;
  }

  // The context profiles (-p), then the plugin's own table; `edit` may change that table.
  std::unique_ptr<Profile> profile(const std::function<void(toml::table &)> &edit = nullptr) {
    auto p = std::make_unique<Profile>();
    load_profiles(o.profiles, *p);
    // Parsed again, not copied: a copied toml++ node has no source, and the
    // plugin's errors would name "<profile>" instead of the --config file:line.
    // Without --config, the table is parsed from text too, so that errors name it.
    toml::table t = o.check_config.empty() ? toml::parse("type = \"" + plugin.name() + "\"\n",
                                                         std::string("plugin-check's empty table (no --config)"))
                                           : toml::parse_file(o.check_config);
    t.insert_or_assign("type", plugin.name());
    if (edit) edit(t);
    auto *arr = p->root.get_as<toml::array>("namespace");
    if (!arr) arr = p->root.insert_or_assign("namespace", toml::array{}).first->second.as_array();
    if (adds_user_namespace(*arr)) {
      toml::table user = toml::parse("type = \"user\"\n", std::string("plugin-check's rootless user namespace"));
      arr->insert(arr->begin(), std::move(user));
      added_user = true;
    }
    // A context profile may already have a table of this type: the one checked replaces it.
    for (size_t i = 0; i < arr->size();)
      if (auto *e = arr->get(i)->as_table(); e && (*e)["type"].value_or(std::string()) == plugin.name())
        arr->erase(arr->begin() + static_cast<long>(i));
      else
        ++i;
    // Where the planner accepts it (position(), found once); last by default.
    size_t at = position < 0 ? arr->size() : std::min(static_cast<size_t>(position), arr->size());
    arr->insert(arr->begin() + static_cast<long>(at), std::move(t));
    p->namespaces.clear();
    for (auto &&e : *arr) p->namespaces.push_back({(*e.as_table())["type"].value_or(std::string()), e.as_table()});
    return p;
  }

  struct Run {
    int code = 0;
    std::string error;
    std::string teardown_error;  ///< the first on_teardown failure, "" when none
  };
  // One whole lifecycle; `fail_after` injects a failure after that phase.
  Run spawn(const std::vector<std::string> &argv, const std::string &fail_after = "") {
    Run out;
    try {
      auto p = profile();
      Instance inst(*p, reg, argv);
      inst.id = check_id();
      inst.fail_after = fail_after;
      Plan plan = make_plan(inst);
      inst.configure();
      plan = make_plan(inst);
      try {
        out.code = run(inst, plan);
      } catch (const Error &e) {
        out.code = e.exit_code;
        out.error = e.what();
      }
      if (!inst.teardown_errors.empty()) out.teardown_error = inst.teardown_errors.front();
    } catch (const Error &e) {
      out.code = e.exit_code;
      out.error = e.what();
    }
    return out;
  }

  // Runs `f` in a forked process: its exit status, or 128+N for signal N.
  static int in_child(const std::function<int()> &f) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      int rc = 1;
      try {
        rc = f();
      } catch (...) {
      }
      std::fflush(nullptr);
      _exit(rc);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0) return -1;
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
  }
};

// A bundle as a whole: what the registry reads of it for any member must hold for
// every member, or some name of it cannot be loaded.
void check_bundle(const Plugin &p, Report &r) {
  const nsrig_plugin_descriptor *const *all = nullptr;
  uint32_t count = 0;
  int32_t rc = call_bundle(p, NSRIG_ABI_VERSION, &host_api(), &all, &count);
  std::vector<std::string> problems, names;
  std::vector<std::pair<uint64_t, std::string>> flags;  // a clone flag has one owner, in a bundle too
  if (rc != NSRIG_OK || !all || count == 0 || count > kMaxBundle) {
    r.fail("bundle: members", "the bundle entry answered status " + std::to_string(rc) + ", " +
                                  (all ? "" : "a NULL array, ") + "count " + std::to_string(count) + " (1 to " +
                                  std::to_string(kMaxBundle) + " descriptors expected)");
    return;
  }
  for (uint32_t i = 0; i < count; ++i) {
    const nsrig_plugin_descriptor *d = all[i];
    std::string at = "entry " + std::to_string(i);
    if (!d) {
      problems.push_back(at + " is NULL");
      continue;
    }
    if (d->struct_size < NSRIG_DESCRIPTOR_V1_MIN_SIZE) problems.push_back(at + ": struct_size " +
                                                                           std::to_string(d->struct_size));
    std::string n = d->name ? d->name : "";
    if (!valid_plugin_name(d->name)) problems.push_back(at + ": name '" + n + "' is not 1-32 characters of [a-z0-9_-]");
    else if (std::find(names.begin(), names.end(), n) != names.end())
      problems.push_back(at + ": a second plugin named '" + n + "'");
    else
      names.push_back(n);
    if (d->struct_size >= NSRIG_DESCRIPTOR_V1_MIN_SIZE && d->clone_flag) {
      for (auto &[f, owner] : flags)
        if (f == d->clone_flag)
          problems.push_back(at + ": " + clone_flag_name(f) + " is owned by '" + owner + "' too");
      flags.emplace_back(d->clone_flag, n);
    }
  }
  std::string list;
  for (auto &n : names) list += (list.empty() ? "" : ", ") + n;
  if (problems.empty())
    r.pass("bundle: members", std::to_string(count) + ": " + list);
  else
    for (auto &m : problems) r.fail("bundle: members", m);
}

// The checks themselves, in a worker process of their own (see cmd_plugin_check).
int check_worker(const Options &o, const std::string &path, const std::string &state_dir) {
  Report r;
  std::error_code ec;
  std::string stem = fs::path(path).stem().string();

  // 1. Loading and ABI negotiation (the registry's own checks).
  Registry reg(Registry::default_dirs(o.plugin_dirs));
  const Plugin *plugin = nullptr;
  try {
    plugin = &reg.load_file(path, stem);
    r.pass("load", "dlopen, entry point, ABI " + std::to_string(plugin->desc.abi_version) + " (host offers " +
                       std::to_string(NSRIG_ABI_VERSION) + "), descriptor of " +
                       std::to_string(plugin->desc.struct_size) + " bytes");
  } catch (const Error &e) {
    r.fail("load", e.what());
    std::printf("1 check failed; the others need a loadable plugin\n");
    return 1;
  }
  const auto &d = plugin->desc;
  auto entry = [plugin](uint32_t abi, const nsrig_host_api *host, const nsrig_plugin_descriptor **out) {
    return call_entry(*plugin, abi, host, out);
  };
  {
    const nsrig_plugin_descriptor *out = nullptr;
    int32_t rc = Checker::in_child([&] { return entry(0, &host_api(), &out) == NSRIG_ERR_ABI ? 0 : 1; });
    if (rc == 0)
      r.pass("abi: refuses version 0", "the entry point answers NSRIG_ERR_ABI");
    else
      r.fail("abi: refuses version 0", rc > 128 ? "the entry point crashed (signal " + std::to_string(rc - 128) + ")"
                                                : "the entry point accepted an ABI version that does not exist");
    rc = Checker::in_child([&] {
      int32_t s = entry(NSRIG_ABI_VERSION + 1, &host_api(), &out);
      return s == NSRIG_ERR_ABI || (s == NSRIG_OK && out && out->abi_version <= NSRIG_ABI_VERSION + 1) ? 0 : 1;
    });
    if (rc == 0)
      r.pass("abi: newer host", "offered ABI " + std::to_string(NSRIG_ABI_VERSION + 1) +
                                    ", it answers with a version it speaks or refuses");
    else
      r.fail("abi: newer host", "offered ABI " + std::to_string(NSRIG_ABI_VERSION + 1) +
                                    ", it answered with a newer one or crashed: speak min(offered, yours)");
  }
  if (plugin->bundled) check_bundle(*plugin, r);
  auto syms = exported_symbols(path);
  bool both = plugin->bundled && std::find(syms.begin(), syms.end(), NSRIG_ENTRY_SYMBOL) != syms.end();
  // The standard library's inline code keeps default visibility (its headers say so); the same
  // definition in every plugin, so harmless. Anything else exported is the plugin's own.
  auto is_std = [](const std::string &s) {
    std::string_view v(s);
    if (!v.starts_with("_Z")) return false;
    v.remove_prefix(2);
    for (std::string_view p : {"TV", "TI", "TS", "GV", "GVZ"})
      if (v.starts_with(p)) v.remove_prefix(p.size());
    if (v.starts_with("N")) v.remove_prefix(1);
    if (v.starts_with("K")) v.remove_prefix(1);
    return v.starts_with("St") || v.starts_with("9__gnu_cxx") || v.starts_with("Z");
  };
  std::erase_if(syms, [&](const std::string &s) {
    return s == (plugin->bundled ? NSRIG_BUNDLE_SYMBOL : NSRIG_ENTRY_SYMBOL) || s.starts_with("_init") ||
           s.starts_with("_fini") || is_std(s);
  });
  if (both)
    r.warn("exports", "both " NSRIG_BUNDLE_SYMBOL " and " NSRIG_ENTRY_SYMBOL ": this nsrig uses the bundle's, one "
                      "before 0.3 the other, which may answer with another plugin; export only the bundle's");
  else if (syms.empty())
    r.pass("exports", plugin->bundled ? "only " NSRIG_BUNDLE_SYMBOL " (a bundle)" : "only " NSRIG_ENTRY_SYMBOL);
  else
    r.warn("exports", std::to_string(syms.size()) + " symbol(s) besides the entry point, e.g. '" + syms.front() +
                          "': build with hidden visibility (nsrig_add_plugin does) so plugins cannot interpose");

  // 2. The descriptor.
  r.pass("descriptor: name", std::string("'") + d.name + "', the file's name");
  if (!d.version || !*d.version)
    r.fail("descriptor: version", "empty version string");
  else
    r.pass("descriptor: version", std::string("'") + d.version + "'");
  if (!d.description || !*d.description)
    r.warn("descriptor: description", "none: nsrig plugins shows nothing for it");
  else
    r.pass("descriptor: description", d.description);
  std::string flag = clone_flag_name(d.clone_flag);
  r.pass("descriptor: clone_flag", d.clone_flag ? flag : "0 (creates no namespace)");
  // Other plugins on the search path: the names the constraints use, and who owns which flag.
  std::set<std::string> installed;
  for (auto &f : reg.discover()) {
    std::string other = fs::path(f).stem().string();
    // The file itself under another name is no other plugin; a bundle's siblings are.
    if (other == stem || (!plugin->bundled && fs::equivalent(f, path, ec))) continue;
    installed.insert(other);
    try {
      reg.load_file(f, other);
    } catch (const Error &e) {
      if (std::string(e.what()).find("already owned by plugin '" + plugin->name() + "'") != std::string::npos)
        r.fail("descriptor: clone_flag", flag + " is also owned by " + f + ": one owner per flag");
    }
  }
  for (auto [what, names] : {std::pair{"after", &plugin->after}, std::pair{"before", &plugin->before}})
    for (auto &n : *names) {
      if (n == plugin->name())
        r.fail(std::string("descriptor: ") + what, "names the plugin itself");
      else if (installed.count(n))
        r.pass(std::string("descriptor: ") + what, "'" + n + "' is installed");
      else
        r.warn(std::string("descriptor: ") + what, "'" + n + "' is not on the plugin search path (fine when optional)");
    }

  Checker c{o, reg, *plugin, state_dir, r};
  c.find_position();

  // 3. on_configure: succeeds with the given table, and changes nothing.
  Snapshot before = Snapshot::take(state_dir);
  std::vector<std::string> asked;
  bool configured = false;
  try {
    auto p = c.profile();
    Instance inst(*p, reg, {"/bin/true"});
    inst.id = check_id();
    make_plan(inst);
    inst.configure();
    if (Slot *s = inst.find(plugin->name())) asked = s->asked;
    std::string how = o.check_config.empty() ? "with an empty table" : "with " + o.check_config;
    if (c.added_user) how += ", under a rootless user namespace (not root)";
    r.pass("configure", how);
    configured = true;
  } catch (const Error &e) {
    std::string hint = o.check_config.empty() ? "give its settings with --config" : "";
    if (o.profiles.empty()) hint += std::string(hint.empty() ? "" : ", ") + "the plugins it needs with -p PROFILE";
    if (geteuid() != 0) hint += std::string(hint.empty() ? "" : "; ") + "if it needs root, run plugin-check as root";
    r.fail("configure", std::string(e.what()) + (hint.empty() ? "" : " (" + hint + ")"));
  }
  if (std::string diff = before.diff(Snapshot::take(state_dir)); diff.empty())
    r.pass("configure: no side effects", "mounts, links, cgroups, state files, fds, processes unchanged");
  else
    r.fail("configure: no side effects", diff + ": move that work to on_prepare (undone in on_teardown)");

  // 4. Exceptions stay inside: every key it asked for, given a value of a type no
  // plugin expects, must give an error message, never a crash.
  std::set<std::string> keys;
  for (auto &k : asked)
    if (!k.empty() && k.find_first_of(".[") == std::string::npos) keys.insert(k);
  int crashed = 0, silent = 0;
  std::string first;
  for (auto &k : keys) {
    int rc = Checker::in_child([&] {
      auto p = c.profile([&](toml::table &t) {
        toml::table odd;
        odd.insert("nsrig_plugin_check", toml::array{1, "two"});
        t.insert_or_assign(k, std::move(odd));
      });
      Instance inst(*p, reg, {"/bin/true"});
      try {
        inst.configure();
      } catch (const Error &e) {
        return std::string(e.what()).find("failed without a message") == std::string::npos ? 0 : 3;
      }
      return 0;  // accepted it (a free-form table): fine
    });
    if (rc == 0) continue;
    (rc > 128 ? crashed : silent)++;
    if (first.empty())
      first = "key '" + k + "': " + (rc > 128 ? "died of signal " + std::to_string(rc - 128) +
                                                    (rc == 128 + SIGABRT ? " (an exception crossed the boundary?)" : "")
                                              : "failed without a message (call set_error or config_error)");
  }
  if (!configured)
    r.skip("configure: bad values", "configure failed (see above), so the keys it reads are not known");
  else if (keys.empty())
    r.pass("configure: bad values", "it reads no key: nothing to try");
  else if (crashed + silent == 0)
    r.pass("configure: bad values", std::to_string(keys.size()) + " key(s) given a wrong type: each an error message");
  else
    r.fail("configure: bad values", first);

  // 5. Real spawns.
  if (geteuid() != 0) {
    for (const char *n : {"spawn", "spawn: nothing left", "payload: no leaked fds", "teardown after failures",
                          "two instances at once"})
      r.skip(n, "creating namespaces and cgroups needs root: run plugin-check as root");
  } else {
    before = Snapshot::take(state_dir);  // each check against the host as it was right before it
    auto run = c.spawn({"/bin/true"});
    if (run.code == 0)
      r.pass("spawn", "the whole lifecycle around /bin/true, exit 0");
    else
      r.fail("spawn", "exit " + std::to_string(run.code) + (run.error.empty() ? "" : ": " + run.error));
    if (std::string diff = before.diff(Snapshot::take(state_dir)); !diff.empty())
      r.fail("spawn: nothing left", diff);
    else if (!run.teardown_error.empty())
      r.fail("spawn: nothing left", "its teardown failed: " + run.teardown_error);
    else
      r.pass("spawn: nothing left", "teardown undid everything");

    // The payload gets exactly the fds nsrig was given (not close-on-exec), plus the one
    // ls opens to list them: anything more was opened by a hook without O_CLOEXEC.
    std::set<int> inherited;
    for (auto &e : fs::directory_iterator("/proc/self/fd", ec)) {
      int fd = std::stoi(e.path().filename().string());
      int fl = fcntl(fd, F_GETFD);
      if (fl >= 0 && !(fl & FD_CLOEXEC)) inherited.insert(fd);
    }
    std::set<int> expected = inherited;
    for (int fd = 0;; ++fd)
      if (!inherited.count(fd)) {
        expected.insert(fd);  // ls's own directory fd: the lowest free number
        break;
      }
    char out_tmpl[] = "/tmp/nsrig-check-out-XXXXXX";
    int out = mkostemp(out_tmpl, O_CLOEXEC);
    std::string listed;
    if (out >= 0) {
      unlink(out_tmpl);
      std::fflush(stdout);
      int saved = fcntl(1, F_DUPFD_CLOEXEC, 3);
      dup2(out, 1);
      auto fds = c.spawn({"/bin/ls", "/proc/self/fd"});
      std::fflush(stdout);
      dup2(saved, 1);
      close(saved);
      char buf[4096];
      ssize_t n = pread(out, buf, sizeof buf - 1, 0);
      close(out);
      listed = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      if (fds.code != 0) listed.clear();
    }
    std::set<int> got;
    std::istringstream words(listed);
    for (std::string w; words >> w;)
      if (w.size() < 8 && std::all_of(w.begin(), w.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
        got.insert(std::stoi(w));  // ls's lines; a hook may print other words there too
    std::vector<int> extra;
    std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(), std::back_inserter(extra));
    if (got.empty())
      r.skip("payload: no leaked fds", "the spawn failed (see above), so the payload's fds could not be listed");
    else if (extra.empty())
      r.pass("payload: no leaked fds", "it has only the fds nsrig was given");
    else
      r.fail("payload: no leaked fds", "the payload got fd " + std::to_string(extra.front()) +
                                           " from a hook: open files with O_CLOEXEC");

    std::string bad;
    for (const char *phase : {"prepare", "parent_after_clone", "child_setup"}) {
      before = Snapshot::take(state_dir);
      auto f = c.spawn({"/bin/true"}, phase);
      std::string diff = before.diff(Snapshot::take(state_dir));
      if (f.code == 0 && bad.empty()) bad = std::string("after ") + phase + ": the run did not fail";
      if (f.code != 0 && f.error.find("injected failure") == std::string::npos && bad.empty())
        bad = std::string("the run failed before the failure injected after ") + phase + ": " + f.error;
      if (!diff.empty() && bad.empty()) bad = std::string("after a failure after ") + phase + ": " + diff;
      if (!f.teardown_error.empty() && bad.empty())
        bad = std::string("after a failure after ") + phase + ", its teardown failed: " + f.teardown_error;
    }
    if (bad.empty())
      r.pass("teardown after failures", "a failure after on_prepare, on_parent_after_clone, on_child_setup: nothing left");
    else
      r.fail("teardown after failures", bad);

    // Two instances at once, in two processes: hooks must not share names or files.
    before = Snapshot::take(state_dir);
    int other = -1;
    pid_t pid = fork();
    if (pid == 0) {
      auto x = c.spawn({"/bin/sleep", "0.3"});
      if (x.code) std::fprintf(stderr, "nsrig plugin-check: second instance: %s\n", x.error.c_str());
      std::fflush(nullptr);
      _exit(x.code ? 1 : 0);
    }
    auto mine = c.spawn({"/bin/sleep", "0.3"});
    if (pid > 0) {
      int st = 0;
      waitpid(pid, &st, 0);
      other = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::string diff = before.diff(Snapshot::take(state_dir));
    if (mine.code == 0 && other == 0 && diff.empty())
      r.pass("two instances at once", "both ran and both were torn down");
    else
      r.fail("two instances at once", mine.code ? mine.error : other ? "the second instance failed (exit " +
                                                                           std::to_string(other) + ")"
                                                                     : diff);
  }

  std::printf("%d passed, %d failed, %d warnings, %d skipped\n", r.passes, r.fails, r.warns, r.skips);
  return r.fails || r.skips ? 1 : 0;
}

}  // namespace

// The supervisor: checks its arguments, then runs the checks in a worker of its own
// process group, as root in private network and mount namespaces (so that the host's
// other activity is not mistaken for the plugin's, and nothing the plugin leaves
// reaches the host's tables). A worker that crashes (a hook's SIGSEGV), hangs past
// the timeout or is interrupted is killed with its whole group, and reported.
int cmd_plugin_check(const Options &o) {
  std::error_code ec;
  std::string path = fs::absolute(o.plugin_path, ec).lexically_normal().string();
  if (!fs::is_regular_file(path, ec)) {
    if (fs::is_symlink(path, ec))
      throw Error("plugin-check: '" + o.plugin_path + "' is a symlink to '" + fs::read_symlink(path, ec).string() +
                  "', which is not a file: copy or install what it names next to it (for a bundle's member, the "
                  "bundle), or give the path of a plugin's .so");
    throw Error("plugin-check: '" + o.plugin_path + "' is not a file; give the path of a plugin's .so");
  }
  if (!o.check_config.empty()) {  // parsed here to report a syntax error once; each spawn parses it again
    if (!fs::is_regular_file(o.check_config, ec))
      throw Error("plugin-check: --config '" + o.check_config + "' is not a regular file (a TOML table of the "
                  "plugin's settings)");
    try {
      (void)toml::parse_file(o.check_config);
    } catch (const toml::parse_error &e) {
      const auto &b = e.source().begin;
      throw Error(o.check_config + ":" + std::to_string(b.line) + ":" + std::to_string(b.column) + ": " +
                  std::string(e.description()));
    }
  }
  {
    Profile context;  // the -p profiles must load before any check runs: their errors are the user's
    load_profiles(o.profiles, context);
  }
  std::printf("checking %s\n", path.c_str());
  std::fflush(stdout);

  // A private state directory: everything the checked instances leave there is theirs.
  char tmpl[] = "/tmp/nsrig-check-XXXXXX";
  if (!mkdtemp(tmpl)) throw Error(errno_text("mkdtemp('/tmp/nsrig-check-XXXXXX')"));
  std::string state_dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{state_dir};

  sigset_t set, old;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, &old);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  pid_t worker = fork();
  if (worker < 0) throw Error(errno_text("fork of the plugin-check worker"));
  if (worker == 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int rc = 1;
    try {
      if (geteuid() == 0) {
        if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) throw Error(errno_text("unshare(CLONE_NEWNET|CLONE_NEWNS)"));
        if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
          throw Error(errno_text("make / private in the checker's mount namespace"));
      }
      setenv("NSRIG_STATE_DIR", state_dir.c_str(), 1);
      // Every process a hook starts inherits this: one left behind is found by it (Snapshot).
      setenv("NSRIG_PLUGIN_CHECK", fs::path(state_dir).filename().c_str(), 1);
      rc = check_worker(o, path, state_dir);
    } catch (const Error &e) {
      std::printf("FAIL  %-26s %s\n", "(checker)", e.what());
    }
    std::fflush(nullptr);
    _exit(rc);
  }
  setpgid(worker, worker);
  int timeout_s = o.check_timeout;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  std::string ended;
  for (;;) {
    pid_t w = waitpid(worker, &status, WNOHANG);
    if (w == worker) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ended = "timed out after " + std::to_string(timeout_s) + " s (a hook that hangs? --timeout SECONDS)";
      break;
    }
    pollfd p{sfd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1000))) > 0) {
      signalfd_siginfo si{};
      if (read(sfd, &si, sizeof si) == static_cast<ssize_t>(sizeof si) && si.ssi_signo != SIGCHLD) {
        ended = std::string("interrupted by signal ") + strsignal(static_cast<int>(si.ssi_signo));
        break;
      }
    }
  }
  if (!ended.empty()) {
    kill(-worker, SIGKILL);
    waitpid(worker, &status, 0);
  }
  kill(-worker, SIGKILL);  // whatever the worker's hooks left in its group
  close(sfd);
  sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!ended.empty()) {
    std::printf("FAIL  %-26s the checker %s; what that check created may be left behind\n", "(checker)", ended.c_str());
    return 1;
  }
  if (WIFSIGNALED(status)) {
    std::printf("FAIL  %-26s the checker died of signal %d (%s) in the check after the last line: a hook crashed "
                "the process it ran in; what that check created may be left behind\n",
                "(checker)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    return 1;
  }
  return WEXITSTATUS(status);
}

}  // namespace nsrig::cli
