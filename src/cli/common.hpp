// What the store commands (`ssechat user`, `apikey`, `webhook`) share: the server options
// that name the store, and how a failure is said and exits.
#pragma once
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "util/clock.hpp"
#include "util/config.hpp"

namespace ssechat::cli {

// A refusal said to the person at the shell: exit status 2.
struct Fail {
    std::string why;
};

// The server options left over (`server`) as a Config, or nullopt after printing why (or
// `usage`) with the exit status in `code`.
inline std::optional<Config> store_config(const std::vector<std::string>& server,
                                          const std::vector<std::string>& env, const char* usage,
                                          int& code) {
    auto parsed = parse_config(server, env);
    if (parsed.config) return std::move(*parsed.config);
    std::cerr << (parsed.output.empty() ? usage : parsed.output + "\n");
    code = parsed.exit_code ? parsed.exit_code : 2;
    return std::nullopt;
}

// Runs a command's body: a Fail exits 2, any other error 1, each said as "ssechat NAME: why".
template <class Body>
int run(const char* name, Body&& body) {
    try {
        return body();
    } catch (const Fail& f) {
        std::cerr << "ssechat " << name << ": " << f.why << "\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "ssechat " << name << ": " << e.what() << "\n";
        return 1;
    }
}

}  // namespace ssechat::cli
