// A view: a rendering of a room's current state that some streams take instead of its events.
// The chat core keeps a room's view up to date and sends it to those streams on change; what
// the rendering is belongs to whoever made the view (the seed API's array, in src/http/).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/event.hpp"
#include "sse/event.hpp"

namespace ssechat::chat {

class View {
  public:
    virtual ~View() = default;
    // How many of the room's newest messages, in their current state, warm() wants.
    virtual size_t depth() const = 0;
    // Fills the rendering from those messages (oldest first), before the room is shared.
    virtual void warm(const std::vector<model::Event>& newest) = 0;
    // What a committed event does to the rendering; true when it changed. Called under the
    // room's lock, in id order.
    virtual bool apply(const model::Event& e) = 0;
    // The rendering as one SSE event, built at most once per change and shared.
    virtual sse::Buffer render() = 0;
    // True when a user's own change is not sent back to that user's view streams.
    virtual bool quiet_to_authors() const { return false; }
};

// The view a room has, or null: asked once per room load.
using ViewFactory = std::function<std::unique_ptr<View>(const std::string& room)>;

}  // namespace ssechat::chat
