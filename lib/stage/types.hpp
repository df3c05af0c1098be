#pragma once
// Column types ece infers, and the checks a value must pass to fit each of them. The checks follow what
// PostgreSQL's input functions accept for the narrow, unambiguous forms (ISO dates, plain decimals, ...).
#include <cstdint>
#include <string>
#include <string_view>

namespace ece::stage {

// Bit set of the types a column can still be; text always fits. Order of preference is the bit order.
enum TypeBit : std::uint8_t {
    type_boolean = 1u << 0,
    type_bigint = 1u << 1,
    type_numeric = 1u << 2,
    type_double = 1u << 3,
    type_date = 1u << 4,
    type_timestamp = 1u << 5,
    type_text = 1u << 6,
};
using TypeSet = std::uint8_t;
inline constexpr TypeSet all_types = 0x7f;

// The subset of candidates that value fits (always includes type_text).
TypeSet fitting_types(std::string_view value, TypeSet candidates);

// The narrowest type in set: boolean, bigint, numeric, double precision, date, timestamp, text.
TypeBit narrowest(TypeSet set);

// "bigint", "double precision", ...
std::string sql_type_name(TypeBit type);

// A declared type ece can check during the scan, so errors name the line before anything is loaded.
struct DeclaredCheck {
    TypeBit type = type_text;  // type_text: no check (unknown types are left to PostgreSQL)
    std::int64_t min = 0, max = 0;  // for integer types: the range of the declared width
    std::string name;               // as PostgreSQL names it in messages: "integer", "bigint", ...
};
DeclaredCheck declared_check(std::string_view sql_type);

// Whether value is accepted by the declared check (only for type != type_text).
bool passes(const DeclaredCheck& check, std::string_view value);

}  // namespace ece::stage
