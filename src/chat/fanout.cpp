// A loop's fan-out: commits queued between flushes leave as one write per stream, and a flush
// yields to the loop every kSlice streams.
#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"

namespace ssechat::chat {

namespace asio = boost::asio;

namespace {
// Streams written per slice: small enough that a slice takes a few hundred microseconds,
// large enough that yielding costs nothing measurable.
constexpr size_t kSlice = 128;
}  // namespace

Fanout::Fanout(Shard& shard) : shard_(shard), timer_(shard.ioc()) {}

void Fanout::deliver(std::shared_ptr<const Delivery> d) {
    if (!shard_.rooms().find(d->room.get())) return;
    pending_.push_back(std::move(d));
    if (!shard_.rooms().walking) schedule();
}

void Fanout::schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    // Adaptive coalescing: the first delivery after a quiet spell goes out at once (posted
    // behind what is already queued, so a backlog still leaves as one write). Under load a
    // flush waits until --coalesce-us after the previous one began, so that each stream gets
    // many events per sendmsg: the kernel's per-call cost, not ours, dominates a delivery.
    // And it waits a quarter of the previous pass after that pass ended: flushes back to back
    // would leave publishes only the gaps between slices, so fewer events would reach each
    // pass and every event would cost more writes (bench/RESULTS.md, "Coalescing").
    auto interval = std::chrono::microseconds(shard_.hub().config().coalesce_us);
    auto due = std::max(last_flush_ + interval, last_flush_end_ + last_pass_ / 4);
    if (interval.count() == 0 || std::chrono::steady_clock::now() >= due) {
        asio::post(shard_.ioc(), [this] { flush(); });
    } else {
        timer_.expires_at(due);
        timer_.async_wait([this](boost::system::error_code ec) {
            if (!ec) flush();
        });
    }
}

void Fanout::flush() {
    scheduled_ = false;
    last_flush_ = std::chrono::steady_clock::now();
    // Group by room, keeping order; consecutive commits of a room merge into one run.
    runs_.clear();
    for (auto& d : pending_) {
        const Room* room = d->room.get();
        Run* run = nullptr;
        for (auto it = runs_.rbegin(); it != runs_.rend(); ++it)
            if (it->room == room) {
                run = &*it;
                break;
            }
        if (!run) {
            runs_.push_back(Run{room, {}, {}, {}, 0, false, {}, {}, false});
            run = &runs_.back();
        }
        run->events.insert(run->events.end(), d->events.begin(), d->events.end());
        run->from.insert(run->from.end(), d->events.size(), d.get());
        for (uint64_t id : d->ids) {
            run->ids.push_back(id);
            if (id == 0)
                run->ephemeral = true;
            else
                run->last = id;
        }
        if (d->view) {
            run->view = d->view;
            run->quiet_to_authors = d->quiet_to_authors;
        }
        for (const auto& u : d->authors)
            if (std::find(run->authors.begin(), run->authors.end(), u) == run->authors.end())
                run->authors.push_back(u);
    }
    held_.swap(pending_);
    pending_.clear();
    run_ = pos_ = 0;
    view_phase_ = false;
    shard_.rooms().walking = true;
    // User streams first, in one go: each gets one write for all its rooms.
    shard_.users().flush(held_);
    resume();
}

void Fanout::resume() {
    size_t budget = kSlice;
    uint64_t count = 0;
    while (run_ < runs_.size()) {
        const Run& r = runs_[run_];
        if (auto* subs = shard_.rooms().find(r.room)) {
            auto& list = view_phase_ ? subs->viewers : subs->native;
            while (pos_ < list.size() && budget > 0) {
                Subscriber* s = list[pos_++];
                if (!s) continue;
                --budget;
                send_run(s, r);
                ++count;
            }
            if (pos_ < list.size()) {
                metrics().deliveries.fetch_add(count, std::memory_order_relaxed);
                asio::post(shard_.ioc(), [this] { resume(); });
                return;
            }
        }
        pos_ = 0;
        if (!view_phase_ && r.view) {
            view_phase_ = true;
        } else {
            view_phase_ = false;
            ++run_;
        }
    }
    metrics().deliveries.fetch_add(count, std::memory_order_relaxed);
    auto& index = shard_.rooms();
    index.walking = false;
    last_flush_end_ = std::chrono::steady_clock::now();
    last_pass_ = last_flush_end_ - last_flush_;
    runs_.clear();
    held_.clear();
    if (index.tombstones) index.compact();
    if (!pending_.empty()) schedule();
}

void Fanout::send_run(Subscriber* s, const Run& r) {
    if (s->view) {
        if (!r.view || s->last_sent >= r.last) return;
        s->last_sent = r.last;
        if (r.quiet_to_authors && r.authors.size() == 1 && r.authors[0] == s->user) return;
        s->send(r.view);
        return;
    }
    if (!r.ephemeral) {
        if (s->last_sent >= r.last) return;
        // Usually the whole run; after a replay that overlapped it, only the newer part.
        auto from = static_cast<size_t>(std::upper_bound(r.ids.begin(), r.ids.end(), s->last_sent) -
                                        r.ids.begin());
        s->last_sent = r.last;
        s->send(std::span<const sse::Buffer>(r.events).subspan(from));
        return;
    }
    // Stored events newer than the stream has, and the others if they are for it: presence
    // when it asked for it, and typing unless it is the typist's own.
    scratch_.clear();
    for (size_t i = 0; i < r.ids.size(); ++i) {
        bool want;
        if (r.ids[i] != 0) {
            want = r.ids[i] > s->last_sent;
            if (want) s->last_sent = r.ids[i];
        } else {
            const Delivery& d = *r.from[i];
            want = (d.unstored != Kind::Presence || s->presence) && d.skip_user != s->user;
        }
        if (want) scratch_.push_back(r.events[i]);
    }
    if (!scratch_.empty()) s->send(scratch_);
}

}  // namespace ssechat::chat
