#pragma once
// Canonical JSON text: object keys sorted, no whitespace, integral doubles written as integers. Two values that
// dbt (Python) finds equal after json.load get the same text, so comparing texts compares values.
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace ece::dbt {

void append_canonical(std::string& out, const boost::json::value& value);
std::string canonical(const boost::json::value& value);

void append_quoted(std::string& out, std::string_view text);
void append_double(std::string& out, double number);

// For messages: a canonical JSON string shown without its quotes, anything else as is.
std::string display_value(std::string_view canonical_text);

}  // namespace ece::dbt
