// SSE wire format: encoding events once into shared buffers, and an incremental parser.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace ssechat::sse {

// An encoded event, immutable once built, shared by every recipient.
using Buffer = std::shared_ptr<const std::string>;

// One event. Empty id/event are omitted. Data is split into one "data:" line per line of
// input (CR, LF or CRLF), so no payload can end the event early or forge a field.
// CR, LF and NUL are dropped from id and event, where the format cannot carry them.
std::string encode(std::string_view event, std::string_view id, std::string_view data);

// An encoded event (from encode()) with its id line replaced by `id`, or one put first.
std::string replace_id(std::string_view event, std::string_view id);

// A comment line, e.g. ": ping\n\n"; ignored by EventSource, keeps proxies from timing out.
std::string comment(std::string_view text);

std::string retry(unsigned ms);

struct Event {
    std::string id;
    bool has_id = false;
    std::string event;  // empty means "message"
    std::string data;
    std::optional<uint64_t> retry;
};

// Follows the HTML Living Standard's event-stream interpretation, fed in arbitrary pieces.
class Parser {
  public:
    using Callback = std::function<void(const Event&)>;
    explicit Parser(Callback cb) : cb_(std::move(cb)) {}
    void feed(std::string_view bytes);
    size_t comments() const { return comments_; }

  private:
    void line(std::string_view l);
    Callback cb_;
    std::string partial_;   // an unfinished line
    bool last_cr_ = false;  // a CR ended the previous chunk; a following LF belongs to it
    Event cur_;
    bool data_seen_ = false;
    size_t comments_ = 0;
};

}  // namespace ssechat::sse
