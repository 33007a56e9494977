// SeedView: the array is kept as its serialized elements, so a new message costs an append
// (and a front trim), not a re-serialization of the whole array.
#include "http/seed_view.hpp"

#include <algorithm>

namespace ssechat::http {

void SeedView::warm(const std::vector<model::Event>& newest) {
    for (const auto& m : newest) apply(m);
}

bool SeedView::apply(const model::Event& e) {
    using model::Kind;
    if (e.kind == Kind::Message) {
        if (e.deleted) return false;
        std::string elem = model::seed_json(e);
        if (!body_.empty()) body_ += ',';
        body_ += elem;
        elems_.emplace_back(e.id, std::move(elem));
        if (elems_.size() > cap_) {
            size_t cut = elems_.front().second.size() + 1;
            elems_.pop_front();
            body_.erase(0, std::min(cut, body_.size()));
        }
        event_.reset();
        return true;
    }
    if (e.kind != Kind::Edit && e.kind != Kind::Delete) return false;
    auto it = std::lower_bound(elems_.begin(), elems_.end(), e.target,
                               [](const auto& p, uint64_t id) { return p.first < id; });
    if (it == elems_.end() || it->first != e.target) return false;  // older than the array
    if (e.kind == Kind::Edit)
        it->second = model::seed_json(e);  // only the author edits: user_id is theirs
    else
        elems_.erase(it);
    rebuild();
    return true;
}

void SeedView::rebuild() {
    body_.clear();
    for (const auto& [id, elem] : elems_) {
        if (!body_.empty()) body_ += ',';
        body_ += elem;
    }
    event_.reset();
}

sse::Buffer SeedView::render() {
    if (!event_) {
        std::string ev;
        ev.reserve(body_.size() + 10);
        ev.append("data: [").append(body_).append("]\n\n");
        event_ = std::make_shared<const std::string>(std::move(ev));
    }
    return event_;
}

chat::ViewFactory seed_views(size_t cap) {
    return [cap](const std::string& room) -> std::unique_ptr<chat::View> {
        if (room != "general") return nullptr;
        return std::make_unique<SeedView>(cap);
    };
}

}  // namespace ssechat::http
