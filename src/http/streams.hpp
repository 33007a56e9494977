// Every request that becomes an event stream: a room's (native and seed), and a user's
// (/me/events, moved to the user's home loop). Owns the per-user stream limit and the
// response head shared by every kept-alive stream when any origin may read.
#pragma once
#include <optional>
#include <string>

#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "sse/event.hpp"

namespace ssechat::http {

class Api;

class Streams {
  public:
    explicit Streams(Api& api);
    // GET /rooms/{room}/events
    void native_stream(Ctx& c);
    // GET /me/events
    void user_stream(Ctx& c);
    // A room's stream for `user`: ?since=, ?history=, ?presence= and Last-Event-ID (or the
    // seed's view of the room when `seed`).
    void room_stream(Ctx& c, const std::string& room, std::string user, bool seed);
    // Distinct users with an open stream.
    size_t users() { return streams_.keys(); }

  private:
    // Answers a stream request that cannot become a stream (pipelined behind, HEAD, too many
    // streams of the user) and returns false; else takes the user's stream slot.
    bool admitted(Ctx& c, const std::string& user, limits::Ticket& ticket);
    // The response head of an event stream: Connection says what the request allows, and
    // CORS what --cors-origin grants; the shared one when it is the same for every stream.
    sse::Buffer head(const Request& req);
    sse::Buffer make_head(const Request& req) const;

    Api& api_;
    limits::Counter streams_;  // keyed by user
    sse::Buffer shared_head_;  // a kept-alive stream's head when any origin may read
};

}  // namespace ssechat::http
