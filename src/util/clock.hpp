// Wall-clock time as every stored timestamp has it: unix milliseconds.
#pragma once
#include <chrono>
#include <cstdint>

namespace ssechat {

inline int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace ssechat
