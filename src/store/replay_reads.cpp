// Replay: the events above each session's `since`, read for many sessions at once (one
// statement per stream selects (request, seq) rows), each missed event's frame rendered once
// with the envelope renderer of domain/wire and shared by every request that replays it.
#include <algorithm>
#include <unordered_map>

#include "loaders.hpp"
#include "typed_reads.hpp"

namespace chirp::store::reads {
namespace {

struct event_head {
    domain::event head;  // payload unset
    long long tweet = 0, message = 0, conversation = 0;
};

std::unordered_map<long long, event_head> load_events(tx_t& tx,
                                                      const std::vector<long long>& seqs) {
    std::unordered_map<long long, event_head> out;
    if (seqs.empty()) return out;
    for (const auto& row : tx.exec_prepared("event_rows", id_array(seqs))) {
        event_head e;
        e.head.id = row[1].c_str();
        e.head.type = row[2].c_str();
        e.head.user_id = row[3].as<long long>();
        e.head.timestamp = row[4].as<long long>();
        e.head.version = row[5].as<int>();
        e.tweet = row[6].as<long long>();
        e.message = row[7].as<long long>();
        e.conversation = row[8].as<long long>();
        out.emplace(row[0].as<long long>(), std::move(e));
    }
    return out;
}

frame_ptr make_frame(domain::channel ch, long long seq, const domain::event& e) {
    std::string f;
    f.reserve(512);
    domain::render_frame(f, ch, seq, e);
    return std::make_shared<const std::string>(std::move(f));
}

// (request index from 1, seq) rows → the frames of each request, one frame per seq shared.
replay_answer shared_frames(const pqxx::result& sel, std::size_t requests,
                            const std::unordered_map<long long, frame_ptr>& frames) {
    replay_answer out(requests);
    for (const auto& row : sel) {
        const auto i = row[0].as<std::size_t>();
        if (i < 1 || i > requests) continue;
        if (auto f = frames.find(row[1].as<long long>()); f != frames.end())
            out[i - 1].push_back(f->second);
    }
    return out;
}

replay_answer replay_timeline(tx_t& tx, const pqxx::result& sel, std::size_t requests) {
    std::vector<long long> seqs;
    for (const auto& row : sel) seqs.push_back(row[1].as<long long>());
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    const auto events = load_events(tx, seqs);
    std::vector<long long> created, counted;
    for (const auto& [seq, e] : events)
        (e.head.type == "TweetCreated" ? created : counted).push_back(e.tweet);
    const auto set = load_tweets(tx, created, 0);
    std::unordered_map<long long, domain::tweet_counts> counts;
    if (!counted.empty())
        for (const auto& row : tx.exec_prepared("tweet_counts", id_array(counted))) {
            const auto id = row[0].as<long long>();
            counts[id] = {id, row[1].as<long long>(), row[2].as<long long>(),
                          row[3].as<long long>()};
        }
    std::unordered_map<long long, frame_ptr> frames;
    for (const auto& [seq, e] : events) {
        domain::event ev = e.head;
        if (e.head.type == "TweetCreated") {
            ev.payload = domain::tweet_created{set.get(e.tweet, 0, false)};
        } else if (e.head.type == "TweetDeleted") {
            ev.payload = domain::tweet_deleted{e.tweet};
        } else {
            auto c = counts.find(e.tweet);
            ev.payload = c != counts.end() ? c->second : domain::tweet_counts{e.tweet, 0, 0, 0};
        }
        frames.emplace(seq, make_frame(domain::channel::timeline, seq, ev));
    }
    return shared_frames(sel, requests, frames);
}

replay_answer replay_messages(tx_t& tx, const pqxx::result& sel, std::size_t requests) {
    std::vector<long long> seqs;
    for (const auto& row : sel) seqs.push_back(row[1].as<long long>());
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    const auto events = load_events(tx, seqs);
    std::vector<long long> mids, cids;
    for (const auto& [seq, e] : events) {
        mids.push_back(e.message);
        cids.push_back(e.conversation);
    }
    const auto messages = load_messages(tx, mids);
    const auto convs = load_conversations(tx, cids);
    std::unordered_map<long long, frame_ptr> frames;
    for (const auto& [seq, e] : events) {
        domain::event ev = e.head;
        domain::message_sent p;
        if (auto m = messages.find(e.message); m != messages.end()) p.message = m->second;
        if (auto c = convs.find(e.conversation); c != convs.end()) p.conversation = c->second;
        ev.payload = std::move(p);
        frames.emplace(seq, make_frame(domain::channel::messages, seq, ev));
    }
    return shared_frames(sel, requests, frames);
}

replay_answer replay_notifications(tx_t& tx, const pqxx::result& sel, std::size_t requests) {
    std::vector<notification_row> rows;
    std::vector<long long> seqs;
    for (const auto& row : sel) {
        rows.push_back(notification_columns(row, 1));
        seqs.push_back(rows.back().seq);
    }
    const auto events = load_events(tx, seqs);
    const auto notes = assemble_notifications(tx, rows);
    replay_answer out(requests);
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const auto i = sel[static_cast<pqxx::result::size_type>(k)][0].as<std::size_t>();
        auto e = events.find(rows[k].seq);
        if (i < 1 || i > requests || e == events.end()) continue;
        domain::event ev = e->second.head;
        ev.type = "Notification";
        ev.payload = domain::notification_added{std::make_shared<domain::notification>(notes[k])};
        out[i - 1].push_back(make_frame(domain::channel::notifications, rows[k].seq, ev));
    }
    return out;
}

}  // namespace

result<replay_answer> replay(conn& c, domain::channel stream,
                             const std::vector<replay_request>& requests, int limit) {
    tx_t tx(c);
    std::vector<long long> users, sinces;
    for (const auto& r : requests) {
        users.push_back(r.user);
        sinces.push_back(r.since);
    }
    const char* name = stream == domain::channel::timeline        ? "replay_timeline"
                       : stream == domain::channel::notifications ? "replay_notifications"
                                                                  : "replay_messages";
    auto sel = tx.exec_prepared(name, id_array(users), id_array(sinces), limit);
    switch (stream) {
        case domain::channel::timeline:
            return replay_timeline(tx, sel, requests.size());
        case domain::channel::notifications:
            return replay_notifications(tx, sel, requests.size());
        case domain::channel::messages:
            return replay_messages(tx, sel, requests.size());
    }
    return errc::internal;
}

}  // namespace chirp::store::reads
