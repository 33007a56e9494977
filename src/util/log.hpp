// Leveled logging through spdlog: one line per call, RFC 3339 UTC timestamps, text or JSON,
// safe across threads. Every caller goes through these functions, so the format is decided
// in one place.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ssechat::log {

// Extra key/value pairs: after the message in text ("k=v"), fields of the object in JSON.
using Fields = std::vector<std::pair<std::string_view, std::string>>;

// Sets the level (trace, debug, info, warn, error, off) and the format (text or json).
// Before it is called, lines go out as text at info. False for an unknown level.
bool setup(std::string_view level, bool json);
bool enabled_debug();

void debug(std::string_view msg, const Fields& f = {});
void info(std::string_view msg, const Fields& f = {});
void warn(std::string_view msg, const Fields& f = {});
void error(std::string_view msg, const Fields& f = {});

// The same line as info() would write, for the access log, which has its own switch.
void access(const Fields& f);

// A line for the process's own stdout or stderr outside the logger (the listening banner, a
// startup error): `msg` itself in text mode, which is what the seed prints; in JSON mode the
// same record the logger writes ({"ts","level","msg",fields}), so that a pipeline reading
// both streams as JSON never meets a plain line.
std::string line(std::string_view level, std::string_view msg, const Fields& f = {});

}  // namespace ssechat::log
