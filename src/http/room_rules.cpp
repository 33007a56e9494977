// A room's rules as resources: its profile (POST /rooms, GET and PATCH /rooms/{room}), its
// members and their roles, bans and mutes. Whether the caller may act at all was decided by
// api_.admit() before any of these runs; acting on another member asks model::may_act_on() here.
#include "http/room_rules.hpp"

#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;
using Op = store::MemberOp::Op;
using model::Role;
using model::Visibility;

namespace {

constexpr size_t kMaxName = 80, kMaxTopic = 250, kMaxReason = 250;

// A string field of at most `max` bytes of text a person can read; "" when absent. Sets why.
std::optional<std::string> text_field(const boost::json::object& o, const char* key, size_t max,
                                      std::string& why) {
    const auto* v = o.if_contains(key);
    if (!v) return std::string();
    if (!v->is_string()) {
        why = std::string(key) + " must be a string";
        return std::nullopt;
    }
    std::string s(v->as_string());
    if (auto bad = text::bad_user_id(s, max); !bad.empty() && !s.empty()) {
        why = std::string(key) + ": at most " + std::to_string(max) +
              " bytes of UTF-8 without control characters";
        return std::nullopt;
    }
    return s;
}

// "until": absent or null (0: until lifted), else a time in unix ms after now.
bool until_field(const boost::json::object& o, int64_t now, int64_t& until, std::string& why) {
    const auto* v = o.if_contains("until");
    if (!v || v->is_null()) return true;
    if (v->is_int64() && v->as_int64() > now) {
        until = v->as_int64();
        return true;
    }
    why = "until must be a time in unix milliseconds after now, or null";
    return false;
}

}  // namespace

void RoomRules::change_rules(Ctx& c, std::vector<store::MemberOp> ops,
                             std::shared_ptr<chat::Room> room, RulesAnswer answer) {
    auto respond = api_.later(c);
    auto ex = c.s->executor();
    api_.hub().members(
        std::move(ops), std::move(room),
        [this, respond, ex, answer = std::move(answer)](bool ok, const store::MemberOp& done) {
            // Built on the request's loop, not the writer thread: an answer may read
            // the room.
            boost::asio::post(ex, [this, respond, answer, ok, done] {
                using R = store::MemberOp::Result;
                if (!ok)
                    return respond(api_.error(status::service_unavailable,
                                              "the change could not be stored, retry later"));
                if (done.result == R::LastOwner)
                    return respond(api_.error(status::bad_request,
                                              "a room keeps at least one owner: make "
                                              "someone else owner first"));
                if (done.result == R::TooMany)
                    return respond(api_.error(status::forbidden,
                                              done.user + " is in as many rooms as a user may be "
                                                          "(--max-rooms-per-user)"));
                respond(answer(done));
            });
        });
}

void RoomRules::create_room(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    auto body = object_body(c.req.body());
    if (!body)
        return api_.refuse(
            c, status::bad_request,
            R"(the body must be a JSON object: {"visibility","name","topic","room"})");
    if (auto k = unknown_key(*body, {"visibility", "name", "topic", "room"}); !k.empty())
        return api_.refuse(c, status::bad_request, "unknown field " + k);
    std::string why;
    auto name = text_field(*body, "name", kMaxName, why);
    auto topic = name ? text_field(*body, "topic", kMaxTopic, why) : std::nullopt;
    if (!name || !topic) return api_.refuse(c, status::bad_request, why);
    Visibility vis = Visibility::Public;
    if (const auto* v = body->if_contains("visibility")) {
        auto parsed = v->is_string() ? model::parse_visibility(v->as_string()) : std::nullopt;
        if (parsed == Visibility::Dm)
            return api_.refuse(c, status::bad_request,
                               "direct messages are opened with PUT /me/dms/{user}");
        if (!parsed)
            return api_.refuse(c, status::bad_request,
                               "visibility must be \"public\" or \"private\"");
        vis = *parsed;
    }
    std::string room;
    if (const auto* r = body->if_contains("room")) {
        if (vis == Visibility::Private)
            return api_.refuse(c, status::bad_request,
                               "a private room's id is made by the server: leave room out");
        if (!r->is_string() || !text::valid_room(r->as_string()) ||
            model::dm_reserved(r->as_string()))
            return api_.refuse(c, status::bad_request,
                               "room must be 1 to 64 of A-Z a-z 0-9 _ . - (not . or .., and not "
                               "beginning dm.)");
        room = std::string(r->as_string());
    }
    if (vis == Visibility::Private && !c.identity)
        return api_.refuse(c, status::bad_request,
                           "a private room needs a signed-in user: without tokens anyone can claim "
                           "any id, so nothing could be kept private");
    if (!api_.scope(c).every() && (room.empty() || !api_.scope(c).covers(room)))
        return api_.refuse(c, status::forbidden,
                           "this token is limited to the rooms of its claim: it cannot make rooms");
    if (room.empty()) room = model::private_room_id();
    c.room = room;
    auto r = api_.open_room(c, room);
    if (!r) return;
    c.loaded = r;
    auto used = api_.exists(c);
    if (!used) return;
    if (*used) return api_.refuse(c, status::conflict, "room " + room + " exists already");
    model::Profile p;
    p.visibility = vis;
    p.name = *name;
    p.topic = *topic;
    p.created_by = *u;
    p.created_at = unix_now_ms();
    store::MemberOp profile;
    profile.op = Op::Profile;
    profile.room = room;
    profile.user = *u;
    profile.profile = p;
    store::MemberOp owner;
    owner.op = Op::Add;
    owner.room = room;
    owner.user = *u;
    owner.by = *u;
    owner.role = Role::Owner;
    owner.ts = p.created_at;
    owner.max_rooms = api_.config().max_rooms_per_user;
    change_rules(c, {profile, owner}, r, [room, p](const store::MemberOp&) {
        return make(status::created, model::profile_json(room, p, 1, Role::Owner));
    });
}

void RoomRules::get_room(Ctx& c) {
    if (!api_.load(c)) return;
    // A room never used is no more a room than one the caller may not see: the same 404.
    auto used = api_.exists(c);
    if (!used) return;
    if (!*used) return api_.refuse(c, status::not_found, model::kNoSuchRoom);
    auto body = c.loaded->with_roster([&](const model::Roster& r) {
        return model::profile_json(c.room, r.profile.value_or(model::Profile{}), r.members.size(),
                                   c.standing.role);
    });
    api_.reply(c, make(status::ok, std::move(body)));
}

void RoomRules::patch_room(Ctx& c) {
    if (!api_.load(c)) return;
    auto used = api_.exists(c);
    if (!used) return;
    if (!*used) return api_.refuse(c, status::not_found, model::kNoSuchRoom);
    auto body = object_body(c.req.body());
    if (!body || body->empty())
        return api_.refuse(
            c, status::bad_request,
            R"(the body must be a JSON object with "name", "topic" or "visibility")");
    if (auto k = unknown_key(*body, {"visibility", "name", "topic"}); !k.empty())
        return api_.refuse(c, status::bad_request, "unknown field " + k);
    model::Profile p = c.loaded->with_roster(
        [](const model::Roster& r) { return r.profile.value_or(model::Profile{}); });
    std::string why;
    if (body->contains("name")) {
        auto v = text_field(*body, "name", kMaxName, why);
        if (!v) return api_.refuse(c, status::bad_request, why);
        p.name = *v;
    }
    if (body->contains("topic")) {
        auto v = text_field(*body, "topic", kMaxTopic, why);
        if (!v) return api_.refuse(c, status::bad_request, why);
        p.topic = *v;
    }
    if (const auto* v = body->if_contains("visibility")) {
        auto parsed = v->is_string() ? model::parse_visibility(v->as_string()) : std::nullopt;
        if (!parsed || *parsed == Visibility::Dm)
            return api_.refuse(c, status::bad_request,
                               "visibility must be \"public\" or \"private\"");
        if (*parsed != p.visibility) {
            auto d = model::may(c.visibility, c.standing, model::Act::Visibility);
            if (!d.ok()) return api_.refuse(c, static_cast<status>(d.status), d.error);
            if (*parsed == Visibility::Private && !c.identity)
                return api_.refuse(
                    c, status::bad_request,
                    "a private room needs signed-in users: without tokens anyone can "
                    "claim any id");
            p.visibility = *parsed;
        }
    }
    store::MemberOp op;
    op.op = Op::Profile;
    op.room = c.room;
    op.user = c.actor;
    op.by = c.actor;
    op.profile = p;
    auto room = c.loaded;
    Role mine = c.standing.role;
    change_rules(c, {op}, room, [room, mine](const store::MemberOp& done) {
        size_t n = room->with_roster([](const model::Roster& r) { return r.members.size(); });
        return make(status::ok, model::profile_json(done.room, done.profile, n, mine));
    });
}

void RoomRules::list_members(Ctx& c) {
    if (!api_.load(c)) return;
    auto used = api_.exists(c);
    if (!used) return;
    if (!*used) return api_.refuse(c, status::not_found, model::kNoSuchRoom);
    const auto& q = c.query;
    size_t n = 0;
    if (!api_.page_limit(c, n)) return;
    std::string after;
    if (const std::string* cur = http_util::find(*q, "cursor")) after = *cur;
    auto body = c.loaded->with_roster([&](const model::Roster& r) {
        std::string out = "{\"members\":[";
        size_t k = 0;
        auto it = after.empty() ? r.members.begin() : r.members.upper_bound(after);
        for (; it != r.members.end() && k < n; ++it, ++k) {
            if (k) out += ',';
            out += model::member_json(it->second);
        }
        out += "],\"next\":";
        if (it != r.members.end() && k == n) {
            boost::json::string next(std::prev(it)->first);
            out += boost::json::serialize(boost::json::value(next));
        } else {
            out += "null";
        }
        return out + "}";
    });
    api_.reply(c, make(status::ok, std::move(body)));
}

void RoomRules::put_member(Ctx& c) {
    if (!api_.load(c)) return;
    auto target = api_.target_user(c);
    if (!target) return;
    auto body = object_body(c.req.body());
    if (!body)
        return api_.refuse(c, status::bad_request, R"(the body must be {"role":"member"|...})");
    if (auto k = unknown_key(*body, {"role"}); !k.empty())
        return api_.refuse(c, status::bad_request, "unknown field " + k);
    Role to = Role::Member;
    if (const auto* v = body->if_contains("role")) {
        auto parsed = v->is_string() ? model::parse_role(v->as_string()) : std::nullopt;
        if (!parsed)
            return api_.refuse(c, status::bad_request,
                               "role must be \"member\", \"moderator\" or \"owner\"");
        to = *parsed;
    }
    auto now = unix_now_ms();
    auto [theirs, mode] = c.loaded->with_roster([&](const model::Roster& r) {
        return std::pair{r.standing(*target, Role::None, now), r.visibility()};
    });
    auto d = model::may_act_on(mode, c.standing, model::Act::Grant, theirs.role, to);
    if (!d.ok()) return api_.refuse(c, static_cast<status>(d.status), d.error);
    if (theirs.banned) return api_.refuse(c, status::forbidden, "banned from this room");
    store::MemberOp op;
    op.op = Op::Add;
    op.room = c.room;
    op.user = *target;
    op.by = c.actor;
    op.role = to;
    op.ts = now;
    op.max_rooms = api_.config().max_rooms_per_user;
    auto room = c.loaded;
    change_rules(c, {op}, room, [room](const store::MemberOp& done) {
        auto m = room->with_roster([&](const model::Roster& r) {
            auto it = r.members.find(done.user);
            return it == r.members.end() ? model::RoomMember{done.user, done.role, done.ts}
                                         : it->second;
        });
        return make(status::ok, model::member_json(m));
    });
}

void RoomRules::remove_member(Ctx& c) {
    if (!api_.load(c)) return;
    auto target = api_.target_user(c);
    if (!target) return;
    Role theirs = c.loaded->with_roster([&](const model::Roster& r) { return r.role(*target); });
    if (*target != c.actor) {
        auto d =
            model::may_act_on(c.visibility, c.standing, model::Act::Remove, theirs, Role::None);
        if (!d.ok()) return api_.refuse(c, static_cast<status>(d.status), d.error);
    }
    if (theirs == Role::None)
        return api_.refuse(c, status::not_found, *target + " is not a member of this room");
    store::MemberOp op;
    op.op = Op::Leave;
    op.room = c.room;
    op.user = *target;
    op.by = c.actor;
    op.ts = unix_now_ms();
    change_rules(c, {op}, c.loaded, [](const store::MemberOp& done) {
        using R = store::MemberOp::Result;
        if (done.result == R::NotMember)
            return make(status::not_found, R"({"status":404,"error":"not a member of this room"})");
        return Response{status::no_content, 11};
    });
}

void RoomRules::put_ban(Ctx& c) {
    restrict(c, Op::Ban);
}

void RoomRules::put_mute(Ctx& c) {
    restrict(c, Op::Mute);
}

void RoomRules::lift_ban(Ctx& c) {
    restrict(c, Op::Unban);
}

void RoomRules::lift_mute(Ctx& c) {
    restrict(c, Op::Unmute);
}

void RoomRules::restrict(Ctx& c, Op kind) {
    if (!api_.load(c)) return;
    auto target = api_.target_user(c);
    if (!target) return;
    const bool ban = kind == Op::Ban || kind == Op::Unban;
    const bool lift = kind == Op::Unban || kind == Op::Unmute;
    auto now = unix_now_ms();
    model::Restriction r{*target, c.actor, "", 0, now};
    if (!lift) {
        auto body = object_body(c.req.body());
        if (!body)
            return api_.refuse(
                c, status::bad_request,
                ban ? R"(the body must be {"reason":"…","until":<ms>}, both optional)"
                    : R"(the body must be {"until":<ms>}, optional)");
        if (auto k = ban ? unknown_key(*body, {"reason", "until"}) : unknown_key(*body, {"until"});
            !k.empty())
            return api_.refuse(c, status::bad_request, "unknown field " + k);
        std::string why;
        auto reason = text_field(*body, "reason", kMaxReason, why);
        if (!reason || !until_field(*body, now, r.until, why))
            return api_.refuse(c, status::bad_request, why);
        r.reason = *reason;
        if (*target == c.actor)
            return api_.refuse(c, status::bad_request,
                               ban ? "you cannot ban yourself" : "you cannot mute yourself");
    }
    Role theirs = c.loaded->with_roster([&](const model::Roster& x) { return x.role(*target); });
    auto d = model::may_act_on(c.visibility, c.standing, model::Act::Restrict, theirs, Role::None);
    if (!d.ok()) return api_.refuse(c, static_cast<status>(d.status), d.error);
    store::MemberOp op;
    op.op = kind;
    op.room = c.room;
    op.user = *target;
    op.by = c.actor;
    op.ts = now;
    op.restriction = r;
    change_rules(c, {op}, c.loaded, [ban, lift, r](const store::MemberOp& done) {
        using R = store::MemberOp::Result;
        if (lift) {
            if (done.result == R::NotMember)
                return make(status::not_found, ban ? R"({"status":404,"error":"not banned"})"
                                                   : R"({"status":404,"error":"not muted"})");
            return Response{status::no_content, 11};
        }
        return make(status::ok, model::restriction_json(r, ban));
    });
}

void RoomRules::list_bans(Ctx& c) {
    list_restrictions(c, true);
}

void RoomRules::list_mutes(Ctx& c) {
    list_restrictions(c, false);
}

void RoomRules::list_restrictions(Ctx& c, bool bans) {
    if (!api_.load(c)) return;
    auto now = unix_now_ms();
    auto body = c.loaded->with_roster([&](const model::Roster& r) {
        std::string out = bans ? "{\"bans\":[" : "{\"mutes\":[";
        bool first = true;
        for (const auto& [u, x] : bans ? r.bans : r.mutes) {
            if (!x.active(now)) continue;  // lapsed: no longer anyone's business
            if (!first) out += ',';
            first = false;
            out += model::restriction_json(x, bans);
        }
        return out + "]}";
    });
    api_.reply(c, make(status::ok, std::move(body)));
}

}  // namespace ssechat::http
