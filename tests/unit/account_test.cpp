// Accounts below HTTP: the password and name rules, Argon2id hashes, the guessing windows,
// and the account stores' atomic steps (memory and SQLite here; Redis in the integration
// tests, against a real redis-server).
#include "model/account.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "store/memory/memory_accounts.hpp"
#include "store/sqlite/sqlite_accounts.hpp"
#include "util/password.hpp"
#include "util/pool.hpp"

using namespace ssechat;

TEST(AccountRules, PasswordsAreTenCharactersToAKibibyte) {
    EXPECT_NE(model::password_problem("short"), "");
    EXPECT_NE(model::password_problem("123456789"), "");
    EXPECT_EQ(model::password_problem("1234567890"), "");
    // Characters, not bytes: ten letters of another script are ten.
    EXPECT_EQ(model::password_problem("ääääääääää"), "");
    EXPECT_NE(model::password_problem("äääää"), "") << "ten bytes, five characters";
    EXPECT_EQ(model::password_problem(std::string(1024, 'x')), "");
    EXPECT_NE(model::password_problem(std::string(1025, 'x')), "");
    EXPECT_NE(model::password_problem("\xff\xfe long enough"), "") << "not UTF-8";
}

TEST(AccountRules, DisplayNamesArePrintableAndShort) {
    EXPECT_EQ(model::display_name_problem("Alice Ä"), "");
    EXPECT_EQ(model::display_name_problem(""), "") << "empty: shown as the id";
    EXPECT_NE(model::display_name_problem("a\nb"), "");
    EXPECT_NE(model::display_name_problem("   "), "");
    EXPECT_NE(model::display_name_problem(std::string(101, 'x')), "");
}

TEST(Passwords, Argon2idHashesVerifyOnlyTheirPassword) {
    std::string h = password::hash("correct horse battery");
    EXPECT_EQ(h.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << h;
    EXPECT_TRUE(password::verify(h, "correct horse battery"));
    EXPECT_FALSE(password::verify(h, "correct horse batterx"));
    EXPECT_NE(password::hash("correct horse battery"), h) << "a fresh salt each time";
    EXPECT_FALSE(password::verify("", "x"));
    EXPECT_FALSE(password::verify("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA", "x"));
    EXPECT_FALSE(password::verify("$argon2id$garbage", "x"));
}

TEST(Passwords, APoolRefusesWorkPastItsQueue) {
    work::Pool pool(1, 2);
    std::atomic<bool> go{false};
    std::atomic<int> ran{0};
    auto job = [&] {
        while (!go) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        ++ran;
    };
    ASSERT_TRUE(pool.submit(job));
    // The first may be running already; two more fill the queue, and then it is full.
    while (pool.queued() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(pool.submit(job));
    EXPECT_TRUE(pool.submit(job));
    EXPECT_FALSE(pool.submit(job));
    go = true;
    pool.stop();
    EXPECT_EQ(ran, 3) << "what was queued ran before stop() returned";
    EXPECT_FALSE(pool.submit(job));
}

TEST(Failures, AFixedWindowFromTheFirstFailure) {
    store::LocalFailures f;
    int64_t retry = 0;
    EXPECT_EQ(f.count("k", false, 1000, 60000, retry), 0);
    EXPECT_EQ(f.count("k", true, 1000, 60000, retry), 1);
    EXPECT_EQ(retry, 60000);
    EXPECT_EQ(f.count("k", true, 31000, 60000, retry), 2);
    EXPECT_EQ(retry, 30000) << "the window does not move with later failures";
    EXPECT_EQ(f.count("k", false, 61000, 60000, retry), 0) << "ended";
    EXPECT_EQ(f.count("other", false, 31000, 60000, retry), 0);
}

namespace {

// The same steps against each account store.
void conformance(store::Accounts& s) {
    model::Account a;
    a.user_id = "alice";
    a.display_name = "Alice";
    a.hash = "$argon2id$x";
    a.created_at = 5;
    EXPECT_FALSE(s.any_admin());
    EXPECT_TRUE(s.add_account(a));
    EXPECT_FALSE(s.add_account(a)) << "taken";
    auto got = s.account("alice");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->display_name, "Alice");
    EXPECT_EQ(got->created_at, 5);
    EXPECT_FALSE(s.account("bob"));

    uint64_t r0 = s.revision();
    a.disabled = true;
    a.admin = true;
    a.created_at = 99;  // not written by an update
    EXPECT_TRUE(s.update_account(a));
    EXPECT_GT(s.revision(), r0) << "a changed account moves the revision";
    EXPECT_TRUE(s.account("alice")->disabled);
    EXPECT_EQ(s.account("alice")->created_at, 5);
    EXPECT_TRUE(s.any_admin());
    model::Account ghost;
    ghost.user_id = "ghost";
    EXPECT_FALSE(s.update_account(ghost));

    model::SignIn one{"k1", "id1", "alice", "ua", 10, 10}, two{"k2", "id2", "alice", "ua2", 20, 20};
    s.add_sign_in(one);
    s.add_sign_in(two);
    s.seen("k1", 50);
    s.seen("k1", 40);  // never backwards
    EXPECT_EQ(s.sign_in("k1")->last_seen, 50);
    ASSERT_EQ(s.sign_ins("alice").size(), 2u);
    EXPECT_EQ(s.sign_ins("alice")[0].id, "id1");
    uint64_t r1 = s.revision();
    EXPECT_EQ(s.end_sign_ins("alice", "k2"), 1u);
    EXPECT_GT(s.revision(), r1);
    EXPECT_FALSE(s.sign_in("k1"));
    EXPECT_TRUE(s.sign_in("k2"));
    EXPECT_TRUE(s.end_sign_in("k2"));
    EXPECT_FALSE(s.end_sign_in("k2"));

    model::Invite inv{"code1", true, 1000, "alice", 1};
    s.add_invite(inv);
    ASSERT_EQ(s.invites().size(), 1u);
    model::Account carol;
    carol.user_id = "alice";
    EXPECT_EQ(s.claim("code1", carol, 500), model::Claim::Taken);
    EXPECT_EQ(s.invites().size(), 1u) << "a taken id leaves the invite usable";
    carol.user_id = "carol";
    EXPECT_EQ(s.claim("code1", carol, 1000), model::Claim::Gone) << "expired at 1000";
    EXPECT_EQ(s.claim("code1", carol, 500), model::Claim::Created);
    EXPECT_TRUE(carol.admin) << "an admin invite";
    EXPECT_TRUE(s.account("carol")->admin);
    EXPECT_EQ(s.claim("code1", carol, 500), model::Claim::Gone) << "used";
    model::Account dan;
    dan.user_id = "dan";
    EXPECT_EQ(s.claim("", dan, 500), model::Claim::Created) << "an open sign-up";
    EXPECT_FALSE(s.account("dan")->admin);
    s.add_invite({"code2", false, 1000, "alice", 1});
    EXPECT_TRUE(s.drop_invite("code2"));
    EXPECT_FALSE(s.drop_invite("code2"));
    EXPECT_EQ(s.accounts().size(), 3u);
    EXPECT_EQ(s.accounts()[0].user_id, "alice");
}

}  // namespace

TEST(AccountStores, Memory) {
    store::MemoryAccounts s;
    conformance(s);
}

TEST(AccountStores, Sqlite) {
    auto dir = std::filesystem::temp_directory_path() /
               ("ssechat-acc-" + std::to_string(::getpid()) + "-" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    {
        store::SqliteAccounts s(dir.string());
        conformance(s);
    }
    // Opened again: all of it is in the file.
    store::SqliteAccounts again(dir.string());
    EXPECT_EQ(again.accounts().size(), 3u);
    EXPECT_TRUE(again.account("carol")->admin);
    std::filesystem::remove_all(dir);
}
