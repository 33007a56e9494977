// SSE encoding: framing can never be broken by a payload, and parsing gives the event back.
#include "sse/event.hpp"

#include <gtest/gtest.h>

using namespace ssechat::sse;

namespace {
std::vector<Event> parse_all(const std::string& wire, size_t chunk = 0) {
    std::vector<Event> out;
    Parser p([&](const Event& e) { out.push_back(e); });
    if (chunk == 0) {
        p.feed(wire);
    } else {
        for (size_t i = 0; i < wire.size(); i += chunk)
            p.feed(std::string_view(wire).substr(i, chunk));
    }
    return out;
}
}  // namespace

TEST(SseEncode, SimpleEvent) {
    EXPECT_EQ(encode("message", "7", "{\"a\":1}"), "id: 7\nevent: message\ndata: {\"a\":1}\n\n");
    EXPECT_EQ(encode("", "", "x"), "data: x\n\n");
}

TEST(SseEncode, MultilineDataBecomesSeveralDataLines) {
    EXPECT_EQ(encode("", "", "a\nb\r\nc\rd"), "data: a\ndata: b\ndata: c\ndata: d\n\n");
    // Line ends of each kind after one another, first and last: LF CR is two line ends.
    EXPECT_EQ(encode("", "", "\r\n\n\rx\n\ry\r"),
              "data: \ndata: \ndata: \ndata: x\ndata: \ndata: y\ndata: \n\n");
    EXPECT_EQ(encode("", "", "\n"), "data: \ndata: \n\n");
}

TEST(SseEncode, IdAndEventCannotInjectFields) {
    std::string wire = encode("msg\nid: 9", "1\r\ndata: evil", "ok");
    auto ev = parse_all(wire);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].data, "ok");
    EXPECT_EQ(ev[0].id, "1data: evil");
    EXPECT_EQ(ev[0].event, "msgid: 9");
}

TEST(SseParse, RoundTripsAwkwardPayloadsInAnyChunking) {
    std::vector<std::string> payloads = {
        "",          "plain",      "two\nlines",      "\n\n\n",       "trailing\n",
        "crlf\r\nx", "  spaces  ", ": not a comment", "data: nested", "emoji 😀 and ünïcödé"};
    for (const auto& p : payloads) {
        std::string wire = encode("message", "42", p);
        for (size_t chunk : {0, 1, 2, 3, 7}) {
            auto ev = parse_all(wire, chunk);
            ASSERT_EQ(ev.size(), 1u) << p;
            // CRLF and CR in the data come back as LF: the format has one line separator.
            std::string expect = p;
            for (size_t i = 0; (i = expect.find("\r\n", i)) != std::string::npos;)
                expect.erase(i, 1);
            for (auto& c : expect)
                if (c == '\r') c = '\n';
            EXPECT_EQ(ev[0].data, expect) << "chunk " << chunk;
            EXPECT_EQ(ev[0].id, "42");
            EXPECT_EQ(ev[0].event, "message");
        }
    }
}

TEST(SseParse, CommentsAndRetry) {
    std::vector<Event> out;
    Parser p([&](const Event& e) { out.push_back(e); });
    p.feed(comment("ping"));
    p.feed(retry(1500));
    p.feed("retry: 10\ndata: x\n\n");
    EXPECT_EQ(p.comments(), 1u);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].retry.value_or(0), 10u);
}

TEST(SseEncode, FieldsThatCleanToNothingAreOmitted) {
    // Found by fuzz_sse: "id: " with no value resets the client's last event id.
    EXPECT_EQ(encode(std::string("\0\r", 2), std::string("\0\n", 2), "x"), "data: x\n\n");
}
