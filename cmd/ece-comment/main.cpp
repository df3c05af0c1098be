// ece-comment: one sticky pull-request comment with the plan, the cost and the results, plus the job summary.
// Parses arguments, gathers the report (files given, else the catalog), renders it and posts it through lib/comment.
#include "actions/context.hpp"
#include "actions/event.hpp"
#include "actions/files.hpp"
#include "comment/catalog_report.hpp"
#include "comment/render.hpp"
#include "comment/sticky.hpp"
#include "config/config.hpp"
#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "cost/estimate.hpp"
#include "dbt/run_results.hpp"
#include "env/environments.hpp"
#include "pg/connect.hpp"
#include "pg/embedded.hpp"
#include "plan/plan.hpp"

#include <boost/program_options.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace po = boost::program_options;
using namespace ece;

namespace {

constexpr const char* program = "ece-comment";

constexpr const char* usage_text = R"(Usage: ece-comment --branch B [options]

Posts (or updates) ece's one comment on the pull request: the environment, the infrastructure plan and its cost,
the dbt plan and results, and the data changes compared with production. Inputs not given as files are read from
the catalog when there is one. The same report goes to $GITHUB_STEP_SUMMARY when set; with --dry-run or without a
token it is printed (or written to --out) instead of posted.

Options)";

struct Options {
    std::string branch;
    std::optional<int> pr;
    std::optional<std::string> tf_plan, dbt_plan, run_results, prices, behavior, status, out, database_url, config;
    std::string token_env = "GITHUB_TOKEN";
    bool dry_run = false;
    bool no_catalog = false;
};

po::options_description describe_options() {
    po::options_description o(usage_text);
    o.add_options()("help,h", "this help")("version", "print the version")(
        "branch", po::value<std::string>(), "the branch (required)")(
        "pr", po::value<int>(), "the pull request (default: from the GitHub event)")(
        "tf-plan", po::value<std::string>(), "OpenTofu/Terraform plan JSON (tofu show -json plan)")(
        "dbt-plan", po::value<std::string>(), "ece-dbt plan --format json output (default: the latest build's)")(
        "run-results", po::value<std::string>(), "dbt's run_results.json (default: the latest build's)")(
        "prices", po::value<std::string>(), "price catalogue (default: comment.prices of ece.yml, else ece's)")(
        "behavior", po::value<std::string>(), "update | new | delete-and-new (default: comment.behavior, update)")(
        "status", po::value<std::string>(), "planning | building | ready | failed | published | destroyed")(
        "dry-run", po::bool_switch(), "print the comment instead of posting it")(
        "out", po::value<std::string>(), "write the comment's markdown to this file")(
        "database-url", po::value<std::string>(), "admin URL of the production database (the catalog)")(
        "no-catalog", po::bool_switch(), "use only the files given")(
        "config", po::value<std::string>(), "ece.yml (default: ./ece.yml)")(
        "token-env", po::value<std::string>(), "variable holding the GitHub token (default GITHUB_TOKEN)");
    return o;
}

std::optional<Options> parse_options(int argc, char** argv) {
    auto parsed = cli::parse(cli::arguments(argc, argv), describe_options(),
                             {.program = program, .help_after = "\n", .error_hint = " (see ece-comment --help)"});
    if (!parsed) return std::nullopt;  // --help or --version was printed
    const auto& vm = parsed->values;
    Options o;
    o.branch = cli::value<std::string>(vm, "branch").value_or("");
    if (o.branch.empty()) throw Error(ErrorKind::usage, "--branch is required (see ece-comment --help)");
    o.pr = cli::value<int>(vm, "pr");
    o.tf_plan = cli::value<std::string>(vm, "tf-plan");
    o.dbt_plan = cli::value<std::string>(vm, "dbt-plan");
    o.run_results = cli::value<std::string>(vm, "run-results");
    o.prices = cli::value<std::string>(vm, "prices");
    o.behavior = cli::value<std::string>(vm, "behavior");
    o.status = cli::value<std::string>(vm, "status");
    o.out = cli::value<std::string>(vm, "out");
    o.database_url = cli::value<std::string>(vm, "database-url");
    o.config = cli::value<std::string>(vm, "config");
    if (auto name = cli::value<std::string>(vm, "token-env")) o.token_env = *name;
    o.dry_run = vm["dry-run"].as<bool>();
    o.no_catalog = vm["no-catalog"].as<bool>();
    if (o.database_url) register_secret(*o.database_url);
    return o;
}

comment::Status parse_status(const std::string& text) {
    using comment::Status;
    for (auto s : {Status::planning, Status::building, Status::ready, Status::failed, Status::published,
                   Status::destroyed}) {
        if (comment::status_name(s) == text) return s;
    }
    throw Error(ErrorKind::usage, "--status must be planning, building, ready, failed, published or destroyed, got \"" +
                                      text + "\"");
}

const char* env_value(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return value && *value ? value : nullptr;
}

// A catalog is there to read when a database is named, or ece's embedded server was set up here.
bool catalog_available(const Options& o, const config::Config& config) {
    if (o.no_catalog) return false;
    return o.database_url || env_value(config.server.database_url_env) || env_value("ECE_DATABASE_URL") ||
           std::filesystem::exists(pg::default_embedded_dir() / "initialized");
}

// --pr, else the pull request of the GitHub event (pull_request, or the workflow_run that a pull request started).
std::optional<int> pull_request_number(const Options& o, const actions::Context& context) {
    if (o.pr) return o.pr;
    if (context.event_name.empty() || context.event_path.empty() || !std::filesystem::exists(context.event_path)) {
        return std::nullopt;
    }
    auto event = actions::read_event(context.event_name, context.event_path);
    if (event.pull_request) return static_cast<int>(event.pull_request->number);
    if (event.workflow_run && !event.workflow_run->pull_request_numbers.empty()) {
        return static_cast<int>(event.workflow_run->pull_request_numbers.front());
    }
    return std::nullopt;
}

std::filesystem::path prices_path(const Options& o, const config::Config& config) {
    if (o.prices) return *o.prices;
    if (!config.comment.prices.empty()) return config.root / config.comment.prices;
    return cost::default_catalogue_path();
}

std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the file", {.file = path});
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Error(ErrorKind::input, "cannot write the file", {.file = path});
}

comment::Report gather(const Options& o, const config::Config& config, const cost::PriceCatalogue& prices,
                       const actions::Context& context, std::optional<int> pr) {
    comment::Report report;
    auto id = env::identify(config.environments.prefix, o.branch, pr);
    report.header = {id.name, o.branch, comment::Status::planning, context.sha, pr, {}};
    if (catalog_available(o, config)) {
        auto settings = env::Settings::resolve(o.database_url, config);
        auto admin = pg::connect(settings.admin_url, "reading the catalog for the pull-request comment");
        comment::FillOptions fill;
        fill.dbt_plan = !o.dbt_plan;
        fill.dbt_results = !o.run_results;
        comment::fill_from_catalog(report, admin, id, config, prices, fill);
        if (!report.header.pr_number) report.header.pr_number = pr;
    }
    if (context.in_actions && !context.run_id.empty() && !context.repository.empty()) {
        report.header.run_url = context.run_url();
    }
    if (o.tf_plan) {
        auto plan = plan::read_plan(*o.tf_plan);
        if (!report.cost) report.cost = comment::CostSection{};
        report.cost->terraform = cost::estimate_plan_cost(plan, prices);
        report.terraform = comment::TerraformSection{std::move(plan)};
    }
    if (report.cost) report.cost->prices_note = comment::catalogue_note(prices);
    if (o.dbt_plan) report.dbt_plan = comment::parse_dbt_plan(read_text(*o.dbt_plan), *o.dbt_plan);
    if (o.run_results) report.dbt_results = comment::dbt_results_from(dbt::load_run_results(*o.run_results));
    if (o.status) {
        report.header.status = parse_status(*o.status);
    } else if (o.run_results && report.dbt_results) {
        bool failed = std::any_of(report.dbt_results->begin(), report.dbt_results->end(), [](const auto& r) {
            return r.status == "error" || r.status == "fail" || r.status == "runtime error";
        });
        report.header.status = failed ? comment::Status::failed : comment::Status::ready;
    }
    return report;
}

int run(const Options& o) {
    auto config = config::load_for_command(o.config);
    auto behavior = comment::parse_behavior(o.behavior.value_or(config.comment.behavior));
    const char* token = env_value(o.token_env);
    if (token) register_secret(token);
    auto context = actions::read_context();
    auto pr = pull_request_number(o, context);
    auto prices = cost::load_catalogue(prices_path(o, config));
    auto report = gather(o, config, prices, context, pr);

    auto summary = actions::StepSummary::from_env();
    if (!summary.file().empty()) summary.append(comment::render_job_summary(report).markdown);
    auto rendered = comment::render_comment(report);
    if (o.out) write_text(*o.out, mask_secrets(rendered.markdown));

    if (o.dry_run || !token) {
        if (!o.out) std::cout << mask_secrets(rendered.markdown);
        if (!o.dry_run) std::cerr << program << ": no token in " << o.token_env << ": the comment was not posted\n";
        return exit_code::ok;
    }
    if (!pr) {
        std::cerr << program << ": no pull request (give --pr): the report went to the job summary only\n";
        if (!o.out) std::cout << mask_secrets(rendered.markdown);
        return exit_code::ok;
    }
    const char* repository = env_value("GITHUB_REPOSITORY");
    if (!repository) throw Error(ErrorKind::usage, "GITHUB_REPOSITORY (owner/name) is not set");
    github::ClientConfig client_config;
    client_config.token = token;
    client_config.repository = github::Repository::parse(repository);
    github::Client client(client_config);
    auto result = comment::post_sticky(client, *pr, report.header.environment, rendered, {behavior, {}});
    std::cerr << program << ": comment " << comment::action_name(result.action) << " on #" << *pr
              << (rendered.shortened ? " (shortened; the full report is in the job summary)" : "") << "\n";
    std::cout << mask_secrets(result.url) << "\n";
    actions::Outputs::from_env().set("comment-url", result.url);
    return exit_code::ok;
}

}  // namespace

int main(int argc, char** argv) {
    return guarded_main(program, [&] {
        auto options = parse_options(argc, argv);
        return options ? run(*options) : exit_code::ok;
    });
}
