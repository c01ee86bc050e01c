// Parsing of chirp-bench's `--key value` options.
#include "options.hpp"

#include <sstream>

namespace chirp::bench {

options::options(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument: " + arg);
        arg = arg.substr(2);
        if (auto eq = arg.find('='); eq != std::string::npos) {
            values_[arg.substr(0, eq)] = arg.substr(eq + 1);
        } else if (i + 1 < argc && std::string_view(argv[i + 1]).rfind("--", 0) != 0) {
            values_[arg] = argv[++i];
        } else {
            values_[arg] = "";
        }
    }
}

std::optional<std::string> options::opt(const std::string& key) const {
    used_.insert(key);
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

std::string options::str(const std::string& key, const std::string& def) const {
    return opt(key).value_or(def);
}

long long options::integer(const std::string& key, long long def) const {
    auto v = opt(key);
    if (!v || v->empty()) return def;
    try {
        std::size_t pos = 0;
        auto n = std::stoll(*v, &pos);
        if (pos != v->size()) throw std::invalid_argument("");
        return n;
    } catch (const std::exception&) {
        throw std::invalid_argument("--" + key + " expects an integer, got '" + *v + "'");
    }
}

double options::number(const std::string& key, double def) const {
    auto v = opt(key);
    if (!v || v->empty()) return def;
    try {
        return std::stod(*v);
    } catch (const std::exception&) {
        throw std::invalid_argument("--" + key + " expects a number, got '" + *v + "'");
    }
}

bool options::flag(const std::string& key) const {
    auto v = opt(key);
    return v && (v->empty() || *v == "1" || *v == "true" || *v == "yes");
}

std::vector<double> options::numbers(const std::string& key, const std::vector<double>& def) const {
    auto v = opt(key);
    if (!v || v->empty()) return def;
    std::vector<double> out;
    std::stringstream ss(*v);
    std::string item;
    while (std::getline(ss, item, ',')) {
        try {
            out.push_back(std::stod(item));
        } catch (const std::exception&) {
            throw std::invalid_argument("--" + key + " expects numbers separated by commas");
        }
    }
    return out;
}

std::vector<std::string> options::unused() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : values_)
        if (!used_.count(k)) out.push_back(k);
    return out;
}

}  // namespace chirp::bench
