// noop: a plugin that owns no namespace (clone_flag 0) and does nothing in
// each hook, so that a spawn with it costs exactly what the core's hook
// machinery costs per plugin: the slot, one call per phase through the ABI
// (Context, exception guard) and the library kept mapped, which clone3
// copies into every child's page tables.
//
// Linked 50 times as noop0 ... noop49 (bench/CMakeLists.txt): this file is
// compiled once, and each plugin adds a one-line C file defining its name,
// nsrig_noop_name, since the registry refuses a second plugin that calls
// itself by a name already loaded.
//
// Every hook is defined except child_exec: a plugin with on_child_exec
// replaces the core's execve, and the planner allows only one such plugin
// per instance (the pid plugin's init).
#include <nsrig/plugin.hpp>

extern "C" const char nsrig_noop_name[];  // "noop7": from the plugin's own name file

namespace {

struct Noop {
  static constexpr const char *name = nsrig_noop_name;
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "benchmark: every hook defined and empty, no namespace";
  static constexpr uint64_t clone_flag = 0;

  void configure(nsrig::Context &) {}
  void prepare(nsrig::Context &) {}
  void parent_after_clone(nsrig::Context &) {}
  void child_setup(nsrig::Context &) {}
  void post_start(nsrig::Context &) {}
  void teardown(nsrig::Context &) {}
};

}  // namespace

NSRIG_PLUGIN(Noop)
