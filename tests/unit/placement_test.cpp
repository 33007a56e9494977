// Room placement over shards: the published functions (FNV-1a 64, jump consistent hash), so
// that another tool computing a room's shard gets the same answer. The expected values come
// from an independent implementation of both (the papers' reference code, in Python).
#include "util/placement.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace ssechat::placement;

TEST(Placement, Fnv1aIsTheStandard64BitHash) {
    EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
    EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
    EXPECT_EQ(fnv1a64("general"), 0x9e275796a0d9a90bull);
    EXPECT_EQ(fnv1a64("dm:alice:bob"), 0x6e64c457cdf20011ull);
}

TEST(Placement, JumpHashMatchesTheReferenceCode) {
    EXPECT_EQ(jump_hash(0, 2), 0u);
    EXPECT_EQ(jump_hash(1, 2), 0u);
    EXPECT_EQ(jump_hash(123456789, 10), 7u);
    EXPECT_EQ(jump_hash(0xffffffffffffffffull, 1000), 313u);
    // room -> shard among 1, 2, 3, 5 and 64 shards
    struct Case {
        const char* room;
        uint32_t at[5];
    };
    for (const Case& c :
         {Case{"", {0, 1, 1, 1, 17}}, Case{"a", {0, 1, 2, 2, 31}}, Case{"general", {0, 1, 1, 1, 6}},
          Case{"room-1", {0, 1, 2, 2, 11}}, Case{"room-2", {0, 0, 2, 2, 2}},
          Case{"room-3", {0, 0, 0, 4, 63}}, Case{"dm:alice:bob", {0, 1, 2, 2, 17}}}) {
        const uint32_t n[] = {1, 2, 3, 5, 64};
        for (size_t i = 0; i < 5; ++i) EXPECT_EQ(shard_of(c.room, n[i]), c.at[i]) << c.room;
    }
}

TEST(Placement, AddingAShardMovesAboutOneInNAndOnlyToTheNewShard) {
    const int rooms = 10000;
    for (uint32_t n = 1; n < 8; ++n) {
        int moved = 0;
        for (int i = 0; i < rooms; ++i) {
            std::string room = "room-" + std::to_string(i);
            uint32_t before = shard_of(room, n), after = shard_of(room, n + 1);
            if (before != after) {
                ++moved;
                EXPECT_EQ(after, n) << room << " moved between old shards";
            }
        }
        // 1/(n+1) of them, within a few percent.
        double share = static_cast<double>(moved) / rooms;
        EXPECT_NEAR(share, 1.0 / (n + 1), 0.03) << n << " to " << n + 1;
    }
}
