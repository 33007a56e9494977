// Events as the store tests write them: a message of user "u<id>" at ts 1000 + id, and a change
// at ts 5000 + id; and a SQLite store in a folder of its own. Shared by the unit tests of
// SQLite's file and the suite every store passes.
#pragma once
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/event.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace store_events {

inline ssechat::model::Event msg(const std::string& room, uint64_t id,
                                 const std::string& text = "") {
    return {id, room, "u" + std::to_string(id), text.empty() ? "m" + std::to_string(id) : text,
            1000 + static_cast<int64_t>(id)};
}

inline ssechat::model::Event change(const std::string& room, uint64_t id, ssechat::model::Kind kind,
                                    uint64_t target, const std::string& user,
                                    const std::string& text = "", bool remove = false) {
    ssechat::model::Event e{id, room, user, text, 5000 + static_cast<int64_t>(id)};
    e.kind = kind;
    e.target = target;
    e.remove = remove;
    return e;
}

inline std::vector<uint64_t> ids(const std::vector<ssechat::model::Event>& v) {
    std::vector<uint64_t> out;
    for (const auto& m : v) out.push_back(m.id);
    return out;
}

// A SQLite store in a fresh folder under /tmp, removed with the factory.
struct SqliteFactory {
    static std::string fresh_folder() {
        char tmpl[] = "/tmp/ssechat-store-XXXXXX";
        return mkdtemp(tmpl);
    }
    std::string dir = fresh_folder();
    ~SqliteFactory() { std::filesystem::remove_all(dir); }
    std::unique_ptr<ssechat::store::Store> make(uint64_t retain) {
        return std::make_unique<ssechat::store::SqliteStore>(dir, false, retain);
    }
};

}  // namespace store_events
