// nsrig's own errors and the exit codes they map to.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace nsrig {

/** Exit codes of the nsrig command (docker/podman convention). */
enum ExitCode : int {
  kExitOwnError = 125,    ///< nsrig itself failed (profile, plugin, setup)
  kExitCannotExec = 126,  ///< the payload exists but cannot be executed
  kExitNotFound = 127,    ///< the payload was not found
};

/**
 * An error nsrig reports to the user and exits on. what() is the complete,
 * user-facing message: what failed, where (file:line:column or plugin and
 * phase) and, where one is known, how to fix it.
 */
struct Error : std::runtime_error {
  explicit Error(const std::string &msg, int code = kExitOwnError) : std::runtime_error(msg), exit_code(code) {}
  int exit_code;
};

/** "what: strerror(errno)" for the current errno. */
std::string errno_text(const std::string &what);

/** NULL-terminated char* view of `v` for execve(2); valid while `v` lives. */
std::vector<char *> c_strings(const std::vector<std::string> &v);

}  // namespace nsrig
