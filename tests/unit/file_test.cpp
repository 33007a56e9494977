// Files: sniffing types and image sizes from headers, names, the claim rule, and the sweep of
// files no message took (http::Files over the memory store and a real folder).
#include "model/file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "http/files.hpp"

using namespace ssechat;

namespace {

std::string be(uint32_t v, int bytes) {
    std::string s;
    for (int i = bytes - 1; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    return s;
}
std::string le(uint32_t v, int bytes) {
    std::string s;
    for (int i = 0; i < bytes; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    return s;
}

}  // namespace

TEST(FileSniff, ImagesAndTheirSizesFromTheirHeaders) {
    std::string png = std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", 16) + be(640, 4) + be(480, 4);
    auto p = model::sniff(png);
    EXPECT_EQ(p.type, "image/png");
    EXPECT_EQ(p.width, 640u);
    EXPECT_EQ(p.height, 480u);

    auto g = model::sniff("GIF89a" + le(31, 2) + le(17, 2) + std::string(10, '\0'));
    EXPECT_EQ(g.type, "image/gif");
    EXPECT_EQ(g.width, 31u);
    EXPECT_EQ(g.height, 17u);

    // SOI, an APP0 segment of 16 bytes, then SOF0 with height 300 and width 200.
    std::string jpeg = std::string("\xFF\xD8\xFF\xE0", 4) + be(16, 2) + std::string(14, 'j') +
                       std::string("\xFF\xC0", 2) + be(17, 2) + "\x08" + be(300, 2) + be(200, 2) +
                       std::string(12, '\0');
    auto j = model::sniff(jpeg);
    EXPECT_EQ(j.type, "image/jpeg");
    EXPECT_EQ(j.width, 200u);
    EXPECT_EQ(j.height, 300u);

    std::string vp8x = "RIFF" + le(100, 4) + "WEBPVP8X" + le(10, 4) + std::string(4, '\0') +
                       le(1023, 3) + le(767, 3);
    auto w = model::sniff(vp8x);
    EXPECT_EQ(w.type, "image/webp");
    EXPECT_EQ(w.width, 1024u);
    EXPECT_EQ(w.height, 768u);

    EXPECT_EQ(model::sniff(std::string("\xFF\xD8\xFF", 3)).width, 0u) << "cut short: no size";
    EXPECT_EQ(model::sniff("%PDF-1.7\n").type, "application/pdf");
    EXPECT_EQ(model::sniff("<html>hi</html>").type, "text/plain; charset=utf-8");
    EXPECT_EQ(model::sniff("привет").type, "text/plain; charset=utf-8");
    EXPECT_EQ(model::sniff(std::string("\0\1", 2)).type, "application/octet-stream");
    EXPECT_TRUE(model::inline_image("image/webp"));
    EXPECT_FALSE(model::inline_image("image/svg+xml"));
}

TEST(FileNames, AreUtf8WithoutSlashesOrControls) {
    EXPECT_EQ(model::bad_file_name("cat picture (1).png"), "");
    EXPECT_EQ(model::bad_file_name("отчёт.pdf"), "");
    for (std::string bad : std::vector<std::string>{"", "..", ".", "a/b", "a\\b", "a\nb",
                                                    std::string(256, 'a'), "\xff"})
        EXPECT_NE(model::bad_file_name(bad), "") << bad;
}

TEST(FileClaims, OnlyTheUploadersFileInItsRoomOnce) {
    model::FileInfo f;
    f.room = "town";
    f.uploader = "alice";
    EXPECT_EQ(model::claim_problem(&f, "town", "alice", ""), "");
    EXPECT_NE(model::claim_problem(&f, "town", "bob", ""), "");
    EXPECT_NE(model::claim_problem(&f, "other", "alice", ""), "");
    EXPECT_EQ(model::claim_problem(nullptr, "town", "alice", ""),
              model::claim_problem(&f, "town", "bob", ""))
        << "someone else's file reads as no file";
    f.claimed = true;
    f.claim_key = "k1";
    EXPECT_NE(model::claim_problem(&f, "town", "alice", ""), "");
    EXPECT_NE(model::claim_problem(&f, "town", "alice", "k2"), "");
    EXPECT_EQ(model::claim_problem(&f, "town", "alice", "k1"), "") << "a retry of its message";
}

TEST(FileSweep, UnclaimedFilesGoWithTheirBytesClaimedOnesStay) {
    Config cfg;
    cfg.store = "memory";
    cfg.files_dir =
        std::filesystem::temp_directory_path() / ("ssechat-sweep-" + std::to_string(::getpid()));
    auto files = http::Files::open(cfg);
    auto a = files->put("town", "alice", "a.txt", "kept");
    auto b = files->put("town", "alice", "b.txt", "swept");
    auto b2 = files->put("town", "bob", "b2.txt", "swept");  // the same bytes
    auto claim = files->store().claim({a.id}, "town", "alice", "");
    ASSERT_TRUE(claim.problem.empty()) << claim.problem;
    EXPECT_EQ(files->sweep(http::Files::kUnclaimedMs), 0u) << "none is a day old";
    EXPECT_EQ(files->sweep(-1000), 2u);  // everything unclaimed is older than the future
    EXPECT_TRUE(files->store().get(a.id));
    files->erase({a.id}, true);  // as a sweep that listed it before a message claimed it
    EXPECT_TRUE(files->store().get(a.id)) << "a claimed file is never swept";
    EXPECT_FALSE(files->store().get(b.id));
    EXPECT_FALSE(files->store().get(b2.id));
    EXPECT_TRUE(files->dir().size(a.sha256));
    EXPECT_FALSE(files->dir().size(b.sha256)) << "the bytes went with their last file";
    files->stop();
    std::filesystem::remove_all(cfg.files_dir);
}
