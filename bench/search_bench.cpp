// Search benchmark: a SQLite store with N messages (default 1,000,000) over 1,000 rooms, each
// message a few words from a 20,000-word vocabulary with Zipf-like frequencies, appended
// through the store in batches as the writer would; then searches of several shapes, each run
// a bounded number of times, timed one by one. Prints one JSON line per shape with p50, p99
// and max in milliseconds. The query is what GET /me/search and /rooms/{room}/search ask the
// store; HTTP adds a parse and a post to the work pool.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "model/search.hpp"
#include "store/sqlite/sqlite_store.hpp"

using namespace ssechat;
using Clock = std::chrono::steady_clock;

namespace {

std::string word(size_t i) {
    // Distinct pronounceable words: w0 = "ba", ...
    static const char* syll[] = {"ba", "ko", "ri", "tu", "me", "sa", "lo", "ne", "di", "fa",
                                 "gu", "pe", "zo", "hi", "ja", "vu", "wo", "xe", "yi", "qa"};
    std::string w;
    do {
        w += syll[i % 20];
        i /= 20;
    } while (i);
    return w;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir = argc > 1 ? argv[1] : "/tmp/ssechat-search-bench";
    size_t total = argc > 2 ? std::stoul(argv[2]) : 1000000;
    size_t runs = argc > 3 ? std::stoul(argv[3]) : 500;
    constexpr size_t kRooms = 1000, kVocab = 20000;
    std::filesystem::remove_all(dir);
    store::SqliteStore st(dir, false, 0);

    // Zipf-like: word k has weight 1/(k+1).
    std::vector<double> cdf(kVocab);
    double sum = 0;
    for (size_t k = 0; k < kVocab; ++k) cdf[k] = sum += 1.0 / static_cast<double>(k + 1);
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(0, sum);
    auto pick = [&] {
        return static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    };
    std::vector<uint64_t> last(kRooms, 0);
    auto t0 = Clock::now();
    std::vector<model::Event> batch;
    int64_t ts = 1700000000000;
    for (size_t i = 0; i < total; ++i) {
        model::Event e;
        size_t r = rng() % kRooms;
        e.room = "room" + std::to_string(r);
        e.id = ++last[r];
        e.user_id = "user" + std::to_string(rng() % 5000);
        size_t n = 4 + rng() % 12;
        for (size_t k = 0; k < n; ++k) e.text += (k ? " " : "") + word(pick());
        e.ts = ts++;
        e.pos = i + 1;
        batch.push_back(std::move(e));
        if (batch.size() == 1000) {
            st.append(batch);
            batch.clear();
        }
    }
    if (!batch.empty()) st.append(batch);
    double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("{\"phase\":\"load\",\"messages\":%zu,\"seconds\":%.1f,\"per_second\":%.0f}\n",
                total, load_s, static_cast<double>(total) / load_s);

    struct Shape {
        const char* name;
        std::string query;
        size_t rooms;  // how many rooms the asker reads
    };
    // Common words match a large share of the log; rare ones a few rows.
    std::vector<Shape> shapes = {
        {"room_common_word", word(3), 1},
        {"room_rare_word", word(15000), 1},
        {"user_10_rooms_common_word", word(3), 10},
        {"user_10_rooms_two_words", word(5) + " " + word(40), 10},
        {"user_10_rooms_rare_word", word(15000), 10},
        {"user_10_rooms_phrase", "\"" + word(0) + " " + word(1) + "\"", 10},
        {"user_100_rooms_common_word", word(3), 100},
        {"user_10_rooms_from_only", "from:user7", 10},
        {"one_room_in_only", "in:room0", 1},
        {"user_10_rooms_no_match", "zzzz", 10},
    };
    for (const auto& s : shapes) {
        std::string why;
        auto q = model::parse_search(s.query, why);
        if (!q) return 1;
        std::vector<double> ms;
        size_t hits = 0;
        for (size_t i = 0; i < runs; ++i) {
            std::vector<std::string> rooms;
            size_t first = rng() % kRooms;
            for (size_t k = 0; k < s.rooms; ++k)
                rooms.push_back("room" + std::to_string((first + k * 7) % kRooms));
            if (!q->in.empty()) rooms = {q->in};  // what the HTTP layer narrows to
            auto a = Clock::now();
            hits += st.search(*q, rooms, INT64_MAX, 21).size();
            ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
        }
        std::sort(ms.begin(), ms.end());
        auto at = [&](double p) {
            return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
        };
        std::printf(
            "{\"shape\":\"%s\",\"runs\":%zu,\"mean_hits\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
            "\"max_ms\":%.2f}\n",
            s.name, runs, static_cast<double>(hits) / static_cast<double>(runs), at(0.5), at(0.99),
            ms.back());
        std::fflush(stdout);
    }
    std::filesystem::remove_all(dir);
}
