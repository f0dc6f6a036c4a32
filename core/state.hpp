// Instance state on disk, for detached instances: <state base>/<name>/state.json
// (nlohmann-json), written atomically (write to a temporary file, then
// rename(2)) under an flock(2) on <name>/lock, so concurrent commands on one
// instance are safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nsrig {

struct InstanceState {
  std::string name;                         ///< also the instance id
  std::vector<std::string> profiles;        ///< absolute paths, in merge order
  std::string profile_hash;                 ///< FNV-1a 64 of the merged profile text, hex
  std::vector<std::string> command;         ///< the payload's argv
  std::string cwd;                          ///< the payload's cwd inside ("" = /)
  std::vector<std::string> env;             ///< the payload's environment, "KEY=VALUE" (exec uses it)
  pid_t supervisor_pid = 0;
  uint64_t supervisor_start = 0;            ///< /proc/PID/stat starttime (clock ticks since boot)
  pid_t pid = 0;                            ///< the instance's first process (host pid)
  uint64_t pid_start = 0;
  int64_t started_at_us = 0;                ///< wall clock, microseconds since the epoch
  uint64_t clone_flags = 0;
  std::map<std::string, uint64_t> namespaces;  ///< type -> inode, e.g. "net" -> 4026532281
  std::map<std::string, std::string> facts;    ///< published by plugins, e.g. "address"
  std::string status = "created";           ///< created | running | stopped
  std::optional<int> exit_status;
  bool keep = false;                        ///< keep the state dir after the instance ends
  bool stale = false;  ///< not in the file: recorded as running, but its supervisor is gone (no teardown ran)
};

/** The state as JSON text (what state.json holds and `nsrig inspect` prints). */
std::string state_json(const InstanceState &s, int indent = 2);

/** The directory of instance `name`: state_base() + "/" + name. */
std::string instance_dir(const std::string &name);

/** Start time of `pid` from /proc/PID/stat (field 22); 0 when it does not exist or is a zombie (proc(5)). */
uint64_t process_start_time(pid_t pid);

/** True when `pid` runs and is the same process as recorded (start times match). */
bool same_process(pid_t pid, uint64_t start);

/** Writes state.json atomically. Throws nsrig::Error. */
void write_state(const InstanceState &s);

/**
 * Reads state.json of `name`; a recorded running instance whose supervisor is
 * gone (reboot, SIGKILL) is reported as stopped. Throws nsrig::Error "no
 * instance named ..." with the names that exist.
 */
InstanceState read_state(const std::string &name);

/** Names of every instance with a state.json, sorted. */
std::vector<std::string> list_instances();

/** Valid instance names: 1-32 of [a-z0-9_-], starting with a letter or digit. */
bool valid_instance_name(const std::string &name);

/** Holds flock(LOCK_EX) on <instance dir>/lock while alive. Throws nsrig::Error. */
class InstanceLock {
 public:
  explicit InstanceLock(const std::string &name);
  ~InstanceLock();
  InstanceLock(const InstanceLock &) = delete;
  InstanceLock &operator=(const InstanceLock &) = delete;

 private:
  int fd_ = -1;
};

}  // namespace nsrig
