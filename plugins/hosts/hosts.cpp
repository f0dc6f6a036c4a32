// hosts: writes /etc/hosts and /etc/hostname inside the instance's root from
// what the other plugins published: uts's "hostname", net's "address". Written
// as a third party would: <nsrig/plugin.hpp> only, facts through host->fact
// (hosts(5), hostname(5)).
//
//   [[namespace]]
//   type = "hosts"
//   hostname_file = true                         # write /etc/hostname (default true)
//   extra = [{ address = "10.0.0.5", names = ["db", "db.local"] }]
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <nsrig/plugin.hpp>

namespace {

bool valid_ip(const std::string &s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

// RFC 1123 labels: letters, digits, '-' and '.', at most 253 bytes.
bool valid_name(const std::string &s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.') return false;
  for (char ch : s)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.')) return false;
  return true;
}

// Replaces `path` with `text`: a new file in the same directory, renamed over it, so
// that a file the instance cannot write (owned by an unmapped id in a rootless
// run) is replaced all the same. Plain system calls: this runs in the child.
void write_file(const std::string &path, const std::string &text) {
  std::string tmp = path + ".nsrig-new";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno == EROFS)
    throw std::runtime_error("create '" + tmp + "': read-only file system: mnt's readonly = true makes the root "
                             "read-only before hosts runs; set readonly = false in mnt, or drop hosts");
  nsrig::check(fd, "create '" + tmp + "'");
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      errno = e;
      unlink(tmp.c_str());
      errno = e;
      nsrig::check(-1, "write('" + tmp + "')");
    }
    done += static_cast<size_t>(n);
  }
  nsrig::check(close(fd), "close('" + tmp + "')");
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    unlink(tmp.c_str());
    errno = e;
    nsrig::check(-1, "rename('" + tmp + "', '" + path + "')");
  }
}

struct Hosts {
  static constexpr const char *name = "hosts";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "writes /etc/hosts and /etc/hostname from the uts and net facts";
  static constexpr uint64_t clone_flag = 0;
  static constexpr const char *after[] = {"mnt", "uts", "net", nullptr};

  bool hostname_file = true;
  std::vector<std::pair<std::string, std::string>> extra;  // (address, "name1 name2")

  void configure(nsrig::Context &c) {
    hostname_file = c.boolean_or("hostname_file", true);
    size_t n = c.size("extra");
    if (c.has("extra") && c.kind("extra") != NSRIG_CFG_ARRAY)
      c.fail_at("extra", "must be an array of { address = \"IP\", names = [\"name\", ...] }");
    for (size_t i = 0; i < n; ++i) {
      std::string at = "extra[" + std::to_string(i) + "]";
      if (c.kind(at) != NSRIG_CFG_TABLE) c.fail_at(at, "must be a table { address = \"IP\", names = [...] }");
      auto addr = c.string(at + ".address");
      if (!addr) c.fail_at(at, "needs 'address'");
      if (!valid_ip(*addr)) c.fail_at(at + ".address", "'" + *addr + "' is not an IPv4 or IPv6 address");
      auto names = c.strings(at + ".names");
      if (names.empty()) c.fail_at(at, "needs 'names': at least one host name");
      std::string joined;
      for (size_t k = 0; k < names.size(); ++k) {
        if (!valid_name(names[k]))
          c.fail_at(at + ".names[" + std::to_string(k) + "]",
                    "'" + names[k] + "' is not a host name (letters, digits, '-' and '.', at most 253 bytes)");
        joined += (joined.empty() ? "" : " ") + names[k];
      }
      extra.emplace_back(*addr, joined);
    }
    if (!c.has_plugin("mnt"))
      c.fail_at("", "needs the mnt plugin with a root of the instance's own: without it, hosts would rewrite the "
                    "host's /etc/hosts; add [[namespace]] type = \"mnt\" with root = ...");
    c.describe("on_child_setup", "write /etc/hosts: localhost, the instance's address and hostname" +
                                     std::string(extra.empty() ? "" : ", " + std::to_string(extra.size()) + " more"));
    if (hostname_file) c.describe("on_child_setup", "write /etc/hostname: the uts hostname");
  }

  void child_setup(nsrig::Context &c) {
    // Facts are as of the start of child setup: mnt's root and uts's hostname
    // come from prepare, net's address from prepare (bridge) or parent_after_clone.
    // Only an overlay root keeps the write to the instance: a directory root (root =
    // "/srv/x", or "/") is bound, not copied, so the files would change for good there.
    auto root = c.fact("root");
    if (!root)
      throw std::runtime_error("the mnt plugin gave this instance no root of its own (set root = ... in mnt): "
                               "refusing to write the host's /etc/hosts");
    if (!root->starts_with("overlay"))
      throw std::runtime_error("the instance's root is the directory '" + *root + "', bound and not copied: writing "
                               "its /etc/hosts would change that directory for good; use an overlay root "
                               "(root = { overlay = { lower = [\"" + *root + "\"] } }) or drop hosts");
    // /etc itself must be the overlay's: a directory itself, not a symlink (an image's
    // /etc -> /dev would lead into the host's /dev with dev = "host"), on an overlay, or
    // on the root's own tmpfs (a rootless root, built per directory). Any other
    // filesystem there (a bind of a host directory or tmpfs) is the host's.
    struct stat etc {}, top {};
    nsrig::check(lstat("/etc", &etc), "lstat('/etc')");
    if (!S_ISDIR(etc.st_mode))
      throw std::runtime_error("/etc inside is not a directory of the overlay root (a symlink in the image?): writing "
                               "/etc/hosts would follow it out of the root; make /etc a directory in the image, or "
                               "drop hosts");
    nsrig::check(stat("/", &top), "stat('/')");
    struct statfs fs {};
    nsrig::check(statfs("/etc", &fs), "statfs('/etc')");
    bool root_tmpfs = fs.f_type == TMPFS_MAGIC && etc.st_dev == top.st_dev;
    if (fs.f_type != OVERLAYFS_SUPER_MAGIC && !root_tmpfs)
      throw std::runtime_error("/etc inside is not on the overlay root (a directory bound onto it?): writing /etc/hosts "
                               "would change that directory on the host; drop that mount or drop hosts");
    auto hostname = c.fact("hostname");
    std::string text = "# written by nsrig's hosts plugin for instance " + c.instance_id() + "\n";
    text += "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    if (hostname) {
      std::string addr = c.fact("address").value_or("127.0.1.1");
      addr = addr.substr(0, addr.find('/'));  // "10.231.0.2/24" -> "10.231.0.2"
      text += addr + "\t" + *hostname + "\n";
    }
    for (auto &[a, names] : extra) text += a + "\t" + names + "\n";
    write_file("/etc/hosts", text);
    if (hostname_file && hostname) write_file("/etc/hostname", *hostname + "\n");
  }
};

}  // namespace

NSRIG_PLUGIN(Hosts)
