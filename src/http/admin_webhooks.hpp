// /admin/webhooks: webhooks made, changed and removed by admins, their deliveries; owns the
// engine that delivers them.
#pragma once
#include <memory>

#include "http/exchange.hpp"
#include "http/webhooks.hpp"

namespace ssechat::http {

class Api;

class AdminWebhooks {
  public:
    explicit AdminWebhooks(Api& api);
    ~AdminWebhooks();
    // Null when the store keeps no webhooks.
    WebhookEngine* engine() { return engine_.get(); }
    void list_webhooks(Ctx& c);
    void create_webhook(Ctx& c);
    void get_webhook(Ctx& c);
    void patch_webhook(Ctx& c);
    void delete_webhook(Ctx& c);
    void webhook_deliveries(Ctx& c);

  private:
    // A store that keeps webhooks, else false after answering.
    bool webhooks_on(Ctx& c);
    Api& api_;
    std::unique_ptr<WebhookEngine> engine_;
};

}  // namespace ssechat::http
