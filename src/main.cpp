// chirpd: parses the configuration (flags and CHIRP_* variables) and runs the command.
// Bad configuration prints one line and exits with code 2. `serve` with more than one worker
// (--workers, default one per CPU) becomes the supervisor of that many chirpd processes
// (app/supervisor.hpp).
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "chirp/app/app.hpp"
#include "chirp/app/supervisor.hpp"

int main(int argc, char** argv) {
    // Responses of a few to tens of KiB are allocated and freed at the top of the heap on every
    // request; with glibc's default 128 KiB trim threshold the heap shrank and grew again
    // (brk + page faults: 7 % of the CPU at 15k timeline requests/s). Keep a few MiB.
    mallopt(M_TRIM_THRESHOLD, 8 << 20);
    mallopt(M_TOP_PAD, 1 << 20);
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
    if (chirp::app::wants_supervisor(parsed.cfg, chirp::app::available_cpus())) {
        try {
            return chirp::app::supervise(parsed.cfg, std::vector<std::string>(argv, argv + argc));
        } catch (const std::exception& e) {
            std::fprintf(stderr, "chirpd supervisor: %s\n", e.what());
            return 1;
        }
    }
    return chirp::app::run(parsed.cfg);
}
