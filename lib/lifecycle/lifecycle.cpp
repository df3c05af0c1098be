#include "lifecycle/lifecycle.hpp"

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "cost/catalogue.hpp"
#include "cost/environment_cost.hpp"
#include "cost/money.hpp"
#include "dbt/build.hpp"
#include "dbt/catalog.hpp"
#include "dbt/env_target.hpp"
#include "dbt/plan_output.hpp"
#include "diff/json.hpp"
#include "comment/catalog_report.hpp"
#include "env/hints.hpp"
#include "lifecycle/fork_artifact.hpp"
#include "lifecycle/steps.hpp"
#include "pg/connect.hpp"
#include "process/process.hpp"
#include "stage/stage.hpp"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <tuple>

namespace fs = std::filesystem;

namespace ece::lifecycle {

namespace {

using Clock = std::chrono::steady_clock;

// ---- one sub-step ---------------------------------------------------------------------------------------------

// Runs body inside its own log group and records what happened. An exception becomes a failed StepResult (with
// the error's exit code), never an escape: the chain decides what still makes sense after it.
bool run_step(Outcome& outcome, Log& log, const std::string& name, const std::function<std::string()>& body) {
    log.group(name);
    StepResult result;
    result.name = name;
    const auto start = Clock::now();
    try {
        result.detail = body();
    } catch (const Error& e) {
        result.ok = false;
        result.exit_code = e.exit_code();
        result.detail = mask_secrets(e.what());
    } catch (const std::exception& e) {
        result.ok = false;
        result.exit_code = exit_code::internal;
        result.detail = mask_secrets(e.what());
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!result.ok) {
        log.end_group();
        log.error(name + " failed: " + result.detail);
        if (outcome.exit_code == 0) outcome.exit_code = result.exit_code;
    } else if (!result.detail.empty()) {
        log.info(result.detail);
    }
    log.end_group();
    outcome.steps.push_back(result);
    return result.ok;
}

void skip_step(Outcome& outcome, Log& log, const std::string& name, const std::string& why) {
    log.info(name + ": skipped (" + why + ")");
    outcome.steps.push_back(StepResult{name, true, true, 0, why, 0});
}

std::string plural(std::size_t n, const std::string& one, const std::string& many) {
    return std::to_string(n) + " " + (n == 1 ? one : many);
}

// ---- the comment ----------------------------------------------------------------------------------------------

comment::Header header_for(const env::Identity& id, const Target& target, const Options& options,
                           comment::Status status) {
    comment::Header h;
    h.environment = id.name;
    h.branch = target.branch;
    h.status = status;
    h.head_sha = target.sha;
    h.pr_number = target.pr;
    h.run_url = options.run_url;
    return h;
}

// Every sub-step as a row of the comment's first table, failures also as warnings.
void add_steps(comment::Report& report, const Outcome& outcome) {
    for (const auto& s : outcome.steps) {
        if (s.name == "comment") continue;
        report.environment_plan.push_back(
            {s.name, s.skipped ? "skipped" : (s.ok ? "done" : "failed"), s.detail});
        if (!s.ok) report.warnings.push_back(s.name + " failed: " + s.detail);
    }
}

std::string admin_url_of(const Options& options) {
    if (options.admin_url.empty()) throw Error(ErrorKind::internal, "lifecycle options carry no admin URL");
    return options.admin_url;
}

cost::PriceCatalogue prices_of(const Options& options, std::string& note) {
    try {
        const auto path = options.prices_file.empty() ? cost::default_catalogue_path() : fs::path(options.prices_file);
        auto catalogue = cost::load_catalogue(path);
        note = comment::catalogue_note(catalogue);
        return catalogue;
    } catch (const std::exception& e) {
        // Without a catalogue the shared-server rate of ece.yml still prices an environment on a shared server.
        note = std::string("no price catalogue (") + e.what() + ")";
        return {};
    }
}

// The report as the catalog knows the environment (lib/comment's assembly: header, cost, the latest build's plan and
// results, data compared with production), then this run's own facts on top: its status and its sub-steps.
comment::Report catalog_report(env::Environments& environments, const env::Identity& id, const Target& target,
                               const Options& options, comment::Status status, bool with_build, Log& log) {
    comment::Report report;
    report.header = header_for(id, target, options, status);
    try {
        auto admin = pg::connect_owned(admin_url_of(options), "reading the catalog for the comment");
        std::string note;
        const auto prices = prices_of(options, note);
        comment::FillOptions fill;
        fill.dbt_plan = fill.dbt_results = fill.data_changes = with_build;
        // The branch's manifest as the build left it: keys (constraints, tests, meta) and sensitive columns.
        const auto manifest = options.branch_manifest.value_or(options.work_dir / id.name / "target" / "manifest.json");
        if (fs::exists(manifest)) fill.manifest = manifest;
        comment::fill_from_catalog(report, *admin, id, environments.config(), prices, fill);
        if (report.cost) report.cost->prices_note = note;
    } catch (const std::exception& e) {
        log.warning(std::string("the comment lacks the catalog's facts: ") + e.what());
        report.warnings.push_back("the catalog could not be read for this comment");
    }
    // This run's facts win over the catalog's.
    report.dbt_version = options.dbt_version;
    report.header.status = status;
    report.header.run_url = options.run_url;
    if (!target.sha.empty()) report.header.head_sha = target.sha;
    if (target.pr) report.header.pr_number = target.pr;
    if (!target.branch.empty()) report.header.branch = target.branch;
    return report;
}

// Renders, posts to every sink and the job summary, as the step "comment".
void write_data_diff(Outcome& outcome, Log& log, const comment::Report& report, const Options& options) {
    if (!report.data_diff || !options.data_diff_file) return;
    try {
        fs::create_directories(options.data_diff_file->parent_path());
        std::ofstream out(*options.data_diff_file, std::ios::binary | std::ios::trunc);
        out << diff::to_json_text(*report.data_diff);
        if (!out.flush()) throw Error(ErrorKind::internal, "cannot write " + options.data_diff_file->string());
        outcome.data_diff_file = options.data_diff_file->string();
    } catch (const std::exception& e) {
        log.warning(std::string("the data diff file was not written: ") + e.what());
    }
}

void post_comment(Outcome& outcome, Log& log, const comment::Report& report, const Target& target,
                  Services& services, const Options& options) {
    outcome.report = report;
    write_data_diff(outcome, log, report, options);
    const auto rendered = comment::render_comment(report);
    outcome.comment_markdown = rendered.markdown;
    std::vector<CommentSink*> sinks;
    if (services.comments) sinks.push_back(services.comments);
    for (auto* sink : services.extra_comment_sinks)
        if (sink) sinks.push_back(sink);
    if (services.job_summary) {
        try {
            services.job_summary(comment::render_job_summary(report).markdown);
        } catch (const std::exception& e) {
            log.warning(std::string("the job summary was not written: ") + e.what());
        }
    }
    if (sinks.empty()) {
        skip_step(outcome, log, "comment", "no pull request to comment on and no comment file");
        return;
    }
    run_step(outcome, log, "comment", [&] {
        std::string where;
        for (auto* sink : sinks) {
            auto url = sink->post(target, report.header.environment, rendered);
            if (outcome.comment_url.empty()) outcome.comment_url = url;
            where += (where.empty() ? "" : ", ") + url;
        }
        return "comment written: " + where;
    });
}

// ---- deployments ----------------------------------------------------------------------------------------------

// A deployment that never fails the chain: GitHub's view of the environment is a convenience.
class DeploymentRecord {
public:
    DeploymentRecord(Deployments* deployments, Log& log) : deployments_(deployments), log_(log) {}

    void create(const std::string& ref, const std::string& environment, const std::string& description) {
        if (!deployments_) return;
        try {
            id_ = deployments_->create(ref, deployment_environment(environment), description);
        } catch (const std::exception& e) {
            log_.warning(std::string("GitHub deployment not recorded: ") + e.what());
        }
    }
    void status(const std::string& state, const std::string& description) {
        if (!deployments_ || !id_) return;
        try {
            deployments_->status(*id_, state, description);
        } catch (const std::exception& e) {
            log_.warning("GitHub deployment status " + state + " not recorded: " + e.what());
            return;
        }
        if (state == "in_progress") return;
        try {
            deployments_->retire_earlier(*id_);
        } catch (const std::exception& e) {
            log_.warning("earlier GitHub deployments not marked inactive: " + std::string(e.what()));
        }
    }

private:
    Deployments* deployments_;
    Log& log_;
    std::optional<std::int64_t> id_;
};

// ---- shared pieces of the chains ------------------------------------------------------------------------------

// What an environment held besides its schemas: its built nodes (lib/dbt) and staged content nothing else uses.
std::string forget_environment(const Options& options, const std::string& environment) {
    auto conn = pg::connect_owned(admin_url_of(options), "forgetting what " + environment + " held");
    dbt::migrate_catalog(*conn);
    dbt::forget_built_nodes(*conn, environment);
    stage::migrate_catalog(*conn);
    const auto dropped = stage::gc(*conn);
    return dropped.empty() ? std::string() : "; staged content no longer used dropped: " + std::to_string(dropped.size());
}

std::string down_detail(const env::DownResult& down) {
    return down.existed ? "removed " + down.identity.base_schema + " and role " + down.identity.role
                        : "nothing to remove (" + down.identity.name + " does not exist)";
}

}  // namespace

const StepResult* Outcome::find(std::string_view name) const {
    for (const auto& s : steps)
        if (s.name == name) return &s;
    return nullptr;
}

std::string deployment_environment(const std::string& environment) { return "ece/" + environment; }

env::Identity identity_of(const env::Environments& environments, const Target& target) {
    if (!target.environment_name.empty()) {
        const auto& name = target.environment_name;
        // lib/env refuses "pr-<N>" as a branch; as an input it deserves its own words.
        if (name.size() > 3 && name.rfind("pr-", 0) == 0 && name.find_first_not_of("0123456789", 3) == std::string::npos)
            throw Error(ErrorKind::usage, "the environment-name input \"" + name + "\" is the name of pull request " +
                                              name.substr(3) + "'s environment; leave environment-name empty to use it");
        return environments.identify(name, std::nullopt);
    }
    return environments.identify(target.branch, target.pr);
}

std::string FileCommentSink::post(const Target&, const std::string&, const comment::Rendered& rendered) {
    if (file_.has_parent_path()) fs::create_directories(file_.parent_path());
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    out << rendered.markdown;
    if (!out) throw Error(ErrorKind::input, "cannot write the comment", ErrorLocation{.file = file_.string()});
    return file_.string();
}

std::string hints(env::Environments& environments, const Target& target) {
    const auto id = identity_of(environments, target);
    return env::hints(id, environments.connection_facts(id), environments.config());
}

// ---- preview --------------------------------------------------------------------------------------------------

bool asks_full_refresh(const actions::Event& event, const actions::Inputs& inputs) {
    if (inputs.get_bool_or("full-refresh", false)) return true;
    if (!event.pull_request) return false;
    const auto& labels = event.pull_request->labels;
    return std::find(labels.begin(), labels.end(), actions::full_refresh_label) != labels.end();
}

Outcome preview(env::Environments& environments, const Target& target, const Options& options, Services& services,
                Log& log) {
    Outcome outcome;
    outcome.step = actions::Step::preview;
    const auto id = identity_of(environments, target);
    outcome.environment = id.name;
    DeploymentRecord deployment(services.deployments, log);
    deployment.create(target.sha.empty() ? target.branch : target.sha, id.name, "ece preview of " + id.name);
    deployment.status("in_progress", "creating the environment and building the changed models");

    std::optional<env::UpResult> up;
    const bool env_ok = run_step(outcome, log, "env up", [&] {
        // A cluster per environment: what up creates (or reuses) and its monthly cost, for the comment.
        std::string cluster_plan;
        if (environments.config().environments.provider == "digitalocean") {
            for (const auto& c : environments.plan_up(id).changes) {
                cluster_plan += "; " + c.action + " cluster " + c.cluster + " (" + c.detail +
                                (c.monthly_after ? ", " + cost::format_money(*c.monthly_after) + "/month" : "") + ")";
            }
        }
        up = target.environment_name.empty()
                 ? environments.up({target.branch, target.pr, target.sha, options.ttl})
                 : environments.up({target.environment_name, std::nullopt, target.sha, options.ttl});
        const auto& c = up->credentials;
        outcome.schema = c.schema;
        outcome.host = c.host;
        outcome.port = c.port;
        outcome.user = c.user;
        outcome.database_url = c.url();
        return std::string(up->created ? "created " : "repaired ") + id.name + ": schema " + c.schema + ", role " +
               c.user + ", expires " + (up->record.expires_at ? env::format_time(*up->record.expires_at) : "never") +
               cluster_plan;
    });

    bool stage_ok = env_ok;
    const auto tables = stage_declarations(environments.config());
    if (!env_ok) {
        skip_step(outcome, log, "stage", "the environment is not up");
    } else if (tables.empty()) {
        skip_step(outcome, log, "stage", "ece.yml declares no stage.tables");
    } else {
        stage_ok = run_step(outcome, log, "stage", [&] {
            const stage::Environment where{id.name, up->record.base_schema + "_raw", up->record.role_name, false};
            // A cluster of its own (digitalocean) holds its raw data itself, staged as the environment's user.
            const bool own_server = !environments.provider().supports_defer();
            const auto staged = stage_tables_into(own_server ? up->credentials.url() : admin_url_of(options), where,
                                                  tables, log);
            return describe_staged(staged, where.raw_schema);
        });
    }

    std::optional<dbt::BuildReport> build;
    if (!env_ok || !stage_ok) {
        skip_step(outcome, log, "dbt build", env_ok ? "staging failed" : "the environment is not up");
    } else {
        run_step(outcome, log, "dbt build", [&] {
            build = build_environment(environments, id, target, options, log);
            outcome.selected_count = build->planned.size();
            std::string detail = build->status + ": " + plural(build->planned.size(), "node", "nodes") +
                                 " planned, " + std::to_string(build->built_count) + " relations built" +
                                 (options.dbt_version.empty() ? "" : " with " + options.dbt_version);
            if (!build->ok()) {
                throw Error(ErrorKind::external, detail + (build->message.empty() ? "" : "; " + build->message));
            }
            return detail;
        });
    }

    auto report = catalog_report(environments, id, target, options,
                                 outcome.ok() ? comment::Status::ready : comment::Status::failed, env_ok, log);
    add_steps(report, outcome);
    if (build) {  // this run's plan and results, also when the catalog holds an older build
        report.dbt_plan = comment::parse_dbt_plan(dbt::plan_to_json(build->plan), "the build's plan");
        report.dbt_results.reset();
        if (build->run_results) report.dbt_results = comment::dbt_results_from(*build->run_results);
    }
    if (env_ok) {
        try {
            outcome.hints = hints(environments, target);
        } catch (const std::exception& e) {
            log.warning(std::string("no hints: ") + e.what());
        }
    }
    post_comment(outcome, log, report, target, services, options);

    deployment.status(outcome.ok() ? "success" : "failure",
                      outcome.ok() ? id.name + " is ready" : "ece preview failed; see the pull request comment");
    return outcome;
}

// ---- preview of a fork's artifact ------------------------------------------------------------------------------

Outcome preview_fork_artifact(const fs::path& artifact_dir, env::Environments& environments, const Target& target,
                              const Options& options, Services& services, Log& log) {
    Outcome refused;
    refused.step = actions::Step::preview;
    Target verified;
    Options fork_options = options;
    const bool ok = run_step(refused, log, "fork artifact", [&] {
        const auto artifact = open_fork_artifact(artifact_dir, options.work_dir / "fork");
        verified = verify_fork_pull_request(artifact, target, services.pulls);
        fork_options.project_dir = artifact.project_dir;
        // Planned from the artifact's manifest, moved onto the database the environment and production share.
        const auto database = environments.connection_facts(identity_of(environments, verified)).dbname;
        fork_options.branch_manifest =
            retarget_manifest(artifact.manifest, database, options.work_dir / "fork" / "manifest.json");
        fork_options.branch_manifest_schema = std::string(fork_build_schema);
        return "pull request #" + std::to_string(artifact.number) + " at " + artifact.head_sha +
               " (checked with GitHub); dbt runs its project as the environment's own role";
    });
    if (!ok) return refused;
    auto outcome = preview(environments, verified, fork_options, services, log);
    outcome.steps.insert(outcome.steps.begin(), refused.steps.front());
    return outcome;
}

// ---- destroy --------------------------------------------------------------------------------------------------

Outcome destroy(env::Environments& environments, const Target& target, const Options& options, Services& services,
                Log& log) {
    Outcome outcome;
    outcome.step = actions::Step::destroy;
    const auto id = identity_of(environments, target);
    outcome.environment = id.name;
    run_step(outcome, log, "env down", [&] {
        const auto down = environments.down(id);
        return down_detail(down) + forget_environment(options, id.name);
    });

    auto report = catalog_report(environments, id, target, options,
                                 outcome.ok() ? comment::Status::destroyed : comment::Status::failed, false, log);
    add_steps(report, outcome);
    post_comment(outcome, log, report, target, services, options);

    DeploymentRecord deployment(services.deployments, log);
    deployment.create(target.sha.empty() ? target.branch : target.sha, id.name, "ece: " + id.name + " removed");
    deployment.status(outcome.ok() ? "inactive" : "failure",
                      outcome.ok() ? id.name + " was removed" : "removing " + id.name + " failed");
    return outcome;
}

// ---- publish --------------------------------------------------------------------------------------------------

namespace {

// Publishes target's environment into outcome: swap, production staging, env down, comment, deployment.
void publish_environment(env::Environments& environments, const Target& target, const Options& options,
                         Services& services, Log& log, Outcome& outcome) {
    const auto id = identity_of(environments, target);
    outcome.environment = id.name;
    std::optional<Published> published;
    const bool published_ok = run_step(outcome, log, "publish", [&]() -> std::string {
        if (!services.publisher) {
            throw Error(ErrorKind::usage, "publishing is not available in this build of ece (lib/publish missing)");
        }
        published = services.publisher->publish(environments, target, options, log);
        for (const auto& w : published->warnings) log.warning(w);
        if (!published->summary.empty()) return published->summary;
        if (published->already_published) {
            return "commit " + target.sha + " was published already (publish #" + std::to_string(published->id) +
                   "): nothing changed now";
        }
        std::string archives;
        for (const auto& a : published->archive_schemas) archives += (archives.empty() ? "" : ", ") + a;
        return "published " + plural(published->relations, "relation", "relations") + " in " +
               std::to_string(published->swap_duration.count()) + " ms (publish #" + std::to_string(published->id) +
               (archives.empty() ? "" : ", archive " + archives) + "); undo with " + published->rollback_command +
               (published->manifest_id ? "; the merged manifest is production state (ece.state_manifests #" +
                                             std::to_string(*published->manifest_id) + ")"
                                       : "");
    });

    if (published_ok && published->environment_became_production) {
        skip_step(outcome, log, "env down", "the environment's cluster is production now");
    } else if (published_ok) {
        // The environment's staged views moved into production with the relations reading them; staging the merged
        // declarations into production records that (and grants the production role the content they read) before
        // env down lets stage gc look for content nothing uses.
        const auto tables = stage_declarations(environments.config());
        if (!tables.empty()) {
            run_step(outcome, log, "stage production", [&] {
                const auto& config = environments.config();
                const stage::Environment production{"production", config.production.raw_schema, config.production.role,
                                                    true};
                return describe_staged(stage_tables_into(admin_url_of(options), production, tables, log),
                                       production.raw_schema);
            });
        }
        run_step(outcome, log, "env down", [&] {
            return down_detail(environments.down(id)) + forget_environment(options, id.name);
        });
    } else {
        skip_step(outcome, log, "env down", "kept: the publish did not happen");
    }

    auto report = catalog_report(environments, id, target, options,
                                 outcome.ok() ? comment::Status::published : comment::Status::failed, false, log);
    add_steps(report, outcome);
    if (published)
        for (const auto& w : published->warnings) report.warnings.push_back(w);
    post_comment(outcome, log, report, target, services, options);

    DeploymentRecord deployment(services.deployments, log);
    deployment.create(target.sha, id.name, "ece: publish of " + id.name);
    deployment.status(outcome.ok() ? "inactive" : "failure",
                      outcome.ok() ? id.name + " was published and removed" : "publishing " + id.name + " failed");
}

// Merged pull requests (other than except) whose environment is still in the catalog, i.e. not published yet, in
// merge order. GitHub keeps one waiting run per concurrency group and cancels the older waiting one, so the run that
// should have published them may never have run.
// A pull request GitHub cannot tell about (deleted, another repository's number) is left for gc, with a warning.
std::vector<PullRequests::Pull> waiting_publishes(env::Environments& environments, PullRequests& pulls,
                                                  std::optional<int> except, Log& log) {
    std::vector<PullRequests::Pull> waiting;
    std::set<int> asked;
    for (const auto& listed : environments.list()) {
        const auto& record = listed.record;
        if (!record.pr || record.status == env::Status::destroyed || *record.pr == except.value_or(-1)) continue;
        if (!asked.insert(*record.pr).second) continue;
        try {
            auto pull = pulls.get(*record.pr);
            if (pull.merged) waiting.push_back(std::move(pull));
        } catch (const Error& e) {
            log.warning("pull request #" + std::to_string(*record.pr) + " of " + record.name +
                        " could not be looked up, so it is not published now: " + e.what());
        }
    }
    std::stable_sort(waiting.begin(), waiting.end(), [](const auto& a, const auto& b) {
        return std::tie(a.merged_at, a.number) < std::tie(b.merged_at, b.number);
    });
    return waiting;
}

// Publishes every waiting merged pull request before this run's own, each with its own comment and deployment.
// Each is one step of this run's outcome; a failure fails the run but does not stop the others.
void publish_waiting(env::Environments& environments, std::optional<int> own, const Options& options,
                     Services& services, Log& log, Outcome& outcome) {
    if (!services.pulls) {
        skip_step(outcome, log, "earlier merges", "no GitHub token: merged pull requests cannot be looked up");
        return;
    }
    std::vector<PullRequests::Pull> waiting;
    const bool listed = run_step(outcome, log, "earlier merges", [&] {
        waiting = waiting_publishes(environments, *services.pulls, own, log);
        std::string numbers;
        for (const auto& pull : waiting) numbers += (numbers.empty() ? "#" : ", #") + std::to_string(pull.number);
        return waiting.empty() ? std::string("none waiting")
                               : numbers + " merged earlier and not published yet: published first, in merge order";
    });
    if (!listed) return;
    for (const auto& pull : waiting) {
        Target earlier;
        earlier.branch = pull.head_ref;
        earlier.pr = pull.number;
        earlier.sha = pull.merge_commit_sha.empty() ? pull.head_sha : pull.merge_commit_sha;
        Outcome own_outcome;
        own_outcome.step = actions::Step::publish;
        publish_environment(environments, earlier, options, services, log, own_outcome);
        run_step(outcome, log, "publish #" + std::to_string(pull.number), [&] {
            const std::string merged = "merged " + (pull.merged_at.empty() ? std::string("earlier") : pull.merged_at);
            for (const auto& step : own_outcome.steps)
                if (!step.ok) throw Error(ErrorKind::external, merged + ": " + step.name + " failed: " + step.detail);
            return merged + ": published, with its own comment and deployment";
        });
    }
}

}  // namespace

Outcome publish(env::Environments& environments, const Target& given, const Options& options, Services& services,
                Log& log) {
    Outcome outcome;
    outcome.step = actions::Step::publish;
    Target target = given;

    if (!run_step(outcome, log, "find pull request", [&] {
            if (target.pr) return "pull request #" + std::to_string(*target.pr) + " (from the event)";
            if (!services.pulls && !target.branch.empty()) return "branch " + target.branch + " (no pull request)";
            if (!services.pulls)
                throw Error(ErrorKind::usage, "no pull request is known for commit " + target.sha +
                                                  " and GitHub cannot be asked (no token): pass the pull-request input");
            for (const auto& pull : services.pulls->for_commit(target.sha)) {
                if (!pull.merged && pull.open) continue;
                target.pr = pull.number;
                if (target.branch.empty() || target.branch == "main") target.branch = pull.head_ref;
                return "pull request #" + std::to_string(pull.number) + " holds commit " + target.sha;
            }
            throw Error(ErrorKind::conflict, "no merged pull request holds commit " + target.sha +
                                                 ": nothing to publish (a direct push to the branch?)");
        })) {
        publish_waiting(environments, std::nullopt, options, services, log, outcome);
        return outcome;  // no pull request of its own: no environment, no comment to write
    }
    publish_waiting(environments, target.pr, options, services, log, outcome);
    publish_environment(environments, target, options, services, log, outcome);
    return outcome;
}



// ---- gc -------------------------------------------------------------------------------------------------------

Outcome gc(env::Environments& environments, const Options& options, Services& services, Log& log) {
    Outcome outcome;
    outcome.step = actions::Step::gc;
    env::GcOptions gc_options;
    if (services.pulls) {
        run_step(outcome, log, "open pull requests", [&] {
            const auto open = services.pulls->open_numbers();
            std::size_t asked = 0;
            for (const auto& listed : environments.list()) {
                if (listed.record.pr && listed.record.status != env::Status::destroyed) ++asked;
            }
            std::size_t still_open = 0;
            for (const auto& listed : environments.list()) {
                const auto& r = listed.record;
                if (r.pr && r.status != env::Status::destroyed && open.count(*r.pr)) ++still_open;
            }
            // A merged pull request whose environment is still here waits for the next publish (its own run was
            // cancelled while waiting): gc keeps it as if open, or its changes would be lost.
            auto keep = open;
            std::string waiting;
            for (const auto& listed : environments.list()) {
                const auto& r = listed.record;
                if (!r.pr || r.status == env::Status::destroyed || keep.count(*r.pr)) continue;
                if (services.pulls->get(*r.pr).merged) {
                    keep.insert(*r.pr);
                    waiting += (waiting.empty() ? "; kept for the next publish (merged): #" : ", #") + std::to_string(*r.pr);
                }
            }
            gc_options.open_pull_requests = keep;
            return std::to_string(still_open) + " of " + std::to_string(asked) +
                   " pull requests with an environment are open" + waiting;
        });
        if (!outcome.ok()) gc_options.open_pull_requests.reset();  // only expiry counts then
    } else {
        skip_step(outcome, log, "open pull requests", "no GitHub token: only expiry counts");
    }
    run_step(outcome, log, "env gc", [&] {
        std::string detail;
        std::size_t removed = 0;
        for (const auto& item : environments.gc(gc_options)) {
            if (!item.removed) continue;
            ++removed;
            forget_environment(options, item.record.name);
            log.info("removed " + item.record.name + ": " + item.reason);
            detail += (detail.empty() ? "" : "; ") + item.record.name + " (" + item.reason + ")";
        }
        forget_environment(options, "");  // staged content nothing points at any more
        return plural(removed, "environment", "environments") + " removed" + (detail.empty() ? "" : ": " + detail);
    });
    return outcome;
}

}  // namespace ece::lifecycle

namespace ece::lifecycle {

Outcome dispatch(const std::string& command, env::Environments& environments, const Target& target,
                 const Options& options, Services& services, Log& log) {
    if (command == "preview") return preview(environments, target, options, services, log);
    if (command == "destroy" || command == "cleanup") return destroy(environments, target, options, services, log);
    if (command == "publish") return publish(environments, target, options, services, log);
    if (command == "gc") return gc(environments, options, services, log);
    throw Error(ErrorKind::usage, "unknown command '" + command + "': use preview, destroy, publish or gc");
}

}  // namespace ece::lifecycle
