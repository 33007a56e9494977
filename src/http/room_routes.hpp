// Rooms as a collection, and what is live in one: GET /rooms, presence, typing.
#pragma once
#include "http/exchange.hpp"
#include "http/limits.hpp"

namespace ssechat::http {

class Api;

class RoomRoutes {
  public:
    explicit RoomRoutes(Api& api);
    void list_rooms(Ctx& c);
    void presence(Ctx& c);
    void typing(Ctx& c);

  private:
    Api& api_;
    limits::RateLimiter typings_;  // keyed by user: typing is not publishing
};

}  // namespace ssechat::http
