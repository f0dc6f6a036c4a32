// Isolation profiles: TOML files parsed with toml++, includes resolved, merged
// into one table, the core's own keys validated. Plugin tables are validated
// later by the plugins themselves (see instance.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

namespace nsrig {

/** The OCI hook stage names, in lifecycle order (OCI runtime spec, config.md "POSIX-platform Hooks"). */
inline constexpr const char *kHookStages[] = {"prestart",       "createRuntime", "createContainer",
                                              "startContainer", "poststart",     "poststop"};

/** One external command hook, `[[hooks.STAGE]]`. */
struct CommandHook {
  std::string stage;               ///< one of kHookStages
  std::string path;                ///< absolute path of the program
  std::vector<std::string> args;   ///< argv, args[0] included (OCI); defaults to {path}
  std::vector<std::string> env;    ///< "KEY=VALUE" entries; the hook's whole environment
  int64_t timeout_ms = 0;          ///< 0 = no timeout (milliseconds)
  std::string where;               ///< file:line:column of the hook table
};

/** One `[[namespace]]` entry after merging: its plugin type and its table. */
struct NamespaceEntry {
  std::string type;
  toml::table *table;  ///< points into Profile::root; `type` is one of its keys
};

/**
 * A merged profile. `root` holds the merged TOML (nodes keep their source
 * positions); the other members are the core's keys, decoded.
 */
struct Profile {
  toml::table root;
  std::vector<std::string> files;  ///< every file read, in the order read
  std::string name;
  std::vector<std::string> argv;
  std::string cwd;                                        ///< empty: keep the caller's
  std::vector<std::pair<std::string, std::string>> env;  ///< set on top of the caller's
  bool clear_env = false;                                 ///< start from an empty environment
  std::vector<NamespaceEntry> namespaces;                 ///< merged, in hook order
  std::vector<CommandHook> hooks;                         ///< in stage, then profile order

  Profile() = default;
  Profile(const Profile &) = delete;  // NamespaceEntry points into root
  Profile &operator=(const Profile &) = delete;
  Profile(Profile &&) = delete;
};

/**
 * Loads and merges `files` in order (each with its includes first). Merge
 * rules (DESIGN.md "Profiles"): scalars and arrays, later wins; tables key by
 * key; `[[namespace]]` of a type already present is merged into it key by key
 * (`mounts` arrays append), a new type appends, `enabled = false` removes it;
 * `[[hooks.STAGE]]` arrays append. `include` paths are relative to the
 * including file; cycles and depth > 16 are errors.
 * Throws nsrig::Error whose message starts with file:line:column.
 */
void load_profiles(const std::vector<std::string> &files, Profile &out);

/** "file:line:column" of a node, or "<profile>" when it has no source. */
std::string where(const toml::node &n);

/**
 * "; did you mean 'x'?" for the candidate closest to `word` (Levenshtein
 * distance at most max(2, size/3)), or "" when none is close.
 */
std::string did_you_mean(std::string_view word, const std::vector<std::string> &candidates);

}  // namespace nsrig
