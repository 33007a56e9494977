// A Redis hash as HGETALL answers it, and reading its fields: the accounts' and the webhooks'
// stores both keep their records as hashes.
#pragma once
#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/redis/redis_conn.hpp"
#include "util/text.hpp"

namespace ssechat::store {

using Fields = std::vector<std::pair<std::string, std::string>>;

// An HGETALL reply's field-value pairs; empty for a missing hash (or another reply).
inline Fields fields_of(const redisReply* r) {
    Fields f;
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < r->elements; i += 2)
            f.emplace_back(reply_string(r->element[i]), reply_string(r->element[i + 1]));
    return f;
}

inline const std::string* field(const Fields& f, std::string_view name) {
    for (const auto& [k, v] : f)
        if (k == name) return &v;
    return nullptr;
}

inline std::string str(const Fields& f, std::string_view name) {
    const std::string* v = field(f, name);
    return v ? *v : std::string();
}

// A decimal field; 0 when missing or not a number.
inline int64_t num(const Fields& f, std::string_view name) {
    const std::string* v = field(f, name);
    if (!v) return 0;
    auto n = text::parse_u64(*v);
    return n ? static_cast<int64_t>(*n) : 0;
}

// The field of a log cursor on store shard `shard` in a hash that keeps one per shard (a
// webhook, the push state): "k" for the first, as before shards, then "k1", "k2"...
inline std::string cursor_field(size_t shard) {
    return shard == 0 ? "k" : "k" + std::to_string(shard);
}

}  // namespace ssechat::store
