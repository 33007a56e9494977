// A room's rules as resources: its profile, members and roles, bans and mutes.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "http/exchange.hpp"
#include "store/store.hpp"

namespace ssechat::http {

class Api;

class RoomRules {
  public:
    explicit RoomRules(Api& api) : api_(api) {}
    void create_room(Ctx& c);
    void get_room(Ctx& c);
    void patch_room(Ctx& c);
    void list_members(Ctx& c);
    void put_member(Ctx& c);
    void remove_member(Ctx& c);
    void list_bans(Ctx& c);
    void list_mutes(Ctx& c);
    void put_ban(Ctx& c);
    void put_mute(Ctx& c);
    void lift_ban(Ctx& c);
    void lift_mute(Ctx& c);
    // Queues changes of rules (one transaction) and answers with what `answer` makes of the
    // last one's result, on the request's loop; a store failure answers 503. Joining and
    // leaving (Me) go through it too.
    using RulesAnswer = std::function<Response(const store::MemberOp&)>;
    void change_rules(Ctx& c, std::vector<store::MemberOp> ops, std::shared_ptr<chat::Room> room,
                      RulesAnswer answer);

  private:
    void restrict(Ctx& c, store::MemberOp::Op op);
    void list_restrictions(Ctx& c, bool bans);
    Api& api_;
};

}  // namespace ssechat::http
