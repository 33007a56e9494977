// Minimal leveled logging to stderr; one line per call, safe across threads.
#pragma once
#include <string_view>

namespace ssechat::log {

void info(std::string_view msg);
void warn(std::string_view msg);
void error(std::string_view msg);

}  // namespace ssechat::log
