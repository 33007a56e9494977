// Command line and environment parsing for Config, with strict validation of every value.
#include "util/config.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <map>
#include <thread>

#include "util/build_info.hpp"
#include "util/redis_url.hpp"
#include "util/text.hpp"

namespace ssechat {
namespace {

// "a,b,c" into its user ids; false for an empty one.
bool user_list(const std::string& v, std::vector<std::string>& out) {
    out.clear();
    size_t start = 0;
    while (start <= v.size()) {
        size_t comma = v.find(',', start);
        std::string u = v.substr(start, comma == std::string::npos ? v.npos : comma - start);
        if (u.empty()) return false;
        out.push_back(u);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return true;
}

struct Flag {
    const char* name;
    const char* help;
    std::function<bool(Config&, const std::string&)> set;  // false: the value is invalid
    bool is_switch = false;  // takes no value: --name means on (--name=false turns it off)
};

// A switch: "--name" alone sets it; a value may be given as true/false, 1/0, on/off.
std::function<bool(Config&, const std::string&)> on_off(bool Config::*field) {
    return [=](Config& c, const std::string& v) {
        if (v == "true" || v == "1" || v == "on" || v == "yes") return c.*field = true, true;
        if (v == "false" || v == "0" || v == "off" || v == "no") return c.*field = false, true;
        return false;
    };
}

bool parse_uint(const std::string& s, uint64_t lo, uint64_t hi, uint64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size() && out >= lo && out <= hi;
}

template <typename T>
std::function<bool(Config&, const std::string&)> number(T Config::*field, uint64_t lo,
                                                        uint64_t hi) {
    return [=](Config& c, const std::string& v) {
        uint64_t n;
        if (!parse_uint(v, lo, hi, n)) return false;
        c.*field = static_cast<T>(n);
        return true;
    };
}

// A duration: a number with s, m, h or d (seconds without), within [lo, hi] seconds.
std::function<bool(Config&, const std::string&)> duration(unsigned Config::*field, uint64_t lo,
                                                          uint64_t hi) {
    return [=](Config& c, const std::string& v) {
        auto s = text::parse_duration(v, hi);
        if (!s || *s < lo || *s > hi) return false;
        c.*field = static_cast<unsigned>(*s);
        return true;
    };
}

// An origin: scheme://host[:port], nothing after it.
bool origin_ok(const std::string& o) {
    auto p = o.find("://");
    if (p == std::string::npos || p == 0) return false;
    std::string scheme = o.substr(0, p);
    if (scheme != "http" && scheme != "https") return false;
    std::string rest = o.substr(p + 3);
    return !rest.empty() && rest.find_first_of("/?# ") == std::string::npos;
}

// A non-empty string.
std::function<bool(Config&, const std::string&)> text(std::string Config::*field) {
    return [=](Config& c, const std::string& v) {
        if (v.empty()) return false;
        c.*field = v;
        return true;
    };
}

std::function<bool(Config&, const std::string&)> decimal(double Config::*field) {
    return [=](Config& c, const std::string& v) {
        double d;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
        if (ec != std::errc() || p != v.data() + v.size() || d < 0 || d > 1e9) return false;
        c.*field = d;
        return true;
    };
}

const std::vector<Flag>& flags() {
    static const std::vector<Flag> all = {
        {"port", "TCP port (default 3000, 3443 with TLS; 0 picks a free one)",
         [](Config& c, const std::string& v) {
             c.port_set = true;
             return number(&Config::port, 0, 65535)(c, v);
         }},
        {"tls-cert", "PEM certificate chain: serve HTTPS (with --tls-key); SIGHUP reloads it",
         text(&Config::tls_cert)},
        {"tls-key", "PEM private key of --tls-cert", text(&Config::tls_key)},
        {"tls-seal",
         "on (default): TLS 1.3 event streams seal their own records and free OpenSSL's "
         "connection object (about 10 KB each); off: OpenSSL writes every stream",
         on_off(&Config::tls_seal)},
        {"redirect-http", "with TLS, also listen in clear on this port and answer 308 to https",
         number(&Config::redirect_http, 1, 65535)},
        {"bind", "address to listen on (default 127.0.0.1)", text(&Config::bind)},
        {"threads", "event loops (default: one per core)", number(&Config::threads, 1, 256)},
        {"store", "sqlite (default), memory, or redis (several nodes share rooms)",
         [](Config& c, const std::string& v) {
             if (v != "sqlite" && v != "memory" && v != "redis") return false;
             c.store = v;
             return true;
         }},
        {"redis",
         "with --store redis: redis://[[user]:password@]host[:port][/db], or "
         "redis-sentinel://[[user]:password@]host:port[,host:port...]/master-name[/db]; or up "
         "to 64 such URLs, comma-separated: the shards rooms are spread over, in a fixed order",
         [](Config& c, const std::string& v) {
             std::string why;
             auto list = parse_redis_urls(v, why);
             if (!list || list->size() > 64) return false;
             c.redis = v;
             return true;
         }},
        {"redis-log-max",
         "with --store redis: cluster log entries kept, about (default 100000); a node further "
         "behind re-reads its rooms",
         number(&Config::redis_log_max, 10, 100000000)},
        {"redis-replicas",
         "with --store redis: acknowledge a change only once this many replicas have it "
         "(WAIT; default 0: once the master has it)",
         number(&Config::redis_replicas, 0, 64)},
        {"redis-wait-ms",
         "with --redis-replicas: how long a change waits for its replicas before it is "
         "answered 503 (default 1000)",
         number(&Config::redis_wait_ms, 10, 60000)},
        {"presence-ttl", "with --store redis: seconds a dead node's users stay online (default 30)",
         number(&Config::presence_ttl_s, 3, 3600)},
        {"data", "folder for the sqlite database (default ./data)", text(&Config::data_dir)},
        {"fsync", "'always' survives power loss; 'normal' (default) survives a process crash",
         [](Config& c, const std::string& v) {
             if (v != "always" && v != "normal") return false;
             c.fsync_always = v == "always";
             return true;
         }},
        {"retain", "keep the newest N messages per room (default 0: keep all)",
         number(&Config::retain, 0, UINT64_MAX)},
        {"cache", "recent messages per room held in RAM (default 256)",
         number(&Config::cache, 1, 100000)},
        {"state-cache",
         "messages, over all rooms, whose current state the writer keeps so that a change to "
         "one needs no store read (default 65536; the newest half is always kept)",
         number(&Config::state_cache, 2, 10000000)},
        {"legacy-history", "messages in the /messages snapshot array (default 1000)",
         number(&Config::legacy_history, 1, 100000)},
        {"history", "messages replayed to a fresh native stream (default 50)",
         number(&Config::history, 0, 100000)},
        {"idempotency-ttl",
         "seconds an Idempotency-Key is remembered: a retry within it stores nothing new "
         "(default 86400)",
         number(&Config::idempotency_ttl_s, 1, 30 * 86400)},
        {"max-rooms",
         "rooms held in memory; unused ones make way, 503 only when all are in use (default "
         "100000)",
         number(&Config::max_rooms, 1, 100000000)},
        {"max-rooms-per-user", "rooms one user may join (PUT /me/rooms/{room}; default 1000)",
         number(&Config::max_rooms_per_user, 1, 1000000)},
        {"max-replay",
         "most messages one resume replays; further back gets a reset (default 10000)",
         number(&Config::max_replay, 1, 10000000)},
        {"heartbeat", "seconds between ': ping' comments (default 15)",
         number(&Config::heartbeat_s, 1, 3600)},
        {"retry", "the SSE retry hint in ms (default 3000)", number(&Config::retry_ms, 0, 600000)},
        {"presence-max", "rooms with more users online send no join/leave events (default 1000)",
         number(&Config::presence_max, 0, 10000000)},
        {"coalesce-us",
         "under load, batch fan-out writes this often at most (default 8000; 0: off)",
         number(&Config::coalesce_us, 0, 100000)},
        {"max-body", "request body bytes (default 65536)", number(&Config::max_body, 64, 64 << 20)},
        {"max-message", "message bytes after trimming (default 4096)",
         number(&Config::max_message, 1, 1 << 20)},
        {"stream-buffer", "outbound bytes queued per stream before it is dropped (default 1048576)",
         number(&Config::stream_buffer, 1024, size_t{1} << 32)},
        {"stream-sndbuf", "kernel send buffer per stream in bytes (default 262144; 0: autotune)",
         number(&Config::stream_sndbuf, 0, size_t{1} << 30)},
        {"request-timeout", "seconds for a request to arrive in full (default 10)",
         number(&Config::request_timeout_s, 1, 3600)},
        {"idle-timeout", "seconds an idle keep-alive connection is kept (default 30)",
         number(&Config::idle_timeout_s, 1, 3600)},
        {"max-header", "request line plus header bytes (default 16384)",
         number(&Config::max_header, 1024, 1 << 20)},
        {"max-connections", "open connections in total (default 16384)",
         number(&Config::max_connections, 1, 10000000)},
        {"max-connections-per-ip", "open connections per client address (default 1024; 0: off)",
         number(&Config::max_connections_per_ip, 0, 10000000)},
        {"h2-max-streams", "concurrent streams per HTTP/2 connection (default 128)",
         number(&Config::h2_max_streams, 1, 100000)},
        {"max-streams-per-user", "open event streams per user (default 32; 0: off)",
         number(&Config::max_streams_per_user, 0, 10000000)},
        {"publish-rate", "publishes per second per user (default 20; 0: off)",
         decimal(&Config::publish_rate)},
        {"publish-burst", "publishes a user may save up (default 40)",
         decimal(&Config::publish_burst)},
        {"typing-rate",
         "typing notices per second per user, a limit of their own (default 2; 0: off)",
         decimal(&Config::typing_rate)},
        {"typing-burst", "typing notices a user may save up (default 6)",
         decimal(&Config::typing_burst)},
        {"web-root", "serve the web page from this folder instead of the built-in one",
         text(&Config::web_root)},
        {"jwt-secret", "HS256 secret; every API route then needs a token",
         text(&Config::jwt_secret)},
        {"jwt-key", "PEM public key file (RSA: RS256, EC P-256: ES256); tokens required",
         text(&Config::jwt_key)},
        {"cors-origin", "comma-separated allowed origins (default *)",
         [](Config& c, const std::string& v) {
             c.cors_origins.clear();
             size_t start = 0;
             while (start <= v.size()) {
                 size_t comma = v.find(',', start);
                 std::string o =
                     v.substr(start, comma == std::string::npos ? v.npos : comma - start);
                 if (o.empty()) return false;
                 c.cors_origins.push_back(o);
                 if (comma == std::string::npos) break;
                 start = comma + 1;
             }
             return !c.cors_origins.empty();
         }},
        {"moderators",
         "comma-separated user ids who may delete any message, without tokens (with tokens, "
         "the \"mod\": true claim decides; anonymous ids can be claimed by anyone)",
         [](Config& c, const std::string& v) { return user_list(v, c.moderators); }},
        {"admins",
         "comma-separated user ids who own every room (public and private), without tokens "
         "(with tokens, the \"admin\": true claim decides)",
         [](Config& c, const std::string& v) { return user_list(v, c.admins); }},
        {"log-level", "trace, debug, info (default), warn, error or off",
         [](Config& c, const std::string& v) {
             static const char* ok[] = {"trace", "debug", "info", "warn", "error", "off"};
             if (std::find(std::begin(ok), std::end(ok), v) == std::end(ok)) return false;
             c.log_level = v;
             return true;
         }},
        {"log-format", "text (default) or json, one object per line",
         [](Config& c, const std::string& v) {
             if (v != "text" && v != "json") return false;
             c.log_json = v == "json";
             return true;
         }},
        {"access-log", "log one line per request: method, route, status, bytes, time, user",
         on_off(&Config::access_log), true},
        {"metrics-token", "with tokens on: a bearer token that may read /metrics",
         text(&Config::metrics_token)},
        {"metrics-loopback", "with tokens on: loopback clients may read /metrics without a token",
         on_off(&Config::metrics_loopback), true},
        {"accounts",
         "sign in with accounts: every route needs a session (or a token with --jwt-secret or "
         "--jwt-key); ?id= is refused",
         on_off(&Config::accounts), true},
        {"signup", "with --accounts: who may make an account, invite (default) or open",
         [](Config& c, const std::string& v) {
             if (v != "invite" && v != "open") return false;
             c.signup_open = v == "open";
             return true;
         }},
        {"session-idle", "with --accounts: a session unused this long ends (default 30d)",
         duration(&Config::session_idle_s, 60, 3650u * 86400)},
        {"public-url",
         "the server's own origin, scheme://host[:port] (default http://<bind>:<port>, https "
         "with TLS): signed-in requests from other origins are refused",
         [](Config& c, const std::string& v) {
             std::string o = v;
             while (!o.empty() && o.back() == '/') o.pop_back();
             if (!origin_ok(o)) return false;
             c.public_url = o;
             return true;
         }},
        {"allowed-origins",
         "comma-separated origins besides --public-url whose signed-in requests are allowed",
         [](Config& c, const std::string& v) {
             if (!user_list(v, c.allowed_origins)) return false;
             return std::all_of(c.allowed_origins.begin(), c.allowed_origins.end(), origin_ok);
         }},
        {"first-admin",
         "with --accounts: when no admin account exists, make this one at start, with the "
         "password in SSECHAT_FIRST_ADMIN_PASSWORD",
         text(&Config::first_admin)},
        {"allow-private-targets",
         "let webhooks and Web Push reach loopback, private and link-local addresses and http:// "
         "URLs (for "
         "tests and closed networks; off: https:// to public addresses only)",
         on_off(&Config::allow_private_targets), true},
        {"outbound-ca",
         "PEM file of CA certificates that webhook receivers' and push services' certificates "
         "may chain to, "
         "besides the system's",
         text(&Config::outbound_ca)},
        {"webhook-concurrency", "requests in flight per webhook, at most (default 4)",
         number(&Config::webhook_concurrency, 1, 64)},
        {"push-contact",
         "Web Push: a mailto: or https: URL push services may contact the operator at (the "
         "VAPID sub claim; some services refuse pushes without it)",
         [](Config& c, const std::string& v) {
             if (v.rfind("mailto:", 0) != 0 && v.rfind("https://", 0) != 0) return false;
             c.push_contact = v;
             return true;
         }},
        {"oidc-issuer",
         "with --accounts: single sign-on with this OpenID Connect provider (its issuer URL)",
         [](Config& c, const std::string& v) {
             std::string u = v;
             while (u.size() > 8 && u.back() == '/') u.pop_back();
             if (u.rfind("https://", 0) != 0 && u.rfind("http://", 0) != 0) return false;
             c.oidc_issuer = u;
             return true;
         }},
        {"oidc-client-id", "the client id registered with the OpenID provider",
         text(&Config::oidc_client_id)},
        {"oidc-client-secret",
         "its client secret (better: in SSECHAT_OIDC_CLIENT_SECRET, out of the process list)",
         text(&Config::oidc_client_secret)},
        {"oidc-user-claim",
         "the ID token claim that is the account's id (default preferred_username, else sub)",
         text(&Config::oidc_user_claim)},
        {"oidc-auto-create", "a first single sign-on makes the account (without: an invite first)",
         on_off(&Config::oidc_auto_create), true},
        {"max-upload", "bytes of one uploaded file (default 26214400, 25 MiB)",
         number(&Config::max_upload, 1, size_t{1} << 30)},
        {"upload-rate", "files one user may upload a minute; more get 429 (default 20)",
         number(&Config::upload_rate, 1, 100000)},
        {"files",
         "folder for uploaded files (default DATA/files; with Redis, a folder all nodes share)",
         text(&Config::files_dir)},
        {"password-threads", "threads that check passwords (default 2)",
         number(&Config::password_threads, 1, 64)},
        {"password-queue", "password checks that may wait; more are answered 503 (default 64)",
         number(&Config::password_queue, 1, 100000)},
    };
    return all;
}

std::string env_name(const std::string& flag) {
    std::string n = "SSECHAT_";
    for (char ch : flag) n += ch == '-' ? '_' : static_cast<char>(std::toupper(ch));
    return n;
}

const Flag* find_flag(const std::string& name) {
    for (const auto& f : flags())
        if (name == f.name) return &f;
    return nullptr;
}

}  // namespace

std::string usage() {
    std::string u =
        "usage: ssechat [options]\n"
        "       ssechat token --sub USER --secret S [--ttl 1h] [--rooms a,b]\n"
        "       ssechat user add|passwd|disable|enable|list|invite ... (ssechat user --help)\n"
        "       ssechat apikey create|list|revoke ... (ssechat apikey --help)\n"
        "       ssechat webhook create|list|show|update|delete ... (ssechat webhook --help)\n"
        "       ssechat redis reshard --from LIST --to LIST (ssechat redis --help)\n"
        "A Server-Sent Events chat server.\n\n"
        "commands:\n"
        "  token                   print a signed HS256 token for testing (ssechat token --help)\n"
        "  user                    manage accounts on the store (ssechat user --help)\n"
        "  apikey                  manage server API keys on the store (ssechat apikey --help)\n"
        "  webhook                 manage webhooks on the store (ssechat webhook --help)\n"
        "  redis                   move rooms between Redis shard lists (ssechat redis --help)\n"
        "\noptions (each also as SSECHAT_NAME in the environment):\n";
    for (const auto& f : flags()) {
        std::string left = std::string("  --") + f.name + (f.is_switch ? "" : " VALUE");
        // A long name gets its text on the next line instead of running into it.
        if (left.size() + 2 > 26)
            left += "\n" + std::string(26, ' ');
        else
            left.resize(26, ' ');
        u += left + f.help + "\n";
    }
    u += "  --help                  this text\n  --version               print the version and "
         "commit\n";
    return u;
}

namespace {
// roff treats a leading '.' or '\'' as a request and '\\' as an escape.
std::string roff(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == '\\')
            out += "\\e";
        else if (c == '-')
            out += "\\-";
        else
            out += c;
    }
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
    return out;
}
}  // namespace

std::string man_page() {
    std::string m = ".TH SSECHAT 1 \"\" \"ssechat " + std::string(build::version) +
                    "\" \"User Commands\"\n"
                    ".SH NAME\nssechat \\- a chat server over Server\\-Sent Events\n"
                    ".SH SYNOPSIS\n.B ssechat\n[\\fIoptions\\fR]\n.br\n.B ssechat token\n"
                    "\\-\\-sub \\fIUSER\\fR \\-\\-secret \\fIS\\fR [\\-\\-ttl \\fI1h\\fR] "
                    "[\\-\\-rooms \\fIa,b\\fR]\n"
                    ".SH DESCRIPTION\nssechat serves chat rooms to browsers and other clients over "
                    "Server\\-Sent Events, with history in SQLite (or Redis, for several nodes), "
                    "resume by Last\\-Event\\-ID, presence and JWT authentication. Open "
                    "http://localhost:3000/ for its chat page.\n"
                    ".SH OPTIONS\nEvery option can also be set as an environment variable "
                    "SSECHAT_\\fINAME\\fR (\\-\\-max\\-body is SSECHAT_MAX_BODY); options "
                    "win.\n";
    for (const auto& f : flags()) {
        m += ".TP\n.B \\-\\-" + roff(f.name) + (f.is_switch ? "" : " \\fIVALUE\\fR") + "\n";
        m += roff(f.help) + "\n";
    }
    m += ".TP\n.B \\-\\-help\nPrint the options and exit.\n"
         ".TP\n.B \\-\\-version\nPrint the version and commit and exit.\n"
         ".SH SIGNALS\nSIGINT and SIGTERM stop accepting, end the streams, commit what is "
         "pending, write the answers still owed, and exit 0. SIGHUP reloads the TLS "
         "certificate and key (the old ones stay when the new files cannot be used).\n"
         ".SH EXIT STATUS\n0 after a clean stop; 1 when startup fails (a port in use, a "
         "database that cannot be opened); 2 for a bad option.\n"
         ".SH FILES\n.TP\n.I /var/lib/ssechat/ssechat.db\nThe database of the packaged "
         "service (its \\-\\-data folder).\n"
         ".SH SEE ALSO\nThe README and docs/ARCHITECTURE.md of the source tree.\n";
    return m;
}

ParseResult parse_config(const std::vector<std::string>& args,
                         const std::vector<std::string>& env) {
    Config c;
    ParseResult r;
    for (const auto& kv : env) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || kv.rfind("SSECHAT_", 0) != 0) continue;
        std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (key == "SSECHAT_FIRST_ADMIN_PASSWORD") {
            c.first_admin_password = value;
            continue;
        }
        const Flag* f = nullptr;
        for (const auto& cand : flags())
            if (env_name(cand.name) == key) f = &cand;
        if (!f) continue;  // other SSECHAT_ variables may belong to tools or tests
        if (!f->set(c, value)) {
            r.output = "ssechat: invalid value '" + value + "' for " + key;
            r.exit_code = 2;
            return r;
        }
    }
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--help" || a == "-h") {
            r.output = usage();
            return r;
        }
        if (a == "--man") {  // the build writes ssechat.1 with it
            r.output = man_page();
            return r;
        }
        if (a == "--version") {
            r.output = std::string("ssechat ") + build::version + " (commit " + build::commit + ")";
            return r;
        }
        if (a.rfind("--", 0) != 0) {
            r.output = "ssechat: unexpected argument '" + a + "' (try --help)";
            r.exit_code = 2;
            return r;
        }
        std::string name = a.substr(2), value;
        bool inline_value = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name = name.substr(0, eq);
            inline_value = true;
        }
        const Flag* f = find_flag(name);
        if (!f) {
            r.output = "ssechat: unknown option '--" + name + "' (try --help)";
            r.exit_code = 2;
            return r;
        }
        if (!inline_value && f->is_switch) {
            value = "true";
        } else if (!inline_value) {
            if (i + 1 >= args.size()) {
                r.output = "ssechat: option '--" + name + "' needs a value";
                r.exit_code = 2;
                return r;
            }
            value = args[++i];
        }
        if (!f->set(c, value)) {
            r.output = "ssechat: invalid value '" + value + "' for --" + name;
            r.exit_code = 2;
            return r;
        }
    }
    if (c.threads == 0) c.threads = std::max(1u, std::thread::hardware_concurrency());
    if (!c.oidc_issuer.empty() &&
        (!c.accounts || c.oidc_client_id.empty() || c.oidc_client_secret.empty())) {
        r.output =
            "ssechat: --oidc-issuer needs --accounts, --oidc-client-id and a client secret "
            "(--oidc-client-secret or SSECHAT_OIDC_CLIENT_SECRET)";
        r.exit_code = 2;
        return r;
    }
    if (!c.first_admin.empty() && (!c.accounts || c.first_admin_password.empty())) {
        r.output =
            "ssechat: --first-admin needs --accounts and the password in "
            "SSECHAT_FIRST_ADMIN_PASSWORD";
        r.exit_code = 2;
        return r;
    }
    if (!c.jwt_secret.empty() && !c.jwt_key.empty()) {
        r.output = "ssechat: use --jwt-secret or --jwt-key, not both";
        r.exit_code = 2;
        return r;
    }
    if (c.tls_cert.empty() != c.tls_key.empty()) {
        r.output = "ssechat: --tls-cert and --tls-key go together";
        r.exit_code = 2;
        return r;
    }
    if (c.redirect_http && c.tls_cert.empty()) {
        r.output = "ssechat: --redirect-http needs --tls-cert and --tls-key";
        r.exit_code = 2;
        return r;
    }
    if (!c.tls_cert.empty() && !c.port_set) c.port = 3443;
    r.config = c;
    return r;
}

}  // namespace ssechat
