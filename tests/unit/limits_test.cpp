// Limits: the connection/stream counter and the publish token bucket.
#include "http/limits.hpp"

#include <gtest/gtest.h>

using namespace ssechat::limits;
using namespace std::chrono_literals;

TEST(Limits, CounterCapsPerKeyAndTotalAndFreesOnRelease) {
    Counter c(3, 2);
    Ticket a1, a2, a3, b1, b2;
    EXPECT_EQ(c.admit("a", a1), Counter::Admit::Ok);
    EXPECT_EQ(c.admit("a", a2), Counter::Admit::Ok);
    EXPECT_EQ(c.admit("a", a3), Counter::Admit::PerKey);
    EXPECT_EQ(c.admit("b", b1), Counter::Admit::Ok);
    EXPECT_EQ(c.admit("b", b2), Counter::Admit::Total);
    EXPECT_EQ(c.total(), 3u);
    Ticket copy = a1;  // a stream keeps a copy of its connection's ticket
    a1.reset();
    EXPECT_EQ(c.total(), 3u);
    copy.reset();
    EXPECT_EQ(c.total(), 2u);
    EXPECT_EQ(c.admit("a", a3), Counter::Admit::Ok);
}

TEST(Limits, ZeroMeansNoLimit) {
    Counter c(0, 0);
    std::vector<Ticket> t(100);
    for (auto& x : t) EXPECT_EQ(c.admit("k", x), Counter::Admit::Ok);
}

TEST(Limits, TokenBucketBurstThenRate) {
    RateLimiter r(10, 5);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) EXPECT_EQ(r.take("u", t0), 0) << i;
    double wait = r.take("u", t0);
    EXPECT_GT(wait, 0.0);
    EXPECT_LE(wait, 0.1 + 1e-9);
    EXPECT_EQ(r.take("other", t0), 0);      // per user
    EXPECT_EQ(r.take("u", t0 + 100ms), 0);  // one token back after 1/rate
    EXPECT_GT(r.take("u", t0 + 100ms), 0.0);
    RateLimiter off(0, 0);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(off.take("u", t0), 0);
}

TEST(Limits, RateLimiterWorkPerCallAndMemoryStayBounded) {
    // Anonymous ids are free to make: 150,000 users each publish once. The old sweep walked
    // every bucket on every call past 100,000 of them.
    RateLimiter r(20, 40);  // an empty bucket refills in 2 s; a generation lasts 3 s
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 150000; ++i) EXPECT_EQ(r.take("u" + std::to_string(i), t0), 0);
    EXPECT_EQ(r.size(), 150000u);
    EXPECT_LE(r.last_swept(), 64u);
    // A bucket emptied just before a rotation is still empty just after it.
    for (int i = 0; i < 41; ++i) r.take("spammer", t0 + 3000ms);
    r.take("x", t0 + 3005ms);  // rotation: the 150,000 become the previous generation
    EXPECT_GT(r.take("spammer", t0 + 3010ms), 0);
    // One generation later they are full, hence dropped: 64 per call at most.
    r.take("y", t0 + 6100ms);
    EXPECT_EQ(r.last_swept(), 0u);  // the rotation itself frees nothing
    size_t calls = 0, most = 0;
    while (r.size() > calls + 10 && calls < 10000) {
        r.take("z" + std::to_string(calls++), t0 + 6101ms);
        most = std::max(most, r.last_swept());
    }
    EXPECT_LE(most, 64u);
    EXPECT_LE(r.size(), calls + 10) << "dropped generation not freed after " << calls << " calls";
    EXPECT_GE(calls, 150000u / 64 - 10);  // freed piecemeal, not in one call
}
