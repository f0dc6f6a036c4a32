// Logging through Boost.Log: one process-wide logger, text or JSON on stderr.
#pragma once

#include <string>
#include <string_view>

namespace nsrig::log {

enum class Level { trace = 0, debug = 1, info = 2, warning = 3, error = 4 };
enum class Format { text, json };

/**
 * Sets the minimum severity shown and the format of the stderr sink; records
 * below `level` are filtered before any formatting work. The sink itself is
 * made on the first record written (most runs write none). Text lines look
 * like `nsrig 2026-11-29T18:22:35.123456 warning: message`; JSON lines carry
 * `ts` (ISO 8601, microseconds), `level`, `msg`. Safe to call again. Not
 * thread-safe before the first record: nsrig logs from one thread.
 */
void init(Level level, Format format);

/** Parses "trace|debug|info|warning|error"; throws nsrig::Error otherwise. */
Level parse_level(std::string_view s);

/** True when records at `level` would be written (checks before formatting). */
bool enabled(Level level);

/** Writes one record. */
void write(Level level, const std::string &msg);

inline void debug(const std::string &m) { if (enabled(Level::debug)) write(Level::debug, m); }
inline void info(const std::string &m) { if (enabled(Level::info)) write(Level::info, m); }
inline void warning(const std::string &m) { write(Level::warning, m); }
inline void error(const std::string &m) { write(Level::error, m); }

}  // namespace nsrig::log
