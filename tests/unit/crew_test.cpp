#include "util/crew.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace ssechat {
namespace {

// The jobs of one run() overlap: each waits (up to 5 s) until all have started, which would
// time out if the crew ran them one after another.
TEST(Crew, RunsTheJobsAtOnceAndReturnsWhenAllAreDone) {
    Crew crew(2);
    for (int round = 0; round < 50; ++round) {
        std::mutex mu;
        std::condition_variable cv;
        int started = 0, met = 0;
        std::atomic<int> finished{0};
        std::vector<std::function<void()>> jobs;
        for (int k = 0; k < 3; ++k)
            jobs.emplace_back([&] {
                std::unique_lock lk(mu);
                ++started;
                cv.notify_all();
                if (cv.wait_for(lk, std::chrono::seconds(5), [&] { return started == 3; })) ++met;
                finished.fetch_add(1);
            });
        crew.run(jobs);
        EXPECT_EQ(finished.load(), 3) << "run() returned before every job was done";
        EXPECT_EQ(met, 3) << "round " << round << ": the jobs did not run at once";
    }
}

TEST(Crew, MoreJobsThanThreadsAllRun) {
    Crew crew(1);
    std::atomic<int> ran{0};
    std::vector<std::function<void()>> jobs(5, [&] { ran.fetch_add(1); });
    crew.run(jobs);
    EXPECT_EQ(ran.load(), 5);
    std::vector<std::function<void()>> none;
    crew.run(none);
    Crew empty(0);
    empty.run(jobs);
    EXPECT_EQ(ran.load(), 10);
}

}  // namespace
}  // namespace ssechat
