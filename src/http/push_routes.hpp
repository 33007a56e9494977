// Web Push as resources: the server's VAPID key, a user's browser subscriptions, and their
// notification level per room; owns the engine that sends (push.cpp).
#pragma once
#include <memory>

#include "http/exchange.hpp"
#include "http/push.hpp"

namespace ssechat::http {

class Api;

class PushRoutes {
  public:
    explicit PushRoutes(Api& api);
    ~PushRoutes();
    // Null when the store keeps no push state.
    PushEngine* engine() { return engine_.get(); }
    void push_key(Ctx& c);
    void put_push(Ctx& c);
    void delete_push(Ctx& c);
    void put_notify(Ctx& c);

  private:
    // Push is running, else false after answering 503.
    bool push_on(Ctx& c);
    Api& api_;
    std::unique_ptr<PushEngine> engine_;
};

}  // namespace ssechat::http
