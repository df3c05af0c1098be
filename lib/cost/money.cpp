#include "cost/money.hpp"

#include <cmath>
#include <cstdlib>

namespace ece::cost {
namespace {

__extension__ typedef __int128 wide;

std::int64_t divide_rounded(wide numerator, wide denominator) {
    if (denominator < 0) {
        numerator = -numerator;
        denominator = -denominator;
    }
    wide half = denominator / 2;
    wide q = numerator >= 0 ? (numerator + half) / denominator : -((-numerator + half) / denominator);
    return static_cast<std::int64_t>(q);
}

std::string with_thousands(std::int64_t whole) {
    std::string digits = std::to_string(whole);
    std::string out;
    int count = 0;
    for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
        if (count > 0 && count % 3 == 0) out.insert(out.begin(), ',');
        out.insert(out.begin(), *it);
        ++count;
    }
    return out;
}

std::string two_digits(std::int64_t n) { return (n < 10 ? "0" : "") + std::to_string(n); }

}  // namespace

Money Money::from_dollars(double dollars) { return Money(static_cast<std::int64_t>(std::llround(dollars * 1e6))); }

std::int64_t Money::cents() const { return divide_rounded(micros_, 10'000); }

Money Money::scaled(std::int64_t numerator, std::int64_t denominator) const {
    return Money(divide_rounded(static_cast<wide>(micros_) * numerator, denominator));
}

std::string format_money(Money m) {
    auto cents = m.cents();
    std::string sign = cents < 0 ? "-" : "";
    auto magnitude = std::llabs(cents);
    return sign + "$" + with_thousands(magnitude / 100) + "." + two_digits(magnitude % 100);
}

std::string format_money_change(Money m) {
    if (m.cents() > 0) return "+" + format_money(m);
    if (m.cents() < 0) return format_money(m);
    return "$0.00";
}

std::string format_rate(Money m) {
    auto tenths_of_cents = divide_rounded(m.micros(), 100);  // 1e-4 dollars
    std::string sign = tenths_of_cents < 0 ? "-" : "";
    auto magnitude = std::llabs(tenths_of_cents);
    auto fraction = std::to_string(magnitude % 10'000);
    fraction.insert(fraction.begin(), 4 - fraction.size(), '0');
    return sign + "$" + with_thousands(magnitude / 10'000) + "." + fraction;
}

}  // namespace ece::cost
