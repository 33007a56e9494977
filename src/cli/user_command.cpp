#include "cli/user_command.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/common.hpp"
#include "http/sign_ins.hpp"
#include "model/account.hpp"
#include "store/accounts.hpp"
#include "util/config.hpp"
#include "util/password.hpp"
#include "util/text.hpp"

namespace ssechat::cli {

namespace {

constexpr const char* kUsage =
    "usage: ssechat user COMMAND [options] [server options]\n"
    "Manages accounts on the store a server with --accounts uses; it may be running.\n\n"
    "  add ID [--admin] [--display-name NAME] [--password-stdin]\n"
    "                 make an account; prints a new password unless one is read from stdin\n"
    "  passwd ID [--password-stdin]\n"
    "                 set a new password (printed, or read from stdin); ends ID's sessions\n"
    "  disable ID     refuse ID's sign-ins and end their sessions\n"
    "  enable ID      allow ID to sign in again\n"
    "  list           every account: id, name, admin, disabled, created\n"
    "  invite [--admin] [--ttl 7d]\n"
    "                 print an invite link (with --public-url, or http://<bind>:<port>)\n\n"
    "The store comes from the server options: --store, --data, --redis (or SSECHAT_*).\n";

std::optional<int64_t> ttl_seconds(const std::string& v) {
    auto s = text::parse_duration(v, 90 * 86400);
    if (!s || *s < 60 || *s > 90 * 86400) return std::nullopt;
    return static_cast<int64_t>(*s);
}

std::string read_password() {
    std::string pw;
    if (!std::getline(std::cin, pw)) throw Fail{"no password on stdin"};
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    if (auto why = model::password_problem(pw); !why.empty()) throw Fail{why};
    return pw;
}

// A password for a person to copy: 120 random bits.
std::string new_password() {
    return http::random_token(15);
}

}  // namespace

int user_command(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    const std::string& cmd = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    // This command's own words first; what is left are server options naming the store.
    std::string id, display, ttl = "7d";
    bool admin = false, from_stdin = false, has_display = false;
    std::vector<std::string> server;
    const bool needs_id = cmd == "add" || cmd == "passwd" || cmd == "disable" || cmd == "enable";
    size_t first = 0;
    if (needs_id && !rest.empty() && rest[0].rfind("--", 0) != 0) id = rest[first++];
    for (size_t i = first; i < rest.size(); ++i) {
        const auto& a = rest[i];
        if (a == "--admin") {
            admin = true;
        } else if (a == "--password-stdin") {
            from_stdin = true;
        } else if ((a == "--display-name" || a == "--ttl") && i + 1 < rest.size()) {
            (a == "--ttl" ? ttl : display) = rest[++i];
            has_display = has_display || a == "--display-name";
        } else {
            server.push_back(a);
        }
    }
    int code = 0;
    auto parsed = store_config(server, env, kUsage, code);
    if (!parsed) return code;
    const Config& cfg = *parsed;
    return run("user", [&]() -> int {
        if (needs_id) {
            if (id.empty()) throw Fail{cmd + " needs a user id"};
            if (auto why = text::bad_user_id(id, cfg.max_user); !why.empty())
                throw Fail{"user id: " + why};
        } else if (cmd != "list" && cmd != "invite") {
            throw Fail{"unknown command '" + cmd + "' (try ssechat user --help)"};
        }
        if (has_display)
            if (auto why = model::display_name_problem(display); !why.empty()) throw Fail{why};
        if (cfg.store == "memory")
            throw Fail{"--store memory keeps accounts inside the server: use --first-admin"};
        auto store = store::open_accounts(cfg);
        if (cmd == "add") {
            std::string pw = from_stdin ? read_password() : new_password();
            model::Account a;
            a.user_id = id;
            a.display_name = display;
            a.admin = admin;
            a.hash = password::hash(pw);
            a.created_at = now_ms();
            if (!store->add_account(a)) throw Fail{"the user id " + id + " is taken"};
            if (!from_stdin) std::cout << pw << "\n";
            std::cerr << "made account " << id << (admin ? " (admin)" : "") << "\n";
        } else if (cmd == "passwd" || cmd == "disable" || cmd == "enable") {
            auto a = store->account(id);
            if (!a) throw Fail{"no account " + id};
            std::string pw;
            if (cmd == "passwd") {
                pw = from_stdin ? read_password() : new_password();
                a->hash = password::hash(pw);
            }
            if (cmd != "passwd") a->disabled = cmd == "disable";
            store->update_account(*a);
            // Its sessions end: servers see the revision move and end their streams.
            if (cmd != "enable") store->end_sign_ins(id, "");
            if (cmd == "passwd" && !from_stdin) std::cout << pw << "\n";
            std::cerr << (cmd == "passwd"    ? "new password for "
                          : cmd == "disable" ? "disabled "
                                             : "enabled ")
                      << id << "\n";
        } else if (cmd == "list") {
            for (const auto& a : store->accounts()) {
                std::printf("%s\t%s\t%s\t%s\t%lld\n", a.user_id.c_str(),
                            (a.display_name.empty() ? a.user_id : a.display_name).c_str(),
                            a.admin ? "admin" : "-", a.disabled ? "disabled" : "-",
                            static_cast<long long>(a.created_at));
            }
        } else {  // invite
            auto secs = ttl_seconds(ttl);
            if (!secs) throw Fail{"--ttl: a duration from 60s to 90d, such as 7d"};
            model::Invite inv;
            inv.code = http::random_token(16);
            inv.admin = admin;
            inv.created_at = now_ms();
            inv.expires = inv.created_at + *secs * 1000;
            inv.created_by = "ssechat user";
            store->add_invite(inv);
            std::string base = cfg.public_url;
            if (base.empty())
                base = std::string(cfg.tls_cert.empty() ? "http://" : "https://") + cfg.bind + ":" +
                       std::to_string(cfg.port_set || cfg.tls_cert.empty() ? cfg.port : 3443);
            std::cout << base << "/#invite=" << inv.code << "\n";
        }
        return 0;
    });
}

}  // namespace ssechat::cli
