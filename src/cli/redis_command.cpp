#include "cli/redis_command.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <iostream>

#include "store/redis/reshard.hpp"
#include "store/store.hpp"
#include "util/redis_url.hpp"

namespace ssechat::cli {

namespace {

constexpr const char* kUsage =
    "usage: ssechat redis reshard --from LIST --to LIST\n"
    "Moves every room whose shard differs between two --redis lists to its new shard, with\n"
    "every node stopped. LIST: the shards' URLs, comma-separated, in their order (as --redis\n"
    "takes them); --from is the list the data was written with, and both start with the same\n"
    "Redis. Prints a JSON line per room moved, then a summary. Run it again to finish one that\n"
    "was cut short. Afterwards start the nodes with --redis set to the new list; user streams\n"
    "start over from the rooms' summaries (their cursors name the old positions).\n";

}  // namespace

int redis_command(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    if (args[0] != "reshard") {
        std::cerr << "ssechat redis: unknown command " << args[0] << "\n" << kUsage;
        return 2;
    }
    std::string from, to;
    for (size_t i = 1; i < args.size(); ++i) {
        if ((args[i] == "--from" || args[i] == "--to") && i + 1 < args.size()) {
            (args[i] == "--from" ? from : to) = args[i + 1];
            ++i;
        } else {
            std::cerr << "ssechat redis reshard: unexpected " << args[i] << "\n" << kUsage;
            return 2;
        }
    }
    if (from.empty() || to.empty()) {
        std::cerr << "ssechat redis reshard: both --from and --to are needed\n" << kUsage;
        return 2;
    }
    std::string why;
    auto a = parse_redis_urls(from, why);
    if (!a) {
        std::cerr << "ssechat redis reshard: --from: " << why << "\n";
        return 2;
    }
    auto b = parse_redis_urls(to, why);
    if (!b) {
        std::cerr << "ssechat redis reshard: --to: " << why << "\n";
        return 2;
    }
    auto t0 = std::chrono::steady_clock::now();
    try {
        auto r =
            store::reshard(*a, *b, [](const std::string& line) { std::cout << line << std::endl; });
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        boost::json::object done{
            {"rooms", r.rooms}, {"moved", r.moved}, {"events", r.events}, {"seconds", secs}};
        std::cout << boost::json::serialize(done) << std::endl;
    } catch (const store::StoreError& e) {
        std::cerr << "ssechat redis reshard: " << e.what() << "\n";
        return 1;
    }
    return 0;
}

}  // namespace ssechat::cli
