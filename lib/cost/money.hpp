#pragma once
// Money as an integer number of micro-dollars (1e-6 USD): hourly rates such as $0.0411 stay exact enough, and
// totals are integer sums, so no floating-point error accumulates. Shown rounded to cents.
#include <compare>
#include <cstdint>
#include <string>

namespace ece::cost {

class Money {
public:
    constexpr Money() = default;
    static constexpr Money from_micros(std::int64_t micros) { return Money(micros); }
    static constexpr Money from_cents(std::int64_t cents) { return Money(cents * 10'000); }
    // A price read from the catalogue (a JSON number such as 0.145), rounded once to whole micro-dollars.
    static Money from_dollars(double dollars);

    constexpr std::int64_t micros() const { return micros_; }
    // Rounded half away from zero.
    std::int64_t cents() const;

    // this x numerator / denominator, rounded half away from zero, without overflow for any realistic input.
    Money scaled(std::int64_t numerator, std::int64_t denominator) const;
    Money times(std::int64_t n) const { return Money(micros_ * n); }

    constexpr Money operator+(Money o) const { return Money(micros_ + o.micros_); }
    constexpr Money operator-(Money o) const { return Money(micros_ - o.micros_); }
    constexpr Money operator-() const { return Money(-micros_); }
    Money& operator+=(Money o) { micros_ += o.micros_; return *this; }
    constexpr auto operator<=>(const Money&) const = default;

private:
    constexpr explicit Money(std::int64_t micros) : micros_(micros) {}
    std::int64_t micros_ = 0;
};

// "$1,234.56", "-$3.00".
std::string format_money(Money m);
// "+$15.00", "-$3.00", "$0.00" (a difference).
std::string format_money_change(Money m);
// A rate with 4 decimals: "$0.0411".
std::string format_rate(Money m);

}  // namespace ece::cost
