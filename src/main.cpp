// Entry point: configuration, startup errors as one clear line, and the listening banner.
#include <csignal>
#include <cstdio>
#include <iostream>

#include "server.hpp"
#include "store/store.hpp"

extern char** environ;

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc), env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    auto parsed = ssechat::parse_config(args, env);
    if (!parsed.config) {
        (parsed.exit_code ? std::cerr : std::cout) << parsed.output << "\n";
        return parsed.exit_code;
    }
    std::signal(SIGPIPE, SIG_IGN);
    try {
        ssechat::Server server(*parsed.config);
        const auto& bind = parsed.config->bind;
        std::string host = bind == "127.0.0.1" || bind == "::1" ? "localhost" : bind;
        std::cout << "Server is listening at http://" << host << ":" << server.port() << std::endl;
        server.run();
    } catch (const ssechat::store::StoreError& e) {
        std::cerr << "ssechat: " << e.what() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "ssechat: cannot start: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
