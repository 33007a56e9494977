// Operations: /healthz, /metrics, GET /me, and CORS preflights.
#pragma once
#include "http/exchange.hpp"

namespace ssechat::http {

class Api;

class Ops {
  public:
    explicit Ops(Api& api) : api_(api) {}
    void healthz(Ctx& c);
    // /metrics: open, or with --metrics-token (or tokens on) for its bearer only.
    void metrics_page(Ctx& c);
    void me(Ctx& c);
    void preflight(Ctx& c);

  private:
    bool metrics_allowed(Ctx& c);
    Api& api_;
};

}  // namespace ssechat::http
