// A room's shared state: the recent-event cache, its view (if it has one), and who is online.
#pragma once
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "chat/sequence.hpp"
#include "chat/view.hpp"
#include "model/access.hpp"
#include "model/event.hpp"
#include "sse/event.hpp"
#include "store/store.hpp"

namespace ssechat::chat {

using model::Event;
using model::Kind;

// A stored event, encoded once: its SSE event is shared by every reader.
struct Entry {
    uint64_t id = 0;
    Kind kind = Kind::Message;
    uint64_t target = 0;     // Edit: the message it changed (a delete erases its text here too)
    uint64_t pos = 0;        // its position (Event::pos): user streams order and resume by it
    sse::Buffer event;       // "id/event/data" SSE event, for room streams
    sse::Buffer user_event;  // the same with the user-stream cursor as its id; null until a
                             // user stream needs it (user_form)
};

// The event as room streams carry it: "id: N", "event: <kind>", data: `json`, encoded once.
sse::Buffer room_form(const Event& e, std::string_view json);

class Room;

// What one commit, or one event that is not stored (presence), hands to every shard.
struct Delivery {
    std::shared_ptr<Room> room;
    std::vector<sse::Buffer> events;  // in order
    std::vector<uint64_t> ids;        // their ids, ascending; 0 for an event that is not stored
    std::vector<uint64_t> pos;        // their positions (0 for events that are not stored)
    std::vector<sse::Buffer> user_events;  // stored events as user streams carry them (null
                                           // when no user stream was open at the commit; never
                                           // with several store shards)
    uint64_t order = 0;                    // Sequence::commits when it was sequenced
    bool gap = false;                      // ids before the first were skipped (a cluster gap)
    uint64_t sequenced = 0;                // with gap: Sequence::gaps counting this one
    sse::Buffer view;                      // the room's view after them, if they changed it and a
                                           // view stream exists
    std::vector<std::string> authors;      // distinct users who changed the view
    bool quiet_to_authors = false;         // the view is not sent back to them (View)
    Kind unstored = Kind::Presence;        // the kind of its events with id 0
    std::string skip_user;                 // whose streams do not get its events with id 0
    uint64_t last_id() const { return ids.empty() ? 0 : ids.back(); }
};

// What a new stream starts from, read under the room lock so no live event falls in between.
struct Snapshot {
    std::vector<Entry> entries;  // cached entries to replay
    uint64_t delivered = 0;      // the newest id handed out for fan-out so far
    uint64_t cache_first = 0;    // the oldest id in the cache (delivered + 1 when empty)
    sse::Buffer view;            // the view's rendering, for view streams
    bool messages_only = true;   // the cache holds no edit, delete or reaction: its messages
                                 // are in their current state
    bool covered = true;         // since_pos(): the cache holds every event after that position
};

class Room : public std::enable_shared_from_this<Room> {
  public:
    // `view`: the room's view (see chat/view.hpp), or null. `shard`: the store shard that
    // holds it (Store::shard_of).
    Room(std::string name, uint64_t last_id, size_t cache_cap, std::unique_ptr<View> view = {},
         size_t shard = 0);

    const std::string& name() const { return name_; }
    size_t shard() const { return shard_; }

    // Writer thread only: ids are assigned there, in commit order.
    uint64_t assign_id() { return ++assigned_; }
    uint64_t assigned() const { return assigned_; }
    void rewind_ids(uint64_t to) { assigned_ = to; }

    // Fills the cache from the store's newest events and the view from its newest messages
    // (in their current state, view_depth() of them), before the room is shared.
    void warm(const std::vector<Event>& recent, const std::vector<Event>& view_tail);
    size_t view_depth() const { return view_ ? view_->depth() : 0; }

    // Appends committed events (ascending ids), applies them to the view, and returns what to
    // fan out. A delete also erases the text of its message and of its edits from the cache. With
    // `gap`, ids before the first were skipped: the delivery starts with a reset naming the first
    // id, and the cache restarts there, so a resume into the gap reads the store instead.
    // With `seq` (held), each event is also encoded for user streams (Delivery::user_events),
    // its cursor taken from there.
    std::shared_ptr<Delivery> commit(const std::vector<const Event*>& events, bool gap = false,
                                     const Sequence* seq = nullptr);

    // Cached entries with id > after (all of them if after precedes the cache).
    Snapshot since(uint64_t after);
    // Cached entries with a position after `pos`; `covered` says whether they are all of
    // the room's events after it.
    Snapshot since_pos(uint64_t pos);
    // The newest k cached entries.
    Snapshot last(size_t k);
    // Registers a stream of the room's view and returns its first event, the rendering;
    // close_view() undoes the registration. Only for a room with a view.
    bool has_view() const { return view_ != nullptr; }
    Snapshot open_view();
    void close_view();

    uint64_t delivered();
    // Presence: the distinct-user count after a user's first join or last leave; -1 otherwise.
    int join(const std::string& user);
    int leave(const std::string& user);
    std::vector<std::string> online();
    size_t online_count();
    // Presence through user streams: each loop's record of a user (Member) joins each of
    // their rooms once; `user` (the record's name) stays valid until the matching leave. A
    // user normally has one record (their home loop); TLS streams, which cannot change loops,
    // may add more. Same results as join() and leave(): a user online any way counts once.
    int join_member(const std::string* user);
    int leave_member(const std::string* user);

    // Typing: `user` says they are typing (or stopped) at `now` (ms). Returns the state to
    // send to the room now, if any: at most one per user per 2 s; a state that must wait is
    // sent by typing_due() when its turn comes, and typing lapses 6 s after the last renewal.
    std::optional<bool> typing(const std::string& user, bool on, int64_t now);
    // The typing states due by `now`: lapsed ones (false) and ones that had to wait.
    std::vector<std::pair<std::string, bool>> typing_due(int64_t now);
    bool anyone_typing();

    // Read receipts: `user`'s marker moved to `id` at `now` (ms). Returns the id to announce
    // now, if any: at most one per user per second, the latest marker winning; a held one is
    // returned by receipts_due() when its second is up.
    std::optional<uint64_t> receipt(const std::string& user, uint64_t id, int64_t now);
    std::vector<std::pair<std::string, uint64_t>> receipts_due(int64_t now);

    // The room's rules (model::Roster), read from the store when the room loads and kept
    // current by each change committed here (the writer) or heard from other nodes (the
    // feed), so that no access check reads the store while the room is loaded.
    void set_roster(model::Roster r);
    void apply(const store::MemberOp& op);
    model::Visibility visibility();
    model::Standing standing(std::string_view user, model::Role server, int64_t now_ms);
    // Runs f(const model::Roster&) under the rules' lock: for answers that list them.
    template <class F>
    auto with_roster(F&& f) {
        std::lock_guard lk(rules_mu_);
        return f(static_cast<const model::Roster&>(roster_));
    }

  private:
    Entry make_entry(const Event& e, const Sequence* seq = nullptr) const;
    void cache_push(Entry e);
    void erase_cached(uint64_t target);
    Snapshot base_locked() const;

    const std::string name_;
    const size_t shard_;
    const size_t cache_cap_;
    const std::unique_ptr<View> view_;  // guarded by mu_ like the rest
    uint64_t assigned_;                 // writer thread only
    std::mutex mu_;                     // guards everything below
    uint64_t delivered_;                // newest committed id in the cache
    std::deque<Entry> cache_;           // newest cache_cap_ committed entries
    size_t changes_ = 0;                // entries in cache_ that are not messages
    int view_streams_ = 0;              // open streams of the view, across shards
    struct Typing {
        bool want = false;    // what the user says now
        bool sent = false;    // what the others were last told
        int64_t expires = 0;  // when `want` lapses unless renewed
        int64_t next_ok = 0;  // the earliest time another event may go out
    };
    std::map<std::string, Typing> typing_;  // user -> state, while it matters
    struct Receipt {
        uint64_t want = 0;    // the newest marker
        uint64_t sent = 0;    // the last one announced
        int64_t next_ok = 0;  // the earliest time another may go out
    };
    std::map<std::string, Receipt> receipts_;  // user -> receipt state, while one is held
    std::map<std::string, int> online_;        // user -> open streams in this room
    std::mutex rules_mu_;                      // guards roster_ alone: never held with mu_
    model::Roster roster_;
    // Users online through a user stream, sorted by name: a pointer each, since a user in many
    // rooms is in each one's list (no per-room copy of the name).
    std::vector<const std::string*> members_online_;
    size_t distinct_members_ = 0;  // distinct names in members_online_
    size_t overlap_ = 0;           // users in both online_ and members_online_
    bool member_online_locked(const std::string& user) const;
    size_t online_locked() const { return online_.size() + distinct_members_ - overlap_; }
};

}  // namespace ssechat::chat
