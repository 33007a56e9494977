// Keys (this store runs on one Redis, not a Redis Cluster):
//   ssechat:push              HASH v VAPID key (PEM), k cursor (of shard 0's log; k1, k2...
//                                  of the other shards')
//   ssechat:push:subs:<user>  HASH endpoint -> {"p256dh","auth","created_at"}
//   ssechat:push:owners       HASH endpoint -> user
//   ssechat:push:users        SET  users with a subscription
//   ssechat:push:levels:<user> HASH room -> level (0 all, 1 mentions, 2 none)
//   ssechat:push:all:<room>   SET  users whose level for the room is "all"
//   ssechat:push:lease        STRING the node sending pushes, expiring
#include "store/redis/redis_push.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/json.hpp>

#include "store/redis/fields.hpp"
#include "store/redis/lease.hpp"
#include "util/text.hpp"

namespace ssechat::store {

namespace {

const std::string kState = "ssechat:push";
const std::string kSubs = "ssechat:push:subs:";
const std::string kOwners = "ssechat:push:owners";
const std::string kUsers = "ssechat:push:users";
const std::string kLevels = "ssechat:push:levels:";
const std::string kAll = "ssechat:push:all:";
const std::string kLeaseKey = "ssechat:push:lease";

// Adds or renews a subscription, moves an endpoint another user had, and keeps the newest
// ARGV[4] of the user's. KEYS: owners, users. ARGV: user, endpoint, json, cap, subs prefix.
constexpr const char* kSubscribe = R"lua(
local prev = redis.call('HGET', KEYS[1], ARGV[2])
if prev and prev ~= ARGV[1] then
  redis.call('HDEL', ARGV[5] .. prev, ARGV[2])
  if redis.call('HLEN', ARGV[5] .. prev) == 0 then redis.call('SREM', KEYS[2], prev) end
end
local mine = ARGV[5] .. ARGV[1]
redis.call('HSET', mine, ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
local all = redis.call('HGETALL', mine)
local n = #all / 2
while n > tonumber(ARGV[4]) do
  local oldest, at = nil, nil
  for i = 1, #all, 2 do
    if all[i] then
      local c = tonumber(cjson.decode(all[i + 1]).created_at) or 0
      if at == nil or c < at or (c == at and all[i] < oldest) then oldest, at = all[i], c end
    end
  end
  redis.call('HDEL', mine, oldest)
  redis.call('HDEL', KEYS[1], oldest)
  for i = 1, #all, 2 do if all[i] == oldest then all[i] = false end end
  n = n - 1
end
return 1
)lua";

// Removes an endpoint: ARGV[1] the user ('' for whoever has it), ARGV[2] the endpoint, ARGV[3]
// the subs prefix. KEYS: owners, users. 1 when removed.
constexpr const char* kRemove = R"lua(
local owner = redis.call('HGET', KEYS[1], ARGV[2])
if not owner or (ARGV[1] ~= '' and owner ~= ARGV[1]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', ARGV[3] .. owner, ARGV[2])
if redis.call('HLEN', ARGV[3] .. owner) == 0 then redis.call('SREM', KEYS[2], owner) end
return 1
)lua";

// The cursor only moves forward, whichever node writes last. ARGV: the cursor, its field.
constexpr const char* kAdvance = R"lua(
local c = redis.call('HGET', KEYS[1], ARGV[2])
if not c or tonumber(c) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], ARGV[2], ARGV[1]) end
return 1
)lua";

}  // namespace

RedisPush::RedisPush(RedisUrl url, int timeout_ms, Durability durability)
    : conn_(std::move(url), timeout_ms, durability),
      subscribe_("push subscribe", kSubscribe),
      remove_("push remove", kRemove),
      advance_("push advance", kAdvance),
      lease_("push lease", kLease) {}

std::string RedisPush::vapid_key(const std::string& fresh) {
    std::lock_guard lk(mu_);
    auto r = conn_.pipeline({{"HSETNX", kState, "v", fresh}, {"HGET", kState, "v"}});
    conn_.settle();
    return reply_string(r[1].get());
}

void RedisPush::subscribe(const model::PushSubscription& s) {
    std::lock_guard lk(mu_);
    boost::json::object o;
    o["p256dh"] = s.p256dh;
    o["auth"] = s.auth;
    o["created_at"] = s.created_at;
    conn_.eval(subscribe_, {kOwners, kUsers},
               {s.user, s.endpoint, boost::json::serialize(o),
                std::to_string(model::kMaxPushSubscriptions), kSubs});
    conn_.settle();
}

bool RedisPush::unsubscribe(const std::string& user, const std::string& endpoint) {
    std::lock_guard lk(mu_);
    auto r = conn_.eval(remove_, {kOwners, kUsers}, {user, endpoint, kSubs});
    conn_.settle();
    return reply_integer(r.get()) == 1;
}

void RedisPush::drop(const std::string& endpoint) {
    std::lock_guard lk(mu_);
    conn_.eval(remove_, {kOwners, kUsers}, {"", endpoint, kSubs});
}

std::vector<model::PushSubscription> RedisPush::subscriptions(const std::string& user) {
    std::lock_guard lk(mu_);
    auto f = fields_of(conn_.run({"HGETALL", kSubs + user}).get());
    std::vector<model::PushSubscription> out;
    for (const auto& [endpoint, json] : f) {
        boost::json::error_code ec;
        auto v = boost::json::parse(json, ec);
        if (ec || !v.is_object()) continue;
        const auto& o = v.as_object();
        model::PushSubscription s;
        s.user = user;
        s.endpoint = endpoint;
        if (auto* x = o.if_contains("p256dh"); x && x->is_string()) s.p256dh = x->as_string();
        if (auto* x = o.if_contains("auth"); x && x->is_string()) s.auth = x->as_string();
        if (auto* x = o.if_contains("created_at"); x && x->is_int64()) s.created_at = x->as_int64();
        out.push_back(std::move(s));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created_at != b.created_at ? a.created_at < b.created_at : a.endpoint < b.endpoint;
    });
    return out;
}

std::set<std::string> RedisPush::subscribed() {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"SMEMBERS", kUsers});
    std::set<std::string> out;
    for (size_t i = 0; i < r->elements; ++i) out.insert(reply_string(r->element[i]));
    return out;
}

std::map<std::string, model::NotifyLevel> RedisPush::levels(const std::string& user) {
    std::lock_guard lk(mu_);
    std::map<std::string, model::NotifyLevel> out;
    for (const auto& [room, level] : fields_of(conn_.run({"HGETALL", kLevels + user}).get()))
        if (level == "0" || level == "1" || level == "2")
            out[room] = static_cast<model::NotifyLevel>(level[0] - '0');
    return out;
}

std::optional<model::NotifyLevel> RedisPush::level(const std::string& user,
                                                   const std::string& room) {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"HGET", kLevels + user, room});
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    auto l = reply_string(r.get());
    if (l != "0" && l != "1" && l != "2") return std::nullopt;
    return static_cast<model::NotifyLevel>(l[0] - '0');
}

std::vector<std::string> RedisPush::listeners(const std::string& room) {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"SMEMBERS", kAll + room});
    std::vector<std::string> out;
    for (size_t i = 0; i < r->elements; ++i) out.push_back(reply_string(r->element[i]));
    return out;
}

void RedisPush::set_level(const std::string& user, const std::string& room,
                          model::NotifyLevel level) {
    std::lock_guard lk(mu_);
    conn_.pipeline({{"HSET", kLevels + user, room, std::to_string(static_cast<int>(level))},
                    {level == model::NotifyLevel::All ? "SADD" : "SREM", kAll + room, user}});
    conn_.settle();
}

uint64_t RedisPush::cursor(size_t shard) {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"HGET", kState, cursor_field(shard)});
    if (r->type == REDIS_REPLY_NIL) return 0;
    auto n = text::parse_u64(reply_string(r.get()));
    return n ? *n : 0;
}

void RedisPush::advance(size_t shard, uint64_t pos) {
    std::lock_guard lk(mu_);
    conn_.eval(advance_, {kState}, {std::to_string(pos), cursor_field(shard)});
}

bool RedisPush::lease(const std::string& node, int64_t ttl_ms) {
    std::lock_guard lk(mu_);
    auto r = conn_.eval(lease_, {kLeaseKey}, {node, std::to_string(ttl_ms)});
    return reply_integer(r.get()) == 1;
}

}  // namespace ssechat::store
