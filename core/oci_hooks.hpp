// External command hooks from the profile, `[[hooks.STAGE]]`, run the way the
// OCI runtime spec says (config.md "POSIX-platform Hooks", runtime.md
// "State"): the program gets the instance state as JSON on stdin.
#pragma once

#include <string>
#include <sys/types.h>

#include "instance.hpp"

namespace nsrig {

/** OCI state JSON: ociVersion, id, status ("creating", "created", "running", "stopped"), pid, bundle. */
std::string oci_state(const Instance &inst, const char *status, pid_t pid);

/**
 * Runs each hook of `stage`, in profile order, with oci_state(inst, status,
 * pid) on stdin,
 * honouring timeout_ms (SIGKILL when it passes). Returns "" when all exited
 * 0, else the first failure ("hook /x (file:3:1) exited with status 2"),
 * after which later hooks of the stage are not run. SIGINT, SIGTERM, SIGHUP
 * or SIGQUIT (blocked by the caller) kill the running hook and end the
 * stage as a failure; with `signal`, its number is stored there (0 when
 * none came), for the caller to pass on.
 */
std::string run_command_hooks(const Instance &inst, const char *stage, const char *status, pid_t pid,
                              int *signal = nullptr);

}  // namespace nsrig
