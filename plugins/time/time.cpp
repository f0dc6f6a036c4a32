// time: a time namespace whose CLOCK_MONOTONIC and CLOCK_BOOTTIME are
// shifted by whole seconds (time_namespaces(7)); `cat /proc/uptime` inside
// shows the boottime offset. CLOCK_REALTIME is not virtualized by the kernel.
//
// Built like a third party's plugin: only <nsrig/plugin.hpp> and the system.
//
// The kernel takes offsets (/proc/PID/timens_offsets) only while no process
// has entered the namespace, so nsrig's core leaves CLONE_NEWTIME out of
// clone3 and its owner makes the namespace. In on_child_setup, the child:
//   1. reads its offsets (those of nsrig's own time namespace, inherited);
//   2. unshare(CLONE_NEWTIME): a new namespace, for its children only;
//   3. writes inherited + configured offsets to /proc/self/timens_offsets
//      (it has CAP_SYS_TIME there: it owns the namespace, and after the user
//      plugin it is root in its user namespace, which owns it);
//   4. setns() into /proc/self/ns/time_for_children: the first process itself
//      is in it before anything else runs, so nsrig's init, the payload and
//      `nsrig exec` (which joins the first process's namespaces) all are.
// The plugin owns CLONE_NEWTIME (one owner per flag). Offsets are relative to
// the clocks nsrig sees, that is to the host's in the initial time namespace.
#include <fcntl.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nsrig/plugin.hpp>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace {

// KTIME_SEC_MAX / 2: the most a clock may read inside a time namespace (about 146 years).
constexpr int64_t kClockMax = 9223372036LL / 2;

struct Offset {
  int64_t sec = 0;
  long nsec = 0;
};

struct Time {
  static constexpr const char *name = "time";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "time namespace: monotonic and boottime clock offsets";
  static constexpr uint64_t clone_flag = CLONE_NEWTIME;
  // unshare(CLONE_NEWTIME) and the offsets need CAP_SYS_ADMIN / CAP_SYS_TIME
  // in the child's user namespace: the user plugin's on_child_setup first.
  static constexpr const char *after[] = {"user", nullptr};

  int64_t monotonic = 0, boottime = 0;

  static int64_t read_offset(nsrig::Context &c, const char *key, clockid_t clock, const char *clock_name) {
    auto v = c.integer(key);  // ConfigError "must be an integer" for other kinds
    if (!v) return 0;
    timespec now{};
    clock_gettime(clock, &now);
    // time_namespaces(7), ERANGE: the clock inside may not become negative, nor exceed KTIME_SEC_MAX / 2.
    int64_t lo = -static_cast<int64_t>(now.tv_sec), hi = kClockMax - static_cast<int64_t>(now.tv_sec);
    if (*v < lo || *v > hi)
      c.fail_at(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " seconds (it is " +
                         std::to_string(*v) + "): " + clock_name + " reads " + std::to_string(now.tv_sec) +
                         " s now, and inside the namespace it may not go below 0 nor above " +
                         std::to_string(kClockMax) + " s (time_namespaces(7))");
    return *v;
  }

  void configure(nsrig::Context &c) {
    // unshare(CLONE_NEWTIME) needs CAP_SYS_ADMIN: as an unprivileged user, only inside a user namespace.
    if (geteuid() != 0 && !c.has_plugin("user"))
      c.fail_at("", "a time namespace as an unprivileged user needs a user namespace: add [[namespace]] type = "
                    "\"user\" first");
    monotonic = read_offset(c, "monotonic", CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
    boottime = read_offset(c, "boottime", CLOCK_BOOTTIME, "CLOCK_BOOTTIME (/proc/uptime)");
    if (access("/proc/self/ns/time", F_OK) != 0)
      throw std::runtime_error(
          "this kernel has no time namespaces (/proc/self/ns/time is missing: Linux 5.6 or "
          "later built with CONFIG_TIME_NS is needed); remove the time [[namespace]]");
    c.describe("on_child_setup", "unshare(CLONE_NEWTIME); write monotonic " + std::to_string(monotonic) +
                                     " s, boottime " + std::to_string(boottime) +
                                     " s to /proc/self/timens_offsets (relative to nsrig's clocks)");
    c.describe("on_child_setup",
               "setns(/proc/self/ns/time_for_children): the first process and all it starts "
               "see the shifted clocks");
  }

  // The offsets of the namespace the caller's children are created in (time_for_children).
  static void read_current(Offset &mono, Offset &boot) {
    // Lines "monotonic SEC NSEC" (older kernels: the clock's number, 1 or 7).
    // stdio, not <fstream>: iostreams would link about 2,500 relocations of
    // libstdc++ into the plugin (docs/benchmarks.md, "Making it fast").
    FILE *f = std::fopen("/proc/self/timens_offsets", "re");
    if (!f) nsrig::check(-1, "open('/proc/self/timens_offsets')");
    char clock[32];
    long long sec = 0, nsec = 0;
    while (std::fscanf(f, "%31s %lld %lld", clock, &sec, &nsec) == 3) {
      Offset o{sec, static_cast<long>(nsec)};
      std::string c = clock;
      if (c == "monotonic" || c == "1") mono = o;
      if (c == "boottime" || c == "7") boot = o;
    }
    std::fclose(f);
  }

  void child_setup(nsrig::Context &) {
    Offset mono, boot;
    read_current(mono, boot);
    mono.sec += monotonic;
    boot.sec += boottime;
    nsrig::check(unshare(CLONE_NEWTIME), "unshare(CLONE_NEWTIME)");
    std::string text = "monotonic " + std::to_string(mono.sec) + " " + std::to_string(mono.nsec) + "\nboottime " +
                       std::to_string(boot.sec) + " " + std::to_string(boot.nsec) + "\n";
    int fd = static_cast<int>(nsrig::check(open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC),
                                           "open('/proc/self/timens_offsets') for writing"));
    ssize_t n = write(fd, text.data(), text.size());
    int e = errno;
    close(fd);
    if (n != static_cast<ssize_t>(text.size())) {
      std::string shown = text;
      shown.pop_back();
      for (auto &ch : shown)
        if (ch == '\n') ch = ',';
      throw std::runtime_error("write('/proc/self/timens_offsets', '" + shown +
                               "'): " + std::strerror(n < 0 ? e : EIO));
    }
    int ns = static_cast<int>(nsrig::check(open("/proc/self/ns/time_for_children", O_RDONLY | O_CLOEXEC),
                                           "open('/proc/self/ns/time_for_children')"));
    int rc = setns(ns, CLONE_NEWTIME);
    e = errno;
    close(ns);
    errno = e;
    nsrig::check(rc, "setns(time_for_children, CLONE_NEWTIME)");
  }
};

}  // namespace

NSRIG_PLUGIN(Time)
