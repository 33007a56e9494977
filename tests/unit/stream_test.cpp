// Stream: what a reader that stays a little behind costs, over many events.
#include "sse/stream.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>

using namespace ssechat;
namespace asio = boost::asio;

TEST(Stream, QueueHoldsOnlyWhatIsUnsentForAReaderThatStaysBehind) {
    asio::io_context ioc;
    auto work = asio::make_work_guard(ioc);  // poll() must not stop when the queue drains
    // A socket pair: no TCP windows in the way, so the only pacing is the reader's.
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    int small = 16384;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    asio::ip::tcp::socket server(ioc);
    server.assign(asio::ip::tcp::v4(), fds[0]);
    auto s = std::make_shared<sse::Stream>(std::move(server), 8 << 20);
    std::string line(100, 'x');
    line.back() = '\n';
    auto ev = std::make_shared<const std::string>(std::move(line));
    // 200 KB behind from the start, then read exactly as fast as events are sent.
    for (int i = 0; i < 2000; ++i) ASSERT_NE(s->send(ev), sse::SendStatus::Dropped);
    size_t owed = 0, most = 0;
    char buf[65536];
    for (int i = 0; i < 100000; ++i) {
        ASSERT_NE(s->send(ev), sse::SendStatus::Dropped) << i;
        owed += ev->size();
        ssize_t n = ::recv(fds[1], buf, std::min(owed, sizeof buf), MSG_DONTWAIT);
        if (n > 0) owed -= static_cast<size_t>(n);
        ioc.poll();
        most = std::max(most, s->queued_buffers());
    }
    EXPECT_FALSE(s->closed());
    EXPECT_GT(s->queued_buffers(), 0u) << "the reader never caught up, as intended";
    // About 2,000 behind: the queue holds at most about twice that (sent entries are dropped
    // in bulk), never the 100,000 sent meanwhile.
    EXPECT_LT(most, 5000u);
    EXPECT_LT(s->queued_bytes(), size_t{400000});
    s->close();
    ::close(fds[1]);
}
