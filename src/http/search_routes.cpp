// Search: GET /rooms/{room}/search and GET /me/search. The query is parsed here
// (model/search), the rooms narrowed to what the caller may read, and the store's search runs
// on the work pool: an index walk may take milliseconds no event loop should spend.
#include "http/search_routes.hpp"

#include <charconv>

#include "chat/hub.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"

namespace ssechat::http {

using namespace detail;

namespace {
constexpr size_t kMaxQuery = 1000;  // bytes
constexpr size_t kMaxPhrases = 16;
}  // namespace

void SearchRoutes::search_room(Ctx& c) {
    search(c, {c.room});
}

void SearchRoutes::search_me(Ctx& c) {
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    std::vector<std::string> rooms;
    try {
        // Every room the user is in may be read by them (a ban ends the membership), DMs
        // included; a token's `rooms` claim narrows it.
        for (auto& m : api_.hub().store().memberships(*u))
            if (api_.scope(c).covers(m.room)) rooms.push_back(std::move(m.room));
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    search(c, std::move(rooms));
}

void SearchRoutes::search(Ctx& c, std::vector<std::string> rooms) {
    auto& st = api_.hub().store();
    if (!st.searchable()) {
        // The exact body the API promises for this case (no "status" member).
        return api_.reply(
            c, make(status::not_implemented, R"({"error":"search needs --store sqlite"})"));
    }
    if (!c.query) return api_.refuse(c, status::bad_request, "malformed query string");
    const std::string* text = http_util::find(*c.query, "q");
    if (!text || text->empty())
        return api_.refuse(c, status::bad_request, "q (the search) is required");
    if (text->size() > kMaxQuery)
        return api_.refuse(c, status::bad_request,
                           "q is too long (at most " + std::to_string(kMaxQuery) + " bytes)");
    std::optional<uint64_t> limit;
    if (!number_param(*c.query, "limit", limit) || (limit && (*limit < 1 || *limit > 100)))
        return api_.refuse(c, status::bad_request, "limit must be an integer from 1 to 100");
    int64_t before = INT64_MAX;
    if (const std::string* b = http_util::find(*c.query, "before")) {
        auto [end, ec] = std::from_chars(b->data(), b->data() + b->size(), before);
        if (ec != std::errc() || end != b->data() + b->size() || b->empty())
            return api_.refuse(c, status::bad_request,
                               "before must be the next of an earlier answer, as it was given");
    }
    std::string why;
    auto q = model::parse_search(*text, why);
    if (!q) return api_.refuse(c, status::bad_request, why);
    if (q->phrases.size() > kMaxPhrases)
        return api_.refuse(
            c, status::bad_request,
            "at most " + std::to_string(kMaxPhrases) + " words or phrases in a search");
    if (!q->in.empty()) std::erase_if(rooms, [&](const std::string& r) { return r != q->in; });
    size_t n = limit ? *limit : 20;
    // Nothing to look for, or nowhere to look: an empty answer, not an error (a search of
    // "*" is an ordinary search that finds nothing).
    if (q->empty() || rooms.empty())
        return api_.reply(c, make(status::ok, model::search_json({}, false)));
    auto done = api_.later(c);
    bool queued =
        api_.work().submit([this, done, q = std::move(*q), rooms = std::move(rooms), before, n]() {
            try {
                auto hits = api_.hub().store().search(q, rooms, before, n + 1);
                bool more = hits.size() > n;
                if (more) hits.resize(n);
                done(make(status::ok, model::search_json(hits, more)));
            } catch (const store::StoreError&) {
                done(api_.store_down());
            }
        });
    if (!queued) {
        Response res = api_.error(status::service_unavailable, "too many searches at once: retry");
        res.set(bhttp::field::retry_after, "1");
        done(std::move(res));
    }
}

}  // namespace ssechat::http
