// Feed: every node's commits, read from the shared store's log, delivered to this node's
// loaded rooms once each and in id order, with gaps filled from the store.
#include "chat/feed.hpp"

#include "chat/metrics.hpp"
#include "util/log.hpp"

namespace ssechat::chat {

Feed::Feed(const Config& cfg, store::Store& store, Registry& registry, Sequence& seq,
           FanOut fan_out)
    : cfg_(cfg), store_(store), registry_(registry), seq_(seq), fan_out_(std::move(fan_out)) {}

void Feed::advance(size_t shard, uint64_t pos) {
    std::lock_guard lk(seq_.mu);
    if (pos > seq_.pos[shard]) {
        seq_.pos[shard] = pos;
        seq_.moved.notify_all();
    }
}

void Feed::on_batch(std::vector<Event>& msgs, size_t from, size_t to) {
    // Consecutive messages of one room become one delivery, as a local group commit does.
    metrics().feed_messages.fetch_add(to - from, std::memory_order_relaxed);
    for (size_t i = from; i < to;) {
        size_t j = i;
        while (j < to && msgs[j].room == msgs[i].room) ++j;
        // A room nobody here has opened is skipped: it reads its stream when it loads. The
        // feed brings only the rooms this node follows, so the metric of the others counts
        // only a room's last moments after it was let go (and its first, while its load
        // reads the store, which that read covers).
        auto r = registry_.find(msgs[i].room);
        bool ours = r || registry_.wanted(msgs[i].room);
        (ours ? metrics().feed_read_loaded : metrics().feed_read_unloaded)
            .fetch_add(j - i, std::memory_order_relaxed);
        if (r)
            ingest(r, {std::make_move_iterator(msgs.begin() + static_cast<std::ptrdiff_t>(i)),
                       std::make_move_iterator(msgs.begin() + static_cast<std::ptrdiff_t>(j))});
        i = j;
    }
}

void Feed::ingest(const std::shared_ptr<Room>& r, std::vector<Event> msgs) {
    // Only ingest commits to a room in cluster mode, so under ingest_mu_ delivered() cannot
    // move between this read and the commit below.
    std::lock_guard lk(ingest_mu_);
    uint64_t have = r->delivered();
    bool probe = msgs.empty();  // catching up: look for anything newer in the store
    std::erase_if(msgs, [&](const Event& m) { return m.id <= have; });
    if (msgs.empty() && !probe) {
        // Normally these were seen through the room's warm-up read. But if Redis lost data
        // (no AOF, a flush), its ids restart below ours, and this node would skip every new
        // message of the room: say so, since only a restart of the nodes recovers.
        if (uint64_t now = store_.last_id(r->name()); now < have)
            log::error("room " + r->name() + " is at id " + std::to_string(now) +
                       " in the store, below the " + std::to_string(have) +
                       " this node delivered: the store lost data; restart every node");
        return;
    }
    uint64_t first = msgs.empty() ? UINT64_MAX : msgs.front().id;
    bool filled = first != have + 1;
    if (filled) {
        // A gap: the log was trimmed past entries this node had not read (it was stopped or
        // slow), or this is a catch-up probe. The room's stream has every message; a room
        // more than --max-replay behind takes the newest of them, as a resume would.
        size_t missing = first == UINT64_MAX ? cfg_.max_replay : first - have - 1;
        auto fill = store_.range(r->name(), have, first, std::min(missing, cfg_.max_replay),
                                 missing > cfg_.max_replay);
        metrics().feed_gap_fills.fetch_add(fill.size(), std::memory_order_relaxed);
        msgs.insert(msgs.begin(), fill.begin(), fill.end());
    }
    if (msgs.empty()) return;
    std::vector<const Event*> ptrs;
    ptrs.reserve(msgs.size());
    for (const auto& m : msgs) ptrs.push_back(&m);
    // Further behind than --max-replay, or retention trimmed the missing ids: live streams
    // are told with a reset, as a resume would be, instead of seeing ids jump.
    bool gap = msgs.front().id != have + 1;
    if (gap) metrics().feed_resets.fetch_add(1, std::memory_order_relaxed);
    // Under the sequence lock, with the position moved in the same step: a user stream
    // opening now sees this commit in its snapshot or live, never both or neither.
    std::lock_guard seq(seq_.mu);
    // With several shards every event carries its user form, made now: its cursor holds
    // where the other shards stand at this moment, which a later encoding could not know.
    auto d = r->commit(ptrs, gap, seq_.user_streams || seq_.sharded() ? &seq_ : nullptr);
    d->order = ++seq_.commits;
    // Filled events are older than positions user streams may have passed: those streams
    // are cut, and resume by cursor from the store, in order.
    d->gap = d->gap || filled;
    if (d->gap) d->sequenced = ++seq_.gaps;
    fan_out_(std::move(d));
    if (uint64_t& at = seq_.pos[r->shard()]; msgs.back().pos > at) {
        at = msgs.back().pos;
        seq_.moved.notify_all();
    }
}

void Feed::catch_up() {
    metrics().feed_catchups.fetch_add(1, std::memory_order_relaxed);
    for (const auto& r : registry_.loaded()) ingest(r, {});
}

}  // namespace ssechat::chat
