// Who may see what: private rooms, direct messages, roles, kicks, bans and mutes, on every
// store. A room the caller may not see answers exactly what a room that never existed answers.
#include <gtest/gtest.h>
#include <openssl/hmac.h>
#include <sqlite3.h>

#include <boost/json.hpp>
#include <thread>

#include "harness.hpp"
#include "services.hpp"
#include "util/text.hpp"

using namespace itest;
namespace json = boost::json;

namespace {

constexpr const char* kSecret = "rooms-secret";

// An HS256 token signed here, apart from the server's own code.
std::string token(const std::string& sub, json::object extra = {}) {
    return hs256_token(kSecret, sub, extra);
}

Headers as(const std::string& user, json::object extra = {}) {
    return {{"Authorization", "Bearer " + token(user, std::move(extra))},
            {"Content-Type", "application/json"}};
}

json::object body_of(const Response& r) {
    return json::parse(r.body).as_object();
}

class Access : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        std::vector<std::string> args{"--publish-rate", "0",    "--typing-rate", "0",
                                      "--jwt-secret",   kSecret};
        auto store = store_args(GetParam(), redis_);
        args.insert(args.end(), store.begin(), store.end());
        srv_ = std::make_unique<Server>(args);
    }
    int port() const { return srv_->port(); }
    Response call(const std::string& user, const std::string& method, const std::string& target,
                  const std::string& body = "") {
        return request(port(), method, target, body, as(user));
    }
    // A private room made by `owner`; its id.
    std::string make_private(const std::string& owner, const std::string& name = "Plans") {
        auto r = call(owner, "POST", "/rooms",
                      R"({"visibility":"private","name":")" + name + R"(","topic":"Q3"})");
        EXPECT_EQ(r.status, 201) << r.body;
        return std::string(body_of(r).at("room").as_string());
    }
    std::unique_ptr<RedisServer> redis_;
    std::unique_ptr<Server> srv_;
};

TEST_P(Access, APrivateRoomIsItsMembersAloneAndLooksMissingToEveryoneElse) {
    auto made =
        call("alice", "POST", "/rooms", R"({"visibility":"private","name":"Plans","topic":"Q3"})");
    ASSERT_EQ(made.status, 201) << made.body;
    auto profile = body_of(made);
    std::string room(profile.at("room").as_string());
    EXPECT_EQ(room.size(), 22u) << "128 random bits, base64url";
    EXPECT_EQ(profile.at("visibility").as_string(), "private");
    EXPECT_EQ(profile.at("name").as_string(), "Plans");
    EXPECT_EQ(profile.at("topic").as_string(), "Q3");
    EXPECT_EQ(profile.at("created_by").as_string(), "alice");
    EXPECT_EQ(profile.at("members").as_int64(), 1);
    EXPECT_EQ(profile.at("my_role").as_string(), "owner");
    ASSERT_EQ(
        call("alice", "POST", "/rooms/" + room + "/messages", R"({"message":"secret"})").status,
        201);

    // What a room that was never used answers, byte for byte, is what carol gets for this one.
    auto missing = call("carol", "GET", "/rooms/AAAAAAAAAAAAAAAAAAAAAA");
    ASSERT_EQ(missing.status, 404);
    EXPECT_EQ(missing.body, R"({"status":404,"error":"no such room"})");
    EXPECT_EQ(call("carol", "GET", "/rooms/AAAAAAAAAAAAAAAAAAAAAA/members").body, missing.body);
    const std::string base = "/rooms/" + room;
    struct Case {
        const char* method;
        std::string path;
        std::string body;
    } cases[] = {
        {"GET", base, ""},
        {"PATCH", base, R"({"name":"x"})"},
        {"GET", base + "/messages", ""},
        {"POST", base + "/messages", R"({"message":"hi"})"},
        {"GET", base + "/messages/1", ""},
        {"PATCH", base + "/messages/1", R"({"message":"x"})"},
        {"DELETE", base + "/messages/1", ""},
        {"PUT", base + "/messages/1/reactions/%F0%9F%91%8D", ""},
        {"GET", base + "/members", ""},
        {"PUT", base + "/members/carol", ""},
        {"DELETE", base + "/members/alice", ""},
        {"GET", base + "/bans", ""},
        {"PUT", base + "/bans/alice", ""},
        {"PUT", base + "/mutes/alice", ""},
        {"GET", base + "/receipts", ""},
        {"GET", base + "/presence", ""},
        {"POST", base + "/typing", R"({"typing":true})"},
        {"PUT", "/me/rooms/" + room, ""},
        {"PUT", "/me/rooms/" + room + "/read", R"({"id":1})"},
        {"GET", base + "/events", ""},
    };
    for (const auto& k : cases) {
        auto r = call("carol", k.method, k.path, k.body);
        EXPECT_EQ(r.status, 404) << k.method << " " << k.path << ": " << r.body;
        EXPECT_EQ(r.body, missing.body) << k.method << " " << k.path;
    }
    // Nor is it listed, to anyone: a private room is in its members' own rooms only.
    auto list = call("carol", "GET", "/rooms");
    EXPECT_EQ(list.body.find(room), std::string::npos) << list.body;
    EXPECT_EQ(call("alice", "GET", "/rooms").body.find(room), std::string::npos);
    EXPECT_EQ(call("carol", "GET", "/me/rooms").body.find(room), std::string::npos);

    // Added, bob reads and writes at once; his rooms say what it is.
    auto added = call("alice", "PUT", base + "/members/bob");
    ASSERT_EQ(added.status, 200) << added.body;
    EXPECT_EQ(body_of(added).at("user_id").as_string(), "bob");
    EXPECT_EQ(body_of(added).at("role").as_string(), "member");
    EXPECT_GT(body_of(added).at("since").as_int64(), 0);
    auto history = call("bob", "GET", base + "/messages");
    ASSERT_EQ(history.status, 200) << history.body;
    EXPECT_NE(history.body.find("secret"), std::string::npos);
    EXPECT_EQ(call("bob", "POST", base + "/messages", R"({"message":"hi"})").status, 201);
    auto mine = call("bob", "GET", "/me/rooms");
    EXPECT_NE(mine.body.find(R"("kind":"private")"), std::string::npos) << mine.body;
    EXPECT_NE(mine.body.find(R"("title":"Plans")"), std::string::npos) << mine.body;
    auto members = body_of(call("bob", "GET", base + "/members"));
    ASSERT_EQ(members.at("members").as_array().size(), 2u);
    EXPECT_EQ(members.at("members").as_array()[0].at("user_id").as_string(), "alice");
    EXPECT_EQ(members.at("members").as_array()[0].at("role").as_string(), "owner");
    EXPECT_TRUE(members.at("next").is_null());
    auto paged = body_of(call("bob", "GET", base + "/members?limit=1"));
    ASSERT_EQ(paged.at("members").as_array().size(), 1u);
    ASSERT_TRUE(paged.at("next").is_string());
    auto rest = body_of(
        call("bob", "GET",
             base + "/members?limit=1&cursor=" + std::string(paged.at("next").as_string())));
    EXPECT_EQ(rest.at("members").as_array()[0].at("user_id").as_string(), "bob");
    // Joining it from outside is not how one gets in.
    EXPECT_EQ(call("carol", "PUT", "/me/rooms/" + room).status, 404);
    // A member is not a moderator: adding people needs the role, and says so.
    auto refused = call("bob", "PUT", base + "/members/carol");
    EXPECT_EQ(refused.status, 403);
    EXPECT_NE(refused.body.find("moderator"), std::string::npos) << refused.body;
}

TEST_P(Access, RemovingOrBanningEndsTheirStreamsAndTheUserStreamSaysWhy) {
    std::string room = make_private("alice");
    ASSERT_EQ(call("alice", "PUT", "/rooms/" + room + "/members/bob").status, 200);
    SseClient live(port(), "/rooms/" + room + "/events", as("bob"));
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; }));
    SseClient mine(port(), "/me/events", as("bob"));
    ASSERT_TRUE(mine.wait_events(1));
    auto gone = call("alice", "DELETE", "/rooms/" + room + "/members/bob");
    ASSERT_EQ(gone.status, 204) << gone.body;
    EXPECT_TRUE(live.wait_closed(1500ms)) << "the room stream ends within a second";
    ASSERT_TRUE(mine.wait_until([&] {
        for (const auto& e : mine.events)
            if (e.event == "left") return true;
        return false;
    }));
    for (const auto& e : mine.events) {
        if (e.event != "left") continue;
        EXPECT_EQ(json::parse(e.data),
                  json::parse(R"({"room":")" + room + R"(","reason":"removed","by":"alice"})"));
    }
    EXPECT_EQ(call("bob", "GET", "/rooms/" + room + "/messages").status, 404);
    EXPECT_EQ(call("bob", "GET", "/me/rooms").body.find(room), std::string::npos);

    // A ban in a public room: streams end, posting is refused, reading is not.
    ASSERT_EQ(call("alice", "POST", "/rooms", R"({"room":"town","name":"Town"})").status, 201);
    SseClient troll(port(), "/rooms/town/events", as("troll"));
    ASSERT_TRUE(troll.wait_until([&] { return troll.status == 200; }));
    auto ban = call("alice", "PUT", "/rooms/town/bans/troll", R"({"reason":"spam"})");
    ASSERT_EQ(ban.status, 200) << ban.body;
    EXPECT_EQ(body_of(ban).at("by").as_string(), "alice");
    EXPECT_EQ(body_of(ban).at("reason").as_string(), "spam");
    EXPECT_TRUE(body_of(ban).at("until").is_null());
    EXPECT_TRUE(troll.wait_closed(1500ms));
    auto post = call("troll", "POST", "/rooms/town/messages", R"({"message":"x"})");
    EXPECT_EQ(post.status, 403);
    EXPECT_EQ(body_of(post).at("error").as_string(), "banned from this room");
    EXPECT_EQ(call("troll", "PUT", "/me/rooms/town").status, 403);
    EXPECT_EQ(call("troll", "GET", "/rooms/town/messages").status, 200);
    auto bans = body_of(call("alice", "GET", "/rooms/town/bans"));
    ASSERT_EQ(bans.at("bans").as_array().size(), 1u);
    EXPECT_EQ(call("troll", "GET", "/rooms/town/bans").status, 403);
    EXPECT_EQ(call("alice", "DELETE", "/rooms/town/bans/troll").status, 204);
    EXPECT_EQ(call("alice", "DELETE", "/rooms/town/bans/troll").status, 404);
    EXPECT_EQ(call("troll", "POST", "/rooms/town/messages", R"({"message":"sorry"})").status, 201);
    // A ban that lapses lets them back by itself.
    auto soon = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count() +
                300;
    ASSERT_EQ(
        call("alice", "PUT", "/rooms/town/bans/troll", R"({"until":)" + std::to_string(soon) + "}")
            .status,
        200);
    EXPECT_EQ(call("troll", "POST", "/rooms/town/messages", R"({"message":"x"})").status, 403);
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(call("troll", "POST", "/rooms/town/messages", R"({"message":"back"})").status, 201);
}

TEST_P(Access, AMutedUserReadsButCannotSpeak) {
    ASSERT_EQ(call("alice", "POST", "/rooms", R"({"room":"hall"})").status, 201);
    ASSERT_EQ(call("bob", "POST", "/rooms/hall/messages", R"({"message":"mine"})").status, 201);
    auto mute = call("alice", "PUT", "/rooms/hall/mutes/bob");
    ASSERT_EQ(mute.status, 200) << mute.body;
    EXPECT_EQ(body_of(mute).count("reason"), 0u);
    for (auto [method, path, body] : std::vector<std::tuple<std::string, std::string, std::string>>{
             {"POST", "/rooms/hall/messages", R"({"message":"x"})"},
             {"PATCH", "/rooms/hall/messages/1", R"({"message":"x"})"},
             {"PUT", "/rooms/hall/messages/1/reactions/:ok:", ""},
             {"POST", "/rooms/hall/typing", R"({"typing":true})"}}) {
        auto r = call("bob", method, path, body);
        EXPECT_EQ(r.status, 403) << method << " " << path;
        EXPECT_EQ(r.body, R"({"status":403,"error":"muted in this room"})");
    }
    EXPECT_EQ(call("bob", "GET", "/rooms/hall/messages").status, 200);
    EXPECT_EQ(body_of(call("alice", "GET", "/rooms/hall/mutes")).at("mutes").as_array().size(), 1u);
    EXPECT_EQ(call("alice", "DELETE", "/rooms/hall/mutes/bob").status, 204);
    EXPECT_EQ(call("bob", "POST", "/rooms/hall/messages", R"({"message":"ok"})").status, 201);
}

TEST_P(Access, RolesBoundWhoMayDoWhatAndARoomKeepsAnOwner) {
    std::string room = make_private("alice");
    const std::string base = "/rooms/" + room;
    ASSERT_EQ(call("alice", "PUT", base + "/members/mod", R"({"role":"moderator"})").status, 200);
    ASSERT_EQ(call("alice", "PUT", base + "/members/bob").status, 200);
    // A moderator adds and removes members, deletes anyone's message, but does not touch an
    // owner and does not hand out roles.
    EXPECT_EQ(call("mod", "PUT", base + "/members/carol").status, 200);
    auto id_of = [&](const std::string& text) {
        auto r = call("bob", "POST", base + "/messages", R"({"message":")" + text + R"("})");
        EXPECT_EQ(r.status, 201) << r.body;
        return std::to_string(body_of(r).at("id").as_int64());
    };
    std::string oops = id_of("oops"), fine = id_of("fine");
    EXPECT_EQ(call("mod", "DELETE", base + "/messages/" + oops).status, 200);
    EXPECT_EQ(call("carol", "DELETE", base + "/messages/" + fine).status, 403);
    auto up = call("mod", "PUT", base + "/members/carol", R"({"role":"moderator"})");
    EXPECT_EQ(up.status, 403);
    EXPECT_NE(up.body.find("owner role"), std::string::npos) << up.body;
    EXPECT_EQ(call("mod", "PUT", base + "/bans/alice").status, 403);
    EXPECT_EQ(call("mod", "DELETE", base + "/members/alice").status, 403);
    EXPECT_EQ(call("mod", "DELETE", base + "/members/carol").status, 204);
    EXPECT_EQ(call("bob", "PATCH", base, R"({"topic":"x"})").status, 403);
    auto renamed = call("mod", "PATCH", base, R"({"topic":"Q4"})");
    ASSERT_EQ(renamed.status, 200) << renamed.body;
    EXPECT_EQ(body_of(renamed).at("topic").as_string(), "Q4");
    EXPECT_EQ(body_of(renamed).at("name").as_string(), "Plans");
    EXPECT_EQ(call("mod", "PATCH", base, R"({"visibility":"public"})").status, 403);
    // The last owner cannot go, nor stop being owner; once there is another, they can.
    auto stay = call("alice", "DELETE", "/me/rooms/" + room);
    EXPECT_EQ(stay.status, 400) << stay.body;
    EXPECT_NE(stay.body.find("at least one owner"), std::string::npos);
    EXPECT_EQ(call("alice", "PUT", base + "/members/alice", R"({"role":"member"})").status, 400);
    EXPECT_EQ(call("alice", "PUT", base + "/members/bob", R"({"role":"owner"})").status, 200);
    EXPECT_EQ(call("alice", "DELETE", "/me/rooms/" + room).status, 200);
    EXPECT_EQ(call("alice", "GET", base).status, 404);
    EXPECT_EQ(body_of(call("bob", "GET", base)).at("my_role").as_string(), "owner");
    // A server-wide admin owns every room; a server-wide moderator moderates every room.
    json::object admin;
    admin["admin"] = true;
    EXPECT_EQ(request(port(), "GET", base, "", as("root", admin)).status, 200);
    EXPECT_EQ(
        request(port(), "PUT", base + "/members/zed", R"({"role":"owner"})", as("root", admin))
            .status,
        200);
}

TEST_P(Access, ADirectMessageIsOneRoomPerPairWhoeverStartsIt) {
    auto first = call("alice", "PUT", "/me/dms/bob");
    ASSERT_EQ(first.status, 201) << first.body;
    auto a = body_of(first);
    EXPECT_EQ(a.at("kind").as_string(), "dm");
    EXPECT_EQ(a.at("with").as_string(), "bob");
    std::string room(a.at("name").as_string());
    auto back = call("bob", "PUT", "/me/dms/alice");
    ASSERT_EQ(back.status, 200) << back.body;
    EXPECT_EQ(body_of(back).at("name").as_string(), room);
    EXPECT_EQ(body_of(back).at("with").as_string(), "alice");
    EXPECT_EQ(call("alice", "PUT", "/me/dms/bob").status, 200);
    ASSERT_EQ(call("bob", "POST", "/rooms/" + room + "/messages", R"({"message":"psst"})").status,
              201);
    EXPECT_EQ(call("carol", "GET", "/rooms/" + room + "/messages").status, 404);
    // Nobody changes its members, not even its own.
    EXPECT_EQ(call("alice", "PUT", "/rooms/" + room + "/members/carol").status, 403);
    EXPECT_EQ(call("carol", "PUT", "/me/rooms/" + room).status, 404);
    // A name kept for direct messages cannot be taken by posting to it.
    EXPECT_EQ(call("carol", "POST", "/rooms/dm.squat/messages", R"({"message":"x"})").status, 404);
    // Leaving, then coming back, brings the history back.
    EXPECT_EQ(call("alice", "DELETE", "/me/rooms/" + room).status, 200);
    EXPECT_EQ(call("alice", "GET", "/rooms/" + room + "/messages").status, 404);
    ASSERT_EQ(call("alice", "PUT", "/me/dms/bob").status, 200);
    EXPECT_NE(call("alice", "GET", "/rooms/" + room + "/messages").body.find("psst"),
              std::string::npos);
    // Notes to self.
    EXPECT_EQ(body_of(call("alice", "PUT", "/me/dms/alice")).at("with").as_string(), "alice");
    // Someone who takes messages only from people they share a room with.
    auto set = call("dora", "PUT", "/me/settings", R"({"dms":"shared_rooms"})");
    ASSERT_EQ(set.status, 200) << set.body;
    EXPECT_EQ(set.body, R"({"dms":"shared_rooms"})");
    EXPECT_EQ(call("dora", "GET", "/me/settings").body, R"({"dms":"shared_rooms"})");
    auto no = call("carol", "PUT", "/me/dms/dora");
    EXPECT_EQ(no.status, 403);
    EXPECT_EQ(body_of(no).at("error").as_string(),
              "this user accepts messages only from people in a shared room");
    ASSERT_EQ(call("carol", "PUT", "/me/rooms/garden").status, 200);
    ASSERT_EQ(call("dora", "PUT", "/me/rooms/garden").status, 200);
    EXPECT_EQ(call("carol", "PUT", "/me/dms/dora").status, 201);
}

TEST_P(Access, PublicRoomsAreMadeOnceAndBadInputSaysWhy) {
    auto made = call("alice", "POST", "/rooms", R"({"room":"lobby2","name":"Lobby","topic":"hi"})");
    ASSERT_EQ(made.status, 201) << made.body;
    EXPECT_EQ(body_of(made).at("visibility").as_string(), "public");
    EXPECT_EQ(call("bob", "POST", "/rooms", R"({"room":"lobby2"})").status, 409);
    // Implicit rooms are as before: anyone reads and posts, and they are listed.
    ASSERT_EQ(call("bob", "POST", "/rooms/plain/messages", R"({"message":"x"})").status, 201);
    EXPECT_EQ(body_of(call("bob", "GET", "/rooms/plain")).at("visibility").as_string(), "public");
    EXPECT_TRUE(body_of(call("bob", "GET", "/rooms/plain")).at("created_by").is_null());
    EXPECT_EQ(call("bob", "POST", "/rooms", R"({"room":"plain"})").status, 409);
    auto server_named = body_of(call("alice", "POST", "/rooms", R"({"name":"Anon"})"));
    EXPECT_EQ(server_named.at("room").as_string().size(), 22u);
    for (const char* bad : {R"({"visibility":"private","room":"x"})", R"({"visibility":"dm"})",
                            R"({"visibility":"secret"})", R"({"nmae":"typo"})", "[1]",
                            R"({"room":"dm.x"})", R"({"room":"a/b"})", R"({"name":3})"}) {
        auto r = call("alice", "POST", "/rooms", bad);
        EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
        EXPECT_FALSE(body_of(r).at("error").as_string().empty());
    }
    EXPECT_EQ(call("alice", "PUT", "/rooms/lobby2/members/bob", R"({"role":"king"})").status, 400);
    EXPECT_EQ(call("alice", "PUT", "/rooms/lobby2/bans/bob", R"({"until":5})").status, 400);
    EXPECT_EQ(call("alice", "PUT", "/rooms/lobby2/bans/alice").status, 400);
    EXPECT_EQ(call("alice", "GET", "/rooms/lobby2/members?limit=0").status, 400);
}

TEST_P(Access, MakingARoomPrivateEndsTheStreamsOfThoseNotInIt) {
    ASSERT_EQ(call("alice", "POST", "/rooms", R"({"room":"club"})").status, 201);
    ASSERT_EQ(call("alice", "PUT", "/rooms/club/members/bob").status, 200);
    SseClient in(port(), "/rooms/club/events", as("bob"));
    SseClient out(port(), "/rooms/club/events", as("eve"));
    ASSERT_TRUE(in.wait_until([&] { return in.status == 200; }));
    ASSERT_TRUE(out.wait_until([&] { return out.status == 200; }));
    auto p = call("alice", "PATCH", "/rooms/club", R"({"visibility":"private"})");
    ASSERT_EQ(p.status, 200) << p.body;
    EXPECT_EQ(body_of(p).at("visibility").as_string(), "private");
    EXPECT_TRUE(out.wait_closed(1500ms));
    ASSERT_EQ(call("alice", "POST", "/rooms/club/messages", R"({"message":"members only"})").status,
              201);
    EXPECT_TRUE(in.wait_until([&] { return in.body.find("members only") != std::string::npos; }));
    EXPECT_EQ(call("eve", "GET", "/rooms/club/messages").status, 404);
    EXPECT_EQ(call("bob", "PATCH", "/rooms/club", R"({"visibility":"public"})").status, 403);
}

// Changes of membership and of the profile are events of the room's log: streams carry them
// live, and a resume replays them in their place among the messages.
TEST_P(Access, MemberAndRoomChangesAreEventsInTheLog) {
    std::string room = make_private("alice");
    const std::string base = "/rooms/" + room;
    ASSERT_EQ(call("alice", "PUT", base + "/members/bob").status, 200);
    ASSERT_EQ(call("alice", "POST", base + "/messages", R"({"message":"welcome"})").status, 201);
    // From the start: the room made, alice in it, bob added, then the message.
    SseClient all(port(), base + "/events?since=0&presence=0", as("bob"));
    ASSERT_TRUE(all.wait_events(4)) << all.body;
    std::vector<std::string> kinds;
    for (const auto& e : all.events) kinds.push_back(e.event);
    EXPECT_EQ(kinds, (std::vector<std::string>{"room", "member", "member", "message"}));
    auto first = json::parse(all.events[0].data).as_object();
    EXPECT_EQ(first.at("name").as_string(), "Plans");
    EXPECT_EQ(first.at("visibility").as_string(), "private");
    EXPECT_EQ(first.at("by").as_string(), "alice");
    EXPECT_EQ(all.events[0].id, "1");
    auto added = json::parse(all.events[2].data).as_object();
    EXPECT_EQ(added.at("user_id").as_string(), "bob");
    EXPECT_EQ(added.at("action").as_string(), "added");
    EXPECT_EQ(added.at("role").as_string(), "member");
    EXPECT_EQ(added.at("by").as_string(), "alice");
    EXPECT_EQ(added.at("room").as_string(), room);
    EXPECT_EQ(all.events[3].id, "4");
    // Live, on room streams and on the user stream of a member.
    SseClient mine(port(), "/me/events", as("bob"));
    ASSERT_TRUE(mine.wait_events(1));
    ASSERT_EQ(call("alice", "PUT", base + "/members/carol", R"({"role":"moderator"})").status, 200);
    ASSERT_EQ(call("alice", "PUT", base + "/mutes/carol").status, 200);
    ASSERT_EQ(call("alice", "PATCH", base, R"({"topic":"Q4"})").status, 200);
    auto seen = [](const SseClient& c, const std::string& kind, const std::string& has) {
        for (const auto& e : c.events)
            if (e.event == kind && e.data.find(has) != std::string::npos) return true;
        return false;
    };
    EXPECT_TRUE(all.wait_until([&] { return seen(all, "room", R"("topic":"Q4")"); }));
    EXPECT_TRUE(seen(all, "member", R"("action":"added","role":"moderator")"));
    EXPECT_TRUE(seen(all, "member", R"("action":"muted")"));
    EXPECT_TRUE(mine.wait_until([&] { return seen(mine, "room", R"("topic":"Q4")"); }));
    EXPECT_TRUE(seen(mine, "member", R"("action":"muted")"));
    // History stays messages only, and unread counts count messages only.
    auto h = body_of(call("bob", "GET", base + "/messages"));
    ASSERT_EQ(h.at("messages").as_array().size(), 1u);
    // Unless asked: then the records come in their place, each with its kind.
    auto with = body_of(call("bob", "GET", base + "/messages?include=member,room"));
    std::vector<std::string> shown;
    for (const auto& v : with.at("messages").as_array())
        shown.push_back(std::string(v.at("kind").as_string()));
    EXPECT_EQ(shown, (std::vector<std::string>{"room", "member", "member", "message", "member",
                                               "member", "room"}));
    EXPECT_EQ(with.at("messages").as_array()[3].at("message").as_string(), "welcome");
    // Its messages come whole, reactions too, as history shows them.
    ASSERT_EQ(call("bob", "PUT", base + "/messages/4/reactions/:ok:").status, 200);
    auto reacted =
        body_of(call("bob", "GET", base + "/messages?include=member,room&limit=1&after=3"));
    EXPECT_EQ(reacted.at("messages").as_array()[0].at("reactions").as_array()[0].at("emoji"),
              ":ok:");
    auto page = body_of(call("bob", "GET", base + "/messages?include=member,room&limit=2"));
    ASSERT_EQ(page.at("messages").as_array().size(), 2u);
    EXPECT_TRUE(page.at("has_more").as_bool());
    EXPECT_EQ(page.at("messages").as_array()[1].at("kind").as_string(), "room");
    auto older =
        body_of(call("bob", "GET", base + "/messages?include=member,room&limit=3&after=2"));
    ASSERT_EQ(older.at("messages").as_array().size(), 3u);
    EXPECT_EQ(older.at("messages").as_array()[1].at("id").as_int64(), 4);
    EXPECT_EQ(call("bob", "GET", base + "/messages?include=edits").status, 400);
    EXPECT_NE(call("bob", "GET", "/me/rooms").body.find(R"("unread":1)"), std::string::npos);
    // Joining and leaving a public room is one's own list: not recorded there.
    ASSERT_EQ(call("bob", "PUT", "/me/rooms/open").status, 200);
    auto pub = body_of(call("bob", "POST", "/rooms/open/messages", R"({"message":"x"})"));
    EXPECT_EQ(pub.at("id").as_int64(), 1);
}

// A user stream that resumes after being away: a room bob was added to meanwhile comes with
// its history since the addition; a room he was removed from meanwhile brings nothing of what
// was said after.
TEST_P(Access, AResumeAcrossMembershipChangesCarriesWhatTheUserMayRead) {
    std::string kept = make_private("alice", "Kept");
    std::string gone = make_private("alice", "Gone");
    ASSERT_EQ(call("alice", "PUT", "/rooms/" + gone + "/members/bob").status, 200);
    std::string cursor;
    {
        SseClient me(port(), "/me/events", as("bob"));
        ASSERT_TRUE(me.wait_events(1));
        ASSERT_EQ(
            call("alice", "POST", "/rooms/" + gone + "/messages", R"({"message":"g1"})").status,
            201);
        ASSERT_TRUE(me.wait_until([&] { return me.body.find("g1") != std::string::npos; }));
        for (const auto& e : me.events)
            if (e.has_id) cursor = e.id;
    }
    ASSERT_FALSE(cursor.empty());
    ASSERT_EQ(call("alice", "DELETE", "/rooms/" + gone + "/members/bob").status, 204);
    ASSERT_EQ(
        call("alice", "POST", "/rooms/" + gone + "/messages", R"({"message":"after you"})").status,
        201);
    ASSERT_EQ(call("alice", "PUT", "/rooms/" + kept + "/members/bob").status, 200);
    ASSERT_EQ(call("alice", "POST", "/rooms/" + kept + "/messages", R"({"message":"k1"})").status,
              201);
    Headers h = as("bob");
    h.emplace_back("Last-Event-ID", cursor);
    SseClient again(port(), "/me/events", h);
    ASSERT_TRUE(again.wait_until([&] { return again.body.find("k1") != std::string::npos; }))
        << again.body;
    again.drain(300ms);
    EXPECT_EQ(again.body.find("after you"), std::string::npos) << again.body;
    bool joined = false, added = false;
    for (const auto& e : again.events) {
        if (e.event == "joined" && e.data.find(kept) != std::string::npos) joined = true;
        if (e.event == "member" && e.data.find(R"("action":"added")") != std::string::npos &&
            e.data.find(kept) != std::string::npos)
            added = true;
    }
    EXPECT_TRUE(joined) << again.body;
    EXPECT_TRUE(added) << "the record of the addition comes with the room" << again.body;
}

INSTANTIATE_TEST_SUITE_P(Stores, Access, ::testing::Values("memory", "sqlite", "redis", "shards"),
                         [](const auto& info) { return info.param; });

// On two nodes of one Redis: a change made on one holds on the other at once, and a kick or a
// ban made on one ends the user's streams on the other within a second.
TEST(AccessCluster, AKickOrBanOnOneNodeEndsStreamsOnAnother) {
    RedisServer redis;
    std::vector<std::string> args{"--store",        "redis", "--redis",      redis.url(),
                                  "--publish-rate", "0",     "--jwt-secret", kSecret};
    Server a(args), b(args);
    auto made = request(a.port(), "POST", "/rooms", R"({"visibility":"private"})", as("alice"));
    ASSERT_EQ(made.status, 201) << made.body;
    std::string room(body_of(made).at("room").as_string());
    ASSERT_EQ(request(a.port(), "PUT", "/rooms/" + room + "/members/bob", "", as("alice")).status,
              200);
    // Node b loaded nothing of it yet: its first check reads the store.
    EXPECT_EQ(request(b.port(), "GET", "/rooms/" + room + "/messages", "", as("carol")).status,
              404);
    SseClient live(b.port(), "/rooms/" + room + "/events", as("bob"));
    ASSERT_TRUE(live.wait_until([&] { return live.status == 200; })) << live.head;
    SseClient mine(b.port(), "/me/events", as("bob"));
    ASSERT_TRUE(mine.wait_events(1));
    ASSERT_EQ(
        request(a.port(), "DELETE", "/rooms/" + room + "/members/bob", "", as("alice")).status,
        204);
    EXPECT_TRUE(live.wait_closed(1500ms)) << "the room stream on the other node ends";
    EXPECT_TRUE(mine.wait_until([&] {
        for (const auto& e : mine.events)
            if (e.event == "left" && e.data.find(room) != std::string::npos) return true;
        return false;
    }));
    // Loaded on b now: b's copy of the rules changed with a's change.
    EXPECT_EQ(request(b.port(), "GET", "/rooms/" + room + "/messages", "", as("bob")).status, 404);

    ASSERT_EQ(request(a.port(), "POST", "/rooms", R"({"room":"square"})", as("alice")).status, 201);
    SseClient troll(b.port(), "/rooms/square/events", as("troll"));
    ASSERT_TRUE(troll.wait_until([&] { return troll.status == 200; }));
    ASSERT_EQ(request(a.port(), "PUT", "/rooms/square/bans/troll", "", as("alice")).status, 200);
    EXPECT_TRUE(troll.wait_closed(1500ms));
    EXPECT_EQ(request(b.port(), "POST", "/rooms/square/messages", R"({"message":"x"})", as("troll"))
                  .status,
              403);
}

// A database of the previous release (schema 3: memberships without roles) opens and is
// upgraded in place: its rooms are public, its members members, and nothing else changes.
TEST(AccessUpgrade, ADatabaseOfThePreviousReleaseKeepsItsRoomsPublicAndItsMembers) {
    std::string dir = temp_dir();
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir + "/ssechat.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(
            db,
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE rooms (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE messages (room TEXT NOT NULL, id INTEGER NOT NULL, user_id TEXT NOT "
            "NULL, message TEXT NOT NULL, ts INTEGER NOT NULL, kind INTEGER NOT NULL DEFAULT 0, "
            "target INTEGER NOT NULL DEFAULT 0, reply_to INTEGER NOT NULL DEFAULT 0, edited_ts "
            "INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0, removed INTEGER NOT "
            "NULL DEFAULT 0, pos INTEGER, PRIMARY KEY (room, id)) WITHOUT ROWID;"
            "CREATE INDEX messages_only ON messages(room, id) WHERE kind = 0;"
            "CREATE INDEX messages_edits ON messages(room, target) WHERE kind = 1;"
            "CREATE INDEX messages_pos ON messages(room, pos) WHERE pos IS NOT NULL;"
            "CREATE TABLE idempotency (room TEXT NOT NULL, user_id TEXT NOT NULL, key TEXT NOT "
            "NULL, msg_id INTEGER NOT NULL, ts INTEGER NOT NULL, text_hash TEXT NOT NULL, "
            "expires INTEGER NOT NULL, PRIMARY KEY (room, user_id, key)) WITHOUT ROWID;"
            "CREATE TABLE reactions (room TEXT NOT NULL, msg_id INTEGER NOT NULL, emoji TEXT NOT "
            "NULL, user_id TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (room, msg_id, "
            "emoji, user_id)) WITHOUT ROWID;"
            "CREATE TABLE members (user_id TEXT NOT NULL, room TEXT NOT NULL, read INTEGER NOT "
            "NULL, since INTEGER NOT NULL, PRIMARY KEY (user_id, room)) WITHOUT ROWID;"
            "CREATE INDEX members_room ON members(room, user_id);"
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
            "INSERT INTO meta VALUES('epoch','0badc0de'),('pos','1');"
            "INSERT INTO messages(room,id,user_id,message,ts,pos) "
            "VALUES('old',1,'ann','from before',1700000000000,1);"
            "INSERT INTO rooms VALUES('old',1);"
            "INSERT INTO members VALUES('ann','old',1,1);"
            "PRAGMA user_version=3;",
            nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
    Server srv({"--data", dir, "--jwt-secret", kSecret});
    auto profile = request(srv.port(), "GET", "/rooms/old", "", as("zoe"));
    ASSERT_EQ(profile.status, 200) << profile.body;
    EXPECT_EQ(body_of(profile).at("visibility").as_string(), "public");
    EXPECT_EQ(body_of(profile).at("members").as_int64(), 1);
    EXPECT_NE(
        request(srv.port(), "GET", "/rooms/old/messages", "", as("zoe")).body.find("from before"),
        std::string::npos);
    auto mine = request(srv.port(), "GET", "/me/rooms", "", as("ann"));
    EXPECT_NE(mine.body.find(R"("name":"old","last_id":1,"read":1)"), std::string::npos)
        << mine.body;
    auto members = body_of(request(srv.port(), "GET", "/rooms/old/members", "", as("zoe")));
    EXPECT_EQ(members.at("members").as_array()[0].at("role").as_string(), "member");
    // And the new rules work on it.
    json::object admin;
    admin["admin"] = true;
    EXPECT_EQ(request(srv.port(), "PUT", "/rooms/old/members/ann", R"({"role":"owner"})",
                      as("root", admin))
                  .status,
              200);
    EXPECT_EQ(body_of(request(srv.port(), "GET", "/rooms/old", "", as("ann"))).at("my_role"),
              "owner");
}

// The same for Redis: memberships written by the previous release (no roles anywhere) read
// as members of public rooms.
TEST(AccessUpgrade, ARedisOfThePreviousReleaseKeepsItsRoomsPublicAndItsMembers) {
    RedisServer redis;
    redis.cli({"HSET", "ssechat:member:ann", "old", std::string("0\x1f") + "0"});
    redis.cli({"HSET", "ssechat:readers:old", "ann", "0"});
    Server srv({"--store", "redis", "--redis", redis.url(), "--jwt-secret", kSecret});
    auto profile = request(srv.port(), "GET", "/rooms/old", "", as("zoe"));
    ASSERT_EQ(profile.status, 200) << profile.body;
    EXPECT_EQ(body_of(profile).at("visibility").as_string(), "public");
    EXPECT_EQ(body_of(profile).at("members").as_int64(), 1);
    auto members = body_of(request(srv.port(), "GET", "/rooms/old/members", "", as("zoe")));
    EXPECT_EQ(members.at("members").as_array()[0].at("role").as_string(), "member");
    auto mine = request(srv.port(), "GET", "/me/rooms", "", as("ann"));
    EXPECT_NE(mine.body.find(R"("name":"old")"), std::string::npos) << mine.body;
    EXPECT_NE(mine.body.find(R"("kind":"public")"), std::string::npos) << mine.body;
    EXPECT_EQ(
        request(srv.port(), "POST", "/rooms/old/messages", R"({"message":"hi"})", as("ann")).status,
        201);
}

// Two owners leaving at once through two nodes: each node's copy of the room says there is
// another owner, so only the store, deciding in one step, can keep the last one.
TEST(AccessCluster, TwoOwnersLeavingAtOnceOnTwoNodesLeaveOne) {
    RedisServer redis;
    std::vector<std::string> args{"--store",        "redis", "--redis",      redis.url(),
                                  "--publish-rate", "0",     "--jwt-secret", kSecret};
    Server a(args), b(args);
    for (int round = 0; round < 10; ++round) {
        auto made = request(a.port(), "POST", "/rooms", R"({"visibility":"private"})", as("alice"));
        ASSERT_EQ(made.status, 201) << made.body;
        std::string room(body_of(made).at("room").as_string());
        ASSERT_EQ(request(a.port(), "PUT", "/rooms/" + room + "/members/bob", R"({"role":"owner"})",
                          as("alice"))
                      .status,
                  200);
        // Both nodes have the room loaded, with both owners in it.
        for (int port : {a.port(), b.port()})
            ASSERT_EQ(request(port, "GET", "/rooms/" + room + "/members", "", as("alice")).status,
                      200);
        std::this_thread::sleep_for(50ms);  // b has heard of bob's role from the feed
        int sa = 0, sb = 0;
        std::thread t1(
            [&] { sa = request(a.port(), "DELETE", "/me/rooms/" + room, "", as("alice")).status; });
        std::thread t2(
            [&] { sb = request(b.port(), "DELETE", "/me/rooms/" + room, "", as("bob")).status; });
        t1.join();
        t2.join();
        EXPECT_FALSE(sa == 200 && sb == 200) << "round " << round << ": both owners left";
        EXPECT_TRUE(sa == 200 || sb == 200) << "round " << round << ": " << sa << " " << sb;
    }
}

// Without tokens anyone can claim any id: nothing private can be made, and the server says so.
TEST(AccessAnonymous, PrivateRoomsAndDirectMessagesNeedSignedInUsers) {
    Server srv({"--store", "memory"});
    auto r = post_json(srv.port(), "/rooms?id=alice", R"({"visibility":"private"})");
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("signed-in"), std::string::npos) << r.body;
    auto dm = request(srv.port(), "PUT", "/me/dms/bob?id=alice");
    EXPECT_EQ(dm.status, 400);
    EXPECT_NE(dm.body.find("signed-in"), std::string::npos) << dm.body;
    // Public rooms work as they did; --admins own every room.
    EXPECT_EQ(post_json(srv.port(), "/rooms?id=alice", R"({"room":"open"})").status, 201);
}

}  // namespace
