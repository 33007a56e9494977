// The user's own resources: the rooms they are in (membership, read markers, summaries),
// direct messages, settings, and a room's receipts.
#pragma once
#include <cstdint>

#include "http/exchange.hpp"
#include "store/store.hpp"

namespace ssechat::http {

class Api;

class Me {
  public:
    explicit Me(Api& api) : api_(api) {}
    void my_rooms(Ctx& c);
    void join_room(Ctx& c);
    void leave_room(Ctx& c);
    void mark_read(Ctx& c);
    void receipts(Ctx& c);
    void open_dm(Ctx& c);
    void get_settings(Ctx& c);
    void put_settings(Ctx& c);

  private:
    void member_op(Ctx& c, store::MemberOp::Op op, uint64_t id);
    Api& api_;
};

}  // namespace ssechat::http
