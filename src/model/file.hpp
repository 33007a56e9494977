// Files shared in rooms: what the server makes of an upload's bytes (its type, sniffed, and an
// image's size, read from its header; no image is ever decoded here), the description a
// message carries, and the rules for names.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ssechat::model {

// What the first bytes say a file is. `type` is never the client's word.
struct Sniffed {
    std::string type;  // image/png, image/jpeg, image/gif, image/webp, application/pdf,
                       // text/plain; charset=utf-8, or application/octet-stream
    uint32_t width = 0, height = 0;  // images whose header gives them; 0 otherwise
};
Sniffed sniff(std::string_view bytes);

// The image types the page shows inline; everything else is served as an attachment.
bool inline_image(std::string_view type);

// One stored file.
struct FileInfo {
    std::string id;    // 128 random bits, hex
    std::string room;  // the room it was uploaded to: who may read the room may fetch it
    std::string name;
    std::string type;
    uint64_t size = 0;
    uint32_t width = 0, height = 0;
    std::string sha256;  // of the bytes, hex: where they are stored
    std::string uploader;
    int64_t ts = 0;         // unix ms of the upload
    bool claimed = false;   // a message carries it (or is being published with it)
    std::string claim_key;  // the Idempotency-Key of that message, if it had one
};

// Why a message by `uploader` in `room` may not carry `f` (null: there is no such file), ""
// when it may: only its uploader's, in the room it was uploaded to, and in one message. A
// retry of that message (the same Idempotency-Key) may claim it again.
std::string claim_problem(const FileInfo* f, const std::string& room, const std::string& uploader,
                          const std::string& key);

// {"id","name","type","size"[,"width","height"]}: the upload's answer, and one element of a
// message's "files".
std::string file_json(const FileInfo& f);

// The ids in a message's "files" (the array file_json() elements make); none for "".
std::vector<std::string> file_ids(const std::string& files);

// Why a file name is refused ("" when it is fine): 1 to 255 bytes of UTF-8 without control
// characters or '/', and not "." or "..".
std::string bad_file_name(std::string_view name);

// The most files one message may carry.
inline constexpr size_t kMaxFilesPerMessage = 10;

}  // namespace ssechat::model
