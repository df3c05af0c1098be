// libFuzzer target: the reader of ece-dbt plan --format json output. Any input must give a result or an ece::Error, never a crash or another exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "comment/report.hpp"
#include "core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        ece::comment::parse_dbt_plan(text, "fuzz/dbt-plan.json");
    } catch (const ece::Error&) {
    }
    return 0;
}
