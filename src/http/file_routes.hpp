// Files as resources: uploads to a room and downloads; owns the files' state (files.hpp)
// and the slots for upload bodies in flight.
#pragma once
#include <memory>
#include <string>

#include "http/exchange.hpp"
#include "http/files.hpp"
#include "http/limits.hpp"

namespace ssechat::http {

class Api;

class FileRoutes {
  public:
    explicit FileRoutes(Api& api);
    ~FileRoutes();
    // Null when the store keeps no files (Redis).
    Files* files() { return files_.get(); }
    // A slot for an upload body from `address`, or null when kMaxUploads are in flight (or
    // kMaxUploadsPerAddress from it): each may be --max-upload bytes held in memory.
    std::shared_ptr<void> admit_upload(const std::string& address) {
        limits::Ticket t;
        return uploads_.admit(address, t) == limits::Counter::Admit::Ok ? t : nullptr;
    }
    static constexpr size_t kMaxUploads = 8, kMaxUploadsPerAddress = 4;
    void upload_file(Ctx& c);
    void get_file(Ctx& c);

  private:
    Api& api_;
    std::unique_ptr<Files> files_;
    limits::Counter uploads_{kMaxUploads, kMaxUploadsPerAddress};  // bodies in flight
};

}  // namespace ssechat::http
