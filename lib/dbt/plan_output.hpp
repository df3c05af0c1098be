#pragma once
// The plan as text for people and as JSON for the comment renderer. The JSON shape is a contract:
// {"selector","state_source","full_build","full_build_reason","selected":[{"unique_id","resource_type","name",
//  "reasons"}],"counts":{"model","test","seed","snapshot",...},"deferred","removed","warnings"}
#include <string>

#include "dbt/state.hpp"

namespace ece::dbt {

std::string plan_to_json(const Plan& plan);
std::string plan_to_text(const Plan& plan, const std::string& branch);

}  // namespace ece::dbt
