// The seed API's view of room general: the tutorial's array of {user_id, message} for the last
// --legacy-history messages in their current state (edited text, deleted ones left out).
#pragma once
#include <deque>
#include <string>
#include <utility>

#include "chat/view.hpp"

namespace ssechat::http {

class SeedView final : public chat::View {
  public:
    explicit SeedView(size_t cap) : cap_(cap) {}
    size_t depth() const override { return cap_; }
    void warm(const std::vector<model::Event>& newest) override;
    bool apply(const model::Event& e) override;
    sse::Buffer render() override;
    // The tutorial never echoes a user's own message to that user's streams.
    bool quiet_to_authors() const override { return true; }

  private:
    void rebuild();
    const size_t cap_;
    // Elements by message id. A new message appends to body_; an edit or a delete of one of
    // them rebuilds it.
    std::deque<std::pair<uint64_t, std::string>> elems_;
    std::string body_;   // "elem,elem,..."
    sse::Buffer event_;  // "data: [...]", or null after a change
};

// The views the seed API needs: SeedView for room general, none elsewhere.
chat::ViewFactory seed_views(size_t cap);

}  // namespace ssechat::http
