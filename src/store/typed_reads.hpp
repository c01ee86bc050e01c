// The readers behind event_store's typed reads: each runs its statements (queries.cpp) on a
// reader thread's connection and builds domain rows. Internal to the store module.
#pragma once

#include <pqxx/connection>
#include <string>
#include <vector>

#include "chirp/store/reads.hpp"

namespace chirp::store::reads {

using conn = pqxx::connection;

result<user_credentials> credentials(conn& c, const std::string& handle);
result<domain::user> user_by_id(conn& c, long long id);
result<domain::user> user_by_handle(conn& c, const std::string& handle, long long viewer);
result<std::vector<domain::user>> search_users(conn& c, const std::string& prefix, int limit,
                                               long long viewer);
result<page<domain::user>> follow_page(conn& c, bool followers, const std::string& handle,
                                       long long before, int limit, long long viewer);
result<page<domain::tweet>> user_tweets(conn& c, const std::string& handle, long long before,
                                        int limit, long long viewer);
result<domain::tweet> tweet(conn& c, long long id, long long viewer);
result<page<domain::tweet>> replies(conn& c, long long id, long long before, int limit,
                                    long long viewer);
result<page<domain::tweet>> home_timeline(conn& c, long long user, long long before, int limit);
result<notifications_page> notifications(conn& c, long long user, long long before, int limit);
result<page<domain::audit_event>> events(conn& c, long long user, long long after, int limit);
result<page<domain::conversation>> conversations(conn& c, long long user, long long before,
                                                 int limit);
result<page<domain::message>> messages(conn& c, long long conversation, long long user,
                                       long long before, int limit);
result<std::vector<long long>> conversation_members(conn& c, long long conversation);
result<std::vector<long long>> celebrity_followees(conn& c, long long user, long long threshold);
result<follower_ids> followers_of(conn& c, long long author, long long max_ids);
result<long long> purge_idempotency(conn& c, long long max_age_seconds, int limit);
result<stats_counts> counts(conn& c);
result<home_list> home_ids(conn& c, long long user, int max);
result<home_fill> home_records(conn& c, const std::vector<long long>& ids, long long viewer,
                               const std::vector<long long>& flag_ids);
result<replay_answer> replay(conn& c, domain::channel stream,
                             const std::vector<replay_request>& requests, int limit);

}  // namespace chirp::store::reads
