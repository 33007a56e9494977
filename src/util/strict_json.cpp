// A Boost.JSON SAX handler that records the keys of every open object, so a repeat is seen
// at any depth without building a value.
#include "util/strict_json.hpp"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <string>
#include <vector>

namespace ssechat::strict_json {

namespace {

struct Handler {
    constexpr static std::size_t max_object_size = std::size_t(-1);
    constexpr static std::size_t max_array_size = std::size_t(-1);
    constexpr static std::size_t max_key_size = std::size_t(-1);
    constexpr static std::size_t max_string_size = std::size_t(-1);
    std::vector<std::vector<std::string>> objects;  // keys seen in each open object
    std::string key;
    bool found = false;
    using ec_t = boost::json::error_code;
    using sv = boost::json::string_view;
    bool on_document_begin(ec_t&) { return true; }
    bool on_document_end(ec_t&) { return true; }
    bool on_array_begin(ec_t&) { return true; }
    bool on_array_end(std::size_t, ec_t&) { return true; }
    bool on_object_begin(ec_t&) { return objects.emplace_back(), true; }
    bool on_object_end(std::size_t, ec_t&) { return objects.pop_back(), true; }
    bool on_string_part(sv, std::size_t, ec_t&) { return true; }
    bool on_string(sv, std::size_t, ec_t&) { return true; }
    bool on_key_part(sv s, std::size_t, ec_t&) { return key.append(s.data(), s.size()), true; }
    bool on_key(sv s, std::size_t, ec_t&) {
        key.append(s.data(), s.size());
        auto& keys = objects.back();
        if (std::find(keys.begin(), keys.end(), key) != keys.end()) found = true;
        keys.push_back(std::move(key));
        key.clear();
        return true;
    }
    bool on_number_part(sv, ec_t&) { return true; }
    bool on_int64(int64_t, sv, ec_t&) { return true; }
    bool on_uint64(uint64_t, sv, ec_t&) { return true; }
    bool on_double(double, sv, ec_t&) { return true; }
    bool on_bool(bool, ec_t&) { return true; }
    bool on_null(ec_t&) { return true; }
    bool on_comment_part(sv, ec_t&) { return true; }
    bool on_comment(sv, ec_t&) { return true; }
};

}  // namespace

bool duplicate_keys(std::string_view json) {
    boost::json::parse_options opt;
    opt.max_depth = 64;
    boost::json::basic_parser<Handler> p{opt};
    boost::json::error_code ec;
    p.write_some(false, json.data(), json.size(), ec);
    return p.handler().found;
}

}  // namespace ssechat::strict_json
