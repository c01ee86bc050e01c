// chirpd: parses the configuration (flags and CHIRP_* variables) and runs the command.
// Bad configuration prints one line and exits with code 2.
#include <cstdio>
#include <cstdlib>

#include "chirp/app/app.hpp"

int main(int argc, char** argv) {
    auto parsed =
        chirp::parse_config(argc, argv, [](const char* name) { return std::getenv(name); });
    if (parsed.help) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    if (!parsed.ok) {
        std::fprintf(stderr, "chirpd: %s\n", parsed.message.c_str());
        return 2;
    }
    chirp::app::setup_logging(parsed.cfg);
    return chirp::app::run(parsed.cfg);
}
