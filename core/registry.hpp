// Plugin registry: finds plugin files, loads them with Boost.DLL, negotiates
// the ABI and checks descriptors. Loaded libraries stay mapped for the
// registry's lifetime, which outlives every instance (and so every plugin
// state) created from it.
#pragma once

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
  boost::dll::shared_library lib;    ///< keeps the code mapped
  nsrig_plugin_descriptor desc{};    ///< copy, members past the plugin's struct_size zeroed
  std::vector<std::string> after;    ///< desc.after, copied
  std::vector<std::string> before;   ///< desc.before, copied
  std::string name() const { return desc.name; }
};

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
   * Loads one file and checks it. Refused (nsrig::Error naming the file and the
   * reason): not a regular file; unsafe ownership or permissions of the file or
   * any directory above it when running as root; dlopen
   * failure (dlerror text), no entry point, ABI version refused or not
   * offered, descriptor smaller than NSRIG_DESCRIPTOR_V1_MIN_SIZE, missing or
   * malformed name, a name other than `expected_name` (when given), a name
   * already loaded, a clone flag already owned.
   */
  const Plugin &load_file(const std::string &path, const std::string &expected_name = "");

  /** Every `*.so` in the search dirs: the first per file name, once per real file, sorted by file name. */
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
