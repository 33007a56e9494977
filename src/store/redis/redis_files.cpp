#include "store/redis/redis_files.hpp"

#include <hiredis/hiredis.h>

#include <map>

namespace ssechat::store {

namespace {

const std::string kFile = "ssechat:file:";
const std::string kUnclaimed = "ssechat:files:unclaimed";
const std::string kSha = "ssechat:files:sha:";

int64_t number(const std::map<std::string, std::string>& f, const char* k) {
    auto it = f.find(k);
    if (it == f.end()) return 0;
    try {
        return std::stoll(it->second);
    } catch (...) {
        return 0;
    }
}

// A MULTI ... EXEC on a watched connection: false when a watched key changed (EXEC is nil).
bool exec(RedisConn& c, const std::vector<std::vector<std::string>>& cmds) {
    std::vector<std::vector<std::string>> all{{"MULTI"}};
    all.insert(all.end(), cmds.begin(), cmds.end());
    all.push_back({"EXEC"});
    auto replies = c.pipeline(all);
    for (auto& r : replies)
        if (r && r->type == REDIS_REPLY_ERROR) throw StoreError(std::string("redis: ") + r->str);
    const auto& last = replies.back();
    if (!last || last->type != REDIS_REPLY_ARRAY) return false;
    c.settle();
    return true;
}

}  // namespace

RedisFiles::RedisFiles(RedisUrl url, int timeout_ms, Durability durability)
    : conn_(std::move(url), timeout_ms, durability) {}

void RedisFiles::add(const model::FileInfo& f) {
    std::lock_guard lk(mu_);
    exec(conn_, {{"HSET",      kFile + f.id,
                  "room",      f.room,
                  "name",      f.name,
                  "type",      f.type,
                  "size",      std::to_string(f.size),
                  "width",     std::to_string(f.width),
                  "height",    std::to_string(f.height),
                  "sha256",    f.sha256,
                  "uploader",  f.uploader,
                  "ts",        std::to_string(f.ts),
                  "claimed",   "0",
                  "claim_key", ""},
                 {"ZADD", kUnclaimed, std::to_string(f.ts), f.id},
                 {"SADD", kSha + f.sha256, f.id}});
}

std::optional<model::FileInfo> RedisFiles::get_locked(const std::string& id) {
    auto r = conn_.run({"HGETALL", kFile + id});
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return std::nullopt;
    std::map<std::string, std::string> f;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        f[reply_string(r->element[i])] = reply_string(r->element[i + 1]);
    model::FileInfo out;
    out.id = id;
    out.room = f["room"];
    out.name = f["name"];
    out.type = f["type"];
    out.size = static_cast<uint64_t>(number(f, "size"));
    out.width = static_cast<uint32_t>(number(f, "width"));
    out.height = static_cast<uint32_t>(number(f, "height"));
    out.sha256 = f["sha256"];
    out.uploader = f["uploader"];
    out.ts = number(f, "ts");
    out.claimed = f["claimed"] == "1";
    out.claim_key = f["claim_key"];
    return out;
}

std::optional<model::FileInfo> RedisFiles::get(const std::string& id) {
    std::lock_guard lk(mu_);
    return get_locked(id);
}

FileStore::Claim RedisFiles::claim(const std::vector<std::string>& ids, const std::string& room,
                                   const std::string& uploader, const std::string& key) {
    std::lock_guard lk(mu_);
    for (int attempt = 0; attempt < 8; ++attempt) {
        std::vector<std::string> watch{"WATCH"};
        for (const auto& id : ids) watch.push_back(kFile + id);
        conn_.run(watch);
        std::vector<std::vector<std::string>> writes;
        auto out = claim_all(
            ids, room, uploader, key, [&](const std::string& id) { return get_locked(id); },
            [&](const std::string& id) {
                writes.push_back({"HSET", kFile + id, "claimed", "1", "claim_key", key});
                writes.push_back({"ZREM", kUnclaimed, id});
            });
        if (!out.problem.empty()) {
            conn_.run({"UNWATCH"});
            return out;
        }
        if (exec(conn_, writes)) return out;
    }
    throw StoreError("redis: files kept changing during a claim");
}

void RedisFiles::unclaim(const std::vector<std::string>& ids) {
    std::lock_guard lk(mu_);
    for (const auto& id : ids) {
        auto f = get_locked(id);
        if (!f) continue;
        exec(conn_, {{"HSET", kFile + id, "claimed", "0", "claim_key", ""},
                     {"ZADD", kUnclaimed, std::to_string(f->ts), id}});
    }
}

std::vector<std::string> RedisFiles::remove(const std::vector<std::string>& ids,
                                            bool unclaimed_only) {
    std::lock_guard lk(mu_);
    std::vector<std::string> gone;
    for (const auto& id : ids) {
        for (int attempt = 0; attempt < 8; ++attempt) {
            conn_.run({"WATCH", kFile + id});
            auto f = get_locked(id);
            if (!f || (unclaimed_only && f->claimed)) {
                conn_.run({"UNWATCH"});
                break;
            }
            if (!exec(conn_, {{"DEL", kFile + id},
                              {"ZREM", kUnclaimed, id},
                              {"SREM", kSha + f->sha256, id}}))
                continue;
            // The bytes go when no file of any node names them any more.
            if (reply_integer(conn_.run({"SCARD", kSha + f->sha256}).get()) == 0)
                gone.push_back(f->sha256);
            break;
        }
    }
    return gone;
}

std::vector<std::string> RedisFiles::unclaimed(int64_t before_ms, size_t limit) {
    std::lock_guard lk(mu_);
    auto r = conn_.run({"ZRANGEBYSCORE", kUnclaimed, "-inf", "(" + std::to_string(before_ms),
                        "LIMIT", "0", std::to_string(limit)});
    std::vector<std::string> out;
    if (r->type != REDIS_REPLY_ARRAY) return out;
    for (size_t i = 0; i < r->elements; ++i) out.push_back(reply_string(r->element[i]));
    return out;
}

}  // namespace ssechat::store
