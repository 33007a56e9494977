// A writer for a store several nodes share: the store checks each change, settles keys and
// gives ids and positions in one atomic step (store::Cluster::publish), and every node, this
// one too, delivers what it stored from the feed, so all deliver the same sequence.
#pragma once
#include "chat/writer.hpp"
#include "store/cluster.hpp"

namespace ssechat::chat {

class SharedWriter final : public Writer {
  public:
    SharedWriter(const Config& cfg, store::Store& store, Sequence& seq, store::Cluster& cluster);
    ~SharedWriter() override;

  private:
    void commit(std::vector<Pending>& batch) override;
    bool store_members(std::vector<store::MemberOp>& ops, const std::vector<MemberJob*>& kept,
                       std::vector<Pending>& records) override;
    void commit_records(std::vector<Pending>& records) override;

    store::Cluster& cluster_;
};

}  // namespace ssechat::chat
