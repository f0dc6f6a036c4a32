#include "log.hpp"

#include <boost/core/null_deleter.hpp>
#include <boost/date_time/posix_time/posix_time.hpp>
#include <boost/log/attributes/clock.hpp>
#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/log/sinks/text_ostream_backend.hpp>
#include <boost/log/sources/record_ostream.hpp>
#include <boost/log/sources/severity_logger.hpp>
#include <boost/make_shared.hpp>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>

#include "error.hpp"

namespace nsrig::log {
namespace bl = boost::log;

namespace {

constexpr const char *kNames[] = {"trace", "debug", "info", "warning", "error"};
Level g_level = Level::warning;
Format g_format = Format::text;

bl::sources::severity_logger<Level> &logger() {
  static bl::sources::severity_logger<Level> lg;
  return lg;
}

void format_record(const bl::record_view &rec, bl::formatting_ostream &out) {
  auto sev = bl::extract<Level>("Severity", rec);
  auto ts = bl::extract<boost::posix_time::ptime>("TimeStamp", rec);
  auto msg = bl::extract<std::string>("Message", rec);
  const char *level = sev ? kNames[static_cast<int>(*sev)] : "info";
  std::string when = ts ? boost::posix_time::to_iso_extended_string(*ts) + "Z" : "";
  if (g_format == Format::json) {
    nlohmann::json j = {{"ts", when}, {"level", level}, {"msg", msg ? *msg : ""}};
    out << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else {
    out << "nsrig " << when << ' ' << level << ": " << (msg ? *msg : "");
  }
}

// The Boost.Log core and the stderr sink, made on the first record that is
// written: most runs write none, and setting them up is a few hundred
// microseconds of every process start (docs/benchmarks.md).
bool g_sink_ready = false;

void make_sink() {
  auto core = bl::core::get();
  core->remove_all_sinks();
  core->add_global_attribute("TimeStamp", bl::attributes::utc_clock());  // no-op when present
  auto backend = boost::make_shared<bl::sinks::text_ostream_backend>();
  backend->add_stream(boost::shared_ptr<std::ostream>(&std::cerr, boost::null_deleter()));
  backend->auto_flush(true);
  auto sink = boost::make_shared<bl::sinks::synchronous_sink<bl::sinks::text_ostream_backend>>(backend);
  sink->set_formatter(&format_record);
  core->add_sink(sink);
  g_sink_ready = true;
}

}  // namespace

void init(Level level, Format format) {
  g_level = level;
  g_format = format;
}

Level parse_level(std::string_view s) {
  for (int i = 0; i < 5; ++i)
    if (s == kNames[i]) return static_cast<Level>(i);
  throw Error("unknown log level '" + std::string(s) + "': use trace, debug, info, warning or error");
}

bool enabled(Level level) { return level >= g_level; }

void write(Level level, const std::string &msg) {
  if (!enabled(level)) return;
  if (!g_sink_ready) make_sink();
  BOOST_LOG_SEV(logger(), level) << msg;
}

}  // namespace nsrig::log

namespace nsrig {
std::string errno_text(const std::string &what) {
  int e = errno;
  return what + ": " + std::strerror(e);
}

std::vector<char *> c_strings(const std::vector<std::string> &v) {
  std::vector<char *> out;
  for (auto &s : v) out.push_back(const_cast<char *>(s.c_str()));
  out.push_back(nullptr);
  return out;
}
}  // namespace nsrig
