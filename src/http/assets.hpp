// The web page's files: compiled into the binary, or served from --web-root instead.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssechat::assets {

struct Embedded {
    std::string_view path;  // "/index.html"
    std::string_view body;
};
const std::vector<Embedded>& embedded();  // generated from web/ at build time

struct File {
    std::string type;  // Content-Type
    std::string etag;  // strong validator, a hash of the content
    std::string body;
};

// Serves "/" as "/index.html". From `root` when set (only plain file names under it), else
// from the embedded copies. nullopt when there is no such file.
std::optional<File> lookup(std::string_view path, const std::string& root);

}  // namespace ssechat::assets
