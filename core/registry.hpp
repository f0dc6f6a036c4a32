// Plugin registry: finds plugin files, loads them with Boost.DLL, negotiates
// the ABI and checks descriptors. Loaded libraries stay mapped for the
// registry's lifetime, which outlives every instance (and so every plugin
// state) created from it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#define BOOST_DLL_USE_STD_FS 1
#include <boost/dll/shared_library.hpp>

#include "nsrig/plugin.h"

namespace nsrig {

/** One loaded plugin. */
struct Plugin {
  std::string path;                  ///< file it was loaded from
  std::shared_ptr<boost::dll::shared_library> lib;  ///< keeps the code mapped; one per file (a bundle's members share it)
  dev_t dev = 0;                     ///< the file's st_dev and st_ino: what dlopen(3) knows a loaded file by
  ino_t ino = 0;
  nsrig_plugin_descriptor desc{};    ///< copy, members past the plugin's struct_size zeroed
  std::vector<std::string> after;    ///< desc.after, copied
  std::vector<std::string> before;   ///< desc.before, copied
  bool bundled = false;              ///< found through the file's NSRIG_BUNDLE_SYMBOL, not NSRIG_ENTRY_SYMBOL
  std::string name() const { return desc.name; }
};

/**
 * Calls the entry point of `p`'s file as the registry did, with ABI version
 * `abi` and host table `host`: the bundle entry (NSRIG_BUNDLE_SYMBOL), then
 * the descriptor named like `p`, when p.bundled; else NSRIG_ENTRY_SYMBOL.
 * Returns the entry's status (NSRIG_ERR_NOT_FOUND: the bundle answered
 * without that name) and sets *out on NSRIG_OK. For plugin-check's ABI
 * probes, which call it with versions the registry never offers.
 */
int32_t call_entry(const Plugin &p, uint32_t abi, const nsrig_host_api *host, const nsrig_plugin_descriptor **out);

/**
 * Calls the bundle entry (NSRIG_BUNDLE_SYMBOL) of `p`'s file, which must be
 * p.bundled. Returns its status; on NSRIG_OK *out and *count are what it
 * answered, unchecked (plugin-check validates them; the registry only reads
 * the first kMaxBundle).
 */
int32_t call_bundle(const Plugin &p, uint32_t abi, const nsrig_host_api *host, const nsrig_plugin_descriptor *const **out,
                    uint32_t *count);

/** A plugin name: 1-32 characters of [a-z0-9_-] (NULL is not one). */
bool valid_plugin_name(const char *name);

/** Most descriptors the registry reads from one bundle: a larger count is taken for garbage and refused. */
constexpr uint32_t kMaxBundle = 256;

/** Human name of a CLONE_NEW* flag ("CLONE_NEWUTS"), or "0" / "0x..." */
std::string clone_flag_name(uint64_t flag);

class Registry {
 public:
  /** `dirs` in search order; see default_dirs(). */
  explicit Registry(std::vector<std::string> dirs);

  /**
   * The search order: each --plugin-dir, then each entry of NSRIG_PLUGIN_PATH
   * (colon-separated), then the install dir next to the executable
   * (<exe>/../lib/nsrig/plugins) and the configured install prefix.
   */
  static std::vector<std::string> default_dirs(const std::vector<std::string> &cli_dirs);

  /**
   * Loads the plugin named `name` from the first `<dir>/<name>.so` in search
   * order (already loaded: returns it). Throws nsrig::Error naming the file
   * and the reason, or the directories searched when no file exists.
   */
  const Plugin &load(const std::string &name);

  /**
   * Loads one file and checks it. A bundle (a file exporting
   * NSRIG_BUNDLE_SYMBOL, usually reached through a NAME.so symlink) gives the
   * descriptor named `expected_name`, or the file's name without ".so" when
   * that is empty; dlopen(3) maps the file once for all its names. Refused
   * (nsrig::Error naming the file and the
   * reason): not a regular file; unsafe ownership or permissions of the file or
   * any directory above it when running as root; dlopen
   * failure (dlerror text), no entry point, a bundle without that name (the
   * message lists the names it has), ABI version refused or not
   * offered, descriptor smaller than NSRIG_DESCRIPTOR_V1_MIN_SIZE, missing or
   * malformed name, a name other than `expected_name` (when given), a name
   * already loaded, a clone flag already owned.
   */
  const Plugin &load_file(const std::string &path, const std::string &expected_name = "");

  /**
   * Every `*.so` in the search dirs: the first per file name in search order
   * (the one load() would take), sorted by file name. Opens no file.
   */
  std::vector<std::string> discover() const;

  const std::vector<std::string> &dirs() const { return dirs_; }
  const std::vector<std::unique_ptr<Plugin>> &loaded() const { return loaded_; }

 private:
  std::vector<std::string> dirs_;
  std::vector<std::unique_ptr<Plugin>> loaded_;
  std::vector<std::string> trusted_dirs_;  ///< directories whose ownership was checked, up to /
  std::vector<std::pair<std::string, std::string>> real_dirs_;  ///< directory as searched -> its real path
};

}  // namespace nsrig
