#include "cni.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

using nlohmann::json;

namespace cni {
namespace {

// Finds `type` in the colon-separated CNI_PATH.
std::string find_plugin(const std::string &type, const std::string &path) {
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = std::min(path.find(':', start), path.size());
    std::string f = path.substr(start, end - start) + "/" + type;
    if (end > start && access(f.c_str(), X_OK) == 0) return f;
    start = end + 1;
  }
  throw std::runtime_error("CNI plugin '" + type + "' not found in CNI_PATH " + path +
                           " (Debian: apt-get install containernetworking-plugins)");
}

struct Out {
  int status;
  std::string out;
};

// Runs one plugin: config on stdin, the CNI_* variables as its environment, stdout collected.
Out exec_plugin(const std::string &bin, const std::vector<std::string> &env, const std::string &config) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    std::vector<char *> envp;
    for (auto &e : env) envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);
    char *argv[] = {const_cast<char *>(bin.c_str()), nullptr};
    execve(bin.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  ssize_t w = write(in[1], config.data(), config.size());  // small: fits the pipe
  (void)w;
  close(in[1]);
  Out o{};
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) o.out.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  o.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return o;
}

std::vector<std::string> base_env(const char *command, const std::string &id, const std::string &netns,
                                  const std::string &ifname, const std::string &path) {
  return {std::string("CNI_COMMAND=") + command, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + netns,
          "CNI_IFNAME=" + ifname, "CNI_PATH=" + path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
}

std::string plugin_error(const std::string &type, const Out &o) {
  std::string msg = "exit status " + std::to_string(o.status);
  try {
    json e = json::parse(o.out);
    msg = e.value("msg", msg);
    if (e.contains("details")) msg += " (" + e["details"].get<std::string>() + ")";
  } catch (...) {
  }
  return "CNI plugin '" + type + "': " + msg;
}

json plugin_config(const json &list, size_t i, const json *prev) {
  json c = list["plugins"][i];
  c["name"] = list["name"];
  c["cniVersion"] = list["cniVersion"];
  if (prev) c["prevResult"] = *prev;
  return c;
}

}  // namespace

List load(const std::string &file) {
  List l;
  l.file = file;
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  ssize_t n = 0;
  char buf[4096];
  while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) l.text.append(buf, static_cast<size_t>(n));
  int e = errno;
  if (fd >= 0) close(fd);
  if (fd < 0 || n < 0)
    throw std::runtime_error("cannot read CNI network configuration list '" + file + "': " + std::strerror(e));
  try {
    json j = json::parse(l.text);
    l.name = j.at("name").get<std::string>();
    j.at("cniVersion").get<std::string>();
    for (auto &p : j.at("plugins")) l.types.push_back(p.at("type").get<std::string>());
    if (l.types.empty()) throw std::runtime_error("'plugins' is empty");
  } catch (const std::exception &e) {
    throw std::runtime_error("CNI list '" + file + "': " + e.what() + " (needs name, cniVersion and plugins[].type)");
  }
  return l;
}

std::string add(const List &l, const std::string &id, const std::string &netns, const std::string &ifname,
                const std::string &path) {
  json list = json::parse(l.text), prev;
  bool have_prev = false;
  for (size_t i = 0; i < l.types.size(); ++i) {
    std::string bin = find_plugin(l.types[i], path);
    Out o = exec_plugin(bin, base_env("ADD", id, netns, ifname, path), plugin_config(list, i, have_prev ? &prev : nullptr).dump());
    if (o.status != 0) throw std::runtime_error(plugin_error(l.types[i], o));
    try {
      prev = json::parse(o.out);
      have_prev = true;
    } catch (const std::exception &e) {
      throw std::runtime_error("CNI plugin '" + l.types[i] + "' printed no JSON result: " + e.what());
    }
  }
  return prev.dump();
}

std::string del(const List &l, const std::string &id, const std::string &netns, const std::string &ifname,
                const std::string &path, const std::string &prev_result) {
  json list = json::parse(l.text);
  json prev = prev_result.empty() ? json() : json::parse(prev_result);
  std::string errors;
  for (size_t i = l.types.size(); i-- > 0;) {
    try {
      std::string bin = find_plugin(l.types[i], path);
      Out o = exec_plugin(bin, base_env("DEL", id, netns, ifname, path),
                          plugin_config(list, i, prev.is_null() ? nullptr : &prev).dump());
      if (o.status != 0) errors += (errors.empty() ? "" : "; ") + plugin_error(l.types[i], o);
    } catch (const std::exception &e) {
      errors += (errors.empty() ? "" : "; ") + std::string(e.what());
    }
  }
  return errors;
}

std::vector<std::string> addresses(const std::string &result) {
  std::vector<std::string> out;
  try {
    for (auto &ip : json::parse(result).value("ips", json::array())) out.push_back(ip.value("address", ""));
  } catch (...) {
  }
  return out;
}

}  // namespace cni
