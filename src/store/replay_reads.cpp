// Replay: the events above each session's `since`, read for many sessions at once (one
// statement per stream selects (request, seq) rows), each missed event's frame rendered once
// with the envelope renderer of domain/wire and shared by every request that replays it.
// Requests whose selection reached the limit are only counted (reads.hpp, replay_answer).
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

using frame_lists = std::vector<std::vector<frame_ptr>>;

// Whether a row belongs to a request that is rendered (a valid index, not over the limit).
bool wanted(const pqxx::row& row, const std::vector<char>& over) {
    const auto i = row[0].as<std::size_t>();
    return i >= 1 && i <= over.size() && over[i - 1] == 0;
}

// (request index from 1, seq) rows → the frames of each request, one frame per seq shared.
frame_lists shared_frames(const pqxx::result& sel, const std::vector<char>& over,
                          const std::unordered_map<long long, frame_ptr>& frames) {
    frame_lists out(over.size());
    for (const auto& row : sel) {
        if (!wanted(row, over)) continue;
        if (auto f = frames.find(row[1].as<long long>()); f != frames.end())
            out[row[0].as<std::size_t>() - 1].push_back(f->second);
    }
    return out;
}

// The seqs of the rendered requests' rows, ascending and distinct.
std::vector<long long> wanted_seqs(const pqxx::result& sel, const std::vector<char>& over) {
    std::vector<long long> seqs;
    for (const auto& row : sel)
        if (wanted(row, over)) seqs.push_back(row[1].as<long long>());
    std::sort(seqs.begin(), seqs.end());
    seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
    return seqs;
}

frame_lists replay_timeline(tx_t& tx, const pqxx::result& sel, const std::vector<char>& over) {
    const auto seqs = wanted_seqs(sel, over);
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
    return shared_frames(sel, over, frames);
}

frame_lists replay_messages(tx_t& tx, const pqxx::result& sel, const std::vector<char>& over) {
    const auto seqs = wanted_seqs(sel, over);
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
    return shared_frames(sel, over, frames);
}

frame_lists replay_notifications(tx_t& tx, const pqxx::result& sel, const std::vector<char>& over) {
    std::vector<notification_row> rows;
    std::vector<std::size_t> index;  // the request of rows[k], from 1
    std::vector<long long> seqs;
    for (const auto& row : sel) {
        if (!wanted(row, over)) continue;
        rows.push_back(notification_columns(row, 1));
        index.push_back(row[0].as<std::size_t>());
        seqs.push_back(rows.back().seq);
    }
    const auto events = load_events(tx, seqs);
    const auto notes = assemble_notifications(tx, rows);
    frame_lists out(over.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const auto i = index[k];
        auto e = events.find(rows[k].seq);
        if (e == events.end()) continue;
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
    replay_answer out;
    out.head = tx.exec_prepared1("event_head")[0].as<long long>();
    auto sel = tx.exec_prepared(name, id_array(users), id_array(sinces), limit);
    // Count first: a request with `limit` rows (the most the query selects) is over the cap and
    // answered "resync" by the session; its frames are never loaded nor rendered.
    out.over.assign(requests.size(), 0);
    std::vector<int> rows(requests.size(), 0);
    for (const auto& row : sel) {
        const auto i = row[0].as<std::size_t>();
        if (i >= 1 && i <= rows.size() && ++rows[i - 1] >= limit) out.over[i - 1] = 1;
    }
    switch (stream) {
        case domain::channel::timeline:
            out.frames = replay_timeline(tx, sel, out.over);
            return out;
        case domain::channel::notifications:
            out.frames = replay_notifications(tx, sel, out.over);
            return out;
        case domain::channel::messages:
            out.frames = replay_messages(tx, sel, out.over);
            return out;
    }
    return errc::internal;
}

}  // namespace chirp::store::reads
