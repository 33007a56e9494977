// Writes whole lines with one write(2) so lines from different loops never interleave.
#include "util/log.hpp"

#include <unistd.h>

#include <string>

namespace ssechat::log {
namespace {
void emit(std::string_view level, std::string_view msg) {
    std::string line;
    line.reserve(level.size() + msg.size() + 2);
    line.append(level).append(msg).push_back('\n');
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}
}  // namespace

void info(std::string_view msg) {
    emit("info: ", msg);
}
void warn(std::string_view msg) {
    emit("warn: ", msg);
}
void error(std::string_view msg) {
    emit("error: ", msg);
}

}  // namespace ssechat::log
