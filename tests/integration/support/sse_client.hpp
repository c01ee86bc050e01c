// An SSE stream (GET /api/stream) over a plain socket, read with timeouts. Also usable as a
// raw client that upgrades to a WebSocket and then never answers anything.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/http_client.hpp"

namespace chirp::test {

struct sse_event {
    std::string id, event, data;
};

class sse_client {
public:
    // target e.g. "/api/stream?channels=timeline"; headers such as Last-Event-ID.
    sse_client(std::uint16_t port, const std::string& target, const std::string& token,
               const header_list& headers = {});
    ~sse_client();
    sse_client(const sse_client&) = delete;
    sse_client& operator=(const sse_client&) = delete;

    unsigned status() const { return status_; }
    std::string header(const std::string& name) const;
    // The body of a non-200 answer (read until the server closes).
    const std::string& error_body() const { return error_body_; }
    // The next event (comments skipped); nullopt on timeout or end of stream.
    std::optional<sse_event> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Every event until one with id == id (included); throws on timeout.
    std::vector<sse_event> until_id(const std::string& id,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Events until the stream has been quiet for `quiet`.
    std::vector<sse_event> drain(std::chrono::milliseconds quiet);
    // Reads and discards until the server closes the connection; false on timeout.
    bool wait_eof(std::chrono::milliseconds timeout);

private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    int fd_ = -1;
    unsigned status_ = 0;
    header_list headers_;
    std::string buf_, error_body_;
    bool eof_ = false;
};

}  // namespace chirp::test
