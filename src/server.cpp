// Server wiring and lifecycle.
#include "server.hpp"

#include <malloc.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <future>

#include "chat/hub.hpp"
#include "chat/metrics.hpp"
#include "chat/shard.hpp"
#include "http/api.hpp"
#include "http/h2.hpp"
#include "http/http_metrics.hpp"
#include "http/listener.hpp"
#include "http/redirect.hpp"
#include "http/seed_view.hpp"
#include "http/tls.hpp"
#include "sse/tls13.hpp"
#include "store/memory/memory_store.hpp"
#include "store/redis/redis_store.hpp"
#include "store/redis/sharded_store.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "util/build_info.hpp"
#include "util/log.hpp"

namespace ssechat {

namespace asio = boost::asio;

Server::Server(Config cfg) : cfg_(std::move(cfg)) {
    if (cfg_.store == "memory") {
        store_ = std::make_unique<store::MemoryStore>(cfg_.retain, cfg_.idempotency_ttl_s);
    } else if (cfg_.store == "redis") {
        std::vector<store::RedisOptions> shards;
        for (auto& url : store::redis_urls_of(cfg_.redis)) {
            store::RedisOptions o;
            o.url = std::move(url);
            o.retain = cfg_.retain;
            o.presence_ttl_s = cfg_.presence_ttl_s;
            o.log_max = cfg_.redis_log_max;
            o.key_ttl_s = cfg_.idempotency_ttl_s;
            o.durability = store::redis_durability_of(cfg_);
            shards.push_back(std::move(o));
        }
        // One Redis is read as it always was; several are the shards rooms are spread over.
        if (shards.size() == 1)
            store_ = std::make_unique<store::RedisStore>(std::move(shards.front()));
        else
            store_ = std::make_unique<store::ShardedStore>(std::move(shards));
    } else {
        store_ = std::make_unique<store::SqliteStore>(cfg_.data_dir, cfg_.fsync_always, cfg_.retain,
                                                      cfg_.idempotency_ttl_s);
    }
    // The seed API is a view of room general, kept by the chat core and defined in http/.
    hub_ = std::make_unique<chat::Hub>(cfg_, *store_, http::seed_views(cfg_.legacy_history));
    std::vector<chat::Shard*> raw;
    for (unsigned i = 0; i < cfg_.threads; ++i) {
        shards_.push_back(std::make_unique<chat::Shard>(i, *hub_));
        raw.push_back(shards_.back().get());
    }
    hub_->set_shards(raw);
    api_ = std::make_unique<http::Api>(cfg_, *hub_, raw);
    // A certificate or key that cannot be used stops startup here (TlsError names the file).
    if (!cfg_.tls_cert.empty()) tls_ = std::make_unique<http::Tls>(cfg_.tls_cert, cfg_.tls_key);
    asio::ip::tcp::endpoint ep(asio::ip::make_address(cfg_.bind), cfg_.port);
    for (auto& s : shards_)
        listeners_.push_back(listeners_.empty()
                                 ? std::make_shared<http::Listener>(s->ioc(), ep, *api_, tls_.get())
                                 : std::make_shared<http::Listener>(s->ioc(), *listeners_.front(),
                                                                    *api_, tls_.get()));
    api_->set_port(listeners_.front()->port());
    if (cfg_.redirect_http)
        redirector_ = std::make_shared<http::Redirector>(
            shards_[0]->ioc(), asio::ip::tcp::endpoint(ep.address(), cfg_.redirect_http),
            listeners_.front()->port());
    // Registered before the banner is printed, so an early SIGTERM is not lost.
    signals_ = std::make_unique<asio::signal_set>(shards_[0]->ioc(), SIGINT, SIGTERM);
    hup_ = std::make_unique<asio::signal_set>(shards_[0]->ioc(), SIGHUP);
    rotate_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->ioc());
    refusal_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->ioc());
    sweep_timer_ = std::make_unique<asio::steady_timer>(shards_[0]->ioc());
}

Server::~Server() {
    stop();
    if (stopper_.joinable()) stopper_.join();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    // The loops go first: destroying an io_context destroys the sessions and streams still
    // queued in it, and their limit tickets point into api_, which must outlive them.
    refusal_timer_.reset();
    sweep_timer_.reset();
    rotate_timer_.reset();
    signals_.reset();
    hup_.reset();
    redirector_.reset();
    listeners_.clear();
    if (auto* s = api_->sign_ins()) s->stop();
    api_->api_keys().stop();
    if (auto* w = api_->webhooks()) w->stop();
    if (auto* p = api_->push()) p->stop();
    shards_.clear();
}

uint16_t Server::port() const {
    return listeners_.front()->port();
}

void Server::run() {
    const auto& c = cfg_;
    log::Fields f = {{"version", build::version},
                     {"commit", build::commit},
                     {"listen", c.bind + ":" + std::to_string(port())},
                     {"tls", tls_ ? "on" : "off"},
                     {"store", c.store}};
    if (c.store == "sqlite") f.emplace_back("data", c.data_dir + "/ssechat.db");
    if (c.store == "redis") {
        std::string shown;
        for (const auto& u : store::redis_urls_of(c.redis))
            shown += (shown.empty() ? "" : ",") + u.display();  // never the password
        f.emplace_back("redis", shown);
    }
    auto num = [](auto v) { return std::to_string(v); };
    char rate[64];
    std::snprintf(rate, sizeof rate, "%g/s burst %g", c.publish_rate, c.publish_burst);
    f.insert(f.end(), {{"threads", num(c.threads)},
                       {"auth", api_->auth_mode()},
                       {"max_connections", num(c.max_connections)},
                       {"max_connections_per_ip", num(c.max_connections_per_ip)},
                       {"max_streams_per_user", num(c.max_streams_per_user)},
                       {"publish_rate", rate},
                       {"max_rooms", num(c.max_rooms)},
                       {"max_body", num(c.max_body)},
                       {"stream_buffer", num(c.stream_buffer)}});
    // Whether TLS 1.3 event streams can be handed to the kernel, or are sealed here.
    if (tls_) f.emplace_back("kernel_tls", sse::kernel_tls_loaded() ? "loaded" : "not loaded");
    log::info("ssechat started", f);
    hub_->start();
    for (auto& sh : shards_) keep_.push_back(asio::make_work_guard(sh->ioc()));
    for (size_t i = 0; i < shards_.size(); ++i) {
        listeners_[i]->start();
        shards_[i]->start_heartbeat();
    }
    for (size_t i = 1; i < shards_.size(); ++i)
        threads_.emplace_back([s = shards_[i].get()] { s->ioc().run(); });
    signals_->async_wait([this](boost::system::error_code ec, int) {
        if (!ec) stop();
    });
    if (redirector_) redirector_->start();
    on_hup();
    rotate_tickets();
    report_refusals();
    sweep_rooms();
    shards_[0]->ioc().run();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
    if (stopper_.joinable()) stopper_.join();
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - stop_began_)
            .count();
    char took[32];
    std::snprintf(took, sizeof took, "%.0f", ms);
    log::info("ssechat stopped", {{"streams_closed", std::to_string(stop_streams_)},
                                  {"publishes_committed", std::to_string(stop_publishes_)},
                                  {"answers_drained", std::to_string(stop_answers_)},
                                  {"complete", stop_complete_ ? "yes" : "no"},
                                  {"took_ms", took},
                                  {"exit_status", "0"}});
}

void Server::report_refusals() {
    // Under attack, refusals come by the thousand a second; one summary line per interval
    // keeps the log readable and its volume independent of the attack's.
    refusal_timer_->expires_after(std::chrono::seconds(10));
    refusal_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        auto& m = http::http_metrics();
        std::array<uint64_t, 5> now = {m.auth_failures.load(), m.rate_limited.load(),
                                       m.too_many_streams.load(), m.refused_total.load(),
                                       m.refused_per_ip.load()};
        static constexpr const char* names[] = {"auth", "publish_rate", "streams_per_user",
                                                "connections_total", "connections_per_ip"};
        std::string line;
        for (size_t i = 0; i < now.size(); ++i)
            if (now[i] != refusals_seen_[i])
                line += std::string(line.empty() ? "" : ", ") + names[i] + " " +
                        std::to_string(now[i] - refusals_seen_[i]);
        refusals_seen_ = now;
        if (!line.empty()) log::warn("refused in the last 10s: " + line);
        report_refusals();
    });
}

void Server::on_hup() {
    hup_->async_wait([this](boost::system::error_code ec, int) {
        if (ec) return;
        if (!tls_) {
            log::info("SIGHUP: nothing to reload (no TLS)");
        } else if (auto why = tls_->reload()) {
            // Open connections and streams keep the context they started with either way.
            log::error("TLS reload failed, keeping the current certificate: " + *why);
        } else {
            log::info("TLS certificate and key reloaded", {{"cert", tls_->cert_file()}});
        }
        on_hup();
    });
}

void Server::rotate_tickets() {
    // Session tickets are encrypted with keys each context makes at random; a fresh context
    // every 12 hours rotates them (tickets from the old keys are just not resumed).
    if (!tls_) return;
    rotate_timer_->expires_after(std::chrono::hours(12));
    rotate_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        if (auto why = tls_->reload())
            log::error("TLS ticket key rotation failed, keeping the current keys: " + *why);
        rotate_tickets();
    });
}

void Server::sweep_rooms() {
    sweep_timer_->expires_after(std::chrono::seconds(1));
    sweep_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        hub_->sweep_rooms();
        hub_->sweep_typing();
        trim_heap();
        sweep_rooms();
    });
}

void Server::trim_heap() {
    // A TLS handshake leaves its transient allocations (OpenSSL's, and Asio's TLS buffers that
    // a stream lets go once it owns the socket) freed in the middle of the heap, where malloc
    // keeps them: measured, three quarters of an idle HTTPS stream's RSS. After a batch of
    // handshakes, hand the free pages back. It walks the heap (under a millisecond for 90 MB
    // here), so once a second, and only for five seconds after the last new TLS connection:
    // measured, the pages of a burst become free a few seconds after it, not at once.
    if (!tls_) return;
    auto n = http::http_metrics().tls_handshakes.load(std::memory_order_relaxed);
    if (n != handshakes_seen_) {
        handshakes_seen_ = n;
        trims_left_ = 5;
    }
    if (trims_left_ == 0) return;
    --trims_left_;
    auto t0 = std::chrono::steady_clock::now();
    malloc_trim(0);
    log::debug("heap trimmed",
               {{"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - t0)
                                          .count())}});
}

void Server::stop() {
    if (stopping_.exchange(true)) return;
    stop_began_ = std::chrono::steady_clock::now();
    stop_streams_ =
        static_cast<size_t>(metrics().streams_native.load() + metrics().streams_view.load() +
                            metrics().streams_user.load());
    // Stop accepting, end every stream on its own loop, let pending commits finish, then stop
    // the loops (idle keep-alive connections do not hold shutdown up).
    for (size_t i = 0; i < shards_.size(); ++i) {
        auto& ioc = shards_[i]->ioc();
        if (ioc.stopped()) continue;
        asio::post(ioc, [this, l = listeners_[i], s = shards_[i].get(), held = ending_.enter()] {
            if (s->index() == 0) {
                refusal_timer_->cancel();
                sweep_timer_->cancel();
                rotate_timer_->cancel();
                boost::system::error_code ignored;
                hup_->cancel(ignored);
                if (redirector_) redirector_->stop();
            }
            l->stop();
            http::h2_goaway_all();
            s->close_all();
        });
    }
    api_->drain();
    stopper_ = std::thread([this] {
        // Every queued publish is committed and its answer handed to its loop; then the loops
        // run until each answer owed is written. The bound only matters for a client that
        // stopped reading its answer.
        stop_publishes_ = hub_->pending();
        hub_->stop();
        if (!ending_.wait_idle(std::chrono::seconds(5)))
            log::warn("stopping with streams not yet ended after 5 s");
        stop_answers_ = api_->answers().held();
        stop_complete_ = api_->answers().wait_idle(std::chrono::seconds(5));
        if (!stop_complete_)
            log::warn("stopping with answers unwritten after 5 s",
                      {{"answers", std::to_string(api_->answers().held())}});
        for (auto& k : keep_) k.reset();
        for (auto& s : shards_) s->ioc().stop();
    });
}

}  // namespace ssechat
