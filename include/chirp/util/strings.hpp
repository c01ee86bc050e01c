// A vector of strings from anything a std::string can be made of: query parameters and Redis
// commands. Named, not a braced list: GCC 12 cannot keep an initializer_list's array alive
// across co_await in the same expression.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace chirp::util {

template <class... A>
std::vector<std::string> strings(A&&... a) {
    std::vector<std::string> v;
    v.reserve(sizeof...(a));
    (v.emplace_back(std::forward<A>(a)), ...);
    return v;
}

}  // namespace chirp::util
