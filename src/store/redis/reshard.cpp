// reshard(): rooms copied key by key to their new shard, then removed from the old one.
// A room's keys are the ones publish.lua and members.lua write (see their headers).
#include "store/redis/reshard.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "store/redis/fields.hpp"
#include "store/redis/redis_conn.hpp"
#include "store/store.hpp"
#include "util/clock.hpp"
#include "util/placement.hpp"

namespace ssechat::store {

namespace {

const std::string kP = "ssechat:";
const std::string kProgress = "ssechat:reshard";  // on the first shard, while a run is under way
constexpr size_t kPage = 500;

// Key prefixes (after "ssechat:") followed by the room's name alone.
const char* const kRoomKeys[] = {"room:",  "msg:",  "edit:",  "mids:",    "rids:",  "readers:",
                                 "roles:", "bans:", "mutes:", "profile:", "online:"};

std::string list_text(const std::vector<RedisUrl>& list) {
    std::string out;
    for (const auto& u : list) out += (out.empty() ? "" : ",") + u.text();
    return out;
}

// What one shard holds: each room's keys, and the users whose settings are here.
struct Holdings {
    std::map<std::string, std::vector<std::string>> rooms;  // room -> its keys
    std::vector<std::string> settings;                      // users
};

Holdings scan(RedisConn& c) {
    Holdings h;
    std::string cursor = "0";
    do {
        auto r = c.run({"SCAN", cursor, "MATCH", kP + "*", "COUNT", "1000"});
        cursor = reply_string(r->element[0]);
        const redisReply* keys = r->element[1];
        for (size_t i = 0; i < keys->elements; ++i) {
            std::string key = reply_string(keys->element[i]);
            std::string_view rest = std::string_view(key).substr(kP.size());
            std::string room;
            for (const char* p : kRoomKeys)
                if (rest.starts_with(p)) room = std::string(rest.substr(std::strlen(p)));
            if (rest.starts_with("react:")) {
                std::string_view r2 = rest.substr(6);  // <room>:<id>; a room has no ':'
                room = std::string(r2.substr(0, r2.rfind(':')));
            } else if (rest.starts_with("idem:")) {
                std::string_view r2 = rest.substr(5);  // <room>\x1f<user>\x1f<key>
                room = std::string(r2.substr(0, r2.find('\x1f')));
            } else if (rest.starts_with("settings:")) {
                h.settings.emplace_back(rest.substr(9));
            }
            if (!room.empty()) h.rooms[room].push_back(std::move(key));
        }
    } while (cursor != "0");
    // A room whose keys were all trimmed still has its last id.
    auto names = c.run({"HKEYS", kP + "rooms"});
    for (size_t i = 0; i < names->elements; ++i) h.rooms[reply_string(names->element[i])];
    return h;
}

// The shard's place as its marker says: {index, count}, or {-1, 0} without one.
std::pair<long, long> place(RedisConn& c) {
    auto r = c.run({"GET", kP + "shard"});
    if (r->type != REDIS_REPLY_STRING) return {-1, 0};
    long i = -1, n = 0;
    if (std::sscanf(reply_string(r.get()).c_str(), "%ld/%ld/", &i, &n) != 2) return {-1, 0};
    return {i, n};
}

class Mover {
  public:
    Mover(RedisConn& first, RedisConn& from, RedisConn& to) : first_(first), s_(from), t_(to) {}

    // Copies `room` whole to the new shard; returns its events.
    size_t copy(const std::string& room, const std::vector<std::string>& keys) {
        const std::string stream = kP + "room:" + room;
        std::vector<std::pair<uint64_t, uint64_t>> moved_pos;  // old position -> new one
        t_.run({"DEL", stream});
        std::string from = "-";
        size_t events = 0;
        while (true) {
            auto page = s_.run({"XRANGE", stream, from, "+", "COUNT", std::to_string(kPage)});
            if (page->elements == 0) break;
            const uint64_t n = page->elements;
            const uint64_t last = static_cast<uint64_t>(
                reply_integer(t_.run({"INCRBY", kP + "pos", std::to_string(n)}).get()));
            uint64_t next = last - n + 1;
            std::vector<std::vector<std::string>> adds;
            for (size_t i = 0; i < page->elements; ++i) {
                const redisReply* e = page->element[i];
                std::vector<std::string> add{"XADD", stream, reply_string(e->element[0])};
                const redisReply* f = e->element[1];
                for (size_t k = 0; k + 1 < f->elements; k += 2) {
                    std::string name = reply_string(f->element[k]);
                    std::string value = reply_string(f->element[k + 1]);
                    if (name == "p") {
                        moved_pos.emplace_back(std::stoull(value), next);
                        value = std::to_string(next++);
                    }
                    add.push_back(std::move(name));
                    add.push_back(std::move(value));
                }
                adds.push_back(std::move(add));
            }
            for (auto& r : t_.pipeline(adds))
                if (r->type == REDIS_REPLY_ERROR)
                    throw StoreError("reshard: XADD: " + std::string(r->str));
            events += n;
            std::string id = reply_string(page->element[n - 1]->element[0]);
            from = "(" + id;
        }
        for (const auto& key : keys) {
            if (key == stream || key == kP + "online:" + room) continue;
            if (key == kP + "msg:" + room) {
                copy_states(key);
                continue;
            }
            auto dump = s_.pipeline({{"DUMP", key}, {"PTTL", key}});
            if (dump[0]->type != REDIS_REPLY_STRING) continue;  // gone since the scan (expired)
            long long ttl = dump[1]->type == REDIS_REPLY_INTEGER ? dump[1]->integer : -1;
            if (ttl == -2) continue;
            t_.run({"RESTORE", key, std::to_string(ttl > 0 ? ttl : 0),
                    std::string(dump[0]->str, dump[0]->len), "REPLACE"});
        }
        auto last_id = s_.run({"HGET", kP + "rooms", room});
        if (last_id->type == REDIS_REPLY_STRING) {
            t_.run({"HSET", kP + "rooms", room, reply_string(last_id.get())});
            t_.run({"ZADD", kP + "room-names", "0", room});
        }
        // Each member's record of the room, its join position taken to the new shard's.
        const uint64_t end = static_cast<uint64_t>(
            std::stoull(reply_string_or(t_.run({"GET", kP + "pos"}).get(), "0")));
        for (const auto& user : members(room)) {
            auto v = s_.run({"HGET", kP + "member:" + user, room});
            if (v->type != REDIS_REPLY_STRING) continue;
            std::string rec = reply_string(v.get());
            size_t a = rec.find('\x1f');
            if (a != std::string::npos) {
                size_t b = rec.find('\x1f', a + 1);
                uint64_t since = std::stoull(rec.substr(a + 1, b - a - 1));
                rec = rec.substr(0, a + 1) + std::to_string(map_pos(moved_pos, since, end)) +
                      (b == std::string::npos ? "" : rec.substr(b));
            }
            t_.run({"HSET", kP + "member:" + user, room, rec});
        }
        first_.run({"HSET", kProgress, "room:" + room, "copied"});
        return events;
    }

    // Removes `room` from the old shard: the members' records first, the members last, so
    // that a run cut short here still finds the room (and its members) next time.
    void remove(const std::string& room, const std::vector<std::string>& keys) {
        log_ids_ = log_entries(kP + "msg:" + room);
        auto users = members(room);
        for (const auto& user : users) s_.run({"HDEL", kP + "member:" + user, room});
        if (!log_ids_.empty()) {
            std::vector<std::string> xdel{"XDEL", kP + "log"};
            xdel.insert(xdel.end(), log_ids_.begin(), log_ids_.end());
            s_.run(xdel);
        }
        for (const auto& key : keys)
            if (key != kP + "readers:" + room) s_.run({"DEL", key});
        s_.pipeline({{"HDEL", kP + "rooms", room}, {"ZREM", kP + "room-names", room}});
        s_.run({"DEL", kP + "readers:" + room});
        first_.run({"HDEL", kProgress, "room:" + room});
    }

  private:
    static std::string reply_string_or(const redisReply* r, const char* dflt) {
        return r && r->type == REDIS_REPLY_STRING ? std::string(r->str, r->len) : dflt;
    }

    std::vector<std::string> members(const std::string& room) {
        auto r = s_.run({"HKEYS", kP + "readers:" + room});
        std::vector<std::string> out;
        for (size_t i = 0; i < r->elements; ++i) out.push_back(reply_string(r->element[i]));
        return out;
    }

    // A join position on the new shard: after the same events as on the old one.
    static uint64_t map_pos(const std::vector<std::pair<uint64_t, uint64_t>>& moved, uint64_t since,
                            uint64_t end) {
        if (moved.empty()) return end;
        auto it = std::upper_bound(moved.begin(), moved.end(), since,
                                   [](uint64_t v, const auto& m) { return v < m.first; });
        if (it == moved.begin()) return moved.front().second - 1;
        return std::prev(it)->second;
    }

    // The old shard's log entries that hold the room's texts (each state's list "l").
    std::vector<std::string> log_entries(const std::string& key) {
        std::vector<std::string> out;
        std::string cursor = "0";
        do {
            auto r = s_.run({"HSCAN", key, cursor, "COUNT", std::to_string(kPage)});
            cursor = reply_string(r->element[0]);
            const redisReply* kv = r->element[1];
            for (size_t i = 0; i + 1 < kv->elements; i += 2) {
                boost::json::error_code ec;
                auto v = boost::json::parse(reply_string(kv->element[i + 1]), ec);
                if (ec || !v.is_object()) continue;
                if (auto* l = v.as_object().if_contains("l"); l && l->is_array())
                    for (const auto& id : l->as_array())
                        if (id.is_string()) out.emplace_back(id.as_string());
            }
        } while (cursor != "0");
        return out;
    }

    // The message states, each without its list of entries in the old shard's log (the
    // texts there are deleted with the room; a later delete has none to erase).
    void copy_states(const std::string& key) {
        t_.run({"DEL", key});
        std::string cursor = "0";
        do {
            auto r = s_.run({"HSCAN", key, cursor, "COUNT", std::to_string(kPage)});
            cursor = reply_string(r->element[0]);
            const redisReply* kv = r->element[1];
            std::vector<std::string> hset{"HSET", key};
            for (size_t i = 0; i + 1 < kv->elements; i += 2) {
                std::string state = reply_string(kv->element[i + 1]);
                boost::json::error_code ec;
                auto v = boost::json::parse(state, ec);
                if (!ec && v.is_object()) {
                    v.as_object()["l"] = boost::json::array();
                    state = boost::json::serialize(v);
                }
                hset.push_back(reply_string(kv->element[i]));
                hset.push_back(std::move(state));
            }
            if (hset.size() > 2) t_.run(hset);
        } while (cursor != "0");
    }

    RedisConn &first_, &s_, &t_;
    std::vector<std::string> log_ids_;
};

}  // namespace

ReshardReport reshard(const std::vector<RedisUrl>& from, const std::vector<RedisUrl>& to,
                      const std::function<void(const std::string& line)>& say) {
    if (from.empty() || to.empty()) throw StoreError("reshard: --from and --to each need a list");
    if (from.front().text() != to.front().text())
        throw StoreError("reshard: the first shard must be the same Redis in --from and --to (" +
                         from.front().text() + " and " + to.front().text() +
                         "): accounts, sessions, files, webhooks and push live there");
    // One connection per Redis, whichever lists it is in.
    std::map<std::string, std::unique_ptr<RedisConn>> conns;
    auto conn = [&](const RedisUrl& u) -> RedisConn& {
        auto& c = conns[u.text()];
        if (!c) {
            c = std::make_unique<RedisConn>(u, 10000);
            c->connect();
        }
        return *c;
    };
    RedisConn& first = conn(from.front());
    const std::string want = list_text(from) + " -> " + list_text(to);
    auto progress = first.run({"HGET", kProgress, "lists"});
    const bool resuming = progress->type == REDIS_REPLY_STRING;
    if (resuming && reply_string(progress.get()) != want)
        throw StoreError("reshard: another one is under way (" + reply_string(progress.get()) +
                         "): run it again with those lists to finish it first");
    // Nodes must be stopped: a node's streams keep presence entries that expire in the future.
    for (const auto* list : {&from, &to})
        for (const auto& u : *list) {
            auto live = conn(u).run({"ZCOUNT", kP + "presence", std::to_string(now_ms()), "+inf"});
            if (reply_integer(live.get()) > 0)
                throw StoreError("reshard: nodes seem to be running on " + u.text() +
                                 " (presence that has not expired): stop every node first (a "
                                 "killed node's presence expires within --presence-ttl)");
        }
    if (!resuming) {
        // The old list must be the one the data was written with.
        for (size_t i = 0; i < from.size(); ++i) {
            auto [idx, n] = place(conn(from[i]));
            bool fits = (idx == static_cast<long>(i) && n == static_cast<long>(from.size())) ||
                        (idx == -1 && from.size() == 1);
            if (!fits)
                throw StoreError("reshard: " + from[i].text() + " is not shard " +
                                 std::to_string(i + 1) + " of " + std::to_string(from.size()) +
                                 " by its marker: --from must be the list the data was written "
                                 "with, in its order");
        }
        // A new shard must be empty.
        for (const auto& u : to) {
            bool known = std::any_of(from.begin(), from.end(),
                                     [&](const RedisUrl& f) { return f.text() == u.text(); });
            if (!known && reply_integer(conn(u).run({"EXISTS", kP + "epoch"}).get()) > 0)
                throw StoreError("reshard: " + u.text() +
                                 " holds ssechat data already; a new shard must be empty");
        }
        first.run({"HSET", kProgress, "lists", want});
    }
    const auto n_to = static_cast<uint32_t>(to.size());
    ReshardReport report;
    std::set<std::string> done;  // Redis servers scanned
    for (size_t i = 0; i < from.size(); ++i) {
        RedisConn& s = conn(from[i]);
        if (!done.insert(from[i].text()).second) continue;
        Holdings h = scan(s);
        for (auto& [room, keys] : h.rooms) {
            ++report.rooms;
            const RedisUrl& dest = to[placement::shard_of(room, n_to)];
            if (dest.text() == from[i].text()) continue;
            Mover m(first, s, conn(dest));
            auto state = first.run({"HGET", kProgress, "room:" + room});
            size_t events = 0;
            if (state->type != REDIS_REPLY_STRING) events = m.copy(room, keys);
            m.remove(room, keys);
            ++report.moved;
            report.events += events;
            boost::json::object line{
                {"room", room}, {"from", from[i].text()}, {"to", dest.text()}, {"events", events}};
            say(boost::json::serialize(line));
        }
        // A user's settings live on the user's shard.
        for (const auto& user : h.settings) {
            const RedisUrl& dest = to[placement::shard_of(user, n_to)];
            if (dest.text() == from[i].text()) continue;
            const std::string key = kP + "settings:" + user;
            auto v = s.run({"GET", key});
            if (v->type == REDIS_REPLY_STRING) conn(dest).run({"SET", key, reply_string(v.get())});
            s.run({"DEL", key});
        }
    }
    // New epochs: every user stream's cursor starts over (its positions are not the new
    // shards'), and the markers name the new list.
    std::vector<std::string> epochs;
    for (const auto& u : to) {
        epochs.push_back(make_epoch());
        conn(u).run({"SET", kP + "epoch", epochs.back()});
    }
    for (uint32_t j = 0; j < n_to; ++j)
        conn(to[j]).run({"SET", kP + "shard",
                         std::to_string(j) + "/" + std::to_string(n_to) + "/" + epochs.front()});
    std::string all;
    for (const auto& e : epochs) all += (all.empty() ? "" : ",") + e;
    if (n_to > 1)
        first.run({"SET", kP + "shard-epochs", all});
    else
        first.run({"DEL", kP + "shard-epochs"});
    for (const auto& u : from)
        if (std::none_of(to.begin(), to.end(),
                         [&](const RedisUrl& t) { return t.text() == u.text(); }))
            conn(u).run({"DEL", kP + "shard", kP + "shard-epochs"});
    // Webhook and push cursors: kept for a shard that keeps its place, the log's end for any
    // other (its positions are another Redis's).
    std::vector<std::string> ends;
    for (uint32_t j = 0; j < n_to; ++j) {
        auto p = conn(to[j]).run({"GET", kP + "pos"});
        ends.push_back(p->type == REDIS_REPLY_STRING ? reply_string(p.get()) : "0");
    }
    std::vector<std::string> owners{kP + "push"};
    auto hooks = first.run({"SMEMBERS", kP + "webhooks"});
    for (size_t i = 0; i < hooks->elements; ++i)
        owners.push_back(kP + "webhook:" + reply_string(hooks->element[i]));
    for (const auto& key : owners) {
        if (reply_integer(first.run({"EXISTS", key}).get()) == 0) continue;
        for (uint32_t j = 0; j < n_to; ++j)
            if (j >= from.size() || from[j].text() != to[j].text())
                first.run({"HSET", key, cursor_field(j), ends[j]});
        for (size_t j = n_to; j < from.size(); ++j) first.run({"HDEL", key, cursor_field(j)});
    }
    first.run({"DEL", kProgress});
    return report;
}

}  // namespace ssechat::store
