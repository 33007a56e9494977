// Files: POST /rooms/{room}/files, GET /files/{id}/{name}, and what a message, a delete and
// the sweeper do with them.
#include "http/files.hpp"

#include <openssl/rand.h>
#include <stdlib.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <filesystem>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/api_detail.hpp"
#include "util/log.hpp"

namespace ssechat::http {

using namespace detail;

namespace {

std::string hex(const unsigned char* p, size_t n) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(2 * n);
    for (size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

int64_t now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

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

std::unique_ptr<Files> Files::open(const Config& cfg) {
    auto store = store::open_files(cfg);
    if (!store) return nullptr;
    std::string dir = cfg.files_dir;
    bool temporary = false;
    if (dir.empty() && cfg.store == "memory") {
        // Nothing of a memory store outlives the process, its files neither.
        char tmpl[] = "/tmp/ssechat-files-XXXXXX";
        if (!::mkdtemp(tmpl)) throw store::StoreError("cannot make a folder for files in /tmp");
        dir = tmpl;
        temporary = true;
    } else if (dir.empty()) {
        dir = cfg.data_dir + "/files";
    }
    return std::make_unique<Files>(cfg, std::move(store), std::move(dir), temporary);
}

Files::Files(const Config& cfg, std::unique_ptr<store::FileStore> store, std::string dir,
             bool temporary)
    : store_(std::move(store)),
      dir_(std::move(dir)),
      temporary_(temporary),
      uploads_(static_cast<double>(cfg.upload_rate) / 60.0, static_cast<double>(cfg.upload_rate)) {
    sweeper_ = std::thread([this] {
        std::unique_lock lk(mu_);
        while (!stopping_) {
            // The first sweep soon after the start, so that a server restarted daily still
            // sweeps; then hourly.
            cv_.wait_for(lk, std::chrono::minutes(1), [&] { return stopping_; });
            if (stopping_) break;
            lk.unlock();
            try {
                if (size_t n = sweep(kUnclaimedMs))
                    log::info("files swept", {{"removed", std::to_string(n)}});
            } catch (const store::StoreError& e) {
                log::warn("files sweep failed", {{"error", e.what()}});
            }
            lk.lock();
            cv_.wait_for(lk, std::chrono::hours(1), [&] { return stopping_; });
        }
    });
}

Files::~Files() {
    stop();
    if (temporary_) {
        std::error_code ec;
        std::filesystem::remove_all(dir_.dir(), ec);
    }
}

void Files::stop() {
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
}

double Files::take_upload(const std::string& user) {
    return uploads_.take(user, std::chrono::steady_clock::now());
}

model::FileInfo Files::put(const std::string& room, const std::string& uploader,
                           const std::string& name, const std::string& bytes) {
    model::FileInfo f;
    unsigned char id[16];
    if (RAND_bytes(id, sizeof id) != 1) throw store::StoreError("no random bytes for a file id");
    f.id = hex(id, sizeof id);
    f.room = room;
    f.name = name;
    auto sniffed = model::sniff(bytes);
    f.type = sniffed.type;
    f.width = sniffed.width;
    f.height = sniffed.height;
    f.size = bytes.size();
    f.sha256 = model::text_hash(bytes);  // hex SHA-256, as the project makes it
    f.uploader = uploader;
    f.ts = now_ms();
    std::lock_guard lk(io_);
    // The description first: while it is there, a sweep keeps the bytes it names.
    store_->add(f);
    try {
        dir_.put(f.sha256, bytes);
    } catch (...) {
        store_->remove({f.id});
        throw;
    }
    return f;
}

void Files::erase(const std::vector<std::string>& ids, bool unclaimed_only) {
    if (ids.empty()) return;
    std::lock_guard lk(io_);
    for (const auto& sha : store_->remove(ids, unclaimed_only)) dir_.erase(sha);
}

size_t Files::sweep(int64_t age_ms) {
    size_t n = 0;
    for (;;) {
        auto ids = store_->unclaimed(now_ms() - age_ms, 500);
        if (ids.empty()) return n;
        // One a message claimed since the list was read stays.
        erase(ids, true);
        n += ids.size();
    }
}

void Api::upload_file(Ctx& c) {
    if (!files_)
        return reply(c, make(status::not_implemented,
                             R"({"error":"files need --store sqlite or --store memory"})"));
    auto u = user(c, nullptr, false);
    if (!u) return;
    if (!c.query) return refuse(c, status::bad_request, "malformed query string");
    const std::string* name = http_util::find(*c.query, "name");
    if (!name) return refuse(c, status::bad_request, "a file needs a name (?name=)");
    if (auto why = model::bad_file_name(*name); !why.empty())
        return refuse(c, status::bad_request, why);
    if (c.req.body().empty()) return refuse(c, status::bad_request, "the file is empty");
    if (double wait = files_->take_upload(*u); wait > 0) {
        Response res =
            error(status::too_many_requests,
                  "upload limit: " + std::to_string(cfg_.upload_rate) + " files a minute per user");
        res.set(bhttp::field::retry_after, std::to_string(static_cast<int>(std::ceil(wait))));
        return reply(c, std::move(res));
    }
    auto done = later(c);
    // The body moves to the job: hashing and syncing 25 MiB is no event loop's work.
    bool queued = work_.submit([this, done, room = c.room, user = std::move(*u), name = *name,
                                bytes = std::move(c.req.body())] {
        try {
            auto f = files_->put(room, user, name, bytes);
            done(make(status::created, "{\"file\":" + model::file_json(f) + "}"));
        } catch (const store::StoreError& e) {
            log::warn("upload failed", {{"error", e.what()}});
            done(error(status::service_unavailable, "the file could not be stored"));
        }
    });
    if (!queued) {
        Response res = error(status::service_unavailable, "too many uploads at once: retry");
        res.set(bhttp::field::retry_after, "1");
        done(std::move(res));
    }
}

void Api::get_file(Ctx& c) {
    // One answer for a file that is not there and one the caller may not read: it never
    // says which, nor names the room.
    auto missing = [&] { refuse(c, status::not_found, "no such file"); };
    if (!files_) return missing();
    std::string id = c.id, name;
    if (auto decoded = text::percent_decode(c.name, false)) name = *decoded;
    std::optional<model::FileInfo> f;
    try {
        f = files_->store().get(id);
    } catch (const store::StoreError&) {
        return reply(c, store_down());
    }
    if (!f || f->name != name) return missing();
    c.room = f->room;
    if (!scope(c).covers(c.room)) return missing();
    try {
        if (!verdict(c, model::Act::Read).ok()) return missing();
    } catch (const store::StoreError&) {
        return reply(c, store_down());
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
        return reply(c, std::move(res));
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
        res.keep_alive(c.req.keep_alive() && !draining_);
        grant_origin(res, origin_of(c.req));
        res.content_length(*size);
        record(c.req.method_string(), c.route, res.result_int(), res.body(), c.start, c.user);
        return c.s->respond(std::move(res), true);
    }
    auto done = later(c);
    bool queued = work_.submit([this, done, f, range, finish] {
        auto size = files_->dir().size(f->sha256);
        if (!size) {
            done(error(status::not_found, "no such file"));
            return;
        }
        bool unsatisfiable = false;
        auto part = range.empty() ? std::nullopt : byte_range(range, *size, unsatisfiable);
        if (unsatisfiable) {
            Response res = error(status::range_not_satisfiable, "the range starts past the end");
            res.set(bhttp::field::content_range, "bytes */" + std::to_string(*size));
            done(std::move(res));
            return;
        }
        uint64_t from = part ? part->first : 0, len = part ? part->second : *size;
        auto bytes = files_->dir().read(f->sha256, from, len);
        if (!bytes) {
            done(error(status::not_found, "no such file"));
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
        Response res = error(status::service_unavailable, "too busy: retry");
        res.set(bhttp::field::retry_after, "1");
        done(std::move(res));
    }
}

}  // namespace ssechat::http
