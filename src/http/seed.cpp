// The seed API (the tutorial's /messages and /message): a view of room general that keeps
// the tutorial's exact bodies.
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"

namespace ssechat::http {

using namespace detail;

void Api::seed_stream(Ctx& c) {
    c.room = "general";
    if (!room_allowed(c, c.room) || !admit(c, model::Act::Read)) return;
    auto u = user(c, "guest", false);
    if (!u) return;
    stream(c, "general", std::move(*u), true);
}

void Api::seed_publish(Ctx& c) {
    c.room = "general";
    if (!room_allowed(c, c.room) || !admit(c, model::Act::Post)) return;
    auto u = user(c, nullptr, true);
    if (!u) return;
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          cfg_.max_message);
    if (body.status == 413) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return reply(c, error(status::payload_too_large, body.error));
    }
    if (body.status != 200) {
        // The seed's one answer for every bad publish, kept byte for byte.
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return reply(c, make(status::bad_request, kSeedBad));
    }
    publish(c, "general", std::move(*u), std::move(body.message), {}, true);
}

}  // namespace ssechat::http
