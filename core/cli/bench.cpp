// nsrig bench: spawn latency of one profile, as an operator measures it.
// The profile is loaded, planned and configured once; then each spawn runs
// the whole lifecycle (prepare ... teardown) in this process, as `nsrig run`
// does after loading. With --concurrency C, C forked workers spawn at once.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli.hpp"
#include "error.hpp"
#include "spawner.hpp"

namespace nsrig::cli {
namespace {

struct Sample {
  int64_t total_us;
  std::map<std::string, int64_t> phases;
};

// One worker's spawns; every sample is written to `out` as a JSON line.
void spawn_loop(Loaded &l, int n, int out, bool progress, int total, int offset) {
  for (int i = 0; i < n; ++i) {
    Timings t;
    auto start = std::chrono::steady_clock::now();
    int code = 0;
    std::string error;
    try {
      code = run(*l.inst, l.plan, &t);
    } catch (const Error &e) {  // a failed spawn is counted, and the first reason shown
      code = e.exit_code;
      error = e.what();
    }
    int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    nlohmann::json j = {{"us", us}, {"code", code}};
    if (!error.empty()) j["error"] = error;
    for (auto &[phase, v] : t) j["phases"][phase] = v;
    std::string line = j.dump() + "\n";
    if (write(out, line.data(), line.size()) < 0) return;
    if (progress) {
      int done = offset + i + 1, width = 40;
      std::fprintf(stderr, "\r[%-*s] %d/%d", width, std::string(static_cast<size_t>(width * done / total), '#').c_str(),
                   done, total);
    }
  }
}

int64_t percentile(std::vector<int64_t> v, double p) {
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int cmd_bench(const Options &o) {
  if (o.bench_n < 1 || o.concurrency < 1 || o.concurrency > o.bench_n)
    throw Error("need -n >= 1 and 1 <= --concurrency <= -n");
  Options opts = o;
  opts.command = {"/bin/true"};  // what is measured is the spawn, not a payload
  // Load and configure once here, so a bad profile fails before any worker starts.
  Loaded l(opts);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw Error(errno_text("pipe2"));
  bool progress = isatty(STDERR_FILENO) && o.format != "json";
  auto start = std::chrono::steady_clock::now();
  std::vector<pid_t> workers;
  int per = o.bench_n / o.concurrency, extra = o.bench_n % o.concurrency, offset = 0;
  for (int w = 0; w < o.concurrency; ++w) {
    int n = per + (w < extra ? 1 : 0);
    if (o.concurrency == 1) {
      spawn_loop(l, n, fds[1], progress, o.bench_n, 0);
      break;
    }
    pid_t pid = fork();
    if (pid < 0) throw Error(errno_text("fork of a bench worker"));
    if (pid == 0) {
      close(fds[0]);
      // Each worker is an instance of its own: plugins derive names (links, cgroups)
      // from the id in on_configure, so it loads and configures again under a new id.
      int code = 0;
      try {
        Loaded mine(opts);
        spawn_loop(mine, n, fds[1], progress && w == 0, n, 0);
      } catch (const Error &e) {
        std::string line = nlohmann::json({{"us", 0}, {"code", e.exit_code}, {"error", e.what()}}).dump() + "\n";
        ssize_t ignored = write(fds[1], line.data(), line.size());
        (void)ignored;
        code = e.exit_code;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    workers.push_back(pid);
    offset += n;
  }
  close(fds[1]);
  std::string data;
  char buf[65536];
  ssize_t r;
  while ((r = read(fds[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
    if (r > 0) data.append(buf, static_cast<size_t>(r));
  close(fds[0]);
  for (pid_t p : workers) waitpid(p, nullptr, 0);
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (progress) std::fprintf(stderr, "\n");

  std::vector<int64_t> totals;
  std::map<std::string, int64_t> phase_sum;
  int failures = 0;
  std::string first_error;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t nl = data.find('\n', pos);
    auto j = nlohmann::json::parse(data.substr(pos, nl - pos));
    pos = nl + 1;
    if (j["code"].get<int>() != 0) {
      ++failures;
      if (first_error.empty() && j.contains("error")) first_error = j["error"].get<std::string>();
      continue;  // latencies are of completed spawns only
    }
    totals.push_back(j["us"].get<int64_t>());
    if (j.contains("phases"))
      for (auto &[k, v] : j["phases"].items()) phase_sum[k] += v.get<int64_t>();
  }
  // A worker that died (a signal) never reported its spawns: they count as failed too.
  failures = std::max(failures, o.bench_n - static_cast<int>(totals.size()));
  if (!first_error.empty()) log::error("bench: " + std::to_string(failures) + " of " + std::to_string(o.bench_n) +
                                       " spawns failed; the first: " + first_error);
  if (totals.empty()) throw Error("no spawn completed" + (first_error.empty() ? "" : ": " + first_error));
  int64_t sum = 0;
  for (auto t : totals) sum += t;
  nlohmann::json out = {{"profiles", o.profiles},
                        {"spawns", totals.size()},
                        {"concurrency", o.concurrency},
                        {"failures", failures},
                        {"p50_us", percentile(totals, 0.50)},
                        {"p90_us", percentile(totals, 0.90)},
                        {"p99_us", percentile(totals, 0.99)},
                        {"max_us", *std::max_element(totals.begin(), totals.end())},
                        {"mean_us", sum / static_cast<int64_t>(totals.size())},
                        {"spawns_per_s", static_cast<double>(totals.size()) / wall_s}};
  for (auto &[k, v] : phase_sum) out["phase_mean_us"][k] = v / static_cast<int64_t>(totals.size());
  if (o.format == "json") {
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%zu spawns, concurrency %d, %d failed\n", totals.size(), o.concurrency, failures);
    std::printf("latency (us): p50 %lld  p90 %lld  p99 %lld  max %lld  mean %lld\n",
                (long long)out["p50_us"].get<int64_t>(), (long long)out["p90_us"].get<int64_t>(),
                (long long)out["p99_us"].get<int64_t>(), (long long)out["max_us"].get<int64_t>(),
                (long long)out["mean_us"].get<int64_t>());
    std::printf("throughput: %.1f spawns/s\nphases (mean us):", out["spawns_per_s"].get<double>());
    for (auto &[k, v] : out["phase_mean_us"].items()) std::printf(" %s %lld", k.c_str(), (long long)v.get<int64_t>());
    std::printf("\n");
  }
  return failures ? kExitOwnError : 0;
}

}  // namespace nsrig::cli
