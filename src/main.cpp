// Entry point: configuration, startup errors as one clear line, the listening banner, and the
// `ssechat token` helper that prints a test token.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/apikey_command.hpp"
#include "cli/user_command.hpp"
#include "cli/redis_command.hpp"
#include "cli/webhook_command.hpp"
#include "http/auth.hpp"
#include "http/listener.hpp"
#include "http/tls.hpp"
#include "server.hpp"
#include "store/store.hpp"
#include "util/log.hpp"
#include "util/text.hpp"

extern char** environ;

namespace {

constexpr const char* kTokenUsage =
    "usage: ssechat token --sub USER --secret S [--ttl 1h] [--rooms a,b] [--mod]\n"
    "Prints an HS256 JWT for a server started with --jwt-secret S (for tests and trials;\n"
    "applications sign their own).\n\n"
    "  --sub USER      the user id (the token's sub)\n"
    "  --secret S      the server's --jwt-secret\n"
    "  --ttl DURATION  lifetime: a number with s, m, h or d (default 1h)\n"
    "  --rooms a,b     rooms the token may use (default: all)\n"
    "  --mod           a moderator: may delete anyone's message\n";

// ssechat token --sub alice --ttl 1h --secret S [--rooms a,b]
int token_command(const std::vector<std::string>& args) {
    std::string sub, secret, rooms_arg;
    bool mod = false;
    int64_t ttl = 3600;
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            std::cout << kTokenUsage;
            return 0;
        }
    for (size_t i = 0; i < args.size(); ++i) {
        auto value = [&]() -> std::string {
            if (i + 1 >= args.size()) throw std::invalid_argument(args[i] + " needs a value");
            return args[++i];
        };
        try {
            if (args[i] == "--sub")
                sub = value();
            else if (args[i] == "--secret")
                secret = value();
            else if (args[i] == "--rooms")
                rooms_arg = value();
            else if (args[i] == "--mod")
                mod = true;
            else if (args[i] == "--ttl") {
                std::string v = value();
                auto s = ssechat::text::parse_duration(v, 100000000);
                if (!s) throw std::invalid_argument("bad --ttl " + v);
                ttl = static_cast<int64_t>(*s);
            } else {
                throw std::invalid_argument("unknown option '" + args[i] + "'");
            }
        } catch (const std::invalid_argument& e) {
            std::cerr << "ssechat token: " << e.what()
                      << " (usage: ssechat token --sub USER --secret S [--ttl 1h] [--rooms a,b])\n";
            return 2;
        }
    }
    if (sub.empty() || secret.empty()) {
        std::cerr << "ssechat token: --sub and --secret are required\n";
        return 2;
    }
    std::vector<std::string> rooms;
    for (size_t p = 0; !rooms_arg.empty() && p <= rooms_arg.size();) {
        size_t c = rooms_arg.find(',', p);
        rooms.push_back(rooms_arg.substr(p, c == std::string::npos ? std::string::npos : c - p));
        if (c == std::string::npos) break;
        p = c + 1;
    }
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    std::cout << ssechat::auth::sign_hs256(secret, sub, now + ttl, rooms, mod) << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc), env;
    if (!args.empty() && args[0] == "token") return token_command({args.begin() + 1, args.end()});
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
    if (!args.empty() && args[0] == "user")
        return ssechat::cli::user_command({args.begin() + 1, args.end()}, env);
    if (!args.empty() && args[0] == "apikey")
        return ssechat::cli::apikey_command({args.begin() + 1, args.end()}, env);
    if (!args.empty() && args[0] == "webhook")
        return ssechat::cli::webhook_command({args.begin() + 1, args.end()}, env);
    if (!args.empty() && args[0] == "redis")
        return ssechat::cli::redis_command({args.begin() + 1, args.end()});
    auto parsed = ssechat::parse_config(args, env);
    if (!parsed.config) {
        (parsed.exit_code ? std::cerr : std::cout) << parsed.output << "\n";
        return parsed.exit_code;
    }
    std::signal(SIGPIPE, SIG_IGN);
    ssechat::log::setup(parsed.config->log_level, parsed.config->log_json);
    namespace log = ssechat::log;
    auto fail = [](const std::string& why) { std::cerr << log::line("error", why) << "\n"; };
    int status = 0;
    try {
        ssechat::Server server(*parsed.config);
        const auto& bind = parsed.config->bind;
        std::string host = bind == "127.0.0.1" || bind == "::1" ? "localhost" : bind;
        std::string url = std::string(server.tls() ? "https" : "http") + "://" + host + ":" +
                          std::to_string(server.port());
        std::cout << log::line("info", "Server is listening at " + url, {{"listen", url}})
                  << std::endl;
        server.run();
    } catch (const ssechat::http::PortInUse& e) {
        fail(std::string("ssechat: ") + e.what());
        status = 1;
    } catch (const ssechat::store::StoreError& e) {
        fail(std::string("ssechat: ") + e.what());
        status = 1;
    } catch (const ssechat::http::TlsError& e) {
        fail(std::string("ssechat: ") + e.what());
        status = 1;
    } catch (const std::exception& e) {
        fail(std::string("ssechat: cannot start: ") + e.what());
        status = 1;
    }
    return status;
}
