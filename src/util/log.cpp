// spdlog with one stderr sink. The JSON format escapes through Boost.JSON, so a message or a
// field can never break a line or the object.
#include "util/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace ssechat::log {

namespace {

std::atomic<bool> json_{false};

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> l = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto lg = std::make_shared<spdlog::logger>("ssechat", sink);
        lg->set_formatter(std::make_unique<spdlog::pattern_formatter>(
            "%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
        lg->set_level(spdlog::level::info);
        lg->flush_on(spdlog::level::trace);  // stderr: every line at once, even at a crash
        return lg;
    }();
    return *l;
}

std::string text_line(std::string_view msg, const Fields& f) {
    std::string out(msg);
    for (const auto& [k, v] : f) {
        out.append(" ").append(k).append("=");
        bool quote = v.empty() || v.find_first_of(" \"=\n") != std::string::npos;
        if (quote)
            out.append(boost::json::serialize(boost::json::string(v)));
        else
            out.append(v);
    }
    return out;
}

std::string json_body(std::string_view msg, const Fields& f) {
    // The pattern supplies {"ts":..,"level":.., and the closing brace.
    std::string out = "\"msg\":" + boost::json::serialize(boost::json::string(msg));
    for (const auto& [k, v] : f)
        out.append(",\"").append(k).append("\":").append(
            boost::json::serialize(boost::json::string(v)));
    return out;
}

void emit(spdlog::level::level_enum lv, std::string_view msg, const Fields& f) {
    auto& l = logger();
    if (!l.should_log(lv)) return;
    l.log(lv, json_ ? json_body(msg, f) : text_line(msg, f));
}

}  // namespace

bool setup(std::string_view level, bool json) {
    auto lv = spdlog::level::from_str(std::string(level));
    if (lv == spdlog::level::off && level != "off") return false;
    auto& l = logger();
    l.set_level(lv);
    json_ = json;
    l.set_formatter(std::make_unique<spdlog::pattern_formatter>(
        json ? R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})" : "%Y-%m-%dT%H:%M:%S.%eZ %l %v",
        spdlog::pattern_time_type::utc));
    return true;
}

std::string line(std::string_view level, std::string_view msg, const Fields& f) {
    if (!json_) return std::string(msg);
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char ts[80];
    std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms.count() % 1000));
    return std::string(R"({"ts":")") + ts + R"(","level":)" +
           boost::json::serialize(boost::json::string(level)) + "," + json_body(msg, f) + "}";
}

bool enabled_debug() {
    return logger().should_log(spdlog::level::debug);
}

void debug(std::string_view msg, const Fields& f) {
    emit(spdlog::level::debug, msg, f);
}
void info(std::string_view msg, const Fields& f) {
    emit(spdlog::level::info, msg, f);
}
void warn(std::string_view msg, const Fields& f) {
    emit(spdlog::level::warn, msg, f);
}
void error(std::string_view msg, const Fields& f) {
    emit(spdlog::level::err, msg, f);
}
void access(const Fields& f) {
    emit(spdlog::level::info, "request", f);
}

}  // namespace ssechat::log
