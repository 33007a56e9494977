// A webhook's room list as the stores keep it: the names joined by newlines (a room name has
// none). SQLite keeps it in a column (NULL for every room), Redis in a hash field.
#pragma once
#include <string>
#include <vector>

namespace ssechat::store {

inline std::string join_rooms(const std::vector<std::string>& rooms) {
    std::string out;
    for (const auto& r : rooms) out += (out.empty() ? "" : "\n") + r;
    return out;
}

inline std::vector<std::string> split_rooms(const std::string& all) {
    std::vector<std::string> out;
    for (size_t at = 0; at <= all.size();) {
        size_t nl = all.find('\n', at);
        if (nl == std::string::npos) nl = all.size();
        if (nl > at) out.push_back(all.substr(at, nl - at));
        at = nl + 1;
    }
    return out;
}

}  // namespace ssechat::store
