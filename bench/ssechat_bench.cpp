// ssechat-bench: a single-threaded epoll load generator for any SSE server. It opens
// subscriber streams, publishes over keep-alive connections, and measures delivery latency,
// throughput, loss and duplicates, and (given --pid) the server's CPU and memory. With --tls
// every connection is TLS (no verification: loopback only); with --h2 K the subscribers share
// HTTP/2 connections, K streams each (h2 by ALPN over TLS, else h2c with prior knowledge).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

uint64_t now_us() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

struct Options {
    std::string host = "127.0.0.1";
    std::vector<int> ports = {3000};  // several: connection i goes to ports[i % n] (a cluster)
    // Join/leave events are off: Nchan has none, and they are not what fan-out measures.
    std::string sub_path = "/rooms/{room}/events?history=0&presence=0&id=s{sub}";
    std::string pub_path = "/rooms/{room}/messages?id=bench";
    std::string body = R"({"message":"{marker}"})";
    std::string content_type = "application/json";
    std::string method = "POST";  // PATCH and PUT measure edits and reactions
    size_t targets = 1;           // {n} in the publish target cycles through 1..targets
    size_t subscribers = 100;
    size_t ramp = 5000;  // new subscriber connections per second
    size_t rooms = 1;
    size_t messages = 1000;
    size_t connections = 4;     // publisher connections, one request in flight each
    double rate = 0;            // messages per second; 0 is closed-loop
    double max_seconds = 60;    // hard limit on the whole run
    double settle_seconds = 2;  // wait for stragglers after the last publish
    std::vector<int> pids;      // server processes to sample; CPU and RSS are summed
    std::string label = "run";
    bool cumulative = false;  // each event carries every message so far (seed API arrays)
    // User streams: each subscriber first joins this many rooms (PUT join_path), spread so
    // that every room has the same number of members, and one stream carries them all.
    size_t member_of = 0;
    std::string join_path = "/me/rooms/{room}?id=s{sub}";
    bool tls = false;
    size_t h2 = 0;  // streams per HTTP/2 connection; 0: one HTTP/1.1 connection per stream
    // With a secret, every HTTP/1.1 request carries an HS256 token: subscriber n's sub is
    // "s<n>", the publisher's "bench" (for rooms whose rules need signed-in users).
    std::string token_secret;
    // --storm K: a reconnect storm. Publishes --messages over the rooms with no stream open,
    // runs --restart (a shell command that restarts the server and prints its new pid), then
    // opens --subscribers streams at --ramp a second, each with a Last-Event-ID K behind its
    // room's newest, and checks that every one gets exactly the K it missed.
    size_t storm = 0;
    std::string restart;
    // Subscribers connect from 127.0.0.2 .. 127.0.0.(1+sources) (with a loopback --host):
    // one source address has about 28,000 ephemeral ports.
    size_t sources = 1;
};

std::string b64url(const unsigned char* p, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
    out.resize(static_cast<size_t>(len));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (auto& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

// "Authorization: Bearer <HS256 token for sub>\r\n", or "" without a secret.
std::string auth_line(const Options& o, const std::string& sub) {
    if (o.token_secret.empty()) return "";
    auto enc = [](const std::string& s) {
        return b64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    };
    std::string part = enc(R"({"alg":"HS256","typ":"JWT"})") + "." +
                       enc("{\"sub\":\"" + sub + "\",\"exp\":4102444800}");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), o.token_secret.data(), static_cast<int>(o.token_secret.size()),
         reinterpret_cast<const unsigned char*>(part.data()), part.size(), md, &len);
    return "Authorization: Bearer " + part + "." + b64url(md, len) + "\r\n";
}

// Marker put in every published message: "b:<room>:<seq>:<us>" - found again in the event.
// The room-local sequence finds gaps and duplicates; the timestamp gives latency.

void fill(std::string& out, const std::string& tmpl, size_t room, size_t sub,
          const std::string& marker) {
    out.clear();
    for (size_t i = 0; i < tmpl.size();) {
        if (tmpl.compare(i, 6, "{room}") == 0) {
            out += "bench" + std::to_string(room);
            i += 6;
        } else if (tmpl.compare(i, 5, "{sub}") == 0) {
            out += std::to_string(sub);
            i += 5;
        } else if (tmpl.compare(i, 8, "{marker}") == 0) {
            out += marker;
            i += 8;
        } else {
            out += tmpl[i++];
        }
    }
}

// Moves input up to and including the next LF into `line`; true once `line` is a whole line.
bool take_line(std::string& line, const char*& p, size_t& n) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', n));
    size_t take = nl ? static_cast<size_t>(nl - p) + 1 : n;
    line.append(p, take);
    p += take;
    n -= take;
    return nl != nullptr;
}

// Fixed-bucket latency histogram, allocated once: 1 µs buckets up to 100 ms, then 1 ms
// buckets up to 100 s.
struct Histogram {
    static constexpr uint64_t kFine = 100000, kCoarse = 100000;
    std::vector<uint64_t> b = std::vector<uint64_t>(kFine + kCoarse + 1, 0);
    uint64_t n = 0, max = 0;
    void add(uint64_t us) {
        ++n;
        max = std::max(max, us);
        ++b[us < kFine ? us : std::min(kFine + (us - kFine) / 1000, kFine + kCoarse)];
    }
    double pct(double p) const {
        if (!n) return 0;
        uint64_t want = static_cast<uint64_t>(p * static_cast<double>(n - 1)) + 1, c = 0;
        for (size_t i = 0; i < b.size(); ++i)
            if ((c += b[i]) >= want)
                return static_cast<double>(i < kFine ? i : kFine + (i - kFine) * 1000);
        return static_cast<double>(max);
    }
};

enum class Kind { Sub, Pub, Mux };

struct Conn {
    Kind kind;
    int fd = -1;
    SSL* ssl = nullptr;
    bool hs_done = false;  // TLS handshake finished (always true without TLS)
    // HTTP/2: a subscriber's stream rides on `mux` (which owns the socket); a Mux lists them
    // by stream id / 2 and keeps the frame reassembly and HPACK state.
    Conn* mux = nullptr;
    int32_t h2_id = 0;
    std::vector<Conn*> streams;
    std::string frames;
    nghttp2_hd_inflater* inflater = nullptr;
    uint64_t unacked = 0;  // DATA bytes received since the last connection WINDOW_UPDATE
    size_t index = 0;      // subscriber number or publisher number
    size_t room = 0;
    bool connected = false;
    bool head_done = false;
    bool chunked = false;
    // chunked decoding state
    size_t chunk_left = 0;
    int chunk_state = 0;  // 0 size line, 1 data, 2 CRLF after data
    std::string line;     // partial line (SSE line, header line or chunk size line)
    std::string head;     // response head while reading it
    // SSE state
    bool event_has_marker = false;
    uint64_t event_seq = 0, event_ts = 0;
    size_t event_room = 0;
    std::vector<uint64_t> seen;  // bitmap of room sequences received, sized before publishing
    uint64_t distinct = 0;       // bits set in seen
    // --member-of: the rooms this stream carries, and a bitmap and count per room
    std::vector<size_t> rooms;
    std::vector<std::vector<uint64_t>> seens;
    std::vector<uint64_t> distincts;
    // publisher state
    std::string out;  // bytes not yet written
    size_t out_off = 0;
    size_t outstanding = 0;  // requests sent without a response
    size_t resp_body_left = 0;
    bool resp_in_body = false;
    int resp_status = 0;
};

struct Stats {
    uint64_t deliveries = 0, missing = 0, duplicates = 0, errors = 0, pub_ok = 0, pub_err = 0;
    uint64_t sub_open = 0, sub_failed = 0, sub_closed = 0;
    Histogram lat;
};

struct ProcSample {
    double cpu_s = 0;
    double rss_kib = 0;
};

// A process's CPU time from its CPU-time clock, in nanoseconds: /proc/PID/stat counts whole
// clock ticks (10 ms), and a run that costs the server half a second of CPU would be read to
// within 2%, too coarse to tell an edit's cost from a message's. Nullopt where the clock is
// not available, and /proc is read instead.
std::optional<double> cpu_clock_s(int pid) {
    clockid_t id;
    timespec ts{};
    if (clock_getcpuclockid(pid, &id) != 0 || clock_gettime(id, &ts) != 0) return std::nullopt;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

ProcSample sample_one(int pid) {
    ProcSample s;
    auto precise = cpu_clock_s(pid);
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string content((std::istreambuf_iterator<char>(st)), {});
    auto p = content.rfind(')');
    if (p != std::string::npos) {
        std::istringstream is(content.substr(p + 2));
        std::vector<std::string> f;
        std::string x;
        while (is >> x) f.push_back(x);
        if (f.size() > 13)
            s.cpu_s =
                (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(sysconf(_SC_CLK_TCK));
    }
    if (precise) s.cpu_s = *precise;
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stod(line.substr(6));
    return s;
}

ProcSample sample(const std::vector<int>& pids) {
    ProcSample total;
    for (int pid : pids) {
        ProcSample s = sample_one(pid);
        total.cpu_s += s.cpu_s;
        total.rss_kib += s.rss_kib;
    }
    return total;
}

std::vector<int> int_list(const std::string& s) {
    std::vector<int> out;
    std::stringstream ss(s);
    for (std::string part; std::getline(ss, part, ',');) out.push_back(std::stoi(part));
    return out;
}

class Bench {
  public:
    explicit Bench(Options o) : o_(std::move(o)), room_seq_(o_.rooms, 0) {
        ep_ = epoll_create1(EPOLL_CLOEXEC);
        for (int port : o_.ports) {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(static_cast<uint16_t>(port));
            inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr);
            addrs_.push_back(a);
        }
        buf_.resize(1 << 18);
        if (o_.tls) {
            tls_ = SSL_CTX_new(TLS_client_method());
            SSL_CTX_set_verify(tls_, SSL_VERIFY_NONE, nullptr);
            SSL_CTX_set_mode(tls_,
                             SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        }
    }

    int run();

  private:
    int storm();
    // ssechat's /metrics sample `line`, or -1 (a blocking request on a connection of its own).
    long metric(const std::string& line);
    int open_conn(Kind k, size_t index, size_t room, const std::string& request);
    void on_event(Conn& c, uint32_t ev);
    void on_readable(Conn& c);
    void feed_body(Conn& c, const char* p, size_t n);
    void feed_sse(Conn& c, const char* p, size_t n);
    void sse_line(Conn& c, const char* p, size_t n);
    void feed_pub(Conn& c, const char* p, size_t n);
    void flush_out(Conn& c);
    void close_conn(Conn& c, bool error);
    bool publish_one();
    bool join_all();
    void poll_once(int timeout_ms);
    void progress(const char* phase);
    ssize_t io_recv(Conn& c, char* b, size_t n);
    ssize_t io_send(Conn& c, const char* b, size_t n);
    bool handshake(Conn& c);
    void open_h2_stream(size_t index, size_t room, const std::string& path);
    void on_mux_bytes(Conn& m, const char* p, size_t n);
    void mux_frame(Conn& m, uint8_t type, uint8_t flags, int32_t id, const char* p, size_t n);

    Options o_;
    SSL_CTX* tls_ = nullptr;
    int ep_;
    std::vector<sockaddr_in> addrs_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<Conn*> pubs_;
    std::vector<uint64_t> room_seq_;  // published so far per room
    std::string buf_;                 // one large read buffer shared by every connection
    std::string scratch_, scratch2_;
    std::string publisher_auth_ = auth_line(o_, "bench");  // signed once
    Stats st_;
    size_t published_ = 0;
    uint64_t last_progress_ = 0;
    uint64_t start_us_ = now_us();
    bool finishing_ = false;  // closing everything: no reconnects
};

int Bench::open_conn(Kind k, size_t index, size_t room, const std::string& request) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o_.sources > 1 && k != Kind::Pub) {
        sockaddr_in src{};
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl((127u << 24) + 2 + static_cast<uint32_t>(index % o_.sources));
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
            ::close(fd);
            return -1;
        }
    }
    const sockaddr_in& addr = addrs_[index % addrs_.size()];
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    if (r != 0 && errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    auto c = std::make_unique<Conn>();
    c->kind = k;
    c->fd = fd;
    c->hs_done = !tls_;
    if (tls_) {
        c->ssl = SSL_new(tls_);
        SSL_set_fd(c->ssl, fd);
        // Subscribers over HTTP/2 ask for h2; everything else for HTTP/1.1.
        static const unsigned char kH2[] = {2, 'h', '2'};
        static const unsigned char kH1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
        if (k == Kind::Mux)
            SSL_set_alpn_protos(c->ssl, kH2, sizeof kH2);
        else
            SSL_set_alpn_protos(c->ssl, kH1, sizeof kH1);
        SSL_set_connect_state(c->ssl);
    }
    if (k == Kind::Mux) nghttp2_hd_inflate_new(&c->inflater);
    c->index = index;
    c->room = room;
    c->out = request;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.ptr = c.get();
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    if (k == Kind::Pub) pubs_.push_back(c.get());
    conns_.push_back(std::move(c));
    return fd;
}

void Bench::close_conn(Conn& c, bool error) {
    if (c.fd < 0) return;
    if (c.kind == Kind::Mux) {
        for (Conn* s : c.streams) close_conn(*s, error);
        if (c.ssl) SSL_free(c.ssl);
        c.ssl = nullptr;
        if (c.inflater) nghttp2_hd_inflate_del(c.inflater);
        c.inflater = nullptr;
    }
    if (!c.mux) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        if (c.ssl) SSL_free(c.ssl);
        c.ssl = nullptr;
        ::close(c.fd);
    }
    c.fd = -1;
    if (c.kind == Kind::Mux) return;
    if (c.kind == Kind::Sub) {
        ++st_.sub_closed;
        if (error) ++st_.errors;
        if (!c.head_done && c.connected) ++st_.sub_failed;  // closed before any response
        return;
    }
    // A server may close a keep-alive connection (nginx does after keepalive_requests): what
    // was in flight on it is lost and counted, and a new connection takes its place.
    st_.pub_err += c.outstanding;
    c.outstanding = 0;
    if (!finishing_) open_conn(Kind::Pub, c.index, 0, "");
}

void Bench::flush_out(Conn& c) {
    while (c.out_off < c.out.size()) {
        ssize_t w = io_send(c, c.out.data() + c.out_off, c.out.size() - c.out_off);
        if (w < 0) {
            if (errno == EAGAIN) break;
            close_conn(c, true);
            return;
        }
        c.out_off += static_cast<size_t>(w);
    }
    uint32_t want = EPOLLIN | EPOLLRDHUP;
    if (c.out_off < c.out.size()) {
        want |= EPOLLOUT;
    } else {
        c.out.clear();
        c.out_off = 0;
    }
    epoll_event ev{};
    ev.events = want;
    ev.data.ptr = &c;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Bench::on_event(Conn& c, uint32_t ev) {
    if (!c.connected && (ev & EPOLLOUT)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            if (c.kind == Kind::Sub) ++st_.sub_failed;
            close_conn(c, true);
            return;
        }
        c.connected = true;
    }
    if (!c.hs_done) {
        if (!handshake(c)) return;
        ev |= EPOLLOUT;  // the request waits for the handshake
    }
    if (ev & EPOLLOUT) flush_out(c);
    if (c.fd >= 0 && (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) on_readable(c);
}

void Bench::on_readable(Conn& c) {
    while (c.fd >= 0) {
        ssize_t r = io_recv(c, buf_.data(), buf_.size());
        if (r == 0) {
            close_conn(c, c.kind == Kind::Sub);
            return;
        }
        if (r < 0) {
            if (errno != EAGAIN) close_conn(c, true);
            return;
        }
        const char* p = buf_.data();
        size_t n = static_cast<size_t>(r);
        if (c.kind == Kind::Mux) {
            on_mux_bytes(c, p, n);
            if (c.fd >= 0) flush_out(c);  // WINDOW_UPDATE and SETTINGS acknowledgements
            if (!c.ssl && static_cast<size_t>(r) < buf_.size()) return;
            continue;
        }
        if (!c.head_done && c.kind == Kind::Sub) {
            // Response head: find the blank line; keep only what is needed from it.
            size_t i = 0;
            for (; i < n && !c.head_done; ++i) {
                c.head.push_back(p[i]);
                if (c.head.size() >= 4 && c.head.compare(c.head.size() - 4, 4, "\r\n\r\n") == 0) {
                    c.head_done = true;
                    if (c.head.compare(0, 12, "HTTP/1.1 200") != 0) {
                        ++st_.sub_failed;
                        close_conn(c, true);
                        return;
                    }
                    std::string lower = c.head;
                    for (auto& ch : lower) ch = static_cast<char>(tolower(ch));
                    c.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
                    ++st_.sub_open;
                    std::string().swap(c.head);
                }
            }
            p += i;
            n -= i;
        }
        if (n) {
            if (c.kind == Kind::Sub)
                feed_body(c, p, n);
            else
                feed_pub(c, p, n);
        }
        // TLS may hold decrypted records that the socket no longer signals: read until empty.
        if (!c.ssl && static_cast<size_t>(r) < buf_.size()) return;
    }
}

ssize_t Bench::io_recv(Conn& c, char* b, size_t n) {
    if (!c.ssl) return ::recv(c.fd, b, n, 0);
    int r = SSL_read(c.ssl, b, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    errno = ECONNRESET;
    return -1;
}

ssize_t Bench::io_send(Conn& c, const char* b, size_t n) {
    if (!c.ssl) return ::send(c.fd, b, n, MSG_NOSIGNAL);
    if (!c.hs_done) {
        errno = EAGAIN;
        return -1;
    }
    int r = SSL_write(c.ssl, b, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    errno = (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? EAGAIN : ECONNRESET;
    return -1;
}

bool Bench::handshake(Conn& c) {
    int r = SSL_do_handshake(c.ssl);
    if (r == 1) {
        c.hs_done = true;
        return true;
    }
    int e = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return false;
    if (c.kind == Kind::Mux)
        for (Conn* s : c.streams) ++st_.sub_failed, s->fd = -1;
    else if (c.kind == Kind::Sub)
        ++st_.sub_failed;
    close_conn(c, true);
    return false;
}

namespace {
std::string frame_bytes(uint8_t type, uint8_t flags, int32_t id, const std::string& payload) {
    std::string h(9, '\0');
    h[0] = static_cast<char>(payload.size() >> 16);
    h[1] = static_cast<char>(payload.size() >> 8);
    h[2] = static_cast<char>(payload.size());
    h[3] = static_cast<char>(type);
    h[4] = static_cast<char>(flags);
    for (int i = 0; i < 4; ++i)
        h[5 + i] = static_cast<char>(static_cast<uint32_t>(id) >> (24 - 8 * i));
    return h + payload;
}
std::string be32(uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
    return s;
}
// An HPACK string or length with a 7-bit prefix (RFC 7541 5.1), no Huffman coding.
void hpack_len(std::string& out, size_t n) {
    if (n < 127) {
        out.push_back(static_cast<char>(n));
        return;
    }
    out.push_back(127);
    n -= 127;
    while (n >= 128) {
        out.push_back(static_cast<char>((n & 127) | 128));
        n >>= 7;
    }
    out.push_back(static_cast<char>(n));
}
void hpack_literal(std::string& out, const std::string& name, const std::string& value) {
    out.push_back(0);  // literal, not indexed
    hpack_len(out, name.size());
    out += name;
    hpack_len(out, value.size());
    out += value;
}
constexpr uint32_t kBenchWindow = 1u << 30;
}  // namespace

// Subscriber `index` as a stream on the current HTTP/2 connection, opening one every o_.h2.
void Bench::open_h2_stream(size_t index, size_t room, const std::string& path) {
    Conn* m = nullptr;
    if (index % o_.h2 == 0) {
        std::string hello = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        hello += frame_bytes(4, 0, 0, std::string("\x00\x04", 2) + be32(kBenchWindow));
        hello += frame_bytes(8, 0, 0, be32(kBenchWindow - 65535));
        if (open_conn(Kind::Mux, index, 0, hello) < 0) {
            ++st_.sub_failed;
            return;
        }
        m = conns_.back().get();
    } else {
        for (auto it = conns_.rbegin(); it != conns_.rend(); ++it)
            if ((*it)->kind == Kind::Mux) {
                m = it->get();
                break;
            }
        if (!m || m->fd < 0) {
            ++st_.sub_failed;
            return;
        }
    }
    auto s = std::make_unique<Conn>();
    s->kind = Kind::Sub;
    s->fd = m->fd;
    s->mux = m;
    s->index = index;
    s->room = room;
    s->connected = true;
    s->hs_done = true;
    s->h2_id = static_cast<int32_t>(2 * m->streams.size() + 1);
    std::string block;
    hpack_literal(block, ":method", "GET");
    hpack_literal(block, ":scheme", o_.tls ? "https" : "http");
    hpack_literal(block, ":authority", "bench");
    hpack_literal(block, ":path", path);
    hpack_literal(block, "accept", "text/event-stream");
    m->out += frame_bytes(1, 0x5, s->h2_id, block);  // END_STREAM | END_HEADERS
    m->streams.push_back(s.get());
    conns_.push_back(std::move(s));
    if (m->connected && m->hs_done) flush_out(*m);
}

void Bench::on_mux_bytes(Conn& m, const char* p, size_t n) {
    m.frames.append(p, n);
    size_t at = 0;
    while (m.fd >= 0 && m.frames.size() - at >= 9) {
        auto* h = reinterpret_cast<const uint8_t*>(m.frames.data() + at);
        size_t len = (size_t{h[0]} << 16) | (size_t{h[1]} << 8) | h[2];
        if (m.frames.size() - at < 9 + len) break;
        int32_t id = static_cast<int32_t>(((h[5] & 0x7fu) << 24) | (uint32_t{h[6]} << 16) |
                                          (uint32_t{h[7]} << 8) | h[8]);
        mux_frame(m, h[3], h[4], id, m.frames.data() + at + 9, len);
        at += 9 + len;
    }
    if (m.fd >= 0) m.frames.erase(0, at);
}

void Bench::mux_frame(Conn& m, uint8_t type, uint8_t flags, int32_t id, const char* p, size_t n) {
    Conn* s = nullptr;
    if (id > 0 && static_cast<size_t>(id / 2) < m.streams.size()) s = m.streams[id / 2];
    switch (type) {
        case 0:  // DATA
            if (s && s->fd >= 0 && s->head_done) feed_sse(*s, p, n);
            m.unacked += n;
            if (m.unacked > kBenchWindow / 2) {
                m.out += frame_bytes(8, 0, 0, be32(static_cast<uint32_t>(m.unacked)));
                m.unacked = 0;
            }
            break;
        case 1: {  // HEADERS: the status decides whether the stream opened
            if (!s || s->head_done) break;
            std::string status;
            auto* in = reinterpret_cast<uint8_t*>(const_cast<char*>(p));
            size_t left = n;
            if (flags & 0x8) {  // PADDED
                size_t pad = in[0];
                ++in;
                left = left > pad + 1 ? left - pad - 1 : 0;
            }
            if (flags & 0x20) in += 5, left -= std::min<size_t>(left, 5);  // PRIORITY
            while (left > 0) {
                nghttp2_nv nv;
                int out_flags = 0;
                auto r = nghttp2_hd_inflate_hd2(m.inflater, &nv, &out_flags, in, left, 1);
                if (r < 0) break;
                in += r;
                left -= static_cast<size_t>(r);
                if ((out_flags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 7 &&
                    std::memcmp(nv.name, ":status", 7) == 0)
                    status.assign(reinterpret_cast<char*>(nv.value), nv.valuelen);
                if (out_flags & NGHTTP2_HD_INFLATE_FINAL) break;
            }
            nghttp2_hd_inflate_end_headers(m.inflater);
            if (status == "200") {
                s->head_done = true;
                ++st_.sub_open;
            } else {
                ++st_.sub_failed;
                s->fd = -1;
            }
            break;
        }
        case 3:  // RST_STREAM
            if (s) close_conn(*s, true);
            break;
        case 4:  // SETTINGS
            if (!(flags & 1)) m.out += frame_bytes(4, 1, 0, "");
            break;
        case 6:  // PING
            if (!(flags & 1)) m.out += frame_bytes(6, 1, 0, std::string(p, n));
            break;
        case 7:  // GOAWAY
            close_conn(m, true);
            break;
        default:
            break;
    }
}

void Bench::feed_body(Conn& c, const char* p, size_t n) {
    if (!c.chunked) return feed_sse(c, p, n);
    while (n) {
        if (c.chunk_state == 0) {  // size line
            if (!take_line(c.line, p, n)) return;
            c.chunk_left = std::strtoul(c.line.c_str(), nullptr, 16);
            c.line.clear();
            c.chunk_state = c.chunk_left ? 1 : 2;
        } else if (c.chunk_state == 1) {
            size_t take = std::min(n, c.chunk_left);
            feed_sse(c, p, take);
            p += take;
            n -= take;
            c.chunk_left -= take;
            if (!c.chunk_left) c.chunk_state = 2;
        } else {  // CRLF after the data
            while (n && c.chunk_state == 2) {
                if (*p == '\n') c.chunk_state = 0;
                ++p;
                --n;
            }
        }
    }
}

// SSE lines; only data lines and event ends matter here. Lines are handled in place when
// they sit whole in the read buffer, so a delivery costs no allocation.
void Bench::feed_sse(Conn& c, const char* p, size_t n) {
    // c.line holds a partial line from the previous read, if any.
    while (n) {
        const char* nl = static_cast<const char*>(memchr(p, '\n', n));
        if (!nl) {
            c.line.append(p, n);
            return;
        }
        size_t len = static_cast<size_t>(nl - p);
        if (c.line.empty()) {
            sse_line(c, p, len);
        } else {
            c.line.append(p, len);
            sse_line(c, c.line.data(), c.line.size());
            c.line.clear();
        }
        p = nl + 1;
        n -= len + 1;
    }
}

void Bench::sse_line(Conn& c, const char* p, size_t n) {
    if (n && p[n - 1] == '\r') --n;
    if (n == 0) {  // end of event
        if (c.event_has_marker && o_.cumulative) {
            // An array that brings k new messages delivers k; its newest one gives the latency.
            uint64_t now = now_us();
            st_.lat.add(now > c.event_ts ? now - c.event_ts : 0);
            if (c.event_seq > c.distinct) {
                st_.deliveries += c.event_seq - c.distinct;
                c.distinct = c.event_seq;
            } else {
                ++st_.duplicates;
            }
        } else if (c.event_has_marker) {
            ++st_.deliveries;
            uint64_t now = now_us();
            st_.lat.add(now > c.event_ts ? now - c.event_ts : 0);
            // Publishers race each other, so order across them is not checked; each sequence
            // number must arrive exactly once.
            std::vector<uint64_t>* seen = &c.seen;
            uint64_t* distinct = &c.distinct;
            if (!c.rooms.empty()) {
                auto it = std::find(c.rooms.begin(), c.rooms.end(), c.event_room);
                if (it == c.rooms.end()) {
                    ++st_.errors;  // an event of a room this user is not in
                    c.event_has_marker = false;
                    return;
                }
                auto j = static_cast<size_t>(it - c.rooms.begin());
                seen = &c.seens[j];
                distinct = &c.distincts[j];
            }
            size_t w = c.event_seq / 64;
            uint64_t bit = uint64_t{1} << (c.event_seq % 64);
            if (w < seen->size()) {
                if ((*seen)[w] & bit) {
                    ++st_.duplicates;
                } else {
                    (*seen)[w] |= bit;
                    ++*distinct;
                }
            }
        }
        c.event_has_marker = false;
        return;
    }
    if (n < 5 || memcmp(p, "data:", 5) != 0) return;
    // The last marker in the line is the newest message (seed API events carry whole arrays).
    std::string_view line(p, n);
    auto last = [&](size_t before) {
        size_t a = line.rfind("b:", before), b = line.rfind("b_", before);
        return a == std::string_view::npos ? b : b == std::string_view::npos ? a : std::max(a, b);
    };
    size_t m = last(std::string_view::npos);
    while (m != std::string_view::npos) {
        // b:<room>:<seq>:<us>, or b_<room>_<seq>_<us> (a reaction's name)
        const char sep = p[m + 1];
        const char* q = p + m + 2;
        const char* end = p + n;
        char* e;
        unsigned long room = std::strtoul(q, &e, 10);
        if (e < end && *e == sep) {
            unsigned long long seq = std::strtoull(e + 1, &e, 10);
            if (e < end && *e == sep) {
                unsigned long long ts = std::strtoull(e + 1, &e, 10);
                if (room == c.room || !c.rooms.empty()) {
                    c.event_has_marker = true;
                    c.event_seq = seq;
                    c.event_ts = ts;
                    c.event_room = room;
                    return;
                }
            }
        }
        if (m == 0) break;
        m = last(m - 1);
    }
}

// Publisher responses: status line, Content-Length, body; several may arrive at once.
void Bench::feed_pub(Conn& c, const char* p, size_t n) {
    while (n) {
        if (c.resp_in_body) {
            size_t take = std::min(n, c.resp_body_left);
            c.resp_body_left -= take;
            p += take;
            n -= take;
            if (!c.resp_body_left) {
                c.resp_in_body = false;
                goto done;
            }
            continue;
        }
        {
            if (!take_line(c.line, p, n)) return;
            if (c.line.rfind("HTTP/", 0) == 0 && c.line.size() > 12) {
                c.resp_status = std::atoi(c.line.c_str() + 9);
            } else if (strncasecmp(c.line.c_str(), "content-length:", 15) == 0) {
                c.resp_body_left = std::strtoul(c.line.c_str() + 15, nullptr, 10);
            } else if (c.line == "\r\n" || c.line == "\n") {
                c.line.clear();
                if (c.resp_body_left) {
                    c.resp_in_body = true;
                    continue;
                }
                goto done;
            }
            c.line.clear();
            continue;
        }
    done:
        if (c.resp_status >= 200 && c.resp_status < 300)
            ++st_.pub_ok;
        else
            ++st_.pub_err;
        if (c.outstanding) --c.outstanding;
        c.resp_status = 0;
    }
}

bool Bench::publish_one() {
    if (published_ >= o_.messages) return false;
    // The least-loaded publisher connection; closed-loop sends only on an idle one.
    Conn* best = nullptr;
    for (Conn* c : pubs_)
        if (c->fd >= 0 && c->connected && (!best || c->outstanding < best->outstanding)) best = c;
    if (!best || (o_.rate == 0 && best->outstanding > 0)) return false;
    size_t room = published_ % o_.rooms;
    uint64_t seq = ++room_seq_[room];
    char marker[96], name[96];
    uint64_t now = now_us();
    std::snprintf(marker, sizeof marker, "b:%zu:%" PRIu64 ":%" PRIu64, room, seq, now);
    // In a path (a reaction's emoji) the marker is a short name, which the server accepts
    // as a reaction: :b_<room>_<seq>_<us>:.
    std::snprintf(name, sizeof name, ":b_%zu_%" PRIu64 "_%" PRIu64 ":", room, seq, now);
    fill(scratch_, o_.body, room, 0, marker);
    fill(scratch2_, o_.pub_path, room, 0, name);
    if (auto n = scratch2_.find("{n}"); n != std::string::npos)
        scratch2_.replace(n, 3, std::to_string(published_ % o_.targets + 1));
    std::string req = o_.method + " " + scratch2_ + " HTTP/1.1\r\nHost: bench\r\n" +
                      publisher_auth_ + "Content-Type: " + o_.content_type +
                      "\r\nContent-Length: " + std::to_string(scratch_.size()) + "\r\n\r\n" +
                      scratch_;
    best->out += req;
    ++best->outstanding;
    ++published_;
    flush_out(*best);
    return true;
}

void Bench::poll_once(int timeout_ms) {
    epoll_event evs[512];
    int n = epoll_wait(ep_, evs, 512, timeout_ms);
    for (int i = 0; i < n; ++i) on_event(*static_cast<Conn*>(evs[i].data.ptr), evs[i].events);
}

void Bench::progress(const char* phase) {
    uint64_t now = now_us();
    if (now - last_progress_ < 1000000) return;
    last_progress_ = now;
    std::fprintf(stderr,
                 "[%6.1fs] %-9s subs %" PRIu64 "/%zu published %zu acked %" PRIu64
                 " deliveries %" PRIu64 " errors %" PRIu64 "\n",
                 static_cast<double>(now - start_us_) / 1e6, phase, st_.sub_open, o_.subscribers,
                 published_, st_.pub_ok, st_.deliveries, st_.errors + st_.pub_err);
}

// The rooms subscriber `sub` is in with --member-of: K rooms spaced R/K apart, so every room
// has subscribers*K/R members.
std::vector<size_t> member_rooms(const Options& o, size_t sub) {
    std::vector<size_t> out;
    size_t stride = std::max<size_t>(1, o.rooms / std::max<size_t>(o.member_of, 1));
    for (size_t j = 0; j < o.member_of; ++j) out.push_back((sub + j * stride) % o.rooms);
    return out;
}

// Setup for --member-of: every join, pipelined 100 at a time on one blocking keep-alive
// connection. Returns false when one failed.
bool Bench::join_all() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        ::connect(fd, reinterpret_cast<const sockaddr*>(&addrs_[0]), sizeof addrs_[0]) != 0)
        return false;
    std::vector<std::pair<size_t, size_t>> all;  // (sub, room)
    for (size_t i = 0; i < o_.subscribers; ++i)
        for (size_t r : member_rooms(o_, i)) all.emplace_back(i, r);
    std::string path, req, in;
    bool ok = true;
    for (size_t at = 0; at < all.size() && ok;) {
        size_t n = std::min<size_t>(100, all.size() - at);
        req.clear();
        for (size_t k = 0; k < n; ++k) {
            fill(path, o_.join_path, all[at + k].second, all[at + k].first, "");
            req += "PUT " + path + " HTTP/1.1\r\nHost: bench\r\nContent-Length: 0\r\n\r\n";
        }
        for (size_t off = 0; off < req.size();) {
            ssize_t w = ::write(fd, req.data() + off, req.size() - off);
            if (w <= 0) return ::close(fd), false;
            off += static_cast<size_t>(w);
        }
        // Each answer: a head with Content-Length, then that many bytes.
        for (size_t got = 0; got < n;) {
            size_t end = in.find("\r\n\r\n");
            if (end != std::string::npos) {
                size_t cl = 0;
                auto p = in.find("Content-Length: ");
                if (p != std::string::npos && p < end)
                    cl = std::strtoul(in.c_str() + p + 16, nullptr, 10);
                if (in.size() >= end + 4 + cl) {
                    if (in.compare(9, 3, "200") != 0) ok = false;
                    in.erase(0, end + 4 + cl);
                    ++got;
                    continue;
                }
            }
            char b[65536];
            ssize_t r = ::read(fd, b, sizeof b);
            if (r <= 0) return ::close(fd), false;
            in.append(b, static_cast<size_t>(r));
        }
        at += n;
    }
    ::close(fd);
    return ok;
}

long Bench::metric(const std::string& line) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addrs_[0]), sizeof addrs_[0]) != 0)
        return ::close(fd), -1;
    std::string req = "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
    if (::write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size()))
        return ::close(fd), -1;
    std::string in;
    char b[65536];
    for (ssize_t r; (r = ::read(fd, b, sizeof b)) > 0;) in.append(b, static_cast<size_t>(r));
    ::close(fd);
    auto p = in.find("\n" + line + " ");
    return p == std::string::npos ? -1 : std::strtol(in.c_str() + p + line.size() + 2, nullptr, 10);
}

int Bench::storm() {
    uint64_t deadline = start_us_ + static_cast<uint64_t>(o_.max_seconds * 1e6);
    // 1. The rooms' messages, with no stream open.
    for (size_t i = 0; i < o_.connections; ++i) open_conn(Kind::Pub, i, 0, "");
    while ((published_ < o_.messages || st_.pub_ok + st_.pub_err < published_) &&
           now_us() < deadline) {
        while (publish_one()) {
        }
        poll_once(10);
        progress("publish");
    }
    finishing_ = true;  // closed on purpose: not replaced
    for (Conn* c : pubs_) close_conn(*c, false);
    finishing_ = false;
    pubs_.clear();
    if (st_.pub_err || published_ < o_.messages) {
        std::fprintf(stderr, "publishing failed: %" PRIu64 " errors\n", st_.pub_err);
        return 1;
    }
    // 2. The restart: its command prints the new server's pid when it answers.
    if (!o_.restart.empty()) {
        FILE* f = popen(o_.restart.c_str(), "r");
        int pid = 0;
        if (!f || std::fscanf(f, "%d", &pid) != 1 || pclose(f) != 0 || pid <= 0) {
            std::fprintf(stderr, "--restart did not print a pid\n");
            return 1;
        }
        o_.pids = {pid};
    }
    const std::string load_line = R"(ssechat_stream_store_reads_total{read="room_load"})";
    const std::string replay_line = R"(ssechat_stream_store_reads_total{read="replay"})";
    long loads0 = metric(load_line), replays0 = metric(replay_line);
    ProcSample before = sample(o_.pids);
    // 3. Everyone at once (at --ramp a second), each K behind its room's newest.
    std::string path;
    uint64_t t0 = now_us();
    for (size_t opened = 0; opened < o_.subscribers && now_us() < deadline;) {
        size_t allowed =
            std::min(o_.subscribers, static_cast<size_t>(static_cast<double>(now_us() - t0) / 1e6 *
                                                         static_cast<double>(o_.ramp)) +
                                         1);
        for (; opened < allowed; ++opened) {
            size_t room = opened % o_.rooms;
            uint64_t last = room_seq_[room] > o_.storm ? room_seq_[room] - o_.storm : 0;
            fill(path, o_.sub_path, room, opened, "");
            std::string req =
                "GET " + path + " HTTP/1.1\r\nHost: bench\r\n" +
                auth_line(o_, "s" + std::to_string(opened)) +
                "Accept: text/event-stream\r\nLast-Event-ID: " + std::to_string(last) + "\r\n\r\n";
            if (open_conn(Kind::Sub, opened, room, req) < 0) {
                ++st_.sub_failed;
                continue;
            }
            conns_.back()->seen.assign(room_seq_[room] / 64 + 2, 0);
        }
        poll_once(1);
        progress("reconnect");
    }
    uint64_t opened_us = now_us() - t0;
    // 4. Until every stream has what it missed.
    auto resumed = [&] {
        size_t n = 0;
        for (auto& c : conns_)
            if (c->kind == Kind::Sub && c->distinct >= std::min(o_.storm, room_seq_[c->room])) ++n;
        return n;
    };
    size_t done = 0;
    while ((done = resumed()) < o_.subscribers && now_us() < deadline) {
        poll_once(10);
        progress("resume");
    }
    uint64_t resumed_us = now_us() - t0;
    // Anything more (a duplicate, or an event before the cursor) would come at once.
    for (uint64_t until = now_us() + 500000; now_us() < until;) poll_once(10);
    ProcSample after = sample(o_.pids);
    long loads = metric(load_line) - loads0, replays = metric(replay_line) - replays0;
    // Exact: the K after the cursor, each once, nothing before it.
    size_t exact = 0, refused = 0;
    for (auto& c : conns_) {
        if (c->kind != Kind::Sub) continue;
        if (!c->head_done) ++refused;
        uint64_t top = room_seq_[c->room], from = top > o_.storm ? top - o_.storm : 0;
        bool ok = c->distinct == top - from;
        for (uint64_t q = 0; ok && q <= from; ++q)
            ok = !(c->seen[q / 64] & (uint64_t{1} << (q % 64)));
        exact += ok;
    }
    std::printf(
        "{\"label\":\"%s\",\"scenario\":\"storm\",\"streams\":%zu,\"rooms\":%zu,"
        "\"behind\":%zu,\"opened\":%" PRIu64 ",\"refused\":%zu,\"sub_failed\":%" PRIu64
        ",\"exact\":%zu,\"duplicates\":%" PRIu64
        ",\"opened_in_s\":%.3f,"
        "\"all_resumed_s\":%.3f,\"resumed\":%zu,\"store_reads_room_load\":%ld,"
        "\"store_reads_replay\":%ld,\"server_cpu_s\":%.3f,\"server_rss_kib\":%.0f}\n",
        o_.label.c_str(), o_.subscribers, o_.rooms, o_.storm, st_.sub_open, refused, st_.sub_failed,
        exact, st_.duplicates, static_cast<double>(opened_us) / 1e6,
        static_cast<double>(resumed_us) / 1e6, done, loads, replays, after.cpu_s - before.cpu_s,
        after.rss_kib);
    std::fprintf(stderr,
                 "\n%s: %zu streams over %zu rooms, %zu behind: %zu exact, %" PRIu64
                 " duplicates, %zu refused; opened in %.2fs, all resumed in %.2fs; store reads: "
                 "%ld room loads, %ld replays\n",
                 o_.label.c_str(), o_.subscribers, o_.rooms, o_.storm, exact, st_.duplicates,
                 refused, static_cast<double>(opened_us) / 1e6,
                 static_cast<double>(resumed_us) / 1e6, loads, replays);
    finishing_ = true;
    for (auto& c : conns_) close_conn(*c, false);
    return exact == o_.subscribers ? 0 : 1;
}

int Bench::run() {
    if (o_.storm) return storm();
    uint64_t deadline = start_us_ + static_cast<uint64_t>(o_.max_seconds * 1e6);
    if (o_.member_of && !o_.join_path.empty() && !join_all()) {
        std::fprintf(stderr, "joining rooms failed\n");
        return 1;
    }
    ProcSample base = sample(o_.pids);
    // 1. Subscribers, at a bounded ramp.
    size_t opened = 0;
    uint64_t ramp_start = now_us();
    std::string path;
    while ((st_.sub_open + st_.sub_failed < o_.subscribers) && now_us() < deadline) {
        size_t allowed = std::min(
            o_.subscribers, static_cast<size_t>(static_cast<double>(now_us() - ramp_start) / 1e6 *
                                                static_cast<double>(o_.ramp)) +
                                1);
        while (opened < allowed) {
            size_t room = opened % o_.rooms;
            fill(path, o_.sub_path, room, opened, "");
            // {rooms}: the subscriber's --member-of rooms, comma-separated (Nchan's multiplexed
            // subscription to several channels on one stream).
            if (auto at = path.find("{rooms}"); at != std::string::npos) {
                std::string list;
                for (size_t r : member_rooms(o_, opened))
                    list += (list.empty() ? "bench" : ",bench") + std::to_string(r);
                path.replace(at, 7, list);
            }
            std::string req = "GET " + path + " HTTP/1.1\r\nHost: bench\r\n" +
                              auth_line(o_, "s" + std::to_string(opened)) +
                              "Accept: text/event-stream\r\n\r\n";
            if (o_.h2) {
                open_h2_stream(opened, room, path);
                if (o_.member_of && !conns_.empty())
                    conns_.back()->rooms = member_rooms(o_, opened);
            } else if (open_conn(Kind::Sub, opened, room, req) < 0) {
                ++st_.sub_failed;
            } else if (o_.member_of) {
                conns_.back()->rooms = member_rooms(o_, opened);
            }
            ++opened;
        }
        poll_once(5);
        progress("subscribe");
    }
    // Let the server settle (ssechat gives freed heap back within two seconds of a burst of
    // TLS handshakes), then sample its idle memory.
    for (uint64_t until = now_us() + 3000000; now_us() < until;) poll_once(50);
    ProcSample idle = sample(o_.pids);
    // 2. Publishers. Receive bitmaps are allocated now, never per event.
    for (auto& c : conns_)
        if (c->kind == Kind::Sub) {
            c->seen.assign(o_.messages / o_.rooms / 64 + 2, 0);
            c->seens.assign(c->rooms.size(), c->seen);
            c->distincts.assign(c->rooms.size(), 0);
        }
    for (size_t i = 0; i < o_.connections; ++i) open_conn(Kind::Pub, i, 0, "");
    for (uint64_t until = now_us() + 200000; now_us() < until;) poll_once(10);
    ProcSample before = sample(o_.pids);
    uint64_t deliveries_before = st_.deliveries;
    uint64_t t0 = now_us();
    while (published_ < o_.messages && now_us() < deadline) {
        if (o_.rate > 0) {
            size_t due = static_cast<size_t>(static_cast<double>(now_us() - t0) / 1e6 * o_.rate);
            while (published_ < std::min(due, o_.messages) && publish_one()) {
            }
            poll_once(1);
        } else {
            while (publish_one()) {
            }
            poll_once(10);
        }
        progress("publish");
    }
    // 3. Wait for acknowledgements and the last deliveries.
    // Members per room: one stream each, or with --member-of K streams spread over the rooms.
    uint64_t per_room = o_.member_of ? o_.subscribers * o_.member_of / o_.rooms
                                     : o_.subscribers / std::max<size_t>(o_.rooms, 1);
    uint64_t expected = static_cast<uint64_t>(o_.messages) * per_room;
    uint64_t settle_until = now_us() + static_cast<uint64_t>(o_.settle_seconds * 1e6);
    while (
        now_us() < std::min(settle_until, deadline) &&
        (st_.pub_ok + st_.pub_err < published_ || st_.deliveries - deliveries_before < expected)) {
        poll_once(10);
        progress("settle");
    }
    uint64_t t1 = now_us();
    ProcSample after = sample(o_.pids);
    // Missing: what each open subscriber never saw of its room's sequence.
    for (auto& c : conns_)
        if (c->kind == Kind::Sub && c->fd >= 0 && c->head_done) {
            if (c->rooms.empty())
                st_.missing += room_seq_[c->room] - std::min(room_seq_[c->room], c->distinct);
            for (size_t j = 0; j < c->rooms.size(); ++j)
                st_.missing +=
                    room_seq_[c->rooms[j]] - std::min(room_seq_[c->rooms[j]], c->distincts[j]);
        }
    double secs = std::max(static_cast<double>(t1 - t0) / 1e6, 1e-6);
    uint64_t delivered = st_.deliveries - deliveries_before;
    double cpu_us_per_delivery =
        delivered ? (after.cpu_s - before.cpu_s) * 1e6 / static_cast<double>(delivered) : 0;
    double rss_per_conn =
        st_.sub_open ? (idle.rss_kib - base.rss_kib) * 1024.0 / static_cast<double>(st_.sub_open)
                     : 0;
    std::printf("{\"label\":\"%s\",\"subscribers\":%" PRIu64 ",\"sub_failed\":%" PRIu64
                ",\"published\":%zu,"
                "\"acked\":%" PRIu64 ",\"pub_errors\":%" PRIu64 ",\"deliveries\":%" PRIu64
                ",\"seconds\":%.3f,"
                "\"deliveries_per_s\":%.0f,\"publishes_per_s\":%.0f,\"lat_p50_us\":%.0f,\"lat_p90_"
                "us\":%.0f,"
                "\"lat_p99_us\":%.0f,\"lat_max_us\":%" PRIu64 ",\"missing\":%" PRIu64
                ",\"duplicates\":%" PRIu64 ",\"stream_errors\":%" PRIu64
                ",\"server_cpu_s\":%.3f,\"server_cpu_us_per_delivery\":%.3f,"
                "\"server_rss_kib_base\":%.0f,\"server_rss_kib_idle\":%.0f,\"server_rss_bytes_per_"
                "idle_stream\":%.0f,"
                "\"server_rss_kib_end\":%.0f}\n",
                o_.label.c_str(), st_.sub_open, st_.sub_failed, published_, st_.pub_ok, st_.pub_err,
                delivered, secs, static_cast<double>(delivered) / secs,
                static_cast<double>(st_.pub_ok) / secs, st_.lat.pct(0.5), st_.lat.pct(0.9),
                st_.lat.pct(0.99), st_.lat.max, st_.missing, st_.duplicates, st_.errors,
                after.cpu_s - before.cpu_s, cpu_us_per_delivery, base.rss_kib, idle.rss_kib,
                rss_per_conn, after.rss_kib);
    std::fprintf(stderr,
                 "\n%s: %" PRIu64 " streams, %zu published (%" PRIu64 " acked, %" PRIu64
                 " errors)\n"
                 "  deliveries      %12" PRIu64
                 " in %.2fs = %.0f/s\n"
                 "  latency (us)    p50 %.0f  p90 %.0f  p99 %.0f  max %" PRIu64
                 "\n"
                 "  missing %" PRIu64 "  duplicates %" PRIu64 "  stream errors %" PRIu64 "\n",
                 o_.label.c_str(), st_.sub_open, published_, st_.pub_ok, st_.pub_err, delivered,
                 secs, static_cast<double>(delivered) / secs, st_.lat.pct(0.5), st_.lat.pct(0.9),
                 st_.lat.pct(0.99), st_.lat.max, st_.missing, st_.duplicates, st_.errors);
    if (!o_.pids.empty())
        std::fprintf(
            stderr,
            "  server          CPU %.3fs = %.3f us/delivery; RSS %.0f KiB idle-with-streams, "
            "%.0f bytes/stream\n",
            after.cpu_s - before.cpu_s, cpu_us_per_delivery, idle.rss_kib, rss_per_conn);
    finishing_ = true;
    for (auto& c : conns_) close_conn(*c, false);
    return 0;
}

void usage() {
    std::fprintf(
        stderr,
        "usage: ssechat-bench [options]\n"
        "  --host H --port P[,P...]     server, or cluster nodes taken in turn (loopback only)\n"
        "  --sub-path T                 subscriber target; {room} {sub} are replaced\n"
        "  --token-secret S             sign an HS256 token per request: sub s<n> for\n"
        "                               subscriber n, bench for the publisher (HTTP/1.1)\n"
        "  --pub-path T --body T        publish target and body; {room} {marker} replaced;\n"
        "                               {marker} is b:<room>:<seq>:<ts us>, which\n"
        "                               receivers parse for latency, loss, duplicates\n"
        "  --content-type T             publish Content-Type\n"
        "  --method M --targets K       publish with M (PATCH: edits, PUT: reactions); {n}\n"
        "                               in the target cycles through message ids 1..K,\n"
        "                               and {marker} may stand in it too (an emoji:\n"
        "                               there it is :b_<room>_<seq>_<us>:)\n"
        "  --subscribers N --ramp R     streams, opened at R per second\n"
        "  --rooms N                    spread streams and publishes over N rooms\n"
        "  --messages M --connections K publishes over K keep-alive connections\n"
        "  --rate X                     X messages/s (default: closed-loop)\n"
        "  --max-seconds S --settle S   hard limit of the run; wait for stragglers\n"
        "  --pid PID[,PID...]           sample server CPU and RSS from /proc (summed)\n"
        "  --label NAME                 name in the JSON line\n"
        "  --cumulative                 events carry all messages so far (seed API arrays):\n"
        "                               an event with k new messages counts k deliveries\n"
        "  --member-of K                user streams: each subscriber first joins K of the\n"
        "                               rooms (PUT --join-path, {room} {sub} replaced; an\n"
        "                               empty one joins nothing), and its one stream is\n"
        "                               checked per room; {rooms} in --sub-path is its K\n"
        "                               rooms, comma-separated (Nchan multiplexing)\n"
        "  --tls                        every connection over TLS (not verified)\n"
        "  --h2 K                       subscribers as HTTP/2 streams, K per connection\n"
        "                               (h2 by ALPN with --tls, else h2c prior knowledge)\n"
        "  --storm K --restart CMD      a reconnect storm: --messages over the rooms with no\n"
        "                               stream, then CMD (restarts the server, prints its\n"
        "                               pid), then every stream at once, K behind its room;\n"
        "                               each must get exactly the K it missed\n"
        "  --sources N                  subscribers connect from 127.0.0.2..127.0.0.(N+1)\n");
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "missing value for %s\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--host")
            o.host = next();
        else if (a == "--port")
            o.ports = int_list(next());
        else if (a == "--sub-path")
            o.sub_path = next();
        else if (a == "--pub-path")
            o.pub_path = next();
        else if (a == "--body")
            o.body = next();
        else if (a == "--content-type")
            o.content_type = next();
        else if (a == "--method")
            o.method = next();
        else if (a == "--targets")
            o.targets = std::max(1ul, std::stoul(next()));
        else if (a == "--subscribers")
            o.subscribers = std::stoul(next());
        else if (a == "--ramp")
            o.ramp = std::max(1ul, std::stoul(next()));
        else if (a == "--rooms")
            o.rooms = std::max(1ul, std::stoul(next()));
        else if (a == "--messages")
            o.messages = std::stoul(next());
        else if (a == "--connections")
            o.connections = std::max(1ul, std::stoul(next()));
        else if (a == "--rate")
            o.rate = std::stod(next());
        else if (a == "--max-seconds")
            o.max_seconds = std::stod(next());
        else if (a == "--settle")
            o.settle_seconds = std::stod(next());
        else if (a == "--pid")
            o.pids = int_list(next());
        else if (a == "--label")
            o.label = next();
        else if (a == "--cumulative")
            o.cumulative = true;
        else if (a == "--member-of")
            o.member_of = std::stoul(next());
        else if (a == "--join-path")
            o.join_path = next();
        else if (a == "--token-secret")
            o.token_secret = next();
        else if (a == "--tls")
            o.tls = true;
        else if (a == "--h2")
            o.h2 = std::stoul(next());
        else if (a == "--storm")
            o.storm = std::stoul(next());
        else if (a == "--restart")
            o.restart = next();
        else if (a == "--sources")
            o.sources = std::max<size_t>(1, std::stoul(next()));
        else {
            usage();
            return a == "--help" ? 0 : 2;
        }
    }
    // This machine caps open files at 20,000 per process; take whatever the hard limit allows.
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    return Bench(o).run();
}
