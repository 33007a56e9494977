// The storage interface every backend implements: durable, ordered, per-room event logs, and
// the current state of every message in them.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/access.hpp"
#include "model/event.hpp"
#include "model/search.hpp"

namespace ssechat::store {
class Cluster;
}

namespace ssechat::store {

// A store that cannot do what was asked; the message says what and, for files, which file.
struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A replicated store's primary took a change but fewer replicas than asked confirmed it in
// time (--redis-replicas). The change may be there, and may be lost if the primary dies now:
// a retry with the same Idempotency-Key finds it rather than storing it twice.
struct NotReplicated : StoreError {
    using StoreError::StoreError;
};

struct RoomMeta {
    std::string name;
    uint64_t last_id = 0;  // the highest id ever assigned in the room, even if trimmed since
};

// A user's membership of a room.
struct Membership {
    std::string room;
    uint64_t read = 0;   // the read marker: the newest id the user has seen
    uint64_t since = 0;  // the store's position when they joined (Event::pos)
};

// A user's own settings.
struct Settings {
    bool dms_from_anyone = true;  // false: only from people in a room with them
};

// A change of memberships or of a room's rules, applied by the writer thread in commit order;
// members() fills in the result. The writer has checked it against the rules (model/access)
// first: a store only applies it, atomically with the rest of its batch.
struct MemberOp {
    enum class Op : uint8_t {
        Join,      // the user joins (or is made a member of a room being created) with `role`
        Leave,     // the user leaves, or `by` removes them
        Read,      // the user's read marker moves to `id`
        Add,       // `by` adds the user with `role`, or gives a member `role`
        Ban,       // `restriction` bans the user, who stops being a member
        Unban,     // lifts the user's ban
        Mute,      // `restriction` mutes the user
        Unmute,    // lifts the user's mute
        Profile,   // the room's profile becomes `profile` (made, or changed)
        Settings,  // the user's settings become `settings`
    };
    enum class Result : uint8_t {
        Done,       // applied
        Unchanged,  // already a member with that role (Join, Add), or a marker at or past that
                    // id (Read)
        NotMember,  // Leave or Read by someone who is not a member; Unban or Unmute of
                    // someone who is not banned or muted
        TooMany,    // Join or Add past max_rooms
        LastOwner,  // refused before the store: it would leave the room without an owner
        Failed,     // not applied: its part of the store was away (one shard of several;
                    // with one store, members() throws instead)
    };
    Op op = Op::Join;
    std::string user;
    std::string room;
    uint64_t id = 0;       // Join, Add: the first marker; Read: the marker asked for
    uint64_t pos = 0;      // Join, Add: the position now
    size_t max_rooms = 0;  // Join, Add: the most rooms a user may be in
    model::Role role = model::Role::Member;  // Join, Add
    std::string by;                          // Leave (a removal), Add, Ban, Mute: who did it
    int64_t ts = 0;                          // unix ms it was made
    model::Restriction restriction{};        // Ban, Mute
    model::Profile profile{};                // Profile
    Settings settings{};                     // Settings
    Result result = Result::Done;
    uint64_t read = 0;        // the marker after the change (Leave, Ban: the one it had)
    bool was_member = false;  // Ban: the user was a member, and is no longer
};

// How many of a room's messages after a marker are from others and not deleted, and how many
// of those mention the user. A count reads at most `cap` + 1 such messages, whatever the
// room holds, so that a summary costs the same for a room with a million unread: `unread`
// is exact up to `cap`, else cap and `unread_more`; `mentions` counts those among the first
// `cap`, and past them `mentions_more` says more may follow.
struct Unread {
    size_t unread = 0;
    bool unread_more = false;
    size_t mentions = 0;
    bool mentions_more = false;
};

// What an applied change (result Done) does to a room's rules, as the stores hold them and a
// loaded room keeps them. Applying one twice leaves the same state (the cluster feed brings
// back a node's own changes).
void apply(model::Roster& r, const MemberOp& op);

// Whether range(), messages() or shown() with these bounds can hold nothing: `after + 1`
// wraps at the largest id, so that one is caught before it is computed.
inline bool empty_range(uint64_t after, uint64_t before, size_t limit) {
    return limit == 0 || after == UINT64_MAX || before <= after + 1;
}

// A fresh epoch (Store::epoch): 8 random hex digits. Throws StoreError.
std::string make_epoch();

// Thread model: append() is called from one writer thread only; the read calls may come from
// any thread concurrently with it.
class Store {
  public:
    virtual ~Store() = default;

    // Rooms that hold messages, by name, with names after `after` ("" from the start), at
    // most `limit` of them: one page, in time bounded by the page, not by the room count.
    // Throws StoreError.
    virtual std::vector<RoomMeta> rooms(const std::string& after, size_t limit) = 0;

    // The last id assigned in a room, 0 for a room without messages. Throws StoreError.
    virtual uint64_t last_id(const std::string& room) = 0;

    // Stores a batch of events atomically and durably before returning (all or nothing). Ids
    // are already assigned and increase within each room; the writer has checked every change
    // (model::check) against the state this store holds plus the batch before it. Each event
    // also updates its message's state: an edit sets the text, a reaction adds or removes one
    // user's emoji, and a delete erases the text of the message and of its edits from the
    // store's files. A message with a key also records it, to expire ttl seconds after the
    // message's ts. Applies the retention limit, in events. Throws StoreError.
    virtual void append(const std::vector<model::Event>& batch) = 0;

    // The writer calls this after each batch, appended or not. A store may keep a batch's
    // reads (message(), find_key()) and its append() in one transaction; this ends one that
    // reads opened and no append() closed (every event of the batch refused). Writer thread
    // only.
    virtual void end_batch() {}

    // Events of `room` with after < id < before, oldest first, at most `limit` of them: the
    // oldest ones of that range, or with `newest` the newest ones. Messages come in their
    // current state, without reactions (those follow as their own events). One consistent
    // read: ids in a room have no holes, so a result that does not start at after + 1 shows
    // that retention trimmed what is missing. Throws StoreError.
    virtual std::vector<model::Event> range(const std::string& room, uint64_t after,
                                            uint64_t before, size_t limit, bool newest) = 0;

    // Like range(), over the room's messages only, each in its current state with reactions.
    // Throws StoreError.
    virtual std::vector<model::Event> messages(const std::string& room, uint64_t after,
                                               uint64_t before, size_t limit, bool newest) = 0;

    // Like messages(), with the records of the room's rules (Member, RoomChange events) among
    // them in id order: what a page shows of a room after a reload. Throws StoreError.
    virtual std::vector<model::Event> shown(const std::string& room, uint64_t after,
                                            uint64_t before, size_t limit, bool newest) = 0;

    // One message in its current state with every reacting user, or nullopt when the room has
    // no message with that id (another kind's id included). Writer thread only: it sees the
    // writer's last commit. Throws StoreError.
    virtual std::optional<model::Event> message(const std::string& room, uint64_t id) = 0;

    // The message an Idempotency-Key of `user` in `room` stored, unless it expired by now_ms.
    // append() records a message's key in the same transaction as the message, so a key is
    // there exactly when its message is. Writer thread only. Throws StoreError.
    virtual std::optional<model::KeyRecord> find_key(const std::string& room,
                                                     const std::string& user,
                                                     const std::string& key, int64_t now_ms) = 0;

    // A store spread over shards (Redis with several --redis URLs) orders events per shard:
    // each room's events are all on shard_of(room), and positions (Event::pos), epochs and
    // the log below are each shard's own. A user stream's cursor holds a position per shard.
    // Every other store is one shard, 0.
    virtual size_t shards() const { return 1; }
    virtual size_t shard_of(const std::string& room) const {
        (void)room;
        return 0;
    }
    // The epoch names a shard's data: it is made when the store is created, so a cursor
    // from a store that was wiped since is recognised as foreign.
    virtual const std::string& epoch(size_t shard) = 0;
    // The newest position given to an event (Event::pos) on a shard, 0 when none was. Throws
    // StoreError.
    virtual uint64_t last_pos(size_t shard) = 0;
    // The id of the room's oldest event with a position after `pos`, nullopt when there is
    // none. Throws StoreError.
    virtual std::optional<uint64_t> first_after(const std::string& room, uint64_t pos) = 0;
    // The stored events of every room of a shard with a position after `pos`, in position
    // order, at most `limit`; messages in their state now. What webhooks and pushes are sent
    // from. With replicas required (Redis, --redis-replicas), only what the replicas are
    // known to have. The default, for a store that keeps no such order, throws StoreError.
    virtual std::vector<model::Event> log_after(size_t shard, uint64_t pos, size_t limit) {
        (void)shard, (void)pos, (void)limit;
        throw StoreError("this store keeps no log in position order");
    }

    // Applies membership changes in one transaction, durably, filling in each one's result.
    // Writer thread only. Throws StoreError (then nothing was applied).
    virtual void members(std::vector<MemberOp>& ops) = 0;
    // One transaction around the members() and append() calls up to commit_together(), so
    // that a change of a room's rules and the event recording it are stored together or not
    // at all (SQLite). A store without a shared transaction (memory, whose calls hold its lock
    // each) does nothing; a store shared by several nodes is not asked. Writer thread only.
    virtual void begin_together() {}
    // Throws StoreError when the commit fails; nothing of it is stored then.
    virtual void commit_together() {}
    // Ends an open one and stores none of it (a call in it threw).
    virtual void abandon_together() {}
    // The rooms a user is in, by name. Throws StoreError.
    virtual std::vector<Membership> memberships(const std::string& user) = 0;
    // A room's rules: its profile (none for an implicit room), members with their roles, bans
    // and mutes (lapsed ones too). Throws StoreError.
    virtual model::Roster roster(const std::string& room) = 0;
    // What an access check needs of a room that is not loaded: its profile and, of its
    // members, bans and mutes, `user`'s entries only, in time that does not grow with the
    // room. Throws StoreError.
    virtual model::Roster roster_of(const std::string& room, const std::string& user) = 0;
    // A room's profile alone, nullopt for an implicit room. Throws StoreError.
    virtual std::optional<model::Profile> profile(const std::string& room) = 0;
    // A user's settings (the defaults when never set). Throws StoreError.
    virtual Settings settings(const std::string& user) = 0;
    // A room's members and their read markers, by user. Throws StoreError.
    virtual std::vector<std::pair<std::string, uint64_t>> receipts(const std::string& room) = 0;
    // What `user` has not read in `room` after `after`. Throws StoreError.
    virtual Unread unread(const std::string& room, const std::string& user, uint64_t after,
                          size_t cap) = 0;

    // Whether search() works here: SQLite keeps an index, memory scans; the Redis store does
    // not search.
    virtual bool searchable() const { return false; }
    // Messages of `rooms` in their current state (deleted ones never) matching `q`'s phrases
    // and `from`, newest first, each with SearchHit::at below `before`, at most `limit`.
    // The caller has narrowed `rooms` to those the asker may read, `in:` included. Throws
    // StoreError, also when !searchable().
    virtual std::vector<model::SearchHit> search(const model::SearchQuery& q,
                                                 const std::vector<std::string>& rooms,
                                                 int64_t before, size_t limit);

    // True when a write would succeed now (for /healthz).
    virtual bool writable() = 0;

    // Set for a store that several nodes share (Redis). Such a store assigns ids itself, so
    // events go through cluster()->publish() and append() is refused.
    virtual Cluster* cluster() { return nullptr; }
};

}  // namespace ssechat::store
