// Shared pieces of the nsrig command line (main.cpp, instances.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "instance.hpp"
#include "log.hpp"
#include "planner.hpp"
#include "profile.hpp"
#include "registry.hpp"

namespace nsrig::cli {

struct Options {
  std::string log_level = "warning";
  std::string log_format = "text";
  std::vector<std::string> plugin_dirs;
  std::vector<std::string> profiles;
  std::vector<std::string> profile_opts;  ///< validate/explain -p, the same as their arguments
  std::vector<std::string> command;
  bool timings = false;
  // Instances.
  bool detach = false, keep = false, remove = false, force = false, interactive = false, tty = false;
  std::string name, format = "table";
  std::vector<std::string> env;
  std::string cwd;
  int stop_timeout = 10;  ///< seconds
  std::string signal = "KILL";
  // bench
  int bench_n = 100;
  int concurrency = 1;
  // plugin-check
  std::string plugin_path, check_config;
  int check_timeout = 300;  ///< seconds
};

/**
 * load -> plan -> configure: everything that can fail because of the profile
 * fails here, before any namespace exists. `id`, when given, becomes the
 * instance id (a detached run's name) before any plugin sees it.
 */
struct Loaded {
  Profile profile;
  Registry registry;
  std::unique_ptr<Instance> inst;
  Plan plan;
  Loaded(const Options &o, const std::string &id = "");
  ~Loaded() { inst.reset(); }  // plugin states go before their libraries
};

int cmd_run_detached(const Options &o);
int cmd_ps(const Options &o);
int cmd_inspect(const Options &o);
int cmd_exec(const Options &o);
int cmd_stop(const Options &o);
int cmd_kill(const Options &o);
int cmd_rm(const Options &o);
int cmd_logs(const Options &o);
int cmd_ns(const Options &o);
int cmd_bench(const Options &o);
int cmd_plugin_check(const Options &o);

}  // namespace nsrig::cli
