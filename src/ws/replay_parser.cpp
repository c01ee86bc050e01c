// The parser of a chirp_replay_*_batch answer (see replay_batcher.hpp and migration 006). The
// frames are read once here (seq, where the event sits) and shared between the requests.
#include <unordered_map>

#include "chirp/fanout/frame.hpp"
#include "replay_batcher.hpp"

namespace chirp::ws {

void parse_replay(const std::string& body, std::vector<replay_frames>& out) {
    std::unordered_map<long long, live_event> by_seq;
    replay_frames* cur = nullptr;
    for (std::size_t i = 0; i < body.size();) {
        auto j = body.find('\n', i);
        if (j == std::string::npos) j = body.size();
        const std::string_view line(body.data() + i, j - i);
        i = j + 1;
        if (line.empty()) continue;
        if (line[0] != '#') {
            auto ev = event_from_frame(std::make_shared<const std::string>(line));
            if (cur != nullptr)
                cur->events.push_back(std::move(ev));
            else
                by_seq[ev.seq] = std::move(ev);
            continue;
        }
        std::size_t k = 1;
        std::size_t index = 0;
        while (k < line.size() && line[k] >= '0' && line[k] <= '9' && index <= out.size())
            index = index * 10 + static_cast<std::size_t>(line[k++] - '0');
        cur = index >= 1 && index <= out.size() ? &out[index - 1] : nullptr;
        while (cur != nullptr && k < line.size()) {
            while (k < line.size() && line[k] == ' ') ++k;
            long long seq = 0;
            bool digits = false;
            while (k < line.size() && line[k] >= '0' && line[k] <= '9') {
                seq = seq * 10 + (line[k++] - '0');
                digits = true;
            }
            if (!digits) break;
            if (auto it = by_seq.find(seq); it != by_seq.end()) cur->events.push_back(it->second);
        }
    }
}

}  // namespace chirp::ws
