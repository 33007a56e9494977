// Search: one room's messages, or every room the caller may read.
#pragma once
#include <string>
#include <vector>

#include "http/exchange.hpp"

namespace ssechat::http {

class Api;

class SearchRoutes {
  public:
    explicit SearchRoutes(Api& api) : api_(api) {}
    void search_room(Ctx& c);
    void search_me(Ctx& c);

  private:
    // Parses the query, narrows `rooms` (all readable by the caller) by in:, and answers from
    // the store's search, run on the work pool.
    void search(Ctx& c, std::vector<std::string> rooms);
    Api& api_;
};

}  // namespace ssechat::http
