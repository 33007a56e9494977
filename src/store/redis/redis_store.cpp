// RedisStore: publishes through publish.lua, reads history from room streams, follows the
// cluster log on a feed thread, and keeps this node's presence entries alive.
#include "store/redis/redis_store.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "redis_scripts.hpp"  // generated from the .lua files next to this one
#include "util/clock.hpp"
#include "util/log.hpp"

namespace ssechat::store {

namespace {

const std::string kRooms = "ssechat:rooms";
const std::string kLog = "ssechat:log";
const std::string kLogPin = "ssechat:logpin";
const std::string kFeed = "ssechat:feed";
const std::string kFeedRoom = "ssechat:feed-room:";
const std::string kFeedUser = "ssechat:feed-user:";

// The scripts that tell the nodes of a change start with feed.lua's functions.
std::string feed_script(std::string_view body) {
    return std::string(scripts::feed_lua) + std::string(body);
}
const std::string kRoomPrefix = "ssechat:room:";
const std::string kNames = "ssechat:room-names";
const std::string kPresence = "ssechat:presence";
const std::string kOnlinePrefix = "ssechat:online:";
const std::string kMsgPrefix = "ssechat:msg:";
const std::string kEditPrefix = "ssechat:edit:";
const std::string kMidsPrefix = "ssechat:mids:";
const std::string kReactPrefix = "ssechat:react:";
const std::string kSchema = "ssechat:schema";
constexpr size_t kPresenceQueue = 100000;
constexpr int64_t kBreakerMs = 1000;  // reads from event loops fail fast this long after a failure

std::string random_node_id() {
    std::random_device rd;
    static const char* hex = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 12; ++i) id += hex[rd() & 15];
    return id;
}

uint64_t stream_id_number(const redisReply* id) {
    std::string s = reply_string(id);
    return std::stoull(s.substr(0, s.find('-')));
}

// Stream entry ids "ms-seq" compare as number pairs, not as text.
bool stream_id_less(const std::string& a, const std::string& b) {
    auto split = [](const std::string& s) {
        auto dash = s.find('-');
        return std::pair{std::stoull(s.substr(0, dash)),
                         dash == std::string::npos ? 0ULL : std::stoull(s.substr(dash + 1))};
    };
    return split(a) < split(b);
}

// A stream entry's field list as name -> value.
std::map<std::string, std::string> fields(const redisReply* list) {
    std::map<std::string, std::string> out;
    if (!list || list->type != REDIS_REPLY_ARRAY) return out;
    for (size_t i = 0; i + 1 < list->elements; i += 2)
        out[reply_string(list->element[i])] = reply_string(list->element[i + 1]);
    return out;
}

int64_t to_i64(const std::string& s) {
    try {
        return std::stoll(s);
    } catch (const std::exception&) {
        return 0;
    }
}

// The "k" field of a stored kind (publish.lua's codes).
const char* kind_code(model::Kind k) {
    switch (k) {
        case model::Kind::Message:
            return "m";
        case model::Kind::Edit:
            return "e";
        case model::Kind::Delete:
            return "d";
        case model::Kind::Reaction:
            return "r";
        case model::Kind::Member:
            return "M";
        case model::Kind::RoomChange:
            return "R";
        case model::Kind::Presence:
        case model::Kind::Typing:
        case model::Kind::Receipt:
        case model::Kind::Read:
        case model::Kind::Joined:
        case model::Kind::Left:
            break;
    }
    throw StoreError(std::string("a ") + model::kind_name(k) + " event is never stored");
}

// A room stream or log entry's fields as an event. An entry without a kind was written by a
// release before edits: a message with its text in "m".
model::Event entry_event(std::map<std::string, std::string>& f, uint64_t id,
                         const std::string& room) {
    model::Event e;
    e.id = id;
    e.room = room;
    e.user_id = f["u"];
    e.ts = to_i64(f["t"]);
    // No "k" at all: an entry from before edits, a message. Any other code (a newer
    // release's kind, or damage) is an error, never a message.
    const std::string& k = f["k"];
    if (k.empty() || k == "m")
        e.kind = model::Kind::Message;
    else if (k == "e")
        e.kind = model::Kind::Edit;
    else if (k == "d")
        e.kind = model::Kind::Delete;
    else if (k == "r")
        e.kind = model::Kind::Reaction;
    else if (k == "M")
        e.kind = model::Kind::Member;
    else if (k == "R")
        e.kind = model::Kind::RoomChange;
    else
        throw StoreError("room " + room + " holds event " + std::to_string(id) +
                         " of an unknown kind '" + k + "': was it written by a newer release?");
    e.target = static_cast<uint64_t>(to_i64(f["g"]));
    e.pos = static_cast<uint64_t>(to_i64(f["p"]));  // 0 for entries from before positions
    e.reply_to = static_cast<uint64_t>(to_i64(f["y"]));
    if (e.kind == model::Kind::Reaction) {
        e.text = f["x"];
        e.remove = f["o"] == "r";
    } else {
        e.text = f["m"];
        e.files = f["f"];
        e.bot = f["b"] == "1";
    }
    return e;
}

// Puts a message state from publish.lua's JSON {u,m,t,y,e,d,f} into `m` (id and room set).
void read_state(model::Event& m, const std::string& json) {
    boost::json::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (ec || !v.is_object()) return;
    auto& o = v.as_object();
    auto str = [&](const char* k) -> std::string {
        auto* x = o.if_contains(k);
        return x && x->is_string() ? std::string(x->as_string()) : std::string();
    };
    m.kind = model::Kind::Message;
    m.user_id = str("u");
    m.text = str("m");
    m.ts = to_i64(str("t"));
    m.reply_to = static_cast<uint64_t>(to_i64(str("y")));
    m.edited_ts = to_i64(str("e"));
    m.deleted = str("d") == "1";
    m.files = m.deleted ? std::string() : str("f");
    m.bot = str("b") == "1";
}

// ZRANGE WITHSCORES of a reaction set: "emoji\x1fuser", id, ... in reaction order.
void read_reactions(model::Event& m, const redisReply* list) {
    if (!list || list->type != REDIS_REPLY_ARRAY) return;
    for (size_t i = 0; i + 1 < list->elements; i += 2) {
        std::string v = reply_string(list->element[i]);
        auto sep = v.find('\x1f');
        if (sep == std::string::npos) continue;
        model::add_reaction(m.reactions, v.substr(0, sep), v.substr(sep + 1),
                            static_cast<uint64_t>(to_i64(reply_string(list->element[i + 1]))));
    }
}

int64_t steady_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

char op_code(MemberOp::Op op) {
    using Op = MemberOp::Op;
    switch (op) {
        case Op::Join:
            return 'j';
        case Op::Add:
            return 'a';
        case Op::Leave:
            return 'l';
        case Op::Read:
            return 'r';
        case Op::Ban:
            return 'b';
        case Op::Mute:
            return 'm';
        case Op::Unban:
            return 'B';
        case Op::Unmute:
            return 'M';
        case Op::Profile:
            return 'p';
        case Op::Settings:
            return 's';
    }
    return 'r';
}

std::optional<MemberOp::Op> op_of(const std::string& code) {
    using Op = MemberOp::Op;
    if (code.size() != 1) return std::nullopt;
    switch (code[0]) {
        case 'j':
            return Op::Join;
        case 'a':
            return Op::Add;
        case 'l':
            return Op::Leave;
        case 'r':
            return Op::Read;
        case 'b':
            return Op::Ban;
        case 'm':
            return Op::Mute;
        case 'B':
            return Op::Unban;
        case 'M':
            return Op::Unmute;
        case 'p':
            return Op::Profile;
        case 's':
            return Op::Settings;
    }
    return std::nullopt;
}

std::string joined(std::initializer_list<std::string> parts) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty() || &p != parts.begin()) out += '\x1f';
        out += p;
    }
    return out;
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == '\x1f')
            out.emplace_back();
        else
            out.back() += c;
    }
    return out;
}

model::Role role_of(const std::string& code) {
    return code == "2"   ? model::Role::Moderator
           : code == "3" ? model::Role::Owner
                         : model::Role::Member;
}

// What a change carries besides its user and room (members.lua's payload).
std::string payload(const MemberOp& op) {
    using Op = MemberOp::Op;
    const auto& r = op.restriction;
    const auto& p = op.profile;
    switch (op.op) {
        case Op::Join:
        case Op::Add:
            return joined({std::to_string(static_cast<int>(op.role)), std::to_string(op.ts)});
        case Op::Ban:
        case Op::Mute:
            return joined({r.by, r.reason, std::to_string(r.until), std::to_string(r.ts)});
        case Op::Profile:
            return joined({std::to_string(static_cast<int>(p.visibility)), p.name, p.topic,
                           p.created_by, std::to_string(p.created_at), p.with});
        case Op::Settings:
            return op.settings.dms_from_anyone ? "0" : "1";
        case Op::Leave:
        case Op::Unban:
        case Op::Unmute:
            return op.by;
        case Op::Read:
            return "";
    }
    return "";
}

model::Restriction restriction_of(const std::string& user, const std::string& text) {
    auto f = split(text);
    f.resize(4);
    return {user, f[0], f[1], to_i64(f[2]), to_i64(f[3])};
}

model::Profile profile_of(const std::string& text) {
    auto f = split(text);
    f.resize(6);
    model::Profile p;
    p.visibility = f[0] == "0"   ? model::Visibility::Public
                   : f[0] == "2" ? model::Visibility::Dm
                                 : model::Visibility::Private;
    p.name = f[1];
    p.topic = f[2];
    p.created_by = f[3];
    p.created_at = to_i64(f[4]);
    p.with = f[5];
    return p;
}

// Fills in what a change read from the log carries (its payload), as the node that made it
// had it.
void read_payload(MemberOp& op, const std::string& text) {
    using Op = MemberOp::Op;
    switch (op.op) {
        case Op::Join:
        case Op::Add: {
            auto f = split(text);
            f.resize(2);
            op.role = role_of(f[0]);
            op.ts = to_i64(f[1]);
            break;
        }
        case Op::Ban:
        case Op::Mute:
            op.restriction = restriction_of(op.user, text);
            op.by = op.restriction.by;
            break;
        case Op::Profile:
            op.profile = profile_of(text);
            break;
        case Op::Settings:
            op.settings.dms_from_anyone = text != "1";
            break;
        case Op::Leave:
        case Op::Unban:
        case Op::Unmute:
            op.by = text;
            break;
        case Op::Read:
            break;
    }
}

}  // namespace

RedisStore::Lease::Lease(RedisStore& s) : store_(s), exceptions_(std::uncaught_exceptions()) {
    // An event loop must not wait out a connect timeout on every request while Redis hangs.
    if (steady_ms() < s.broken_until_ms_.load(std::memory_order_relaxed))
        throw StoreError("redis " + s.opts_.url.text() + ": unavailable (a call just failed)");
    std::lock_guard lk(s.pool_mu_);
    if (!s.pool_.empty()) {
        conn_ = std::move(s.pool_.back());
        s.pool_.pop_back();
    }
    if (!conn_)
        conn_ = std::make_unique<RedisConn>(s.opts_.url, s.opts_.timeout_ms, s.opts_.durability);
}

RedisStore::Lease::~Lease() {
    if (std::uncaught_exceptions() > exceptions_) store_.trip();  // the call through it failed
    std::lock_guard lk(store_.pool_mu_);
    store_.pool_.push_back(std::move(conn_));
}

RedisStore::RedisStore(RedisOptions opts)
    : opts_(std::move(opts)),
      publish_("publish.lua", feed_script(scripts::publish_lua)),
      presence_("presence.lua", feed_script(scripts::presence_lua)),
      sweep_("sweep.lua", feed_script(scripts::sweep_lua)),
      members_("members.lua", feed_script(scripts::members_lua)),
      barrier_("barrier.lua", feed_script(scripts::barrier_lua)),
      // The socket waits on poll(), never on a blocking read: the plain timeout serves.
      subscriber_(opts_.url, opts_.timeout_ms) {
    if (opts_.node_id.empty()) opts_.node_id = random_node_id();
    writer_ = std::make_unique<RedisConn>(opts_.url, opts_.timeout_ms, opts_.durability);
    watch_ = std::make_unique<SentinelWatch>(opts_.url);
    auto delay = std::chrono::milliseconds(250);
    while (true) {
        try {
            writer_->run({"PING"});
            break;
        } catch (const RedisRefused&) {
            throw;  // a wrong password or database: waiting will not fix it
        } catch (const StoreError& e) {
            log::error(std::string(e.what()) + "; retrying in " + std::to_string(delay.count()) +
                       " ms");
            std::this_thread::sleep_for(delay);
            delay = std::min(delay * 2, std::chrono::milliseconds(5000));
        }
    }
    // The feed is sharded pub/sub (Redis 7.0): an older Redis is refused now, not left to
    // deliver nothing.
    if (auto ss = writer_->run({"COMMAND", "INFO", "SSUBSCRIBE"});
        ss->elements == 0 || ss->element[0]->type != REDIS_REPLY_ARRAY)
        throw RedisRefused("redis " + opts_.url.text() +
                           ": Redis 7.0 or later is needed (sharded pub/sub, SSUBSCRIBE)");
    check_place();
    // Rooms stored by a release before the sorted name index get their index entries now;
    // ZADD of a name already there changes nothing, so nodes starting together agree.
    auto counts = writer_->pipeline({{"HLEN", kRooms}, {"ZCARD", kNames}});
    if (reply_integer(counts[0].get()) > reply_integer(counts[1].get())) {
        auto all = writer_->run({"HKEYS", kRooms});
        for (size_t i = 0; i < all->elements; i += 1000) {
            std::vector<std::string> zadd{"ZADD", kNames};
            for (size_t j = i; j < all->elements && j < i + 1000; ++j) {
                zadd.push_back("0");
                zadd.push_back(reply_string(all->element[j]));
            }
            writer_->run(zadd);
        }
    }
    upgrade();
    // The first node to start on empty data makes the epoch; every node reads the same one.
    writer_->run({"SET", "ssechat:epoch", make_epoch(), "NX"});
    epoch_ = reply_string(writer_->run({"GET", "ssechat:epoch"}).get());
    mark_place();
    // The feed starts at the log's current end; older messages are read from room streams.
    auto tail = writer_->run({"XREVRANGE", kLog, "+", "-", "COUNT", "1"});
    log_start_ = tail->elements ? reply_string(tail->element[0]->element[0]) : "0-0";
    try {
        auto aof = writer_->run({"CONFIG", "GET", "appendonly"});
        if (aof->elements == 2 && reply_string(aof->element[1]) == "no")
            log::warn(
                "redis runs with appendonly no: acknowledged messages are lost if Redis "
                "crashes before its next snapshot");
    } catch (const StoreError&) {
        // CONFIG is often renamed away on managed Redis; the warning is only advice.
    }
    log::info("redis store at " + opts_.url.text() + ", node " + opts_.node_id);
}

namespace {
const std::string kShardKey = "ssechat:shard";
const std::string kSetKey = "ssechat:shard-epochs";

// Writes `value` at `key` unless something is there already, and answers what is there:
// `value`, or what another node wrote first.
std::string set_once(RedisConn& c, const std::string& key, const std::string& value) {
    c.run({"SET", key, value, "NX"});
    return reply_string(c.run({"GET", key}).get());
}
}  // namespace

void RedisStore::record_set(const std::vector<std::string>& epochs) {
    std::string all;
    for (const auto& e : epochs) all += (all.empty() ? "" : ",") + e;
    if (auto now = set_once(*writer_, kSetKey, all); now != all)
        throw ShardMismatch("redis shard 1 (" + opts_.url.text() + ") lists the set's shards as " +
                            now + ", not " + all + ": it is not the set this list names");
    set_epochs_ = epochs;
}

void RedisStore::check_place() {
    auto r = writer_->pipeline({{"GET", kShardKey},
                                {"EXISTS", "ssechat:epoch"},
                                {"GET", "ssechat:epoch"},
                                {"GET", kSetKey}});
    const std::string me = "shard " + std::to_string(opts_.shard + 1) + " of " +
                           std::to_string(opts_.shards) + " (" + opts_.url.text() + ")";
    if (r[3]->type == REDIS_REPLY_STRING) {
        std::string all = reply_string(r[3].get());
        for (size_t at = 0; at <= all.size();) {
            size_t comma = std::min(all.find(',', at), all.size());
            set_epochs_.push_back(all.substr(at, comma - at));
            at = comma + 1;
        }
    }
    if (!opts_.expect_epoch.empty()) {
        // The set knows this shard: an empty Redis, or another one, in its place would
        // hide every room that lives here.
        const std::string which = "the set's shard " + std::to_string(opts_.shard + 1) +
                                  " was written with epoch " + opts_.expect_epoch;
        if (r[2]->type != REDIS_REPLY_STRING)
            throw ShardMismatch("redis " + me + " is empty, but " + which +
                                ": it is not the Redis the set was written with");
        if (auto mine = reply_string(r[2].get()); mine != opts_.expect_epoch)
            throw ShardMismatch("redis " + me + " has epoch " + mine + ", but " + which +
                                ": it is not the Redis the set was written with");
    }
    if (r[0]->type == REDIS_REPLY_NIL) {
        // A single Redis from before shards is read as it is; as one of several it would
        // hide every room the placement now looks for elsewhere.
        if (opts_.shards > 1 && reply_integer(r[1].get()) > 0)
            throw ShardMismatch("redis " + me +
                                " holds data written by a single Redis: start with that Redis "
                                "alone, or spread its rooms first with `ssechat redis reshard`");
        return;
    }
    std::string mark = reply_string(r[0].get());
    unsigned idx = 0, count = 0;
    char set[64] = {0};
    if (std::sscanf(mark.c_str(), "%u/%u/%63s", &idx, &count, set) != 3)
        throw ShardMismatch("redis " + me + " has an unreadable shard marker '" + mark + "'");
    if (idx != opts_.shard || count != opts_.shards)
        throw ShardMismatch("redis " + me + " holds shard " + std::to_string(idx + 1) + " of " +
                            std::to_string(count) +
                            ": --redis must list the shards in the order their data was "
                            "written; to change how many there are, run `ssechat redis reshard`");
    if (opts_.shard > 0 && set != opts_.set_id)
        throw ShardMismatch("redis " + me + " belongs to another set of shards (its shard 1 " +
                            "has epoch " + set + ", this list's has " + opts_.set_id + ")");
}

void RedisStore::mark_place() {
    const std::string set = opts_.shard == 0 ? epoch_ : opts_.set_id;
    const std::string mark =
        std::to_string(opts_.shard) + "/" + std::to_string(opts_.shards) + "/" + set;
    // Two nodes started at once with different lists: the first marker stands, the other
    // node stops here.
    if (auto now = set_once(*writer_, kShardKey, mark); now != mark)
        throw ShardMismatch("redis shard " + std::to_string(opts_.shard + 1) + " (" +
                            opts_.url.text() + ") was just claimed as '" + now +
                            "' by another node, not '" + mark + "'");
}

void RedisStore::upgrade() {
    auto v = writer_->run({"GET", kSchema});
    if (v->type == REDIS_REPLY_STRING && reply_string(v.get()) == "2") return;
    // Messages stored before edits existed have their text in the room stream and no state
    // entry. Each gets one (HSETNX: a node that upgraded first, or a new message, wins) and an
    // entry in the message index, so history pages and changes treat them like new ones.
    // Idempotent, so nodes starting together may both run it.
    auto rooms = writer_->run({"HKEYS", kRooms});
    size_t n = 0;
    for (size_t i = 0; i < rooms->elements; ++i) {
        std::string room = reply_string(rooms->element[i]);
        std::string from = "-";
        while (true) {
            auto page = writer_->run({"XRANGE", kRoomPrefix + room, from, "+", "COUNT", "1000"});
            if (page->elements == 0) break;
            std::vector<std::vector<std::string>> cmds;
            for (size_t j = 0; j < page->elements; ++j) {
                const redisReply* e = page->element[j];
                auto f = fields(e->element[1]);
                if (f.contains("k")) continue;
                std::string id = std::to_string(stream_id_number(e->element[0]));
                boost::json::object st{{"u", f["u"]}, {"m", f["m"]}, {"t", f["t"]},
                                       {"y", "0"},    {"e", "0"},    {"d", "0"}};
                cmds.push_back({"HSETNX", kMsgPrefix + room, id, boost::json::serialize(st)});
                cmds.push_back({"ZADD", kMidsPrefix + room, id, id});
                ++n;
            }
            if (!cmds.empty()) writer_->pipeline(cmds);
            from = "(" + reply_string(page->element[page->elements - 1]->element[0]);
        }
    }
    writer_->run({"SET", kSchema, "2"});
    if (n) log::info("redis data upgraded: " + std::to_string(n) + " messages indexed");
}

RedisStore::~RedisStore() {
    stop();
}

std::vector<RoomMeta> RedisStore::rooms(const std::string& after, size_t limit) {
    // Names from the sorted index, then their ids: two round trips for a page, however many
    // rooms there are. A name added between the two has its id already (the same script
    // writes both), so nothing reads as missing.
    Lease c(*this);
    auto names = c->run({"ZRANGEBYLEX", kNames, after.empty() ? "-" : "(" + after, "+", "LIMIT",
                         "0", std::to_string(limit)});
    std::vector<RoomMeta> out;
    if (names->elements == 0) return out;
    std::vector<std::string> hmget{"HMGET", kRooms};
    for (size_t i = 0; i < names->elements; ++i) hmget.push_back(reply_string(names->element[i]));
    auto ids = c->run(hmget);
    for (size_t i = 0; i < names->elements && i < ids->elements; ++i)
        out.push_back({hmget[i + 2], ids->element[i]->type == REDIS_REPLY_NIL
                                         ? 0
                                         : static_cast<uint64_t>(reply_integer(ids->element[i]))});
    return out;
}

void RedisStore::append(const std::vector<model::Event>&) {
    throw StoreError("the redis store assigns ids itself; messages go through publish()");
}

void RedisStore::fill_texts(Lease& c, const std::string& room, std::vector<model::Event>& out) {
    // Texts are not in the room stream (a delete must be able to erase them): messages take
    // their state from the message hash, edits their text from the edit hash, in one round
    // trip. A message from before edits has no state entry and keeps its entry's text.
    std::vector<std::string> mget{"HMGET", kMsgPrefix + room}, eget{"HMGET", kEditPrefix + room};
    std::vector<model::Event*> ms, es;
    for (auto& e : out) {
        if (e.kind == model::Kind::Message) {
            mget.push_back(std::to_string(e.id));
            ms.push_back(&e);
        } else if (e.kind == model::Kind::Edit) {
            eget.push_back(std::to_string(e.id));
            es.push_back(&e);
        }
    }
    std::vector<std::vector<std::string>> cmds;
    if (!ms.empty()) cmds.push_back(mget);
    if (!es.empty()) cmds.push_back(eget);
    if (cmds.empty()) return;
    auto replies = c->pipeline(cmds);
    size_t at = 0;
    if (!ms.empty()) {
        const redisReply* r = replies[at++].get();
        for (size_t i = 0; i < ms.size() && i < r->elements; ++i)
            if (r->element[i]->type == REDIS_REPLY_STRING) {
                uint64_t id = ms[i]->id;
                read_state(*ms[i], reply_string(r->element[i]));
                ms[i]->id = id;
            }
    }
    if (!es.empty()) {
        const redisReply* r = replies[at].get();
        for (size_t i = 0; i < es.size() && i < r->elements; ++i)
            es[i]->text = r->element[i]->type == REDIS_REPLY_STRING
                              ? reply_string(r->element[i])
                              : std::string();  // erased by a delete
    }
}

std::vector<model::Event> RedisStore::range(const std::string& room, uint64_t after,
                                            uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::string lo = std::to_string(after + 1) + "-0";
    std::string hi = before == UINT64_MAX ? "+" : std::to_string(before - 1) + "-0";
    // Redis takes a COUNT up to 2^63-1: "no limit" (SIZE_MAX, a bounded replay) is sent as that.
    std::string count = std::to_string(std::min<size_t>(limit, INT64_MAX));
    Lease c(*this);
    auto r = newest ? c->run({"XREVRANGE", kRoomPrefix + room, hi, lo, "COUNT", count})
                    : c->run({"XRANGE", kRoomPrefix + room, lo, hi, "COUNT", count});
    std::vector<model::Event> out;
    out.reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) {
        const redisReply* e = r->element[i];
        auto f = fields(e->element[1]);
        out.push_back(entry_event(f, stream_id_number(e->element[0]), room));
    }
    if (newest) std::reverse(out.begin(), out.end());
    fill_texts(c, room, out);
    return out;
}

std::vector<model::Event> RedisStore::messages(const std::string& room, uint64_t after,
                                               uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::string lo = "(" + std::to_string(after);
    std::string hi = before == UINT64_MAX ? "+inf" : "(" + std::to_string(before);
    Lease c(*this);
    auto ids = newest ? c->run({"ZREVRANGEBYSCORE", kMidsPrefix + room, hi, lo, "LIMIT", "0",
                                std::to_string(limit)})
                      : c->run({"ZRANGEBYSCORE", kMidsPrefix + room, lo, hi, "LIMIT", "0",
                                std::to_string(limit)});
    std::vector<model::Event> out;
    if (ids->elements == 0) return out;
    std::vector<std::string> hmget{"HMGET", kMsgPrefix + room};
    std::vector<std::vector<std::string>> cmds{{}};
    for (size_t i = 0; i < ids->elements; ++i) {
        std::string id = reply_string(ids->element[i]);
        hmget.push_back(id);
        cmds.push_back({"ZRANGE", kReactPrefix + room + ":" + id, "0", "-1", "WITHSCORES"});
    }
    cmds[0] = hmget;
    auto replies = c->pipeline(cmds);
    const redisReply* states = replies[0].get();
    for (size_t i = 0; i < ids->elements && i < states->elements; ++i) {
        model::Event m;
        m.id = std::stoull(hmget[i + 2]);
        m.room = room;
        if (states->element[i]->type == REDIS_REPLY_STRING) {
            read_state(m, reply_string(states->element[i]));
            read_reactions(m, replies[i + 1].get());
        } else {
            // From before edits: the room stream entry has it.
            auto e =
                c->run({"XRANGE", kRoomPrefix + room, hmget[i + 2] + "-0", hmget[i + 2] + "-0"});
            if (e->elements == 0) continue;  // trimmed meanwhile
            auto f = fields(e->element[0]->element[1]);
            m = entry_event(f, m.id, room);
        }
        out.push_back(std::move(m));
    }
    if (newest) std::reverse(out.begin(), out.end());
    return out;
}

std::vector<model::Event> RedisStore::shown(const std::string& room, uint64_t after,
                                            uint64_t before, size_t limit, bool newest) {
    if (empty_range(after, before, limit)) return {};
    std::string lo = "(" + std::to_string(after);
    std::string hi = before == UINT64_MAX ? "+inf" : "(" + std::to_string(before);
    std::vector<uint64_t> rules;
    {
        Lease c(*this);
        auto ids = newest ? c->run({"ZREVRANGEBYSCORE", "ssechat:rids:" + room, hi, lo, "LIMIT",
                                    "0", std::to_string(limit)})
                          : c->run({"ZRANGEBYSCORE", "ssechat:rids:" + room, lo, hi, "LIMIT", "0",
                                    std::to_string(limit)});
        for (size_t i = 0; i < ids->elements; ++i)
            rules.push_back(std::stoull(reply_string(ids->element[i])));
    }
    // The page is the first `limit` of the two lists merged: each list's first `limit` hold it.
    auto msgs = messages(room, after, before, limit, newest);
    std::vector<model::Event> out;
    for (uint64_t id : rules) {
        Lease c(*this);
        auto e = c->run(
            {"XRANGE", kRoomPrefix + room, std::to_string(id) + "-0", std::to_string(id) + "-0"});
        if (e->elements == 0) continue;  // trimmed meanwhile
        auto f = fields(e->element[0]->element[1]);
        out.push_back(entry_event(f, id, room));
    }
    for (auto& m : msgs) out.push_back(std::move(m));
    std::sort(out.begin(), out.end(),
              [](const model::Event& a, const model::Event& b) { return a.id < b.id; });
    if (out.size() > limit)
        out.erase(newest ? out.begin() : out.begin() + static_cast<std::ptrdiff_t>(limit),
                  newest ? out.end() - static_cast<std::ptrdiff_t>(limit) : out.end());
    return out;
}

std::optional<model::Event> RedisStore::message(const std::string& room, uint64_t id) {
    auto page = messages(room, id - 1, id + 1, 1, false);
    if (page.empty() || page.front().id != id) return std::nullopt;
    return page.front();
}

bool RedisStore::writable() {
    try {
        Lease c(*this);
        c->run({"PING"});
        return true;
    } catch (const StoreError&) {
        return false;
    }
}

void RedisStore::publish(std::vector<model::Event>& batch, const std::vector<bool>& moderator,
                         std::vector<Published>& out) {
    out.assign(batch.size(), {});
    if (batch.empty()) return;
    std::vector<std::string> keys{kRooms, kLog, kNames}, args;
    keys.reserve(batch.size() + 3);
    args.reserve(batch.size() * 9 + 6);
    args.push_back(std::to_string(batch.front().ts));
    args.push_back(std::to_string(opts_.retain));
    args.push_back(log_trim());
    args.push_back(std::to_string(opts_.key_ttl_s));
    args.push_back(std::to_string(model::kMaxReactionKinds));
    args.push_back(std::to_string(model::kMaxReactionsPerUser));
    for (size_t i = 0; i < batch.size(); ++i) {
        const auto& e = batch[i];
        bool message = e.kind == model::Kind::Message;
        keys.push_back(kRoomPrefix + e.room);
        args.push_back(kind_code(e.kind));
        args.push_back(e.room);
        args.push_back(e.user_id);
        args.push_back(e.text);
        args.push_back(message ? e.key : std::string());
        args.push_back(message && !e.key.empty() ? model::text_hash(e.text) : std::string());
        args.push_back(std::to_string(message ? e.reply_to : e.target));
        bool flag = e.kind == model::Kind::Delete     ? i < moderator.size() && moderator[i]
                    : e.kind == model::Kind::Reaction ? e.remove
                                                      : message && e.bot;
        args.push_back(flag ? "1" : "0");
        args.push_back(message ? e.files : std::string());
    }
    auto r = writer_->eval(publish_, keys, args);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != batch.size())
        throw StoreError("redis publish.lua: unexpected reply");
    confirm();
    for (size_t i = 0; i < batch.size(); ++i) {
        const redisReply* e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 5)
            throw StoreError("redis publish.lua: unexpected reply");
        batch[i].id = static_cast<uint64_t>(reply_integer(e->element[0]));
        batch[i].ts = reply_integer(e->element[2]);
        // publish.lua's status codes, in order.
        using model::Outcome;
        static constexpr Outcome codes[] = {
            Outcome::Ok,       Outcome::Replayed,     Outcome::KeyConflict,
            Outcome::NoChange, Outcome::NotFound,     Outcome::Forbidden,
            Outcome::Gone,     Outcome::TooManyKinds, Outcome::TooManyOfUser};
        auto status = static_cast<size_t>(reply_integer(e->element[1]));
        out[i].status = status < std::size(codes) ? codes[status] : Outcome::NotFound;
        std::string state = reply_string(e->element[3]);
        if (!state.empty()) {
            auto& m = out[i].state;
            m.id = batch[i].target;
            m.room = batch[i].room;
            read_state(m, state);
            read_reactions(m, e->element[4]);
        }
    }
}

std::optional<model::KeyRecord> RedisStore::find_key(const std::string& room,
                                                     const std::string& user,
                                                     const std::string& key, int64_t) {
    // Redis expires keys itself. publish.lua decides in the same step as the store, so the
    // hub does not call this in cluster mode; it is here for tools and tests.
    Lease c(*this);
    auto r = c->run({"GET", "ssechat:idem:" + room + '\x1f' + user + '\x1f' + key});
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    std::string v = reply_string(r.get());
    auto a = v.find('\x1f'), b = v.find('\x1f', a + 1);
    if (a == std::string::npos || b == std::string::npos) return std::nullopt;
    return model::KeyRecord{std::stoull(v.substr(0, a)), std::stoll(v.substr(a + 1, b - a - 1)),
                            v.substr(b + 1)};
}

void RedisStore::trip() {
    broken_until_ms_.store(steady_ms() + kBreakerMs, std::memory_order_relaxed);
}

uint64_t RedisStore::last_id(const std::string& room) {
    Lease c(*this);
    auto r = c->run({"HGET", kRooms, room});
    return r->type == REDIS_REPLY_NIL ? 0 : static_cast<uint64_t>(reply_integer(r.get()));
}

void RedisStore::follow(FeedHandlers handlers) {
    handlers_ = std::move(handlers);
    feed_ = std::thread([this] { feed_loop(); });
    // Serving starts once the feed is subscribed (within a second): a stream opened before
    // would miss what it cannot wait for.
    subscriber_.want(kFeed, true, true);
    presence_thread_ = std::thread([this] { presence_loop(); });
}

namespace {

// One durable log entry (a stored event, or a membership change) into the batch, in order.
void add_entry(FeedBatch& b, std::map<std::string, std::string>& f) {
    if (f["k"] == "j") {
        MemberChange m;
        auto op = op_of(f["o"]);
        if (!op) {
            log::error("the cluster log holds a membership change of an unknown kind (" + f["o"] +
                       "): passed over");
            return;
        }
        m.op.op = *op;
        m.op.user = f["u"];
        m.op.room = f["r"];
        m.op.read = static_cast<uint64_t>(to_i64(f["i"]));
        m.op.id = m.op.read;
        m.op.pos = static_cast<uint64_t>(to_i64(f["p"]));
        m.op.was_member = f["w"] == "1";
        read_payload(m.op, f["x"]);
        m.at = b.messages.size();
        b.members.push_back(std::move(m));
        return;
    }
    std::string room = f["r"];
    try {
        b.messages.push_back(entry_event(f, static_cast<uint64_t>(to_i64(f["i"])), room));
    } catch (const StoreError& unknown) {
        // A kind this release does not know (a newer node's): said, and passed over, rather
        // than read as a message or stalling the feed.
        log::error(unknown.what());
    }
}

}  // namespace

void RedisStore::confirm() {
    if (writer_->replicas() <= 0) return;
    // WAIT counts this connection's own writes. The log's end is read, then a write of ours
    // follows it, so the one WAIT after them covers every entry up to that end, whichever
    // node wrote it; the marker then releases the log up to there to every node's feed. A
    // marker lost with a dying master is no loss: the next one covers more.
    auto replies = writer_->settle(
        {{"XREVRANGE", kLog, "+", "-", "COUNT", "1"}, {"INCR", "ssechat:confirms"}});
    const redisReply* tail = replies[0].get();
    if (tail->type != REDIS_REPLY_ARRAY || tail->elements == 0) return;
    std::string upto = reply_string(tail->element[0]->element[0]);
    writer_->pipeline({{"XADD", kLog, "MAXLEN", "~", log_trim(), "*", "k", "c", "c", upto},
                       {"SPUBLISH", kFeed, frame({"", "k", "c", "c", upto})}});
}

std::string RedisStore::log_trim() const {
    // Pinned: a length no log reaches, so nothing is trimmed until the pin lapses; the next
    // addition after it trims the log back down at once.
    if (log_pinned_.load(std::memory_order_relaxed)) return "1000000000000";
    return std::to_string(opts_.log_max);
}

void RedisStore::feed_loop() {
    // With --redis-replicas, stored changes wait here until a confirmation says the replicas
    // have them: a master that dies with writes its replicas never got must not have shown
    // them to anyone, or their ids would be given again by the new master.
    bool hold = opts_.durability.replicas > 0;
    std::string confirmed = log_start_;  // the log is on the replicas up to here
    std::string last = log_start_;       // the last stored change heard: one heard twice is passed
    std::deque<std::pair<std::string, std::map<std::string, std::string>>> held;
    bool down = false;
    auto pin_read = std::chrono::steady_clock::now();
    RedisConn pin(opts_.url, opts_.timeout_ms);
    std::vector<std::string> parts;
    auto take = [&](FeedBatch& b, std::map<std::string, std::string>& f) {
        if (f["k"] == "b")
            b.reached = std::max(b.reached, static_cast<uint64_t>(to_i64(f["p"])));
        else
            add_entry(b, f);
    };
    Subscriber::Handlers h;
    h.got = [&](std::vector<Subscriber::Message>& ms) {
        FeedBatch b;
        for (auto& m : ms) {
            if (!unframe(m.payload, parts) || parts.size() % 2 != 1) {
                log::error("a feed message on " + m.channel + " is not one: passed over");
                continue;
            }
            std::map<std::string, std::string> f;
            for (size_t i = 1; i + 1 < parts.size(); i += 2) f[parts[i]] = std::move(parts[i + 1]);
            const std::string& lid = parts[0];
            const std::string& k = f["k"];
            if (k == "c") {
                if (stream_id_less(confirmed, f["c"])) confirmed = f["c"];
            } else if (k == "t") {
                b.typing.push_back({f["r"], f["u"], f["s"] == "1"});
            } else if (k == "p") {
                b.presence.push_back(
                    {f["r"], f["u"], f["s"] == "join", static_cast<int>(to_i64(f["n"]))});
            } else {
                // A position mark is held behind the last stored entry it names; a stored
                // change by its own id (a membership change comes on the room's channel and
                // on the user's: the second is passed).
                std::string upto = k == "b" ? f["l"] : lid;
                if (k != "b") {
                    if (!stream_id_less(last, lid)) continue;
                    last = lid;
                }
                if (hold)
                    held.emplace_back(std::move(upto), std::move(f));
                else
                    take(b, f);
            }
        }
        while (!held.empty() && !stream_id_less(confirmed, held.front().first)) {
            take(b, held.front().second);
            held.pop_front();
        }
        handlers_.batch(b);
    };
    h.confirmed = [&](const std::string& channel) {
        if (channel.starts_with(kFeedRoom) && handlers_.followed)
            handlers_.followed(channel.substr(kFeedRoom.size()));
    };
    h.resumed = [&] {
        broken_until_ms_.store(0, std::memory_order_relaxed);
        down = false;
        log::info("redis feed is back; re-reading the rooms served here");
        if (handlers_.resumed) handlers_.resumed();
    };
    h.failed = [&](const StoreError& e) {
        if (!down)
            log::error(std::string(e.what()) +
                       "; open streams stay open and catch up when Redis is back");
        down = true;
        trip();
        // What was held may not be on the master the feed comes back to (a failover), and
        // that master's confirmations would release it: dropped now, and the rooms read
        // again from whichever master that is. Its log ids may be below those held, too.
        if (hold) {
            held.clear();
            last = confirmed;
        }
    };
    h.tick = [&] {
        auto now = std::chrono::steady_clock::now();
        if (now - pin_read < std::chrono::milliseconds(500)) return;
        pin_read = now;
        try {
            log_pinned_.store(reply_integer(pin.run({"EXISTS", kLogPin}).get()) == 1,
                              std::memory_order_relaxed);
        } catch (const StoreError&) {
            // The feed's own connection tells of an outage.
        }
    };
    subscriber_.run(h);
}

void RedisStore::route(const std::string& room, bool on) {
    subscriber_.want(kFeedRoom + room, on, !broken());
}

void RedisStore::watch(const std::string& user, bool on) {
    watch_start(user, on);
    if (on) watch_wait(user);
}

void RedisStore::watch_start(const std::string& user, bool on) {
    subscriber_.want(kFeedUser + user, on, false);
}

void RedisStore::watch_wait(const std::string& user) {
    if (!broken()) subscriber_.await(kFeedUser + user);
}

bool RedisStore::broken() const {
    // A Redis that just failed (or hangs) is not waited for: the read that follows fails
    // fast, and the feed's resubscription re-reads.
    return steady_ms() < broken_until_ms_.load(std::memory_order_relaxed);
}

void RedisStore::sync(size_t) {
    Lease c(*this);
    c->eval(barrier_, {kLog}, {});
}

void RedisStore::presence(const std::string& room, const std::string& user, bool joined) {
    std::lock_guard lk(p_mu_);
    // Past the bound the change is dropped: a lost join is restored by the next refresh,
    // a lost leave by expiry, so the queue never grows without limit while Redis is away.
    if (stopping_ || p_queue_.size() >= kPresenceQueue) return;
    p_queue_.push_back({room, user, joined});
    p_cv_.notify_one();
}

void RedisStore::typing(const std::string& room, const std::string& user, bool on) {
    std::lock_guard lk(p_mu_);
    if (stopping_ || p_queue_.size() >= kPresenceQueue) return;
    p_queue_.push_back({room, user, on, true});
    p_cv_.notify_one();
}

void RedisStore::apply_presence(RedisConn& c, const PresenceOp& op) {
    c.eval(presence_, {kPresence, kOnlinePrefix + op.room},
           {op.room, op.user, opts_.node_id,
            std::to_string(now_ms() + int64_t{opts_.presence_ttl_s} * 1000),
            op.joined ? "join" : "leave"});
}

void RedisStore::refresh_presence(RedisConn& c) {
    int64_t now = now_ms();
    std::string expiry = std::to_string(now + int64_t{opts_.presence_ttl_s} * 1000);
    std::vector<std::vector<std::string>> cmds;
    if (!mine_.empty()) cmds.push_back({"SCRIPT", "LOAD", presence_.body});  // EVALSHA below
    for (const auto& [room, users] : mine_)
        for (const auto& u : users)
            cmds.push_back({"EVALSHA", presence_.sha1, "2", kPresence, kOnlinePrefix + room, room,
                            u, opts_.node_id, expiry, "join"});
    if (!cmds.empty()) c.pipeline(cmds);
    // In slices, so one call never holds Redis for long, however many entries expired.
    constexpr long long kSlice = 1000;
    while (reply_integer(c.eval(sweep_, {kPresence},
                                {std::to_string(now), kOnlinePrefix, std::to_string(kSlice)})
                             .get()) == kSlice) {
    }
}

void RedisStore::presence_loop() {
    RedisConn c(opts_.url, opts_.timeout_ms);
    auto period = std::chrono::milliseconds(opts_.presence_ttl_s * 1000 / 3);
    auto next_refresh = std::chrono::steady_clock::now() + period;
    bool failing = false;
    while (true) {
        std::deque<PresenceOp> ops;
        {
            std::unique_lock lk(p_mu_);
            p_cv_.wait_until(lk, next_refresh, [&] { return stopping_ || !p_queue_.empty(); });
            ops.swap(p_queue_);
        }
        if (stopping_) break;
        try {
            std::vector<std::vector<std::string>> typing;
            for (const auto& op : ops) {
                if (op.typing) {
                    typing.push_back({"SPUBLISH", kFeedRoom + op.room,
                                      frame({"", "k", "t", "r", op.room, "u", op.user, "s",
                                             op.joined ? "1" : "0"})});
                } else if (op.joined) {
                    mine_[op.room].insert(op.user);
                } else if (auto it = mine_.find(op.room); it != mine_.end()) {
                    it->second.erase(op.user);
                    if (it->second.empty()) mine_.erase(it);
                }
            }
            for (const auto& op : ops)
                if (!op.typing) apply_presence(c, op);
            if (!typing.empty()) c.pipeline(typing);
            if (std::chrono::steady_clock::now() >= next_refresh) {
                next_refresh = std::chrono::steady_clock::now() + period;
                refresh_presence(c);
            }
            failing = false;
        } catch (const StoreError& e) {
            // What was not applied is repaired by the next refresh (joins) or by expiry.
            if (!failing) log::warn(std::string("presence: ") + e.what());
            failing = true;
            next_refresh = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        }
    }
    // Goodbye: remove this node's entries so other nodes see the leaves now, not at expiry.
    try {
        for (const auto& [room, users] : mine_)
            for (const auto& u : users) apply_presence(c, {room, u, false});
    } catch (const StoreError&) {
        // Redis is away; the entries expire on their own.
    }
}

std::vector<std::string> RedisStore::online(const std::string& room) {
    Lease c(*this);
    auto r = c->run({"HKEYS", kOnlinePrefix + room});
    std::vector<std::string> users;
    for (size_t i = 0; i < r->elements; ++i) users.push_back(reply_string(r->element[i]));
    std::sort(users.begin(), users.end());
    return users;
}

std::vector<size_t> RedisStore::online_counts(const std::vector<std::string>& rooms) {
    if (rooms.empty()) return {};
    std::vector<std::vector<std::string>> cmds;
    for (const auto& room : rooms) cmds.push_back({"HLEN", kOnlinePrefix + room});
    Lease c(*this);
    auto replies = c->pipeline(cmds);
    std::vector<size_t> out;
    for (auto& r : replies)
        out.push_back(r->type == REDIS_REPLY_INTEGER ? static_cast<size_t>(r->integer) : 0);
    return out;
}

void RedisStore::stop() {
    {
        std::lock_guard lk(p_mu_);
        stopping_ = true;
        p_cv_.notify_one();
    }
    subscriber_.stop();
    if (feed_.joinable()) feed_.join();
    if (presence_thread_.joinable()) presence_thread_.join();
}

const std::string& RedisStore::epoch(size_t) {
    return epoch_;
}

uint64_t RedisStore::last_pos(size_t) {
    Lease c(*this);
    auto r = c->run({"GET", "ssechat:pos"});
    return r->type == REDIS_REPLY_NIL ? 0 : static_cast<uint64_t>(to_i64(reply_string(r.get())));
}

std::vector<model::Event> RedisStore::log_after(size_t, uint64_t pos, size_t limit) {
    Lease c(*this);
    // The first entry with a position in `from` onwards (a page of 32: typing and presence
    // entries carry none), or nullopt.
    auto first_pos = [&](const std::string& from) -> std::optional<uint64_t> {
        auto r = c->run({"XRANGE", kLog, from, "+", "COUNT", "32"});
        for (size_t i = 0; i < r->elements; ++i) {
            auto f = fields(r->element[i]->element[1]);
            if (!f["p"].empty()) return static_cast<uint64_t>(to_i64(f["p"]));
        }
        return std::nullopt;
    };
    std::string from;
    {
        std::lock_guard lk(log_hint_mu_);
        if (auto it = log_hints_.find(pos); it != log_hints_.end()) from = it->second;
    }
    if (from.empty()) {
        auto head = c->run({"XRANGE", kLog, "-", "+", "COUNT", "1"});
        auto tail = c->run({"XREVRANGE", kLog, "+", "-", "COUNT", "1"});
        if (head->elements == 0) return {};
        auto ms = [](const redisReply* e) {
            std::string id = reply_string(e->element[0]);
            return static_cast<uint64_t>(to_i64(id.substr(0, id.find('-'))));
        };
        // The first millisecond whose first positioned entry is past `pos`: every entry
        // before it is at or below `pos` (positions grow along the log).
        uint64_t lo = ms(head->element[0]), hi = ms(tail->element[0]) + 1;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            auto p = first_pos(std::to_string(mid) + "-0");
            if (!p || *p > pos)
                hi = mid;
            else
                lo = mid + 1;
        }
        // One millisecond back: entries of the millisecond `lo - 1` may still be past `pos`.
        from = std::to_string(lo > 0 ? lo - 1 : 0) + "-0";
    }
    // With --redis-replicas, only what the replicas are known to have: an entry counts once a
    // confirmation marker after it covers it (as the feed does), so that nothing a failover
    // may take back (and whose position would be given again) is handed out.
    const bool confirmed_only = opts_.durability.replicas > 0;
    std::vector<std::pair<std::string, model::Event>> pending;  // read, not confirmed yet
    std::vector<model::Event> out;
    std::string resume = from;  // where the next call goes on: after the last entry handed out
    auto hand_out = [&](std::string id, model::Event ev) {
        resume = "(" + id;
        out.push_back(std::move(ev));
    };
    bool full = false;
    while (!full) {
        auto r = c->run({"XRANGE", kLog, from, "+", "COUNT", "256"});
        for (size_t i = 0; i < r->elements && !full; ++i) {
            const redisReply* e = r->element[i];
            std::string id = reply_string(e->element[0]);
            from = "(" + id;
            auto f = fields(e->element[1]);
            const std::string& k = f["k"];
            if (k == "c" && confirmed_only) {
                size_t n = 0;
                while (n < pending.size() && !full && !stream_id_less(f["c"], pending[n].first)) {
                    hand_out(std::move(pending[n].first), std::move(pending[n].second));
                    full = out.size() >= limit;
                    ++n;
                }
                pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(n));
                continue;
            }
            // Stored events only: not markers, typing, presence or membership records.
            if (f["p"].empty() || k == "c" || k == "t" || k == "p" || k == "j") continue;
            if (static_cast<uint64_t>(to_i64(f["p"])) <= pos) continue;
            try {
                auto ev = entry_event(f, static_cast<uint64_t>(to_i64(f["i"])), f["r"]);
                if (confirmed_only) {
                    pending.emplace_back(std::move(id), std::move(ev));
                } else {
                    hand_out(std::move(id), std::move(ev));
                    full = out.size() >= limit;
                }
            } catch (const StoreError& unknown) {
                log::error(unknown.what());  // a newer node's kind: passed over
            }
        }
        if (r->elements < 256) break;
    }
    {
        std::lock_guard lk(log_hint_mu_);
        log_hints_.erase(pos);
        if (log_hints_.size() >= 64) log_hints_.erase(log_hints_.begin());
        // Everything read is settled unless some waits for its confirmation: then the next
        // call reads again from after the last one handed out.
        if (!confirmed_only || pending.empty()) resume = from;
        log_hints_[out.empty() ? pos : out.back().pos] = resume;
    }
    return out;
}

std::optional<uint64_t> RedisStore::first_after(const std::string& room, uint64_t pos) {
    // Positions increase with ids in a room: walk back from the newest entry until one is at
    // or before `pos`. A resume is normally recent, so this reads a page or two.
    Lease c(*this);
    std::optional<uint64_t> first;
    std::string from = "+";
    for (size_t read = 0; read < 1000000;) {
        auto r = c->run({"XREVRANGE", kRoomPrefix + room, from, "-", "COUNT", "256"});
        if (r->elements == 0) break;
        for (size_t i = 0; i < r->elements; ++i) {
            const redisReply* e = r->element[i];
            auto f = fields(e->element[1]);
            if (static_cast<uint64_t>(to_i64(f["p"])) <= pos) return first;
            first = stream_id_number(e->element[0]);
        }
        read += r->elements;
        uint64_t oldest = *first;
        if (oldest <= 1) break;
        from = std::to_string(oldest - 1) + "-0";
    }
    return first;
}

void RedisStore::members(std::vector<MemberOp>& ops) {
    if (ops.empty()) return;
    std::vector<std::string> keys{kRooms, kLog}, args{log_trim()};
    for (const auto& op : ops) {
        args.push_back(std::string(1, op_code(op.op)));
        args.push_back(op.user);
        args.push_back(op.room);
        bool joins = op.op == MemberOp::Op::Join || op.op == MemberOp::Op::Add;
        args.push_back(std::to_string(joins ? op.max_rooms : op.id));
        args.push_back(payload(op));
    }
    auto r = writer_->eval(members_, keys, args);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != ops.size())
        throw StoreError("redis members.lua: unexpected reply");
    confirm();
    static constexpr MemberOp::Result codes[] = {
        MemberOp::Result::Done, MemberOp::Result::Unchanged, MemberOp::Result::NotMember,
        MemberOp::Result::TooMany, MemberOp::Result::LastOwner};
    for (size_t i = 0; i < ops.size(); ++i) {
        const redisReply* e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 4)
            throw StoreError("redis members.lua: unexpected reply");
        auto code = static_cast<size_t>(reply_integer(e->element[0]));
        ops[i].result = code < std::size(codes) ? codes[code] : MemberOp::Result::NotMember;
        ops[i].read = static_cast<uint64_t>(reply_integer(e->element[1]));
        ops[i].was_member = reply_integer(e->element[3]) != 0;
        if (ops[i].op == MemberOp::Op::Join || ops[i].op == MemberOp::Op::Add) {
            ops[i].id = ops[i].read;
            ops[i].pos = static_cast<uint64_t>(reply_integer(e->element[2]));
        }
    }
}

model::Roster RedisStore::roster(const std::string& room) {
    Lease c(*this);
    auto replies = c->pipeline({{"GET", "ssechat:profile:" + room},
                                {"HGETALL", "ssechat:readers:" + room},
                                {"HGETALL", "ssechat:roles:" + room},
                                {"HGETALL", "ssechat:bans:" + room},
                                {"HGETALL", "ssechat:mutes:" + room}});
    for (auto& rep : replies)
        if (rep->type == REDIS_REPLY_ERROR)
            throw StoreError("redis: " + std::string(rep->str, rep->len));
    model::Roster out;
    if (replies[0]->type == REDIS_REPLY_STRING)
        out.profile = profile_of(reply_string(replies[0].get()));
    const redisReply* readers = replies[1].get();
    for (size_t i = 0; i + 1 < readers->elements; i += 2) {
        std::string u = reply_string(readers->element[i]);
        out.members.emplace(u, model::RoomMember{u, model::Role::Member, 0});
    }
    const redisReply* roles = replies[2].get();
    for (size_t i = 0; i + 1 < roles->elements; i += 2) {
        auto it = out.members.find(reply_string(roles->element[i]));
        if (it == out.members.end()) continue;
        auto f = split(reply_string(roles->element[i + 1]));
        f.resize(2);
        it->second.role = role_of(f[0]);
        it->second.since = to_i64(f[1]);
    }
    for (int k : {3, 4}) {
        const redisReply* list = replies[static_cast<size_t>(k)].get();
        for (size_t i = 0; i + 1 < list->elements; i += 2) {
            std::string u = reply_string(list->element[i]);
            (k == 3 ? out.bans : out.mutes)
                .emplace(u, restriction_of(u, reply_string(list->element[i + 1])));
        }
    }
    return out;
}

model::Roster RedisStore::roster_of(const std::string& room, const std::string& user) {
    Lease c(*this);
    auto replies = c->pipeline({{"GET", "ssechat:profile:" + room},
                                {"HGET", "ssechat:readers:" + room, user},
                                {"HGET", "ssechat:roles:" + room, user},
                                {"HGET", "ssechat:bans:" + room, user},
                                {"HGET", "ssechat:mutes:" + room, user}});
    for (auto& rep : replies)
        if (rep->type == REDIS_REPLY_ERROR)
            throw StoreError("redis: " + std::string(rep->str, rep->len));
    model::Roster out;
    auto str = [&](size_t i) -> std::optional<std::string> {
        if (replies[i]->type != REDIS_REPLY_STRING) return std::nullopt;
        return reply_string(replies[i].get());
    };
    if (auto p = str(0)) out.profile = profile_of(*p);
    if (str(1)) {
        model::RoomMember m{user, model::Role::Member, 0};
        if (auto role = str(2)) {
            auto f = split(*role);
            f.resize(2);
            m.role = role_of(f[0]);
            m.since = to_i64(f[1]);
        }
        out.members.emplace(user, std::move(m));
    }
    if (auto b = str(3)) out.bans.emplace(user, restriction_of(user, *b));
    if (auto m = str(4)) out.mutes.emplace(user, restriction_of(user, *m));
    return out;
}

std::optional<model::Profile> RedisStore::profile(const std::string& room) {
    Lease c(*this);
    auto r = c->run({"GET", "ssechat:profile:" + room});
    if (r->type != REDIS_REPLY_STRING) return std::nullopt;
    return profile_of(reply_string(r.get()));
}

Settings RedisStore::settings(const std::string& user) {
    Lease c(*this);
    auto r = c->run({"GET", "ssechat:settings:" + user});
    Settings s;
    if (r->type == REDIS_REPLY_STRING) s.dms_from_anyone = reply_string(r.get()) != "1";
    return s;
}

size_t RedisStore::rooms_of(const std::string& user) {
    Lease c(*this);
    return static_cast<size_t>(reply_integer(c->run({"HLEN", "ssechat:member:" + user}).get()));
}

std::vector<Membership> RedisStore::memberships(const std::string& user) {
    Lease c(*this);
    auto r = c->run({"HGETALL", "ssechat:member:" + user});
    std::vector<Membership> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        std::string v = reply_string(r->element[i + 1]);
        auto sep = v.find('\x1f');
        out.push_back(
            {reply_string(r->element[i]), static_cast<uint64_t>(to_i64(v.substr(0, sep))),
             sep == std::string::npos ? 0 : static_cast<uint64_t>(to_i64(v.substr(sep + 1)))});
    }
    std::sort(out.begin(), out.end(),
              [](const Membership& a, const Membership& b) { return a.room < b.room; });
    return out;
}

std::vector<std::pair<std::string, uint64_t>> RedisStore::receipts(const std::string& room) {
    Lease c(*this);
    auto r = c->run({"HGETALL", "ssechat:readers:" + room});
    std::vector<std::pair<std::string, uint64_t>> out;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        out.emplace_back(reply_string(r->element[i]),
                         static_cast<uint64_t>(to_i64(reply_string(r->element[i + 1]))));
    std::sort(out.begin(), out.end());
    return out;
}

Unread RedisStore::unread(const std::string& room, const std::string& user, uint64_t after,
                          size_t cap) {
    // Messages after the marker, a page at a time, each checked in its state: from others,
    // not deleted.
    Lease c(*this);
    Unread u;
    std::string lo = "(" + std::to_string(after);
    while (!u.unread_more) {
        auto ids = c->run({"ZRANGEBYSCORE", kMidsPrefix + room, lo, "+inf", "LIMIT", "0", "500"});
        if (ids->elements == 0) break;
        std::vector<std::string> hmget{"HMGET", kMsgPrefix + room};
        for (size_t i = 0; i < ids->elements; ++i) hmget.push_back(reply_string(ids->element[i]));
        auto states = c->run(hmget);
        for (size_t i = 0; i < states->elements; ++i) {
            if (states->element[i]->type != REDIS_REPLY_STRING) continue;
            model::Event m;
            read_state(m, reply_string(states->element[i]));
            if (m.deleted || m.user_id == user) continue;
            if (u.unread == cap) {
                u.unread_more = u.mentions_more = true;
                break;
            }
            ++u.unread;
            if (model::mentions(m.text, user)) ++u.mentions;
        }
        lo = "(" + hmget.back();
    }
    return u;
}

}  // namespace ssechat::store
