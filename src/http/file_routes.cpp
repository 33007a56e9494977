// Files as resources: POST /rooms/{room}/files and GET /files/{id}/{name}.
#include "http/file_routes.hpp"

#include <boost/asio/post.hpp>
#include <charconv>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/log.hpp"

namespace ssechat::http {

using namespace detail;
namespace bhttp = beast::http;
using bhttp::status;

namespace {

// RFC 8187's encoding of a file name for Content-Disposition's filename*: attr-char stays.
std::string rfc8187(const std::string& name) {
    return "UTF-8''" + text::percent_encode(name, "!#$&+-.^_`|~");
}

// A single "bytes=a-b", "bytes=a-" or "bytes=-n" range of a file of `size` bytes: its first
// byte and length. nullopt for anything else (several ranges included), which is answered
// with the whole file as RFC 9110 allows; `unsatisfiable` when it starts past the end.
std::optional<std::pair<uint64_t, uint64_t>> byte_range(std::string_view v, uint64_t size,
                                                        bool& unsatisfiable) {
    unsatisfiable = false;
    if (v.substr(0, 6) != "bytes=") return std::nullopt;
    v.remove_prefix(6);
    if (v.find(',') != std::string_view::npos) return std::nullopt;
    size_t dash = v.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto num = [](std::string_view s, uint64_t& out) {
        if (s.empty()) return false;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
        return ec == std::errc() && end == s.data() + s.size();
    };
    uint64_t a = 0, b = 0;
    std::string_view first = v.substr(0, dash), last = v.substr(dash + 1);
    if (first.empty()) {  // the last n bytes
        if (!num(last, b) || b == 0) {
            unsatisfiable = !last.empty();
            return std::nullopt;
        }
        b = std::min(b, size);
        if (b == 0) {
            unsatisfiable = true;
            return std::nullopt;
        }
        return std::pair{size - b, b};
    }
    if (!num(first, a)) return std::nullopt;
    if (!last.empty() && (!num(last, b) || b < a)) return std::nullopt;
    if (a >= size) {
        unsatisfiable = true;
        return std::nullopt;
    }
    uint64_t end = last.empty() ? size - 1 : std::min(b, size - 1);
    return std::pair{a, end - a + 1};
}

}  // namespace

FileRoutes::FileRoutes(Api& api) : api_(api), files_(Files::open(api.config())) {}

FileRoutes::~FileRoutes() = default;

void FileRoutes::upload_file(Ctx& c) {
    if (!files_)
        return api_.reply(c, make(status::not_implemented,
                                  R"({"error":"files need --store sqlite or --store memory"})"));
    auto u = api_.user(c, nullptr, false);
    if (!u) return;
    if (!c.query) return api_.refuse(c, status::bad_request, "malformed query string");
    const std::string* name = http_util::find(*c.query, "name");
    if (!name) return api_.refuse(c, status::bad_request, "a file needs a name (?name=)");
    if (auto why = model::bad_file_name(*name); !why.empty())
        return api_.refuse(c, status::bad_request, why);
    if (c.req.body().empty()) return api_.refuse(c, status::bad_request, "the file is empty");
    if (double wait = files_->take_upload(*u); wait > 0) {
        Response res = api_.error(status::too_many_requests,
                                  "upload limit: " + std::to_string(api_.config().upload_rate) +
                                      " files a minute per user");
        res.set(bhttp::field::retry_after, std::to_string(static_cast<int>(std::ceil(wait))));
        return api_.reply(c, std::move(res));
    }
    auto done = api_.later(c);
    // The body moves to the job: hashing and syncing 25 MiB is no event loop's work.
    bool queued = api_.work().submit([this, done, room = c.room, user = std::move(*u), name = *name,
                                      bytes = std::move(c.req.body())] {
        try {
            auto f = files_->put(room, user, name, bytes);
            done(make(status::created, "{\"file\":" + model::file_json(f) + "}"));
        } catch (const store::StoreError& e) {
            log::warn("upload failed", {{"error", e.what()}});
            done(api_.error(status::service_unavailable, "the file could not be stored"));
        }
    });
    if (!queued) {
        Response res = api_.error(status::service_unavailable, "too many uploads at once: retry");
        res.set(bhttp::field::retry_after, "1");
        done(std::move(res));
    }
}

void FileRoutes::get_file(Ctx& c) {
    // One answer for a file that is not there and one the caller may not read: it never
    // says which, nor names the room.
    auto missing = [&] { api_.refuse(c, status::not_found, "no such file"); };
    if (!files_) return missing();
    std::string id = c.id, name;
    if (auto decoded = text::percent_decode(c.name, false)) name = *decoded;
    std::optional<model::FileInfo> f;
    try {
        f = files_->store().get(id);
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    if (!f || f->name != name) return missing();
    c.room = f->room;
    if (!api_.scope(c).covers(c.room)) return missing();
    try {
        if (!api_.verdict(c, model::Act::Read).ok()) return missing();
    } catch (const store::StoreError&) {
        return api_.reply(c, api_.store_down());
    }
    std::string etag = "\"" + f->sha256 + "\"";
    auto header = [&](bhttp::field h) -> std::string {
        auto it = c.req.find(h);
        return it == c.req.end() ? std::string() : std::string(it->value());
    };
    auto finish = [f, etag](Response& res) {
        res.set(bhttp::field::etag, etag);
        res.set(bhttp::field::cache_control, "private, no-cache");
        res.set("X-Content-Type-Options", "nosniff");
        res.set("Content-Security-Policy", "sandbox");
        res.set(bhttp::field::accept_ranges, "bytes");
        res.set(bhttp::field::content_disposition,
                std::string(model::inline_image(f->type) ? "inline" : "attachment") +
                    "; filename*=" + rfc8187(f->name));
    };
    if (std::string inm = header(bhttp::field::if_none_match);
        !inm.empty() && (inm == etag || inm == "*")) {
        Response res = make(status::not_modified, "");
        finish(res);
        return api_.reply(c, std::move(res));
    }
    std::string range = header(bhttp::field::range);
    // If-Range with another version: the whole file.
    if (std::string ir = header(bhttp::field::if_range); !ir.empty() && ir != etag) range.clear();
    if (c.head) {
        // The GET's headers and length, from the size alone.
        auto size = files_->dir().size(f->sha256);
        if (!size) return missing();
        Response res = make(status::ok, "", f->type.c_str());
        finish(res);
        res.version(c.req.version());
        res.keep_alive(c.req.keep_alive() && !api_.draining());
        api_.grant_origin(res, api_.origin_of(c.req));
        res.content_length(*size);
        api_.record(c.req.method_string(), c.route, res.result_int(), res.body(), c.start, c.user);
        return c.s->respond(std::move(res), true);
    }
    auto done = api_.later(c);
    bool queued = api_.work().submit([this, done, f, range, finish] {
        auto size = files_->dir().size(f->sha256);
        if (!size) {
            done(api_.error(status::not_found, "no such file"));
            return;
        }
        bool unsatisfiable = false;
        auto part = range.empty() ? std::nullopt : byte_range(range, *size, unsatisfiable);
        if (unsatisfiable) {
            Response res =
                api_.error(status::range_not_satisfiable, "the range starts past the end");
            res.set(bhttp::field::content_range, "bytes */" + std::to_string(*size));
            done(std::move(res));
            return;
        }
        uint64_t from = part ? part->first : 0, len = part ? part->second : *size;
        auto bytes = files_->dir().read(f->sha256, from, len);
        if (!bytes) {
            done(api_.error(status::not_found, "no such file"));
            return;
        }
        Response res =
            make(part ? status::partial_content : status::ok, std::move(*bytes), f->type.c_str());
        if (part)
            res.set(bhttp::field::content_range, "bytes " + std::to_string(from) + "-" +
                                                     std::to_string(from + len - 1) + "/" +
                                                     std::to_string(*size));
        finish(res);
        done(std::move(res));
    });
    if (!queued) {
        Response res = api_.error(status::service_unavailable, "too busy: retry");
        res.set(bhttp::field::retry_after, "1");
        done(std::move(res));
    }
}

}  // namespace ssechat::http
