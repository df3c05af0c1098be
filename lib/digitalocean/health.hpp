#pragma once
// The health check publish runs on the resized cluster before production changes: connect as the environment's
// user (TLS verified against the cluster's CA) and run SELECT 1, within a timeout.
#include "digitalocean/provider.hpp"

#include <chrono>

namespace ece::digitalocean {

// Throws ece::Error (database, or auth for rejected credentials) naming the server when it does not answer 1.
HealthCheck select_one_health_check(std::chrono::seconds timeout = std::chrono::seconds(10));

}  // namespace ece::digitalocean
