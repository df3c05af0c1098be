// action.yml and every workflow under workflows/ are valid workflow YAML that fits together: structure, inputs that
// exist, declared least permissions, and the concurrency rules (previews cancel stale previews, publishes are never
// cancelled). See workflows/README.md for why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>
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

TEST(Action, IsADockerActionBuiltFromTheDockerfile) {
    auto a = action();
    EXPECT_FALSE(text(a["name"]).empty());
    EXPECT_FALSE(text(a["description"]).empty());
    EXPECT_EQ(text(a["runs"]["using"]), "docker");
    EXPECT_EQ(text(a["runs"]["image"]), "Dockerfile");
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
    EXPECT_THAT(names, testing::IsSupersetOf({"preview.yml", "publish.yml", "gc.yml", "preview-fork-safe.yml"}));
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

TEST(Workflows, DeclareLeastPermissions) {
    const std::set<std::string> allowed = {"contents:read", "pull-requests:write", "deployments:write", "actions:read"};
    for (const auto& [file, w] : workflows()) {
        SCOPED_TRACE(file);
        ASSERT_TRUE(w["permissions"] && w["permissions"].IsMap()) << "declare permissions at the top";
        for (const auto& job : w["jobs"]) {
            auto permissions = job.second["permissions"] ? job.second["permissions"] : w["permissions"];
            ASSERT_TRUE(permissions.IsMap()) << job.first << ": no write-all / read-all";
            EXPECT_EQ(text(permissions["contents"]), "read") << job.first;
            bool downloads = false;
            for (const auto& step : job.second["steps"]) downloads |= text(step["uses"]).starts_with("actions/download-artifact");
            for (const auto& p : permissions) {
                auto grant = p.first.as<std::string>() + ":" + p.second.as<std::string>();
                EXPECT_TRUE(allowed.count(grant)) << job.first << " grants " << grant;
                if (grant == "actions:read") {
                    EXPECT_TRUE(downloads) << job.first << " reads actions without downloading";
                }
            }
            if (downloads) {
                EXPECT_EQ(text(permissions["actions"]), "read") << job.first << " downloads an artifact";
            }
        }
    }
}

TEST(Workflows, PreviewsCancelStaleRunsAndPublishesAreNeverCancelled) {
    int previews = 0;
    int publishes = 0;
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
    EXPECT_EQ(publishes, 3);
    EXPECT_EQ(previews, 2);
}

TEST(Workflows, ForkSafeVariantNeverRunsForkCodeWithSecrets) {
    auto w = YAML::LoadFile((source_dir() / "workflows" / "preview-fork-safe.yml").string());
    EXPECT_TRUE(triggered_by(w, "pull_request"));
    EXPECT_TRUE(triggered_by(w, "workflow_run"));
    EXPECT_EQ(text(w["on"]["workflow_run"]["workflows"][0]), text(w["name"])) << "workflow_run must name this workflow";
    int unprivileged_jobs = 0;
    for (const auto& job : w["jobs"]) {
        SCOPED_TRACE(job.first.as<std::string>());
        auto condition = text(job.second["if"]);
        bool unprivileged = condition.find("github.event_name == 'pull_request'") != std::string::npos;
        YAML::Emitter out;
        out << job.second;
        std::string body = out.c_str();
        if (unprivileged) {
            EXPECT_EQ(body.find("secrets."), std::string::npos) << "the unprivileged job must not see secrets";
            EXPECT_TRUE(ece_steps(job.second).empty());
            ++unprivileged_jobs;
            continue;
        }
        // Privileged jobs check out trusted code only: never the pull request's head.
        for (const auto& step : job.second["steps"]) {
            if (!text(step["uses"]).starts_with("actions/checkout")) continue;
            auto ref = step["with"] ? text(step["with"]["ref"]) : std::string();
            EXPECT_EQ(ref.find("head"), std::string::npos) << "checks out " << ref;
        }
    }
    EXPECT_EQ(unprivileged_jobs, 1);
}

// The artifact the unprivileged job uploads is what ece's fork-artifact input reads (lib/lifecycle/fork_artifact.hpp),
// downloaded where the privileged job points ece, which gets exactly the inputs it needs for it.
TEST(Workflows, ForkSafeVariantHandsEceTheArtifactItReads) {
    auto w = YAML::LoadFile((source_dir() / "workflows" / "preview-fork-safe.yml").string());
    YAML::Emitter out;
    out << w["jobs"]["build-manifest"];
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
