#include "state.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "error.hpp"
#include "instance.hpp"
#include "profile.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace nsrig {

std::string instance_dir(const std::string &name) { return state_base() + "/" + name; }

bool valid_instance_name(const std::string &n) {
  return !n.empty() && n.size() <= 32 && n[0] != '-' && n[0] != '_' &&
         n.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

uint64_t process_start_time(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), {});
  size_t close = s.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    // A zombie has ended: whoever adopted it may take a while to reap it.
    if (i == 3 && (field == "Z" || field == "X")) return 0;
    if (i == 22) return std::stoull(field);
  }
  return 0;
}

bool same_process(pid_t pid, uint64_t start) { return pid > 0 && start && process_start_time(pid) == start; }

std::string state_json(const InstanceState &s, int indent) {
  json j = {{"name", s.name},
            {"id", s.name},
            {"profiles", s.profiles},
            {"profile_hash", s.profile_hash},
            {"command", s.command},
            {"cwd", s.cwd},
            {"env", s.env},
            {"supervisor_pid", s.supervisor_pid},
            {"supervisor_start", s.supervisor_start},
            {"pid", s.pid},
            {"pid_start", s.pid_start},
            {"started_at_us", s.started_at_us},
            {"clone_flags", s.clone_flags},
            {"namespaces", s.namespaces},
            {"facts", s.facts},
            {"status", s.status},
            {"exit_status", s.exit_status ? json(*s.exit_status) : json(nullptr)},
            {"keep", s.keep}};
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

void write_state(const InstanceState &s) {
  std::string dir = instance_dir(s.name), tmp = dir + "/state.json.tmp", dst = dir + "/state.json";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << state_json(s) << '\n';
    if (!f) throw Error(errno_text("write '" + tmp + "'"));
  }
  if (rename(tmp.c_str(), dst.c_str()) != 0) throw Error(errno_text("rename('" + tmp + "')"));
}

InstanceState read_state(const std::string &name) {
  std::string file = instance_dir(name) + "/state.json";
  std::ifstream f(file);
  if (!f) {
    auto names = list_instances();
    throw Error("no instance named '" + name + "'" + did_you_mean(name, names) + " (nsrig ps lists them)");
  }
  InstanceState s;
  try {
    json j = json::parse(f);
    s.name = j.at("name");
    s.profiles = j.value("profiles", std::vector<std::string>{});
    s.profile_hash = j.value("profile_hash", "");
    s.command = j.value("command", std::vector<std::string>{});
    s.cwd = j.value("cwd", "");
    s.env = j.value("env", std::vector<std::string>{});
    s.supervisor_pid = j.value("supervisor_pid", 0);
    s.supervisor_start = j.value("supervisor_start", uint64_t{0});
    s.pid = j.value("pid", 0);
    s.pid_start = j.value("pid_start", uint64_t{0});
    s.started_at_us = j.value("started_at_us", int64_t{0});
    s.clone_flags = j.value("clone_flags", uint64_t{0});
    s.namespaces = j.value("namespaces", std::map<std::string, uint64_t>{});
    s.facts = j.value("facts", std::map<std::string, std::string>{});
    s.status = j.value("status", "created");
    if (j.contains("exit_status") && !j["exit_status"].is_null()) s.exit_status = j["exit_status"].get<int>();
    s.keep = j.value("keep", false);
  } catch (const json::exception &e) {
    throw Error(file + ": unreadable instance state (" + e.what() + "); remove it with nsrig rm -f " + name);
  }
  // After a reboot or a killed supervisor nothing runs any more, whatever the file says.
  if (s.status != "stopped" && !same_process(s.supervisor_pid, s.supervisor_start)) {
    s.status = "stopped";
    s.stale = true;
  }
  return s;
}

std::vector<std::string> list_instances() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto &e : fs::directory_iterator(state_base(), ec))
    if (fs::exists(e.path() / "state.json", ec)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

InstanceLock::InstanceLock(const std::string &name) {
  std::string lock = instance_dir(name) + "/lock";
  fd_ = open(lock.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(errno_text("open('" + lock + "')"));
  if (flock(fd_, LOCK_EX) != 0) throw Error(errno_text("flock('" + lock + "')"));
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace nsrig
