// Serves the built web client from memory: read once at start (no file I/O on the loop, no
// path ever resolved against the disk at request time, so no traversal out of the root).
// Hashed assets get a year of caching; index.html is the fallback for client routes.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "chirp/http/server.hpp"

namespace chirp::http {
namespace {

std::string mime_type(const std::string& ext) {
    static const std::unordered_map<std::string, std::string> types = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    };
    auto it = types.find(ext);
    return it == types.end() ? "application/octet-stream" : it->second;
}

}  // namespace

static_files::static_files(const std::string& root) {
    namespace fs = std::filesystem;
    if (root.empty()) return;
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        spdlog::warn("web root {} is not a directory; the web client is not served", root);
        return;
    }
    std::size_t total = 0;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
        if (!it->is_regular_file()) continue;
        std::ifstream in(it->path(), std::ios::binary);
        std::ostringstream ss;
        ss << in.rdbuf();
        response r;
        r.body = ss.str();
        total += r.body.size();
        r.content_type = mime_type(it->path().extension().string());
        const auto rel = "/" + fs::relative(it->path(), root).generic_string();
        const bool hashed = rel.rfind("/assets/", 0) == 0;
        r.headers.emplace_back("Cache-Control",
                               hashed ? "public, max-age=31536000, immutable" : "no-cache");
        r.headers.emplace_back("X-Content-Type-Options", "nosniff");
        files_.emplace(rel, std::move(r));
        if (total > 256u * 1024 * 1024) {
            spdlog::warn("web root over 256 MiB; serving only part of it");
            break;
        }
    }
    if (auto it = files_.find("/index.html"); it != files_.end()) index_ = &it->second;
    spdlog::info("serving {} web files ({} KiB) from {}", files_.size(), total / 1024, root);
}

const response* static_files::find(std::string_view path) const {
    if (files_.empty()) return nullptr;
    if (path == "/" || path.empty()) return index_;
    if (auto it = files_.find(std::string(path)); it != files_.end()) return &it->second;
    // Client-side routes (no file extension in the last segment) fall back to index.html.
    const auto last = path.substr(path.rfind('/') + 1);
    if (last.find('.') == std::string_view::npos && path.find("..") == std::string_view::npos)
        return index_;
    return nullptr;
}

}  // namespace chirp::http
