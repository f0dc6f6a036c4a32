/*
 * nsrig plugin ABI, version 1.
 *
 * This header is the whole contract between the nsrig host and a plugin. It is
 * pure C and depends on <stdint.h>, <stddef.h> and <stdbool.h> only: no C++
 * type, exception or allocator crosses it. A plugin includes it (or the C++
 * helper <nsrig/plugin.hpp>) and links nothing of nsrig.
 *
 * Rules that keep it stable across compilers and releases:
 *  - Every struct that crosses starts with `uint32_t struct_size` and only
 *    grows at the end. A reader uses min(struct_size, sizeof(its own struct))
 *    bytes and treats members past that as zero/NULL.
 *  - Names say direction: `on_*` is what a plugin implements and the host
 *    calls; `host_*`-table members are what the host offers.
 *  - Every pointer says who owns it (see each member).
 *
 * Lifecycle (see docs/writing-plugins.md and DESIGN.md): load -> on_configure ->
 * on_prepare -> clone3 -> on_parent_after_clone -> on_child_setup ->
 * (on_child_exec | core execve) -> on_post_start -> wait -> on_teardown ->
 * destroy.
 */
#ifndef NSRIG_PLUGIN_H
#define NSRIG_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Newest ABI version this header describes. */
#define NSRIG_ABI_VERSION 1u

/** Name of the single symbol a plugin file exports (see nsrig_plugin_entry_fn). */
#define NSRIG_ENTRY_SYMBOL "nsrig_plugin_entry"

/**
 * Name of the symbol a file holding several plugins (a bundle) exports
 * instead (see nsrig_plugin_bundle_fn). Optional; hosts since nsrig 0.3 (SDK 1.2) look
 * for it first.
 */
#define NSRIG_BUNDLE_SYMBOL "nsrig_plugin_bundle"

/** Status codes returned by hooks and host functions. 0 is success. */
typedef enum nsrig_status {
  NSRIG_OK = 0,
  NSRIG_ERR = -1,           /**< failure; the message was set with host->set_error */
  NSRIG_ERR_NOT_FOUND = -2, /**< config key path does not exist */
  NSRIG_ERR_TYPE = -3,      /**< config value exists but has another type */
  NSRIG_ERR_ABI = -4,       /**< entry point: the offered ABI version is not spoken */
  NSRIG_ERR_INVALID = -5    /**< bad argument (NULL, malformed key path, wrong side) */
} nsrig_status;

/** Log levels for host->log. */
typedef enum nsrig_log_level {
  NSRIG_LOG_TRACE = 0,
  NSRIG_LOG_DEBUG = 1,
  NSRIG_LOG_INFO = 2,
  NSRIG_LOG_WARNING = 3,
  NSRIG_LOG_ERROR = 4
} nsrig_log_level;

/** Kinds of config values, returned by host->config_kind. */
typedef enum nsrig_config_kind {
  NSRIG_CFG_NONE = 0, /**< no value at that path */
  NSRIG_CFG_STRING = 1,
  NSRIG_CFG_INT = 2,
  NSRIG_CFG_BOOL = 3,
  NSRIG_CFG_FLOAT = 4,
  NSRIG_CFG_ARRAY = 5,
  NSRIG_CFG_TABLE = 6,
  NSRIG_CFG_OTHER = 7 /**< date/time values */
} nsrig_config_kind;

/**
 * Opaque per-plugin, per-instance context. Owned by the host; valid from
 * on_configure until destroy returns. Every host function takes it first.
 */
typedef struct nsrig_ctx nsrig_ctx;

/**
 * Functions the host offers to plugins. Owned by the host, valid while the
 * plugin is loaded. Members are only ever appended; check struct_size before
 * using a member added after version 1.
 *
 * Config key paths address the plugin's own `[[namespace]]` table: `hostname`,
 * `mounts[2].target`, `root.overlay.lower[0]`. Every key the profile sets must
 * be read by on_configure (through any getter below, or enumerated with
 * config_key); keys no getter touched are reported to the user as unknown,
 * with a "did you mean" built from the keys the plugin asked for.
 */
typedef struct nsrig_host_api {
  uint32_t struct_size;
  uint32_t abi_version; /**< ABI version the host is speaking to this plugin */

  /** Log `msg` (NUL-terminated, copied) at `level` (nsrig_log_level). */
  void (*log)(nsrig_ctx *ctx, int32_t level, const char *msg);

  /**
   * Set the error message for the hook that is running (copied). A hook then
   * returns NSRIG_ERR. The host prefixes the plugin's name and the phase; write
   * what failed and the object, e.g. "sethostname('web1'): Operation not
   * permitted". Child-side messages are carried to the parent and shown once.
   */
  void (*set_error)(nsrig_ctx *ctx, const char *msg);

  /**
   * Set an error about the config value at `path`: the host prefixes the
   * profile file:line:column of that value. Use it for validation in
   * on_configure ("must be at most 64 bytes; shorten it").
   */
  void (*config_error)(nsrig_ctx *ctx, const char *path, const char *msg);

  /** Kind of the value at `path` (nsrig_config_kind); NSRIG_CFG_NONE if absent. */
  int32_t (*config_kind)(nsrig_ctx *ctx, const char *path);

  /**
   * String at `path`. *out points to host-owned, NUL-terminated storage, valid
   * until destroy. Returns NSRIG_OK, NSRIG_ERR_NOT_FOUND or NSRIG_ERR_TYPE.
   */
  int32_t (*config_string)(nsrig_ctx *ctx, const char *path, const char **out);

  /** 64-bit integer at `path`. Returns NSRIG_OK, _NOT_FOUND or _TYPE. */
  int32_t (*config_int)(nsrig_ctx *ctx, const char *path, int64_t *out);

  /** Boolean at `path`. Returns NSRIG_OK, _NOT_FOUND or _TYPE. */
  int32_t (*config_bool)(nsrig_ctx *ctx, const char *path, bool *out);

  /**
   * Number of elements of the array, or of keys of the table, at `path`
   * (NULL or "" for the plugin's whole table). Returns NSRIG_OK, _NOT_FOUND or
   * _TYPE (a scalar).
   */
  int32_t (*config_size)(nsrig_ctx *ctx, const char *path, size_t *out);

  /**
   * Name of the `index`-th key of the table at `path` (NULL or "" for the
   * plugin's table), in file order. *out is host-owned, valid until destroy.
   * Enumerating a table's keys marks the whole table as read (use it for
   * free-form tables such as environment variables).
   */
  int32_t (*config_key)(nsrig_ctx *ctx, const char *path, size_t index, const char **out);

  /** Host pid of the instance's first process; 0 before clone3. */
  int32_t (*child_pid)(nsrig_ctx *ctx);

  /** pidfd of the instance's first process (CLONE_PIDFD); -1 before clone3. Host-owned. */
  int32_t (*child_pidfd)(nsrig_ctx *ctx);

  /** Union of the CLONE_NEW* flags the instance is created with. */
  uint64_t (*clone_flags)(nsrig_ctx *ctx);

  /** True when a plugin named `name` takes part in this instance. */
  bool (*has_plugin)(nsrig_ctx *ctx, const char *name);

  /** Instance id: [a-z0-9-], at most 32 bytes, host-owned. */
  const char *(*instance_id)(nsrig_ctx *ctx);

  /**
   * Child side, from on_child_exec only: fork a process that resets signal
   * dispositions and mask and executes the payload; in the calling process,
   * release the parent's sync channel. On success *out_pid is the payload's
   * pid (in the caller's pid namespace). An exec failure is reported to the
   * user by the host and makes the payload exit 126 (cannot execute) or 127
   * (not found). Returns NSRIG_OK, NSRIG_ERR (fork failed) or
   * NSRIG_ERR_INVALID (not in on_child_exec).
   */
  int32_t (*spawn_payload)(nsrig_ctx *ctx, int32_t *out_pid);

  /**
   * Child side, from on_child_exec only: execute the payload in the calling
   * process (signal mask and dispositions reset). Does not return on
   * success; on failure the host reports it and the process exits 126 or 127.
   * Returns NSRIG_ERR_INVALID when called from anywhere else.
   */
  int32_t (*exec_payload)(nsrig_ctx *ctx);

  /**
   * The instance's state directory on the host, for host-side files (an
   * overlay's upper dir, a lease): $NSRIG_STATE_DIR/<instance id> when that
   * is set, else /run/nsrig/<instance id> as root,
   * $XDG_RUNTIME_DIR/nsrig/<instance id> otherwise (/tmp/nsrig-<uid>/<id>
   * without XDG_RUNTIME_DIR). Created mode 0700 on the first call. *out is
   * host-owned, valid until destroy. A plugin removes what it created there
   * in on_teardown; the core removes the directory once it is empty after
   * teardown. Returns NSRIG_OK or NSRIG_ERR (message set: mkdir failed).
   */
  int32_t (*state_dir)(nsrig_ctx *ctx, const char **out);

  /**
   * Records a fact about the instance (both strings copied), shown by
   * `nsrig ps` and `nsrig inspect` and kept in the instance state, e.g. key
   * "address", value "10.231.0.2/24". A later value for a key replaces the
   * earlier one. Parent side. Returns NSRIG_OK or NSRIG_ERR_INVALID (NULL or
   * empty key).
   */
  int32_t (*publish)(nsrig_ctx *ctx, const char *key, const char *value);

  /**
   * From on_configure: adds one line (copied) to what `nsrig explain` shows
   * for this plugin's `hook` ("on_prepare", "on_child_setup", ...), e.g.
   * "mount tmpfs on /tmp (nosuid,nodev)". Lines appear in call order. Returns
   * NSRIG_OK or NSRIG_ERR_INVALID (NULL arguments, unknown hook name).
   */
  int32_t (*describe)(nsrig_ctx *ctx, const char *hook, const char *text);

  /* ---- Added in ABI 1, release 0.2: check struct_size before use ------- */
  /* (NSRIG_HOST_HAS(host, fact) does it). A host without them is older.    */

  /**
   * Read-only view of the facts the instance's plugins published (see
   * publish), e.g. key "hostname" (uts) or "address" (net, "10.231.0.2/24").
   * Parent side: the facts as they are now. Child side: the facts as they
   * were when on_child_setup began, that is everything published up to and
   * including on_parent_after_clone. *out is host-owned and valid until the
   * hook returns. Returns NSRIG_OK, NSRIG_ERR_NOT_FOUND (nobody published
   * `key`) or NSRIG_ERR_INVALID (NULL argument).
   */
  int32_t (*fact)(nsrig_ctx *ctx, const char *key, const char **out);

  /**
   * From on_prepare only: create the instance's first process directly in the
   * cgroup v2 directory open on `dirfd` (clone3 CLONE_INTO_CGROUP, Linux 5.7;
   * clone(2), "CLONE_INTO_CGROUP"). The host duplicates `dirfd` (the caller
   * keeps its own) and closes the copy after clone3. The last call wins.
   * clone3 then fails if the directory is not a cgroup v2 directory or cannot
   * take processes (EOPNOTSUPP, EBUSY: a v2 cgroup with controllers enabled
   * for its children). Returns NSRIG_OK, NSRIG_ERR_INVALID (fd < 0, or not
   * called from on_prepare) or NSRIG_ERR (dup failed; message set).
   */
  int32_t (*clone_into_cgroup)(nsrig_ctx *ctx, int32_t dirfd);
} nsrig_host_api;

/**
 * True when the host table `host` (a const nsrig_host_api *) is large enough
 * to have `member` (a member added after the first release of ABI 1).
 */
#define NSRIG_HOST_HAS(host, member)                                           \
  ((host)->struct_size >= offsetof(nsrig_host_api, member) + sizeof((host)->member) && \
   (host)->member != NULL)

/** Hook called in on_configure: validate, allocate *state (owned by the plugin). */
typedef int32_t (*nsrig_configure_fn)(nsrig_ctx *ctx, void **state);
/** Any other hook: `state` is what on_configure stored (may be NULL). */
typedef int32_t (*nsrig_hook_fn)(nsrig_ctx *ctx, void *state);
/** on_child_exec: becomes the instance's first process; sets *exit_code. */
typedef int32_t (*nsrig_exec_fn)(nsrig_ctx *ctx, void *state, int32_t *exit_code);

/**
 * What a plugin is. Owned by the plugin, static storage, valid while the
 * plugin's library is loaded. Required members: struct_size through `before`
 * (NSRIG_DESCRIPTOR_V1_MIN_SIZE bytes). Every hook is optional: NULL means
 * nothing to do in that phase.
 */
typedef struct nsrig_plugin_descriptor {
  uint32_t struct_size; /**< sizeof(nsrig_plugin_descriptor) the plugin was built with */
  uint32_t abi_version; /**< ABI version the plugin speaks: 1 <= it <= the offered one */
  const char *name;     /**< [a-z0-9_-]{1,32}; the profile's `type`; unique per host */
  const char *version;  /**< plugin's own version, free-form, e.g. "1.0.0" */
  const char *description; /**< one line for `nsrig plugins`; may be NULL */
  uint64_t clone_flag;     /**< the CLONE_NEW* flag it owns, or 0; one owner per flag */
  /** NULL-terminated names this plugin must run after, when they are present; may be NULL. */
  const char *const *after;
  /** NULL-terminated names this plugin must run before, when they are present; may be NULL. */
  const char *const *before;

  /** Parent, host namespaces, before anything exists. Validate config; no side effects. */
  nsrig_configure_fn on_configure;
  /** Parent, host namespaces: host-side resources. Teardown runs if this returned at all. */
  nsrig_hook_fn on_prepare;
  /** Parent, host namespaces, child known (child_pid/child_pidfd), child waiting. */
  nsrig_hook_fn on_parent_after_clone;
  /** Child, inside the new namespaces, in profile order, before exec. */
  nsrig_hook_fn on_child_setup;
  /** Parent, after the payload was executed. */
  nsrig_hook_fn on_post_start;
  /** Parent, after the payload ended or setup failed; reverse order; errors are logged. */
  nsrig_hook_fn on_teardown;
  /**
   * Child, last: replaces the core's execve (used by the pid plugin's init).
   * Must call host->spawn_payload once and run until it wants the first
   * process to exit with *exit_code, or call host->exec_payload. At most one
   * plugin per instance.
   */
  nsrig_exec_fn on_child_exec;
  /** Free `state`. Called once per configured instance, even after a failure. */
  void (*destroy)(void *state);
} nsrig_plugin_descriptor;

/** Smallest descriptor the host accepts: struct_size through `before`. */
#define NSRIG_DESCRIPTOR_V1_MIN_SIZE \
  (offsetof(nsrig_plugin_descriptor, before) + sizeof(const char *const *))

/**
 * The one exported entry point, named NSRIG_ENTRY_SYMBOL, with C linkage and
 * default visibility. The host passes the newest ABI version it speaks and its
 * host-API table (host-owned, valid while the plugin is loaded; keep the
 * pointer). The plugin stores its descriptor in *out and returns NSRIG_OK, or
 * returns NSRIG_ERR_ABI to refuse a version it cannot speak.
 */
typedef int32_t (*nsrig_plugin_entry_fn)(uint32_t host_abi_version, const nsrig_host_api *host,
                                         const nsrig_plugin_descriptor **out);

/**
 * The entry point of a bundle: one shared object holding several plugins, so
 * that a host loading several of them maps and relocates one file, not one
 * per plugin (about 100 us each; docs/benchmarks.md). Named
 * NSRIG_BUNDLE_SYMBOL, C linkage, default visibility. Arguments and return
 * values as for nsrig_plugin_entry_fn, but the plugin stores an array of
 * descriptors in *out (static storage, valid while the file is loaded) and
 * their number, at least 1, in *count.
 *
 * The host still finds plugins by file name: a profile's type "pid" is the
 * file pid.so, here a symlink to the bundle; the host loads it and takes the
 * descriptor whose name is the file's name without ".so". dlopen(3) maps a
 * file once however many names it is opened by. A bundle's own file name
 * should not end in ".so", so that listings do not take it for a plugin.
 * nsrig_add_plugin_bundle() in the SDK's CMake module builds one.
 */
typedef int32_t (*nsrig_plugin_bundle_fn)(uint32_t host_abi_version, const nsrig_host_api *host,
                                          const nsrig_plugin_descriptor *const **out, uint32_t *count);

#ifdef __cplusplus
}
#endif

#endif /* NSRIG_PLUGIN_H */
