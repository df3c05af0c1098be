// libFuzzer target: the GitHub event payload parser and the step decision, for each event name ece acts on.
// Any input must give an Event or an ece::Error, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "actions/event.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks the event name, so one corpus covers every parser path.
    static constexpr std::string_view names[] = {"pull_request", "push", "schedule", "workflow_dispatch",
                                                 "pull_request_target", "workflow_run", "issue_comment"};
    auto name = names[data[0] % std::size(names)];
    std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        auto event = ece::actions::parse_event(name, text, "fuzz/event.json");
        ece::actions::decide(event);
    } catch (const ece::Error&) {
    }
    return 0;
}
