// SSE encoding and parsing.
#include "sse/event.hpp"

#include <algorithm>

namespace ssechat::sse {
namespace {
void append_clean(std::string& out, std::string_view v) {
    for (char c : v)
        if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
}
}  // namespace

std::string encode(std::string_view event, std::string_view id, std::string_view data) {
    std::string out;
    out.reserve(data.size() + id.size() + event.size() + 24);
    // Cleaned first: an "id:" line that cleans down to nothing would reset the client's
    // last event id, which is not what an id made only of unencodable bytes means.
    std::string clean_id, clean_event;
    append_clean(clean_id, id);
    append_clean(clean_event, event);
    if (!clean_id.empty()) out.append("id: ").append(clean_id).push_back('\n');
    if (!clean_event.empty()) out.append("event: ").append(clean_event).push_back('\n');
    // Line ends are found with single-character searches (memchr) rather than find_first_of,
    // which tests each byte against the set: a third of an event's encoding cost. JSON has no
    // raw line ends, so each search is one pass; a search is redone only once its hit is passed.
    size_t start = 0;
    size_t next_lf = data.find('\n'), next_cr = data.find('\r');
    while (true) {
        if (next_lf < start) next_lf = data.find('\n', start);
        if (next_cr < start) next_cr = data.find('\r', start);
        size_t nl = std::min(next_lf, next_cr);
        out += "data: ";
        out.append(data.substr(start, nl == std::string_view::npos ? data.npos : nl - start));
        out += '\n';
        if (nl == std::string_view::npos) break;
        start = nl + 1;
        if (data[nl] == '\r' && start < data.size() && data[start] == '\n') ++start;
    }
    out += '\n';
    return out;
}

std::string replace_id(std::string_view event, std::string_view id) {
    if (event.substr(0, 4) == "id: ") {
        size_t nl = event.find('\n');
        event.remove_prefix(nl == std::string_view::npos ? event.size() : nl + 1);
    }
    std::string out;
    std::string clean;
    append_clean(clean, id);
    out.reserve(event.size() + clean.size() + 5);
    if (!clean.empty()) out.append("id: ").append(clean).push_back('\n');
    out.append(event);
    return out;
}

std::string comment(std::string_view text) {
    std::string out = ": ";
    append_clean(out, text);
    out += "\n\n";
    return out;
}

std::string retry(unsigned ms) {
    return "retry: " + std::to_string(ms) + "\n\n";
}

void Parser::feed(std::string_view bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) {
        char c = bytes[i];
        if (last_cr_) {
            last_cr_ = false;
            if (c == '\n') continue;
        }
        if (c == '\r' || c == '\n') {
            last_cr_ = c == '\r';
            line(partial_);
            partial_.clear();
        } else {
            partial_.push_back(c);
        }
    }
}

void Parser::line(std::string_view l) {
    if (l.empty()) {
        if (data_seen_) {
            if (!cur_.data.empty() && cur_.data.back() == '\n') cur_.data.pop_back();
            cb_(cur_);
        }
        // id persists across events in the standard (last event id); we report per event.
        cur_.data.clear();
        cur_.event.clear();
        cur_.id.clear();
        cur_.has_id = false;
        cur_.retry.reset();
        data_seen_ = false;
        return;
    }
    if (l[0] == ':') {
        ++comments_;
        return;
    }
    auto colon = l.find(':');
    std::string_view field = l.substr(0, colon), value;
    if (colon != std::string_view::npos) {
        value = l.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        cur_.data.append(value);
        cur_.data.push_back('\n');
        data_seen_ = true;
    } else if (field == "event") {
        cur_.event = value;
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) {
            cur_.id = value;
            cur_.has_id = true;
        }
    } else if (field == "retry") {
        uint64_t v = 0;
        bool ok = !value.empty();
        for (char ch : value) {
            if (ch < '0' || ch > '9')
                ok = false;
            else
                v = v * 10 + static_cast<uint64_t>(ch - '0');
        }
        if (ok) cur_.retry = v;
    }
}

}  // namespace ssechat::sse
