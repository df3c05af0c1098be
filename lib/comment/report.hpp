#pragma once
// What one ece pull-request comment shows, as plain values: the callers (ece-comment, fed by lib/env, lib/dbt and
// the catalog) fill it in, so this library depends on neither lib/dbt nor lib/github.
#include "cost/catalogue.hpp"
#include "cost/environment_cost.hpp"
#include "cost/estimate.hpp"
#include "diff/result.hpp"
#include "plan/plan.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ece::comment {

enum class Status { planning, building, ready, failed, published, destroyed };
std::string_view status_name(Status status);

struct Header {
    std::string environment;  // "pr-12"
    std::string branch;       // for the hints command
    Status status = Status::planning;
    std::string head_sha;
    std::optional<int> pr_number;
    std::string run_url;  // the workflow run, where the job summary is
    // From the catalog when known; shown on the header line. Times as ISO 8601 (never "3h ago": the digest of an
    // unchanged report must stay the same from one run to the next).
    std::vector<std::string> schemas{};
    std::string created_at{};
    std::string expires_at{};
};

// One line of ece's own environment plan: what ece will create, resize or destroy.
struct EnvPlanLine {
    std::string action;  // "create", "resize", "destroy", "keep"
    std::string what;    // "schema analytics", "cluster ece-pr-12"
    std::string detail;  // "db-s-1vcpu-1gb -> db-s-1vcpu-2gb"
};

struct TerraformSection {
    plan::Plan plan;
};

struct CostSection {
    std::optional<cost::CostEstimate> terraform;        // from a Terraform plan
    std::optional<cost::EnvironmentCost> environment;   // the environment itself
    std::string prices_note;  // where prices come from: see catalogue_note()
};

// The JSON `ece-dbt plan --format json` writes.
struct DbtPlanNode {
    std::string unique_id;
    std::string resource_type;
    std::string name;
    std::vector<std::string> reasons;
};

struct DbtPlan {
    std::string selector;
    std::string state_source;
    bool full_build = false;
    std::string full_build_reason;
    std::vector<DbtPlanNode> selected;
    std::map<std::string, std::int64_t> counts;  // resource type -> selected count
    std::int64_t deferred = 0;
    std::vector<std::string> removed;
    std::vector<std::string> warnings;
};

// One node of a dbt build (from run_results.json).
struct DbtResult {
    std::string unique_id;
    std::string resource_type;  // "model", "test", "seed", "snapshot"
    std::string status;         // "success", "error", "fail", "warn", "skipped", "pass"
    double seconds = 0;
    std::optional<std::int64_t> rows;
    std::string message;
};

struct ColumnChange {
    enum class Kind { added, removed, retyped };
    Kind kind = Kind::added;
    std::string column;
    std::string before_type;  // removed, retyped
    std::string after_type;   // added, retyped
};

// One built model compared with production.
struct DataChange {
    std::string model;
    std::optional<std::int64_t> rows_environment;
    std::optional<std::int64_t> rows_production;  // empty: the model is new
    std::vector<ColumnChange> columns;
    // A count from pg_class.reltuples (a large table, or counting timed out): shown with "~".
    bool rows_environment_estimated = false;
    bool rows_production_estimated = false;
};

struct Report {
    Header header;
    std::vector<EnvPlanLine> environment_plan;
    std::optional<TerraformSection> terraform;
    std::optional<CostSection> cost;
    std::optional<DbtPlan> dbt_plan;
    std::optional<std::vector<DbtResult>> dbt_results;  // empty optional: not built yet
    std::vector<DataChange> data_changes;
    // The data diff (lib/diff): when present it replaces the data_changes table (row counts and columns).
    std::optional<diff::DiffRun> data_diff;
    std::vector<std::string> warnings;
    std::string dbt_version{};  // the dbt this run used ("dbt-core 1.9.1, postgres 1.9.0"); empty: not known
};

// "prices: prices.json (aws_rds 2024-06, digitalocean_database 2024-06)"
std::string catalogue_note(const cost::PriceCatalogue& catalogue);

// Parses `ece-dbt plan --format json` output. Throws ece::Error(input) with the file and JSON path.
DbtPlan parse_dbt_plan(std::string_view text, const std::string& source_name);

}  // namespace ece::comment
