// Messages: publishing (native and seed, answered after the commit) and history pages.
#include <boost/asio/post.hpp>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"

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

void Api::native_publish(Ctx& c) {
    const std::string& room = c.room;
    auto u = user(c, nullptr, false);
    if (!u) return;
    std::string key;
    if (auto n = c.req.count("Idempotency-Key"); n > 1) {
        return refuse(c, status::bad_request, "Idempotency-Key is given twice");
    } else if (n == 1) {
        key = std::string(c.req["Idempotency-Key"]);
        if (!valid_key(key))
            return refuse(c, status::bad_request,
                          "Idempotency-Key must be 1 to 128 visible ASCII characters");
    }
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          cfg_.max_message);
    if (body.status != 200) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return refuse(c, static_cast<status>(body.status), body.error);
    }
    publish(c, room, std::move(*u), std::move(body.message), std::move(key), false);
}

void Api::history(Ctx& c) {
    const std::string& room = c.room;
    const auto& q = c.query;
    if (!q) return refuse(c, status::bad_request, "malformed query string");
    std::optional<uint64_t> before, after, limit;
    if (!number_param(*q, "before", before))
        return refuse(c, status::bad_request, "before must be a non-negative integer");
    if (!number_param(*q, "after", after))
        return refuse(c, status::bad_request, "after must be a non-negative integer");
    if (!number_param(*q, "limit", limit) || (limit && (*limit < 1 || *limit > 500)))
        return refuse(c, status::bad_request, "limit must be an integer from 1 to 500");
    size_t n = limit ? *limit : 50;
    uint64_t hi = before ? *before : UINT64_MAX;
    std::vector<model::Message> msgs;
    bool has_more = false;
    try {
        if (after) {
            msgs = hub_.store().range(room, *after, hi, n + 1, false);
            has_more = msgs.size() > n;
            if (has_more) msgs.pop_back();
        } else {
            msgs = hub_.store().range(room, 0, hi, n + 1, true);
            has_more = msgs.size() > n;
            if (has_more) msgs.erase(msgs.begin());
        }
    } catch (const store::StoreError&) {
        return reply(c, error(status::service_unavailable, "store read failed"));
    }
    std::string body = "{\"messages\":[";
    for (size_t i = 0; i < msgs.size(); ++i) {
        if (i) body += ',';
        body += model::native_json(msgs[i]);
    }
    body += "],\"has_more\":";
    body += has_more ? "true}" : "false}";
    reply(c, make(status::ok, std::move(body)));
}

void Api::publish(Ctx& c, const std::string& room, std::string user, std::string text,
                  std::string key, bool seed) {
    // The limit first: a refused publish must not load (or create) its room.
    if (!rate_ok(c, user)) return;
    auto r = open_room(c, room);
    if (!r) return;
    unsigned version = c.req.version();
    bool keep = c.req.keep_alive();
    auto s = c.s;
    auto ex = s->executor();
    auto origin = origin_of(c.req);
    std::string method(c.req.method_string());
    hub_.publish(std::move(r), std::move(user), std::move(text), std::move(key),
                 [this, s, ex, version, keep, seed, origin, method, route = c.route,
                  start = c.start](chat::PublishOutcome o, const model::Message& msg) {
                     using chat::PublishOutcome;
                     Response res;
                     if (o == PublishOutcome::Ok) {
                         res = seed ? make(status::ok, kSeedOk)
                                    : make(status::created, model::native_json(msg));
                     } else if (o == PublishOutcome::Replayed) {
                         // Nothing new stored: the original message, as it was first answered.
                         res = make(status::ok, model::native_json(msg));
                         res.set("Idempotent-Replayed", "true");
                     } else if (o == PublishOutcome::KeyConflict) {
                         res = error(status::unprocessable_entity,
                                     "this Idempotency-Key was used for a different message");
                     } else {
                         res = error(status::service_unavailable,
                                     o == PublishOutcome::Overloaded
                                         ? "server is overloaded, retry later"
                                         : "message could not be stored");
                     }
                     res.version(version);
                     res.keep_alive(keep && !draining_);
                     grant_origin(res, origin);
                     record(method, route, res.result_int(), res.body(), start, msg.user_id);
                     boost::asio::post(
                         ex, [s, res = std::move(res)]() mutable { s->respond(std::move(res)); });
                 });
}

}  // namespace ssechat::http
