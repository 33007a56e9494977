// The default store: one SQLite file in WAL mode, written by one thread in group commits.
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace ssechat::store {

// Not final: a test derives from it to fail an append behind a rules change.
class SqliteStore : public Store {
  public:
    // Opens or creates DIR/ssechat.db. Throws StoreError naming the file when it is corrupt,
    // locked by another ssechat, or cannot be written.
    // key_ttl_s: how long an Idempotency-Key is kept. An older database is upgraded in place.
    SqliteStore(const std::string& dir, bool fsync_always, uint64_t retain,
                int64_t key_ttl_s = 86400);
    ~SqliteStore() override;

    std::vector<RoomMeta> rooms(const std::string& after, size_t limit) override;
    uint64_t last_id(const std::string& room) override;
    void append(const std::vector<model::Event>& batch) override;
    void end_batch() override;
    std::vector<model::Event> range(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::vector<model::Event> messages(const std::string& room, uint64_t after, uint64_t before,
                                       size_t limit, bool newest) override;
    std::vector<model::Event> shown(const std::string& room, uint64_t after, uint64_t before,
                                    size_t limit, bool newest) override;
    std::optional<model::Event> message(const std::string& room, uint64_t id) override;
    std::optional<model::KeyRecord> find_key(const std::string& room, const std::string& user,
                                             const std::string& key, int64_t now_ms) override;
    const std::string& epoch(size_t) override { return epoch_; }
    uint64_t last_pos(size_t) override { return last_pos_; }
    std::optional<uint64_t> first_after(const std::string& room, uint64_t pos) override;
    std::vector<model::Event> log_after(size_t shard, uint64_t pos, size_t limit) override;
    void members(std::vector<MemberOp>& ops) override;
    void begin_together() override;
    void commit_together() override;
    void abandon_together() override;
    std::vector<Membership> memberships(const std::string& user) override;
    model::Roster roster(const std::string& room) override;
    model::Roster roster_of(const std::string& room, const std::string& user) override;
    std::optional<model::Profile> profile(const std::string& room) override;
    Settings settings(const std::string& user) override;
    std::vector<std::pair<std::string, uint64_t>> receipts(const std::string& room) override;
    Unread unread(const std::string& room, const std::string& user, uint64_t after,
                  size_t cap) override;
    bool writable() override;
    bool searchable() const override { return true; }
    std::vector<model::SearchHit> search(const model::SearchQuery& q,
                                         const std::vector<std::string>& rooms, int64_t before,
                                         size_t limit) override;
    const std::string& path() const { return path_; }

  private:
    sqlite3_stmt* prepare(sqlite3* db, const char* sql);
    void release();
    // Opens the writer's transaction unless one is open: the batch's reads run in it, so
    // that a batch takes SQLite's file locks once, not once per message it looks up.
    void begin_batch();
    bool together_ = false;  // begin_together(): append() and members() leave the commit to it
    void finish_batch(sqlite3_stmt* how);
    void migrate();
    void load_meta();
    // One event's row and what it changes, inside append()'s transaction. Added reactions
    // wait in adds_ for flush_adds().
    void write_event(const model::Event& e);
    // Writes the added reactions that wait, kAddRows to a statement: a reaction is the one
    // event that writes a second row, and a statement per row cost a reaction 2,000
    // instructions more than a message. Runs before anything else touches `reactions`.
    void flush_adds();
    // The search index, kept in step inside append()'s transaction: a message is added, an
    // edit replaces its text, a delete (or, with up_to, the retention trim up to an id)
    // removes it.
    void index_message(const model::Event& e);
    void unindex(const std::string& room, long long id, bool up_to);
    // Rows of a range statement (room, after, before, limit), oldest first. Under rmu_.
    std::vector<model::Event> read(sqlite3_stmt* s, const std::string& room, uint64_t after,
                                   uint64_t before, size_t limit, bool newest);
    // Gives the messages of a page (ascending ids) their reactions, in one read. Under rmu_.
    void add_reactions(const std::string& room, std::vector<model::Event>& out);
    std::vector<sqlite3_stmt**> statements() {
        return {
            &insert_,      &upsert_room_,       &trim_,           &trim_reactions_, &delete_,
            &erase_edits_, &react_add_,         &react_add_many_, &react_remove_,   &react_clear_,
            &message_,     &message_reactions_, &range_asc_,      &range_desc_,     &msgs_asc_,
            &msgs_desc_,   &shown_asc_,         &shown_desc_,     &page_reactions_, &rooms_page_,
            &last_id_,     &find_key_,          &insert_key_,     &purge_keys_,     &set_pos_,
            &first_after_, &member_get_,        &member_count_,   &member_insert_,  &member_delete_,
            &member_read_, &memberships_,       &receipts_,       &unread_,         &begin_,
            &commit_,      &rollback_};
    }
    [[noreturn]] void fail(sqlite3* db, const std::string& what);
    // One statement of the room rules on the writer connection (in the open batch), or rows
    // read on the reader connection (under rmu_); each prepared once, and kept.
    void write(const char* sql, const std::function<void(sqlite3_stmt*)>& bind);
    void read_rows(const char* sql, const std::function<void(sqlite3_stmt*)>& bind,
                   const std::function<void(sqlite3_stmt*)>& row);
    std::optional<model::Profile> profile_locked(const std::string& room);
    // The rules of `room`, of every member or of `user` only. Under rmu_.
    model::Roster roster_locked(const std::string& room, const std::string* user);
    std::map<const char*, sqlite3_stmt*> rare_write_;  // writer thread
    std::map<const char*, sqlite3_stmt*> rare_read_;   // under rmu_

    std::string path_;
    int lock_fd_ = -1;  // flock'd so that two servers never share one file
    uint64_t retain_;
    sqlite3* wdb_ = nullptr;  // writer connection, used by append() only
    sqlite3* rdb_ = nullptr;  // reader connection, guarded by rmu_
    std::mutex rmu_;
    sqlite3* sdb_ = nullptr;  // search connection, guarded by smu_
    std::mutex smu_;
    std::map<const char*, sqlite3_stmt*> search_statements_;  // under smu_
    sqlite3_stmt* insert_ = nullptr;
    sqlite3_stmt* upsert_room_ = nullptr;
    sqlite3_stmt* trim_ = nullptr;
    sqlite3_stmt* trim_reactions_ = nullptr;
    sqlite3_stmt* delete_ = nullptr;
    sqlite3_stmt* erase_edits_ = nullptr;
    sqlite3_stmt* react_add_ = nullptr;
    sqlite3_stmt* react_add_many_ = nullptr;  // kAddRows rows
    static constexpr int kAddRows = 16;
    std::vector<const model::Event*> adds_;  // reactions added in append(), not yet written
    sqlite3_stmt* react_remove_ = nullptr;
    sqlite3_stmt* react_clear_ = nullptr;
    sqlite3_stmt* message_ = nullptr;
    sqlite3_stmt* message_reactions_ = nullptr;
    sqlite3_stmt* msgs_asc_ = nullptr;
    sqlite3_stmt* msgs_desc_ = nullptr;
    sqlite3_stmt* shown_asc_ = nullptr;
    sqlite3_stmt* shown_desc_ = nullptr;
    sqlite3_stmt* page_reactions_ = nullptr;
    sqlite3_stmt* range_asc_ = nullptr;
    sqlite3_stmt* range_desc_ = nullptr;
    sqlite3_stmt* rooms_page_ = nullptr;
    sqlite3_stmt* last_id_ = nullptr;
    sqlite3_stmt* find_key_ = nullptr;
    sqlite3_stmt* insert_key_ = nullptr;
    sqlite3_stmt* purge_keys_ = nullptr;
    sqlite3_stmt* set_pos_ = nullptr;
    sqlite3_stmt* first_after_ = nullptr;
    sqlite3_stmt* member_get_ = nullptr;
    sqlite3_stmt* member_count_ = nullptr;
    sqlite3_stmt* member_insert_ = nullptr;
    sqlite3_stmt* member_delete_ = nullptr;
    sqlite3_stmt* member_read_ = nullptr;
    sqlite3_stmt* memberships_ = nullptr;
    sqlite3_stmt* receipts_ = nullptr;
    sqlite3_stmt* unread_ = nullptr;
    sqlite3_stmt* begin_ = nullptr;
    sqlite3_stmt* commit_ = nullptr;
    sqlite3_stmt* rollback_ = nullptr;
    bool in_batch_ = false;  // begin_batch() opened a transaction on wdb_
    std::string epoch_;
    std::atomic<uint64_t> last_pos_{0};  // newest position committed (writer thread writes)
    int64_t key_ttl_ms_;
    int64_t last_purge_ms_ = 0;
    std::atomic<bool> healthy_{true};  // the last commit succeeded
};

}  // namespace ssechat::store
