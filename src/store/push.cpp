// The push stores: in memory (for tests and throwaway runs) and in the rooms' SQLite file.
#include "store/push.hpp"

#include <algorithm>
#include <mutex>

#include "store/redis/redis_push.hpp"
#include "store/sqlite/sqlite_conn.hpp"
#include "util/config.hpp"

namespace ssechat::store {

namespace {

class MemoryPush final : public Push {
  public:
    std::string vapid_key(const std::string& fresh) override {
        std::lock_guard lk(mu_);
        if (vapid_.empty()) vapid_ = fresh;
        return vapid_;
    }
    void subscribe(const model::PushSubscription& s) override {
        std::lock_guard lk(mu_);
        for (auto& [user, list] : subs_)
            std::erase_if(list, [&](const auto& o) { return o.endpoint == s.endpoint; });
        auto& list = subs_[s.user];
        list.push_back(s);
        // Oldest first: past the cap the first goes.
        std::stable_sort(list.begin(), list.end(),
                         [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
        while (list.size() > model::kMaxPushSubscriptions) list.erase(list.begin());
        std::erase_if(subs_, [](const auto& kv) { return kv.second.empty(); });
    }
    bool unsubscribe(const std::string& user, const std::string& endpoint) override {
        std::lock_guard lk(mu_);
        auto it = subs_.find(user);
        if (it == subs_.end()) return false;
        bool gone =
            std::erase_if(it->second, [&](const auto& o) { return o.endpoint == endpoint; });
        if (it->second.empty()) subs_.erase(it);
        return gone;
    }
    void drop(const std::string& endpoint) override {
        std::lock_guard lk(mu_);
        for (auto& [user, list] : subs_)
            std::erase_if(list, [&](const auto& o) { return o.endpoint == endpoint; });
        std::erase_if(subs_, [](const auto& kv) { return kv.second.empty(); });
    }
    std::vector<model::PushSubscription> subscriptions(const std::string& user) override {
        std::lock_guard lk(mu_);
        auto it = subs_.find(user);
        return it == subs_.end() ? std::vector<model::PushSubscription>{} : it->second;
    }
    std::set<std::string> subscribed() override {
        std::lock_guard lk(mu_);
        std::set<std::string> out;
        for (const auto& [user, list] : subs_) out.insert(user);
        return out;
    }
    std::map<std::string, model::NotifyLevel> levels(const std::string& user) override {
        std::lock_guard lk(mu_);
        auto it = levels_.find(user);
        return it == levels_.end() ? std::map<std::string, model::NotifyLevel>{} : it->second;
    }
    std::optional<model::NotifyLevel> level(const std::string& user,
                                            const std::string& room) override {
        std::lock_guard lk(mu_);
        auto it = levels_.find(user);
        if (it == levels_.end()) return std::nullopt;
        auto r = it->second.find(room);
        if (r == it->second.end()) return std::nullopt;
        return r->second;
    }
    std::vector<std::string> listeners(const std::string& room) override {
        std::lock_guard lk(mu_);
        std::vector<std::string> out;
        for (const auto& [user, rooms] : levels_)
            if (auto it = rooms.find(room);
                it != rooms.end() && it->second == model::NotifyLevel::All)
                out.push_back(user);
        return out;
    }
    void set_level(const std::string& user, const std::string& room,
                   model::NotifyLevel level) override {
        std::lock_guard lk(mu_);
        levels_[user][room] = level;
    }
    uint64_t cursor(size_t) override {
        std::lock_guard lk(mu_);
        return cursor_;
    }
    void advance(size_t, uint64_t pos) override {
        std::lock_guard lk(mu_);
        cursor_ = std::max(cursor_, pos);
    }

  private:
    std::mutex mu_;
    std::string vapid_;
    std::map<std::string, std::vector<model::PushSubscription>> subs_;
    std::map<std::string, std::map<std::string, model::NotifyLevel>> levels_;
    uint64_t cursor_ = 0;
};

// Created when missing: a database of an earlier release gains them in place.
constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS push_state(
    id INTEGER PRIMARY KEY CHECK(id = 1),
    vapid TEXT NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS push_subscriptions(
    endpoint TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS push_subscriptions_user ON push_subscriptions(user, created_at);
CREATE TABLE IF NOT EXISTS notify_levels(
    user TEXT NOT NULL,
    room TEXT NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY(user, room)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notify_levels_room ON notify_levels(room, level);
)sql";

class SqlitePush final : public Push {
  public:
    explicit SqlitePush(const std::string& dir) : db_(dir) { db_.exec(kTables); }

    std::string vapid_key(const std::string& fresh) override {
        std::lock_guard lk(mu_);
        return db_.transaction([&] {
            Stmt(db_, "INSERT OR IGNORE INTO push_state(id,vapid) VALUES(1,?)")
                .text(1, fresh)
                .step();
            Stmt s(db_, "SELECT vapid FROM push_state WHERE id=1");
            s.step();
            return s.text(0);
        });
    }
    void subscribe(const model::PushSubscription& s) override {
        std::lock_guard lk(mu_);
        db_.transaction([&] {
            Stmt(db_,
                 "INSERT OR REPLACE INTO push_subscriptions(endpoint,user,p256dh,auth,created_at) "
                 "VALUES(?,?,?,?,?)")
                .text(1, s.endpoint)
                .text(2, s.user)
                .text(3, s.p256dh)
                .text(4, s.auth)
                .num(5, s.created_at)
                .step();
            Stmt(db_,
                 "DELETE FROM push_subscriptions WHERE endpoint IN (SELECT endpoint FROM "
                 "push_subscriptions WHERE user=?1 ORDER BY created_at DESC, endpoint LIMIT -1 "
                 "OFFSET ?2)")
                .text(1, s.user)
                .num(2, static_cast<int64_t>(model::kMaxPushSubscriptions))
                .step();
            return true;
        });
    }
    bool unsubscribe(const std::string& user, const std::string& endpoint) override {
        std::lock_guard lk(mu_);
        Stmt(db_, "DELETE FROM push_subscriptions WHERE user=? AND endpoint=?")
            .text(1, user)
            .text(2, endpoint)
            .step();
        return db_.changes() > 0;
    }
    void drop(const std::string& endpoint) override {
        std::lock_guard lk(mu_);
        Stmt(db_, "DELETE FROM push_subscriptions WHERE endpoint=?").text(1, endpoint).step();
    }
    std::vector<model::PushSubscription> subscriptions(const std::string& user) override {
        std::lock_guard lk(mu_);
        Stmt s(db_,
               "SELECT endpoint,p256dh,auth,created_at FROM push_subscriptions WHERE user=? "
               "ORDER BY created_at, endpoint");
        s.text(1, user);
        std::vector<model::PushSubscription> out;
        while (s.step()) {
            model::PushSubscription p;
            p.user = user;
            p.endpoint = s.text(0);
            p.p256dh = s.text(1);
            p.auth = s.text(2);
            p.created_at = s.num(3);
            out.push_back(std::move(p));
        }
        return out;
    }
    std::set<std::string> subscribed() override {
        std::lock_guard lk(mu_);
        Stmt s(db_, "SELECT DISTINCT user FROM push_subscriptions");
        std::set<std::string> out;
        while (s.step()) out.insert(s.text(0));
        return out;
    }
    std::map<std::string, model::NotifyLevel> levels(const std::string& user) override {
        std::lock_guard lk(mu_);
        Stmt s(db_, "SELECT room,level FROM notify_levels WHERE user=?");
        s.text(1, user);
        std::map<std::string, model::NotifyLevel> out;
        while (s.step()) {
            auto l = s.num(1);
            if (l >= 0 && l <= 2) out[s.text(0)] = static_cast<model::NotifyLevel>(l);
        }
        return out;
    }
    std::optional<model::NotifyLevel> level(const std::string& user,
                                            const std::string& room) override {
        std::lock_guard lk(mu_);
        Stmt s(db_, "SELECT level FROM notify_levels WHERE user=? AND room=?");
        s.text(1, user).text(2, room);
        if (!s.step()) return std::nullopt;
        auto l = s.num(0);
        if (l < 0 || l > 2) return std::nullopt;
        return static_cast<model::NotifyLevel>(l);
    }
    std::vector<std::string> listeners(const std::string& room) override {
        std::lock_guard lk(mu_);
        Stmt s(db_, "SELECT user FROM notify_levels WHERE room=? AND level=0");
        s.text(1, room);
        std::vector<std::string> out;
        while (s.step()) out.push_back(s.text(0));
        return out;
    }
    void set_level(const std::string& user, const std::string& room,
                   model::NotifyLevel level) override {
        std::lock_guard lk(mu_);
        Stmt(db_, "INSERT OR REPLACE INTO notify_levels(user,room,level) VALUES(?,?,?)")
            .text(1, user)
            .text(2, room)
            .num(3, static_cast<int64_t>(level))
            .step();
    }
    uint64_t cursor(size_t) override {
        std::lock_guard lk(mu_);
        Stmt s(db_, "SELECT cursor FROM push_state WHERE id=1");
        return s.step() ? static_cast<uint64_t>(s.num(0)) : 0;
    }
    void advance(size_t, uint64_t pos) override {
        std::lock_guard lk(mu_);
        Stmt(db_, "UPDATE push_state SET cursor=max(cursor,?) WHERE id=1")
            .num(1, static_cast<int64_t>(pos))
            .step();
    }

  private:
    using Stmt = SqliteConn::Stmt;
    std::mutex mu_;
    SqliteConn db_;
};

}  // namespace

std::unique_ptr<Push> open_push(const Config& cfg) {
    if (cfg.store == "memory") return std::make_unique<MemoryPush>();
    if (cfg.store == "redis")
        return std::make_unique<RedisPush>(redis_url_of(cfg.redis), 2000, redis_durability_of(cfg));
    return std::make_unique<SqlitePush>(cfg.data_dir);
}

}  // namespace ssechat::store
