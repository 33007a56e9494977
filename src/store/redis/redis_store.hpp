// The cluster store: Redis is the source of truth for rooms, ids, history and presence, so
// several ssechat nodes behind a load balancer serve the same rooms.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store/cluster.hpp"
#include "store/redis/redis_conn.hpp"
#include "store/redis/subscriber.hpp"
#include "store/store.hpp"

namespace ssechat::store {

struct RedisOptions {
    RedisUrl url;
    uint64_t retain = 0;           // messages kept per room stream; 0 keeps all
    unsigned presence_ttl_s = 30;  // a dead node's users count as online this long at most
    size_t log_max = 100000;       // cluster log length (approximate)
    std::string node_id;           // unique per process; random when empty
    int timeout_ms = 2000;         // per command; a hung Redis fails a publish after this
    int64_t key_ttl_s = 86400;     // how long an Idempotency-Key is kept
    Durability durability;         // --redis-replicas, --redis-wait-ms; the same on every node
    // This store's place among --redis's shards, and the epoch of shard 1 (index 0), which
    // names the set: every shard's marker must agree (empty for shard 1 itself).
    uint32_t shard = 0, shards = 1;
    std::string set_id;
    // The epoch this shard had when the set was made (shard 1 lists them all); empty while
    // the set is being made. A shard that does not have it is another Redis than the one
    // the set was written with.
    std::string expect_epoch;
};

// The node was started with a shard list that does not match what the data says: a room
// would be looked for on the wrong shard, and its history split in two.
struct ShardMismatch : StoreError {
    using StoreError::StoreError;
};

// Keys (one Redis, logical database of the URL):
//   ssechat:rooms            HASH   room -> last id
//   ssechat:room-names       ZSET   every room name, score 0, for paging by name
//   ssechat:room:<room>      STREAM the room's events without texts, entry id "<id>-0"
//   ssechat:log              STREAM every stored event and membership change, for webhooks
//                                   and pushes; with --redis-replicas also "k=c c=<entry>"
//                                   markers: the log is on the replicas up to <entry>
// Channels (sharded pub/sub, see feed.lua): ssechat:feed-room:<room>, ssechat:feed-user:<user>
// and ssechat:feed; a node subscribes to those of the rooms and users it serves.
//   ssechat:confirms         STRING counts confirmations (the write each WAIT follows)
//   ssechat:msg:, ssechat:edit:, ssechat:mids:, ssechat:react:  see publish.lua
//   ssechat:schema           STRING "2" once data from before edits is indexed
//   ssechat:pos              STRING the last position given to an event (publish.lua)
//   ssechat:epoch            STRING made once: names this data for user-stream cursors
//   ssechat:shard            STRING "<index>/<count>/<set>": this Redis is shard <index> (from
//                                   0) of <count>, in the set whose shard 0 has epoch <set>
//   ssechat:shard-epochs     STRING on shard 0 of several: every shard's epoch, in order,
//                                   comma-separated
//   ssechat:member:, ssechat:readers:  memberships and read markers, see members.lua
//   ssechat:roles:, :bans:, :mutes:, :profile:, :settings:  the room rules, see members.lua
//   ssechat:idem:<room>\x1f<user>\x1f<key>  STRING "<id>\x1f<ts>\x1f<hash>", expires with the key
//   TTL ssechat:presence         ZSET   "<room>\x1f<node>\x1f<user>" scored by expiry
//   ssechat:online:<room>    HASH   user -> entries (nodes) holding them online
class RedisStore final : public Store, public Cluster {
  public:
    // Dials Redis, retrying with backoff (and saying so on stderr) until it answers; SIGTERM
    // meanwhile ends the process. Throws RedisRefused at once when Redis refuses the password
    // or the database.
    explicit RedisStore(RedisOptions opts);
    ~RedisStore() override;

    // Store
    std::vector<RoomMeta> rooms(const std::string& after, size_t limit) override;
    uint64_t last_id(const std::string& room) override;
    void append(const std::vector<model::Event>& batch) override;
    std::vector<model::Event> range(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::vector<model::Event> messages(const std::string& room, uint64_t after, uint64_t before,
                                       size_t limit, bool newest) override;
    std::vector<model::Event> shown(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::optional<model::Event> message(const std::string& room, uint64_t id) override;
    std::optional<model::KeyRecord> find_key(const std::string& room, const std::string& user,
                                             const std::string& key, int64_t now_ms) override;
    const std::string& epoch(size_t) override;
    uint64_t last_pos(size_t) override;
    std::optional<uint64_t> first_after(const std::string& room, uint64_t pos) override;
    // From the cluster log, which is in position order (publish.lua takes both in one step):
    // the stream id to read from is found by a binary search over the ids' milliseconds, or
    // taken from where the last page ended. What the log has trimmed (--redis-log-max) is
    // gone from it.
    std::vector<model::Event> log_after(size_t shard, uint64_t pos, size_t limit) override;
    void members(std::vector<MemberOp>& ops) override;
    std::vector<Membership> memberships(const std::string& user) override;
    // How many rooms of this Redis `user` is in (ShardedStore counts the others' for a join).
    size_t rooms_of(const std::string& user);
    model::Roster roster(const std::string& room) override;
    model::Roster roster_of(const std::string& room, const std::string& user) override;
    std::optional<model::Profile> profile(const std::string& room) override;
    Settings settings(const std::string& user) override;
    std::vector<std::pair<std::string, uint64_t>> receipts(const std::string& room) override;
    Unread unread(const std::string& room, const std::string& user, uint64_t after,
                  size_t cap) override;
    bool writable() override;
    Cluster* cluster() override { return this; }

    // Shard 0 of several: the epochs of the set's shards, in order (empty until recorded);
    // record_set() writes them once (ShardMismatch if another list is there).
    const std::vector<std::string>& set_epochs() const { return set_epochs_; }
    void record_set(const std::vector<std::string>& epochs);

    // Cluster
    void publish(std::vector<model::Event>& batch, const std::vector<bool>& moderator,
                 std::vector<Published>& out) override;
    void follow(FeedHandlers handlers) override;
    void route(const std::string& room, bool on) override;
    void watch(const std::string& user, bool on) override;
    // watch() in two halves, for several shards at once (ShardedStore).
    void watch_start(const std::string& user, bool on);
    void watch_wait(const std::string& user);
    void sync(size_t shard) override;
    void presence(const std::string& room, const std::string& user, bool joined) override;
    void typing(const std::string& room, const std::string& user, bool on) override;
    std::vector<std::string> online(const std::string& room) override;
    std::vector<size_t> online_counts(const std::vector<std::string>& rooms) override;
    void stop() override;

  private:
    // Borrowed from the pool for one call from any thread; returned when it goes out of scope.
    // A call that throws while the lease is held trips the breaker: for a second, new leases
    // throw at once instead of dialing a Redis that just failed.
    // Where log_after() pages ended: the position each answered up to, and where to read on
    // from (a webhook engine asks again with that position), a few of them.
    std::mutex log_hint_mu_;
    std::map<uint64_t, std::string> log_hints_;
    class Lease {
      public:
        explicit Lease(RedisStore& s);
        ~Lease();
        RedisConn* operator->() { return conn_.get(); }

      private:
        RedisStore& store_;
        int exceptions_;  // in flight when leased; more at release means the call failed
        std::unique_ptr<RedisConn> conn_;
    };
    struct PresenceOp {
        std::string room, user;
        bool joined;
        bool typing = false;  // a typing change (joined: typing or not), not presence
    };

    void fill_texts(Lease& c, const std::string& room, std::vector<model::Event>& out);
    // Data from a release before edits: its messages get entries in the message id index.
    void upgrade();
    // Refuses (ShardMismatch) data whose marker says it is another shard than opts_ names,
    // or data without a marker when opts_ names one of several shards; before anything is
    // written. mark_place() writes the marker of a new shard once the epoch exists.
    void check_place();
    void mark_place();
    void feed_loop();
    // With --redis-replicas: waits for the replicas to have everything written so far
    // (NotReplicated if they do not in time), then marks the cluster log as confirmed up to
    // where it ended before the wait. Writer thread only.
    void confirm();
    void presence_loop();
    void apply_presence(RedisConn& c, const PresenceOp& op);
    void refresh_presence(RedisConn& c);

    RedisOptions opts_;
    std::vector<std::string> set_epochs_;
    Script publish_, presence_, sweep_, members_, barrier_;
    std::string epoch_;
    std::unique_ptr<RedisConn> writer_;     // publish() only: the hub's single writer thread
    std::unique_ptr<SentinelWatch> watch_;  // follows +switch-master with redis-sentinel://

    void trip();
    bool broken() const;  // tripped, less than a second ago

    std::atomic<int64_t> broken_until_ms_{0};  // steady-clock ms; leases fail fast before it
    std::mutex pool_mu_;
    std::vector<std::unique_ptr<RedisConn>> pool_;  // idle read connections

    std::atomic<bool> stopping_{false};
    // A webhook far behind holds the log (ssechat:logpin, see RedisWebhooks::keep_log): while
    // it does, entries are added untrimmed. The feed's thread reads it twice a second.
    std::atomic<bool> log_pinned_{false};
    std::string log_trim() const;  // the MAXLEN every addition to the log trims to
    std::string log_start_;        // the log entry the feed starts after
    FeedHandlers handlers_;
    Subscriber subscriber_;  // the channels of the rooms and users this node follows
    std::thread feed_;

    std::mutex p_mu_;
    std::condition_variable p_cv_;
    std::deque<PresenceOp> p_queue_;                     // bounded: see presence()
    std::map<std::string, std::set<std::string>> mine_;  // presence thread only: what we hold
    std::thread presence_thread_;
};

}  // namespace ssechat::store
