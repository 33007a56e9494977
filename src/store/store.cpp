// What every store shares: the epoch that names a store's data.
#include "store/store.hpp"

#include <openssl/rand.h>

namespace ssechat::store {

std::string make_epoch() {
    unsigned char b[4];
    if (RAND_bytes(b, sizeof b) != 1) throw StoreError("no random bytes for a store epoch");
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned char c : b) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

void apply(model::Roster& r, const MemberOp& op) {
    using Op = MemberOp::Op;
    switch (op.op) {
        case Op::Join:  // a member joining again keeps their role
            r.members.try_emplace(op.user, model::RoomMember{op.user, op.role, op.ts});
            break;
        case Op::Add:
            if (auto it = r.members.find(op.user); it != r.members.end())
                it->second.role = op.role;
            else
                r.members.emplace(op.user, model::RoomMember{op.user, op.role, op.ts});
            break;
        case Op::Leave:
            r.members.erase(op.user);
            break;
        case Op::Ban:
            r.members.erase(op.user);
            r.bans[op.user] = op.restriction;
            break;
        case Op::Mute:
            r.mutes[op.user] = op.restriction;
            break;
        case Op::Unban:
            r.bans.erase(op.user);
            break;
        case Op::Unmute:
            r.mutes.erase(op.user);
            break;
        case Op::Profile:
            r.profile = op.profile;
            break;
        case Op::Read:
        case Op::Settings:
            break;
    }
}

}  // namespace ssechat::store

namespace ssechat::store {

std::vector<model::SearchHit> Store::search(const model::SearchQuery&,
                                            const std::vector<std::string>&, int64_t, size_t) {
    throw StoreError("this store does not search");
}

}  // namespace ssechat::store
