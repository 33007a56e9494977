// HTTP/2: nghttp2 parses and frames; requests go to the same Api as HTTP/1.1 ones, and an
// event stream becomes one HTTP/2 stream whose DATA frames point into the shared event
// buffers (the 9-byte frame header is the only byte written per recipient).
#include "http/h2.hpp"

#include <nghttp2/nghttp2.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "chat/metrics.hpp"
#include "http/api.hpp"
#include "http/http_metrics.hpp"
#include "http/session.hpp"

namespace ssechat::http {

namespace asio = boost::asio;

namespace {

// Output the connection holds before it stops asking nghttp2 for more frames.
constexpr size_t kMaxOut = 256 * 1024;
// Frames that cost us work but carry no request: a client may send some (a browser pings now
// and then, and sends SETTINGS once), not a stream of them. Per kind: a burst, then this many
// per second; past that, GOAWAY with ENHANCE_YOUR_CALM.
constexpr double kFrameBurst = 100;
constexpr double kFrameRate = 10;
// Rapid reset (CVE-2023-44487): streams a client opens and resets at once cost the server a
// request each. A browser resets a stream for every EventSource it closes, so the budget is
// larger: a burst of 200, then 33 per second. nghttp2's own limit stays behind it.
constexpr double kResetBurst = 200;
constexpr double kResetRate = 33;
// A reset counts against that budget when it ends a stream younger than this: rapid reset is
// about streams reset before or soon after their response starts, and a page that closes
// the event streams it held for minutes has done nothing costly.
constexpr auto kYoungStream = std::chrono::seconds(1);
// CONTINUATION frames after one HEADERS frame (a flood of them is CVE-2024-27316's kind).
constexpr size_t kMaxContinuations = 8;
// Response bodies a connection holds while flow control keeps them from going out: a client
// that never opens its window must not make the server keep what it asked for. Past this a
// response is 503 (its body is dropped), and a connection that sends nothing for a whole
// --idle-timeout while bodies wait is idle, and ends.
constexpr size_t kMaxQueuedBodies = 4 << 20;

struct Budget {
    double burst = kFrameBurst;
    double rate = kFrameRate;
    double tokens = burst;
    std::chrono::steady_clock::time_point last = std::chrono::steady_clock::now();
    bool take() {
        auto now = std::chrono::steady_clock::now();
        tokens = std::min(burst, tokens + rate * std::chrono::duration<double>(now - last).count());
        last = now;
        if (tokens < 1) return false;
        tokens -= 1;
        return true;
    }
};

std::string lower(std::string_view v) {
    std::string out(v);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Fields that belong to an HTTP/1.1 connection and that HTTP/2 forbids (RFC 9113 8.2.2).
bool connection_specific(std::string_view lname) {
    return lname == "connection" || lname == "keep-alive" || lname == "transfer-encoding" ||
           lname == "upgrade" || lname == "proxy-connection";
}

nghttp2_nv make_nv(const std::string& name, const std::string& value) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NONE};
}

// The connection as the registry for GOAWAY at shutdown sees it.
class H2Base : public sse::H2Link {
  public:
    virtual void goaway() = 0;
    std::thread::id loop = std::this_thread::get_id();
};

std::mutex g_mu;
std::unordered_set<H2Base*> g_conns;

}  // namespace

template <class S>
class H2Conn final : public H2Base, public std::enable_shared_from_this<H2Conn<S>> {
  public:
    H2Conn(S s, Api& api, std::shared_ptr<void> ticket, std::shared_ptr<asio::ssl::context> ctx)
        : ctx_(std::move(ctx)),
          stream_(std::move(s)),
          api_(api),
          ticket_(std::move(ticket)),
          idle_(stream_.get_executor()) {
        boost::system::error_code ec;
        peer_ = lowest().socket().remote_endpoint(ec).address();
        std::lock_guard lk(g_mu);
        g_conns.insert(this);
    }

    ~H2Conn() override {
        {
            std::lock_guard lk(g_mu);
            g_conns.erase(this);
        }
        if (session_) nghttp2_session_del(session_);
    }

    void start(std::string read) {
        http_metrics().h2_connections.fetch_add(1, std::memory_order_relaxed);
        if (!make_session()) return close_now();
        const auto& cfg = api_.config();
        nghttp2_settings_entry iv[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg.h2_max_streams},
            {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(cfg.max_header)},
            {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        };
        nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, iv, std::size(iv));
        lowest().expires_never();
        arm_idle();
        if (!read.empty() && !feed(reinterpret_cast<const uint8_t*>(read.data()), read.size()))
            return;
        flush();
        do_read();
    }

    // An exchange (one request) answers.
    void respond(int32_t id, Response res, bool framed) {
        auto it = reqs_.find(id);
        if (it == reqs_.end() || dead_) return;  // reset by the peer meanwhile
        Req& r = it->second;
        r.owed.reset();
        if (queued_bodies_ + res.body().size() > kMaxQueuedBodies && !res.body().empty()) {
            http_metrics().h2_refused_bodies.fetch_add(1, std::memory_order_relaxed);
            res = api_.error(beast::http::status::service_unavailable,
                             "too many responses wait on this connection for the client to "
                             "read them (HTTP/2 flow control)");
            res.set(beast::http::field::retry_after, "1");
            framed = false;
        }
        if (!framed) res.prepare_payload();
        std::vector<std::string> strs;
        strs.reserve(2 + 2 * 32);
        strs.push_back(":status");
        strs.push_back(std::to_string(res.result_int()));
        for (const auto& f : res) {
            std::string n = lower(f.name_string());
            if (connection_specific(n)) continue;
            strs.push_back(std::move(n));
            strs.emplace_back(f.value());
        }
        std::vector<nghttp2_nv> nv;
        for (size_t i = 0; i + 1 < strs.size(); i += 2) nv.push_back(make_nv(strs[i], strs[i + 1]));
        if (!res.body().empty()) {
            queued_bodies_ += res.body().size();
            r.out = std::make_unique<Body>(Body{std::move(res.body()), 0});
        }
        nghttp2_data_provider prd{};
        prd.read_callback = &H2Conn::body_read;
        nghttp2_submit_response(session_, id, nv.data(), nv.size(), r.out ? &prd : nullptr);
        schedule_flush();
    }

    sse::Conn release(int32_t id) {
        if (auto it = reqs_.find(id); it != reqs_.end()) it->second.owed.reset();
        return sse::Conn(asio::ip::tcp::socket(stream_.get_executor()), this->shared_from_this(),
                         id);
    }

    // sse::H2Link
    void h2_open(int32_t id, const std::string& head, std::weak_ptr<sse::Stream> s) override {
        auto it = reqs_.find(id);
        if (it == reqs_.end() || dead_) {
            if (auto st = s.lock()) asio::post(stream_.get_executor(), [st] { st->h2_gone(); });
            return;
        }
        Req& r = it->second;
        r.sse = s.lock();
        http_metrics().h2_event_streams.fetch_add(1, std::memory_order_relaxed);
        // The head is this server's own HTTP/1.1 head: a status line and "Name: value" lines.
        std::vector<std::string> strs{":status", "200"};
        size_t eol = head.find("\r\n");
        if (eol != std::string::npos && eol > 12) strs[1] = head.substr(9, 3);
        for (size_t p = eol == std::string::npos ? head.size() : eol + 2; p < head.size();) {
            size_t e = head.find("\r\n", p);
            if (e == std::string::npos || e == p) break;
            std::string_view line(head.data() + p, e - p);
            p = e + 2;
            size_t colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            std::string n = lower(line.substr(0, colon));
            if (connection_specific(n)) continue;
            std::string_view v = line.substr(colon + 1);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            strs.push_back(std::move(n));
            strs.emplace_back(v);
        }
        std::vector<nghttp2_nv> nv;
        for (size_t i = 0; i + 1 < strs.size(); i += 2) nv.push_back(make_nv(strs[i], strs[i + 1]));
        // HEADERS without END_STREAM; DATA follows whenever events are queued (h2_ready).
        nghttp2_submit_headers(session_, NGHTTP2_FLAG_NONE, id, nullptr, nv.data(), nv.size(),
                               nullptr);
        schedule_flush();
    }

    void h2_ready(int32_t id) override {
        auto it = reqs_.find(id);
        if (it == reqs_.end() || dead_) return;
        Req& r = it->second;
        if (!r.data_armed)
            arm(id, r);
        else if (!r.data_last)
            nghttp2_session_resume_data(session_, id);
        // Else the source's last frame is still to go; once it has, on_frame_sent arms a new
        // source for what came meanwhile.
        schedule_flush();
    }

    asio::any_io_executor h2_executor() override { return stream_.get_executor(); }

    void h2_closed(int32_t id) override {
        auto it = reqs_.find(id);
        if (it == reqs_.end() || dead_) return;
        // Not released here: the stream is inside its close() and may hold no other reference.
        asio::post(stream_.get_executor(), [st = std::move(it->second.sse)] {});
        http_metrics().h2_resets_sent.fetch_add(1, std::memory_order_relaxed);
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        schedule_flush();
    }

    void goaway() override {
        if (dead_ || going_away_) return;
        going_away_ = true;
        // No new streams; open ones end as the server closes them. Shutdown stops the loop
        // once every answer owed is written; the GOAWAY is one, so it is not cut off, and it
        // goes out now rather than from a posted flush that a stopping loop may never run.
        goaway_owed_ = api_.answers().enter();
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                              nullptr, 0);
        flush();
    }

    asio::any_io_executor executor() { return stream_.get_executor(); }
    const asio::ip::address& peer() const { return peer_; }
    const std::shared_ptr<void>& ticket() const { return ticket_; }

  private:
    struct Body {
        std::string text;
        size_t off = 0;  // bytes sent
    };
    // What the connection keeps per stream. An idle event stream is most of them, so this is
    // kept small: what only a request or a response needs is allocated for it alone.
    struct Req {
        std::chrono::steady_clock::time_point opened;
        std::unique_ptr<Request> req = std::make_unique<Request>();  // until dispatched
        std::shared_ptr<void> owed;    // shutdown gate: a request not yet answered
        std::shared_ptr<void> upload;  // a slot of the uploads in flight (Api::admit_upload)
        // Set for an event stream, which this holds: no socket operation of its own does.
        std::shared_ptr<sse::Stream> sse;
        std::unique_ptr<Body> out;  // a response body, while it is sent
        uint32_t header_bytes = 0;
        bool dispatched = false;
        // An event stream's DATA source is submitted to nghttp2 only while it has bytes
        // queued, and its last frame ends the source (not the stream), so that an idle stream
        // holds no nghttp2 outbound item (about 150 bytes each).
        bool data_armed = false;
        bool data_last = false;  // the frame that ends the source is decided, not yet sent
    };

    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

    bool make_session() {
        nghttp2_session_callbacks* cb = nullptr;
        if (nghttp2_session_callbacks_new(&cb) != 0) return false;
        nghttp2_session_callbacks_set_send_callback(cb, &H2Conn::on_send);
        nghttp2_session_callbacks_set_send_data_callback(cb, &H2Conn::on_send_data);
        nghttp2_session_callbacks_set_on_begin_frame_callback(cb, &H2Conn::on_begin_frame);
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, &H2Conn::on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, &H2Conn::on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &H2Conn::on_data);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &H2Conn::on_frame);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, &H2Conn::on_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(cb, &H2Conn::on_frame_sent);
        nghttp2_option* opt = nullptr;
        nghttp2_option_new(&opt);
        nghttp2_option_set_stream_reset_rate_limit(opt, 2 * kResetBurst, 2 * kResetRate);
        nghttp2_option_set_max_continuations(opt, kMaxContinuations);
        // A client that does not read what it asked for (PING and SETTINGS acknowledgements
        // pile up) is dropped well before it costs memory.
        nghttp2_option_set_max_outbound_ack(opt, 1000);
        nghttp2_option_set_max_settings(opt, 16);
        int rv = nghttp2_session_server_new2(&session_, cb, this, opt);
        nghttp2_option_del(opt);
        nghttp2_session_callbacks_del(cb);
        return rv == 0;
    }

    static H2Conn& self(void* u) { return *static_cast<H2Conn*>(u); }

    // A reset of this stream would count as a rapid one: it is unknown (never opened, or
    // closed already) or opened less than kYoungStream ago.
    bool young(int32_t id) const {
        auto it = reqs_.find(id);
        return it == reqs_.end() ||
               std::chrono::steady_clock::now() - it->second.opened < kYoungStream;
    }

    void do_read() {
        if (dead_ || calm_ || lingering_) return;
        reading_ = true;
        stream_.async_read_some(asio::buffer(rbuf_),
                                [s = this->shared_from_this()](beast::error_code ec, size_t n) {
                                    s->reading_ = false;
                                    // Lingering began: over TLS its close_notify waited for
                                    // this read to end.
                                    if (s->lingering_) {
                                        if constexpr (!std::is_same_v<S, beast::tcp_stream>)
                                            if (!s->dead_) s->close_notify();
                                        return;
                                    }
                                    if (ec) return s->peer_left();
                                    s->active_ = true;
                                    if (!s->feed(s->rbuf_.data(), n)) return;
                                    s->flush();
                                    s->do_read();
                                });
    }

    bool feed(const uint8_t* p, size_t n) {
        if (calm_) return true;
        in_recv_ = true;
        auto rv = nghttp2_session_mem_recv(session_, p, n);
        in_recv_ = false;
        if (rv < 0) {
            // nghttp2 queues GOAWAY for a protocol error it finds in a frame, but not when
            // its own flood limits (CONTINUATION frames, unread acknowledgements) or a bad
            // preface end the session: then it is ours to queue. Send it, then close.
            if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS || rv == NGHTTP2_ERR_FLOODED) {
                calm_down();
            } else {
                if (!calm_)
                    http_metrics().h2_goaway_protocol.fetch_add(1, std::memory_order_relaxed);
                nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
            }
            calm_ = true;
            flush();
            return false;
        }
        return true;
    }

    // Ends the connection for abuse: GOAWAY with ENHANCE_YOUR_CALM, then close once sent.
    void calm_down() {
        if (calm_) return;
        calm_ = true;
        http_metrics().h2_goaway_flood.fetch_add(1, std::memory_order_relaxed);
        nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    }

    void schedule_flush() {
        if (flush_posted_ || dead_) return;
        flush_posted_ = true;
        asio::post(stream_.get_executor(), [s = this->shared_from_this()] {
            s->flush_posted_ = false;
            s->flush();
        });
    }

    void flush() {
        if (dead_ || writing_ || in_recv_ || in_send_) return;
        if (!send_frames()) return close_now();
        if (out_.empty()) {
            if (calm_ ||
                (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)))
                linger();
            return;
        }
        write_out();
    }

    // The client's end of input (or a read error) ends the connection, as the end of input
    // ends an HTTP/1.1 stream. Not in the middle of a write: closing then would cut a frame in
    // half. What nghttp2 has queued (answers, GOAWAY) goes out whole first.
    void peer_left() {
        if (dead_) return;
        peer_done_ = true;
        if (writing_) return;  // its completion closes
        if (!send_frames() || out_.empty()) return close_now();
        write_out();
    }

    // Has nghttp2 serialize what it can into out_; false on a fatal session error.
    bool send_frames() {
        in_send_ = true;
        int rv = nghttp2_session_send(session_);
        // Sources whose last frame went out while more was queued get a new one: a bounded
        // loop, since each pass takes what is queued or stops at kMaxOut.
        while (rv == 0 && !rearm_.empty()) {
            auto ids = std::move(rearm_);
            rearm_.clear();
            for (int32_t id : ids)
                if (auto it = reqs_.find(id); it != reqs_.end() && !it->second.data_armed)
                    arm(id, it->second);
            rv = nghttp2_session_send(session_);
        }
        in_send_ = false;
        return rv == 0;
    }

    void write_out() {
        writing_ = true;
        write_began_ = std::chrono::steady_clock::now();
        wbufs_.clear();
        for (const auto& p : out_)
            wbufs_.emplace_back((p.buf ? p.buf->data() : scratch_.data()) + p.off, p.len);
        // A write begun after goaway() carries the GOAWAY (nghttp2 sends it before any DATA).
        bool carries_goaway = going_away_;
        asio::async_write(
            stream_, wbufs_,
            [s = this->shared_from_this(), carries_goaway](beast::error_code ec, size_t) {
                s->writing_ = false;
                if (carries_goaway) s->goaway_owed_.reset();
                s->out_.clear();
                s->scratch_.clear();
                s->out_bytes_ = 0;
                // An error is the peer leaving. After its end of input, the frames queued
                // when it came are out: close.
                if (ec || s->peer_done_) return s->close_now();
                s->flush();
            });
    }

    // After GOAWAY: send FIN, then drop what the client still sends for up to a second before
    // closing, so that a close with unread bytes does not reset the connection and take the
    // GOAWAY with it (nginx's lingering close).
    void linger() {
        if (dead_ || lingering_) return;
        lingering_ = true;
        if constexpr (!std::is_same_v<S, beast::tcp_stream>) {
            // TLS ends with close_notify (RFC 8446 6.1), as HTTP/1.1 over TLS does, so that
            // the client can tell the end from a cut. Asio's shutdown writes it and then reads
            // for the client's, and a TLS stream takes one read at a time: a pending frame
            // read is cancelled first, and its handler starts the shutdown.
            if (!reading_) return close_notify();
            lowest().cancel();
            return;
        }
        linger_clear();
    }

    // Bounded by a second, like the wait of the lingering close that follows either way.
    void close_notify() {
        boost::system::error_code ec;
        lowest().socket().set_option(asio::ip::tcp::no_delay(true), ec);
        lowest().expires_after(std::chrono::seconds(1));
        stream_.async_shutdown(
            [s = this->shared_from_this()](beast::error_code) { s->linger_clear(); });
    }

    void linger_clear() {
        if (dead_) return;
        lowest().expires_never();
        boost::system::error_code ec;
        lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
        idle_.cancel();
        idle_.expires_after(std::chrono::seconds(1));
        idle_.async_wait(
            [s = this->shared_from_this()](boost::system::error_code) { s->close_now(); });
        drain();
    }

    void drain() {
        lowest().socket().async_read_some(
            asio::buffer(rbuf_), [s = this->shared_from_this()](beast::error_code ec, size_t) {
                if (ec) return s->close_now();
                s->drain();
            });
    }

    void close_now() {
        if (dead_) return;
        dead_ = true;
        goaway_owed_.reset();
        idle_.cancel();
        boost::system::error_code ec;
        lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        lowest().socket().close(ec);
        auto reqs = std::move(reqs_);
        reqs_.clear();
        queued_bodies_ = 0;
        for (auto& [id, r] : reqs)
            if (auto st = r.sse) st->h2_gone();
    }

    void arm_idle() {
        // A connection that read nothing for --idle-timeout and has no event stream and no
        // request being answered is ended, as an idle HTTP/1.1 keep-alive connection is.
        // Requests still arriving count for nothing: a client that opens streams and never
        // finishes them (a slowloris over HTTP/2) is ended the same way.
        idle_.expires_after(std::chrono::seconds(api_.config().idle_timeout_s));
        idle_.async_wait([w = this->weak_from_this()](boost::system::error_code ec) {
            auto s = w.lock();
            if (ec || !s || s->dead_) return;
            // A peer that has not taken one write (at most kMaxOut bytes) in a whole idle
            // period is not reading: end it, as a full queue ends a slow HTTP/1.1 stream.
            // Without this a connection whose reader stopped would hold its buffers forever.
            if (s->writing_ && std::chrono::steady_clock::now() - s->write_began_ >=
                                   std::chrono::seconds(s->api_.config().idle_timeout_s))
                return s->close_now();
            // Nothing sent for a whole period while bodies wait: the client keeps its flow
            // control window shut (reading, and answering PING, all along). That is idle.
            bool stalled = !s->moved_ && s->queued_bodies_ > 0;
            s->moved_ = false;
            if (stalled) {
                http_metrics().h2_goaway_stalled.fetch_add(1, std::memory_order_relaxed);
                s->goaway();
                s->calm_ = true;  // closes once GOAWAY is written
                return;
            }
            bool live = std::any_of(s->reqs_.begin(), s->reqs_.end(), [](const auto& r) {
                return r.second.sse || r.second.dispatched;
            });
            if (!live && !s->active_) {
                s->goaway();
                s->calm_ = true;  // closes once GOAWAY is written
                return;
            }
            s->active_ = false;
            s->arm_idle();
        });
    }

    // --- nghttp2 callbacks ---
    static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t len, int, void* u) {
        auto& c = self(u);
        if (c.out_bytes_ >= kMaxOut) return NGHTTP2_ERR_WOULDBLOCK;
        size_t off = c.scratch_.size();
        c.scratch_.append(reinterpret_cast<const char*>(data), len);
        if (!c.out_.empty() && !c.out_.back().buf && c.out_.back().off + c.out_.back().len == off)
            c.out_.back().len += len;
        else
            c.out_.push_back({nullptr, off, len});
        c.out_bytes_ += len;
        return static_cast<ssize_t>(len);
    }

    static int on_send_data(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                            size_t length, nghttp2_data_source*, void* u) {
        auto& c = self(u);
        if (c.out_bytes_ >= kMaxOut) return NGHTTP2_ERR_WOULDBLOCK;
        auto it = c.reqs_.find(frame->hd.stream_id);
        std::shared_ptr<sse::Stream> st;
        if (it != c.reqs_.end()) st = it->second.sse;
        if (!st || st->queued_bytes() < length) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        size_t off = c.scratch_.size();
        c.scratch_.append(reinterpret_cast<const char*>(framehd), 9);
        c.out_.push_back({nullptr, off, 9});
        st->h2_take(length, c.out_);
        c.out_bytes_ += 9 + length;
        c.moved_ = true;
        return 0;
    }

    static ssize_t body_read(nghttp2_session*, int32_t id, uint8_t* buf, size_t len,
                             uint32_t* flags, nghttp2_data_source*, void* u) {
        auto& c = self(u);
        auto it = c.reqs_.find(id);
        if (it == c.reqs_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        Req& r = it->second;
        if (!r.out) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        Body& b = *r.out;
        size_t n = std::min(len, b.text.size() - b.off);
        std::memcpy(buf, b.text.data() + b.off, n);
        b.off += n;
        c.queued_bodies_ -= n;
        c.moved_ = true;
        if (b.off == b.text.size()) {
            *flags |= NGHTTP2_DATA_FLAG_EOF;
            r.out.reset();
        }
        return static_cast<ssize_t>(n);
    }

    static ssize_t stream_read(nghttp2_session*, int32_t id, uint8_t*, size_t len, uint32_t* flags,
                               nghttp2_data_source*, void* u) {
        auto& c = self(u);
        auto it = c.reqs_.find(id);
        if (it == c.reqs_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        Req& r = it->second;
        if (!r.sse) return NGHTTP2_ERR_DEFERRED;
        size_t queued = r.sse->queued_bytes();
        size_t n = std::min(len, queued);
        if (n == 0) return NGHTTP2_ERR_DEFERRED;  // h2_ready resumes it
        *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
        if (n == queued) {
            // Everything queued fits: this frame ends the source, not the stream.
            *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
            r.data_last = true;
        }
        return static_cast<ssize_t>(n);
    }

    // Submits an event stream's DATA source, if it has anything queued.
    void arm(int32_t id, Req& r) {
        if (!r.sse || r.sse->queued_bytes() == 0) return;
        nghttp2_data_provider prd{};
        prd.read_callback = &H2Conn::stream_read;
        if (nghttp2_submit_data(session_, NGHTTP2_FLAG_NONE, id, &prd) == 0) r.data_armed = true;
    }

    static int on_frame_sent(nghttp2_session*, const nghttp2_frame* f, void* u) {
        auto& c = self(u);
        // A reset the client made us send (a malformed frame on a stream, a window update of
        // zero: MadeYouReset, CVE-2025-8671) costs what one it sent costs, and is counted in
        // the same budget. CANCEL is ours, for a stream whose client stopped reading.
        if (f->hd.type == NGHTTP2_RST_STREAM && f->rst_stream.error_code != NGHTTP2_CANCEL) {
            http_metrics().h2_resets_sent.fetch_add(1, std::memory_order_relaxed);
            if (!c.resets_.take()) c.calm_down();
            return 0;
        }
        if (f->hd.type != NGHTTP2_DATA) return 0;
        auto it = c.reqs_.find(f->hd.stream_id);
        if (it == c.reqs_.end() || !it->second.data_last) return 0;
        // nghttp2 detaches the source only after this callback, so what was queued since its
        // last frame was decided gets a new source once nghttp2_session_send returns.
        Req& r = it->second;
        r.data_armed = r.data_last = false;
        if (r.sse && r.sse->queued_bytes() > 0) c.rearm_.push_back(f->hd.stream_id);
        return 0;
    }

    static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* u) {
        auto& c = self(u);
        bool ok = true;
        if (hd->type == NGHTTP2_RST_STREAM)
            ok = !c.young(hd->stream_id) || c.resets_.take();
        else if (hd->type == NGHTTP2_PING && !(hd->flags & NGHTTP2_FLAG_ACK))
            ok = c.pings_.take();
        else if (hd->type == NGHTTP2_SETTINGS && !(hd->flags & NGHTTP2_FLAG_ACK))
            ok = c.settings_.take();
        else if (hd->length == 0 &&
                 ((hd->type == NGHTTP2_DATA && !(hd->flags & NGHTTP2_FLAG_END_STREAM)) ||
                  hd->type == NGHTTP2_CONTINUATION ||
                  (hd->type == NGHTTP2_HEADERS && !(hd->flags & NGHTTP2_FLAG_END_STREAM))))
            ok = c.empty_.take();
        if (!ok) c.calm_down();
        return 0;
    }

    static int on_begin_headers(nghttp2_session*, const nghttp2_frame* f, void* u) {
        auto& c = self(u);
        if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
        if (c.calm_ || c.going_away_) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        c.reqs_.insert_or_assign(f->hd.stream_id, Req{}).first->second.opened =
            std::chrono::steady_clock::now();
        c.active_ = true;
        http_metrics().h2_streams.fetch_add(1, std::memory_order_relaxed);
        return 0;
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name,
                         size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* u) {
        auto& c = self(u);
        auto it = c.reqs_.find(f->hd.stream_id);
        if (it == c.reqs_.end() || f->hd.type != NGHTTP2_HEADERS) return 0;
        Req& r = it->second;
        // RFC 9113 6.5.2's measure. The limit is in our SETTINGS, so a client past it is not
        // a client that made a mistake: an HPACK bomb decodes to far more than it sent.
        size_t total = r.header_bytes + namelen + valuelen + 32;
        if (total > c.api_.config().max_header) {
            c.calm_down();
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        r.header_bytes = static_cast<uint32_t>(total);
        std::string_view n(reinterpret_cast<const char*>(name), namelen);
        std::string_view v(reinterpret_cast<const char*>(value), valuelen);
        auto& req = *r.req;
        if (n == ":method")
            req.method_string(v);
        else if (n == ":path")
            req.target(v);
        else if (n == ":authority")
            req.set(beast::http::field::host, v);
        else if (!n.empty() && n.front() == ':')
            return 0;  // :scheme; nghttp2 checked the set
        else if (n == "host" && req.count(beast::http::field::host))
            return 0;  // :authority wins
        else if (auto ck = req.find(beast::http::field::cookie); n == "cookie" && ck != req.end()) {
            // HTTP/2 splits Cookie into fields (RFC 9113 8.2.3); HTTP/1.1 code reads one.
            std::string joined(ck->value());
            joined += "; ";
            joined += v;
            req.set(beast::http::field::cookie, joined);
        } else
            req.insert(n, v);
        return 0;
    }

    static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                       void* u) {
        auto& c = self(u);
        auto it = c.reqs_.find(id);
        if (it == c.reqs_.end() || it->second.dispatched) return 0;
        Req& r = it->second;
        auto& body = r.req->body();
        const auto& cfg = c.api_.config();
        bool upload = http_util::upload_target(r.req->method_string(), r.req->target());
        size_t limit = upload ? cfg.max_upload : cfg.max_body;
        if (upload && !r.upload) {
            // As on HTTP/1.1: a bounded number of upload bodies in memory at once.
            r.upload = c.api_.admit_upload(c.peer_.to_string());
            if (!r.upload) {
                r.dispatched = true;
                c.respond(id,
                          c.api_.error(beast::http::status::service_unavailable,
                                       "too many uploads at once: retry in a moment"),
                          false);
                return 0;
            }
        }
        if (body.size() + len > limit) {
            r.dispatched = true;
            c.respond(
                id,
                c.api_.error(beast::http::status::payload_too_large, "request body is too large"),
                false);
            return 0;
        }
        body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_frame(nghttp2_session*, const nghttp2_frame* f, void* u) {
        auto& c = self(u);
        if (f->hd.type == NGHTTP2_RST_STREAM)
            http_metrics().h2_resets_received.fetch_add(1, std::memory_order_relaxed);
        if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
            !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            return 0;
        auto it = c.reqs_.find(f->hd.stream_id);
        if (it == c.reqs_.end() || it->second.dispatched) return 0;
        c.dispatch(f->hd.stream_id, it->second);
        return 0;
    }

    static int on_close(nghttp2_session*, int32_t id, uint32_t, void* u) {
        auto& c = self(u);
        auto it = c.reqs_.find(id);
        if (it == c.reqs_.end()) return 0;
        auto st = std::move(it->second.sse);
        if (const auto& b = it->second.out) c.queued_bodies_ -= b->text.size() - b->off;
        c.reqs_.erase(it);
        if (st) st->h2_gone();
        return 0;
    }

    void dispatch(int32_t id, Req& r) {
        r.dispatched = true;
        auto req = std::move(r.req);
        req->version(11);
        req->keep_alive(true);
        if (!req->body().empty()) req->prepare_payload();
        r.owed = api_.answers().enter();
        api_.handle(std::move(*req), std::make_shared<Exchange>(this->shared_from_this(), id));
    }

    // One request, as the Api sees a connection.
    class Exchange final : public Session {
      public:
        Exchange(std::shared_ptr<H2Conn> c, int32_t id)
            : Session(c->ticket()), conn_(std::move(c)), id_(id) {
            peer_ = conn_->peer();
        }
        void run() override {}
        void respond(Response res, bool framed) override {
            conn_->respond(id_, std::move(res), framed);
        }
        bool pipelined() const override { return false; }
        sse::Conn release() override { return conn_->release(id_); }
        asio::any_io_executor executor() override { return conn_->executor(); }

      private:
        std::shared_ptr<H2Conn> conn_;
        int32_t id_;
    };

    std::shared_ptr<asio::ssl::context> ctx_;  // TLS: kept while the connection lives
    S stream_;
    Api& api_;
    std::shared_ptr<void> ticket_;
    asio::ip::address peer_;
    asio::steady_timer idle_;
    nghttp2_session* session_ = nullptr;
    // Node-based: a Req stays put while callbacks hold it, whatever is added meanwhile.
    std::unordered_map<int32_t, Req> reqs_;
    std::array<uint8_t, 4096> rbuf_{};
    std::vector<sse::Stream::Piece> out_;  // what the next write sends, in order
    std::string scratch_;                  // frames nghttp2 serialized (out_ pieces with no buf)
    std::vector<asio::const_buffer> wbufs_;
    std::vector<int32_t> rearm_;  // event streams to give a new DATA source (on_frame_sent)
    size_t out_bytes_ = 0;
    size_t queued_bodies_ = 0;  // bytes of response bodies not yet handed to nghttp2 frames
    bool moved_ = false;        // some DATA went out since the idle check
    Budget pings_, settings_, empty_;
    Budget resets_{kResetBurst, kResetRate};
    bool writing_ = false;
    bool in_recv_ = false;
    bool in_send_ = false;
    bool flush_posted_ = false;
    bool dead_ = false;
    bool calm_ = false;        // GOAWAY queued for abuse or an error: close once it is sent
    bool going_away_ = false;  // GOAWAY sent for shutdown: no new streams
    bool active_ = false;      // read something since the idle check
    bool lingering_ = false;
    bool reading_ = false;    // a frame read is pending
    bool peer_done_ = false;  // the client's input ended: close after this write
    std::chrono::steady_clock::time_point write_began_;
    std::shared_ptr<void> goaway_owed_;  // shutdown gate: a GOAWAY not yet written
};

void serve_h2(beast::tcp_stream s, std::string read, Api& api, std::shared_ptr<void> ticket) {
    auto c =
        std::make_shared<H2Conn<beast::tcp_stream>>(std::move(s), api, std::move(ticket), nullptr);
    c->start(std::move(read));
}

void serve_h2(sse::TlsSocket s, std::shared_ptr<asio::ssl::context> ctx, Api& api,
              std::shared_ptr<void> ticket) {
    auto c = std::make_shared<H2Conn<sse::TlsSocket>>(std::move(s), api, std::move(ticket),
                                                      std::move(ctx));
    c->start({});
}

void h2_goaway_all() {
    std::lock_guard lk(g_mu);
    for (auto* c : g_conns)
        if (c->loop == std::this_thread::get_id()) c->goaway();
}

}  // namespace ssechat::http
