// Events: their JSON through Boost.JSON (which escapes every control character, so an event is
// always a single SSE data line), and the rules of how a change applies to a message.
#include "model/event.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>

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
        case Kind::Member:
            return "member";
        case Kind::RoomChange:
            return "room";
    }
    return "message";
}

namespace {
// An event's JSON is written straight into its string, not built as a Boost.JSON tree and then
// serialized: it is made for every event stored and every change answered, and the tree cost as
// much again as its serialization (a message: about 2,000 instructions each; a message with a
// reaction: 3,800 and 2,900). Written directly, a message's costs 1,600 in all. Boost.JSON
// still encodes every value: each string goes through its serializer, which does the escaping
// (every control character, so an event stays one SSE data line), and integers through
// std::to_chars, which writes JSON's integer syntax. What is written here is only punctuation
// and keys, literals with nothing to escape. A unit test compares the bytes with Boost.JSON's
// serialization of the same object (Model.JsonIsWhatBoostJsonSerializesForTheSameObject).
class JsonOut {
  public:
    explicit JsonOut(std::string& out) : out_(out) {}

    // `lit` is punctuation and a key, as in `,"room":`.
    JsonOut& lit(std::string_view s) {
        out_ += s;
        return *this;
    }
    JsonOut& str(std::string_view v) {
        sr_.reset(boost::json::string_view(v.data(), v.size()));
        do {
            char buf[512];
            auto w = sr_.read(buf, sizeof buf);
            out_.append(w.data(), w.size());
        } while (!sr_.done());
        return *this;
    }
    template <class Int>
    JsonOut& num(Int v) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, v);
        out_.append(buf, static_cast<size_t>(r.ptr - buf));
        return *this;
    }

  private:
    std::string& out_;
    boost::json::serializer sr_;  // one for the document's strings: reset for each
};

// The members a message's state and its event share, from "{" on, without the closing "}".
void message_members(JsonOut& j, const Event& m) {
    j.lit("{\"id\":").num(m.id).lit(",\"room\":").str(m.room);
    j.lit(",\"user_id\":").str(m.user_id);
    if (m.bot) j.lit(",\"bot\":true");
    if (m.deleted) {
        // The tombstone: who wrote it and when, and nothing of what it said.
        j.lit(",\"ts\":").num(m.ts).lit(",\"deleted\":true");
        return;
    }
    j.lit(",\"message\":").str(m.text).lit(",\"ts\":").num(m.ts);
    if (m.reply_to) j.lit(",\"reply_to\":").num(m.reply_to);
    if (m.edited_ts) j.lit(",\"edited_ts\":").num(m.edited_ts);
    // Built by the server from its own descriptions (model::file_json), never from a client.
    if (!m.files.empty()) j.lit(",\"files\":").lit(m.files);
}

// Room for the fixed parts: keys, punctuation and numbers.
constexpr size_t kJsonOverhead = 160;
}  // namespace

std::string member_text(std::string_view action, Role role, std::string_view by) {
    boost::json::object o;
    o["action"] = action;
    if (role != Role::None) o["role"] = role_name(role);
    o["by"] = by;
    return boost::json::serialize(o);
}

std::string room_text(const Profile& p, std::string_view by) {
    boost::json::object o;
    o["name"] = p.name;
    o["topic"] = p.topic;
    o["visibility"] = visibility_name(p.visibility);
    o["by"] = by;
    return boost::json::serialize(o);
}

namespace {
// A rules event's JSON: its stored text's fields between the room's and the ts. A text that
// is not an object (never written so) shows as nothing rather than failing a whole replay.
std::string rules_json(const Event& e) {
    boost::json::object o;
    o["room"] = e.room;
    o["id"] = e.id;
    if (e.kind == Kind::Member) o["user_id"] = e.user_id;
    boost::json::error_code ec;
    auto v = boost::json::parse(e.text, ec);
    if (!ec && v.is_object())
        for (auto& kv : v.as_object()) o[kv.key()] = kv.value();
    o["ts"] = e.ts;
    return boost::json::serialize(o);
}
}  // namespace

std::string event_json(const Event& e) {
    if (rules_kind(e.kind)) return rules_json(e);
    std::string out;
    out.reserve(kJsonOverhead + e.room.size() + e.user_id.size() + e.text.size() + e.files.size());
    JsonOut j(out);
    if (e.kind == Kind::Message) {
        message_members(j, e);
    } else {
        j.lit("{\"id\":").num(e.id).lit(",\"room\":").str(e.room);
        j.lit(",\"target\":").num(e.target).lit(",\"user_id\":").str(e.user_id);
        if (e.kind == Kind::Edit) j.lit(",\"message\":").str(e.text);
        if (e.kind == Kind::Reaction)
            j.lit(",\"emoji\":")
                .str(e.text)
                .lit(e.remove ? ",\"op\":\"remove\"" : ",\"op\":\"add\"");
        j.lit(",\"ts\":").num(e.ts);
    }
    out += '}';
    return out;
}

std::string state_json(const Event& m) {
    size_t size = kJsonOverhead + m.room.size() + m.user_id.size() + m.text.size() + m.files.size();
    for (const auto& r : m.reactions) {
        size += 48 + r.emoji.size();
        for (size_t i = 0; i < r.users.size() && i < kMaxListedUsers; ++i)
            size += 3 + r.users[i].size();
    }
    std::string out;
    out.reserve(size);
    JsonOut j(out);
    message_members(j, m);
    if (!m.deleted && !m.reactions.empty()) {
        j.lit(",\"reactions\":[");
        for (size_t k = 0; k < m.reactions.size(); ++k) {
            const auto& r = m.reactions[k];
            j.lit(k ? ",{\"emoji\":" : "{\"emoji\":").str(r.emoji);
            j.lit(",\"count\":").num(r.users.size()).lit(",\"users\":[");
            for (size_t i = 0; i < r.users.size() && i < kMaxListedUsers; ++i)
                j.lit(i ? "," : "").str(r.users[i]);
            j.lit("]}");
        }
        j.lit("]");
    }
    out += '}';
    return out;
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

std::string joined_json(const std::string& room, uint64_t read, std::optional<uint64_t> last_id) {
    boost::json::object o;
    o["room"] = room;
    o["read"] = read;
    if (last_id) o["last_id"] = *last_id;
    return boost::json::serialize(o);
}

std::string left_json(const std::string& room, std::string_view reason, std::string_view by) {
    boost::json::object o;
    o["room"] = room;
    o["reason"] = reason;
    o["by"] = by;
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
    o["kind"] = visibility_name(s.kind);
    if (!s.title.empty()) o["title"] = s.title;
    if (s.kind == Visibility::Dm) o["with"] = s.with;
    o["notify"] = notify_level_name(s.notify.value_or(default_level(s.kind)));
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

std::string cursor(const std::vector<std::string>& epochs, const Positions& pos) {
    std::string out;
    for (size_t i = 0; i < epochs.size() && i < pos.size(); ++i) {
        if (i) out += '~';
        out += epochs[i];
        out += '.';
        out += std::to_string(pos[i]);
    }
    return out;
}

std::optional<Positions> parse_cursor(std::string_view text, const std::vector<std::string>& epochs,
                                      const Positions& newest) {
    Positions out;
    out.reserve(epochs.size());
    for (size_t i = 0; i < epochs.size(); ++i) {
        if (i) {
            if (!text.starts_with('~')) return std::nullopt;
            text.remove_prefix(1);
        }
        const std::string& epoch = epochs[i];
        if (text.size() <= epoch.size() + 1 || !text.starts_with(epoch) ||
            text[epoch.size()] != '.')
            return std::nullopt;
        text.remove_prefix(epoch.size() + 1);
        std::string_view digits = text.substr(0, text.find('~'));
        text.remove_prefix(digits.size());
        if (digits.empty() || digits.size() > 19 || (digits.size() > 1 && digits[0] == '0'))
            return std::nullopt;
        uint64_t v = 0;
        for (char c : digits) {
            if (c < '0' || c > '9') return std::nullopt;
            v = v * 10 + static_cast<uint64_t>(c - '0');
        }
        // From a store that was wiped, or made up.
        if (i >= newest.size() || v > newest[i]) return std::nullopt;
        out.push_back(v);
    }
    if (!text.empty() || out.empty()) return std::nullopt;
    return out;
}

std::string seed_json(const Event& m) {
    boost::json::object o;
    o["user_id"] = m.user_id;
    o["message"] = m.text;
    return boost::json::serialize(o);
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

Outcome check(const Event* target, const Event& change, bool moderator) {
    if (!target || target->kind != Kind::Message) return Outcome::NotFound;
    if (target->deleted) return Outcome::Gone;
    switch (change.kind) {
        case Kind::Edit:
            return target->user_id == change.user_id ? Outcome::Ok : Outcome::Forbidden;
        case Kind::Delete:
            return target->user_id == change.user_id || moderator ? Outcome::Ok
                                                                  : Outcome::Forbidden;
        case Kind::Reaction: {
            const auto& list = target->reactions;
            auto it = std::find_if(list.begin(), list.end(),
                                   [&](const Reactions& r) { return r.emoji == change.text; });
            bool has = it != list.end() && std::find(it->users.begin(), it->users.end(),
                                                     change.user_id) != it->users.end();
            if (has != change.remove) return Outcome::NoChange;
            if (change.remove) return Outcome::Ok;
            if (it == list.end() && list.size() >= kMaxReactionKinds) return Outcome::TooManyKinds;
            size_t mine = 0;
            for (const auto& r : list)
                mine += std::find(r.users.begin(), r.users.end(), change.user_id) != r.users.end();
            return mine >= kMaxReactionsPerUser ? Outcome::TooManyOfUser : Outcome::Ok;
        }
        case Kind::Message:
        case Kind::Presence:
        case Kind::Typing:
        case Kind::Receipt:
        case Kind::Read:
        case Kind::Joined:
        case Kind::Left:
        case Kind::Member:
        case Kind::RoomChange:
            break;  // not a change of a message
    }
    return Outcome::NotFound;
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
            m.files.clear();
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
        case Kind::Message:
        case Kind::Presence:
        case Kind::Typing:
        case Kind::Receipt:
        case Kind::Read:
        case Kind::Joined:
        case Kind::Left:
        case Kind::Member:
        case Kind::RoomChange:
            return;  // changes no message
    }
}

}  // namespace ssechat::model
