#include "cli/webhook_command.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <iostream>

#include "cli/common.hpp"
#include "http/outbound.hpp"
#include "model/webhook.hpp"
#include "store/webhooks.hpp"
#include "util/config.hpp"
#include "util/text.hpp"

namespace ssechat::cli {

namespace {

constexpr const char* kUsage =
    "usage: ssechat webhook COMMAND [options] [server options]\n"
    "Manages webhooks on the store a server uses; it may be running.\n\n"
    "  create --url URL --events LIST [--rooms LIST]\n"
    "                 make a webhook from the log's end; prints it as JSON with its secret\n"
    "                 (once). LIST: message, edit, delete, reaction, member, room, with\n"
    "                 commas; rooms default to every room\n"
    "  list           every webhook, one JSON object a line\n"
    "  show ID        one webhook and its last deliveries\n"
    "  update ID [--url URL] [--events LIST] [--rooms LIST|--all-rooms] [--enable|--disable]\n"
    "  delete ID\n\n"
    "The store comes from the server options: --store, --data, --redis (or SSECHAT_*).\n";

boost::json::array split(const std::string& list) {
    boost::json::array out;
    size_t at = 0;
    while (at <= list.size()) {
        size_t comma = list.find(',', at);
        if (comma == std::string::npos) comma = list.size();
        auto word = text::trim(std::string_view(list).substr(at, comma - at));
        if (!word.empty()) out.emplace_back(word);
        at = comma + 1;
    }
    return out;
}

}  // namespace

int webhook_command(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        std::cout << kUsage;
        return args.empty() ? 2 : 0;
    }
    const std::string& cmd = args[0];
    std::string id, url, events, rooms;
    bool has_url = false, has_events = false, has_rooms = false, all_rooms = false;
    int enable = -1;
    std::vector<std::string> server;
    size_t first = 1;
    if ((cmd == "show" || cmd == "update" || cmd == "delete") && args.size() > 1 &&
        args[1].rfind("--", 0) != 0)
        id = args[first++];
    for (size_t i = first; i < args.size(); ++i) {
        const auto& a = args[i];
        if ((a == "--url" || a == "--events" || a == "--rooms") && i + 1 < args.size()) {
            (a == "--url" ? url : a == "--events" ? events : rooms) = args[++i];
            (a == "--url" ? has_url : a == "--events" ? has_events : has_rooms) = true;
        } else if (a == "--all-rooms") {
            all_rooms = true;
        } else if (a == "--enable" || a == "--disable") {
            enable = a == "--enable";
        } else {
            server.push_back(a);
        }
    }
    int code = 0;
    auto parsed = store_config(server, env, kUsage, code);
    if (!parsed) return code;
    const Config& cfg = *parsed;
    return run("webhook", [&]() -> int {
        if (cmd != "create" && cmd != "list" && cmd != "show" && cmd != "update" && cmd != "delete")
            throw Fail{"unknown command '" + cmd + "' (try ssechat webhook --help)"};
        if (cmd != "create" && cmd != "list" && id.empty()) throw Fail{cmd + " needs a webhook id"};
        if (cfg.store == "memory")
            throw Fail{"--store memory keeps webhooks inside the server: use /admin/webhooks"};
        auto store = store::open_webhooks(cfg);
        auto change = [&](model::Webhook& w) {
            if (has_url) w.url = url;
            if (has_events) {
                std::string why;
                auto bits = model::parse_hook_events(split(events), why);
                if (!bits) throw Fail{why};
                w.events = *bits;
            }
            if (all_rooms) {
                w.every_room = true;
                w.rooms.clear();
            } else if (has_rooms) {
                w.every_room = false;
                w.rooms.clear();
                for (const auto& r : split(rooms)) {
                    if (!text::valid_room(r.as_string())) throw Fail{"--rooms: a bad room name"};
                    w.rooms.emplace_back(r.as_string());
                }
                std::sort(w.rooms.begin(), w.rooms.end());
                if (w.rooms.empty()) throw Fail{"--rooms needs a room (or --all-rooms)"};
            }
            if (enable >= 0) {
                w.disabled = enable == 0;
                if (!w.disabled) w.disabled_reason.clear();
            }
            if (auto why = http::target_problem(w.url, cfg.allow_private_targets); !why.empty())
                throw Fail{why};
        };
        if (cmd == "create") {
            if (!has_url || !has_events) throw Fail{"create needs --url and --events"};
            model::Webhook w;
            change(w);
            w.id = model::new_hook_id();
            w.secret = model::new_hook_secret();
            w.created_by = "ssechat webhook";
            w.created_at = now_ms();
            w.cursor = store->log_end();
            store->add(w);
            auto o = model::webhook_json(w);
            o["secret"] = w.secret;
            std::cout << boost::json::serialize(o) << "\n";
        } else if (cmd == "list") {
            for (const auto& w : store->list())
                std::cout << boost::json::serialize(model::webhook_json(w)) << "\n";
        } else if (cmd == "show") {
            auto w = store->get(id);
            if (!w) throw Fail{"no webhook " + id};
            auto o = model::webhook_json(*w);
            boost::json::array d;
            for (const auto& x : store->deliveries(id)) d.push_back(model::delivery_json(x));
            o["deliveries"] = std::move(d);
            std::cout << boost::json::serialize(o) << "\n";
        } else if (cmd == "update") {
            auto w = store->get(id);
            if (!w) throw Fail{"no webhook " + id};
            change(*w);
            store->update(*w);
            std::cout << boost::json::serialize(model::webhook_json(*w)) << "\n";
        } else {
            if (!store->remove(id)) throw Fail{"no webhook " + id};
            std::cerr << "deleted webhook " << id << "\n";
        }
        return 0;
    });
}

}  // namespace ssechat::cli
