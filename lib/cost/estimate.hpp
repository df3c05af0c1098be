#pragma once
// Monthly cost of a Terraform plan's resources before and after, from the price catalogue.
#include "cost/catalogue.hpp"
#include "plan/plan.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ece::cost {

// One resource's monthly cost on each side; nullopt where the resource does not exist on that side.
struct ResourceCost {
    std::string address;
    std::string type;
    plan::Action action = plan::Action::no_op;
    std::optional<Money> before;
    std::optional<Money> after;
    std::string before_detail;  // what was priced: "db.t3.micro, Single-AZ, 5 GB gp2"
    std::string after_detail;

    Money diff() const { return after.value_or(Money{}) - before.value_or(Money{}); }
};

// A resource ece cannot price, and why.
struct UnpricedResource {
    std::string address;
    std::string type;
    plan::Action action = plan::Action::no_op;
    std::string reason;  // "no price for resource type aws_iam_role", "db.x1.large not in the catalogue"
};

struct CostEstimate {
    std::vector<ResourceCost> resources;  // every priced resource, unchanged ones included (they count in totals)
    std::vector<UnpricedResource> not_priced;
    Money total_before;
    Money total_after;
    Money diff() const { return total_after - total_before; }
};

// What one resource's attributes cost a month.
struct PriceResult {
    std::optional<Money> monthly;  // empty when not priced
    std::string detail;            // what was priced, or why not
};

// Prices one side (attributes of type as in a plan's before/after); exposed for tests.
PriceResult price_resource(const std::string& type, const boost::json::value& attributes,
                           const PriceCatalogue& prices);

// Prices every managed resource of the plan (data sources are skipped).
CostEstimate estimate_plan_cost(const plan::Plan& plan, const PriceCatalogue& prices);

}  // namespace ece::cost
