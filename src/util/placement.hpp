// Where a room lives among the store's shards: jump consistent hash (Lamping and Veach, 2014)
// of the 64-bit FNV-1a hash of its name. Both are small, public and fixed, so that any other
// tool (a migration script, a dashboard) can compute a room's shard from its name alone, and
// adding a shard moves only about 1/N of the rooms.
#pragma once
#include <cstdint>
#include <string_view>

namespace ssechat::placement {

// FNV-1a, 64 bits, over the bytes of `s`.
constexpr uint64_t fnv1a64(std::string_view s) {
    uint64_t h = 14695981039346656037ull;
    for (char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

// The bucket in [0, buckets) of `key`, as the paper's reference code computes it. `buckets`
// must be at least 1.
constexpr uint32_t jump_hash(uint64_t key, uint32_t buckets) {
    int64_t b = -1, j = 0;
    while (j < static_cast<int64_t>(buckets)) {
        b = j;
        key = key * 2862933555777941757ull + 1;
        j = static_cast<int64_t>(
            static_cast<double>(b + 1) *
            (static_cast<double>(int64_t{1} << 31) / static_cast<double>((key >> 33) + 1)));
    }
    return static_cast<uint32_t>(b);
}

// The shard of a room (or of a user's data, by the user's id) among `shards`.
constexpr uint32_t shard_of(std::string_view name, uint32_t shards) {
    return shards <= 1 ? 0 : jump_hash(fnv1a64(name), shards);
}

}  // namespace ssechat::placement
