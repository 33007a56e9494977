// Subscriber: a hiredis connection in subscribed mode, read with poll() so that want() can
// interrupt the wait through a pipe instead of a short timeout.
#include "store/redis/subscriber.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "util/log.hpp"

namespace ssechat::store {

std::string frame(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        out += std::to_string(p.size());
        out += ':';
        out += p;
    }
    return out;
}

bool unframe(std::string_view text, std::vector<std::string>& parts) {
    parts.clear();
    while (!text.empty()) {
        size_t n = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec != std::errc() || end == text.data() + text.size() || *end != ':') return false;
        text.remove_prefix(static_cast<size_t>(end - text.data()) + 1);
        if (n > text.size()) return false;
        parts.emplace_back(text.substr(0, n));
        text.remove_prefix(n);
    }
    return true;
}

namespace {

constexpr int kTickMs = 100;
// A subscribed connection answers nothing unless asked: a PING this often, and a socket with
// no answer for the timeout past it is taken for dead (a Redis that hangs, a cut network).
constexpr int kPingMs = 1000;
constexpr size_t kPerCommand = 512;  // channels per SSUBSCRIBE when subscribing again

// The subscriber whose loop runs on this thread, if any. A feed thread (of any shard: their
// handlers take turns) must not wait for a confirmation that its own loop, or another one
// waiting for it, would read.
thread_local const Subscriber* running = nullptr;

}  // namespace

Subscriber::Subscriber(RedisUrl url, int timeout_ms)
    : url_(std::move(url)), timeout_ms_(timeout_ms) {
    if (::pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) throw StoreError("pipe2 failed");
}

Subscriber::~Subscriber() {
    ::close(wake_[0]);
    ::close(wake_[1]);
}

void Subscriber::wake() {
    char b = 1;
    // Full means a wake-up is already pending: nothing lost.
    [[maybe_unused]] auto n = ::write(wake_[1], &b, 1);
}

void Subscriber::want(const std::string& channel, bool on, bool confirm) {
    std::unique_lock lk(mu_);
    int& n = wanted_[channel];
    n += on ? 1 : -1;
    if (n <= 0) wanted_.erase(channel);
    changed_.insert(channel);
    wake();
    if (running == this) {
        // From a handler of this loop (a join heard here loads its room): sent now, before
        // the handler goes on to tell anyone, not after it returns. Its answer is read later.
        lk.unlock();
        if (conn_ && conn_->connected()) {
            try {
                apply(*conn_);
            } catch (const StoreError&) {
                // The loop finds the socket gone and subscribes everything again.
            }
        }
        return;
    }
    lk.unlock();
    if (on && confirm) await(channel);
}

void Subscriber::await(const std::string& channel) {
    if (running) return;
    std::unique_lock lk(mu_);
    // Before the loop's first connection it waits (a node starting); during an outage it
    // does not (the loop subscribes everything again, then re-reads).
    auto done = [&] {
        return stopping_ || (ever_connected_ && !connected_) || confirmed_.contains(channel) ||
               !wanted_.contains(channel);
    };
    if (done()) return;
    // A confirmation that comes while this waits needs no Handlers::confirmed: the caller's
    // read of the store follows it. One that comes after (a timeout) does.
    awaited_.insert(channel);
    confirmed_cv_.wait_for(lk, std::chrono::seconds(1), done);
    awaited_.erase(channel);
}

void Subscriber::stop() {
    std::lock_guard lk(mu_);
    stopping_ = true;
    wake();
    confirmed_cv_.notify_all();
}

void Subscriber::apply(RedisConn& c) {
    std::vector<std::vector<std::string>> cmds;
    {
        std::lock_guard lk(mu_);
        std::vector<std::string> on{"SSUBSCRIBE"}, off{"SUNSUBSCRIBE"};
        for (const auto& ch : changed_) {
            bool want = wanted_.contains(ch), have = sent_.contains(ch);
            if (want && !have) {
                on.push_back(ch);
                sent_.insert(ch);
            } else if (!want && have) {
                off.push_back(ch);
                sent_.erase(ch);
                confirmed_.erase(ch);
            }
        }
        changed_.clear();
        // Off before on: a channel let go and wanted again in one pass is in neither.
        if (off.size() > 1) cmds.push_back(std::move(off));
        if (on.size() > 1) cmds.push_back(std::move(on));
    }
    if (!cmds.empty()) c.send(cmds);
}

void Subscriber::run(const Handlers& h) {
    RedisConn c(url_, timeout_ms_);
    running = this;
    conn_ = &c;
    struct Done {
        Subscriber* s;
        ~Done() {
            s->conn_ = nullptr;
            running = nullptr;
        }
    } done{this};
    bool ever = false;
    bool resume_due = false;  // subscribed again: resumed() once Redis confirmed it all
    auto delay = std::chrono::milliseconds(100);
    while (true) {
        {
            std::lock_guard lk(mu_);
            if (stopping_) break;
        }
        try {
            uint64_t before = c.dials();
            c.connect();  // also drops a socket dialed before a Sentinel's switch
            if (c.dials() != before) {
                // A new socket has no subscriptions: every wanted channel again, in slices.
                std::vector<std::vector<std::string>> cmds;
                {
                    std::lock_guard lk(mu_);
                    sent_.clear();
                    confirmed_.clear();
                    changed_.clear();
                    for (const auto& [ch, n] : wanted_) {
                        if (cmds.empty() || cmds.back().size() > kPerCommand)
                            cmds.push_back({"SSUBSCRIBE"});
                        cmds.back().push_back(ch);
                        sent_.insert(ch);
                    }
                    connected_ = true;
                    ever_connected_ = true;
                }
                if (!cmds.empty()) c.send(cmds);
                resume_due = ever;
                ever = true;
                delay = std::chrono::milliseconds(100);
            }
            auto heard = std::chrono::steady_clock::now();
            auto pinged = heard;
            std::vector<Message> msgs;
            while (true) {
                {
                    std::lock_guard lk(mu_);
                    if (stopping_) break;
                }
                char drain[64];
                while (::read(wake_[0], drain, sizeof drain) > 0) {
                }
                apply(c);
                auto replies = c.take(kTickMs, wake_[0]);
                auto now = std::chrono::steady_clock::now();
                if (!replies.empty()) heard = now;
                for (auto& r : replies) {
                    if (r->type == REDIS_REPLY_ERROR)
                        throw StoreError("redis " + url_.text() + ": " +
                                         std::string(r->str, r->len) + " (subscribing)");
                    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
                        r->element[0]->type != REDIS_REPLY_STRING)
                        continue;
                    std::string_view kind(r->element[0]->str, r->element[0]->len);
                    const redisReply* ch = r->element[1];
                    if (ch->type != REDIS_REPLY_STRING) continue;  // a PONG's empty payload
                    std::string channel(ch->str, ch->len);
                    if (kind == "smessage" && r->elements == 3 &&
                        r->element[2]->type == REDIS_REPLY_STRING) {
                        msgs.push_back({std::move(channel),
                                        std::string(r->element[2]->str, r->element[2]->len)});
                    } else if (kind == "ssubscribe") {
                        // Messages before it are delivered first: they precede it on the wire.
                        if (!msgs.empty()) {
                            h.got(msgs);
                            msgs.clear();
                        }
                        bool late;  // nobody is waiting for it to read the store after
                        {
                            std::lock_guard lk(mu_);
                            if (!sent_.contains(channel)) continue;
                            confirmed_.insert(channel);
                            late = awaited_.erase(channel) == 0;
                            confirmed_cv_.notify_all();
                        }
                        if (late && !resume_due && h.confirmed) h.confirmed(channel);
                    }
                }
                if (!msgs.empty()) {
                    h.got(msgs);
                    msgs.clear();
                }
                if (resume_due) {
                    bool all;
                    {
                        std::lock_guard lk(mu_);
                        all = confirmed_.size() == sent_.size();
                    }
                    if (all) {
                        resume_due = false;
                        if (h.resumed) h.resumed();
                    }
                }
                if (now - pinged > std::chrono::milliseconds(kPingMs)) {
                    c.send({{"PING"}});
                    pinged = now;
                }
                if (now - heard > std::chrono::milliseconds(kPingMs + timeout_ms_))
                    throw StoreError("redis " + url_.text() + ": the feed's connection is silent");
                // A demoted master may stay up: the feed moves to the new one with the writes.
                if (c.stale()) throw StoreError("redis " + url_.text() + ": the master moved");
                if (h.tick) h.tick();
            }
            break;
        } catch (const StoreError& e) {
            c.drop();
            {
                std::lock_guard lk(mu_);
                connected_ = false;
                confirmed_cv_.notify_all();
            }
            if (h.failed) h.failed(e);
            for (auto waited = std::chrono::milliseconds(0); waited < delay;
                 waited += std::chrono::milliseconds(50)) {
                {
                    std::lock_guard lk(mu_);
                    if (stopping_) return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            delay = std::min(delay * 2, std::chrono::milliseconds(2000));
        }
    }
}

}  // namespace ssechat::store
