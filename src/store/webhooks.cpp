// The webhook stores: in memory (for tests and throwaway runs) and in the rooms' SQLite file.
#include "store/webhooks.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>

#include "store/redis/redis_webhooks.hpp"
#include "store/room_list.hpp"
#include "store/sqlite/sqlite_conn.hpp"
#include "util/config.hpp"

namespace ssechat::store {

namespace {

class MemoryWebhooks final : public Webhooks {
  public:
    void add(const model::Webhook& w) override {
        std::lock_guard lk(mu_);
        hooks_[w.id] = w;
    }
    std::vector<model::Webhook> list() override {
        std::lock_guard lk(mu_);
        std::vector<model::Webhook> out;
        for (const auto& [id, w] : hooks_) out.push_back(w);
        return out;
    }
    std::optional<model::Webhook> get(const std::string& id) override {
        std::lock_guard lk(mu_);
        auto it = hooks_.find(id);
        if (it == hooks_.end()) return std::nullopt;
        return it->second;
    }
    bool update(const model::Webhook& w) override {
        std::lock_guard lk(mu_);
        auto it = hooks_.find(w.id);
        if (it == hooks_.end()) return false;
        auto cursor = it->second.cursor;
        it->second = w;
        it->second.cursor = cursor;
        return true;
    }
    bool remove(const std::string& id) override {
        std::lock_guard lk(mu_);
        deliveries_.erase(id);
        return hooks_.erase(id) > 0;
    }
    void advance(const std::string& id, size_t shard, uint64_t cursor) override {
        std::lock_guard lk(mu_);
        if (auto it = hooks_.find(id); it != hooks_.end() && shard < it->second.cursor.size())
            it->second.cursor[shard] = std::max(it->second.cursor[shard], cursor);
    }
    void record(const std::string& id, const model::Delivery& d) override {
        std::lock_guard lk(mu_);
        auto& list = deliveries_[id];
        list.push_front(d);
        if (list.size() > model::kHookDeliveriesKept) list.pop_back();
    }
    std::vector<model::Delivery> deliveries(const std::string& id) override {
        std::lock_guard lk(mu_);
        auto it = deliveries_.find(id);
        if (it == deliveries_.end()) return {};
        return {it->second.begin(), it->second.end()};
    }

    model::Positions log_end() override { return {0}; }

  private:
    std::mutex mu_;
    std::map<std::string, model::Webhook> hooks_;
    std::map<std::string, std::deque<model::Delivery>> deliveries_;
};

// Created when missing: a database of an earlier release gains them in place.
constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS webhooks(
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events INTEGER NOT NULL,
    rooms TEXT,
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS webhook_deliveries(
    webhook TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status INTEGER NOT NULL,
    error TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY(webhook, seq)) WITHOUT ROWID;
)sql";

class SqliteWebhooks final : public Webhooks {
  public:
    explicit SqliteWebhooks(const std::string& dir) : db_(dir) { db_.exec(kTables); }

    void add(const model::Webhook& w) override {
        std::lock_guard lk(mu_);
        Stmt s(db_,
               "INSERT INTO webhooks(id,url,secret,events,rooms,created_by,created_at,cursor,"
               "disabled,disabled_reason) VALUES(?,?,?,?,?,?,?,?,?,?)");
        s.text(1, w.id).text(2, w.url).text(3, w.secret).num(4, w.events);
        if (!w.every_room) s.text(5, join_rooms(w.rooms));
        s.text(6, w.created_by).num(7, w.created_at).num(8, static_cast<int64_t>(w.cursor.front()));
        s.num(9, w.disabled).text(10, w.disabled_reason).step();
    }
    std::vector<model::Webhook> list() override {
        std::lock_guard lk(mu_);
        Stmt s(db_, (std::string(kSelect) + " ORDER BY created_at, id").c_str());
        std::vector<model::Webhook> out;
        while (s.step()) out.push_back(read(s));
        return out;
    }
    std::optional<model::Webhook> get(const std::string& id) override {
        std::lock_guard lk(mu_);
        Stmt s(db_, (std::string(kSelect) + " WHERE id=?").c_str());
        s.text(1, id);
        if (!s.step()) return std::nullopt;
        return read(s);
    }
    bool update(const model::Webhook& w) override {
        std::lock_guard lk(mu_);
        Stmt s(db_,
               "UPDATE webhooks SET url=?,events=?,rooms=?,disabled=?,disabled_reason=? WHERE "
               "id=?");
        s.text(1, w.url).num(2, w.events);
        if (!w.every_room) s.text(3, join_rooms(w.rooms));
        s.num(4, w.disabled).text(5, w.disabled_reason).text(6, w.id).step();
        return db_.changes() > 0;
    }
    bool remove(const std::string& id) override {
        std::lock_guard lk(mu_);
        return db_.transaction([&] {
            Stmt(db_, "DELETE FROM webhook_deliveries WHERE webhook=?").text(1, id).step();
            Stmt(db_, "DELETE FROM webhooks WHERE id=?").text(1, id).step();
            return db_.changes() > 0;
        });
    }
    void advance(const std::string& id, size_t shard, uint64_t cursor) override {
        std::lock_guard lk(mu_);
        advance_locked(id, shard, cursor);
    }
    void record(const std::string& id, const model::Delivery& d) override {
        std::lock_guard lk(mu_);
        db_.transaction([&] {
            record_locked(id, d);
            return true;
        });
    }
    void save(const std::vector<Moved>& cursors,
              const std::vector<std::pair<std::string, model::Delivery>>& attempts) override {
        std::lock_guard lk(mu_);
        db_.transaction([&] {
            for (const auto& m : cursors) advance_locked(m.id, m.shard, m.cursor);
            for (const auto& [id, d] : attempts) record_locked(id, d);
            return true;
        });
    }
    std::vector<model::Delivery> deliveries(const std::string& id) override {
        std::lock_guard lk(mu_);
        Stmt s(db_,
               "SELECT message_id,type,attempt,status,error,ts FROM webhook_deliveries WHERE "
               "webhook=? ORDER BY seq DESC");
        s.text(1, id);
        std::vector<model::Delivery> out;
        while (s.step()) {
            model::Delivery d;
            d.message_id = s.text(0);
            d.type = s.text(1);
            d.attempt = static_cast<int>(s.num(2));
            d.status = static_cast<int>(s.num(3));
            d.error = s.text(4);
            d.ts = s.num(5);
            out.push_back(std::move(d));
        }
        return out;
    }

    model::Positions log_end() override {
        std::lock_guard lk(mu_);
        // The rooms' tables are made by the server; before it ever ran there is no log yet.
        Stmt t(db_, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='messages'");
        if (!t.step()) return {0};
        Stmt s(db_, "SELECT coalesce(max(pos),0) FROM messages");
        s.step();
        return {static_cast<uint64_t>(s.num(0))};
    }

  private:
    using Stmt = SqliteConn::Stmt;
    void advance_locked(const std::string& id, size_t shard, uint64_t cursor) {
        if (shard != 0) return;  // SQLite is one shard
        Stmt(db_, "UPDATE webhooks SET cursor=max(cursor,?) WHERE id=?")
            .num(1, static_cast<int64_t>(cursor))
            .text(2, id)
            .step();
    }
    void record_locked(const std::string& id, const model::Delivery& d) {
        Stmt s(db_,
               "INSERT INTO webhook_deliveries(webhook,seq,message_id,type,attempt,status,"
               "error,ts) VALUES(?1,(SELECT coalesce(max(seq),0)+1 FROM webhook_deliveries "
               "WHERE webhook=?1),?2,?3,?4,?5,?6,?7)");
        s.text(1, id).text(2, d.message_id).text(3, d.type).num(4, d.attempt);
        s.num(5, d.status).text(6, d.error).num(7, d.ts).step();
        Stmt(db_,
             "DELETE FROM webhook_deliveries WHERE webhook=?1 AND seq <= (SELECT max(seq) "
             "FROM webhook_deliveries WHERE webhook=?1) - ?2")
            .text(1, id)
            .num(2, static_cast<int64_t>(model::kHookDeliveriesKept))
            .step();
    }
    static constexpr const char* kSelect =
        "SELECT id,url,secret,events,rooms,created_by,created_at,cursor,disabled,"
        "disabled_reason FROM webhooks";
    static model::Webhook read(Stmt& s) {
        model::Webhook w;
        w.id = s.text(0);
        w.url = s.text(1);
        w.secret = s.text(2);
        w.events = static_cast<uint8_t>(s.num(3));
        w.every_room = sqlite3_column_type(s.get(), 4) == SQLITE_NULL;
        if (!w.every_room) w.rooms = split_rooms(s.text(4));
        w.created_by = s.text(5);
        w.created_at = s.num(6);
        w.cursor = {static_cast<uint64_t>(s.num(7))};  // SQLite is one shard
        w.disabled = s.num(8) != 0;
        w.disabled_reason = s.text(9);
        return w;
    }
    std::mutex mu_;
    SqliteConn db_;
};

}  // namespace

std::unique_ptr<Webhooks> open_webhooks(const Config& cfg) {
    if (cfg.store == "memory") return std::make_unique<MemoryWebhooks>();
    if (cfg.store == "redis")
        return std::make_unique<RedisWebhooks>(redis_urls_of(cfg.redis), 2000,
                                               redis_durability_of(cfg));
    return std::make_unique<SqliteWebhooks>(cfg.data_dir);
}

}  // namespace ssechat::store
