// probe: a test plugin that records what ran and fails on request.
//   fail_in = "configure" | "prepare" | "parent_after_clone" | "child_setup" | "post_start" | "teardown"
//   throw   = true   fail by throwing a non-std::exception (the helper must still stop it)
//   marker  = "/path" prepare creates the file, teardown removes it (side effects are undone)
//   sleeper = "tag"  child_setup starts a background `sleep 1000` with that tag in its argv
//   hang    = true   child_setup prints "hanging" to stdout and then blocks forever
//   crash   = true   child_setup dies of SIGSEGV, without a message
//   leak    = true   prepare creates a file in the state dir that teardown forgets (plugin-check must see it)
//   configure_touch = "/path"  configure creates that file: a side effect where none is allowed
//   configure_fd = true  configure opens /dev/null (O_CLOEXEC) and keeps it: an fd left behind
//   crash_prepare = true  prepare dies of SIGSEGV (in nsrig's own process)
//   leak_fd = true   child_setup opens /dev/null without O_CLOEXEC: the payload inherits it
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <nsrig/plugin.hpp>

namespace {

struct Probe {
  static constexpr const char *name = "probe";
  static constexpr const char *version = "0.1.0";
  static constexpr const char *description = "test plugin: fails on request";
  static constexpr uint64_t clone_flag = 0;

  std::string fail_in, marker, sleeper;
  bool throws = false, hang = false, crash = false, leak = false, leak_fd = false, crash_prepare = false;

  void maybe_fail(nsrig::Context &c, const std::string &phase) {
    if (fail_in != phase) return;
    (void)c;
    if (throws) throw 42;
    throw std::runtime_error("probe failure in " + phase + " (requested)");
  }
  void configure(nsrig::Context &c) {
    fail_in = c.string_or("fail_in", "");
    throws = c.boolean_or("throw", false);
    marker = c.string_or("marker", "");
    sleeper = c.string_or("sleeper", "");
    hang = c.boolean_or("hang", false);
    crash = c.boolean_or("crash", false);
    leak = c.boolean_or("leak", false);
    leak_fd = c.boolean_or("leak_fd", false);
    crash_prepare = c.boolean_or("crash_prepare", false);
    if (auto touch = c.string("configure_touch")) close(static_cast<int>(nsrig::check(
        open(touch->c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644), "create '" + *touch + "'")));
    if (c.boolean_or("configure_fd", false))
      (void)nsrig::check(open("/dev/null", O_RDONLY | O_CLOEXEC), "open('/dev/null')");  // kept, on purpose
    maybe_fail(c, "configure");
  }
  void prepare(nsrig::Context &c) {
    if (!marker.empty()) {
      int fd = open(marker.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      nsrig::check(fd, "create marker '" + marker + "'");
      close(fd);
    }
    if (leak) close(static_cast<int>(nsrig::check(
        open((c.state_dir() + "/leaked").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644), "create the leaked file")));
    if (crash_prepare) raise(SIGSEGV);
    maybe_fail(c, "prepare");
  }
  void parent_after_clone(nsrig::Context &c) {
    if (c.child_pid() <= 0 || c.child_pidfd() < 0) throw std::runtime_error("no child known after clone");
    maybe_fail(c, "parent_after_clone");
  }
  void child_setup(nsrig::Context &c) {
    if (!sleeper.empty() && fork() == 0) {
      execl("/bin/sleep", "sleep", "1000", sleeper.c_str(), static_cast<char *>(nullptr));
      _exit(127);
    }
    if (leak_fd) nsrig::check(open("/dev/null", O_RDONLY), "open('/dev/null')");  // no O_CLOEXEC, on purpose
    maybe_fail(c, "child_setup");
    if (crash) raise(SIGSEGV);
    if (hang) {
      nsrig::check(write(1, "hanging\n", 8), "write");
      for (;;) pause();
    }
  }
  void post_start(nsrig::Context &c) { maybe_fail(c, "post_start"); }
  void teardown(nsrig::Context &c) {
    if (!marker.empty()) unlink(marker.c_str());
    maybe_fail(c, "teardown");
  }
};

}  // namespace

NSRIG_PLUGIN(Probe)
