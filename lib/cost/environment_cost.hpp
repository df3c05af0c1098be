#pragma once
// What one ece environment costs: a cluster of its own (hours alive x hourly rate) or its share of a shared
// server (size on disk x a $/GB-month rate), so far and at its expiry.
#include "cost/money.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ece::cost {

struct EnvironmentCost {
    Money monthly_rate;              // what a full month would cost at the current size
    Money so_far;                    // since creation
    std::optional<Money> at_expiry;  // from creation to expiry, when the environment expires
    std::string basis;               // "db-s-1vcpu-2gb x 1 node at $0.0411/h" or "1.50 GiB at $0.10/GB-month"
};

// A dedicated cluster billed by the hour (monthly / 730 an hour). lifetime = creation to expiry.
EnvironmentCost cluster_environment_cost(Money monthly, const std::string& what, std::chrono::seconds age,
                                         std::optional<std::chrono::seconds> lifetime);

// Schemas on a shared server: bytes on disk (GiB, 2^30) x rate per GB-month, prorated by the hour.
EnvironmentCost shared_environment_cost(std::uint64_t bytes_on_disk, Money gb_month, std::chrono::seconds age,
                                        std::optional<std::chrono::seconds> lifetime);

}  // namespace ece::cost
