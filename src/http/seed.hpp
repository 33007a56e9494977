// The seed API (the tutorial's /messages and /message): a view of room general that keeps
// the tutorial's exact bodies.
#pragma once
#include "http/exchange.hpp"

namespace ssechat::http {

class Api;

class Seed {
  public:
    explicit Seed(Api& api) : api_(api) {}
    void seed_stream(Ctx& c);
    void seed_publish(Ctx& c);

  private:
    Api& api_;
};

}  // namespace ssechat::http
