// GitHub Actions mode: the event and the action's inputs decide the chain; its results become step outputs.
#include "actions/commands.hpp"
#include "actions/context.hpp"
#include "actions/event.hpp"
#include "actions/files.hpp"
#include "actions/inputs.hpp"
#include "actions/workspace.hpp"
#include "config/config.hpp"
#include "core/ece_dir.hpp"
#include "core/error.hpp"
#include "dbt/artifact_state.hpp"
#include "dbt/env_target.hpp"
#include "github/client.hpp"
#include "core/secrets.hpp"
#include "ece.hpp"
#include "env/environments.hpp"

#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

namespace ece::cli {

namespace {

std::string branch_of_ref(const std::string& ref) {
    const std::string heads = "refs/heads/";
    return ref.rfind(heads, 0) == 0 ? ref.substr(heads.size()) : std::string();
}

// What the event says the chain works on; the pull-request input fills in a number the event lacks.

lifecycle::Target target_of(const actions::Event& event, const actions::Context& context,
                            const actions::Inputs& inputs) {
    lifecycle::Target target;
    if (event.pull_request) {
        const auto& pr = *event.pull_request;
        target.branch = pr.head_ref;
        target.pr = static_cast<int>(pr.number);
        target.sha = pr.merged && pr.merge_commit_sha ? *pr.merge_commit_sha : pr.head_sha;
    } else if (event.push) {
        // A push to the default branch publishes the pull request that holds the commit: no branch of its own.
        const auto branch = branch_of_ref(event.push->ref);
        if (branch != event.default_branch) target.branch = branch;
        target.sha = event.push->after;
    } else if (event.merge_group) {
        // The queue's temporary branch: an environment of its own, named after it (no pull request number).
        target.branch = event.merge_group->head_branch;
        target.sha = event.merge_group->head_sha;
    } else if (event.workflow_run) {
        target.branch = event.workflow_run->head_branch;
        target.sha = event.workflow_run->head_sha;
        if (event.workflow_run->pull_request_numbers.size() == 1)
            target.pr = static_cast<int>(event.workflow_run->pull_request_numbers.front());
    } else {
        target.branch = context.head_ref.empty() ? branch_of_ref(context.ref) : context.head_ref;
        target.sha = context.sha;
    }
    if (auto pr = inputs.get_int("pull-request")) target.pr = static_cast<int>(*pr);
    if (target.sha.empty()) target.sha = context.sha;
    target.environment_name = inputs.get_or("environment-name", "");
    return target;
}

// The chain the event (or the command input) asks for: preview, destroy, publish, gc, hints, or "" (nothing).
std::string chosen_command(const actions::Event& event, const std::string& input, lifecycle::Log& log) {
    if (input != "auto") {
        log.info("command input: " + input);
        return input;
    }
    const auto decision = actions::decide(event);
    log.info("event " + event.name + (event.action.empty() ? "" : "." + event.action) + ": " + decision.reason);
    switch (decision.step) {
        case actions::Step::preview: return "preview";
        case actions::Step::destroy: return "destroy";
        case actions::Step::publish: return "publish";
        case actions::Step::gc: return "gc";
        case actions::Step::dispatch: return decision.command == "auto" ? "" : decision.command;
        case actions::Step::ignore: return "";
    }
    return "";
}

config::Config load_config(const fs::path& workspace, const actions::Inputs& inputs) {
    const fs::path file = workspace / inputs.get_or("config", "ece.yml");
    if (fs::exists(file)) return config::load(file);
    auto config = config::load_or_default(workspace);
    config.root = workspace;
    return config;
}

void write_outputs(const lifecycle::Outcome& outcome, const std::string& step, actions::Commands& commands) {
    auto outputs = actions::Outputs::from_env();
    outputs.set("step", step);
    if (!outcome.environment.empty()) outputs.set("env-name", outcome.environment);
    if (!outcome.schema.empty()) outputs.set("schema", outcome.schema);
    if (!outcome.host.empty()) outputs.set("host", outcome.host);
    if (!outcome.port.empty()) outputs.set("port", outcome.port);
    if (!outcome.user.empty()) outputs.set("user", outcome.user);
    if (!outcome.database_url.empty()) outputs.set_secret("database-url", outcome.database_url, commands);
    if (outcome.selected_count) outputs.set("selected-count", std::to_string(*outcome.selected_count));
    if (!outcome.comment_url.empty()) outputs.set("comment-url", outcome.comment_url);
    if (!outcome.data_diff_file.empty()) outputs.set("data-diff", outcome.data_diff_file);
}

// Whatever ece or dbt left in the workspace goes back to its owner when the run ends, however it ends.
struct WorkspaceHandBack {
    fs::path workspace;
    ~WorkspaceHandBack() { actions::hand_back_to_workspace_owner(workspace); }
};

int run_chain(const actions::Context& context, const fs::path& workspace);

}  // namespace

int run_in_github_actions() {
    const auto context = actions::read_context();
    const fs::path workspace = context.workspace.empty() ? fs::current_path() : fs::path(context.workspace);
    WorkspaceHandBack hand_back{workspace};
    return run_chain(context, workspace);
}

namespace {

int run_chain(const actions::Context& context, const fs::path& workspace) {
    const actions::Inputs inputs;
    actions::Commands commands;
    lifecycle::Log log(std::cout, true);

    const auto token = inputs.get_secret("github-token", commands);
    auto config = load_config(workspace, inputs);
    if (auto behavior = inputs.get("comment-behavior")) config.comment.behavior = *behavior;

    const auto command = inputs.get_or("command", "auto");
    if (command == "demo") {
        DemoOptions demo;
        demo.dir = ece_dir() / "demo";
        return run_demo(demo);
    }
    const auto event = actions::read_event(context.event_name, context.event_path);
    const auto chain = chosen_command(event, command, log);
    if (chain.empty()) {
        log.info("nothing to do");
        auto outputs = actions::Outputs::from_env();
        outputs.set("step", "ignore");
        return exit_code::ok;
    }
    const auto database_url =
        inputs.database_url_for(chain, config.environments.provider == "digitalocean", commands);
    if (!database_url && config.environments.provider != "digitalocean")
        log.warning("database-url is empty: ece uses an embedded PostgreSQL inside this job, which vanishes with it");
    const auto target = target_of(event, context, inputs);

    lifecycle::Options options;
    options.project_dir = workspace / inputs.get_or("project-dir", ".");
    if (auto dbt_target = inputs.get("dbt-target")) {
        // From the workspace's project, which is trusted (a fork artifact's profiles.yml is never read).
        options.profile_target = dbt::profile_target_for(options.project_dir, *dbt_target);
        log.info("dbt target " + *dbt_target + " of " + options.profile_target->file.string() + ": its settings, ece's connection");
        std::string ignored;
        for (const auto& key : options.profile_target->ignored_keys) ignored += (ignored.empty() ? "'" : ", '") + key + "'";
        if (!ignored.empty())
            log.notice("dbt-target: " + ignored + " of " + options.profile_target->file.string() +
                       " ignored: ece supplies the connection");
    }
    const auto fork_artifact = inputs.get("fork-artifact");
    if (fork_artifact && chain != "preview")
        throw Error(ErrorKind::usage, "the fork-artifact input is for the preview command only, not " + chain);
    if (chain == "preview" || chain == "publish") {  // the chains that run dbt
        const auto dbt_version = inputs.get("dbt-version");
        const auto dbt = choose_dbt(config, dbt_version);
        options.dbt = dbt.path.string();
        options.dbt_version = dbt.version;
        if (dbt_version && dbt_version->find('.') != dbt_version->rfind('.') &&
            options.dbt_version.find("dbt-core " + *dbt_version + ",") != 0 &&
            options.dbt_version != "dbt-core " + *dbt_version)
            throw Error(ErrorKind::usage, "input 'dbt-version' asks for dbt-core " + *dbt_version + ", the image has " +
                                              options.dbt_version + ": give the minor (" +
                                              dbt_version->substr(0, dbt_version->rfind('.')) + ") or that version");
        log.info(dbt.log.substr(0, dbt.log.size() - 1));
    }
    options.work_dir = make_ece_dir(ece_dir() / "work");
    options.data_diff_file = workspace / ".ece" / "data-diff.json";  // an output: later steps read it in the workspace
    if (auto ttl = inputs.get("ttl")) options.ttl = config::parse_duration(*ttl);
    if (auto prices = inputs.get("prices")) options.prices_file = (workspace / *prices).string();
    if (!context.run_id.empty()) options.run_url = context.run_url();
    options.also_select = inputs.get_lines("select");
    options.full_refresh = lifecycle::asks_full_refresh(event, inputs);
    if (options.full_refresh) log.notice("full refresh asked for: snapshots and incremental models are built from scratch");

    auto settings = env::Settings::resolve(database_url, std::move(config));
    options.admin_url = settings.admin_url;
    env::Environments environments(std::move(settings));
    if (chain == "hints") {
        std::cout << mask_secrets(lifecycle::hints(environments, target));
        return exit_code::ok;
    }

    lifecycle::Services services;
    std::string github_missing;
    std::optional<GitHubServices> github;
    if (token) {
        github = github_services(context.api_url, *token, context.repository, environments.config().comment.behavior,
                                 options.run_url, github_missing);
    } else {
        github_missing = "no github-token input";
    }
    if (token && !context.repository.empty()) {
        github::ClientConfig client;
        client.api_url = context.api_url;
        client.token = *token;
        client.repository = github::Repository::parse(context.repository);
        options.artifact = dbt::github_artifact_fetcher(client, event.default_branch.empty() ? "main" : event.default_branch,
                                                        environments.config().dbt.state_artifact,
                                                        options.work_dir / "artifact");
    } else {
        options.artifact_unavailable_reason = "no GitHub token for the " + environments.config().dbt.state_artifact +
                                              " artifact";
    }
    if (github) {
        services.comments = github->comments.get();
        services.deployments = github->deployments.get();
        services.pulls = github->pulls.get();
    } else {
        log.warning("GitHub is not used (" + github_missing + "): no comment, no deployment");
    }
    auto publisher = make_publisher(options.admin_url);
    services.publisher = publisher.get();
    auto summary = actions::StepSummary::from_env();
    services.job_summary = [&summary](const std::string& markdown) { summary.append(markdown); };

    const auto outcome =
        fork_artifact ? lifecycle::preview_fork_artifact(workspace / *fork_artifact, environments, target, options, services, log)
                      : lifecycle::dispatch(chain, environments, target, options, services, log);
    write_outputs(outcome, chain, commands);
    if (!outcome.ok()) {
        for (const auto& step : outcome.steps) {
            if (!step.ok) {
                log.error("ece " + chain + " failed at " + step.name + " (exit code " +
                          std::to_string(step.exit_code) + ")");
                break;
            }
        }
    }
    return outcome.exit_code;
}

}  // namespace

}  // namespace ece::cli
