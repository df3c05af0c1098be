#pragma once
// The pieces of the chains that talk to lib/stage and lib/dbt, shared by the chains and by production's build
// (production.hpp).
#include "dbt/build.hpp"
#include "env/environments.hpp"
#include "lifecycle/lifecycle.hpp"
#include "stage/stage.hpp"

#include <string>
#include <vector>

namespace ece::lifecycle {

// ece.yml's stage.tables as lib/stage declarations, local sources made absolute against ece.yml's folder.
std::vector<stage::TableDecl> stage_declarations(const config::Config& config);

// Stages the tables into where, logging each table as it finishes.
std::vector<stage::StagedTable> stage_tables_into(const std::string& admin_url, const stage::Environment& where,
                                                  const std::vector<stage::TableDecl>& tables, Log& log);
// "4 tables in ece_pr_1_raw (2 loaded, 2 reused): patients 1,000 rows, ..."
std::string describe_staged(const std::vector<stage::StagedTable>& staged, const std::string& raw_schema);

// dbt plan + build of the branch in the environment (deferring to production), dbt's lines in the log.
dbt::BuildReport build_environment(env::Environments& environments, const env::Identity& id, const Target& target,
                                   const Options& options, Log& log);

// dbt build options shared by environments and production: project, executable, target path, log lines.
dbt::BuildOptions build_options(const Options& options, const std::string& environment, Log& log);

}  // namespace ece::lifecycle
