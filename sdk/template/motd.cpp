// motd: writes a message of the day into the instance's root, /etc/motd by
// default. A small, complete nsrig plugin: configuration with validation,
// a line for `nsrig explain`, an ordering constraint, and one child-side hook.
//
// Profile:
//   [[namespace]]
//   type = "motd"
//   message = "hello"     # required, at most 4096 bytes
//   path = "/etc/motd"    # absolute, inside the instance's root
#include <fcntl.h>
#include <unistd.h>

#include <nsrig/plugin.hpp>

namespace {

struct Motd {
  static constexpr const char *name = "motd";
  static constexpr const char *version = MOTD_VERSION;
  static constexpr const char *description = "writes a message of the day into the instance's root";
  static constexpr uint64_t clone_flag = 0;  // creates no namespace
  // Run after mnt when it takes part, so "/" is the instance's root.
  static constexpr const char *after[] = {"mnt", nullptr};

  std::string message, path;

  // Parent side, before anything exists: read and check every key, no side effects.
  void configure(nsrig::Context &c) {
    auto m = c.string("message");
    if (!m) c.fail_at("message", "is required: the text to write");
    if (m->size() > 4096) c.fail_at("message", "must be at most 4096 bytes");
    message = *m;
    path = c.string_or("path", "/etc/motd");
    if (path.empty() || path[0] != '/') c.fail_at("path", "must be an absolute path inside the instance");
    if (!c.has_plugin("mnt"))
      c.fail_at("path", "needs the mnt plugin with a root of the instance's own; without one this would write on the host");
    c.describe("on_child_setup", "write " + std::to_string(message.size() + 1) + " bytes to " + path);
  }

  // Child side, inside the new namespaces, after mnt switched the root.
  // Only async-signal-safe work is certain here: plain system calls.
  void child_setup(nsrig::Context &c) {
    // mnt publishes "root" when the instance has a root of its own; without one, "/"
    // is still the host's, and nothing may be written there.
    // Only an overlay root keeps writes inside the instance; a directory root is the
    // directory itself ("/" included), and mnt without a root leaves the host's "/".
    auto root = c.fact("root");
    if (!root || !root->starts_with("overlay"))
      throw std::runtime_error("refusing to write " + path + ": the instance has no overlay root of its own (mnt: " +
                               (root ? "root = '" + *root + "'" : "no root") + ")");
    // The message is a lambda: built only if open fails (docs/writing-plugins.md).
    int fd = static_cast<int>(nsrig::check(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644),
                                           [&] { return "open('" + path + "')"; }));
    std::string text = message + "\n";
    ssize_t n = write(fd, text.data(), text.size());
    int err = errno;
    close(fd);
    errno = err;
    if (n != static_cast<ssize_t>(text.size())) nsrig::check(-1, "write('" + path + "')");
  }
};

}  // namespace

NSRIG_PLUGIN(Motd)
