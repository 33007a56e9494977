#include "model/file.hpp"

#include <boost/json.hpp>

#include "util/text.hpp"

namespace ssechat::model {

namespace {

uint32_t be16(std::string_view b, size_t i) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(b[i])) << 8) |
           static_cast<unsigned char>(b[i + 1]);
}
uint32_t le16(std::string_view b, size_t i) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(b[i + 1])) << 8) |
           static_cast<unsigned char>(b[i]);
}
uint32_t be32(std::string_view b, size_t i) {
    return (be16(b, i) << 16) | be16(b, i + 2);
}
uint32_t le24(std::string_view b, size_t i) {
    return static_cast<uint32_t>(static_cast<unsigned char>(b[i])) |
           (static_cast<uint32_t>(static_cast<unsigned char>(b[i + 1])) << 8) |
           (static_cast<uint32_t>(static_cast<unsigned char>(b[i + 2])) << 16);
}
uint8_t byte(std::string_view b, size_t i) {
    return static_cast<uint8_t>(b[i]);
}

// A JPEG's size from its first start-of-frame segment, walking the segments before it.
void jpeg_size(std::string_view b, Sniffed& s) {
    size_t i = 2;
    while (i + 4 <= b.size()) {
        if (byte(b, i) != 0xFF) return;
        uint8_t m = byte(b, i + 1);
        if (m == 0xFF) {  // fill byte
            ++i;
            continue;
        }
        if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {  // no length
            i += 2;
            continue;
        }
        if (m == 0xD9 || m == 0xDA) return;  // end of image, start of scan: no frame header
        uint32_t len = be16(b, i + 2);
        if (len < 2) return;
        bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof) {
            if (i + 9 > b.size()) return;
            s.height = be16(b, i + 5);
            s.width = be16(b, i + 7);
            return;
        }
        i += 2 + len;
    }
}

void webp_size(std::string_view b, Sniffed& s) {
    if (b.size() < 30) return;
    std::string_view chunk = b.substr(12, 4);
    if (chunk == "VP8 " && byte(b, 23) == 0x9D && byte(b, 24) == 0x01 && byte(b, 25) == 0x2A) {
        s.width = le16(b, 26) & 0x3FFF;
        s.height = le16(b, 28) & 0x3FFF;
    } else if (chunk == "VP8L" && byte(b, 20) == 0x2F) {
        uint32_t bits = static_cast<uint32_t>(byte(b, 21)) | (uint32_t(byte(b, 22)) << 8) |
                        (uint32_t(byte(b, 23)) << 16) | (uint32_t(byte(b, 24)) << 24);
        s.width = (bits & 0x3FFF) + 1;
        s.height = ((bits >> 14) & 0x3FFF) + 1;
    } else if (chunk == "VP8X") {
        s.width = le24(b, 24) + 1;
        s.height = le24(b, 27) + 1;
    }
}

// Valid UTF-8 without control characters other than tab, newline, carriage return and form
// feed; a sequence cut by the end of the sample counts as valid.
bool looks_like_text(std::string_view b) {
    for (size_t i = 0; i < b.size();) {
        auto c = static_cast<unsigned char>(b[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') return false;
            if (c == 0x7F) return false;
            ++i;
            continue;
        }
        size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
        if (n == 0 || c > 0xF4) return false;
        for (size_t k = 1; k < n; ++k) {
            if (i + k >= b.size()) return true;
            if ((static_cast<unsigned char>(b[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

}  // namespace

Sniffed sniff(std::string_view b) {
    Sniffed s;
    if (b.size() >= 24 && b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) {
        s.type = "image/png";
        if (b.substr(12, 4) == "IHDR") {
            s.width = be32(b, 16);
            s.height = be32(b, 20);
        }
    } else if (b.size() >= 10 && (b.substr(0, 6) == "GIF87a" || b.substr(0, 6) == "GIF89a")) {
        s.type = "image/gif";
        s.width = le16(b, 6);
        s.height = le16(b, 8);
    } else if (b.size() >= 3 && byte(b, 0) == 0xFF && byte(b, 1) == 0xD8 && byte(b, 2) == 0xFF) {
        s.type = "image/jpeg";
        jpeg_size(b, s);
    } else if (b.size() >= 16 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP") {
        s.type = "image/webp";
        webp_size(b, s);
    } else if (b.substr(0, 5) == "%PDF-") {
        s.type = "application/pdf";
    } else if (looks_like_text(b.substr(0, 4096))) {
        s.type = "text/plain; charset=utf-8";
    } else {
        s.type = "application/octet-stream";
    }
    // A header that names an absurd size is not believed (the page reserves that space).
    if (s.width == 0 || s.height == 0 || s.width > 100000 || s.height > 100000)
        s.width = s.height = 0;
    return s;
}

bool inline_image(std::string_view type) {
    return type == "image/png" || type == "image/jpeg" || type == "image/gif" ||
           type == "image/webp";
}

std::string file_json(const FileInfo& f) {
    boost::json::object o;
    o["id"] = f.id;
    o["name"] = f.name;
    o["type"] = f.type;
    o["size"] = f.size;
    if (f.width && f.height) {
        o["width"] = f.width;
        o["height"] = f.height;
    }
    return boost::json::serialize(o);
}

std::string claim_problem(const FileInfo* f, const std::string& room, const std::string& uploader,
                          const std::string& key) {
    // One answer for "no such file" and "someone else's": neither says the other exists.
    if (!f || f->room != room || f->uploader != uploader)
        return "no such file of yours in this room";
    if (f->claimed && (key.empty() || f->claim_key != key)) return "the file is in another message";
    return {};
}

std::vector<std::string> file_ids(const std::string& files) {
    std::vector<std::string> out;
    if (files.empty()) return out;
    boost::json::error_code ec;
    auto v = boost::json::parse(files, ec);
    if (ec || !v.is_array()) return out;
    for (const auto& f : v.as_array())
        if (const auto* o = f.if_object())
            if (const auto* id = o->if_contains("id"); id && id->is_string())
                out.emplace_back(id->as_string());
    return out;
}

std::string bad_file_name(std::string_view name) {
    if (name.empty()) return "a file needs a name (?name=)";
    if (name.size() > 255) return "a file name is at most 255 bytes";
    if (name == "." || name == "..") return "a file may not be named . or ..";
    if (!text::valid_utf8(name)) return "a file name must be UTF-8";
    for (unsigned char c : name) {
        if (c < 0x20 || c == 0x7F) return "a file name may not hold control characters";
        if (c == '/' || c == '\\') return "a file name may not hold / or \\";
    }
    return {};
}

}  // namespace ssechat::model
