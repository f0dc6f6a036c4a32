// The nsrig command: CLI11 front end over libnsrig-core.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "error.hpp"
#include "instance.hpp"
#include "log.hpp"
#include "planner.hpp"
#include "profile.hpp"
#include "registry.hpp"
#include "spawner.hpp"
#include "tty.hpp"
#include "cli.hpp"

#ifndef NSRIG_VERSION
#define NSRIG_VERSION "0.0.0"
#endif

using namespace nsrig;
using namespace nsrig::cli;

namespace {

void print_plan(const Plan &plan) {
  std::printf("# %-3s %-22s %-7s %-8s %s\n", "#", "PHASE", "SIDE", "WHO", "WHAT");
  int i = 0;
  for (const auto &s : plan.steps) {
    if (s.phase.empty()) {  // a detail line of the step above
      std::printf("# %-3s %-22s %-7s %-8s %s\n", "", "", "", "", s.what.c_str());
      continue;
    }
    std::printf("# %-3d %-22s %-7s %-8s %s\n", ++i, s.phase.c_str(), s.side.c_str(), s.who.c_str(), s.what.c_str());
  }
}

int cmd_run(const Options &o) {
  if (o.profiles.empty()) log::warning("no profile given (-p): the command runs with no new namespace");
  if (o.detach && o.tty) throw Error("-t with -d is not supported: a detached instance has no terminal to attach to; "
                                     "use nsrig exec -it NAME -- CMD");
  // Without -t, -i changes nothing: a foreground run always passes stdin on (docker run -i, for pipes).
  if (o.detach && o.interactive)
    throw Error("-i with -d is not supported: a detached instance's stdin is /dev/null; "
                "run in the foreground to pipe into CMD, or use nsrig exec -i NAME -- CMD");
  if (o.keep && o.remove) throw Error("--keep and --rm contradict each other: give one");
  if (o.detach) return cmd_run_detached(o);
  if (!o.name.empty() || o.keep || o.remove) throw Error("--name, --keep and --rm are for detached runs: add -d");
  // Not destroyed on success: main() _exits after run, and unloading the plugins
  // (dlclose, each one's destructors) would only cost time. Errors unwind normally.
  auto loading = std::chrono::steady_clock::now();
  auto owned = std::make_unique<Loaded>(o);
  Loaded &l = *owned;
  Timings t;
  if (o.timings)  // profile, plugins, plan, configure: before the spawn's own phases
    t.emplace_back("load", std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::steady_clock::now() - loading).count());
  if (l.inst->process.argv.empty())
    throw Error("no command to run: give one after the options (nsrig run -p PROFILE -- CMD...) or set "
                "[process].argv in the profile");
  if (o.tty) {
    // A pty of the host's devpts (the instance does not exist yet): the payload's
    // controlling terminal; nsrig relays it (raw mode, window size).
    Pty pty = open_pty();
    l.inst->tty_master = pty.master;
    l.inst->tty_slave = pty.slave;
    // Opened here, by its host path: inside, /dev/pts may be the instance's own devpts.
    l.inst->tty_slave_fd = open(pty.slave.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (l.inst->tty_slave_fd < 0) throw Error(errno_text("open the terminal " + pty.slave));
    l.inst->tty_stdin = o.interactive;
    l.inst->close_in_child.push_back(pty.master);
  }
  int code = run(*l.inst, l.plan, o.timings ? &t : nullptr);
  if (l.inst->tty_master >= 0) close(l.inst->tty_master);
  if (l.inst->tty_slave_fd >= 0) close(l.inst->tty_slave_fd);  // the run failed before clone3
  if (o.timings) {
    int64_t total = 0;
    for (auto &[phase, us] : t) std::fprintf(stderr, "nsrig timings: %-20s %8lld us\n", phase.c_str(), (long long)us), total += us;
    std::fprintf(stderr, "nsrig timings: %-20s %8lld us\n", "total", (long long)total);
  }
  l.inst.reset();     // every plugin state destroyed, as the SDK promises
  (void)owned.release();  // the libraries stay mapped until _exit
  return code;
}

int cmd_validate(const Options &o) {
  Loaded l(o);
  std::printf("ok: %zu file(s), %zu namespace plugin(s), %zu steps\n", l.profile.files.size(), l.inst->slots.size(),
              l.plan.steps.size());
  return 0;
}

int cmd_explain(const Options &o) {
  Loaded l(o);
  std::cout << "# resolved profile, merged from (in the order read):";
  for (auto &f : l.profile.files) std::cout << "\n#   " << f;
  std::cout << "\nversion = 1\n" << toml::toml_formatter(l.profile.root) << "\n\n# step plan\n";
  std::cout.flush();
  print_plan(l.plan);  // as TOML comments: the whole output is a valid profile
  return 0;
}

int cmd_plugins(const Options &o) {
  Registry reg(Registry::default_dirs(o.plugin_dirs));
  int refused = 0;
  std::printf("%-12s %-10s %-4s %-16s %s\n", "NAME", "VERSION", "ABI", "CLONE FLAG", "PATH");
  for (const auto &f : reg.discover()) {
    try {
      const Plugin &p = reg.load_file(f, std::filesystem::path(f).stem().string());
      std::printf("%-12s %-10s %-4u %-16s %s\n", p.name().c_str(), p.desc.version, p.desc.abi_version,
                  clone_flag_name(p.desc.clone_flag).c_str(), p.path.c_str());
    } catch (const Error &e) {
      ++refused;
      log::error(e.what());
    }
  }
  if (reg.loaded().empty() && !refused) {
    std::string dirs;
    for (auto &d : reg.dirs()) dirs += "\n  " + d;
    log::warning("no plugins found; searched:" + dirs);
  }
  return refused ? kExitOwnError : 0;
}

}  // namespace

namespace nsrig::cli {
Loaded::Loaded(const Options &o, const std::string &id) : registry(Registry::default_dirs(o.plugin_dirs)) {
  load_profiles(o.profiles, profile);
  inst = std::make_unique<Instance>(profile, registry, o.command);
  if (!id.empty()) inst->id = id;
  plan = make_plan(*inst);  // ordering errors before any plugin runs
  inst->configure();
  plan = make_plan(*inst);  // again, with what the plugins described in on_configure
  if (log::enabled(log::Level::debug))
    for (const auto &s : plan.steps)
      if (!s.phase.empty()) log::debug("plan: " + s.phase + " [" + s.side + "] " + s.who + ": " + s.what);
}
}  // namespace nsrig::cli

namespace {
// The global options that take a value, defined below before any command.
constexpr std::string_view kGlobalOptions[] = {"--plugin-dir", "--log-level", "--log-format"};

// The command word: the first argument that is neither a global option nor
// its value (nullptr when there is none).
const char *command_word(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a(argv[i]);
    if (std::find(std::begin(kGlobalOptions), std::end(kGlobalOptions), a) != std::end(kGlobalOptions))
      ++i;
    else if (!a.starts_with("-"))
      return argv[i];
  }
  return nullptr;
}

bool is_command(std::string_view w) {
  for (const char *c : {"run", "validate", "explain", "plugins", "ps", "inspect", "exec", "stop", "kill", "rm",
                        "logs", "bench", "plugin-check", "ns"})
    if (w == c) return true;
  return false;
}
}  // namespace

int main(int argc, char **argv) {
  Options o;
  CLI::App app{"nsrig: run a process inside new Linux namespaces, one plugin per namespace type,\n"
               "chosen and ordered by an isolation profile (TOML).",
               "nsrig"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("nsrig ") + NSRIG_VERSION + " (plugin ABI " +
                                        std::to_string(NSRIG_ABI_VERSION) + ")");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warning (default) or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warning", "error"}));
  app.add_option("--log-format", o.log_format, "text (default) or json")->check(CLI::IsMember({"text", "json"}));
  app.add_option("--plugin-dir", o.plugin_dirs,
                 "search this directory for plugins first (repeatable); then NSRIG_PLUGIN_PATH, then the install dir")
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check([](const std::string &d) {  // "" would search the current directory
        return d.empty() ? std::string("is empty: give a directory, or leave the option out") : std::string();
      });
  app.footer("Exit status of run and exec: the command's; 128+N when it died of signal N; 125 nsrig's own\n"
             "error; 126 the command cannot be executed; 127 it was not found. Other commands: 0 or 125\n"
             "(plugin-check: 1 when a check failed or was skipped).\n"
             "Docs: docs/profile.md (profiles), docs/writing-plugins.md (writing plugins).");
  // Subcommands would inherit that footer; each says what applies to it instead.
  auto plain = [](CLI::App *sub, const std::string &footer) { sub->footer(footer); };
  CLI::App *run = nullptr, *validate = nullptr, *explain = nullptr, *ps = nullptr, *inspect = nullptr,
           *exec = nullptr, *stop = nullptr, *killc = nullptr, *rm = nullptr, *logs = nullptr, *bench = nullptr,
           *check = nullptr, *ns = nullptr;
  // Only the command asked for is defined, when the command line names one
  // that exists and asks for no help before it: defining all fourteen with
  // their options was about 0.5 ms of every start (docs/benchmarks.md). Help,
  // --version, a typo and no command at all get the whole set.
  const char *word = command_word(argc, argv);
  bool help_first = false;
  for (int i = 1; i < argc && argv[i] != word; ++i)
    help_first |= std::string_view(argv[i]) == "-h" || std::string_view(argv[i]) == "--help" ||
                  std::string_view(argv[i]) == "--version";
  bool all = !word || help_first || !is_command(word);
  auto want = [&](const char *name) { return all || std::string_view(word) == name; };

  if (want("run")) {
    run = app.add_subcommand("run", "Run CMD (or [process].argv) inside the profile's namespaces");
    run->add_option("-p,--profile", o.profiles, "isolation profile; repeat to merge several, later wins")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    run->add_flag("--timings", o.timings,
                  "print to stderr the time (microseconds) of loading the profile and plugins and of each "
                  "lifecycle phase");
    run->add_flag("-d,--detach", o.detach, "run in the background under a supervisor; print the instance's name");
    run->add_flag("-t,--tty", o.tty, "give the payload a pseudo-terminal; raw mode on yours while attached");
    run->add_flag("-i,--interactive", o.interactive, "pass your stdin on to the payload (a foreground run always does; -it for a terminal)");
    run->add_option("--name", o.name, "name of a detached instance: 1-32 of [a-z0-9_-], starting with a letter or digit (default: generated)")
        ->check([](const std::string &n) { return n.empty() ? std::string("the name must not be empty") : std::string(); });
    run->add_flag("--rm", o.remove, "remove a detached instance's record (state, log) as soon as it ends");
    run->add_flag("--keep", o.keep, "keep the record of a detached instance after it ends, until nsrig rm (default)");
    // Everything from the first non-option argument (or after --) is the command, untouched.
    run->prefix_command();
    run->footer("Usage: nsrig [GLOBAL OPTIONS] run [-p PROFILE]... [--timings] [-t [-i]] [-d [--name NAME] [--rm|--keep]] [--] CMD [ARGS...]\n"
                "Without -p, CMD runs with no new namespace. With -d, nsrig returns once CMD was executed\n"
                "(exit 0, the name on stdout) or with the setup error; a supervisor waits for it, tears\n"
                "down when it ends and keeps its record (ps shows it stopped, with its exit status, logs\n"
                "shows its output) until nsrig rm, as docker does; --rm removes it at once.\n"
                "Example: nsrig run -p examples/profiles/minimal.toml -- sh -c 'hostname; ps -ef'\n"
                "Exit status: CMD's; 128+N when it died of signal N; 125 nsrig's own error;\n"
                "126 CMD cannot be executed; 127 CMD was not found.");
  }

  if (want("validate")) {
    validate = app.add_subcommand("validate", "Check profiles and their plugins' settings; create nothing");
    plain(validate, "Exit status: 0 when valid, 125 with file:line:column and a fix otherwise.");
    validate->add_option("profile", o.profiles, "profiles, merged in order");
    validate->add_option("-p,--profile", o.profile_opts, "the same, as run takes them (repeatable)");
  }
  if (want("explain")) {
    explain = app.add_subcommand("explain", "Print the resolved profile and the step plan; create nothing");
    plain(explain, "Exit status: 0, or 125 when the profiles are not valid.");
    explain->add_option("profile", o.profiles, "profiles, merged in order");
    explain->add_option("-p,--profile", o.profile_opts, "the same, as run takes them (repeatable)");
  }
  if (want("plugins")) {
    plain(app.add_subcommand("plugins", "List the plugins found: name, version, ABI, clone flag, path"),
          "Exit status: 0, or 125 when a plugin file was refused (the reason is printed).");
  }

  if (want("ps")) {
    ps = app.add_subcommand("ps", "List detached instances: name, status, pid, uptime, address, profile");
    ps->add_option("--format", o.format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));
    plain(ps, "Instances live in $NSRIG_STATE_DIR when set, else /run/nsrig (root), $XDG_RUNTIME_DIR/nsrig, or\n"
              "/tmp/nsrig-UID without XDG_RUNTIME_DIR.");
  }
  if (want("inspect")) {
    inspect = app.add_subcommand("inspect", "Print a detached instance's state (JSON)");
    inspect->add_option("name", o.name, "instance name")->required();
    plain(inspect, "");
  }
  if (want("exec")) {
    exec = app.add_subcommand("exec", "Run CMD inside a running instance's namespaces, root and cwd");
    exec->add_flag("-i,--interactive", o.interactive, "pass stdin on to CMD (without it, CMD reads /dev/null)");
    exec->add_flag("-t,--tty", o.tty, "give CMD a pseudo-terminal of the instance's; raw mode while attached");
    exec->add_option("-e,--env", o.env, "KEY=VALUE for CMD's environment (repeatable)")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    exec->add_option("--cwd", o.cwd, "working directory inside (default: the payload's, or /)");
    exec->prefix_command();
    exec->footer("Usage: nsrig exec [-i] [-t] [-e KEY=VALUE]... [--cwd DIR] NAME [--] CMD [ARGS...]\n"
                 "Example: nsrig exec -it web -- bash\n"
                 "CMD gets the payload's environment (from the profile), plus -e; TERM from the caller.\n"
                 "Joins every namespace of the instance with one setns(2) on its first process's pidfd, forks so\n"
                 "that CMD is inside the pid namespace, and exits with CMD's status (128+N for signal N).");
  }
  if (want("stop")) {
    stop = app.add_subcommand("stop", "Stop a detached instance: SIGTERM, then SIGKILL after the grace time");
    stop->add_option("-t,--time", o.stop_timeout, "grace time in seconds before SIGKILL (default 10)")
        ->check(CLI::Range(0, 3600));
    stop->add_option("name", o.name, "instance name")->required();
    plain(stop, "SIGTERM goes through the instance's supervisor to its first process (nsrig's init forwards it to\n"
                "the payload); the supervisor tears down when the payload has ended. Exit status: 0 or 125.");
  }
  if (want("kill")) {
    killc = app.add_subcommand("kill", "Send a signal (default KILL) to a detached instance's first process");
    killc->add_option("name", o.name, "instance name")->required();
    killc->add_option("signal", o.signal, "signal name or number (default KILL)");
    plain(killc, "Example: nsrig kill web HUP. Exit status: 0 or 125.");
  }
  if (want("rm")) {
    rm = app.add_subcommand("rm", "Remove a stopped instance's state; with -f, stop it first");
    rm->add_flag("-f,--force", o.force, "stop a running instance (SIGKILL) before removing it");
    rm->add_option("name", o.name, "instance name")->required();
    plain(rm, "An instance whose supervisor died is torn down first (links, leases, layers). Exit status: 0 or 125.");
  }
  if (want("logs")) {
    logs = app.add_subcommand("logs", "Print a detached instance's output (its log file)");
    logs->add_option("name", o.name, "instance name")->required();
    plain(logs, "The payload's stdout and stderr, and the supervisor's messages, since the instance started.");
  }
  if (want("bench")) {
    bench = app.add_subcommand("bench", "Spawn a profile N times and report latency percentiles and phases");
    bench->add_option("-p,--profile", o.profiles, "isolation profile; repeat to merge several")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
        ->required();
    bench->add_option("-n", o.bench_n, "number of spawns (default 100)")->check(CLI::Range(1, 1000000));
    bench->add_option("--concurrency", o.concurrency, "spawners at once, each a forked worker (default 1)")
        ->check(CLI::Range(1, 256));
    bench->add_option("--format", o.format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));
    plain(bench, "The payload is /bin/true, in the profile's namespaces. The profile is loaded once; each spawn\n"
                 "runs prepare ... teardown. Times on shared machines drift: compare ratios within one run.");
  }
  if (want("plugin-check")) {
    check = app.add_subcommand("plugin-check", "Check that a plugin file conforms to the SDK's rules, in real spawns");
    check->add_option("plugin", o.plugin_path, "the plugin's .so file")->required();
    check->add_option("--config", o.check_config, "TOML file with the plugin's own table (its settings), if it needs any");
    check->add_option("--timeout", o.check_timeout, "seconds for all checks together (default 300)")
        ->check(CLI::Range(1, 86400));
    check->add_option("-p,--profile", o.profiles, "profile the plugin needs around it (other plugins); repeatable")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    plain(check, "Loads the plugin, checks ABI negotiation, exports and descriptor; runs on_configure (no side effects,\n"
                 "error messages for bad values, never a crash); then, as root, runs it around /bin/true: once, after\n"
                 "an injected failure in each phase, and in two instances at once, comparing the host's mounts,\n"
                 "links, cgroups, state files, fds and processes before and after. One line per check.\n"
                 "Example: nsrig plugin-check build/motd.so --config motd.toml -p base.toml\n"
                 "Exit status: 0 when every check passed; 1 when one failed or was skipped (not root); 125 usage.");
  }
  if (want("ns")) {
    ns = app.add_subcommand("ns", "Show each namespace of a running instance next to the host's, like lsns");
    ns->add_option("--format", o.format, "table (default) or json")->check(CLI::IsMember({"table", "json"}));
    ns->add_option("name", o.name, "instance name")->required();
    plain(ns, "Compares /proc/PID/ns/* of the instance's first process with nsrig's own (namespaces(7)).");
  }

  // CLI11 2.1 mangles what follows "--" in a prefix-command subcommand, so a
  // "--" that comes before the command is split off here and the command
  // after it handed over untouched. A "--" after the command's first word
  // belongs to the command (nsrig run git log -- file).
  // Only after the command word itself: "run" as an instance name (nsrig
  // inspect run -- x) is not the command.
  int dash = 0;
  bool seen_cmd = false;
  for (int i = 1; i < argc && !dash; ++i) {
    if (argv[i] == word && (std::string_view(word) == "run" || std::string_view(word) == "exec")) seen_cmd = true;
    if (std::string_view(argv[i]) == "--" && seen_cmd) dash = i;
  }
  try {
    app.parse(dash ? dash : argc, argv);
  } catch (const CLI::ParseError &e) {
    // "nsrig bogus": CLI11 says only that a subcommand is required; say which word it did not know.
    if (dynamic_cast<const CLI::RequiredError *>(&e) && word && !is_command(word)) {
      std::fprintf(stderr, "nsrig: unknown command '%s'; see nsrig --help\n", word);
      return kExitOwnError;
    }
    // "nsrig plugins --plugin-dir D": CLI11 lists the words it did not expect; say what they are.
    if (dynamic_cast<const CLI::ExtrasError *>(&e) && word) {
      bool after = false;
      for (int i = 1; i < argc; ++i) {
        std::string_view a(argv[i]);
        after |= argv[i] == word;
        for (std::string_view g : kGlobalOptions)
          if (after && (a == g || (a.starts_with(g) && a.substr(g.size()).starts_with("=")))) {
            std::fprintf(stderr, "nsrig %s: '%.*s' is a global option: put it before '%s' (nsrig %.*s VALUE %s ...)\n",
                         word, static_cast<int>(g.size()), g.data(), word, static_cast<int>(g.size()), g.data(), word);
            return kExitOwnError;
          }
      }
    }
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitOwnError;
  }
  auto parsed = [](const CLI::App *sub) { return sub && sub->parsed(); };
  if (parsed(run)) {
    o.command = run->remaining();  // the command's words before any "--"
    // A command never starts with '-': that is an option run does not know
    // (global options such as --log-level go before "run").
    if (!o.command.empty() && o.command.front().starts_with("-")) {
      std::fprintf(stderr, "nsrig run: unknown option '%s'; global options (--log-level, --log-format, "
                           "--plugin-dir) go before 'run'. See nsrig run --help\n", o.command.front().c_str());
      return kExitOwnError;
    }
    if (dash && !o.command.empty()) o.command.emplace_back("--");  // the command's own "--"
    if (dash) o.command.insert(o.command.end(), argv + dash + 1, argv + argc);
  }
  if (parsed(exec)) {
    auto rest = exec->remaining();  // NAME, then the command's words before any "--"
    if (rest.empty() || rest.front().starts_with("-")) {
      std::fprintf(stderr, "nsrig exec: %s; usage: nsrig exec [OPTIONS] NAME [--] CMD [ARGS...]\n",
                   rest.empty() ? "no instance name" : ("unknown option '" + rest.front() + "'").c_str());
      return kExitOwnError;
    }
    o.name = rest.front();
    o.command.assign(rest.begin() + 1, rest.end());
    if (dash && !o.command.empty()) o.command.emplace_back("--");
    if (dash) o.command.insert(o.command.end(), argv + dash + 1, argv + argc);
  }
  // Dispositions inherited from the caller must not change how children are
  // waited for: with SIGCHLD ignored the kernel reaps them and waitpid never
  // sees the payload. SIGPIPE is ignored here (a hook that does not read its
  // stdin) and reset to default in every child.
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  try {
    log::init(log::parse_level(o.log_level), o.log_format == "json" ? log::Format::json : log::Format::text);
    if (parsed(run)) {
      int code = cmd_run(o);  // the instance is torn down and every plugin state destroyed
      // Nothing is left to undo: skip unloading the plugins and their libraries
      // (libnl's destructors alone unregister every link and qdisc type) and the
      // destructors of the command line. Output is flushed first.
      std::fflush(nullptr);
      std::cout.flush();
      _exit(code);
    }
    if (parsed(validate) || parsed(explain)) {
      const char *cmd = parsed(validate) ? "validate" : "explain";
      if (!o.profiles.empty() && !o.profile_opts.empty())
        throw Error(std::string("nsrig ") + cmd + ": give the profiles either as arguments or with -p, not both "
                    "(their order would be unclear)");
      if (o.profiles.empty()) o.profiles = o.profile_opts;
      if (o.profiles.empty())
        throw Error(std::string("nsrig ") + cmd + ": no profile given: nsrig " + cmd + " PROFILE... (or -p PROFILE)");
    }
    if (parsed(validate)) return cmd_validate(o);
    if (parsed(explain)) return cmd_explain(o);
    if (parsed(ps)) return cmd_ps(o);
    if (parsed(inspect)) return cmd_inspect(o);
    if (parsed(exec)) return cmd_exec(o);
    if (parsed(stop)) return cmd_stop(o);
    if (parsed(killc)) return cmd_kill(o);
    if (parsed(rm)) return cmd_rm(o);
    if (parsed(logs)) return cmd_logs(o);
    if (parsed(ns)) return cmd_ns(o);
    if (parsed(bench)) return cmd_bench(o);
    if (parsed(check)) return cmd_plugin_check(o);
    return cmd_plugins(o);
  } catch (const Error &e) {
    log::error(e.what());
    return e.exit_code;
  } catch (const std::exception &e) {
    log::error(std::string("internal error: ") + e.what());
    return kExitOwnError;
  }
}
