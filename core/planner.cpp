#include "planner.hpp"

#include <sched.h>
#include <sys/capability.h>
#include <unistd.h>

#include <string>

#include <algorithm>

#include "error.hpp"

namespace nsrig {
namespace {

std::string position(const Instance &inst, size_t i) {
  return where(*inst.slots[i]->table) + " (" + inst.slots[i]->name() + ")";
}

// CAP_SYS_ADMIN in the effective set (capabilities(7)), asked of the kernel
// with capget(2) through libcap: one system call, where reading CapEff from
// /proc/self/status had the kernel format the whole file, about 60 µs a run
// (docs/benchmarks.md, "Sixth round").
bool has_cap_sys_admin() {
  cap_t caps = cap_get_proc();
  if (!caps) return geteuid() == 0;
  cap_flag_value_t v = CAP_CLEAR;
  bool ok = cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v) == 0;
  cap_free(caps);
  return ok ? v == CAP_SET : geteuid() == 0;
}

void check_order(Instance &inst) {
  auto &slots = inst.slots;
  auto index = [&](const std::string &name) -> long {
    for (size_t i = 0; i < slots.size(); ++i)
      if (slots[i]->name() == name) return static_cast<long>(i);
    return -1;
  };
  // clone(2), EPERM: new namespaces other than a user namespace need CAP_SYS_ADMIN,
  // which an unprivileged caller only has inside a user namespace of its own.
  uint64_t others = inst.clone_flags & ~static_cast<uint64_t>(CLONE_NEWUSER);
  if (others && !(inst.clone_flags & CLONE_NEWUSER) && !has_cap_sys_admin()) {
    size_t i = 0;
    while (i + 1 < slots.size() && !slots[i]->plugin->desc.clone_flag) ++i;
    throw Error(position(inst, i) + ": creating the profile's namespaces (the first: " + slots[i]->name() +
                ") as an unprivileged user needs a user namespace: add [[namespace]] type = \"user\" at the top of the "
                "profile, or run as root");
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    const Plugin &p = *slots[i]->plugin;
    if (p.desc.clone_flag == CLONE_NEWUSER && i != 0)
      throw Error(position(inst, i) + ": plugin '" + p.name() + "' creates the user namespace and must come first, "
                  "but '" + slots[0]->name() + "' comes before it; its uid_map/gid_map are written before any other "
                  "namespace is set up (user_namespaces(7)). Move the [[namespace]] of type \"" + p.name() +
                  "\" to the top of the profile");
    for (const auto &a : p.after) {
      long j = index(a);
      if (j > static_cast<long>(i))
        throw Error(position(inst, i) + ": plugin '" + p.name() + "' must run after '" + a + "' (its descriptor "
                    "says after = " + a + "), but the profile lists '" + a + "' later at " + position(inst, j) +
                    "; swap the two [[namespace]] tables");
    }
    for (const auto &b : p.before) {
      long j = index(b);
      if (j >= 0 && j < static_cast<long>(i))
        throw Error(position(inst, i) + ": plugin '" + p.name() + "' must run before '" + b + "' (its descriptor "
                    "says before = " + b + "), but the profile lists '" + b + "' earlier at " + position(inst, j) +
                    "; swap the two [[namespace]] tables");
    }
  }
}

}  // namespace

// Plans are made after configure when plugins describe their steps; make_plan
// may be called again then (explain does).
Plan make_plan(Instance &inst) {
  check_order(inst);
  Plan plan;
  auto &st = plan.steps;
  auto each = [&](const char *phase, const char *side, auto member, const char *what, bool reverse = false) {
    std::vector<Slot *> order;
    for (auto &s : inst.slots) order.push_back(s.get());
    if (reverse) std::reverse(order.begin(), order.end());
    for (Slot *s : order) {
      if (!(s->plugin->desc.*member)) continue;
      st.push_back({phase, side, s->name(), what});
      for (auto &[hook, text] : s->described)  // what the plugin said it will do there
        if (hook == phase) st.push_back({"", "", "", "  " + text});
    }
  };
  auto hooks = [&](const char *stage, const char *side) {
    for (auto &h : inst.profile.hooks)
      if (h.stage == stage) st.push_back({stage, side, "hook", h.path + " (" + h.where + ")"});
  };
  for (auto &s : inst.slots)
    if (s->plugin->desc.on_child_exec) {
      if (plan.exec_slot)
        throw Error(where(*s->table) + ": plugins '" + plan.exec_slot->name() + "' and '" + s->name() +
                    "' both replace the exec step (on_child_exec); only one plugin per profile may, so drop one of them");
      plan.exec_slot = s.get();
    }
  st.push_back({"load", "parent", "core", "profiles parsed and merged, plugins loaded"});
  each("on_configure", "parent", &nsrig_plugin_descriptor::on_configure, "validate its table");
  each("on_prepare", "parent", &nsrig_plugin_descriptor::on_prepare, "host-side resources");
  std::string flags;
  for (uint64_t bit = 1; bit; bit <<= 1)
    if ((inst.clone_flags & bit) && bit != CLONE_NEWTIME) flags += clone_flag_name(bit) + "|";
  std::string time = (inst.clone_flags & CLONE_NEWTIME) ? " (CLONE_NEWTIME: its owner unshares it in the child)" : "";
  st.push_back({"clone", "core", "core", "clone3(" + flags + "CLONE_PIDFD); child waits on the sync socket" + time});
  each("on_parent_after_clone", "parent", &nsrig_plugin_descriptor::on_parent_after_clone, "child known by pidfd");
  hooks("prestart", "parent");
  hooks("createRuntime", "parent");
  each("on_child_setup", "child", &nsrig_plugin_descriptor::on_child_setup, "inside the new namespaces");
  hooks("createContainer", "child");
  hooks("startContainer", "child");
  std::string argv;
  for (auto &a : inst.process.argv) argv += (argv.empty() ? "" : " ") + a;
  if (argv.empty()) argv = "(no command: give one on the command line or in [process].argv)";
  if (plan.exec_slot)
    st.push_back({"exec", "child", plan.exec_slot->name(), "its on_child_exec runs the payload: " + argv});
  else
    st.push_back({"exec", "child", "core", "execve: " + argv});
  each("on_post_start", "parent", &nsrig_plugin_descriptor::on_post_start, "payload running");
  hooks("poststart", "parent");
  st.push_back({"wait", "parent", "core", "forward signals, collect the exit status"});
  each("on_teardown", "parent", &nsrig_plugin_descriptor::on_teardown, "reverse order, if on_prepare ran", true);
  hooks("poststop", "parent");
  return plan;
}

}  // namespace nsrig
