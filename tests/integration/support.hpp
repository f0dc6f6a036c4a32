// Runs the real nsrig binary as a user would, and reads what it printed.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

/** Skips, saying why, when not root: these tests create namespaces, mounts and links (CI runs as root). */
#define REQUIRE_ROOT()          \
  if (!::nsrig::test::is_root()) \
  GTEST_SKIP() << "needs root: creates namespaces, mounts and network links (CI runs as root)"

namespace nsrig::test {

struct Result {
  int exit_code = -1;  ///< exit status, or 128+N when killed by signal N
  std::string out, err;
};

/**
 * Runs `argv` (argv[0] is a path), waits, returns its status and output.
 * `ignore_sigchld`: start it with SIGCHLD ignored, as some callers do.
 */
Result run(const std::vector<std::string> &argv, bool ignore_sigchld = false);

/** nsrig with the in-tree and test plugin dirs, then `args`. */
Result run_nsrig(const std::vector<std::string> &args);
std::vector<std::string> nsrig_argv(const std::vector<std::string> &args);

/**
 * The same with NSRIG_STATE_DIR=`state`, so that tests running side by side
 * do not see each other's instances.
 */
std::vector<std::string> nsrig_argv_in(const std::string &state, const std::vector<std::string> &args);
Result run_nsrig_in(const std::string &state, const std::vector<std::string> &args);

/** A started process whose stdout is read line by line. */
class Child {
 public:
  explicit Child(const std::vector<std::string> &argv);
  ~Child();
  /** Reads stdout until a line equal to `line` arrives; false on EOF. */
  bool wait_for_line(const std::string &line);
  /** Waits for exit; returns the status as in Result, with the rest of stdout appended to out(). */
  int wait();
  pid_t pid() const { return pid_; }
  const std::string &out() const { return out_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
};

/**
 * Runs `argv` with a pseudo-terminal of its own as controlling terminal and
 * stdio (as a user at a terminal would), writes `input` to it, and returns
 * what it printed. `lflag_restored` says whether the terminal's local modes
 * (ICANON, ECHO...) are as before once it exited.
 */
Result run_on_pty(const std::vector<std::string> &argv, const std::string &input, bool *lflag_restored);

/** Number of running processes whose command line contains `needle`. */
int count_processes(const std::string &needle);

bool is_root();

/** stdout of `/bin/sh -c cmd`. */
std::string sh(const std::string &cmd);

/** The host's links named nsr* (nsrig's own), sorted, one per line. */
std::string nsr_links();

}  // namespace nsrig::test
