// Accounts at the HTTP edge (--accounts): password checks on their own pool, guessing limits,
// the sign-in sessions behind the ssechat_session cookie, and ending the streams of a session
// that ends here, on another node, or by `ssechat user`.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chat/shard.hpp"
#include "model/account.hpp"
#include "store/accounts.hpp"
#include "util/config.hpp"
#include "util/password.hpp"
#include "util/periodic.hpp"
#include "util/pool.hpp"

namespace ssechat::http {

// A request's signed-in session, as a check found it.
struct Signed {
    model::Account account;
    model::SignIn sign_in;
    std::shared_ptr<chat::Credential> credential;  // shared by the session's streams
};

// What a sign-in (or a password check) came to, for the HTTP answer.
struct SignInResult {
    int status = 200;  // 200, 401 wrong, 403 disabled, 429 throttled, 503 busy or store down
    std::string error;
    int retry_after_s = 0;  // 429, 503
    model::Account account;
    std::string secret;  // 200 from sign_in(): the cookie's value
};

inline SignInResult refused(int status, std::string error, int retry_after_s = 0) {
    SignInResult r;
    r.status = status;
    r.error = std::move(error);
    r.retry_after_s = retry_after_s;
    return r;
}

class SignIns {
  public:
    SignIns(const Config& cfg, std::unique_ptr<store::Accounts> accounts,
            std::vector<chat::Shard*> shards);
    ~SignIns();
    // Ends the watcher and the password pool (answering what it holds): before the event
    // loops they post to are destroyed. Idempotent.
    void stop();
    store::Accounts& store() { return *store_; }

    // The session behind a cookie value, or nullopt (unknown, ended, expired, or its account
    // disabled). Cached; a store read only for a session not seen since the last revision.
    // Throws StoreError.
    std::optional<Signed> check(const std::string& secret, int64_t now_ms);

    using Done = std::function<void(SignInResult)>;
    // Checks a password off the event loop and, when right, starts a session. `done` runs on
    // a pool thread. Throttled tries and a full pool are answered at once, without hashing.
    void sign_in(std::string user, std::string password, std::string address,
                 std::string user_agent, Done done);
    // Checks `user`'s password (PUT /me/password), with the same limits.
    void check_password(std::string user, std::string password, std::string address, Done done);
    // Runs `job` on the password pool; false when the pool is full.
    bool hash_later(std::function<void()> job) { return pool_.submit(std::move(job)); }
    // A new session for an account that just proved itself (an invite accepted).
    std::string start_session(const std::string& user, const std::string& user_agent);

    // Ends a session here and ends its streams (other nodes see the revision move).
    void end(const std::string& key);
    // Ends every session of `user` but `keep`.
    void end_all(const std::string& user, const std::string& keep);
    // Changes took effect elsewhere too: forget what the cache holds of `user`.
    void forget_user(const std::string& user);

  private:
    struct Entry {
        Signed s;
        int64_t seen_written = 0;  // last_seen as the store has it
    };
    SignInResult throttled(const std::string& user, const std::string& address, int64_t now);
    void failed(const std::string& user, const std::string& address, int64_t now);
    void verify(const std::string& user, const std::string& password, const std::string& address,
                SignInResult& r);
    // Polled: when the store's revision moves, every live session is checked again and the
    // streams of those that ended end.
    void recheck();
    void revoke_locked(const std::string& key);
    // Caches a session the store just vouched for; under mu_.
    Signed remember_locked(const std::string& key, model::SignIn si, model::Account account);
    void end_streams();

    std::unique_ptr<store::Accounts> store_;
    std::vector<chat::Shard*> shards_;
    work::Pool pool_;
    std::string dummy_;  // hashed at start: an unknown user costs a wrong password's time
    int64_t idle_ms_;

    std::mutex mu_;
    std::unordered_map<std::string, Entry> cache_;  // by key
    uint64_t revision_ = 0;
    // Moves whenever sessions may have ended (here, or the revision moved): a check that read
    // the store before it moved reads again, so that it cannot cache a session that ended
    // while it was reading.
    uint64_t generation_ = 0;

    std::unique_ptr<util::Periodic> watcher_;
};

// The hex SHA-256 of a session secret: what the store keeps.
std::string session_key(const std::string& secret);
// n random bytes, base64url. Throws std::runtime_error when there is no randomness.
std::string random_token(size_t n);

}  // namespace ssechat::http
