#include "cli/apikey_command.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "model/api_key.hpp"
#include "store/accounts.hpp"
#include "util/config.hpp"

namespace ssechat::cli {

namespace {

constexpr const char* kUsage =
    "usage: ssechat apikey COMMAND [options] [server options]\n"
    "Manages server API keys on the store a server uses; it may be running.\n\n"
    "  create --name NAME --scopes LIST [--as USER]\n"
    "                 make a key and print it (once: the store keeps only its SHA-256).\n"
    "                 LIST: publish, rooms, members, users, read, admin, impersonate,\n"
    "                 with commas. USER: the bot user it posts as (default: NAME)\n"
    "  list           every key: name, scopes, user, created by, created, last used\n"
    "  revoke NAME    the key stops working on every server within a second\n\n"
    "The store comes from the server options: --store, --data, --redis (or SSECHAT_*).\n";

}  // namespace

int apikey_command(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    const std::string& cmd = args[0];
    std::string name, scopes, as;
    bool has_scopes = false;
    std::vector<std::string> server;
    size_t first = 1;
    if (cmd == "revoke" && args.size() > 1 && args[1].rfind("--", 0) != 0) name = args[first++];
    for (size_t i = first; i < args.size(); ++i) {
        const auto& a = args[i];
        if ((a == "--name" || a == "--scopes" || a == "--as") && i + 1 < args.size()) {
            (a == "--name" ? name : a == "--scopes" ? scopes : as) = args[++i];
            has_scopes = has_scopes || a == "--scopes";
        } else {
            server.push_back(a);
        }
    }
    int code = 0;
    auto parsed = store_config(server, env, kUsage, code);
    if (!parsed) return code;
    const Config& cfg = *parsed;
    return run("apikey", [&]() -> int {
        if (cmd != "create" && cmd != "list" && cmd != "revoke")
            throw Fail{"unknown command '" + cmd + "' (try ssechat apikey --help)"};
        if (cmd != "list" && name.empty())
            throw Fail{cmd == "create" ? "create needs --name" : "revoke needs a key's name"};
        if (cfg.store == "memory")
            throw Fail{"--store memory keeps keys inside the server: use POST /admin/apikeys"};
        auto store = store::open_accounts(cfg);
        if (cmd == "create") {
            if (!has_scopes) throw Fail{"create needs --scopes (such as publish,rooms)"};
            std::string why;
            auto bits = model::parse_scopes(scopes, why);
            if (!bits) throw Fail{why};
            auto made =
                model::make_api_key(name, *bits, as, "ssechat apikey", now_ms(), cfg.max_user, why);
            if (!made) throw Fail{why};
            if (!store->add_key(made->key))
                throw Fail{"a key named " + name + " exists: revoke it first"};
            std::cout << made->secret << "\n";
            std::cerr << "made key " << name << " (" << model::scope_names(*bits) << ") acting as "
                      << made->key.user << "\n";
        } else if (cmd == "list") {
            for (const auto& k : store->keys())
                std::printf("%s\t%s\t%s\t%s\t%lld\t%lld\n", k.name.c_str(),
                            model::scope_names(k.scopes).c_str(), k.user.c_str(),
                            k.created_by.empty() ? "-" : k.created_by.c_str(),
                            static_cast<long long>(k.created_at),
                            static_cast<long long>(k.last_used));
        } else {
            if (!store->revoke_key(name)) throw Fail{"no key named " + name};
            std::cerr << "revoked key " << name << "\n";
        }
        return 0;
    });
}

}  // namespace ssechat::cli
