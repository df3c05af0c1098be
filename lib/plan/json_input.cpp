#include "plan/json_input.hpp"

#include "core/error.hpp"

#include <boost/json/parser.hpp>

#include <algorithm>

namespace ece::plan {

std::uint64_t line_of_offset(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    return 1 + static_cast<std::uint64_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

namespace {

[[noreturn]] void throw_not_json(std::string_view text, const std::string& source_name, std::size_t offset,
                                 const std::string& what, const std::string& hint) {
    auto line = line_of_offset(text, offset);
    auto line_start = text.rfind('\n', offset == 0 ? 0 : offset - 1);
    auto column = offset - (line_start == std::string_view::npos || offset == 0 ? 0 : line_start + 1) + 1;
    std::string message = "not valid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) +
                          " (byte " + std::to_string(offset) + "): " + what;
    if (!hint.empty()) message += "; " + hint;
    throw Error(ErrorKind::input, message, {.file = source_name, .line = line, .byte_offset = offset});
}

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

boost::json::value parse_json_document(std::string_view text, const std::string& source_name,
                                       const std::string& hint) {
    boost::json::parse_options options;
    options.max_depth = 10000;  // plans nest deeply (modules, nested blocks)
    boost::json::parser parser({}, options);
    boost::system::error_code ec;
    auto consumed = parser.write_some(text.data(), text.size(), ec);
    if (ec) throw_not_json(text, source_name, consumed, ec.message(), hint);
    auto trailing = consumed;
    while (trailing < text.size() && is_json_space(text[trailing])) ++trailing;
    if (trailing < text.size()) throw_not_json(text, source_name, trailing, "extra text after the JSON document", hint);
    return parser.release();
}

}  // namespace ece::plan
