// Server configuration: defaults, command line and SSECHAT_* environment variables.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ssechat {

struct Config {
    std::string bind = "127.0.0.1";  // address to listen on
    uint16_t port = 3000;            // 0 picks a free port (tests use it)
    bool port_set = false;           // --port was given (TLS moves the default)
    std::string tls_cert, tls_key;   // PEM files: serve HTTPS when both are set
    bool tls_seal = true;  // TLS 1.3 event streams write their own records (off: OpenSSL does)
    uint16_t redirect_http = 0;                    // with TLS: a clear port answering 308
    unsigned threads = 0;                          // event loops; 0 means one per core
    std::string store = "sqlite";                  // sqlite | memory | redis
    std::string redis = "redis://127.0.0.1:6379";  // the shared store, with --store redis
    size_t redis_log_max = 100000;      // cluster log entries kept for nodes that fall behind
    int redis_replicas = 0;             // WAIT for this many replicas before acknowledging a change
    int redis_wait_ms = 1000;           // and this long at most (then 503)
    unsigned presence_ttl_s = 30;       // a crashed node's users stay online this long (redis)
    std::string data_dir = "./data";    // where the sqlite file lives
    bool fsync_always = false;          // synchronous=FULL: survive power loss, not just a crash
    uint64_t retain = 0;                // newest N messages kept per room; 0 keeps all
    size_t cache = 256;                 // recent messages per room kept in RAM
    size_t legacy_history = 1000;       // messages in the seed API's snapshot array
    size_t history = 50;                // default replay on a fresh native stream
    size_t max_rooms = 100000;          // rooms held in memory; new ones past it get 503
    size_t max_rooms_per_user = 1000;   // memberships per user
    size_t max_replay = 10000;          // most messages one resume replays before a reset
    unsigned heartbeat_s = 15;          // ": ping" interval on idle streams
    unsigned retry_ms = 3000;           // the SSE "retry:" hint
    size_t presence_max = 1000;         // rooms with more users online send no join/leave events
    unsigned coalesce_us = 8000;        // minimum gap between two fan-out writes to a stream
    size_t max_body = 64 * 1024;        // request body limit (413 above it)
    size_t max_message = 4096;          // message bytes after trimming (413 above it)
    size_t max_user = 128;              // user id bytes
    size_t stream_buffer = 1 << 20;     // outbound bytes queued per stream before it is dropped
    size_t stream_sndbuf = 256 * 1024;  // kernel send buffer per stream (SO_SNDBUF); 0: autotune
    size_t max_pending = 100000;        // publishes waiting for the store before 503
    size_t state_cache = 65536;         // message states the writer keeps (two halves)
    unsigned idempotency_ttl_s = 86400;    // how long an Idempotency-Key is remembered
    unsigned request_timeout_s = 10;       // a request must arrive in full within this
    unsigned idle_timeout_s = 30;          // keep-alive connections idle longer are closed
    size_t max_header = 16 * 1024;         // request line plus headers (431 above it)
    size_t max_connections = 16384;        // open TCP connections in total (503 above it)
    size_t max_connections_per_ip = 1024;  // per client address (429 above it); 0: no limit
    uint32_t h2_max_streams = 128;         // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS
    size_t max_streams_per_user = 32;  // open event streams per user (429 above it); 0: no limit
    double publish_rate = 20;          // publishes per second per user; 0: no limit
    double publish_burst = 40;         // publishes a user may save up
    double typing_rate = 2;            // POST .../typing per second per user; 0: no limit
    double typing_burst = 6;
    std::string web_root;    // serve the page from here instead of the built-in copy
    std::string jwt_secret;  // HS256 secret: tokens required when set
    std::string jwt_key;     // PEM public key file for RS256/ES256
    std::vector<std::string> cors_origins = {"*"};  // allowed Origins, or "*"
    std::vector<std::string> moderators;            // anonymous mode: users who may delete any
                                                    // message (anyone can claim these ids)
    std::vector<std::string> admins;  // anonymous mode: users who own every room (the same)
    std::string log_level = "info";   // trace, debug, info, warn, error, off
    bool log_json = false;            // --log-format json
    bool access_log = false;          // one line per request
    std::string metrics_token;        // with tokens on: a bearer token that may read /metrics
    bool metrics_loopback = false;    // with tokens on: loopback clients may read /metrics
    bool accounts = false;            // sign-in with accounts; every route needs a session or token
    bool signup_open = false;         // --signup open: anyone may make an account
    unsigned session_idle_s = 30 * 86400;      // a session unused this long ends
    std::string public_url;                    // the server's own origin (CSRF, invite links)
    std::vector<std::string> allowed_origins;  // other origins whose cookie requests are allowed
    std::string first_admin;           // made at start, when no admin exists, with the password in
                                       // SSECHAT_FIRST_ADMIN_PASSWORD
    std::string first_admin_password;  // from the environment only: never on a command line
    // Outbound requests (webhooks): private targets and http:// allowed (tests), extra CAs,
    // and how many requests one webhook may have in flight.
    bool allow_private_targets = false;
    std::string outbound_ca;
    int webhook_concurrency = 4;
    // Web Push: the VAPID "sub" push services may contact the operator at ("" leaves it out).
    std::string push_contact;
    std::string oidc_issuer;  // single sign-on: the OpenID provider's issuer URL
    std::string oidc_client_id;
    std::string oidc_client_secret;                      // also SSECHAT_OIDC_CLIENT_SECRET
    std::string oidc_user_claim = "preferred_username";  // the account id (falls back to sub)
    bool oidc_auto_create = false;                       // a first sign-in makes the account
    unsigned password_threads = 2;                       // threads that hash passwords
    size_t max_upload = 25 << 20;  // bytes of one uploaded file (413 above it)
    size_t upload_rate = 20;       // uploads per user per minute (429 above it)
    std::string files_dir;         // uploaded files; "" is data_dir/files
    size_t password_queue = 64;    // password checks waiting; more get 503
};

// Outcome of parsing argv: either a config to run, or something to print and an exit code.
struct ParseResult {
    std::optional<Config> config;
    std::string output;  // help/version text or a one-line error
    int exit_code = 0;
};

// Flags win over SSECHAT_* variables, which win over defaults. `env` is a list of NAME=VALUE.
ParseResult parse_config(const std::vector<std::string>& args, const std::vector<std::string>& env);

std::string usage();

// The man page, ssechat(1), in roff, from the same flag table as usage().
std::string man_page();

}  // namespace ssechat
