// A plugin built against the frozen copy of ABI version 1 (tests/abi/v1), not
// the live SDK: it must keep loading and working as the live header grows.
// It uses every kind of host call version 1 had, and prints what it saw.
//   greeting = "text"   printed by the child as "abi_v1: <text>"
#include <unistd.h>

#include <nsrig/plugin.hpp>  // resolved to tests/abi/v1/nsrig/plugin.hpp by CMake

#ifdef NSRIG_HOST_HAS
#error "abi_v1 must be built against the frozen version-1 header, which has no NSRIG_HOST_HAS"
#endif

namespace {

struct AbiV1 {
  static constexpr const char *name = "abi_v1";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "test plugin built against the frozen ABI v1 header";
  static constexpr uint64_t clone_flag = 0;

  std::string greeting, line;

  void configure(nsrig::Context &c) {
    greeting = c.string_or("greeting", "hello");
    c.describe("on_child_setup", "print the greeting");
  }
  void prepare(nsrig::Context &c) {
    std::string dir = c.state_dir();
    c.publish("abi_v1", "prepared in " + dir);
    line = "abi_v1: " + greeting + " (instance " + c.instance_id() + ")\n";
  }
  void parent_after_clone(nsrig::Context &c) {
    if (c.child_pid() <= 0) throw std::runtime_error("no child pid after clone");
  }
  void child_setup(nsrig::Context &) { nsrig::check(write(1, line.data(), line.size()), "write"); }
  void teardown(nsrig::Context &) {}
};

}  // namespace

NSRIG_PLUGIN(AbiV1)
