// The user's own resources: the rooms they are in (membership, read markers, summaries), a
// room's receipts, and the user stream that carries all their rooms.
#include "http/me.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/strict_json.hpp"

namespace ssechat::http {

using namespace detail;
using Op = store::MemberOp::Op;

void Me::my_rooms(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    try {
        auto joined = api_.hub().store().memberships(*u);
        std::erase_if(joined, [sc = api_.scope(c)](const auto& m) { return !sc.covers(m.room); });
        api_.reply(c, make(status::ok, model::rooms_json(api_.hub().summaries(*u, joined))));
    } catch (const store::StoreError&) {
        api_.reply(
            c, api_.error(status::service_unavailable, "the store is unavailable, retry later"));
    }
}

void Me::join_room(Ctx& c) {
    member_op(c, Op::Join, 0);
}

void Me::leave_room(Ctx& c) {
    member_op(c, Op::Leave, 0);
}

void Me::mark_read(Ctx& c) {
    boost::json::error_code ec;
    auto v = boost::json::parse(c.req.body(), ec);
    const boost::json::value* id = nullptr;
    if (!ec && v.is_object() && !strict_json::duplicate_keys(c.req.body()))
        id = v.as_object().if_contains("id");
    std::optional<uint64_t> n;
    if (id && id->is_uint64()) n = id->as_uint64();
    if (id && id->is_int64() && id->as_int64() >= 0) n = static_cast<uint64_t>(id->as_int64());
    if (!n)
        return api_.refuse(c, status::bad_request, R"(the body must be {"id":N}, N a message id)");
    member_op(c, Op::Read, *n);
}

void Me::member_op(Ctx& c, store::MemberOp::Op op, uint64_t id) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    auto r = api_.open_room(c, c.room);
    if (!r) return;
    if (op == Op::Read) {
        uint64_t last = r->delivered();
        // With a shared store this node may not have delivered the newest ids yet: the store
        // has the room's last id.
        if (id > last && api_.hub().store().cluster()) {
            try {
                last = std::max(last, api_.hub().store().last_id(c.room));
            } catch (const store::StoreError&) {
                return api_.reply(c, api_.error(status::service_unavailable,
                                                "the store is unavailable, retry later"));
            }
        }
        if (id > last)
            return api_.refuse(c, status::bad_request,
                               "id " + std::to_string(id) + " is past the last id of room " +
                                   c.room + " (" + std::to_string(last) + ")");
    }
    store::MemberOp m;
    m.op = op;
    m.user = *u;
    m.room = c.room;
    m.id = id;
    m.by = *u;
    m.ts = unix_now_ms();
    m.max_rooms = api_.config().max_rooms_per_user;
    api_.get<RoomRules>().change_rules(
        c, {std::move(m)}, std::move(r), [this](const store::MemberOp& done) {
            // The summary reads the store: on the request's loop, not the writer's.
            if (done.result == store::MemberOp::Result::NotMember)
                return api_.error(status::not_found, "you are not in room " + done.room);
            try {
                return make(status::ok, model::summary_json(
                                            api_.hub().summary(done.user, done.room, done.read)));
            } catch (const store::StoreError&) {
                return api_.error(status::service_unavailable,
                                  "the store is unavailable, retry later");
            }
        });
}

void Me::open_dm(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    if (!c.identity)
        return api_.refuse(c, status::bad_request,
                           "direct messages need a signed-in user: without tokens anyone can claim "
                           "any id, so nothing could be kept private");
    auto other = api_.target_user(c);
    if (!other) return;
    if (!api_.scope(c).every())
        return api_.refuse(c, status::forbidden,
                           "this token is limited to the rooms of its claim: it cannot open direct "
                           "messages");
    c.room = model::dm_room(*u, *other);
    auto r = api_.open_room(c, c.room);
    if (!r) return;
    auto [mine, fresh] = r->with_roster([&](const model::Roster& x) {
        return std::pair{x.role(*u), !x.profile.has_value()};
    });
    if (mine == model::Role::None && *other != *u) {
        try {
            if (!api_.hub().store().settings(*other).dms_from_anyone) {
                // Only from someone in a room with them: a room both are members of.
                auto theirs = api_.hub().store().memberships(*other);
                auto ours = api_.hub().store().memberships(*u);
                bool shared = false;
                for (size_t i = 0, j = 0; i < ours.size() && j < theirs.size() && !shared;) {
                    int cmp = ours[i].room.compare(theirs[j].room);
                    shared = cmp == 0 && ours[i].room != c.room;
                    if (cmp <= 0) ++i;
                    if (cmp >= 0) ++j;
                }
                if (!shared)
                    return api_.refuse(
                        c, status::forbidden,
                        "this user accepts messages only from people in a shared room");
            }
        } catch (const store::StoreError&) {
            return api_.reply(c,
                              api_.error(status::service_unavailable, "the store is unavailable"));
        }
    }
    auto now = unix_now_ms();
    std::vector<store::MemberOp> ops;
    auto add = [&](const std::string& who) {
        store::MemberOp op;
        op.op = Op::Join;
        op.room = c.room;
        op.user = who;
        op.by = *u;
        op.ts = now;
        op.max_rooms = api_.config().max_rooms_per_user;
        ops.push_back(std::move(op));
    };
    if (fresh) {
        store::MemberOp p;
        p.op = Op::Profile;
        p.room = c.room;
        p.user = *u;
        p.profile.visibility = model::Visibility::Dm;
        p.profile.created_by = *u;
        p.profile.created_at = now;
        p.profile.with = std::min(*u, *other) + "\n" + std::max(*u, *other);
        if (*u == *other) p.profile.with = *u;
        ops.push_back(std::move(p));
        if (*other != *u) add(*other);
    }
    add(*u);  // last: its result is the answer
    std::string me = *u;
    bool made = fresh;  // a structured binding cannot be captured (clang)
    api_.get<RoomRules>().change_rules(
        c, std::move(ops), r, [this, me, made](const store::MemberOp& done) {
            try {
                auto s = api_.hub().summary(me, done.room, done.read);
                return make(made ? status::created : status::ok, model::summary_json(s));
            } catch (const store::StoreError&) {
                return api_.error(status::service_unavailable,
                                  "the store is unavailable, retry later");
            }
        });
}

namespace {
std::string settings_json(const store::Settings& s) {
    return s.dms_from_anyone ? R"({"dms":"anyone"})" : R"({"dms":"shared_rooms"})";
}
}  // namespace

void Me::get_settings(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    try {
        api_.reply(c, make(status::ok, settings_json(api_.hub().store().settings(*u))));
    } catch (const store::StoreError&) {
        api_.reply(c, api_.error(status::service_unavailable, "the store is unavailable"));
    }
}

void Me::put_settings(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    boost::json::error_code ec;
    auto v = boost::json::parse(c.req.body(), ec);
    const boost::json::value* dms = nullptr;
    if (!ec && v.is_object() && v.as_object().size() == 1 &&
        !strict_json::duplicate_keys(c.req.body()))
        dms = v.as_object().if_contains("dms");
    if (!dms || !dms->is_string() ||
        (dms->as_string() != "anyone" && dms->as_string() != "shared_rooms"))
        return api_.refuse(c, status::bad_request,
                           R"(the body must be {"dms":"anyone"} or {"dms":"shared_rooms"})");
    store::MemberOp op;
    op.op = Op::Settings;
    op.user = *u;
    op.settings.dms_from_anyone = dms->as_string() == "anyone";
    api_.get<RoomRules>().change_rules(c, {op}, nullptr, [](const store::MemberOp& done) {
        return make(status::ok, settings_json(done.settings));
    });
}

void Me::receipts(Ctx& c) {
    boost::json::object o;
    o["room"] = c.room;
    boost::json::object list;
    try {
        for (auto& [u, id] : api_.hub().store().receipts(c.room)) list[u] = id;
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.error(status::service_unavailable, "the store is unavailable"));
    }
    o["receipts"] = std::move(list);
    api_.reply(c, make(status::ok, boost::json::serialize(o)));
}

}  // namespace ssechat::http
