// /admin/apikeys: server API keys made, listed and revoked by admins.
#pragma once
#include "http/exchange.hpp"

namespace ssechat::http {

class Api;

class AdminKeys {
  public:
    explicit AdminKeys(Api& api) : api_(api) {}
    void list_keys(Ctx& c);
    void create_key(Ctx& c);
    void revoke_key(Ctx& c);

  private:
    Api& api_;
};

}  // namespace ssechat::http
