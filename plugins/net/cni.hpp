// CNI for the net plugin's mode = "cni": runs a network configuration list
// the way the CNI spec 1.0 says (SPEC.md "Execution of Network
// Configurations"): ADD for each plugin in order, each given the previous
// result as prevResult; DEL for each plugin in reverse order, also after an
// ADD that failed half-way. Plugins are programs found in CNI_PATH; their
// config arrives on stdin, their result on stdout (JSON).
#pragma once

#include <string>
#include <vector>

namespace cni {

struct List {
  std::string file;   ///< the .conflist it came from
  std::string text;   ///< its JSON
  std::string name;   ///< "name"
  std::vector<std::string> types;  ///< each plugin's "type", in order
};

/** Reads and checks a network configuration list; throws std::runtime_error naming the file and the problem. */
List load(const std::string &file);

/**
 * Runs ADD for every plugin in order with CNI_NETNS=`netns`; returns the last
 * result (JSON). Throws std::runtime_error with the plugin's own error
 * message ("msg", "details") on the first failure.
 */
std::string add(const List &l, const std::string &container_id, const std::string &netns, const std::string &ifname,
                const std::string &cni_path);

/** Runs DEL for every plugin in reverse order; errors are collected and returned ("" when none). */
std::string del(const List &l, const std::string &container_id, const std::string &netns, const std::string &ifname,
                const std::string &cni_path, const std::string &prev_result);

/** The "ips[].address" entries of a CNI result. */
std::vector<std::string> addresses(const std::string &result);

}  // namespace cni
