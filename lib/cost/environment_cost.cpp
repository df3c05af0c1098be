#include "cost/environment_cost.hpp"

#include "cost/catalogue.hpp"

#include <cstdio>

namespace ece::cost {
namespace {

constexpr std::int64_t seconds_per_month = hours_per_month * 3600;

Money prorated(Money monthly, std::chrono::seconds duration) {
    return monthly.scaled(std::max<std::int64_t>(0, duration.count()), seconds_per_month);
}

std::string gib_text(std::uint64_t bytes) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
    return buffer;
}

EnvironmentCost make(Money monthly, std::string basis, std::chrono::seconds age,
                     std::optional<std::chrono::seconds> lifetime) {
    EnvironmentCost cost{monthly, prorated(monthly, age), std::nullopt, std::move(basis)};
    if (lifetime) cost.at_expiry = prorated(monthly, *lifetime);
    return cost;
}

}  // namespace

EnvironmentCost cluster_environment_cost(Money monthly, const std::string& what, std::chrono::seconds age,
                                         std::optional<std::chrono::seconds> lifetime) {
    auto hourly = monthly.scaled(1, hours_per_month);
    return make(monthly, what + " at " + format_rate(hourly) + "/h", age, lifetime);
}

EnvironmentCost shared_environment_cost(std::uint64_t bytes_on_disk, Money gb_month, std::chrono::seconds age,
                                        std::optional<std::chrono::seconds> lifetime) {
    constexpr std::int64_t gib = std::int64_t{1} << 30;
    // bytes up to 2^63 / rate fit: scaled() multiplies in 128 bits.
    auto monthly = gb_month.scaled(static_cast<std::int64_t>(bytes_on_disk), gib);
    return make(monthly, gib_text(bytes_on_disk) + " on disk at " + format_money(gb_month) + "/GB-month", age,
                lifetime);
}

}  // namespace ece::cost
