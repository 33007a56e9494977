// A shard: one event loop and the streams it owns; nothing here is shared with other loops.
#pragma once
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <unordered_map>

#include "chat/room.hpp"
#include "sse/stream.hpp"

namespace ssechat::chat {

class Hub;
class Shard;

// A stream subscribed to one room on one shard.
class Subscriber final : public sse::Stream {
public:
    Subscriber(boost::asio::ip::tcp::socket sock, size_t limit, Shard& shard,
               std::shared_ptr<Room> room, std::string user, bool legacy);

    Shard& shard;
    const std::shared_ptr<Room> room;
    const std::string user;
    const bool legacy;       // seed API stream: whole arrays, no own messages, no ids
    uint64_t last_sent = 0;  // newest id this stream has been given; later deliveries skip older
    size_t slot = 0;         // index in the shard's list for the room, for O(1) removal

private:
    void on_closed() override;
    void on_overflow() override;
};

// How a new stream wants to start.
struct StreamStart {
    bool legacy = false;
    std::optional<uint64_t> since;  // Last-Event-ID or ?since=
    size_t history = 0;             // replay on a fresh stream
};

class Shard {
public:
    Shard(unsigned index, Hub& hub);
    boost::asio::io_context& ioc() { return ioc_; }
    unsigned index() const { return index_; }
    Hub& hub() { return hub_; }

    // Takes over a socket whose request asked for a stream; runs on this shard's loop.
    void subscribe(boost::asio::ip::tcp::socket sock, std::shared_ptr<Room> room,
                   std::string user, const StreamStart& start);

    // Queues a commit or a presence change for this shard's streams of that room. Everything
    // queued before the next flush goes out together: one sendmsg per stream per flush.
    void deliver(std::shared_ptr<const Delivery> d);

    void start_heartbeat();
    // Ends every stream (shutdown).
    void close_all();

    void remove(Subscriber* s);

private:
    struct Subs {
        std::vector<Subscriber*> native;
        std::vector<Subscriber*> legacy;
    };
    void add(Subscriber* s);
    void heartbeat();
    void flush();
    void flush_room(Subs& subs, const std::vector<std::shared_ptr<const Delivery>>& ds);

    unsigned index_;
    Hub& hub_;
    boost::asio::io_context ioc_{1};
    boost::asio::steady_timer heartbeat_timer_{ioc_};
    std::unordered_map<const Room*, Subs> subs_;  // streams by room, this loop only
    sse::Buffer ping_;                            // ": ping" comment, shared
    sse::Buffer head_;                            // the response head, shared
    sse::Buffer retry_;                           // "retry:" line, shared
    std::vector<std::shared_ptr<Subscriber>> keep_;  // reused scratch for close_all
    // Deliveries since the last flush, grouped by room in arrival order.
    std::vector<std::pair<const Room*, std::vector<std::shared_ptr<const Delivery>>>> pending_;
    std::vector<std::pair<const Room*, std::vector<std::shared_ptr<const Delivery>>>> flushing_;
    bool flush_posted_ = false;                  // a flush is posted or its timer armed
    boost::asio::steady_timer flush_timer_{ioc_};  // delays a flush that follows another closely
    std::chrono::steady_clock::time_point last_flush_{};
    std::vector<sse::Buffer> events_;  // flush scratch: one run of message events
    std::vector<uint64_t> ids_;        // and their ids
    std::vector<std::string_view> senders_;
};

}  // namespace ssechat::chat
