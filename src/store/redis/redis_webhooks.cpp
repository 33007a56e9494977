// Keys (this store runs on one Redis, not a Redis Cluster):
//   ssechat:webhook:<id>             HASH u url, s secret, e events (bits), r rooms (newline-
//                                    joined; absent: every room), b by, c created,
//                                    k cursor (on shard 0; k1, k2... on the others'), x
//                                    disabled ('1'), w why
//   ssechat:webhooks                 SET  ids
//   ssechat:webhook:<id>:deliveries  LIST the last attempts as JSON, newest first
//   ssechat:webhook:<id>:lease       STRING the node delivering it, expiring
//   ssechat:logpin                   STRING a node whose webhook is behind, expiring: while
//                                    it exists no node trims the cluster log (on the shard
//                                    whose log it is)
#include "store/redis/redis_webhooks.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/json.hpp>

#include "store/redis/fields.hpp"
#include "store/redis/lease.hpp"
#include "store/room_list.hpp"
#include "util/text.hpp"

namespace ssechat::store {

namespace {

const std::string kPrefix = "ssechat:webhook:";
const std::string kSet = "ssechat:webhooks";

// The cursor only moves forward, whichever node writes last; a webhook removed meanwhile
// stays removed. ARGV: the cursor, its field.
constexpr const char* kAdvance = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local c = redis.call('HGET', KEYS[1], ARGV[2])
if not c or tonumber(c) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[2], ARGV[1]) end
return 1
)lua";

model::Webhook hook_of(const std::string& id, const Fields& f) {
    model::Webhook w;
    w.id = id;
    w.url = str(f, "u");
    w.secret = str(f, "s");
    w.events = static_cast<uint8_t>(num(f, "e"));
    w.every_room = !field(f, "r");
    if (!w.every_room) w.rooms = split_rooms(str(f, "r"));
    w.created_by = str(f, "b");
    w.created_at = num(f, "c");
    w.cursor = {static_cast<uint64_t>(num(f, "k"))};
    // The other shards' in order, up to the first missing (see model::Webhook::cursor).
    while (const std::string* k = field(f, cursor_field(w.cursor.size())))
        w.cursor.push_back(text::parse_u64(*k).value_or(0));
    w.disabled = str(f, "x") == "1";
    w.disabled_reason = str(f, "w");
    return w;
}

}  // namespace

RedisWebhooks::RedisWebhooks(std::vector<RedisUrl> shards, int timeout_ms, Durability durability)
    : conn_(shards.front(), timeout_ms, durability),
      advance_("webhook advance", kAdvance),
      lease_("webhook lease", kLease) {
    for (size_t s = 1; s < shards.size(); ++s)
        others_.push_back(std::make_unique<RedisConn>(shards[s], timeout_ms, durability));
}

void RedisWebhooks::add(const model::Webhook& w) {
    std::lock_guard lk(mu_);
    std::vector<std::string> hset{"HSET", kPrefix + w.id,
                                  "u",    w.url,
                                  "s",    w.secret,
                                  "e",    std::to_string(w.events),
                                  "b",    w.created_by,
                                  "c",    std::to_string(w.created_at),
                                  "x",    w.disabled ? "1" : "0",
                                  "w",    w.disabled_reason};
    for (size_t s = 0; s < w.cursor.size(); ++s)
        hset.insert(hset.end(), {cursor_field(s), std::to_string(w.cursor[s])});
    if (!w.every_room) hset.insert(hset.end(), {"r", join_rooms(w.rooms)});
    conn_.pipeline({hset, {"SADD", kSet, w.id}});
    conn_.settle();
}

std::vector<model::Webhook> RedisWebhooks::list() {
    std::lock_guard lk(mu_);
    auto ids = conn_.run({"SMEMBERS", kSet});
    std::vector<std::vector<std::string>> cmds;
    std::vector<std::string> names;
    for (size_t i = 0; i < ids->elements; ++i) {
        names.push_back(reply_string(ids->element[i]));
        cmds.push_back({"HGETALL", kPrefix + names.back()});
    }
    auto replies = conn_.pipeline(cmds);
    std::vector<model::Webhook> out;
    for (size_t i = 0; i < names.size(); ++i) {
        auto f = fields_of(replies[i].get());
        if (!f.empty()) out.push_back(hook_of(names[i], f));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
    });
    return out;
}

std::optional<model::Webhook> RedisWebhooks::get(const std::string& id) {
    std::lock_guard lk(mu_);
    auto f = fields_of(conn_.run({"HGETALL", kPrefix + id}).get());
    if (f.empty()) return std::nullopt;
    return hook_of(id, f);
}

bool RedisWebhooks::update(const model::Webhook& w) {
    std::lock_guard lk(mu_);
    if (reply_integer(conn_.run({"EXISTS", kPrefix + w.id}).get()) == 0) return false;
    std::vector<std::vector<std::string>> cmds{{"HSET", kPrefix + w.id, "u", w.url, "e",
                                                std::to_string(w.events), "x",
                                                w.disabled ? "1" : "0", "w", w.disabled_reason}};
    if (w.every_room)
        cmds.push_back({"HDEL", kPrefix + w.id, "r"});
    else
        cmds.push_back({"HSET", kPrefix + w.id, "r", join_rooms(w.rooms)});
    conn_.pipeline(cmds);
    conn_.settle();
    return true;
}

bool RedisWebhooks::remove(const std::string& id) {
    std::lock_guard lk(mu_);
    auto r = conn_.pipeline({{"DEL", kPrefix + id},
                             {"SREM", kSet, id},
                             {"DEL", kPrefix + id + ":deliveries", kPrefix + id + ":lease"}});
    conn_.settle();
    return r[0]->type == REDIS_REPLY_INTEGER && r[0]->integer > 0;
}

void RedisWebhooks::advance(const std::string& id, size_t shard, uint64_t cursor) {
    std::lock_guard lk(mu_);
    conn_.eval(advance_, {kPrefix + id}, {std::to_string(cursor), cursor_field(shard)});
    conn_.settle();
}

void RedisWebhooks::record(const std::string& id, const model::Delivery& d) {
    std::lock_guard lk(mu_);
    const std::string key = kPrefix + id + ":deliveries";
    // Not waited for by replicas: an attempt's record lost in a failover costs nothing.
    conn_.pipeline({{"LPUSH", key, boost::json::serialize(model::delivery_json(d))},
                    {"LTRIM", key, "0", std::to_string(model::kHookDeliveriesKept - 1)}});
}

std::vector<model::Delivery> RedisWebhooks::deliveries(const std::string& id) {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"LRANGE", kPrefix + id + ":deliveries", "0", "-1"});
    std::vector<model::Delivery> out;
    for (size_t i = 0; i < r->elements; ++i) {
        boost::json::error_code ec;
        auto v = boost::json::parse(reply_string(r->element[i]), ec);
        if (ec || !v.is_object()) continue;
        const auto& o = v.as_object();
        model::Delivery d;
        auto s = [&](const char* k) {
            const auto* x = o.if_contains(k);
            return x && x->is_string() ? std::string(x->as_string()) : std::string();
        };
        auto n = [&](const char* k) -> int64_t {
            const auto* x = o.if_contains(k);
            return x && x->is_int64() ? x->as_int64() : 0;
        };
        d.message_id = s("message_id");
        d.type = s("type");
        d.attempt = static_cast<int>(n("attempt"));
        d.status = static_cast<int>(n("status"));
        d.error = s("error");
        d.ts = n("ts");
        out.push_back(std::move(d));
    }
    return out;
}

model::Positions RedisWebhooks::log_end() {
    std::lock_guard lk(mu_);
    model::Positions out;
    for (size_t s = 0; s <= others_.size(); ++s) {
        auto r = shard(s).run({"GET", "ssechat:pos"});
        out.push_back(
            r->type == REDIS_REPLY_NIL ? 0 : text::parse_u64(reply_string(r.get())).value_or(0));
    }
    return out;
}

bool RedisWebhooks::lease(const std::string& id, const std::string& node, int64_t ttl_ms) {
    std::lock_guard lk(mu_);
    auto r = conn_.eval(lease_, {kPrefix + id + ":lease"}, {node, std::to_string(ttl_ms)});
    return reply_integer(r.get()) == 1;
}

void RedisWebhooks::keep_log(size_t s, const std::string& node, int64_t ttl_ms) {
    std::lock_guard lk(mu_);
    shard(s).run({"SET", "ssechat:logpin", node, "PX", std::to_string(ttl_ms)});
}

}  // namespace ssechat::store
