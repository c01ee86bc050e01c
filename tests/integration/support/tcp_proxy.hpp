// A loopback TCP proxy the Redis fault tests put between one chirpd and its Redis, to cut
// that one process off (its connections closed, new ones accepted and closed at once) or to
// freeze it (nothing forwarded either way: a silent, half-open peer) while the other
// processes keep their Redis. Runs its own Asio thread; ends with the object.
#pragma once

#include <cstdint>
#include <memory>

namespace chirp::test {

class tcp_proxy {
public:
    explicit tcp_proxy(std::uint16_t target_port);  // listens on 127.0.0.1, a free port
    ~tcp_proxy();
    tcp_proxy(const tcp_proxy&) = delete;
    tcp_proxy& operator=(const tcp_proxy&) = delete;

    std::uint16_t port() const;
    // Closes every proxied connection; new ones are accepted and closed until restore().
    void cut();
    // Stops forwarding in both directions; connections stay open (the peer looks frozen).
    void pause();
    // Forwards again (paused connections go on; after a cut, new connections work).
    void restore();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace chirp::test
