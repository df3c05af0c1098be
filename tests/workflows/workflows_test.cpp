// action.yml and every workflow under workflows/ are valid workflow YAML that fits together: structure, inputs that
// exist, the exact permissions the chains they run call on GitHub (lifecycle/permissions.hpp), one name per secret,
// checkouts without the token, and the concurrency rules (previews cancel stale previews, publishes are never
// cancelled and share one group). See workflows/README.md for why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "lifecycle/permissions.hpp"

#include <filesystem>
#include <fstream>
#include <regex>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

fs::path source_dir() { return fs::path(ECE_SOURCE_DIR); }

std::vector<fs::path> workflow_files() {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(source_dir() / "workflows")) {
        auto extension = entry.path().extension();
        if (extension == ".yml" || extension == ".yaml") files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

YAML::Node action() { return YAML::LoadFile((source_dir() / "action.yml").string()); }

std::set<std::string> action_inputs() {
    std::set<std::string> names;
    for (const auto& input : action()["inputs"]) names.insert(input.first.as<std::string>());
    return names;
}

// The ece action itself: "./" inside this repository, "<owner>/ece@<ref>" in a copied workflow.
bool is_ece_action(const std::string& uses) {
    if (uses == "./") return true;
    auto slash = uses.find('/');
    auto at = uses.find('@');
    return slash != std::string::npos && slash > 0 && uses.substr(slash, 5) == "/ece@" && at == slash + 4 &&
           at + 1 < uses.size();
}

std::string text(const YAML::Node& node) { return node && node.IsScalar() ? node.as<std::string>() : std::string(); }

// The job's concurrency, or the workflow's when the job has none.
YAML::Node concurrency_of(const YAML::Node& workflow, const YAML::Node& job) {
    return job["concurrency"] ? job["concurrency"] : workflow["concurrency"];
}

std::vector<YAML::Node> ece_steps(const YAML::Node& job) {
    std::vector<YAML::Node> steps;
    for (const auto& step : job["steps"]) {
        if (is_ece_action(text(step["uses"]))) steps.push_back(step);
    }
    return steps;
}

// Which command a job runs: the literal command input, or "auto".
std::string command_of(const YAML::Node& step) {
    auto with = step["with"];
    return with && with["command"] ? text(with["command"]) : "auto";
}

bool triggered_by(const YAML::Node& workflow, const std::string& event) {
    auto on = workflow["on"];
    if (on.IsScalar()) return text(on) == event;
    if (on.IsSequence()) {
        for (const auto& e : on) if (text(e) == event) return true;
        return false;
    }
    return static_cast<bool>(on[event]);
}

struct Workflow {
    std::string name;
    YAML::Node node;
};

std::vector<Workflow> workflows() {
    std::vector<Workflow> all;
    for (const auto& file : workflow_files()) all.push_back({file.filename().string(), YAML::LoadFile(file.string())});
    return all;
}

// The action runs the image the release workflow pushed for this version: nothing is compiled in a user's job.
TEST(Action, RunsTheReleasedImageOfThisVersion) {
    auto a = action();
    EXPECT_FALSE(text(a["name"]).empty());
    EXPECT_LE(text(a["description"]).size(), 125u) << "the Marketplace shows 125 characters";
    EXPECT_GE(text(a["description"]).size(), 40u);
    EXPECT_EQ(text(a["runs"]["using"]), "docker");
    EXPECT_EQ(text(a["runs"]["image"]), std::string("docker://ghcr.io/") + ECE_IMAGE_OWNER + "/ece:v" + ECE_PROJECT_VERSION);
    EXPECT_FALSE(a["runs"]["args"]) << "the container runs ece with no arguments; inputs come from INPUT_*";
    EXPECT_FALSE(text(a["branding"]["icon"]).empty());
    EXPECT_FALSE(text(a["branding"]["color"]).empty());
    EXPECT_TRUE(fs::exists(source_dir() / "Dockerfile"));
}

TEST(Action, EveryInputAndOutputIsDocumented) {
    auto a = action();
    ASSERT_TRUE(a["inputs"].IsMap());
    ASSERT_TRUE(a["outputs"].IsMap());
    for (const auto& input : a["inputs"]) {
        SCOPED_TRACE("input " + input.first.as<std::string>());
        EXPECT_GT(text(input.second["description"]).size(), 20u);
        EXPECT_TRUE(input.second["required"]) << "say whether it is required";
    }
    for (const auto& output : a["outputs"]) {
        SCOPED_TRACE("output " + output.first.as<std::string>());
        EXPECT_GT(text(output.second["description"]).size(), 10u);
    }
}

TEST(Action, HasTheInputsAndOutputsEceReads) {
    auto inputs = action_inputs();
    for (const char* name : {"command", "github-token", "database-url", "project-dir", "config", "prices",
                             "comment-behavior", "ttl", "dbt-version", "dbt-target", "select", "environment-name",
                             "pull-request", "fork-artifact"}) {
        EXPECT_TRUE(inputs.count(name)) << name;
    }
    auto outputs = action()["outputs"];
    for (const char* name : {"env-name", "schema", "host", "port", "user", "database-url", "selected-count", "comment-url"}) {
        EXPECT_TRUE(outputs[name]) << name;
    }
    auto command = text(action()["inputs"]["command"]["description"]);
    for (const char* value : {"auto", "preview", "destroy", "publish", "gc", "hints", "demo"}) {
        EXPECT_THAT(command, testing::HasSubstr(value));
    }
    EXPECT_EQ(text(action()["inputs"]["command"]["default"]), "auto");
    auto behavior = text(action()["inputs"]["comment-behavior"]["description"]);
    for (const char* value : {"update", "new", "delete-and-new"}) EXPECT_THAT(behavior, testing::HasSubstr(value));
    EXPECT_THAT(text(outputs["database-url"]["description"]), testing::HasSubstr("Masked"));
}

TEST(Workflows, TheExpectedFilesExist) {
    std::set<std::string> names;
    for (const auto& w : workflows()) names.insert(w.name);
    EXPECT_THAT(names, testing::IsSupersetOf({"preview.yml", "publish.yml", "gc.yml", "preview-fork-build.yml",
                                              "preview-fork-safe.yml"}));
    EXPECT_TRUE(fs::exists(source_dir() / "workflows" / "README.md"));
}

TEST(Workflows, HaveTheStructureOfAWorkflow) {
    for (const auto& [file, w] : workflows()) {
        SCOPED_TRACE(file);
        EXPECT_FALSE(text(w["name"]).empty());
        ASSERT_TRUE(w["on"]) << "no trigger";
        ASSERT_TRUE(w["jobs"] && w["jobs"].IsMap() && w["jobs"].size() > 0);
        for (const auto& job : w["jobs"]) {
            SCOPED_TRACE("job " + job.first.as<std::string>());
            EXPECT_FALSE(text(job.second["runs-on"]).empty());
            ASSERT_TRUE(job.second["steps"].IsSequence());
            for (const auto& step : job.second["steps"]) {
                EXPECT_NE(static_cast<bool>(step["uses"]), static_cast<bool>(step["run"])) << "a step has uses or run";
            }
        }
    }
}

TEST(Workflows, EveryInputPassedToTheActionExists) {
    auto inputs = action_inputs();
    int uses = 0;
    for (const auto& [file, w] : workflows()) {
        for (const auto& job : w["jobs"]) {
            for (const auto& step : ece_steps(job.second)) {
                ++uses;
                for (const auto& with : step["with"]) {
                    auto key = with.first.as<std::string>();
                    EXPECT_TRUE(inputs.count(key)) << file << " job " << job.first << " passes '" << key << "', not in action.yml";
                }
                auto command = command_of(step);
                if (command.find("${{") == std::string::npos) {
                    EXPECT_THAT(command, testing::AnyOf("auto", "preview", "destroy", "publish", "gc", "hints", "demo"));
                }
            }
        }
    }
    EXPECT_GE(uses, 8);
}

// The chains a job's ece step can run: its command, every option of the workflow_dispatch command input it reads
// (and the expression's literal fallback), or for auto what the workflow's triggers map to.
std::set<std::string> chains_of(const YAML::Node& workflow, const YAML::Node& step) {
    const auto command = command_of(step);
    if (command == "auto") {
        std::set<std::string> chains;
        if (triggered_by(workflow, "pull_request") || triggered_by(workflow, "pull_request_target"))
            chains.insert({"preview", "destroy", "publish"});
        if (triggered_by(workflow, "merge_group") || triggered_by(workflow, "workflow_run")) chains.insert("preview");
        if (triggered_by(workflow, "push")) chains.insert("publish");
        if (triggered_by(workflow, "schedule")) chains.insert("gc");
        return chains;
    }
    if (command.find("${{") == std::string::npos) return {command};
    std::set<std::string> chains;
    if (command.find("inputs.command") != std::string::npos)
        for (const auto& option : workflow["on"]["workflow_dispatch"]["inputs"]["command"]["options"])
            chains.insert(text(option));
    static const std::regex literal("'([a-z]+)'");
    for (std::sregex_iterator it(command.begin(), command.end(), literal), end; it != end; ++it)
        chains.insert((*it)[1].str());
    return chains;
}

// The job-level if: a job that runs only for one dispatch command runs only that chain.
std::set<std::string> narrowed_by_condition(const YAML::Node& job, std::set<std::string> chains) {
    static const std::regex only("^inputs\\.command == '([a-z]+)'$");
    std::smatch match;
    const auto condition = text(job["if"]);
    if (std::regex_match(condition, match, only)) return {match[1].str()};
    static const std::regex except("^inputs\\.command != '([a-z]+)'$");
    if (std::regex_match(condition, match, except)) chains.erase(match[1].str());
    return chains;
}

ece::github::Permissions granted(const YAML::Node& workflow, const YAML::Node& job) {
    auto permissions = job["permissions"] ? job["permissions"] : workflow["permissions"];
    ece::github::Permissions out;
    if (!permissions || !permissions.IsMap()) return out;
    for (const auto& p : permissions) out[p.first.as<std::string>()] = p.second.as<std::string>();
    return out;
}

// What a job needs: checking out (contents: read), downloading another run's artifact (actions: read), and what
// every chain its ece step can run calls on GitHub.
ece::github::Permissions needed(const YAML::Node& workflow, const YAML::Node& job) {
    ece::github::Permissions need;
    for (const auto& step : job["steps"]) {
        const auto uses = text(step["uses"]);
        if (uses.starts_with("actions/checkout")) ece::github::grant(need, "contents", "read");
        if (uses.starts_with("actions/download-artifact") && step["with"] && step["with"]["run-id"])
            ece::github::grant(need, "actions", "read");
        if (!is_ece_action(uses)) continue;
        for (const auto& chain : narrowed_by_condition(job, chains_of(workflow, step)))
            ece::github::grant(need, ece::lifecycle::github_permissions(chain));
    }
    return need;
}

TEST(Workflows, GrantExactlyWhatTheirJobsCall) {
    for (const auto& [file, w] : workflows()) {
        SCOPED_TRACE(file);
        ASSERT_TRUE(w["permissions"] && w["permissions"].IsMap()) << "declare permissions at the top ({} is fine)";
        EXPECT_TRUE(w["permissions"].size() == 0 || w["jobs"].size() == 1)
            << "with several jobs, grant nothing at the top and each job its own";
        for (const auto& job : w["jobs"]) {
            SCOPED_TRACE("job " + job.first.as<std::string>());
            const auto raw = job.second["permissions"] ? job.second["permissions"] : w["permissions"];
            ASSERT_TRUE(raw.IsMap()) << "no write-all / read-all";
            EXPECT_EQ(ece::github::describe(granted(w, job.second)), ece::github::describe(needed(w, job.second)));
        }
    }
}

// The first preview (no production state in the catalog yet) reads the default branch's artifact: a preview job
// without actions: read fails with 403 on a private repository.
TEST(Workflows, EveryPreviewMayReadTheProductionStateArtifact) {
    EXPECT_EQ(ece::lifecycle::github_permissions("preview").at("actions"), "read");
    int previews = 0;
    for (const auto& [file, w] : workflows())
        for (const auto& job : w["jobs"])
            for (const auto& step : ece_steps(job.second))
                if (chains_of(w, step).count("preview")) {
                    ++previews;
                    EXPECT_EQ(text(job.second["permissions"]["actions"]), "read") << file << " " << job.first;
                }
    EXPECT_GE(previews, 2);
}

// One name per secret: ECE_DATABASE_URL for the admin URL, DIGITALOCEAN_TOKEN for the provider's token, which a
// container action sees only when the step passes it.
TEST(Workflows, PassEverySecretUnderItsOneName) {
    for (const auto& [file, w] : workflows()) {
        SCOPED_TRACE(file);
        std::ifstream in(source_dir() / "workflows" / file);
        std::stringstream body;
        body << in.rdbuf();
        std::set<std::string> secrets;
        static const std::regex secret("secrets\\.([A-Za-z_0-9]+)");
        const auto all = body.str();
        for (std::sregex_iterator it(all.begin(), all.end(), secret), end; it != end; ++it) secrets.insert((*it)[1].str());
        for (const auto& name : secrets) EXPECT_THAT(name, testing::AnyOf("ECE_DATABASE_URL", "DIGITALOCEAN_TOKEN"));
        for (const auto& job : w["jobs"]) {
            for (const auto& step : ece_steps(job.second)) {
                SCOPED_TRACE("job " + job.first.as<std::string>());
                EXPECT_EQ(text(step["env"]["DIGITALOCEAN_TOKEN"]), "${{ secrets.DIGITALOCEAN_TOKEN }}");
                const auto url = text(step["with"]["database-url"]);
                const auto chains = chains_of(w, step);
                if (chains == std::set<std::string>{"preview"}) {
                    EXPECT_THAT(url, testing::StartsWith("${{ secrets.ECE_DATABASE_URL"));
                } else {
                    EXPECT_EQ(url, "${{ secrets.ECE_DATABASE_URL }}") << "publish, gc and destroy act on production";
                }
            }
        }
    }
}

TEST(Workflows, CheckoutsKeepNoToken) {
    int checkouts = 0;
    for (const auto& [file, w] : workflows())
        for (const auto& job : w["jobs"])
            for (const auto& step : job.second["steps"]) {
                if (!text(step["uses"]).starts_with("actions/checkout")) continue;
                ++checkouts;
                EXPECT_EQ(text(step["with"]["persist-credentials"]), "false") << file << " " << job.first;
            }
    EXPECT_GE(checkouts, 9);
}

TEST(Workflows, PreviewsCancelStaleRunsAndPublishesAreNeverCancelled) {
    int previews = 0;
    int publishes = 0;
    std::map<std::string, int> publish_groups;
    for (const auto& [file, w] : workflows()) {
        for (const auto& job : w["jobs"]) {
            auto steps = ece_steps(job.second);
            if (steps.empty()) continue;
            SCOPED_TRACE(file + " job " + job.first.as<std::string>());
            auto concurrency = concurrency_of(w, job.second);
            ASSERT_TRUE(concurrency && concurrency["group"]) << "every job running ece needs a concurrency group";
            auto group = text(concurrency["group"]);
            auto cancel = text(concurrency["cancel-in-progress"]);
            auto command = command_of(steps.front());
            if (command == "publish" || command == "auto" || triggered_by(w, "push")) {
                ++publish_groups[group];
                ++publishes;
                EXPECT_EQ(cancel, "false") << "a running publish must never be cancelled";
                EXPECT_THAT(group, testing::StartsWith("ece-publish-"));
            } else if (command == "preview") {
                ++previews;
                EXPECT_EQ(cancel, "true") << "a new push cancels the stale preview";
                EXPECT_THAT(group, testing::AnyOf(testing::HasSubstr("pull_request.number"), testing::HasSubstr("head_branch")))
                    << "one group per pull request";
            } else if (command.find("gc") != std::string::npos) {
                EXPECT_EQ(cancel, "false");
            }
        }
    }
    EXPECT_EQ(publishes, 4);
    EXPECT_EQ(previews, 2);
    EXPECT_EQ(publish_groups.size(), 1u) << "every job that can publish shares the one group";
}

YAML::Node workflow_file(const std::string& name) { return YAML::LoadFile((source_dir() / "workflows" / name).string()); }

// GitHub's guidance for untrusted pull requests: the unprivileged pull_request build and the privileged
// workflow_run in two files; the privileged one runs on the other's completion, never its own.
TEST(Workflows, ForkSafeVariantIsSplitIntoAnUnprivilegedBuildAndAPrivilegedRun) {
    auto build = workflow_file("preview-fork-build.yml");
    auto safe = workflow_file("preview-fork-safe.yml");
    EXPECT_TRUE(triggered_by(build, "pull_request"));
    EXPECT_FALSE(triggered_by(build, "workflow_run"));
    EXPECT_FALSE(triggered_by(build, "pull_request_target"));
    EXPECT_FALSE(triggered_by(safe, "pull_request")) << "the privileged half never runs on the fork's event";
    ASSERT_TRUE(triggered_by(safe, "workflow_run"));
    ASSERT_EQ(safe["on"]["workflow_run"]["workflows"].size(), 1u);
    EXPECT_EQ(text(safe["on"]["workflow_run"]["workflows"][0]), text(build["name"]));
    EXPECT_NE(text(safe["on"]["workflow_run"]["workflows"][0]), text(safe["name"])) << "it would trigger itself";

    std::ifstream in(source_dir() / "workflows" / "preview-fork-build.yml");
    std::stringstream body;
    body << in.rdbuf();
    EXPECT_EQ(body.str().find("secrets."), std::string::npos) << "the unprivileged build must not see secrets";
    for (const auto& job : build["jobs"]) EXPECT_TRUE(ece_steps(job.second).empty());

    for (const auto& job : safe["jobs"]) {
        SCOPED_TRACE(job.first.as<std::string>());
        // Privileged jobs check out trusted code only: never the pull request's head.
        for (const auto& step : job.second["steps"]) {
            if (!text(step["uses"]).starts_with("actions/checkout")) continue;
            auto ref = step["with"] ? text(step["with"]["ref"]) : std::string();
            EXPECT_EQ(ref.find("head"), std::string::npos) << "checks out " << ref;
        }
    }
}

// The artifact the unprivileged job uploads is what ece's fork-artifact input reads (lib/lifecycle/fork_artifact.hpp),
// downloaded where the privileged job points ece, which gets exactly the inputs it needs for it.
TEST(Workflows, ForkSafeVariantHandsEceTheArtifactItReads) {
    auto w = workflow_file("preview-fork-safe.yml");
    YAML::Emitter out;
    out << workflow_file("preview-fork-build.yml")["jobs"]["build-manifest"];
    const std::string build = out.c_str();
    for (const char* made : {"project.tar.gz", "manifest.json", "pull-request.json", "number", "head_sha",
                             "ECE_RAW_SCHEMA"})
        EXPECT_THAT(build, testing::HasSubstr(made));

    auto preview = w["jobs"]["preview"];
    std::string downloaded_to;
    for (const auto& step : preview["steps"])
        if (text(step["uses"]).starts_with("actions/download-artifact")) downloaded_to = text(step["with"]["path"]);
    ASSERT_FALSE(downloaded_to.empty());
    EXPECT_EQ(text(preview["permissions"]["actions"]), "read");
    const auto steps = ece_steps(preview);
    ASSERT_EQ(steps.size(), 1u);
    std::set<std::string> passed;
    for (const auto& input : steps[0]["with"]) passed.insert(input.first.as<std::string>());
    EXPECT_EQ(passed, (std::set<std::string>{"command", "fork-artifact", "github-token", "database-url"}));
    EXPECT_EQ(text(steps[0]["with"]["command"]), "preview");
    EXPECT_EQ(text(steps[0]["with"]["fork-artifact"]), downloaded_to);
}

}  // namespace
