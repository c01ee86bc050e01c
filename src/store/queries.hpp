// Named read statements (prepared on every reader connection): parameterized SQL returning
// typed columns; reads.cpp turns the rows into domain values.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

namespace chirp::store {

struct named_query {
    std::string_view name;
    std::string_view sql;
};

const std::vector<named_query>& named_queries();

}  // namespace chirp::store
