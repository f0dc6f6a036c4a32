// nsrig plugin helper for C++ plugin authors. Header-only; compiled into the
// plugin, so nothing here crosses the ABI: the C header <nsrig/plugin.h> stays
// the contract.
//
// A plugin is a class with static members `name`, `version`, `description`,
// `clone_flag` (and optional `after` / `before`: NULL-terminated arrays of
// names), and any of these member functions, each taking `nsrig::Context&`:
//   configure, prepare, parent_after_clone, child_setup, post_start, teardown,
//   and `int child_exec(Context&)` (returns the first process's exit code).
// The class is constructed in on_configure (before `configure`) and destroyed
// by `destroy`. Hooks the class does not define are NULL in the descriptor, so
// they cost nothing and do not appear in `nsrig explain`.
//
// Every exception stops at the boundary: nsrig::ConfigError becomes
// host->config_error (the user sees the profile file:line:column), any other
// std::exception becomes host->set_error with its what(), and anything else an
// "unknown exception" message. The hook then returns NSRIG_ERR.
//
//   struct Uts {
//     static constexpr const char *name = "uts";
//     static constexpr const char *version = "1.0.0";
//     static constexpr const char *description = "hostname";
//     static constexpr uint64_t clone_flag = CLONE_NEWUTS;
//     std::string host;
//     void configure(nsrig::Context &c) { host = c.string_or("hostname", ""); }
//     void child_setup(nsrig::Context &) { nsrig::check(sethostname(...), "sethostname"); }
//   };
//   NSRIG_PLUGIN(Uts)
//
// Several plugins in one file (a bundle, see nsrig_plugin_bundle_fn): compile
// each plugin's sources with NSRIG_BUNDLE_MEMBER defined to an identifier of
// its own; NSRIG_PLUGIN(Class) then defines the hidden function
// nsrig_bundle_member_<that identifier>() instead of the entry point, and one
// source of the bundle lists them with NSRIG_PLUGIN_BUNDLE(fn, fn...).
// nsrig_add_plugin(... BUNDLE file) and nsrig_add_plugin_bundle(file) in the
// SDK's CMake module do all of that.
#ifndef NSRIG_PLUGIN_HPP
#define NSRIG_PLUGIN_HPP

#include <nsrig/plugin.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace nsrig {

/** A config value is wrong: `path` is the key path inside the plugin's table. */
struct ConfigError : std::runtime_error {
  ConfigError(std::string p, const std::string &msg) : std::runtime_error(msg), path(std::move(p)) {}
  std::string path;
};

/** Throws std::runtime_error "`what`: strerror(errno)" when `rc` is negative; returns rc. */
inline long check(long rc, const std::string &what) {
  if (rc < 0) {
    int e = errno;  // the message's concatenation may allocate, and malloc may set errno
    throw std::runtime_error(what + ": " + std::strerror(e));
  }
  return rc;
}

/** As above, for a message that is a C string (a literal): no std::string is made unless `rc` is negative. */
inline long check(long rc, const char *what) {
  if (rc < 0) {
    int e = errno;
    throw std::runtime_error(std::string(what) + ": " + std::strerror(e));
  }
  return rc;
}

/**
 * As check(rc, what), with the message made only on failure: `what` is
 * called (no arguments, returns std::string) when `rc` is negative, with
 * errno kept for the message. For on_child_setup and on_child_exec: in the
 * clone3 child every heap page written is a copy-on-write fault (a few
 * microseconds each), and a message built on success writes one.
 *   nsrig::check(sethostname(h.data(), h.size()), [&] { return "sethostname('" + h + "')"; });
 */
template <class F>
  requires std::is_invocable_r_v<std::string, F &>
long check(long rc, F &&what) {
  if (rc < 0) {
    int e = errno;
    throw std::runtime_error(what() + ": " + std::strerror(e));
  }
  return rc;
}

/** Typed, throwing view of the host API for one plugin in one instance. */
class Context {
 public:
  Context(const nsrig_host_api *host, nsrig_ctx *ctx) : host_(host), ctx_(ctx) {}

  /** Kind of the value at `path` (nsrig_config_kind). */
  int kind(const std::string &path) const { return host_->config_kind(ctx_, path.c_str()); }
  bool has(const std::string &path) const { return kind(path) != NSRIG_CFG_NONE; }

  /** String at `path`, nullopt if absent; ConfigError if of another type. */
  std::optional<std::string> string(const std::string &path) const {
    const char *out = nullptr;
    if (!found(host_->config_string(ctx_, path.c_str(), &out), path, "a string")) return std::nullopt;
    return std::string(out);
  }
  std::string string_or(const std::string &path, std::string def) const {
    auto v = string(path);
    return v ? *v : std::move(def);
  }
  /** Integer at `path`, nullopt if absent; ConfigError if of another type. */
  std::optional<int64_t> integer(const std::string &path) const {
    int64_t out = 0;
    if (!found(host_->config_int(ctx_, path.c_str(), &out), path, "an integer")) return std::nullopt;
    return out;
  }
  int64_t integer_or(const std::string &path, int64_t def) const { return integer(path).value_or(def); }
  /** Boolean at `path`, nullopt if absent; ConfigError if of another type. */
  std::optional<bool> boolean(const std::string &path) const {
    bool out = false;
    if (!found(host_->config_bool(ctx_, path.c_str(), &out), path, "true or false")) return std::nullopt;
    return out;
  }
  bool boolean_or(const std::string &path, bool def) const { return boolean(path).value_or(def); }
  /** Elements of the array / keys of the table at `path`; 0 if absent. */
  size_t size(const std::string &path) const {
    size_t out = 0;
    if (!found(host_->config_size(ctx_, path.c_str(), &out), path, "an array or a table")) return 0;
    return out;
  }
  /** The array of strings at `path` (empty if absent); ConfigError for anything else. */
  std::vector<std::string> strings(const std::string &path) const {
    if (has(path) && kind(path) != NSRIG_CFG_ARRAY) throw ConfigError(path, "must be an array of strings");
    std::vector<std::string> out;
    size_t n = size(path);
    for (size_t i = 0; i < n; ++i) {
      std::string at = path + "[" + std::to_string(i) + "]";
      auto v = string(at);
      if (!v) throw ConfigError(at, "must be a string");
      out.push_back(*v);
    }
    return out;
  }

  /** Keys of the table at `path` in file order (marks the table as read). */
  std::vector<std::string> keys(const std::string &path) const {
    std::vector<std::string> out;
    size_t n = size(path);
    for (size_t i = 0; i < n; ++i) {
      const char *k = nullptr;
      if (host_->config_key(ctx_, path.c_str(), i, &k) != NSRIG_OK) throw ConfigError(path, "must be a table");
      out.emplace_back(k);
    }
    return out;
  }
  /** Throws ConfigError for `path`: the host prefixes the value's file:line:column. */
  [[noreturn]] void fail_at(const std::string &path, const std::string &msg) const { throw ConfigError(path, msg); }

  void log(nsrig_log_level level, const std::string &msg) const { host_->log(ctx_, level, msg.c_str()); }
  void debug(const std::string &msg) const { log(NSRIG_LOG_DEBUG, msg); }
  void info(const std::string &msg) const { log(NSRIG_LOG_INFO, msg); }
  void warn(const std::string &msg) const { log(NSRIG_LOG_WARNING, msg); }

  int child_pid() const { return host_->child_pid(ctx_); }
  int child_pidfd() const { return host_->child_pidfd(ctx_); }
  uint64_t clone_flags() const { return host_->clone_flags(ctx_); }
  bool has_plugin(const std::string &name) const { return host_->has_plugin(ctx_, name.c_str()); }
  std::string instance_id() const { return host_->instance_id(ctx_); }
  /** on_child_exec only: fork and exec the payload; returns its pid. Throws on failure. */
  int spawn_payload() const {
    int32_t pid = 0;
    if (host_->spawn_payload(ctx_, &pid) != NSRIG_OK) {
      int e = errno;
      throw std::runtime_error(std::string("start the payload: ") + std::strerror(e) +
                               (e == EAGAIN ? " (a process limit: the cgroup's pids_max, or RLIMIT_NPROC)" : ""));
    }
    return pid;
  }

  /** on_child_exec only: become the payload (execve); returns only by throwing. */
  [[noreturn]] void exec_payload() const {
    host_->exec_payload(ctx_);
    throw std::runtime_error("exec_payload is only allowed in on_child_exec");
  }

  /** The instance's host-side state directory (created on first use); throws on failure. */
  std::string state_dir() const {
    const char *out = nullptr;
    if (host_->state_dir(ctx_, &out) != NSRIG_OK) throw std::runtime_error("cannot create the state directory");
    return out;
  }

  /** Records a fact for nsrig ps / inspect (e.g. "address"). */
  void publish(const std::string &key, const std::string &value) const {
    host_->publish(ctx_, key.c_str(), value.c_str());
  }

  /** From configure: a line for `nsrig explain` under this plugin's `hook` ("on_child_setup"). */
  void describe(const std::string &hook, const std::string &text) const {
    host_->describe(ctx_, hook.c_str(), text.c_str());
  }

  /**
   * A fact another plugin (or this one) published, e.g. fact("hostname");
   * nullopt when nobody did. On the child side: as of the start of
   * on_child_setup. nullopt too on a host older than release 0.2.
   */
  std::optional<std::string> fact(const std::string &key) const {
    const char *out = nullptr;
    if (!NSRIG_HOST_HAS(host_, fact) || host_->fact(ctx_, key.c_str(), &out) != NSRIG_OK) return std::nullopt;
    return std::string(out);
  }

  /**
   * From prepare only: the first process is created in the cgroup v2
   * directory open on `dirfd` (CLONE_INTO_CGROUP); the host keeps a copy.
   * Returns false on a host older than release 0.2 (the caller then moves
   * the process itself in parent_after_clone); throws on misuse.
   */
  bool clone_into_cgroup(int dirfd) const {
    if (!NSRIG_HOST_HAS(host_, clone_into_cgroup)) return false;
    if (host_->clone_into_cgroup(ctx_, dirfd) != NSRIG_OK)
      throw std::runtime_error("clone_into_cgroup: only from prepare, with an open cgroup directory");
    return true;
  }

  nsrig_ctx *raw() const { return ctx_; }
  const nsrig_host_api *host() const { return host_; }

 private:
  bool found(int32_t rc, const std::string &path, const char *what) const {
    if (rc == NSRIG_OK) return true;
    if (rc == NSRIG_ERR_NOT_FOUND) return false;
    if (rc == NSRIG_ERR_TYPE) throw ConfigError(path, std::string("must be ") + what);
    throw ConfigError(path, "is not a valid key path");
  }
  const nsrig_host_api *host_;
  nsrig_ctx *ctx_;
};

namespace detail {

// One host table per plugin library (hidden visibility keeps it per .so).
inline const nsrig_host_api *g_host = nullptr;

template <class F>
int32_t guard(nsrig_ctx *ctx, F &&f) noexcept {
  try {
    f();
    return NSRIG_OK;
  } catch (const ConfigError &e) {
    g_host->config_error(ctx, e.path.c_str(), e.what());
  } catch (const std::exception &e) {
    g_host->set_error(ctx, e.what());
  } catch (...) {
    g_host->set_error(ctx, "unknown exception");
  }
  return NSRIG_ERR;
}

template <class P>
struct Adapter {
  static int32_t configure(nsrig_ctx *ctx, void **state) noexcept {
    return guard(ctx, [&] {
      Context c(g_host, ctx);
      P *p = new P();
      *state = p;  // stored before configure runs, so destroy frees it after a failure too
      if constexpr (requires(P &x, Context &y) { x.configure(y); }) p->configure(c);
    });
  }
#define NSRIG_DETAIL_HOOK(method)                                              \
  static int32_t method(nsrig_ctx *ctx, void *state) noexcept {                \
    return guard(ctx, [&] {                                                    \
      Context c(g_host, ctx);                                                  \
      if constexpr (requires(P &x, Context &y) { x.method(y); })               \
        static_cast<P *>(state)->method(c);                                    \
    });                                                                        \
  }
  NSRIG_DETAIL_HOOK(prepare)
  NSRIG_DETAIL_HOOK(parent_after_clone)
  NSRIG_DETAIL_HOOK(child_setup)
  NSRIG_DETAIL_HOOK(post_start)
  NSRIG_DETAIL_HOOK(teardown)
#undef NSRIG_DETAIL_HOOK
  static int32_t child_exec(nsrig_ctx *ctx, void *state, int32_t *code) noexcept {
    return guard(ctx, [&] {
      Context c(g_host, ctx);
      if constexpr (requires(P &x, Context &y) { x.child_exec(y); })
        *code = static_cast<P *>(state)->child_exec(c);
    });
  }
  static void destroy(void *state) noexcept { delete static_cast<P *>(state); }

  template <class F>
  static constexpr F pick(bool present, F f) { return present ? f : nullptr; }

  static const nsrig_plugin_descriptor *descriptor() {
    static const nsrig_plugin_descriptor d = [] {
      nsrig_plugin_descriptor x{};
      x.struct_size = sizeof(nsrig_plugin_descriptor);
      x.abi_version = NSRIG_ABI_VERSION;
      x.name = P::name;
      x.version = P::version;
      x.description = P::description;
      x.clone_flag = P::clone_flag;
      if constexpr (requires { P::after; }) x.after = P::after;
      if constexpr (requires { P::before; }) x.before = P::before;
      x.on_configure = &configure;
      x.on_prepare = pick<nsrig_hook_fn>(requires(P &p, Context &c) { p.prepare(c); }, &prepare);
      x.on_parent_after_clone =
          pick<nsrig_hook_fn>(requires(P &p, Context &c) { p.parent_after_clone(c); }, &parent_after_clone);
      x.on_child_setup = pick<nsrig_hook_fn>(requires(P &p, Context &c) { p.child_setup(c); }, &child_setup);
      x.on_post_start = pick<nsrig_hook_fn>(requires(P &p, Context &c) { p.post_start(c); }, &post_start);
      x.on_teardown = pick<nsrig_hook_fn>(requires(P &p, Context &c) { p.teardown(c); }, &teardown);
      x.on_child_exec = pick<nsrig_exec_fn>(requires(P &p, Context &c) { p.child_exec(c); }, &child_exec);
      x.destroy = &destroy;
      return x;
    }();
    return &d;
  }
};

}  // namespace detail
}  // namespace nsrig

namespace nsrig::detail {
// The checks of an entry point, shared by NSRIG_PLUGIN and NSRIG_PLUGIN_BUNDLE:
// false for an ABI version or host table this header does not speak.
inline bool accept_host(uint32_t host_abi_version, const nsrig_host_api *host, const void *out) {
  if (host_abi_version < 1u || host == nullptr || out == nullptr) return false;
  if (host->struct_size < offsetof(nsrig_host_api, describe) + sizeof(void *)) return false;
  g_host = host;
  return true;
}
}  // namespace nsrig::detail

#define NSRIG_DETAIL_CAT2(a, b) a##b
#define NSRIG_DETAIL_CAT(a, b) NSRIG_DETAIL_CAT2(a, b)

#ifndef NSRIG_BUNDLE_MEMBER
/** Exports the entry point for plugin class `Class` (see the top of this file). */
#define NSRIG_PLUGIN(Class)                                                                  \
  extern "C" __attribute__((visibility("default"))) int32_t nsrig_plugin_entry(              \
      uint32_t host_abi_version, const nsrig_host_api *host, const nsrig_plugin_descriptor **out) { \
    if (!::nsrig::detail::accept_host(host_abi_version, host, out)) return NSRIG_ERR_ABI;    \
    *out = ::nsrig::detail::Adapter<Class>::descriptor();                                    \
    return NSRIG_OK;                                                                         \
  }
#else
/** In a bundle: defines nsrig_bundle_member_<NSRIG_BUNDLE_MEMBER>(), hidden, for NSRIG_PLUGIN_BUNDLE. */
#define NSRIG_PLUGIN(Class)                                                                          \
  extern "C" const nsrig_plugin_descriptor *NSRIG_DETAIL_CAT(nsrig_bundle_member_, NSRIG_BUNDLE_MEMBER)() { \
    return ::nsrig::detail::Adapter<Class>::descriptor();                                           \
  }
#endif

/**
 * Exports a bundle's entry point (NSRIG_BUNDLE_SYMBOL) for the member
 * functions given, each `const nsrig_plugin_descriptor *fn()` as
 * NSRIG_PLUGIN defines them in a bundle, declared before this line.
 */
#define NSRIG_PLUGIN_BUNDLE(...)                                                                   \
  extern "C" __attribute__((visibility("default"))) int32_t nsrig_plugin_bundle(                   \
      uint32_t host_abi_version, const nsrig_host_api *host, const nsrig_plugin_descriptor *const **out, \
      uint32_t *count) {                                                                           \
    using member_fn = const nsrig_plugin_descriptor *(*)();                                        \
    static constexpr member_fn members[] = {__VA_ARGS__};                                          \
    static const nsrig_plugin_descriptor *descriptors[sizeof members / sizeof members[0]];         \
    if (!::nsrig::detail::accept_host(host_abi_version, host, out) || count == nullptr)            \
      return NSRIG_ERR_ABI;                                                                        \
    for (size_t i = 0; i < sizeof members / sizeof members[0]; ++i) descriptors[i] = members[i]();  \
    *out = descriptors;                                                                            \
    *count = sizeof members / sizeof members[0];                                                   \
    return NSRIG_OK;                                                                               \
  }

#endif  // NSRIG_PLUGIN_HPP
