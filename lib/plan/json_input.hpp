#pragma once
// Parsing a whole JSON document with errors that name the file, line and byte where it stops being JSON.
#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace ece::plan {

// Parses text as exactly one JSON value (surrounding whitespace allowed). Throws ece::Error(input) naming
// source_name, the line and the byte offset of the first byte that is not JSON; hint (when not empty) is appended.
boost::json::value parse_json_document(std::string_view text, const std::string& source_name,
                                       const std::string& hint = {});

// 1-based line number of byte offset in text.
std::uint64_t line_of_offset(std::string_view text, std::size_t offset);

}  // namespace ece::plan
