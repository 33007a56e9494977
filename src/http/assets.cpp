// Asset lookup: content types by extension, ETags by content hash, and a --web-root that
// cannot be walked out of.
#include "http/assets.hpp"

#include <fstream>
#include <sstream>

namespace ssechat::assets {

namespace {

std::string type_of(std::string_view path) {
    auto dot = path.rfind('.');
    std::string_view ext = dot == std::string_view::npos ? "" : path.substr(dot);
    if (ext == ".html") return "text/html; charset=utf-8";
    if (ext == ".js") return "text/javascript; charset=utf-8";
    if (ext == ".css") return "text/css; charset=utf-8";
    if (ext == ".svg") return "image/svg+xml";
    if (ext == ".png") return "image/png";
    if (ext == ".ico") return "image/x-icon";
    if (ext == ".json") return "application/json";
    return "application/octet-stream";
}

std::string etag_of(std::string_view body) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a: a cache validator, not a security check
    for (unsigned char c : body) h = (h ^ c) * 1099511628211ull;
    char buf[24];
    std::snprintf(buf, sizeof buf, "\"%016llx\"", static_cast<unsigned long long>(h));
    return buf;
}

bool safe_name(std::string_view p) {
    // One level of plain names: no "..", no hidden files, no separators beyond the first.
    if (p.size() < 2 || p[0] != '/' || p[1] == '.') return false;
    for (char c : p.substr(1))
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
            return false;
    return p.find("..") == std::string_view::npos;
}

}  // namespace

std::optional<File> lookup(std::string_view path, const std::string& root) {
    if (path == "/") path = "/index.html";
    if (!safe_name(path)) return std::nullopt;
    if (!root.empty()) {
        std::ifstream f(root + std::string(path), std::ios::binary);
        if (!f) return std::nullopt;
        std::stringstream ss;
        ss << f.rdbuf();
        File out{type_of(path), {}, ss.str()};
        out.etag = etag_of(out.body);
        return out;
    }
    // Hashing once per file at first use keeps start-up free of it.
    static const std::vector<File> files = [] {
        std::vector<File> v;
        for (const auto& e : embedded())
            v.push_back({type_of(e.path), etag_of(e.body), std::string(e.body)});
        return v;
    }();
    const auto& list = embedded();
    for (size_t i = 0; i < list.size(); ++i)
        if (list[i].path == path) return files[i];
    return std::nullopt;
}

}  // namespace ssechat::assets
