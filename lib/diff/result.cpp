#include "diff/result.hpp"

namespace ece::diff {

std::string_view method_name(Method method) {
    switch (method) {
        case Method::by_key: return "by_key";
        case Method::full_row: return "full_row";
        case Method::sample_by_key: return "sample_by_key";
        case Method::sample_full_row: return "sample_full_row";
        case Method::not_compared: return "not_compared";
    }
    return "unknown";
}

std::string_view example_kind_name(ExampleRow::Kind kind) {
    switch (kind) {
        case ExampleRow::Kind::only_production: return "only_production";
        case ExampleRow::Kind::only_environment: return "only_environment";
        case ExampleRow::Kind::changed: return "changed";
    }
    return "unknown";
}

}  // namespace ece::diff
