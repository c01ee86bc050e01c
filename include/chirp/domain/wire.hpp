// The wire shapes of Chirp (docs/api.md "Objects", docs/protocol.md) as typed values, and the
// ONE renderer of each: a write's answer, a REST read, a live WebSocket frame, a replayed frame
// and an SSE event all call these functions, so the bytes of an object are the same
// everywhere. Pure: no I/O, no JSON library. Every renderer appends compact JSON (no spaces)
// to the caller's string, keys in the fixed order written below.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace chirp::domain {

// Microseconds since 1970-01-01 UTC.
using timestamp_us = std::int64_t;

// --- primitives --------------------------------------------------------------------------------

// `s` as a JSON string: quoted; '"', '\\' and control characters escaped (\n \r \t \b \f, the
// rest as \u00XX); every other byte (UTF-8 included) passes through unchanged.
void append_json_string(std::string& out, std::string_view s);

// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, milliseconds truncated), unquoted. The one formatter.
void append_timestamp(std::string& out, timestamp_us t);
std::string format_timestamp(timestamp_us t);

// --- objects -----------------------------------------------------------------------------------

// {"id","handle","displayName"}
struct user_ref {
    long long id = 0;
    std::string handle;
    std::string display_name;
};

// {"id","handle","displayName","createdAt","followers","following","tweets","followedByMe"?}
// followedByMe is present when the viewer is authenticated and not this user.
struct user {
    user_ref ref;
    timestamp_us created_at = 0;
    long long followers = 0, following = 0, tweets = 0;
    std::optional<bool> followed_by_me;
};

// What the viewer did to a tweet.
struct viewer_flags {
    bool liked = false;
    bool retweeted = false;
};

// {"id","author","content","createdAt","replyTo","retweetOf","mentions","hashtags","coauthors",
//  "likes","retweets","replies","likedByMe","retweetedByMe"}
// replyTo: the parent's id or null; retweetOf: the original (never itself a retweet) or null
// (also when the original was deleted); mentions: handles as written; hashtags: lower-cased;
// coauthors: a published draft's collaborators at publish time (UserRefs), else [].
struct tweet {
    long long id = 0;
    user_ref author;
    std::string content;
    timestamp_us created_at = 0;
    std::optional<long long> reply_to;
    std::shared_ptr<const tweet> retweet_of;
    std::vector<std::string> mentions;
    std::vector<std::string> hashtags;
    std::vector<user_ref> coauthors;
    long long likes = 0, retweets = 0, replies = 0;
    viewer_flags me;  // as the viewer of this rendering sees it
};

// {"id","seq","type","actor","tweet","conversationId","draftId"?,"createdAt","read"}
// id and seq are both the notification's seq (as strings); draftId only on draft_invite.
struct notification {
    long long seq = 0;
    std::string type;  // like, retweet, reply, follow, mention, message, draft_invite
    user_ref actor;
    std::shared_ptr<const domain::tweet> tweet;  // null when none or deleted
    std::optional<long long> conversation_id;
    std::optional<long long> draft_id;  // draft_invite: the draft
    timestamp_us created_at = 0;
    bool read = false;
};

// {"id","conversationId","sender","content","createdAt","seq"}
struct message {
    long long id = 0;
    long long conversation_id = 0;
    user_ref sender;
    std::string content;
    timestamp_us created_at = 0;
    long long seq = 0;
};

// {"id","participants","createdAt","lastMessage"}
struct conversation {
    long long id = 0;
    std::vector<user_ref> participants;  // ordered by id
    timestamp_us created_at = 0;
    std::optional<message> last_message;
};

// A collaborative draft (docs/api.md "Drafts"):
// {"id","owner","collaborators","text","version","codePoints","createdAt","updatedAt"}
// collaborators: without the owner, in the order they were added; version: accepted updates.
struct draft {
    long long id = 0;
    user_ref owner;
    std::vector<user_ref> collaborators;
    std::string text;
    long long version = 0;
    long long code_points = 0;
    timestamp_us created_at = 0;
    timestamp_us updated_at = 0;
};

// An audit-trail item (GET /api/events):
// {"seq","id","type","userId","timestamp","version","payload"}
struct audit_event {
    long long seq = 0;
    std::string id;  // uuid
    std::string type;
    long long user_id = 0;
    timestamp_us timestamp = 0;
    int version = 1;
    std::string payload_json;  // compact JSON object, secrets already stripped
};

// --- live events (the "event" of a frame; the data of an SSE event) ---------------------------

// TweetCreated: {"tweet": Tweet}
struct tweet_created {
    std::shared_ptr<const domain::tweet> tweet;  // viewer-independent: flags false
};
// TweetDeleted: {"tweetId"}
struct tweet_deleted {
    long long tweet_id = 0;
};
// TweetLiked / TweetUnliked: {"tweetId","likes","retweets","replies"} (live counts)
struct tweet_counts {
    long long tweet_id = 0;
    long long likes = 0, retweets = 0, replies = 0;
};
// Notification: {"notification": Notification}
struct notification_added {
    std::shared_ptr<const domain::notification> notification;
};
// MessageSent: {"message","conversation"}
struct message_sent {
    std::shared_ptr<const domain::message> message;
    std::shared_ptr<const domain::conversation> conversation;
};

using event_payload =
    std::variant<tweet_created, tweet_deleted, tweet_counts, notification_added, message_sent>;

// {"id","type","userId","timestamp","version","payload"}
struct event {
    std::string id;    // the logged event's uuid
    std::string type;  // TweetCreated, TweetDeleted, TweetLiked, TweetUnliked, Notification,
                       // MessageSent
    long long user_id = 0;
    timestamp_us timestamp = 0;
    int version = 1;
    event_payload payload;
};

enum class channel { timeline, notifications, messages };
std::string_view channel_name(channel c) noexcept;

// --- renderers: one per shape ------------------------------------------------------------------

void render(std::string& out, const user_ref& u);
void render(std::string& out, const user& u);
// A tweet with the given viewer flags and original (the flags of t and of its original are
// ignored): the timeline cache renders shared records for many viewers this way.
void render(std::string& out, const tweet& t, viewer_flags me, const tweet* original,
            viewer_flags original_me);
// A tweet with its own flags and original.
void render(std::string& out, const tweet& t);

// A tweet's viewer-independent text, rendered once by the pieces of the tweet renderer above
// (the timeline cache keeps one per record, so a page appends bytes instead of escaping and
// formatting every tweet again): head = `{"id":..,"author":..,"content":..,"createdAt":..,
// "replyTo":..,"retweetOf":`, lists = `,"mentions":[..],"hashtags":[..]`. Counts and flags
// are not in it: they change and are appended per rendering.
struct tweet_text {
    std::string head;
    std::string lists;
};
tweet_text render_text(const tweet& t);
// The same bytes as render(out, t, me, original, original_me), from texts rendered by
// render_text(t) and render_text(*original) (original_text is used when original is given).
void render(std::string& out, const tweet& t, const tweet_text& text, viewer_flags me,
            const tweet* original, const tweet_text* original_text, viewer_flags original_me);
void render(std::string& out, const notification& n);
void render(std::string& out, const message& m);
void render(std::string& out, const conversation& c);
void render(std::string& out, const audit_event& e);
void render(std::string& out, const draft& d);
void render(std::string& out, const event& e);

// The live-frame envelope: {"type":"event","channel":C,"seq":"S","event":E}. A replayed frame
// is the same bytes as the live one.
void render_frame(std::string& out, channel c, long long seq, const event& e);
// The envelope around an event already rendered (compact JSON text).
void render_frame(std::string& out, channel c, long long seq, std::string_view event_json);
// render_frame(out, c, seq, e) with the object of e's payload (the Tweet of TweetCreated, the
// Notification of Notification) already rendered by its renderer: the same bytes, the object
// pasted instead of rendered a second time (a write's answer is that object).
void render_frame(std::string& out, channel c, long long seq, const event& e,
                  std::string_view payload_object);

// Page wrappers. {"items":[...]} | {"items":[...],"nextCursor":"C"|null}
// | {"items":[...],"nextCursor":..,"unread":N}
struct page_meta {
    bool has_cursor = true;                  // false: no "nextCursor" key (search, conversations)
    std::optional<std::string> next_cursor;  // null when this is the last page
    std::optional<long long> unread;         // notifications only
};

// Opens a page: `{"items":[`; the caller appends the items separated by ',', then close_page.
void open_page(std::string& out);
void close_page(std::string& out, const page_meta& meta);

template <class T>
void render_page(std::string& out, std::span<const T> items, const page_meta& meta) {
    open_page(out);
    bool first = true;
    for (const auto& x : items) {
        if (!first) out += ',';
        first = false;
        render(out, x);
    }
    close_page(out, meta);
}

template <class T>
std::string to_json(const T& x) {
    std::string out;
    render(out, x);
    return out;
}

}  // namespace chirp::domain
