// ShardedStore: each call about a room on the room's shard; what spans rooms, on each shard.
#include "store/redis/sharded_store.hpp"

#include <algorithm>
#include <exception>

#include "util/placement.hpp"

namespace ssechat::store {

ShardedStore::ShardedStore(std::vector<RedisOptions> shards)
    : crew_(shards.empty() ? 0 : shards.size() - 1) {
    const auto n = static_cast<uint32_t>(shards.size());
    for (uint32_t i = 0; i < n; ++i) {
        shards[i].shard = i;
        shards[i].shards = n;
        if (i > 0) {
            shards[i].set_id = shards_.front()->epoch(0);
            const auto& known = shards_.front()->set_epochs();
            if (known.size() == n) shards[i].expect_epoch = known[i];
        }
        shards_.push_back(std::make_unique<RedisStore>(std::move(shards[i])));
    }
    // The set is made: shard 1 lists every shard's epoch, so that an empty or another Redis
    // in a shard's place is refused from now on.
    if (shards_.front()->set_epochs().empty()) {
        std::vector<std::string> epochs;
        for (auto& s : shards_) epochs.push_back(s->epoch(0));
        shards_.front()->record_set(epochs);
    }
}

ShardedStore::~ShardedStore() = default;

size_t ShardedStore::shard_of(const std::string& room) const {
    return placement::shard_of(room, static_cast<uint32_t>(shards_.size()));
}

template <class T, class Key>
std::vector<std::vector<size_t>> ShardedStore::by_shard(const std::vector<T>& items,
                                                        Key key) const {
    std::vector<std::vector<size_t>> out(shards_.size());
    for (size_t i = 0; i < items.size(); ++i) out[shard_of(key(items[i]))].push_back(i);
    return out;
}

std::vector<RoomMeta> ShardedStore::rooms(const std::string& after, size_t limit) {
    // Each shard's first page after `after`, merged by name: the first `limit` of the union
    // are among them.
    std::vector<RoomMeta> all;
    for (auto& s : shards_) {
        auto page = s->rooms(after, limit);
        all.insert(all.end(), std::make_move_iterator(page.begin()),
                   std::make_move_iterator(page.end()));
    }
    std::sort(all.begin(), all.end(),
              [](const RoomMeta& a, const RoomMeta& b) { return a.name < b.name; });
    if (all.size() > limit) all.resize(limit);
    return all;
}

void ShardedStore::append(const std::vector<model::Event>&) {
    throw StoreError("the sharded Redis store assigns ids itself: use publish()");
}

void ShardedStore::members(std::vector<MemberOp>& ops) {
    // Op::Settings is the user's own; every other change belongs to its room.
    auto homes = by_shard(ops, [](const MemberOp& op) -> const std::string& {
        return op.op == MemberOp::Op::Settings ? op.user : op.room;
    });
    std::exception_ptr failure;
    bool applied = false;
    for (size_t s = 0; s < shards_.size(); ++s) {
        const auto& mine = homes[s];
        if (mine.empty()) continue;
        std::vector<MemberOp> part;
        part.reserve(mine.size());
        for (size_t i : mine) {
            MemberOp op = ops[i];
            // The room limit counts every shard's rooms; this shard checks its own share
            // atomically, the others' are counted just before (a join racing on another
            // shard can pass the limit by one).
            // (0 left: members.lua answers TooMany, unless the user is in the room already.)
            // A shard that cannot be asked counts none: one shard away must not stop joins
            // on the others, at the price of a limit passed by what the user holds there.
            if (op.op == MemberOp::Op::Join || op.op == MemberOp::Op::Add) {
                size_t elsewhere = 0;
                for (size_t o = 0; o < shards_.size(); ++o) {
                    if (o == s) continue;
                    try {
                        elsewhere += shards_[o]->rooms_of(op.user);
                    } catch (const StoreError&) {
                    }
                }
                op.max_rooms = elsewhere >= op.max_rooms ? 0 : op.max_rooms - elsewhere;
            }
            part.push_back(std::move(op));
        }
        try {
            shards_[s]->members(part);
            applied = true;
        } catch (const StoreError&) {
            failure = std::current_exception();
            for (auto& op : part) op.result = MemberOp::Result::Failed;
        }
        for (size_t k = 0; k < mine.size(); ++k) ops[mine[k]] = std::move(part[k]);
    }
    if (failure && !applied) std::rethrow_exception(failure);
}

std::vector<Membership> ShardedStore::memberships(const std::string& user) {
    std::vector<Membership> all;
    for (auto& s : shards_) {
        auto part = s->memberships(user);
        all.insert(all.end(), std::make_move_iterator(part.begin()),
                   std::make_move_iterator(part.end()));
    }
    std::sort(all.begin(), all.end(),
              [](const Membership& a, const Membership& b) { return a.room < b.room; });
    return all;
}

bool ShardedStore::writable() {
    for (auto& s : shards_)
        if (!s->writable()) return false;
    return true;
}

void ShardedStore::publish(std::vector<model::Event>& batch, const std::vector<bool>& moderator,
                           std::vector<Published>& out) {
    out.assign(batch.size(), {});
    // Each shard's part of the batch, in the batch's order.
    struct Part {
        size_t shard = 0;
        std::vector<size_t> at;  // indexes into batch
        std::vector<model::Event> events;
        std::vector<bool> moderator;
        std::vector<Published> got;
        std::exception_ptr failure;
    };
    auto homes =
        by_shard(batch, [](const model::Event& e) -> const std::string& { return e.room; });
    std::vector<Part> parts;
    for (size_t s = 0; s < shards_.size(); ++s) {
        if (homes[s].empty()) continue;
        Part p;
        p.shard = s;
        p.at = std::move(homes[s]);
        for (size_t i : p.at) {
            p.events.push_back(std::move(batch[i]));
            p.moderator.push_back(i < moderator.size() && moderator[i]);
        }
        parts.push_back(std::move(p));
    }
    auto run = [this](Part& p) {
        try {
            shards_[p.shard]->publish(p.events, p.moderator, p.got);
        } catch (const StoreError&) {
            p.failure = std::current_exception();
        }
    };
    // The shards at once: a batch waits for its slowest shard, not for the sum of them. (Each
    // RedisStore's publish has its own connection; only this thread and these calls use them.)
    std::vector<std::function<void()>> jobs;
    jobs.reserve(parts.size());
    for (auto& p : parts) jobs.emplace_back([&run, &p] { run(p); });
    crew_.run(jobs);
    std::exception_ptr failure;
    bool stored = false;
    for (auto& p : parts) {
        if (p.failure) {
            failure = p.failure;
            bool unconfirmed = false;
            try {
                std::rethrow_exception(p.failure);
            } catch (const NotReplicated&) {
                unconfirmed = true;
            } catch (const StoreError&) {
            }
            p.got.assign(p.events.size(), {});
            for (auto& g : p.got)
                g.status = unconfirmed ? model::Outcome::Unconfirmed : model::Outcome::StoreFailed;
        } else {
            stored = true;
        }
        for (size_t k = 0; k < p.at.size(); ++k) {
            batch[p.at[k]] = std::move(p.events[k]);
            out[p.at[k]] = std::move(p.got[k]);
        }
    }
    // Nothing reached a store: the writer's own accounting of a failed commit applies.
    if (failure && !stored) std::rethrow_exception(failure);
}

void ShardedStore::follow(FeedHandlers handlers) {
    handlers_ = std::move(handlers);
    for (size_t s = 0; s < shards_.size(); ++s)
        shards_[s]->follow({[this, s](FeedBatch& b) {
                                std::lock_guard lk(feed_mu_);
                                b.shard = s;
                                handlers_.batch(b);
                            },
                            [this] {
                                std::lock_guard lk(feed_mu_);
                                handlers_.resumed();
                            },
                            [this](const std::string& room) {
                                std::lock_guard lk(feed_mu_);
                                handlers_.followed(room);
                            }});
}

void ShardedStore::route(const std::string& room, bool on) {
    shards_[shard_of(room)]->route(room, on);
}

void ShardedStore::watch(const std::string& user, bool on) {
    // A user's membership changes are made on their rooms' shards: heard from every shard,
    // asked of all at once and then waited for.
    for (auto& s : shards_) s->watch_start(user, on);
    if (on)
        for (auto& s : shards_) s->watch_wait(user);
}

void ShardedStore::sync(size_t shard) {
    shards_[shard]->sync(shard);
}

std::vector<size_t> ShardedStore::online_counts(const std::vector<std::string>& rooms) {
    std::vector<size_t> out(rooms.size(), 0);
    auto homes = by_shard(rooms, [](const std::string& r) -> const std::string& { return r; });
    for (size_t s = 0; s < shards_.size(); ++s) {
        const auto& mine = homes[s];
        if (mine.empty()) continue;
        std::vector<std::string> names;
        for (size_t i : mine) names.push_back(rooms[i]);
        auto got = shards_[s]->online_counts(names);
        for (size_t k = 0; k < mine.size() && k < got.size(); ++k) out[mine[k]] = got[k];
    }
    return out;
}

void ShardedStore::stop() {
    for (auto& s : shards_) s->stop();
}

}  // namespace ssechat::store
