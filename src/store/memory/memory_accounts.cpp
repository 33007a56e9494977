#include "store/memory/memory_accounts.hpp"

#include <algorithm>

namespace ssechat::store {

int LocalFailures::count(const std::string& key, bool add, int64_t now, int64_t window_ms,
                         int64_t& retry_ms) {
    std::lock_guard lk(mu_);
    auto it = windows_.find(key);
    if (it != windows_.end() && it->second.end <= now) {
        windows_.erase(it);
        it = windows_.end();
    }
    if (it == windows_.end()) {
        retry_ms = 0;
        if (!add) return 0;
        if (windows_.size() >= kMaxKeys) {
            std::erase_if(windows_, [&](const auto& kv) { return kv.second.end <= now; });
            if (windows_.size() >= kMaxKeys)
                windows_.erase(std::min_element(
                    windows_.begin(), windows_.end(),
                    [](const auto& a, const auto& b) { return a.second.start < b.second.start; }));
        }
        it = windows_.emplace(key, Window{now, now + window_ms, 0}).first;
    }
    if (add) ++it->second.n;
    retry_ms = it->second.end - now;
    return it->second.n;
}

std::optional<model::Account> MemoryAccounts::account(const std::string& user) {
    std::lock_guard lk(mu_);
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return std::nullopt;
    return it->second;
}

bool MemoryAccounts::add_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    return accounts_.emplace(a.user_id, a).second;
}

bool MemoryAccounts::update_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    auto it = accounts_.find(a.user_id);
    if (it == accounts_.end()) return false;
    int64_t created = it->second.created_at;
    it->second = a;
    it->second.created_at = created;
    ++revision_;
    return true;
}

std::vector<model::Account> MemoryAccounts::accounts() {
    std::lock_guard lk(mu_);
    std::vector<model::Account> out;
    for (const auto& [id, a] : accounts_) out.push_back(a);
    return out;
}

bool MemoryAccounts::any_admin() {
    std::lock_guard lk(mu_);
    return std::any_of(accounts_.begin(), accounts_.end(),
                       [](const auto& kv) { return kv.second.admin; });
}

void MemoryAccounts::add_sign_in(const model::SignIn& s) {
    std::lock_guard lk(mu_);
    sign_ins_[s.key] = s;
}

std::optional<model::SignIn> MemoryAccounts::sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    auto it = sign_ins_.find(key);
    if (it == sign_ins_.end()) return std::nullopt;
    return it->second;
}

std::vector<model::SignIn> MemoryAccounts::sign_ins(const std::string& user) {
    std::lock_guard lk(mu_);
    std::vector<model::SignIn> out;
    for (const auto& [k, s] : sign_ins_)
        if (s.user_id == user) out.push_back(s);
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        return a.created != b.created ? a.created < b.created : a.id < b.id;
    });
    return out;
}

void MemoryAccounts::seen(const std::string& key, int64_t at) {
    std::lock_guard lk(mu_);
    if (auto it = sign_ins_.find(key); it != sign_ins_.end())
        it->second.last_seen = std::max(it->second.last_seen, at);
}

bool MemoryAccounts::end_sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    if (sign_ins_.erase(key) == 0) return false;
    ++revision_;
    return true;
}

size_t MemoryAccounts::end_sign_ins(const std::string& user, const std::string& keep) {
    std::lock_guard lk(mu_);
    size_t n = std::erase_if(
        sign_ins_, [&](const auto& kv) { return kv.second.user_id == user && kv.first != keep; });
    if (n) ++revision_;
    return n;
}

void MemoryAccounts::add_invite(const model::Invite& i) {
    std::lock_guard lk(mu_);
    invites_[i.code] = i;
}

std::vector<model::Invite> MemoryAccounts::invites() {
    std::lock_guard lk(mu_);
    std::vector<model::Invite> out;
    for (const auto& [c, i] : invites_) out.push_back(i);
    return out;
}

bool MemoryAccounts::drop_invite(const std::string& code) {
    std::lock_guard lk(mu_);
    return invites_.erase(code) > 0;
}

model::Claim MemoryAccounts::claim(const std::string& code, model::Account& a, int64_t now) {
    std::lock_guard lk(mu_);
    auto inv = invites_.end();
    if (!code.empty()) {
        inv = invites_.find(code);
        if (inv == invites_.end() || inv->second.expires <= now) return model::Claim::Gone;
        a.admin = inv->second.admin;
    }
    if (accounts_.count(a.user_id)) return model::Claim::Taken;
    accounts_.emplace(a.user_id, a);
    if (inv != invites_.end()) invites_.erase(inv);
    return model::Claim::Created;
}

bool MemoryAccounts::add_key(const model::ApiKey& k) {
    std::lock_guard lk(mu_);
    return keys_.emplace(k.name, k).second;
}

std::optional<model::ApiKey> MemoryAccounts::key(const std::string& hash) {
    std::lock_guard lk(mu_);
    for (const auto& [name, k] : keys_)
        if (k.hash == hash) return k;
    return std::nullopt;
}

std::vector<model::ApiKey> MemoryAccounts::keys() {
    std::lock_guard lk(mu_);
    std::vector<model::ApiKey> out;
    for (const auto& [name, k] : keys_) out.push_back(k);
    return out;
}

bool MemoryAccounts::revoke_key(const std::string& name) {
    std::lock_guard lk(mu_);
    if (keys_.erase(name) == 0) return false;
    ++revision_;
    return true;
}

void MemoryAccounts::key_used(const std::string& name, int64_t at) {
    std::lock_guard lk(mu_);
    if (auto it = keys_.find(name); it != keys_.end())
        it->second.last_used = std::max(it->second.last_used, at);
}

uint64_t MemoryAccounts::revision() {
    std::lock_guard lk(mu_);
    return revision_;
}

}  // namespace ssechat::store
