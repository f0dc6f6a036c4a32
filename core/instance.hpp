// One instance: the merged profile, the plugins taking part (one slot each,
// in hook order), their per-instance state, and what the core knows about the
// child. Also implements the host API that plugins call (host_api.hpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "nsrig/plugin.h"
#include "profile.hpp"
#include "registry.hpp"

namespace nsrig {
class Instance;
struct Slot;
}  // namespace nsrig

/** The opaque context of plugin.h: which instance, which plugin. */
struct nsrig_ctx {
  nsrig::Instance *inst;
  nsrig::Slot *slot;
};

namespace nsrig {

/** One plugin taking part in one instance. */
struct Slot {
  const Plugin *plugin = nullptr;
  toml::table *table = nullptr;  ///< its [[namespace]] table (in Profile::root)
  void *state = nullptr;         ///< what on_configure stored; freed by destroy
  bool configured = false;       ///< on_configure was called (destroy is owed)
  bool prepared = false;         ///< on_prepare was called (on_teardown is owed)
  nsrig_ctx ctx{};
  std::string error;             ///< message set by the running hook
  std::string host_error;        ///< why a host call of that hook failed (state_dir), kept if the plugin's message replaces it
  // Unknown-key detection: nodes a getter returned, tables enumerated whole,
  // and the key names the plugin asked for (for "did you mean").
  std::set<const toml::node *> read, whole;
  std::vector<std::string> asked;
  std::vector<std::pair<std::string, std::string>> described;  ///< (hook, line) for explain

  std::string name() const { return plugin->name(); }
};

/** What the payload is: argv (argv[0] looked up in the payload's PATH), cwd, environment. */
struct ProcessSpec {
  std::vector<std::string> argv;
  std::string cwd;               ///< empty: inherit
  std::vector<std::string> env;  ///< "KEY=VALUE"
};

class Instance {
 public:
  /**
   * Loads (through `registry`) the plugin of each `[[namespace]]` of
   * `profile`, in profile order, and decides the payload: `argv` when not
   * empty, else [process].argv (may stay empty: the caller checks before
   * running). Throws nsrig::Error when a plugin cannot be loaded. Runs no hook.
   */
  Instance(Profile &profile, Registry &registry, const std::vector<std::string> &argv);
  /** Calls destroy for every configured slot. */
  ~Instance();
  Instance(const Instance &) = delete;
  Instance &operator=(const Instance &) = delete;

  /**
   * Runs on_configure of every slot in order, then reports keys of the
   * plugin's table that no getter read as unknown. Throws nsrig::Error with
   * the profile location.
   */
  void configure();

  Slot *find(const std::string &name) const;

  /**
   * The state directory (see host_api state_dir), created 0700 with its
   * parents on first use. Throws nsrig::Error naming the path and errno.
   */
  const std::string &state_dir();
  /** Removes the state directory if it was created and is empty now. */
  void remove_state_dir_if_empty();
  /** "plugin 'uts' failed in on_child_setup: <message>", or the located config message. */
  std::string hook_error(const Slot &s, const char *hook) const;

  Profile &profile;
  ProcessSpec process;
  std::string id;                                  ///< random, or the --name of a detached run
  std::vector<std::pair<std::string, std::string>> facts;  ///< published by plugins
  std::vector<std::unique_ptr<Slot>> slots;  ///< hook order
  uint64_t clone_flags = 0;                   ///< union of the slots' clone_flag

  // Set by the spawner.
  pid_t child_pid = 0;
  int child_pidfd = -1;
  int sync_fd = -1;            ///< child side: the sync socket (close-on-exec)
  bool in_child_exec = false;  ///< spawn_payload is allowed
  bool in_prepare = false;     ///< clone_into_cgroup is allowed
  int clone_cgroup_fd = -1;    ///< CLONE_INTO_CGROUP target (owned), -1 for none
  /// Fault injection for plugin-check: the run fails right after this phase
  /// ("prepare", "parent_after_clone" or "child_setup"), as a plugin failing there would.
  std::string fail_after;
  std::vector<std::string> teardown_errors;  ///< on_teardown failures of the last teardown (logged as warnings)
  bool keep_state_dir = false; ///< a detached run: the supervisor removes the dir itself
  std::vector<int> close_in_child;  ///< fds of the caller's that the child closes first
  /// The payload's execve(2) arguments, made from `process` by the spawner
  /// before clone3 so that the child allocates nothing (each heap page it
  /// writes is a copy-on-write fault): argv and envp, null-terminated, point
  /// into `process`; `paths` are tried in order (argv[0] when it holds a '/',
  /// else each entry of `path_var`, the payload's PATH, joined with it).
  struct ExecArgs {
    std::vector<char *> argv, envp;
    std::vector<std::string> paths;
    std::string path_var;
  } exec;
  // run -t: a pty opened by the caller; the payload gets the slave as its
  // controlling terminal, the parent relays the master. The slave is opened
  // before clone3 (O_CLOEXEC), as its /dev/pts/N path is the host's devpts
  // and the instance may have a devpts of its own by the time it execs.
  int tty_master = -1;
  int tty_slave_fd = -1;
  std::string tty_slave;  ///< its name on the host, for messages
  bool tty_stdin = false;  ///< -i: relay the caller's stdin too

 private:
  std::string state_dir_;  ///< empty until state_dir() was called
};

/**
 * Base of all state directories: $NSRIG_STATE_DIR when set, else /run/nsrig
 * as root, $XDG_RUNTIME_DIR/nsrig otherwise, /tmp/nsrig-<uid> without it.
 */
std::string state_base();

/** A fresh random instance id: 12 hex digits. */
std::string make_instance_id();

}  // namespace nsrig
