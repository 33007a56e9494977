// Events: their JSON through Boost.JSON (which escapes every control character, so an event is
// always a single SSE data line), and the rules of how a change applies to a message.
#include "model/event.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "sse/event.hpp"

namespace ssechat::model {

const char* kind_name(Kind k) {
    switch (k) {
        case Kind::Message:
            return "message";
        case Kind::Edit:
            return "edit";
        case Kind::Delete:
            return "delete";
        case Kind::Reaction:
            return "reaction";
        case Kind::Presence:
            return "presence";
        case Kind::Typing:
            return "typing";
        case Kind::Receipt:
            return "receipt";
        case Kind::Read:
            return "read";
        case Kind::Joined:
            return "joined";
        case Kind::Left:
            return "left";
    }
    return "message";
}

namespace {
// An event's JSON is built to be serialized once and dropped, so its keys, strings and arrays
// take their memory from a buffer on the stack, bumped and never freed one by one: a message
// with its reactions costs no malloc below this size.
class Scratch {
  public:
    boost::json::storage_ptr sp() { return &mr_; }

  private:
    alignas(16) unsigned char buf_[2048];
    boost::json::monotonic_resource mr_{buf_, sizeof buf_};
};

// Room for every key a message's state has, so that the object never grows. Keys are
// emplaced: each is new, and operator[] would first insert a null and then assign.
constexpr size_t kKeys = 8;

boost::json::object head(const Event& e, const boost::json::storage_ptr& sp) {
    boost::json::object o(sp);
    o.reserve(kKeys);
    o.emplace("id", e.id);
    o.emplace("room", e.room);
    return o;
}

boost::json::object message_object(const Event& m, const boost::json::storage_ptr& sp) {
    boost::json::object o = head(m, sp);
    o.emplace("user_id", m.user_id);
    if (m.deleted) {
        // The tombstone: who wrote it and when, and nothing of what it said.
        o.emplace("ts", m.ts);
        o.emplace("deleted", true);
        return o;
    }
    o.emplace("message", m.text);
    o.emplace("ts", m.ts);
    if (m.reply_to) o.emplace("reply_to", m.reply_to);
    if (m.edited_ts) o.emplace("edited_ts", m.edited_ts);
    return o;
}
}  // namespace

std::string event_json(const Event& e) {
    Scratch scratch;
    if (e.kind == Kind::Message) return boost::json::serialize(message_object(e, scratch.sp()));
    boost::json::object o = head(e, scratch.sp());
    o.emplace("target", e.target);
    o.emplace("user_id", e.user_id);
    if (e.kind == Kind::Edit) o.emplace("message", e.text);
    if (e.kind == Kind::Reaction) {
        o.emplace("emoji", e.text);
        o.emplace("op", e.remove ? "remove" : "add");
    }
    o.emplace("ts", e.ts);
    return boost::json::serialize(o);
}

std::string state_json(const Event& m) {
    Scratch scratch;
    auto sp = scratch.sp();
    boost::json::object o = message_object(m, sp);
    if (!m.deleted && !m.reactions.empty()) {
        boost::json::array list(sp);
        list.reserve(m.reactions.size());
        for (const auto& r : m.reactions) {
            boost::json::object x(sp);
            x.reserve(3);
            x.emplace("emoji", r.emoji);
            x.emplace("count", r.users.size());
            boost::json::array users(sp);
            users.reserve(std::min(r.users.size(), kMaxListedUsers));
            for (size_t i = 0; i < r.users.size() && i < kMaxListedUsers; ++i)
                users.emplace_back(r.users[i]);
            x.emplace("users", std::move(users));
            list.push_back(std::move(x));
        }
        o.emplace("reactions", std::move(list));
    }
    return boost::json::serialize(o);
}

std::string typing_json(const std::string& room, const std::string& user, bool typing) {
    boost::json::object o;
    o["room"] = room;
    o["user_id"] = user;
    o["typing"] = typing;
    return boost::json::serialize(o);
}

std::string receipt_json(const std::string& room, const std::string& user, uint64_t id) {
    boost::json::object o;
    o["room"] = room;
    o["user_id"] = user;
    o["id"] = id;
    return boost::json::serialize(o);
}

std::string read_json(const std::string& room, uint64_t id) {
    boost::json::object o;
    o["room"] = room;
    o["id"] = id;
    return boost::json::serialize(o);
}

namespace {
// A character that could continue a word or a user id ("@bob" is not in "@bobby" or "x@bob").
bool word_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || c == '-' || u >= 0x80;
}
}  // namespace

bool mentions(std::string_view text, std::string_view user) {
    if (user.empty()) return false;
    for (size_t at = text.find('@'); at != std::string_view::npos; at = text.find('@', at + 1)) {
        if (at > 0 && word_char(text[at - 1])) continue;
        if (text.substr(at + 1, user.size()) != user) continue;
        size_t end = at + 1 + user.size();
        // "@bob." ends a sentence; "@bob.smith" names someone else.
        if (end < text.size() &&
            (word_char(text[end]) ||
             (text[end] == '.' && end + 1 < text.size() && word_char(text[end + 1]))))
            continue;
        return true;
    }
    return false;
}

std::string summary_json(const Summary& s) {
    boost::json::object o;
    o["name"] = s.name;
    o["last_id"] = s.last_id;
    o["read"] = s.read;
    o["unread"] = s.unread;
    if (s.unread_more) o["unread_more"] = true;
    o["mentions"] = s.mentions;
    if (s.mentions_more) o["mentions_more"] = true;
    o["online"] = s.online;
    return boost::json::serialize(o);
}

std::string rooms_json(const std::vector<Summary>& list) {
    std::string out = "{\"rooms\":[";
    for (size_t i = 0; i < list.size(); ++i) {
        if (i) out += ',';
        out += summary_json(list[i]);
    }
    out += "]}";
    return out;
}

std::string cursor(std::string_view epoch, uint64_t pos) {
    std::string out(epoch);
    out += '.';
    out += std::to_string(pos);
    return out;
}

std::optional<uint64_t> parse_cursor(std::string_view text, std::string_view epoch,
                                     uint64_t newest) {
    if (text.size() <= epoch.size() + 1 || text.substr(0, epoch.size()) != epoch ||
        text[epoch.size()] != '.')
        return std::nullopt;
    std::string_view digits = text.substr(epoch.size() + 1);
    if (digits.size() > 19 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > newest) return std::nullopt;  // from a store that was wiped, or made up
    return v;
}

std::string seed_json(const Event& m) {
    boost::json::object o;
    o["user_id"] = m.user_id;
    o["message"] = m.text;
    return boost::json::serialize(o);
}

std::string sse_event(const Event& e, std::string_view json) {
    return sse::encode(kind_name(e.kind), std::to_string(e.id), json);
}

std::string text_hash(const std::string& text) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(text.data(), text.size(), md, &n, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < n; ++i) {
        out += hex[md[i] >> 4];
        out += hex[md[i] & 15];
    }
    return out;
}

namespace {
std::vector<Reactions>::iterator find_emoji(Event& m, const std::string& emoji) {
    return std::find_if(m.reactions.begin(), m.reactions.end(),
                        [&](const Reactions& r) { return r.emoji == emoji; });
}
}  // namespace

Verdict check(const Event* target, const Event& change, bool moderator) {
    if (!target || target->kind != Kind::Message) return Verdict::NotFound;
    if (target->deleted) return Verdict::Gone;
    switch (change.kind) {
        case Kind::Edit:
            return target->user_id == change.user_id ? Verdict::Apply : Verdict::Forbidden;
        case Kind::Delete:
            return target->user_id == change.user_id || moderator ? Verdict::Apply
                                                                  : Verdict::Forbidden;
        case Kind::Reaction: {
            const auto& list = target->reactions;
            auto it = std::find_if(list.begin(), list.end(),
                                   [&](const Reactions& r) { return r.emoji == change.text; });
            bool has = it != list.end() && std::find(it->users.begin(), it->users.end(),
                                                     change.user_id) != it->users.end();
            return has == change.remove ? Verdict::Apply : Verdict::NoChange;
        }
        default:
            return Verdict::NotFound;
    }
}

void add_reaction(std::vector<Reactions>& list, std::string emoji, std::string user, uint64_t id) {
    auto it = std::find_if(list.begin(), list.end(),
                           [&](const Reactions& r) { return r.emoji == emoji; });
    if (it == list.end()) {
        list.push_back({std::move(emoji), {std::move(user)}, {id}});
    } else {
        it->users.push_back(std::move(user));
        it->ids.push_back(id);
    }
}

void apply(Event& m, const Event& change) {
    switch (change.kind) {
        case Kind::Edit:
            if (m.deleted) return;
            m.text = change.text;
            m.edited_ts = change.ts;
            return;
        case Kind::Delete:
            m.deleted = true;
            m.text.clear();
            m.reactions.clear();
            return;
        case Kind::Reaction: {
            if (m.deleted) return;
            auto it = find_emoji(m, change.text);
            if (it == m.reactions.end()) {
                if (!change.remove)
                    m.reactions.push_back({change.text, {change.user_id}, {change.id}});
                return;
            }
            auto u = std::find(it->users.begin(), it->users.end(), change.user_id);
            if (change.remove == (u == it->users.end())) return;  // nothing to change
            if (!change.remove) {
                it->users.push_back(change.user_id);
                it->ids.push_back(change.id);
                return;
            }
            it->ids.erase(it->ids.begin() + (u - it->users.begin()));
            it->users.erase(u);
            if (it->users.empty()) m.reactions.erase(it);
            // The emoji's earliest reaction may have been this one: it moves to its next.
            std::stable_sort(m.reactions.begin(), m.reactions.end(),
                             [](const Reactions& a, const Reactions& b) {
                                 return a.ids.front() < b.ids.front();
                             });
            return;
        }
        default:
            return;
    }
}

}  // namespace ssechat::model
