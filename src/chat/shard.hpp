// A shard: one event loop and the streams it owns (room streams, user streams), its room
// index and its fan-out; nothing here is shared with other loops.
#pragma once
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <unordered_map>

#include "chat/room.hpp"
#include "model/scope.hpp"
#include "sse/stream.hpp"
#include "store/store.hpp"

namespace ssechat::chat {

class Hub;
class Shard;

// What a stream was opened with that can end before the stream does: a sign-in session
// that is signed out, or whose account is disabled. Shared by every stream of that session;
// Shard::end_revoked() ends the streams of a revoked one.
struct Credential {
    std::atomic<bool> revoked{false};
};

// The limit slots a stream holds while it lives: its user's stream slot and its connection's
// slot, and the credential it was opened with (null: one that cannot end, such as a token
// until it expires). Dropping them frees the slots. Fields, not a vector: no allocation per
// stream.
struct Slots {
    std::shared_ptr<void> stream, conn;
    std::shared_ptr<const Credential> credential = {};
    void clear() {
        stream.reset();
        conn.reset();
        credential.reset();
    }
    bool revoked() const {
        return credential && credential->revoked.load(std::memory_order_relaxed);
    }
};

// A stream subscribed to one room on one shard.
class Subscriber final : public sse::Stream {
  public:
    Subscriber(sse::Conn conn, size_t limit, Shard& shard, std::shared_ptr<Room> room,
               std::string user, bool view);

    Shard& shard;
    const std::shared_ptr<Room> room;
    const std::string user;
    const bool view;         // takes the room's view (whole renderings, no ids), not its events
    bool presence = true;    // receives join/leave events
    bool joined = false;     // counted in the room's presence (and its view streams)
    uint64_t last_sent = 0;  // newest id this stream has been given; later deliveries skip older
    size_t slot = 0;         // index in the shard's list for the room, for O(1) removal
    Slots tickets;           // freed on close

  private:
    void on_closed() override;
    void on_overflow() override;
};

struct Member;

// A user stream (GET /me/events): every room the user is in, on one stream. It holds nothing
// per room: the rooms are in the user's Member, which the per-room indexes point at.
class UserStream final : public sse::Stream {
  public:
    UserStream(sse::Conn conn, size_t limit, Shard& shard, std::string user,
               model::RoomScope scope);

    Shard& shard;
    const std::string user;
    // The rooms its credential reaches: the user's other rooms are not its to carry (the
    // user's Member, shared by all their streams here, holds every room).
    const model::RoomScope scope;
    // Per store shard, the newest position given; deliveries at or before it are skipped.
    model::Positions last_pos;
    Member* member = nullptr;  // set while registered with the shard
    size_t slot = 0;           // index in member->streams
    bool counted = false;      // counted in Sequence::user_streams
    bool watched = false;      // the user's membership changes asked of the store for it
    uint64_t gaps_before = 0;  // Sequence::gaps at its start: those are in its snapshot
    Slots tickets;

  private:
    void on_closed() override;
    void on_overflow() override;
};

// One user's rooms on this node: all of a user's user streams are served by one loop (their
// home), and share this. Each room's index on the loop points here; `rooms` holds each room
// and this member's slot in its index (the index holds the room).
struct Member {
    std::string user;
    std::vector<std::pair<Room*, uint32_t>> rooms;
    std::vector<UserStream*> streams;
};

// How a new stream wants to start.
struct StreamStart {
    bool view = false;              // a stream of the room's view (the room must have one)
    std::optional<uint64_t> since;  // Last-Event-ID or ?since=
    size_t history = 0;             // replay on a fresh stream
    bool presence = true;           // wants join/leave events
    sse::Buffer head;               // the HTTP response head (the HTTP layer's); null: none
    Slots tickets;                  // limit slots held while the stream lives
};

// A loop's streams by room: what every delivery looks up. Room streams (native and view) are
// in lists by room; a user stream's Member is in the list of each of its rooms.
struct RoomIndex {
    struct Subs {
        std::vector<Subscriber*> native;  // null: removed during a flush, compacted after it
        std::vector<Subscriber*> viewers;
        std::vector<Member*> users;  // users with a user stream here who are in the room
        std::shared_ptr<Room> hold;  // keeps the room while `users` need it
        bool empty() const { return native.empty() && viewers.empty() && users.empty(); }
    };
    std::unordered_map<const Room*, Subs> rooms;
    // A flush is walking the lists: a stream removed meanwhile leaves a null (a tombstone),
    // since moving another into its slot could make the walk skip it; compact() after.
    bool walking = false;
    bool tombstones = false;

    Subs* find(const Room* r) {
        auto it = rooms.find(r);
        return it == rooms.end() ? nullptr : &it->second;
    }
    void add(Subscriber* s);
    void remove(Subscriber* s);
    // A room's entry that became empty: erased, or left for compact() during a walk.
    void drop_if_empty(const Room* r);
    void compact();
};

// One loop's user streams (GET /me/events; user_stream.cpp): every room a user is in, on one
// stream. A user's streams here share their Member, which the room index points at.
class UserStreams {
  public:
    explicit UserStreams(Shard& shard) : shard_(shard) {}
    // Takes over a socket: see Shard::subscribe_user.
    void subscribe(sse::Conn conn, std::string user, model::RoomScope scope,
                   std::optional<std::string> cursor, sse::Buffer head, Slots tickets);
    void remove(UserStream* s);
    // See Shard::membership and Shard::to_user.
    void membership(const std::string& user, const std::shared_ptr<Room>& room, bool joined,
                    const sse::Buffer& event);
    void to_user(const std::string& user, const std::string& room, const sse::Buffer& event);
    // Their share of a flush: the deliveries in `held`, in commit order per stream.
    void flush(const std::vector<std::shared_ptr<const Delivery>>& held);
    // Pings those idle since `idle_since`.
    void heartbeat(const sse::Buffer& ping, std::chrono::steady_clock::time_point idle_since);
    // The streams for whose slots `out` holds, for the caller to close.
    void collect(const std::function<bool(const Slots&)>& out,
                 std::vector<std::shared_ptr<UserStream>>& into);

  private:
    // Puts a member in a room's index (and the room in the member), or takes it out.
    void index(Member* m, std::shared_ptr<Room> room);
    void unindex(Member* m, size_t i);
    // A user stream's start: loads the user's rooms, takes the position it starts from, and
    // puts its replay (or the rooms' summaries) in `out`. Returns every room of the user (the
    // stream tells of those its scope covers). Throws StoreError.
    std::vector<std::shared_ptr<Room>> start(UserStream& st,
                                             const std::optional<std::string>& cursor,
                                             std::vector<sse::Buffer>& out);
    // The stream joins its user's Member here, made (and indexed in `rooms`) by the first.
    void join_member(UserStream& st, std::vector<std::shared_ptr<Room>> rooms);
    // A replayed event before the replay is put in order. With one store shard its user
    // form is ready (made at its commit, or now); with several its id is the replay's cursor
    // where it falls, given once they are in order.
    struct Replayed {
        size_t shard = 0;
        uint64_t pos = 0;
        sse::Buffer event;
        bool ready = false;  // `event` carries its cursor
    };
    // One room's part of a user stream's resume from position `from` (on the room's shard):
    // its joined and reset notices into `out`, its events into `items` (merged after).
    void replay_room(const Room& r, const Snapshot& snap, const store::Membership& joined,
                     uint64_t from, std::vector<sse::Buffer>& out, std::vector<Replayed>& items);

    Shard& shard_;
    std::unordered_map<std::string, std::unique_ptr<Member>> members_;  // by user
    std::vector<std::pair<UserStream*, const Delivery*>> gather_;       // flush scratch
    // One stream's share of a flush, by when it was sequenced (Delivery::order) and position.
    struct Ordered {
        uint64_t order = 0, pos = 0;
        sse::Buffer event;
    };
    std::vector<Ordered> ordered_;
    model::Positions tops_;  // one stream's positions after its share of a flush
    std::vector<sse::Buffer> scratch_;
};

// One loop's fan-out (fanout.cpp). Deliveries wait in pending_ until a flush; a flush walks
// the streams in slices and yields between them, so requests and acknowledgements are served
// while a large room is written to, and commits arriving meanwhile gather for the next flush.
class Fanout {
  public:
    explicit Fanout(Shard& shard);
    // Queues a delivery for this loop's streams of its room (see Shard::deliver).
    void deliver(std::shared_ptr<const Delivery> d);
    void stop() { timer_.cancel(); }

  private:
    // What one flush sends to one room: its deliveries in order, flattened into one list.
    struct Run {
        const Room* room = nullptr;
        std::vector<sse::Buffer> events;
        std::vector<uint64_t> ids;          // 0 for an event that is not stored (presence, typing)
        std::vector<const Delivery*> from;  // the delivery of each event (held by held_)
        uint64_t last = 0;                  // the newest stored id in the run, 0 if none
        bool ephemeral = false;             // some event is not stored: streams filter per event
        sse::Buffer view;                   // the newest rendering of the view in the run
        std::vector<std::string> authors;   // distinct users who changed the view in the run
        bool quiet_to_authors = false;
    };
    void schedule();
    void flush();
    void resume();
    void send_run(Subscriber* s, const Run& r);

    Shard& shard_;
    std::vector<std::shared_ptr<const Delivery>> pending_;
    std::vector<std::shared_ptr<const Delivery>> held_;  // what runs_ came from, while it flushes
    bool scheduled_ = false;                             // a flush is posted or its timer armed
    std::vector<Run> runs_;
    std::vector<sse::Buffer> scratch_;  // one stream's share of a run with unstored events
    size_t run_ = 0, pos_ = 0;          // the flush cursor: run, and stream within its list
    bool view_phase_ = false;           // the cursor is in the run's view streams
    boost::asio::steady_timer timer_;
    std::chrono::steady_clock::time_point last_flush_{};      // when the last flush began
    std::chrono::steady_clock::time_point last_flush_end_{};  // and ended
    std::chrono::steady_clock::duration last_pass_{};
};

// A shard: one event loop and the streams it owns; nothing here is shared with other loops.
// It sets up room streams (replay, presence) itself, and holds its loop's room index, user
// streams and fan-out, each with its own state.
class Shard {
  public:
    Shard(unsigned index, Hub& hub);
    boost::asio::io_context& ioc() { return ioc_; }
    unsigned index() const { return index_; }
    Hub& hub() { return hub_; }
    RoomIndex& rooms() { return rooms_; }
    UserStreams& users() { return users_; }
    const sse::Buffer& retry() const { return retry_; }

    // Takes over a socket whose request asked for a stream; runs on this shard's loop.
    void subscribe(sse::Conn conn, std::shared_ptr<Room> room, std::string user,
                   const StreamStart& start);

    // Queues a commit, or an event that is not stored, for this shard's streams of that room.
    // Everything queued before the next flush goes out together: one sendmsg per stream per flush.
    void deliver(std::shared_ptr<const Delivery> d) { fanout_.deliver(std::move(d)); }

    void start_heartbeat();
    // Ends every stream (shutdown).
    void close_all();
    // Ends the streams whose credential was revoked (posted to every shard when one is).
    void end_revoked();

    void remove(Subscriber* s) { rooms_.remove(s); }

    // Takes over a socket whose request asked for the user stream of `user`, carrying the
    // rooms of `scope` they are in; `cursor`: its Last-Event-ID, if any. Runs on this shard's
    // loop.
    void subscribe_user(sse::Conn conn, std::string user, model::RoomScope scope,
                        std::optional<std::string> cursor, sse::Buffer head, Slots tickets) {
        users_.subscribe(std::move(conn), std::move(user), std::move(scope), std::move(cursor),
                         std::move(head), std::move(tickets));
    }
    void remove(UserStream* s) { users_.remove(s); }
    // `user` joined or left `room` (posted by the hub in commit order): their user streams
    // here add or drop it, and get `event`.
    void membership(const std::string& user, const std::shared_ptr<Room>& room, bool joined,
                    const sse::Buffer& event) {
        users_.membership(user, room, joined, event);
    }
    // `user` may no longer read `room` (removed from a private room, or banned): their room
    // streams of it here end. Their user streams drop it through membership().
    void evict(const std::string& user, const std::shared_ptr<Room>& room);
    // The room became private: the room streams here of users who are not members end.
    void evict_outsiders(const std::shared_ptr<Room>& room);
    // An event of `room` for `user`'s user streams here only (read markers).
    void to_user(const std::string& user, const std::string& room, const sse::Buffer& event) {
        users_.to_user(user, room, event);
    }

    // A replay's part older than the room's cache: ids [start, cache_first) from the store,
    // the newest `cap` of them, into `older`. Returns the oldest id the replay then holds:
    // above `start` when retention trimmed ids or the cap cut them. Throws StoreError.
    uint64_t backfill(const std::string& room, uint64_t start, uint64_t cache_first, size_t cap,
                      std::vector<Event>& older);
    // --stream-sndbuf on a new stream's socket.
    void limit_sndbuf(sse::Conn& conn);

  private:
    // A native stream's replay after the retry hint: a reset when the asked-for id is unknown,
    // too old, or trimmed, then stored and cached messages. Throws StoreError when the store
    // is needed and cannot be read: an error never reads as a reset.
    Snapshot replay(Room& room, const StreamStart& start, std::vector<sse::Buffer>& out);
    void evict_if(const std::shared_ptr<Room>& room,
                  const std::function<bool(const std::string&)>& out);
    // Ends every stream here, room and user streams, for which `out` holds.
    void close_if(const std::function<bool(const Slots&)>& out);
    void heartbeat();

    unsigned index_;
    Hub& hub_;
    boost::asio::io_context ioc_{1};
    boost::asio::steady_timer heartbeat_timer_{ioc_};
    sse::Buffer ping_;                               // ": ping" comment, shared
    sse::Buffer retry_;                              // "retry:" line, shared
    std::vector<std::shared_ptr<Subscriber>> keep_;  // reused scratch for close_all
    RoomIndex rooms_;
    UserStreams users_{*this};
    Fanout fanout_{*this};
};

}  // namespace ssechat::chat
