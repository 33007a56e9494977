// A room's messages as resources: publishing (native and seed), history, one message, and
// its changes (edits, deletes, reactions). Owns the per-user publish rate.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "chat/writer.hpp"
#include "http/exchange.hpp"
#include "http/limits.hpp"
#include "model/event.hpp"

namespace ssechat::http {

class Api;
class Files;

class Messages {
  public:
    explicit Messages(Api& api);
    void native_publish(Ctx& c);
    void history(Ctx& c);
    void get_message(Ctx& c);
    void edit_message(Ctx& c);
    void delete_message(Ctx& c);
    void add_reaction(Ctx& c);
    void remove_reaction(Ctx& c);
    // `key`: the Idempotency-Key (native API only), or empty.
    // `after` runs with the outcome as soon as it is known (on the writer's thread).
    using After = std::function<void(chat::PublishOutcome)>;
    void publish(Ctx& c, const std::string& room, std::string user, std::string text,
                 std::string key, bool seed, uint64_t reply_to = 0, std::string files = {},
                 After after = {});

  private:
    void react(Ctx& c, bool remove);
    // Stores a change (edit, delete, reaction) of message {id} and answers with its state.
    void change(Ctx& c, model::Event ev, After after = {});
    // Rate limit, room, then the writer; answers when the commit is done. `after` runs first
    // with the outcome, or with StoreFailed when it is refused before the writer.
    void submit(Ctx& c, const std::string& room, model::Event ev, bool seed, After after = {});
    // The message {id} of the path; nullopt after answering 400.
    std::optional<uint64_t> message_id(Ctx& c);
    bool rate_ok(Ctx& c, const std::string& user);
    // The files messages claim (FileRoutes'), or null when the store keeps none.
    Files* files();

    Api& api_;
    limits::RateLimiter publishes_;  // keyed by user
};

}  // namespace ssechat::http
