// The record loaders the typed reads share (typed_reads.cpp defines them; replay_reads.cpp
// uses them too): each shape is assembled from its rows in one place. Internal to store/.
#pragma once

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chirp/store/reads.hpp"

namespace chirp::store::reads {

using tx_t = pqxx::nontransaction;
using tweet_ptr = std::shared_ptr<const domain::tweet>;
using flag_key = std::pair<long long, long long>;  // (tweet, viewer)

// '{1,2,3}': a bigint[] parameter.
std::string id_array(const std::vector<long long>& v);

// UserRefs of the users (unknown ids are missing).
std::unordered_map<long long, domain::user_ref> load_refs(tx_t& tx,
                                                          const std::vector<long long>& ids);

struct tweet_set {
    std::unordered_map<long long, tweet_record> records;
    std::map<flag_key, domain::viewer_flags> flags;

    // The tweet as `viewer` sees it (0: nobody) with its original unless that is deleted;
    // null when it does not exist, or is deleted and `live_only`.
    tweet_ptr get(long long id, long long viewer, bool live_only = true) const {
        auto it = records.find(id);
        if (it == records.end() || (live_only && it->second.deleted)) return nullptr;
        auto t = std::make_shared<domain::tweet>(it->second.tweet);
        t->me = flags_of(id, viewer);
        if (const auto oid = it->second.retweet_of_id; oid != 0)
            if (auto o = records.find(oid); o != records.end() && !o->second.deleted) {
                auto orig = std::make_shared<domain::tweet>(o->second.tweet);
                orig->me = flags_of(oid, viewer);
                t->retweet_of = std::move(orig);
            }
        return t;
    }

    domain::viewer_flags flags_of(long long id, long long viewer) const {
        if (viewer == 0) return {};
        auto f = flags.find({id, viewer});
        return f == flags.end() ? domain::viewer_flags{} : f->second;
    }
};

// Tweets with their originals and the flags of each (tweet, viewer) pair.
tweet_set load_tweets(tx_t& tx, const std::vector<flag_key>& pairs);
tweet_set load_tweets(tx_t& tx, const std::vector<long long>& ids, long long viewer);

struct notification_row {
    long long seq = 0, actor = 0, tweet = 0, conversation = 0, recipient = 0, draft = 0;
    std::string type;
    domain::timestamp_us created_at = 0;
    bool read = false;
};

// Columns from `first`: seq, type, actor, tweet, conversation, created_at, read, recipient,
// draft.
notification_row notification_columns(const pqxx::row& row, int first);

// Notifications with their actors and tweets (as each recipient sees them).
std::vector<domain::notification> assemble_notifications(tx_t& tx,
                                                         const std::vector<notification_row>& rows);

std::unordered_map<long long, std::shared_ptr<const domain::message>> load_messages(
    tx_t& tx, const std::vector<long long>& ids);
std::unordered_map<long long, std::shared_ptr<const domain::conversation>> load_conversations(
    tx_t& tx, const std::vector<long long>& ids);

}  // namespace chirp::store::reads
