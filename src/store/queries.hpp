// Named read queries: every read the API makes, as parameterized SQL returning one JSON value.
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
