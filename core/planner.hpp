// Planner: turns an instance (merged profile + loaded plugins) into the
// ordered list of steps the spawner will run. The plan is data: `nsrig
// explain` prints it, tests compare it, benchmarks build it without cloning.
#pragma once

#include <string>
#include <vector>

#include "instance.hpp"

namespace nsrig {

/**
 * One step: lifecycle phase, side ("parent"/"child"), who ("core" or a
 * plugin), what. A step with an empty phase is a detail line of the step
 * before it (what a plugin described with host->describe).
 */
struct Step {
  std::string phase;
  std::string side;
  std::string who;
  std::string what;
};

struct Plan {
  std::vector<Step> steps;
  Slot *exec_slot = nullptr;  ///< the slot whose on_child_exec replaces the core's execve, if any
};

/**
 * Checks the hook order (profile order) against the kernel facts and the
 * plugins' after/before constraints, and lists the steps. Kernel facts
 * enforced: the CLONE_NEWUSER owner comes first (its uid_map/gid_map are
 * written before any other plugin acts, user_namespaces(7)); at most one
 * plugin replaces the exec step. Throws nsrig::Error naming both plugins and
 * the rule.
 */
Plan make_plan(Instance &inst);

}  // namespace nsrig
