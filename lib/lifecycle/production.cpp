#include "lifecycle/production.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "dbt/catalog.hpp"
#include "dbt/plan_output.hpp"
#include "env/credentials.hpp"
#include "lifecycle/steps.hpp"
#include "pg/connect.hpp"
#include "pg/ident.hpp"

namespace ece::lifecycle {

namespace {

// The production role, able to log in with a fresh password, owning production's schemas.
std::string production_login(const std::string& admin_url, const config::Config& config) {
    const std::string password = env::random_password();
    auto conn = pg::connect(admin_url, "preparing production's role");
    pqxx::work tx(conn);
    const auto& role = config.production.role;
    const auto quoted = pg::quote_ident(role);
    if (tx.exec_params1("SELECT count(*) FROM pg_roles WHERE rolname = $1", role)[0].as<int>() == 0)
        tx.exec0("CREATE ROLE " + quoted);
    tx.exec0("ALTER ROLE " + quoted + " LOGIN PASSWORD " + tx.quote(env::scram_sha256_verifier(password)));
    tx.exec0("GRANT CREATE ON DATABASE " + pg::quote_ident(conn.dbname()) + " TO " + quoted);
    for (const auto& schema : config.production.schemas)
        tx.exec0("CREATE SCHEMA IF NOT EXISTS " + pg::quote_ident(schema) + " AUTHORIZATION " + quoted);
    tx.commit();
    return password;
}

}  // namespace

ProductionBuild build_production(env::Environments& environments, const Options& options, const std::string& sha,
                                 Log& log) {
    const auto& config = environments.config();
    ProductionBuild result;
    const auto password = production_login(options.admin_url, config);

    const auto tables = stage_declarations(config);
    if (!tables.empty()) {
        log.group("stage production's data into " + config.production.raw_schema);
        const stage::Environment production{"production", config.production.raw_schema, config.production.role, true};
        result.staged = stage_tables_into(options.admin_url, production, tables, log);
        log.info(describe_staged(result.staged, production.raw_schema));
    }

    const auto facts = environments.production_facts();
    dbt::BuildTarget target{facts.host, facts.port, facts.dbname, config.production.role, password, facts.schema,
                            facts.schema, "production", sha, {}};
    if (auto ssl = facts.options.find("sslmode"); ssl != facts.options.end()) target.sslmode = ssl->second;
    auto build = build_options(options, "production", log);
    build.raw_schema = config.production.raw_schema;
    build.vars = config.dbt.vars;
    build.exclude = config.dbt.exclude;
    build.on_plan = [&](const dbt::Plan& plan) {
        log.group("dbt plan for production");
        log.info(dbt::plan_to_text(plan, "production"));
        log.group("dbt build for production");
    };
    auto catalog = pg::connect_owned(options.admin_url, "production build: catalog");
    log.group("dbt parse for production");
    result.build = dbt::run_build(*catalog, target, build);
    log.end_group();
    if (!result.build.ok()) {
        throw Error(ErrorKind::external, "production's dbt build: " + result.build.status + ": " + result.build.message);
    }
    const auto stored = dbt::load_production_manifest_json(*catalog);
    if (result.build.status == dbt::build_status::nothing_to_build && stored) {
        result.manifest_id = stored->id;  // production is what the stored manifest says already
    } else {
        result.manifest_id = dbt::store_production_manifest(*catalog, *build.target_path / "manifest.json", sha,
                                                            "production build of " + config.project);
    }
    return result;
}

}  // namespace ece::lifecycle
