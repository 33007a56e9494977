#include "store/redis/redis_accounts.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>

#include "redis_scripts.hpp"
#include "store/redis/fields.hpp"
#include "util/text.hpp"

namespace ssechat::store {

namespace {

model::Account account_of(const std::string& user, const Fields& f) {
    model::Account a;
    a.user_id = user;
    a.display_name = str(f, "d");
    a.hash = str(f, "h");
    a.admin = str(f, "a") == "1";
    a.disabled = str(f, "x") == "1";
    a.created_at = num(f, "c");
    return a;
}

model::SignIn sign_in_of(const std::string& key, const Fields& f) {
    model::SignIn s;
    s.key = key;
    s.id = str(f, "i");
    s.user_id = str(f, "u");
    s.user_agent = str(f, "g");
    s.created = num(f, "c");
    s.last_seen = num(f, "s");
    return s;
}

model::ApiKey key_of(const std::string& name, const Fields& f) {
    model::ApiKey k;
    k.name = name;
    k.hash = str(f, "k");
    k.scopes = static_cast<model::KeyScopes>(num(f, "s") & model::kEveryScope);
    k.user = str(f, "u");
    k.created_by = str(f, "b");
    k.created_at = num(f, "c");
    k.last_used = num(f, "l");
    return k;
}

const char* flag(bool b) {
    return b ? "1" : "0";
}

}  // namespace

RedisAccounts::RedisAccounts(RedisUrl url, int timeout_ms, Durability durability)
    : conn_(std::move(url), timeout_ms, durability),
      script_("accounts.lua", std::string(scripts::accounts_lua)) {}

Reply RedisAccounts::change(const std::vector<std::string>& args) {
    auto r = conn_.eval(script_, {}, args);
    conn_.settle();
    return r;
}

std::vector<Fields> RedisAccounts::hashes(const std::vector<std::string>& keys) {
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(keys.size());
    for (const auto& k : keys) cmds.push_back({"HGETALL", k});
    auto replies = conn_.pipeline(cmds);
    std::vector<Fields> out;
    for (auto& r : replies) {
        if (r->type != REDIS_REPLY_ARRAY)
            throw StoreError("redis: HGETALL answered " + std::to_string(r->type));
        out.push_back(fields_of(r.get()));
    }
    return out;
}

std::vector<std::pair<std::string, Fields>> RedisAccounts::listed(const std::string& set,
                                                                  const std::string& prefix) {
    auto r = conn_.run({"SMEMBERS", set});
    std::vector<std::string> ids;
    for (size_t i = 0; i < r->elements; ++i) ids.push_back(reply_string(r->element[i]));
    std::sort(ids.begin(), ids.end());
    std::vector<std::string> keys;
    for (const auto& id : ids) keys.push_back(prefix + id);
    auto f = hashes(keys);
    std::vector<std::pair<std::string, Fields>> out;
    for (size_t i = 0; i < ids.size(); ++i)
        if (!f[i].empty()) out.emplace_back(std::move(ids[i]), std::move(f[i]));
    return out;
}

std::optional<model::Account> RedisAccounts::account(const std::string& user) {
    std::lock_guard lk(mu_);
    auto f = hashes({"ssechat:account:" + user});
    if (f[0].empty()) return std::nullopt;
    return account_of(user, f[0]);
}

bool RedisAccounts::add_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    auto r = change(
        {"add", a.user_id, a.display_name, a.hash, flag(a.admin), std::to_string(a.created_at)});
    return reply_integer(r.get()) == 1;
}

bool RedisAccounts::update_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    auto r = change({"update", a.user_id, a.display_name, a.hash, flag(a.admin), flag(a.disabled)});
    return reply_integer(r.get()) == 1;
}

std::vector<model::Account> RedisAccounts::accounts() {
    std::lock_guard lk(mu_);
    std::vector<model::Account> out;
    for (const auto& [id, f] : listed("ssechat:accounts", "ssechat:account:"))
        out.push_back(account_of(id, f));
    return out;
}

bool RedisAccounts::any_admin() {
    auto all = accounts();
    return std::any_of(all.begin(), all.end(), [](const auto& a) { return a.admin; });
}

void RedisAccounts::add_sign_in(const model::SignIn& s) {
    std::lock_guard lk(mu_);
    change({"signin", s.key, s.id, s.user_id, s.user_agent, std::to_string(s.created),
            std::to_string(s.last_seen)});
}

std::optional<model::SignIn> RedisAccounts::sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    auto f = hashes({"ssechat:signin:" + key});
    if (f[0].empty()) return std::nullopt;
    return sign_in_of(key, f[0]);
}

std::vector<model::SignIn> RedisAccounts::sign_ins(const std::string& user) {
    std::lock_guard lk(mu_);
    std::vector<model::SignIn> out;
    for (const auto& [key, f] : listed("ssechat:signins:" + user, "ssechat:signin:"))
        out.push_back(sign_in_of(key, f));
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    return out;
}

void RedisAccounts::seen(const std::string& key, int64_t at) {
    std::lock_guard lk(mu_);
    change({"seen", key, std::to_string(at)});
}

bool RedisAccounts::end_sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    return reply_integer(change({"end", key}).get()) == 1;
}

size_t RedisAccounts::end_sign_ins(const std::string& user, const std::string& keep) {
    std::lock_guard lk(mu_);
    return static_cast<size_t>(reply_integer(change({"end_all", user, keep}).get()));
}

void RedisAccounts::add_invite(const model::Invite& i) {
    std::lock_guard lk(mu_);
    conn_.pipeline(
        {{"HSET", "ssechat:invite:" + i.code, "a", flag(i.admin), "e", std::to_string(i.expires),
          "b", i.created_by, "c", std::to_string(i.created_at)},
         {"SADD", "ssechat:invites", i.code}});
    conn_.settle();
}

std::vector<model::Invite> RedisAccounts::invites() {
    std::lock_guard lk(mu_);
    std::vector<model::Invite> out;
    for (const auto& [code, f] : listed("ssechat:invites", "ssechat:invite:")) {
        model::Invite inv;
        inv.code = code;
        inv.admin = str(f, "a") == "1";
        inv.expires = num(f, "e");
        inv.created_by = str(f, "b");
        inv.created_at = num(f, "c");
        out.push_back(std::move(inv));
    }
    return out;
}

bool RedisAccounts::drop_invite(const std::string& code) {
    std::lock_guard lk(mu_);
    auto r = conn_.pipeline({{"DEL", "ssechat:invite:" + code}, {"SREM", "ssechat:invites", code}});
    conn_.settle();
    return reply_integer(r[0].get()) > 0;
}

model::Claim RedisAccounts::claim(const std::string& code, model::Account& a, int64_t now) {
    std::lock_guard lk(mu_);
    auto r = change({"claim", code, std::to_string(now), a.user_id, a.display_name, a.hash,
                     std::to_string(a.created_at)});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        throw StoreError("redis: accounts.lua claim answered in another shape");
    auto result = reply_integer(r->element[0]);
    a.admin = reply_string(r->element[1]) == "1";
    return result == 0   ? model::Claim::Created
           : result == 1 ? model::Claim::Gone
                         : model::Claim::Taken;
}

bool RedisAccounts::add_key(const model::ApiKey& k) {
    std::lock_guard lk(mu_);
    auto r = change({"key_add", k.name, k.hash, std::to_string(k.scopes), k.user, k.created_by,
                     std::to_string(k.created_at)});
    return reply_integer(r.get()) == 1;
}

std::optional<model::ApiKey> RedisAccounts::key(const std::string& hash) {
    std::lock_guard lk(mu_);
    auto n = conn_.run({"GET", "ssechat:apikeyhash:" + hash});
    if (n->type == REDIS_REPLY_NIL) return std::nullopt;
    std::string name = reply_string(n.get());
    auto f = hashes({"ssechat:apikey:" + name});
    // Revoked between the two reads, or a hash left by another: no key.
    if (f[0].empty() || str(f[0], "k") != hash) return std::nullopt;
    return key_of(name, f[0]);
}

std::vector<model::ApiKey> RedisAccounts::keys() {
    std::lock_guard lk(mu_);
    std::vector<model::ApiKey> out;
    for (const auto& [name, f] : listed("ssechat:apikeys", "ssechat:apikey:"))
        out.push_back(key_of(name, f));
    return out;
}

bool RedisAccounts::revoke_key(const std::string& name) {
    std::lock_guard lk(mu_);
    return reply_integer(change({"key_revoke", name}).get()) == 1;
}

void RedisAccounts::key_used(const std::string& name, int64_t at) {
    std::lock_guard lk(mu_);
    // Not waited for by replicas: a last-used time lost in a failover costs nothing.
    conn_.eval(script_, {}, {"key_used", name, std::to_string(at)});
}

uint64_t RedisAccounts::revision() {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"GET", "ssechat:auth:revision"});
    if (r->type == REDIS_REPLY_NIL) return 0;
    auto n = text::parse_u64(reply_string(r.get()));
    return n ? *n : 0;
}

int RedisAccounts::failures(const std::string& key, bool add, int64_t, int64_t window_ms,
                            int64_t& retry_ms) {
    std::lock_guard lk(mu_);
    auto r = change({"fail", key, add ? "1" : "0", std::to_string(window_ms)});
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
        throw StoreError("redis: accounts.lua fail answered in another shape");
    retry_ms = reply_integer(r->element[1]);
    return static_cast<int>(reply_integer(r->element[0]));
}

}  // namespace ssechat::store
