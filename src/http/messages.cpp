// Messages: publishing (native and seed), edits, deletes and reactions, all answered after
// their commit; history pages and single messages in their current state.
#include "http/messages.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <cstdio>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/log.hpp"

namespace ssechat::http {

using namespace detail;

namespace {
// 1 to 128 visible ASCII characters (RFC 9110 token-ish, as Stripe and the IETF draft use).
bool valid_key(std::string_view k) {
    if (k.empty() || k.size() > 128) return false;
    for (unsigned char ch : k)
        if (ch < 0x21 || ch > 0x7E) return false;
    return true;
}
}  // namespace

Messages::Messages(Api& api)
    : api_(api), publishes_(api.config().publish_rate, api.config().publish_burst) {}

Files* Messages::files() {
    return api_.get<FileRoutes>().files();
}

void Messages::native_publish(Ctx& c) {
    const std::string& room = c.room;
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    std::string key;
    if (auto n = c.req.count("Idempotency-Key"); n > 1) {
        return api_.refuse(c, status::bad_request, "Idempotency-Key is given twice");
    } else if (n == 1) {
        key = std::string(c.req["Idempotency-Key"]);
        if (!valid_key(key))
            return api_.refuse(c, status::bad_request,
                               "Idempotency-Key must be 1 to 128 visible ASCII characters");
    }
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          api_.config().max_message, true);
    if (body.status != 200) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return api_.refuse(c, static_cast<status>(body.status), body.error);
    }
    if (body.files.empty())
        return publish(c, room, std::move(*u), std::move(body.message), std::move(key), false,
                       body.reply_to);
    // Files: claimed for this message before it is stored (a claim is a short write; given
    // back when the message is not stored), so that no sweep takes them in between and no
    // other message carries them.
    if (!files())
        return api_.reply(c, make(status::not_implemented,
                                  R"({"error":"files need --store sqlite or --store memory"})"));
    store::FileStore::Claim claim;
    try {
        claim = files()->store().claim(body.files, room, *u, key);
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    if (!claim.problem.empty())
        return api_.refuse(c, status::bad_request, "file " + claim.id + ": " + claim.problem);
    std::string described = "[";
    for (const auto& f : claim.files) {
        if (described.size() > 1) described += ',';
        described += model::file_json(f);
    }
    described += ']';
    publish(c, room, std::move(*u), std::move(body.message), std::move(key), false, body.reply_to,
            std::move(described), [this, ids = std::move(body.files)](chat::PublishOutcome o) {
                // Replayed: the first attempt's message holds them.
                if (o == chat::PublishOutcome::Ok || o == chat::PublishOutcome::Replayed) return;
                try {
                    files()->store().unclaim(ids);
                } catch (const store::StoreError&) {
                    // They stay claimed by nothing: kept, never lost (a leak, not a loss).
                }
            });
}

std::optional<uint64_t> Messages::message_id(Ctx& c) {
    auto id = text::parse_u64(c.id);
    if (!id || *id == 0 || *id > uint64_t{INT64_MAX}) {
        api_.refuse(c, status::bad_request, "the message id must be a positive integer");
        return std::nullopt;
    }
    return id;
}

void Messages::get_message(Ctx& c) {
    auto id = message_id(c);
    if (!id) return;
    std::vector<model::Event> page;
    try {
        page = api_.hub().store().messages(c.room, *id - 1, *id + 1, 1, false);
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.error(status::service_unavailable, "store read failed"));
    }
    if (page.empty() || page.front().id != *id)
        return api_.refuse(c, status::not_found,
                           "room " + c.room + " has no message " + std::to_string(*id));
    api_.reply(c, make(status::ok, model::state_json(page.front())));
}

void Messages::edit_message(Ctx& c) {
    auto id = message_id(c);
    if (!id) return;
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          api_.config().max_message);
    if (body.status != 200) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return api_.refuse(c, static_cast<status>(body.status), body.error);
    }
    model::Event ev;
    ev.kind = model::Kind::Edit;
    ev.user_id = std::move(*u);
    ev.target = *id;
    ev.text = std::move(body.message);
    change(c, std::move(ev));
}

void Messages::delete_message(Ctx& c) {
    auto id = message_id(c);
    if (!id) return;
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    model::Event ev;
    ev.kind = model::Kind::Delete;
    ev.user_id = std::move(*u);
    ev.target = *id;
    // Its files go with its text: read which, and erase them once the delete is stored.
    std::vector<std::string> ids;
    if (files()) {
        try {
            auto page = api_.hub().store().messages(c.room, *id - 1, *id + 1, 1, false);
            if (!page.empty() && page.front().id == *id) ids = model::file_ids(page.front().files);
        } catch (const store::StoreError&) {
            return api_.reply(c, api_.store_down());
        }
    }
    if (ids.empty()) return change(c, std::move(ev));
    change(c, std::move(ev), [this, ids = std::move(ids)](chat::PublishOutcome o) {
        if (o != chat::PublishOutcome::Ok) return;
        bool queued = api_.work().submit([this, ids] {
            try {
                files()->erase(ids);
            } catch (const store::StoreError& e) {
                log::warn("erasing a deleted message's files failed", {{"error", e.what()}});
            }
        });
        if (!queued) log::warn("erasing a deleted message's files was not queued", {});
    });
}

void Messages::add_reaction(Ctx& c) {
    react(c, false);
}

void Messages::remove_reaction(Ctx& c) {
    react(c, true);
}

void Messages::react(Ctx& c, bool remove) {
    auto id = message_id(c);
    if (!id) return;
    auto emoji = text::percent_decode(c.emoji, false);
    // What a person can type as one reaction: anything else would let a client fill a
    // message with arbitrary strings.
    if (!emoji || !text::valid_reaction(*emoji))
        return api_.refuse(
            c, status::bad_request,
            "the emoji must be one emoji (percent-encoded UTF-8, at most 32 bytes) or "
            "a name like :party_parrot: (1 to 30 of a-z 0-9 _ + -)");
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    model::Event ev;
    ev.kind = model::Kind::Reaction;
    ev.user_id = std::move(*u);
    ev.target = *id;
    ev.text = std::move(*emoji);
    ev.remove = remove;
    change(c, std::move(ev));
}

void Messages::history(Ctx& c) {
    const std::string& room = c.room;
    const auto& q = c.query;
    if (!q) return api_.refuse(c, status::bad_request, "malformed query string");
    std::optional<uint64_t> before, after, limit;
    if (!number_param(*q, "before", before))
        return api_.refuse(c, status::bad_request, "before must be a non-negative integer");
    if (!number_param(*q, "after", after))
        return api_.refuse(c, status::bad_request, "after must be a non-negative integer");
    if (!number_param(*q, "limit", limit) || (limit && (*limit < 1 || *limit > 500)))
        return api_.refuse(c, status::bad_request, "limit must be an integer from 1 to 500");
    size_t n = limit ? *limit : 50;
    uint64_t hi = before ? *before : UINT64_MAX;
    // ?include=member,room: the records of the room's rules among the messages, each item
    // with its "kind", so a page can show "alice added bob" after a reload.
    bool rules = false;
    if (const std::string* inc = http_util::find(*q, "include")) {
        for (size_t p = 0; p <= inc->size();) {
            size_t comma = inc->find(',', p);
            std::string_view part(inc->data() + p,
                                  (comma == std::string::npos ? inc->size() : comma) - p);
            if (part != "member" && part != "room")
                return api_.refuse(c, status::bad_request,
                                   "include must list member and room, comma-separated");
            rules = true;
            if (comma == std::string::npos) break;
            p = comma + 1;
        }
    }
    std::vector<model::Event> msgs;
    bool has_more = false;
    try {
        auto& st = api_.hub().store();
        auto read = [&](uint64_t a, size_t k, bool newest) {
            return rules ? st.shown(room, a, hi, k, newest) : st.messages(room, a, hi, k, newest);
        };
        if (after) {
            msgs = read(*after, n + 1, false);
            has_more = msgs.size() > n;
            if (has_more) msgs.pop_back();
        } else {
            msgs = read(0, n + 1, true);
            has_more = msgs.size() > n;
            if (has_more) msgs.erase(msgs.begin());
        }
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.error(status::service_unavailable, "store read failed"));
    }
    std::string body = "{\"messages\":[";
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i) body += ',';
        std::string item = msgs[i].kind == model::Kind::Message ? model::state_json(msgs[i])
                                                                : model::event_json(msgs[i]);
        if (rules) {
            // {"kind":"message",...}: the kind first, then the item's own fields.
            item.insert(1, std::string("\"kind\":\"") + model::kind_name(msgs[i].kind) + "\",");
        }
        body += item;
    }
    body += "],\"has_more\":";
    body += has_more ? "true}" : "false}";
    api_.reply(c, make(status::ok, std::move(body)));
}

void Messages::publish(Ctx& c, const std::string& room, std::string user, std::string text,
                       std::string key, bool seed, uint64_t reply_to, std::string files,
                       After after) {
    model::Event ev;
    ev.user_id = std::move(user);
    ev.text = std::move(text);
    ev.key = std::move(key);
    ev.reply_to = reply_to;
    ev.files = std::move(files);
    ev.bot = c.identity && c.identity->bot();
    submit(c, room, std::move(ev), seed, std::move(after));
}

void Messages::change(Ctx& c, model::Event ev, After after) {
    submit(c, c.room, std::move(ev), false, std::move(after));
}

void Messages::submit(Ctx& c, const std::string& room, model::Event ev, bool seed, After after) {
    // The limit first: a refused publish must not load (or create) its room. Changes count
    // against the same limit as messages.
    if (!rate_ok(c, ev.user_id)) {
        if (after) after(chat::PublishOutcome::StoreFailed);
        return;
    }
    auto r = api_.open_room(c, room);
    if (!r) {
        if (after) after(chat::PublishOutcome::StoreFailed);
        return;
    }
    unsigned version = c.req.version();
    bool keep = c.req.keep_alive();
    auto s = c.s;
    auto ex = s->executor();
    auto origin = api_.origin_of(c.req);
    std::string method(c.req.method_string());
    model::Kind kind = ev.kind;
    uint64_t target = ev.target;
    // Deleting someone else's message: the room's moderators and owners, and the server's.
    bool mod = model::may(c.visibility, c.standing, model::Act::Moderate).ok();
    std::string actor = ev.user_id;
    api_.hub().publish(
        std::move(r), std::move(ev), mod,
        [this, s, ex, version, keep, seed, origin, method, kind, target, room, actor,
         route = c.route, start = c.start,
         after = std::move(after)](chat::PublishOutcome o, const model::Event& msg) {
            using chat::PublishOutcome;
            if (after) after(o);
            auto what = [&] { return "message " + std::to_string(target) + " of room " + room; };
            Response res;
            switch (o) {
                case PublishOutcome::Ok:
                    if (kind != model::Kind::Message)
                        res = make(status::ok, model::state_json(msg));
                    else
                        res = seed ? make(status::ok, kSeedOk)
                                   : make(status::created, model::event_json(msg));
                    break;
                case PublishOutcome::Replayed:
                    // Nothing new stored: the original message, as it was first answered.
                    res = make(status::ok, model::event_json(msg));
                    res.set("Idempotent-Replayed", "true");
                    break;
                case PublishOutcome::NoChange:
                    res = make(status::ok, model::state_json(msg));
                    break;
                case PublishOutcome::KeyConflict:
                    res = api_.error(status::unprocessable_entity,
                                     "this Idempotency-Key was used for a different message");
                    break;
                case PublishOutcome::NotFound:
                    res = api_.error(status::not_found, "there is no " + what());
                    break;
                case PublishOutcome::Forbidden:
                    res = api_.error(status::forbidden,
                                     kind == model::Kind::Edit
                                         ? "only the author may edit " + what()
                                         : "only the author or a moderator may delete " + what());
                    break;
                case PublishOutcome::Gone:
                    res = api_.error(status::gone, what() + " was deleted");
                    break;
                case PublishOutcome::TooManyKinds:
                    res = api_.error(status::conflict,
                                     what() + " has " + std::to_string(model::kMaxReactionKinds) +
                                         " different reactions, the most a message may carry");
                    break;
                case PublishOutcome::TooManyOfUser:
                    res = api_.error(status::conflict,
                                     "you have " + std::to_string(model::kMaxReactionsPerUser) +
                                         " reactions on " + what() + ", the most one user may add");
                    break;
                case PublishOutcome::BadReply:
                    res = api_.error(status::bad_request,
                                     "reply_to names no message of room " + room);
                    break;
                case PublishOutcome::Overloaded:
                    res = api_.error(status::service_unavailable,
                                     "server is overloaded, retry later");
                    break;
                case PublishOutcome::StoreFailed:
                    res =
                        api_.error(status::service_unavailable,
                                   kind == model::Kind::Message ? "message could not be stored"
                                                                : "the change could not be stored");
                    break;
                case PublishOutcome::Unconfirmed:
                    res = api_.error(
                        status::service_unavailable,
                        std::string(kind == model::Kind::Message ? "the message" : "the change") +
                            " reached the Redis master but not enough replicas in time "
                            "(--redis-replicas); retry with the same Idempotency-Key");
                    break;
            }
            res.version(version);
            res.keep_alive(keep && !api_.draining());
            api_.grant_origin(res, origin);
            api_.record(method, route, res.result_int(), res.body(), start, actor);
            boost::asio::post(ex,
                              [s, res = std::move(res)]() mutable { s->respond(std::move(res)); });
        });
}

bool Messages::rate_ok(Ctx& c, const std::string& user) {
    double wait = publishes_.take(user, std::chrono::steady_clock::now());
    if (wait == 0) return true;
    http_metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
    metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
    char limit[64];
    std::snprintf(limit, sizeof limit, "%g", api_.config().publish_rate);
    Response res =
        api_.error(status::too_many_requests,
                   std::string("publish rate limit: ") + limit + " messages per second per user");
    res.set(bhttp::field::retry_after, std::to_string(static_cast<int>(std::ceil(wait))));
    api_.reply(c, std::move(res));
    return false;
}

}  // namespace ssechat::http
