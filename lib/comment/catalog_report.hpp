#pragma once
// Filling a Report from what earlier steps left in the catalog (the `ece` schema of the production database): the
// environment (lib/env), its latest dbt build's plan and run results (lib/dbt), and the data it built compared with
// production. Read-only: nothing here migrates, locks or writes. Library ece_comment_catalog, so ece_comment itself
// stays free of lib/env, lib/dbt and PostgreSQL.
//
//   auto admin = pg::connect(admin_url, "reading the catalog for the comment");
//   comment::Report report;
//   auto found = comment::fill_from_catalog(report, admin, id, config, prices, {});
#include "comment/report.hpp"
#include "config/config.hpp"
#include "cost/catalogue.hpp"
#include "dbt/catalog.hpp"
#include "dbt/run_results.hpp"
#include "env/catalog.hpp"
#include "env/naming.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ece::comment {

// The environment's catalog row, or nullopt when there is none (or no catalog at all). Never migrates.
std::optional<env::Record> find_environment(pqxx::connection_base& admin, const env::Identity& id);

// destroyed -> destroyed, creating -> planning; a ready environment takes its latest build's state: running ->
// building, failed/mismatch -> failed, anything else -> ready.
Status status_of(const env::Record& record, const std::optional<dbt::BuildRow>& build);

// The header facts of the row (name, branch, pr, head sha, schemas, creation, expiry); run_url is the caller's.
Header header_from(const env::Record& record, const std::optional<dbt::BuildRow>& build);

// What the environment costs: a DigitalOcean cluster by the hour (its size from the row's details "size" and
// "num_nodes", else digitalocean.size / node_count of ece.yml, priced from the catalogue), or its bytes on a
// shared server at cost.shared_server_usd_per_gb_month. nullopt when the cluster's size has no price.
// bytes: the size on disk now (nullopt: the row's last recorded size). The age counts whole hours.
std::optional<cost::EnvironmentCost> environment_cost(const env::Record& record, const config::Config& config,
                                                      const cost::PriceCatalogue& prices,
                                                      std::optional<std::int64_t> bytes,
                                                      env::Clock::time_point now);

// Bytes on disk of every table and materialized view in the schemas (pg_total_relation_size).
std::int64_t schemas_bytes(pqxx::connection_base& admin, const std::vector<std::string>& schemas);

// run_results.json as report rows, failures first (then in dbt's order). The resource type is the unique id's
// first part ("model.shop.orders" -> "model").
std::vector<DbtResult> dbt_results_from(const dbt::RunResults& results);

// The production schema that publish maps an environment schema to (diff::production_schema_for).
std::optional<std::string> production_schema_for(std::string_view schema, std::string_view base_schema,
                                                 std::string_view production_schema);

struct DataChangeOptions {
    // Tables PostgreSQL estimates (pg_class.reltuples) at this many rows or more are not counted: the estimate is
    // shown with "~".
    std::int64_t exact_count_below = 100'000;
    // An exact count(*) stops after this long (statement_timeout); the estimate is shown instead.
    std::chrono::milliseconds count_timeout{2000};
};

// For each built model, seed and snapshot with a relation (ephemeral ones have none): rows in the environment and
// in production, and columns added, removed or retyped (format_type of pg_attribute). Relation names reach SQL only
// through pg::quote_ident. The counts run as environment_role (pg::select_as_role: a view may call the pull
// request's functions), everything else reads the catalog only.
std::vector<DataChange> data_changes(pqxx::connection_base& admin, const std::string& environment_role,
                                     const std::vector<dbt::BuiltNode>& nodes, std::string_view base_schema, std::string_view production_schema,
                                     const DataChangeOptions& options = {});

struct CatalogFill {
    bool environment_found = false;
    std::optional<std::int64_t> build_id;  // the build whose plan and results were used
};

struct FillOptions {
    bool dbt_plan = true;     // false: the caller gave --dbt-plan
    bool dbt_results = true;  // false: the caller gave --run-results
    bool data_changes = true;
    DataChangeOptions counting{};
    // The data diff (lib/diff) as the environment's role, when ece.yml's diff.enabled: report.data_diff. Keys and
    // sensitive columns come from the branch's manifest when given (else ece.yml's alone).
    bool data_diff = true;
    std::optional<std::filesystem::path> manifest{};
    std::optional<env::Clock::time_point> now{};  // default: the system clock
};

// Fills what the catalog knows into report: header, environment cost (into report.cost, created when missing),
// dbt plan and results of the latest build, data changes and the data diff (a diff that fails becomes a warning).
// Parts the caller already set (a plan from a file) are
// kept. A stored plan or run_results that cannot be parsed becomes a report warning, not an error.
CatalogFill fill_from_catalog(Report& report, pqxx::connection_base& admin, const env::Identity& id,
                              const config::Config& config, const cost::PriceCatalogue& prices,
                              const FillOptions& options = {});

}  // namespace ece::comment
