#include "instance.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "error.hpp"
#include "host_api.hpp"
#include "log.hpp"
#include "spawner.hpp"

extern char **environ;

namespace nsrig {
namespace {

// toml++ path syntax ("a.b[2].c"); "" or NULL is the plugin's table.
const toml::node *lookup(Slot &s, const char *path) {
  if (!path || !*path) return s.table;
  std::string_view p(path);
  // Remember the last key name asked for, for "did you mean".
  size_t dot = p.find_last_of('.');
  std::string_view last = dot == std::string_view::npos ? p : p.substr(dot + 1);
  last = last.substr(0, last.find('['));
  if (!last.empty() && std::find(s.asked.begin(), s.asked.end(), last) == s.asked.end())
    s.asked.emplace_back(last);
  const toml::node *n = toml::at_path(*s.table, p).node();
  if (n) s.read.insert(n);
  return n;
}

Slot &slot_of(nsrig_ctx *ctx) { return *ctx->slot; }

void h_log(nsrig_ctx *ctx, int32_t level, const char *msg) {
  auto l = static_cast<log::Level>(std::clamp(level, 0, 4));
  if (log::enabled(l)) log::write(l, slot_of(ctx).name() + ": " + (msg ? msg : ""));
}

void h_set_error(nsrig_ctx *ctx, const char *msg) { slot_of(ctx).error = msg ? msg : "(no message)"; }

void h_config_error(nsrig_ctx *ctx, const char *path, const char *msg) {
  Slot &s = slot_of(ctx);
  const toml::node *n = path && *path ? toml::at_path(*s.table, path).node() : nullptr;
  std::string key = path && *path ? "'" + std::string(path) + "' " : "";
  s.error = where(n ? *n : *s.table) + ": " + s.name() + ": " + key + (msg ? msg : "is invalid");
}

int32_t h_config_kind(nsrig_ctx *ctx, const char *path) {
  const toml::node *n = lookup(slot_of(ctx), path);
  if (!n) return NSRIG_CFG_NONE;
  switch (n->type()) {
    case toml::node_type::string: return NSRIG_CFG_STRING;
    case toml::node_type::integer: return NSRIG_CFG_INT;
    case toml::node_type::boolean: return NSRIG_CFG_BOOL;
    case toml::node_type::floating_point: return NSRIG_CFG_FLOAT;
    case toml::node_type::array: return NSRIG_CFG_ARRAY;
    case toml::node_type::table: return NSRIG_CFG_TABLE;
    default: return NSRIG_CFG_OTHER;
  }
}

int32_t h_config_string(nsrig_ctx *ctx, const char *path, const char **out) {
  if (!out) return NSRIG_ERR_INVALID;
  const toml::node *n = lookup(slot_of(ctx), path);
  if (!n) return NSRIG_ERR_NOT_FOUND;
  if (!n->is_string()) return NSRIG_ERR_TYPE;
  *out = n->as_string()->get().c_str();
  return NSRIG_OK;
}

int32_t h_config_int(nsrig_ctx *ctx, const char *path, int64_t *out) {
  if (!out) return NSRIG_ERR_INVALID;
  const toml::node *n = lookup(slot_of(ctx), path);
  if (!n) return NSRIG_ERR_NOT_FOUND;
  if (!n->is_integer()) return NSRIG_ERR_TYPE;
  *out = n->as_integer()->get();
  return NSRIG_OK;
}

int32_t h_config_bool(nsrig_ctx *ctx, const char *path, bool *out) {
  if (!out) return NSRIG_ERR_INVALID;
  const toml::node *n = lookup(slot_of(ctx), path);
  if (!n) return NSRIG_ERR_NOT_FOUND;
  if (!n->is_boolean()) return NSRIG_ERR_TYPE;
  *out = n->as_boolean()->get();
  return NSRIG_OK;
}

int32_t h_config_size(nsrig_ctx *ctx, const char *path, size_t *out) {
  if (!out) return NSRIG_ERR_INVALID;
  const toml::node *n = lookup(slot_of(ctx), path);
  if (!n) return NSRIG_ERR_NOT_FOUND;
  if (auto *a = n->as_array()) return *out = a->size(), NSRIG_OK;
  if (auto *t = n->as_table()) return *out = t->size(), NSRIG_OK;
  return NSRIG_ERR_TYPE;
}

int32_t h_config_key(nsrig_ctx *ctx, const char *path, size_t index, const char **out) {
  if (!out) return NSRIG_ERR_INVALID;
  Slot &s = slot_of(ctx);
  const toml::node *n = lookup(s, path);
  if (!n) return NSRIG_ERR_NOT_FOUND;
  const toml::table *t = n->as_table();
  if (!t) return NSRIG_ERR_TYPE;
  if (index >= t->size()) return NSRIG_ERR_INVALID;
  s.whole.insert(n);
  auto it = t->begin();
  std::advance(it, static_cast<std::ptrdiff_t>(index));
  *out = it->first.str().data();  // toml::key holds a std::string: NUL-terminated
  return NSRIG_OK;
}

int32_t h_child_pid(nsrig_ctx *ctx) { return ctx->inst->child_pid; }
int32_t h_child_pidfd(nsrig_ctx *ctx) { return ctx->inst->child_pidfd; }
uint64_t h_clone_flags(nsrig_ctx *ctx) { return ctx->inst->clone_flags; }
bool h_has_plugin(nsrig_ctx *ctx, const char *name) { return name && ctx->inst->find(name) != nullptr; }
const char *h_instance_id(nsrig_ctx *ctx) { return ctx->inst->id.c_str(); }

int32_t h_spawn_payload(nsrig_ctx *ctx, int32_t *out_pid) {
  if (!out_pid || !ctx->inst->in_child_exec) return NSRIG_ERR_INVALID;
  pid_t pid = spawn_payload(*ctx->inst);
  if (pid < 0) {
    int e = errno;
    slot_of(ctx).error = errno_text("fork of the payload");
    errno = e;  // for the plugin's own message
    return NSRIG_ERR;
  }
  *out_pid = pid;
  return NSRIG_OK;
}

int32_t h_exec_payload(nsrig_ctx *ctx) {
  if (!ctx->inst->in_child_exec) return NSRIG_ERR_INVALID;
  exec_payload(*ctx->inst);
}

int32_t h_state_dir(nsrig_ctx *ctx, const char **out) {
  if (!out) return NSRIG_ERR_INVALID;
  try {
    *out = ctx->inst->state_dir().c_str();
    return NSRIG_OK;
  } catch (const Error &e) {
    Slot &s = slot_of(ctx);
    s.error = s.host_error = e.what();
    return NSRIG_ERR;
  }
}

int32_t h_publish(nsrig_ctx *ctx, const char *key, const char *value) {
  if (!key || !*key || !value) return NSRIG_ERR_INVALID;
  auto &facts = ctx->inst->facts;
  auto it = std::find_if(facts.begin(), facts.end(), [&](auto &f) { return f.first == key; });
  if (it != facts.end())
    it->second = value;
  else
    facts.emplace_back(key, value);
  return NSRIG_OK;
}

int32_t h_describe(nsrig_ctx *ctx, const char *hook, const char *text) {
  static const std::vector<std::string> hooks = {"on_configure", "on_prepare", "on_parent_after_clone",
                                                 "on_child_setup", "on_post_start", "on_teardown", "on_child_exec"};
  if (!hook || !text || std::find(hooks.begin(), hooks.end(), hook) == hooks.end()) return NSRIG_ERR_INVALID;
  slot_of(ctx).described.emplace_back(hook, text);
  return NSRIG_OK;
}

int32_t h_fact(nsrig_ctx *ctx, const char *key, const char **out) {
  if (!key || !out) return NSRIG_ERR_INVALID;
  for (auto &[k, v] : ctx->inst->facts)
    if (k == key) return *out = v.c_str(), NSRIG_OK;
  return NSRIG_ERR_NOT_FOUND;
}

int32_t h_clone_into_cgroup(nsrig_ctx *ctx, int32_t dirfd) {
  Instance &inst = *ctx->inst;
  if (dirfd < 0 || !inst.in_prepare) return NSRIG_ERR_INVALID;
  int copy = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) {
    slot_of(ctx).error = errno_text("clone_into_cgroup: dup of fd " + std::to_string(dirfd));
    return NSRIG_ERR;
  }
  if (inst.clone_cgroup_fd >= 0) close(inst.clone_cgroup_fd);
  inst.clone_cgroup_fd = copy;
  return NSRIG_OK;
}

const nsrig_host_api kHostApi = {
    sizeof(nsrig_host_api), NSRIG_ABI_VERSION, h_log,         h_set_error,   h_config_error,
    h_config_kind,          h_config_string,   h_config_int,  h_config_bool, h_config_size,
    h_config_key,           h_child_pid,       h_child_pidfd, h_clone_flags, h_has_plugin,
    h_instance_id,          h_spawn_payload,   h_exec_payload, h_state_dir,   h_publish,
    h_describe,             h_fact,            h_clone_into_cgroup,
};

// Walks the plugin's table; the first value no getter read is an unknown key.
const toml::node *first_unread(const Slot &s, const toml::node &n, const std::string &path, std::string &out) {
  if (s.whole.count(&n)) return nullptr;
  if (const auto *t = n.as_table()) {
    if (t->empty() && !s.read.count(&n)) return out = path, &n;
    for (auto &&[k, v] : *t) {
      if (path.empty() && k.str() == "type") continue;
      if (auto *u = first_unread(s, v, path.empty() ? std::string(k.str()) : path + "." + std::string(k.str()), out))
        return u;
    }
    return nullptr;
  }
  if (const auto *a = n.as_array()) {
    if (a->empty() && !s.read.count(&n)) return out = path, &n;
    for (size_t i = 0; i < a->size(); ++i)
      if (auto *u = first_unread(s, *a->get(i), path + "[" + std::to_string(i) + "]", out)) return u;
    return nullptr;
  }
  if (!s.read.count(&n)) return out = path, &n;
  return nullptr;
}

}  // namespace

const nsrig_host_api &host_api() { return kHostApi; }

std::string make_instance_id() {
  // getrandom(2): one system call where /dev/urandom took three. It cannot
  // fail for 6 bytes once the pool is initialised; should it, the time and
  // the pid still make the id differ from a concurrent run's.
  unsigned char b[6] = {};
  if (getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t mix = static_cast<uint64_t>(t.tv_nsec) ^ (static_cast<uint64_t>(t.tv_sec) << 30) ^
                   (static_cast<uint64_t>(getpid()) << 20);
    std::memcpy(b, &mix, sizeof b);
  }
  static const char hex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char c : b) id += hex[c >> 4], id += hex[c & 15];
  return id;
}

Instance::Instance(Profile &p, Registry &registry, const std::vector<std::string> &argv)
    : profile(p), id(make_instance_id()) {
  for (auto &ns : profile.namespaces) {
    auto s = std::make_unique<Slot>();
    try {
      s->plugin = &registry.load(ns.type);
    } catch (const Error &e) {
      const toml::node *t = ns.table->get("type");
      std::string hint;
      if (std::string_view(e.what()).starts_with("no plugin named")) {
        std::vector<std::string> known;
        for (auto &f : registry.discover()) known.push_back(std::filesystem::path(f).stem().string());
        hint = did_you_mean(ns.type, known);
      }
      throw Error(where(*t) + ": " + e.what() + hint);
    }
    s->table = ns.table;
    s->ctx = {this, s.get()};
    clone_flags |= s->plugin->desc.clone_flag;
    slots.push_back(std::move(s));
  }
  process.argv = argv.empty() ? profile.argv : argv;
  process.cwd = profile.cwd;
  if (!profile.clear_env)
    for (char **e = environ; e && *e; ++e) process.env.emplace_back(*e);
  for (auto &[k, v] : profile.env) {
    std::string prefix = k + "=";
    std::erase_if(process.env, [&](const std::string &e) { return e.starts_with(prefix); });
    process.env.push_back(prefix + v);
  }
  if (std::none_of(process.env.begin(), process.env.end(), [](auto &e) { return e.starts_with("PATH="); }))
    process.env.emplace_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
}

Instance::~Instance() {
  if (clone_cgroup_fd >= 0) close(clone_cgroup_fd);
  for (auto &s : slots)
    if (s->configured && s->plugin->desc.destroy) s->plugin->desc.destroy(s->state);
}

namespace {
std::string state_base_path() {
  if (const char *d = std::getenv("NSRIG_STATE_DIR"); d && *d) {
    // One spelling per directory (relative, trailing slash, ".."): plugins derive names from it.
    std::error_code ec;
    auto p = std::filesystem::weakly_canonical(std::filesystem::absolute(d, ec), ec);
    return ec ? std::string(d) : p.string();
  }
  if (geteuid() == 0) return "/run/nsrig";
  if (const char *x = std::getenv("XDG_RUNTIME_DIR"); x && *x) return std::string(x) + "/nsrig";
  return "/tmp/nsrig-" + std::to_string(geteuid());
}
}  // namespace

std::string state_base() {
  std::string base = state_base_path();
  // Instance records name profiles whose hooks `rm` runs: a base someone else owns or
  // can write to (a /tmp/nsrig-<uid> planted by another user) would run their hooks as us.
  struct stat st {};
  if (lstat(base.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      throw Error("state directory '" + base + "' is not a directory (a symlink?): remove it, or set NSRIG_STATE_DIR");
    if (st.st_uid != geteuid())
      throw Error("state directory '" + base + "' is owned by uid " + std::to_string(st.st_uid) + ", not by you (uid " +
                  std::to_string(geteuid()) + "): another user could plant instances there; remove it, or set "
                  "NSRIG_STATE_DIR to a directory of yours");
    if (st.st_mode & 022)
      throw Error("state directory '" + base + "' is writable by group or others: run chmod go-w '" + base + "'");
  }
  return base;
}

const std::string &Instance::state_dir() {
  if (!state_dir_.empty()) return state_dir_;
  std::string base = state_base();
  std::string dir = base + "/" + id;
  for (const std::string &d : {base, dir})
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error(errno_text("mkdir('" + d + "')") + "; nsrig keeps per-instance files there");
  state_dir_ = dir;
  return state_dir_;
}

void Instance::remove_state_dir_if_empty() {
  if (state_dir_.empty() || keep_state_dir) return;
  if (rmdir(state_dir_.c_str()) != 0 && errno != ENOENT) {  // a plugin kept something there (keep = true)
    log::info("instance state dir " + state_dir_ + " kept: " + std::strerror(errno));
    return;
  }
  state_dir_.clear();  // gone: a next run of this instance (bench, an embedder) makes it again
}

Slot *Instance::find(const std::string &name) const {
  for (auto &s : slots)
    if (s->name() == name) return s.get();
  return nullptr;
}

std::string Instance::hook_error(const Slot &s, const char *hook) const {
  std::string msg = s.error.empty() ? "failed without a message" : s.error;
  // config_error messages already carry file:line:column and the plugin name.
  if (msg.find(": " + s.name() + ": ") != std::string::npos) return msg;
  // The SDK's wrappers throw their own words for a failed host call; the host's reason goes with them.
  if (!s.host_error.empty() && msg.find(s.host_error) == std::string::npos) msg += ": " + s.host_error;
  return "plugin '" + s.name() + "' failed in " + hook + ": " + msg;
}

void Instance::configure() {
  for (auto &s : slots) {
    const auto &d = s->plugin->desc;
    s->configured = true;
    if (d.on_configure && d.on_configure(&s->ctx, &s->state) != NSRIG_OK) {
      // A required key reported missing ("needs 'inside'") is often a typo of
      // one that is there, unread: name it ("'insde' ... did you mean
      // 'inside'?"). Only for that key: other unread keys may just sit where
      // configure did not get to before it failed.
      std::string msg = hook_error(*s, "on_configure"), unread;
      size_t needs = msg.find("needs '");
      std::string missing = needs == std::string::npos ? "" : msg.substr(needs + 7, msg.find('\'', needs + 7) - needs - 7);
      for (int tries = 0; tries < 64 && !missing.empty(); ++tries) {  // the unread keys in turn (the error path only)
        const toml::node *n = first_unread(*s, *s->table, "", unread);
        if (!n) break;
        s->read.insert(n);
        std::string key = unread;  // "extra[0].name[0]" -> the key "extra[0].name", its leaf "name"
        while (!key.empty() && key.back() == ']') key.erase(key.rfind('['));
        size_t cut = key.find_last_of(".]");
        std::string leaf = cut == std::string::npos ? key : key.substr(cut + 1);
        std::string hint = leaf == missing || leaf == "type" ? "" : did_you_mean(leaf, {missing});
        if (!hint.empty()) {
          msg += "; " + where(*n) + ": '" + key + "' is not a key of " + s->name() + hint;
          break;
        }
      }
      throw Error(msg);
    }
    std::string path;
    if (const toml::node *n = first_unread(*s, *s->table, "", path)) {
      size_t cut = path.find_last_of(".]");
      std::string leaf = cut == std::string::npos ? path : path.substr(cut + 1);
      throw Error(where(*n) + ": unknown key '" + path + "' for plugin '" + s->name() + "'" +
                  did_you_mean(leaf, s->asked));
    }
  }
}

}  // namespace nsrig
