// The one mapping from the rows of chirp_exec_rows (one per command, in command order) to the
// typed answers of the event writer: the statement's column list and its decoding live here
// and nowhere else.
#pragma once

#include <string_view>

#include "chirp/store/store.hpp"

namespace pqxx {
class row;
}

namespace chirp::store {

// The writer's statement; $1 = the JSON array of the batch's commands.
extern const std::string_view exec_rows_sql;

// The answer and the live deliveries of one command's row. Throws on a malformed row.
write_result to_write_result(const pqxx::row& row);

}  // namespace chirp::store
