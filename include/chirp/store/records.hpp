// The records of sql/functions/records.sql (table rows as jsonb: ids as numbers, times in
// microseconds since 1970, columns by their table names) decoded into the domain structs, one
// decoder per record. Data only: domain/wire renders them.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "chirp/domain/wire.hpp"
#include "chirp/store/store.hpp"

namespace chirp::store {

domain::user_ref decode_ref(const nlohmann::json& j);                        // chirp_rec_user_ref
domain::user decode_user(const nlohmann::json& j);                           // chirp_rec_user
std::shared_ptr<const domain::tweet> decode_tweet(const nlohmann::json& j);  // null for null
domain::message decode_message(const nlohmann::json& j);                     // chirp_rec_message
domain::conversation decode_conversation(const nlohmann::json& j);  // chirp_rec_conversation
domain::notification decode_notification(const nlohmann::json& j);  // chirp_rec_notification
domain::event decode_event(const nlohmann::json& j);                // chirp_rec_event
domain::draft decode_draft(const nlohmann::json& j);                // chirp_rec_draft

// A delivery of `ev` on `ch` with its frame rendered once (domain::render_frame).
delivery make_delivery(channel_kind ch, long long seq, domain::event ev);
// The same with the object of ev's payload already rendered (domain::render_frame): a write
// pastes its answer's bytes into its frame instead of rendering the object twice.
delivery make_delivery(channel_kind ch, long long seq, domain::event ev,
                       std::string_view payload_object);

// A general-path answer of chirp_exec_rows (o_json: {status, body: {<shape>: record}, seq,
// replayed?, deliveries}) with its body and live frames rendered. Throws on a malformed record.
write_result write_result_from_record(const nlohmann::json& r);

}  // namespace chirp::store
