// uts: a new UTS namespace with its own hostname and NIS domain name.
// Set from the child, inside the namespace (uts_namespaces(7), sethostname(2)).
#include <sched.h>
#include <cctype>
#include <unistd.h>

#include <nsrig/plugin.hpp>

namespace {

// RFC 1123 host name rules, limited to what sethostname(2) takes (HOST_NAME_MAX = 64).
void validate(nsrig::Context &c, const char *key, const std::string &v) {
  if (v.empty()) c.fail_at(key, "must not be empty; remove the key to keep the host's");
  if (v.size() > 64)
    c.fail_at(key, "must be 1 to 64 bytes long (it is " + std::to_string(v.size()) + "); shorten it");
  if (v.front() == '-') c.fail_at(key, "must not start with a hyphen");
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char ch = static_cast<unsigned char>(v[i]);
    if (std::isalnum(ch) || ch == '-' || ch == '.') continue;
    std::string shown = ch >= 0x20 && ch < 0x7f ? std::string("'") + v[i] + "'" : "a non-ASCII byte";
    c.fail_at(key, "may contain only letters, digits, '-' and '.', not " + shown + " (byte " + std::to_string(i + 1) + ")");
  }
}

struct Uts {
  static constexpr const char *name = "uts";
  static constexpr const char *version = "1.0.0";
  static constexpr const char *description = "UTS namespace: hostname and domainname";
  static constexpr uint64_t clone_flag = CLONE_NEWUTS;

  std::optional<std::string> hostname, domainname;

  void configure(nsrig::Context &c) {
    hostname = c.string("hostname");
    domainname = c.string("domainname");
    if (hostname) validate(c, "hostname", *hostname);
    if (domainname) validate(c, "domainname", *domainname);
    if (hostname) c.describe("on_prepare", "publish the fact hostname = '" + *hostname + "' (ps, inspect, hosts)");
    if (hostname) c.describe("on_child_setup", "sethostname('" + *hostname + "')");
    if (domainname) c.describe("on_child_setup", "setdomainname('" + *domainname + "')");
  }
  // The hostname as a fact, for `nsrig ps`/`inspect` and plugins such as hosts.
  void prepare(nsrig::Context &c) {
    if (hostname) c.publish("hostname", *hostname);
  }
  void child_setup(nsrig::Context &) {
    if (hostname)
      nsrig::check(sethostname(hostname->data(), hostname->size()), [&] { return "sethostname('" + *hostname + "')"; });
    if (domainname)
      nsrig::check(setdomainname(domainname->data(), domainname->size()),
                   [&] { return "setdomainname('" + *domainname + "')"; });
  }
};

}  // namespace

NSRIG_PLUGIN(Uts)
