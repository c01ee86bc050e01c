// Command-line options of chirp-bench: `--key value` pairs and bare `--flag`s after the
// subcommand, read with typed getters that fall back to documented defaults.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace chirp::bench {

class options {
public:
    // argv after the subcommand. Throws std::invalid_argument on a malformed list.
    options(int argc, char** argv, int first);

    std::string str(const std::string& key, const std::string& def = {}) const;
    std::optional<std::string> opt(const std::string& key) const;
    long long integer(const std::string& key, long long def) const;
    double number(const std::string& key, double def) const;
    bool flag(const std::string& key) const;
    std::vector<double> numbers(const std::string& key, const std::vector<double>& def) const;
    // Keys given on the command line that no getter asked for (typos).
    std::vector<std::string> unused() const;

private:
    std::map<std::string, std::string> values_;
    mutable std::set<std::string> used_;
};

}  // namespace chirp::bench
