#include "store/sqlite/sqlite_accounts.hpp"

#include <sqlite3.h>

#include <filesystem>

namespace ssechat::store {

namespace {

// Created when missing: a database from an earlier release gains them in place, and so does
// one that `ssechat user` opens before any server has.
constexpr const char* kTables = R"sql(
CREATE TABLE IF NOT EXISTS accounts(
    user_id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    hash TEXT NOT NULL DEFAULT '',
    admin INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sign_ins(
    key TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    created INTEGER NOT NULL,
    last_seen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sign_ins_user ON sign_ins(user_id);
CREATE TABLE IF NOT EXISTS invites(
    code TEXT PRIMARY KEY,
    admin INTEGER NOT NULL DEFAULT 0,
    expires INTEGER NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys(
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    scopes INTEGER NOT NULL,
    user_id TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS auth_revision(one INTEGER PRIMARY KEY CHECK(one = 1), n INTEGER);
INSERT OR IGNORE INTO auth_revision VALUES(1, 0);
)sql";

std::string text_of(sqlite3_stmt* s, int i) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

model::Account account_of(sqlite3_stmt* s) {
    model::Account a;
    a.user_id = text_of(s, 0);
    a.display_name = text_of(s, 1);
    a.hash = text_of(s, 2);
    a.admin = sqlite3_column_int(s, 3) != 0;
    a.disabled = sqlite3_column_int(s, 4) != 0;
    a.created_at = sqlite3_column_int64(s, 5);
    return a;
}

model::SignIn sign_in_of(sqlite3_stmt* s) {
    model::SignIn x;
    x.key = text_of(s, 0);
    x.id = text_of(s, 1);
    x.user_id = text_of(s, 2);
    x.user_agent = text_of(s, 3);
    x.created = sqlite3_column_int64(s, 4);
    x.last_seen = sqlite3_column_int64(s, 5);
    return x;
}

constexpr const char* kKeyColumns = "name,hash,scopes,user_id,created_by,created_at,last_used";

model::ApiKey key_of(sqlite3_stmt* s) {
    model::ApiKey k;
    k.name = text_of(s, 0);
    k.hash = text_of(s, 1);
    k.scopes = static_cast<model::KeyScopes>(sqlite3_column_int(s, 2) & model::kEveryScope);
    k.user = text_of(s, 3);
    k.created_by = text_of(s, 4);
    k.created_at = sqlite3_column_int64(s, 5);
    k.last_used = sqlite3_column_int64(s, 6);
    return k;
}

}  // namespace

SqliteAccounts::SqliteAccounts(const std::string& dir) : db_(dir) {
    db_.exec(kTables);
}

SqliteAccounts::~SqliteAccounts() = default;

void SqliteAccounts::bump() {
    Stmt(db_, "UPDATE auth_revision SET n = n + 1").step();
}

std::optional<model::Account> SqliteAccounts::account(const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT user_id,display_name,hash,admin,disabled,created_at FROM accounts WHERE "
           "user_id=?");
    s.text(1, user);
    if (!s.step()) return std::nullopt;
    return account_of(s.get());
}

bool SqliteAccounts::add_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT OR IGNORE INTO accounts(user_id,display_name,hash,admin,disabled,created_at) "
           "VALUES(?,?,?,?,?,?)");
    s.text(1, a.user_id).text(2, a.display_name).text(3, a.hash);
    s.num(4, a.admin).num(5, a.disabled).num(6, a.created_at).step();
    return db_.changes() > 0;
}

bool SqliteAccounts::update_account(const model::Account& a) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        Stmt s(db_, "UPDATE accounts SET display_name=?,hash=?,admin=?,disabled=? WHERE user_id=?");
        s.text(1, a.display_name).text(2, a.hash).num(3, a.admin).num(4, a.disabled);
        s.text(5, a.user_id).step();
        bool found = db_.changes() > 0;
        if (found) bump();
        return found;
    });
}

std::vector<model::Account> SqliteAccounts::accounts() {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT user_id,display_name,hash,admin,disabled,created_at FROM accounts ORDER BY "
           "user_id");
    std::vector<model::Account> out;
    while (s.step()) out.push_back(account_of(s.get()));
    return out;
}

bool SqliteAccounts::any_admin() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT 1 FROM accounts WHERE admin=1 LIMIT 1");
    return s.step();
}

void SqliteAccounts::add_sign_in(const model::SignIn& x) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "INSERT INTO sign_ins(key,id,user_id,user_agent,created,last_seen) "
           "VALUES(?,?,?,?,?,?)");
    s.text(1, x.key).text(2, x.id).text(3, x.user_id).text(4, x.user_agent);
    s.num(5, x.created).num(6, x.last_seen).step();
}

std::optional<model::SignIn> SqliteAccounts::sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT key,id,user_id,user_agent,created,last_seen FROM sign_ins WHERE key=?");
    s.text(1, key);
    if (!s.step()) return std::nullopt;
    return sign_in_of(s.get());
}

std::vector<model::SignIn> SqliteAccounts::sign_ins(const std::string& user) {
    std::lock_guard lk(mu_);
    Stmt s(db_,
           "SELECT key,id,user_id,user_agent,created,last_seen FROM sign_ins WHERE user_id=? "
           "ORDER BY created,id");
    s.text(1, user);
    std::vector<model::SignIn> out;
    while (s.step()) out.push_back(sign_in_of(s.get()));
    return out;
}

void SqliteAccounts::seen(const std::string& key, int64_t at) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE sign_ins SET last_seen=max(last_seen,?) WHERE key=?")
        .num(1, at)
        .text(2, key)
        .step();
}

bool SqliteAccounts::end_sign_in(const std::string& key) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        Stmt(db_, "DELETE FROM sign_ins WHERE key=?").text(1, key).step();
        bool found = db_.changes() > 0;
        if (found) bump();
        return found;
    });
}

size_t SqliteAccounts::end_sign_ins(const std::string& user, const std::string& keep) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        Stmt(db_, "DELETE FROM sign_ins WHERE user_id=? AND key<>?")
            .text(1, user)
            .text(2, keep)
            .step();
        auto n = static_cast<size_t>(db_.changes());
        if (n) bump();
        return n;
    });
}

void SqliteAccounts::add_invite(const model::Invite& i) {
    std::lock_guard lk(mu_);
    Stmt s(db_, "INSERT INTO invites(code,admin,expires,created_by,created_at) VALUES(?,?,?,?,?)");
    s.text(1, i.code).num(2, i.admin).num(3, i.expires).text(4, i.created_by);
    s.num(5, i.created_at).step();
}

std::vector<model::Invite> SqliteAccounts::invites() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT code,admin,expires,created_by,created_at FROM invites ORDER BY code");
    std::vector<model::Invite> out;
    while (s.step()) {
        model::Invite i;
        i.code = text_of(s.get(), 0);
        i.admin = sqlite3_column_int(s.get(), 1) != 0;
        i.expires = sqlite3_column_int64(s.get(), 2);
        i.created_by = text_of(s.get(), 3);
        i.created_at = sqlite3_column_int64(s.get(), 4);
        out.push_back(std::move(i));
    }
    return out;
}

bool SqliteAccounts::drop_invite(const std::string& code) {
    std::lock_guard lk(mu_);
    Stmt(db_, "DELETE FROM invites WHERE code=?").text(1, code).step();
    return db_.changes() > 0;
}

model::Claim SqliteAccounts::claim(const std::string& code, model::Account& a, int64_t now) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        if (!code.empty()) {
            Stmt s(db_, "SELECT admin FROM invites WHERE code=? AND expires>?");
            s.text(1, code).num(2, now);
            if (!s.step()) return model::Claim::Gone;
            a.admin = sqlite3_column_int(s.get(), 0) != 0;
        }
        Stmt add(db_,
                 "INSERT OR IGNORE INTO accounts(user_id,display_name,hash,admin,disabled,"
                 "created_at) VALUES(?,?,?,?,0,?)");
        add.text(1, a.user_id).text(2, a.display_name).text(3, a.hash);
        add.num(4, a.admin).num(5, a.created_at).step();
        if (db_.changes() == 0) return model::Claim::Taken;
        if (!code.empty()) Stmt(db_, "DELETE FROM invites WHERE code=?").text(1, code).step();
        return model::Claim::Created;
    });
}

bool SqliteAccounts::add_key(const model::ApiKey& k) {
    std::lock_guard lk(mu_);
    // A name taken is false; a hash taken (2^-256) would be a constraint error, as it should.
    Stmt s(db_, (std::string("INSERT OR IGNORE INTO api_keys(") + kKeyColumns +
                 ") SELECT ?,?,?,?,?,?,? WHERE NOT EXISTS (SELECT 1 FROM api_keys WHERE name=?)")
                    .c_str());
    s.text(1, k.name).text(2, k.hash).num(3, k.scopes).text(4, k.user).text(5, k.created_by);
    s.num(6, k.created_at).num(7, k.last_used).text(8, k.name).step();
    return db_.changes() > 0;
}

std::optional<model::ApiKey> SqliteAccounts::key(const std::string& hash) {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE hash=?").c_str());
    s.text(1, hash);
    if (!s.step()) return std::nullopt;
    return key_of(s.get());
}

std::vector<model::ApiKey> SqliteAccounts::keys() {
    std::lock_guard lk(mu_);
    Stmt s(db_, (std::string("SELECT ") + kKeyColumns + " FROM api_keys ORDER BY name").c_str());
    std::vector<model::ApiKey> out;
    while (s.step()) out.push_back(key_of(s.get()));
    return out;
}

bool SqliteAccounts::revoke_key(const std::string& name) {
    std::lock_guard lk(mu_);
    return db_.transaction([&] {
        Stmt(db_, "DELETE FROM api_keys WHERE name=?").text(1, name).step();
        bool found = db_.changes() > 0;
        if (found) bump();
        return found;
    });
}

void SqliteAccounts::key_used(const std::string& name, int64_t at) {
    std::lock_guard lk(mu_);
    Stmt(db_, "UPDATE api_keys SET last_used=max(last_used,?) WHERE name=?")
        .num(1, at)
        .text(2, name)
        .step();
}

uint64_t SqliteAccounts::revision() {
    std::lock_guard lk(mu_);
    Stmt s(db_, "SELECT n FROM auth_revision");
    return s.step() ? static_cast<uint64_t>(sqlite3_column_int64(s.get(), 0)) : 0;
}

}  // namespace ssechat::store
