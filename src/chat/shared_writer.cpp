// SharedWriter: a store several nodes write. The store gives ids and positions and checks
// each change in its own atomic step; every node, this one too, delivers from the feed.
#include "chat/shared_writer.hpp"

#include "util/clock.hpp"

namespace ssechat::chat {

SharedWriter::SharedWriter(const Config& cfg, store::Store& store, Sequence& seq,
                           store::Cluster& cluster)
    : Writer(cfg, store, seq), cluster_(cluster) {}

SharedWriter::~SharedWriter() {
    stop();
}

void SharedWriter::commit(std::vector<Pending>& batch) {
    // The store assigns ids and settles keys in the same atomic step; fan-out, even to this
    // node's own streams, comes from the feed, so every node delivers the same sequence
    // whichever node took the publish.
    std::vector<Event> msgs;
    std::vector<bool> moderator;
    msgs.reserve(batch.size());
    int64_t ts = now_ms();
    for (auto& p : batch) {
        p.msg.ts = ts;
        msgs.push_back(p.msg);
        moderator.push_back(p.moderator);
    }
    std::vector<store::Published> out;
    auto t0 = std::chrono::steady_clock::now();
    try {
        cluster_.publish(msgs, moderator, out);
    } catch (const store::StoreError& e) {
        return refuse(batch, e);
    }
    succeeded();
    auto t1 = committed(t0, batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
        auto& p = batch[i];
        p.msg.id = msgs[i].id;
        p.msg.ts = msgs[i].ts;
        p.state = std::move(out[i].state);
        // The store checked the change and the key: its outcome is the answer, but that a
        // message's reply_to names nothing, which it tells as the change's NotFound.
        p.outcome = out[i].status == PublishOutcome::NotFound && p.msg.kind == Kind::Message
                        ? PublishOutcome::BadReply
                        : out[i].status;
    }
    acknowledge(batch, t1);
}

bool SharedWriter::store_members(std::vector<store::MemberOp>& ops,
                                 const std::vector<MemberJob*>& kept,
                                 std::vector<Pending>& records) {
    // The store fills in a join's id and position in its own atomic step.
    try {
        store_.members(ops);
    } catch (const store::StoreError& e) {
        failed(e);
        return false;
    }
    records = records_for(kept, ops);
    return true;
}

void SharedWriter::commit_records(std::vector<Pending>& records) {
    // Two steps with a shared store: the rules change is in, its record follows.
    commit(records);
}

}  // namespace ssechat::chat
