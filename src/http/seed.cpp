// The seed API (the tutorial's /messages and /message): a view of room general that keeps
// the tutorial's exact bodies.
#include "http/seed.hpp"

#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"

namespace ssechat::http {

using namespace detail;

void Seed::seed_stream(Ctx& c) {
    c.room = "general";
    if (!api_.room_allowed(c, c.room) || !api_.admit(c, model::Act::Read)) return;
    auto u = api_.user(c, "guest", false);
    if (!u) return;
    api_.get<Streams>().room_stream(c, "general", std::move(*u), true);
}

void Seed::seed_publish(Ctx& c) {
    c.room = "general";
    if (!api_.room_allowed(c, c.room) || !api_.admit(c, model::Act::Post)) return;
    auto u = api_.user(c, nullptr, true);
    if (!u) return;
    auto body = http_util::decode_message(c.req[bhttp::field::content_type], c.req.body(),
                                          api_.config().max_message);
    if (body.status == 413) {
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return api_.reply(c, api_.error(status::payload_too_large, body.error));
    }
    if (body.status != 200) {
        // The seed's one answer for every bad publish, kept byte for byte.
        metrics().publish_rejected.fetch_add(1, std::memory_order_relaxed);
        return api_.reply(c, make(status::bad_request, kSeedBad));
    }
    api_.get<Messages>().publish(c, "general", std::move(*u), std::move(body.message), {}, true);
}

}  // namespace ssechat::http
