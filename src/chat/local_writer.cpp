// LocalWriter: a store this node alone writes. Keys are settled, changes checked against
// their message's state (a cache of the states the last commits left) and ids and positions
// given here, in commit order; a commit is delivered by this node's fan-out.
#include "chat/local_writer.hpp"

#include <algorithm>

#include "chat/metrics.hpp"
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

LocalWriter::LocalWriter(const Config& cfg, store::Store& store, Sequence& seq, FanOut fan_out,
                         MemberNotify notify)
    : Writer(cfg, store, seq), fan_out_(std::move(fan_out)), notify_(std::move(notify)) {}

LocalWriter::~LocalWriter() {
    stop();  // before the members the thread uses go
}

void LocalWriter::starting() {
    pos_ = seq_.pos.front();  // a store the writer numbers for is one shard
}

void LocalWriter::number_join(MemberJob& j) {
    j.op.id = j.room->delivered();
    j.op.pos = pos_;
}

bool LocalWriter::store_members(std::vector<store::MemberOp>& ops,
                                const std::vector<MemberJob*>& kept,
                                std::vector<Pending>& records) {
    // The changes and their records in one transaction: a crash keeps both or neither.
    staged_ = Staged{};
    try {
        store_.begin_together();
        store_.members(ops);
        records = records_for(kept, ops);
        bool stored = records.empty() || stage(records, staged_);
        if (stored)
            store_.commit_together();
        else
            store_.abandon_together();
        return stored;
    } catch (const store::StoreError& e) {
        failed(e);
        store_.abandon_together();
        if (!records.empty() && !staged_.rewind.empty()) {
            unstage(staged_);
            refuse(records, e);
        }
        return false;
    }
}

void LocalWriter::members_applied(const std::vector<MemberJob*>& kept) {
    std::lock_guard lk(seq_.mu);
    for (auto* j : kept)
        if (j->op.result == store::MemberOp::Result::Done) notify_(j->op, j->room);
}

void LocalWriter::commit_records(std::vector<Pending>& records) {
    // After the members heard of the change: one added sees its record on their stream.
    deliver(records, staged_, committed(staged_.start, staged_.msgs.size()));
}

void LocalWriter::commit(std::vector<Pending>& batch) {
    Staged staged;
    if (!stage(batch, staged)) return;
    deliver(batch, staged, committed(staged.start, staged.msgs.size()));
}

void LocalWriter::settle_keys(std::vector<Pending>& batch, int64_t now) {
    // Per key in this batch: its first publish, and the hash of the text the store has for
    // it (empty when the key is new).
    struct First {
        size_t index;
        std::string stored_hash;
    };
    std::unordered_map<std::string, First> first;
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& m = batch[i].msg;
        if (m.key.empty() || m.kind != Kind::Message) continue;
        std::string k = m.room + '\x1f' + m.user_id + '\x1f' + m.key;
        if (auto it = first.find(k); it != first.end()) {
            // The same key again in one batch (concurrent retries): the first is stored, and
            // the others are answered with it once it is (resolve_duplicates).
            const auto& f = it->second;
            bool same = f.stored_hash.empty() ? batch[f.index].msg.text == m.text
                                              : f.stored_hash == model::text_hash(m.text);
            batch[i].outcome = same ? PublishOutcome::Replayed : PublishOutcome::KeyConflict;
            batch[i].first = f.index;
            continue;
        }
        First f{i, {}};
        if (auto rec = store_.find_key(m.room, m.user_id, m.key, now)) {
            bool same = rec->text_hash == model::text_hash(m.text);
            batch[i].outcome = same ? PublishOutcome::Replayed : PublishOutcome::KeyConflict;
            m.id = rec->id;
            m.ts = rec->ts;
            f.stored_hash = rec->text_hash;
        }
        first.emplace(std::move(k), std::move(f));
    }
}

bool LocalWriter::stage(std::vector<Pending>& batch, Staged& s) {
    int64_t ts = now_ms();
    try {
        settle_keys(batch, ts);
    } catch (const store::StoreError& e) {
        refuse(batch, e);
        return false;
    }
    // Ids are assigned here, in queue order, so they increase in commit order per room;
    // positions likewise across rooms.
    s.pos_before = pos_;
    try {
        s.msgs = check_and_number(batch, ts, s.rewind, s.touched);
        s.start = std::chrono::steady_clock::now();
        if (!s.msgs.empty()) store_.append(s.msgs);
    } catch (const store::StoreError& e) {
        unstage(s);
        refuse(batch, e);
        return false;
    }
    succeeded();
    return true;
}

void LocalWriter::unstage(Staged& s) {
    for (auto& [r, id] : s.rewind) r->rewind_ids(id);
    pos_ = s.pos_before;
    forget(s.touched);
}

void LocalWriter::deliver(std::vector<Pending>& batch, Staged& s,
                          std::chrono::steady_clock::time_point t1) {
    resolve_duplicates(batch);
    // One delivery per room, in id order; user streams see the batch whole or not at all.
    {
        std::lock_guard lk(seq_.mu);
        const Sequence* at = seq_.user_streams ? &seq_ : nullptr;
        const uint64_t order = ++seq_.commits;
        std::vector<std::shared_ptr<const Delivery>> out;
        out.reserve(s.rewind.size());
        for (auto& [r, first] : s.rewind) {
            std::vector<const Event*> mine;
            std::shared_ptr<Room> owner;
            for (auto& p : batch)
                if (p.room.get() == r && p.outcome == PublishOutcome::Ok) {
                    mine.push_back(&p.msg);
                    owner = p.room;
                }
            if (!owner) continue;
            auto d = owner->commit(mine, false, at);
            d->order = order;
            out.push_back(std::move(d));
        }
        if (!out.empty()) fan_out_(std::move(out));
        seq_.pos.front() = pos_;
    }
    acknowledge(batch, t1);
    // After the answers, which may still point into `touched`.
    remember(s.touched);
}

std::vector<Event> LocalWriter::check_and_number(std::vector<Pending>& batch, int64_t ts,
                                                 std::vector<std::pair<Room*, uint64_t>>& rewind,
                                                 Touched& state) {
    // The messages this batch reads or changes, by room and id: from the writer's cache or
    // the store once, then changed here as the batch's events apply, so that a later event
    // of the same batch is checked against the state the earlier ones leave.
    auto lookup = [&](Pending& p, uint64_t id) -> Touch& {
        auto [it, fresh] = state.try_emplace(state_key(p.msg.room, id));
        Touch& t = it->second;
        if (fresh) {
            bool trimmed = cfg_.retain && id + cfg_.retain <= p.room->assigned();
            if (!trimmed) find_cached(it->first, t);
            if (!t.state()) t.own = store_.message(p.msg.room, id);
        }
        return t;
    };
    std::vector<Event> out;
    out.reserve(batch.size());
    for (auto& p : batch) {
        if (p.outcome != PublishOutcome::Ok) continue;  // answered with what its key stored
        auto& ev = p.msg;
        Touch* touch = nullptr;  // a change's message, in `state` (its nodes do not move)
        Event* target = nullptr;
        // The answer of the batch's earlier change to this message is the state before this
        // one: that change gets a copy of it now.
        auto answers = [&] {
            if (Pending* earlier = touch->last) {
                earlier->state = *target;
                earlier->answer = &earlier->state;
            }
            touch->last = &p;
            p.answer = target;
        };
        if (model::rules_kind(ev.kind)) {
            // A record of a change the members commit applied: nothing to check.
        } else if (ev.kind == Kind::Message) {
            if (ev.reply_to && !lookup(p, ev.reply_to).state()) {
                p.outcome = PublishOutcome::BadReply;
                continue;
            }
        } else {
            touch = &lookup(p, ev.target);
            target = touch->state();
            if (auto verdict = model::check(target, ev, p.moderator);
                verdict != PublishOutcome::Ok) {
                p.outcome = verdict;
                if (verdict == PublishOutcome::NoChange) answers();
                continue;
            }
        }
        Room* r = p.room.get();
        if (std::none_of(rewind.begin(), rewind.end(), [&](auto& x) { return x.first == r; }))
            rewind.emplace_back(r, r->assigned());
        ev.id = r->assign_id();
        ev.pos = ++pos_;
        ev.ts = ts;
        if (ev.kind == Kind::Message) {
            // A later event of the batch, or of a later batch, may reply to it or change it.
            Touch& t = state[state_key(ev.room, ev.id)];
            t.cached = nullptr;
            t.own = ev;
            t.own->key.clear();
        } else if (target) {
            answers();
            model::apply(*target, ev);
        }
        out.push_back(ev);
    }
    return out;
}

std::string LocalWriter::state_key(const std::string& room, uint64_t id) {
    std::string k = room;
    k += '\x1f';
    k += std::to_string(id);
    return k;
}

void LocalWriter::find_cached(const std::string& key, Touch& t) {
    // Neither copied: the batch changes a young state where it is, and moves an old one out
    // for its commit to put in young_ (remember). A failed commit drops the key (forget).
    if (auto c = young_.find(key); c != young_.end()) {
        t.cached = &c->second;
    } else if (auto o = old_.find(key); o != old_.end()) {
        t.own = std::move(o->second);
    }
}

namespace {
// Bytes a cached state holds, about: its map node and its strings (ignoring the short ones'
// inline storage). A message of --max-message bytes is 4 KiB, so the cache is bounded in bytes
// too, not only in states.
size_t approx_bytes(const std::string& key, const Event& e) {
    size_t n = sizeof(Event) + 64 + key.size() + e.text.size() + e.user_id.size();
    for (const auto& r : e.reactions) {
        n += sizeof(r) + r.emoji.size();
        for (const auto& u : r.users) n += sizeof(u) + u.size();
    }
    return n;
}
}  // namespace

void LocalWriter::remember(Touched& touched) {
    size_t half = std::max<size_t>(cfg_.state_cache / 2, 1);
    for (auto& [k, t] : touched) {
        // A state changed in place, or put back, counts again: the half only fills sooner.
        if (t.cached) {
            young_bytes_ += approx_bytes(k, *t.cached);
        } else if (t.own) {
            if (!old_.empty()) old_.erase(k);
            young_bytes_ += approx_bytes(k, *t.own);
            young_.insert_or_assign(k, std::move(*t.own));
        } else {
            continue;
        }
        // young_'s nodes, and the states the batch changed in them, move to old_ whole.
        if (young_.size() >= half || young_bytes_ >= kStateCacheBytes / 2) {
            old_ = std::move(young_);
            young_.clear();
            young_bytes_ = 0;
        }
    }
}

void LocalWriter::forget(const Touched& touched) {
    for (const auto& [k, t] : touched) {
        young_.erase(k);
        old_.erase(k);
    }
}

void LocalWriter::resolve_duplicates(std::vector<Pending>& batch) {
    // A publish that repeated a key earlier in the same batch (settle_keys) now gets its
    // original's id and ts (the original was stored, or itself replayed, just before), or,
    // when the original was refused (a bad reply_to), the same refusal.
    for (auto& p : batch) {
        if (p.first == kNone) continue;
        const Pending& orig = batch[p.first];
        if (orig.outcome == PublishOutcome::BadReply) {
            p.outcome = PublishOutcome::BadReply;
            continue;
        }
        p.msg.id = orig.msg.id;
        p.msg.ts = orig.msg.ts;
    }
}

}  // namespace ssechat::chat
