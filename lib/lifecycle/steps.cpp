#include "lifecycle/steps.hpp"

#include "core/secrets.hpp"
#include "dbt/env_target.hpp"
#include "dbt/plan_output.hpp"
#include "pg/connect.hpp"

#include <filesystem>

namespace fs = std::filesystem;

namespace ece::lifecycle {

std::vector<stage::TableDecl> stage_declarations(const config::Config& config) {
    std::vector<stage::TableDecl> out;
    for (const auto& t : config.stage.tables) {
        stage::TableDecl decl;
        decl.name = t.name;
        decl.source = t.source;
        const bool url = t.source.rfind("https://", 0) == 0 || t.source.rfind("http://", 0) == 0;
        if (!url && fs::path(t.source).is_relative()) decl.source = (config.root / t.source).lexically_normal().string();
        decl.column_types = t.column_types;
        decl.primary_key = t.primary_key;
        decl.csv.header = t.csv.header;
        decl.csv.delimiter = t.csv.delimiter;
        decl.csv.quote = t.csv.quote;
        decl.csv.escape = t.csv.escape;
        decl.csv.null_string = t.csv.null_string;
        out.push_back(std::move(decl));
    }
    return out;
}

std::vector<stage::StagedTable> stage_tables_into(const std::string& admin_url, const stage::Environment& where,
                                                  const std::vector<stage::TableDecl>& tables, Log& log) {
    stage::StageOptions options;
    options.on_progress = [&](const stage::Progress& p) {
        if (p.phase == stage::Phase::loaded || p.phase == stage::Phase::reused) {
            log.info(p.table + ": " + (p.phase == stage::Phase::loaded ? "loaded " : "unchanged, ") +
                     std::to_string(p.rows_done) + " rows");
        }
    };
    return stage::stage_tables(admin_url, where, tables, options);
}

std::string describe_staged(const std::vector<stage::StagedTable>& staged, const std::string& raw_schema) {
    std::size_t loaded = 0;
    std::string tables;
    for (const auto& t : staged) {
        if (t.loaded) ++loaded;
        tables += (tables.empty() ? "" : ", ") + t.name + " " + std::to_string(t.rows) + " rows";
    }
    return std::to_string(staged.size()) + " tables in " + raw_schema + " (" + std::to_string(loaded) + " loaded, " +
           std::to_string(staged.size() - loaded) + " reused): " + tables;
}

dbt::BuildOptions build_options(const Options& options, const std::string& environment, Log& log) {
    dbt::BuildOptions build;
    build.project_dir = options.project_dir;
    build.dbt = options.dbt;
    build.target_path = fs::absolute(options.work_dir / environment / "target");
    build.build_timeout = options.build_timeout;
    build.threads = 4;
    build.on_log_line = [&log](std::string_view line) { log.info(line); };
    return build;
}

dbt::BuildReport build_environment(env::Environments& environments, const env::Identity& id, const Target& target,
                                   const Options& options, Log& log) {
    auto build_target = dbt::build_target_for(environments, id, target.sha);
    auto build = build_options(options, id.name, log);
    build.threads = environments.config().dbt.threads;
    build.session_limits = env::session_limits(environments.config());
    build.branch_manifest = options.branch_manifest;
    build.branch_manifest_schema = options.branch_manifest_schema;
    if (options.profile_target) {
        if (options.profile_target->threads) build.threads = *options.profile_target->threads;
        dbt::apply_profile_target(build_target, *options.profile_target);
    }
    build.artifact = options.artifact;
    build.artifact_unavailable_reason = options.artifact_unavailable_reason;
    build.also_select = options.also_select;
    build.vars = environments.config().dbt.vars;
    build.exclude = environments.config().dbt.exclude;
    build.full_refresh = options.full_refresh;
    if (!environments.provider().supports_defer()) {
        build.full_build_reason = "environment " + id.name + " is a " + environments.provider().kind() +
                                  " cluster of its own, which cannot read production's relations (no --defer)";
    }
    build.on_plan = [&](const dbt::Plan& plan) {
        log.group("dbt plan for " + id.name);
        log.info(dbt::plan_to_text(plan, target.branch));
        log.group("dbt build for " + id.name);
    };
    auto catalog = pg::connect_owned(options.admin_url, "dbt build: catalog");
    return dbt::run_build(*catalog, build_target, build);
}

}  // namespace ece::lifecycle
