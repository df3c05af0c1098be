#include "stage/types.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

namespace ece::stage {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool equals_lower(std::string_view value, std::string_view word) {
    if (value.size() != word.size()) return false;
    for (std::size_t i = 0; i < value.size(); ++i)
        if (lower(value[i]) != word[i]) return false;
    return true;
}

bool is_boolean(std::string_view v) {
    static constexpr std::array<std::string_view, 8> words{"true", "false", "t", "f", "yes", "no", "y", "n"};
    if (v.empty() || v.size() > 5) return false;
    return std::any_of(words.begin(), words.end(), [&](std::string_view w) { return equals_lower(v, w); });
}

// Integer types fit only an optional sign and digits within int64; numeric a plain decimal; double precision
// also exponents and the special values. "1e5" is left to double precision so numeric stays exact decimals.
TypeSet number_types(std::string_view v) {
    std::size_t i = 0, n = v.size();
    if (n == 0) return 0;
    bool negative = false;
    if (v[0] == '+' || v[0] == '-') {
        negative = v[0] == '-';
        ++i;
    }
    std::size_t int_start = i;
    std::uint64_t magnitude = 0;
    for (; i < n && is_digit(v[i]); ++i) magnitude = magnitude * 10 + static_cast<unsigned>(v[i] - '0');
    std::size_t int_digits = i - int_start;
    // 19 digits fit in uint64 without wrapping; 20 or more may wrap, and never fit int64 anyway.
    bool overflow = int_digits > 19;
    if (i == n) {
        if (int_digits == 0) return 0;
        std::uint64_t limit = negative ? (1ull << 63) : (1ull << 63) - 1;
        TypeSet fits = type_numeric | type_double;
        if (!overflow && magnitude <= limit) fits |= type_bigint;
        return fits;
    }
    std::size_t frac_digits = 0;
    if (v[i] == '.') {
        ++i;
        std::size_t frac_start = i;
        while (i < n && is_digit(v[i])) ++i;
        frac_digits = i - frac_start;
    }
    if (int_digits + frac_digits == 0) return 0;
    if (i == n) return type_numeric | type_double;
    if (v[i] != 'e' && v[i] != 'E') return 0;
    ++i;
    if (i < n && (v[i] == '+' || v[i] == '-')) ++i;
    std::size_t exp_start = i;
    while (i < n && is_digit(v[i])) ++i;
    if (i != n || i == exp_start || i - exp_start > 3) return 0;
    return type_double;
}

bool is_special_double(std::string_view v) {
    if (!v.empty() && (v[0] == '+' || v[0] == '-')) v.remove_prefix(1);
    return equals_lower(v, "nan") || equals_lower(v, "infinity") || equals_lower(v, "inf");
}

int two_digits(const char* p) {
    if (!is_digit(p[0]) || !is_digit(p[1])) return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

// YYYY-MM-DD with a real calendar day.
bool is_iso_date(std::string_view v) {
    if (v.size() < 10 || v[4] != '-' || v[7] != '-') return false;
    int hi = two_digits(v.data()), lo = two_digits(v.data() + 2);
    int month = two_digits(v.data() + 5), day = two_digits(v.data() + 8);
    if (hi < 0 || lo < 0 || month < 1 || month > 12 || day < 1) return false;
    int year = hi * 100 + lo;
    static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int max_day = days[month - 1] + (month == 2 && leap ? 1 : 0);
    return day <= max_day;
}

// YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]] without a time zone.
bool is_iso_timestamp(std::string_view v) {
    if (v.size() < 16 || !is_iso_date(v.substr(0, 10)) || (v[10] != ' ' && v[10] != 'T')) return false;
    int hour = two_digits(v.data() + 11), minute = two_digits(v.data() + 14);
    if (hour < 0 || hour > 23 || v[13] != ':' || minute < 0 || minute > 59) return false;
    if (v.size() == 16) return true;
    if (v.size() < 19 || v[16] != ':') return false;
    int second = two_digits(v.data() + 17);
    if (second < 0 || second > 59) return false;
    if (v.size() == 19) return true;
    if (v[19] != '.' || v.size() == 20 || v.size() > 26) return false;
    return std::all_of(v.begin() + 20, v.end(), is_digit);
}

}  // namespace

TypeSet fitting_types(std::string_view value, TypeSet candidates) {
    TypeSet fits = type_text;
    if (value.empty()) return fits;
    // Fast path for the most common value, a short unsigned integer: it fits every number type.
    if (value.size() <= 18) {
        std::size_t i = 0;
        while (i < value.size() && is_digit(value[i])) ++i;
        if (i == value.size()) return (type_bigint | type_numeric | type_double | type_text) & candidates;
    }
    if (candidates & (type_bigint | type_numeric | type_double)) {
        TypeSet numbers = number_types(value);
        if (numbers == 0 && (candidates & type_double) && is_special_double(value)) numbers = type_double;
        fits |= numbers;
    }
    if ((candidates & (type_date | type_timestamp)) && value.size() >= 10) {
        if (value.size() == 10) {
            if (is_iso_date(value)) fits |= type_date | type_timestamp;
        } else if (is_iso_timestamp(value)) {
            fits |= type_timestamp;
        }
    }
    if ((candidates & type_boolean) && is_boolean(value)) fits |= type_boolean;
    return fits & candidates;
}

TypeBit narrowest(TypeSet set) {
    for (TypeBit bit : {type_boolean, type_bigint, type_numeric, type_double, type_date, type_timestamp})
        if (set & bit) return bit;
    return type_text;
}

std::string sql_type_name(TypeBit type) {
    switch (type) {
        case type_boolean: return "boolean";
        case type_bigint: return "bigint";
        case type_numeric: return "numeric";
        case type_double: return "double precision";
        case type_date: return "date";
        case type_timestamp: return "timestamp";
        case type_text: return "text";
    }
    return "text";
}

DeclaredCheck declared_check(std::string_view sql_type) {
    std::string t;
    for (char c : sql_type) t += lower(c);
    constexpr auto i64min = std::numeric_limits<std::int64_t>::min();
    constexpr auto i64max = std::numeric_limits<std::int64_t>::max();
    if (t == "bigint" || t == "int8") return {type_bigint, i64min, i64max, "bigint"};
    if (t == "integer" || t == "int" || t == "int4") return {type_bigint, INT32_MIN, INT32_MAX, "integer"};
    if (t == "smallint" || t == "int2") return {type_bigint, INT16_MIN, INT16_MAX, "smallint"};
    if (t == "numeric" || t == "decimal") return {type_numeric, 0, 0, "numeric"};
    if (t == "double precision" || t == "float8" || t == "float") return {type_double, 0, 0, "double precision"};
    if (t == "boolean" || t == "bool") return {type_boolean, 0, 0, "boolean"};
    if (t == "date") return {type_date, 0, 0, "date"};
    if (t == "timestamp" || t == "timestamp without time zone") return {type_timestamp, 0, 0, "timestamp"};
    return {};
}

bool passes(const DeclaredCheck& check, std::string_view value) {
    if (check.type == type_text) return true;
    if (check.type == type_numeric) {
        // numeric also takes exponents and NaN.
        return (fitting_types(value, type_numeric | type_double) & (type_numeric | type_double)) != 0;
    }
    if (!(fitting_types(value, check.type) & check.type)) return false;
    if (check.type != type_bigint) return true;
    std::int64_t n = 0;
    bool negative = value[0] == '-';
    std::size_t i = (value[0] == '-' || value[0] == '+') ? 1 : 0;
    for (; i < value.size(); ++i) {
        // The value fits int64; accumulate negatively so INT64_MIN does not overflow.
        n = n * 10 - (value[i] - '0');
        if (n < -check.max - 1) return false;
    }
    if (!negative) return -n <= check.max;
    return n >= check.min;
}

}  // namespace ece::stage
