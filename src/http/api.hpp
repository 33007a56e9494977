// The HTTP API: routes each request to the seed API, the native API, or operations.
#pragma once
#include <memory>
#include <vector>

#include "http/session.hpp"
#include "util/config.hpp"

namespace ssechat::chat {
class Hub;
class Shard;
}  // namespace ssechat::chat

namespace ssechat::http {

class Api {
public:
    Api(const Config& cfg, chat::Hub& hub, std::vector<chat::Shard*> shards);
    const Config& config() const { return cfg_; }

    // Answers through s->respond(), now or after a commit, or turns s into a stream.
    void handle(Request&& req, const std::shared_ptr<Session>& s);

    // {"status":N,"error":"why"} with the status and CORS headers.
    Response error(beast::http::status status, const std::string& why) const;

private:
    chat::Shard& current_shard(const std::shared_ptr<Session>& s);
    void seed_stream(Request& req, const std::shared_ptr<Session>& s);
    void seed_publish(Request& req, const std::shared_ptr<Session>& s);
    void room_route(Request& req, const std::shared_ptr<Session>& s, std::string_view rest);
    void native_stream(Request& req, const std::shared_ptr<Session>& s, const std::string& room);
    void native_publish(Request& req, const std::shared_ptr<Session>& s, const std::string& room);
    void history(Request& req, const std::shared_ptr<Session>& s, const std::string& room);
    void presence(Request& req, const std::shared_ptr<Session>& s, const std::string& room);
    void list_rooms(Request& req, const std::shared_ptr<Session>& s);

    const Config& cfg_;
    chat::Hub& hub_;
    std::vector<chat::Shard*> shards_;
};

}  // namespace ssechat::http
