// The fork-safe workflow's artifact is untrusted: every way it can be malformed or hostile is refused with an error
// naming the file or member, nothing is written outside the extraction folder, and the pull request it claims is
// checked against the run and against GitHub (FakeGitHub, a real HTTPS server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "fake_github.hpp"
#include "fork_artifact_support.hpp"
#include "lifecycle/fork_artifact.hpp"
#include "lifecycle/github.hpp"
#include "support.hpp"

#include <boost/json.hpp>

#include <chrono>

namespace fs = std::filesystem;
using namespace ece;
using lifecycle::ForkArtifact;
using test::TarMember;
using testing::HasSubstr;

namespace {

const std::string head(40, 'a');

class ForkArtifacts : public ::testing::Test {
protected:
    void SetUp() override {
        artifact_ = dir_ / "artifact";
        into_ = dir_ / "work" / "fork";
        test::write_text(artifact_ / "pull-request.json", test::pull_request_json(12, head));
        fs::copy_file(test::fixture("real/dbt/manifests/dbt-core-state-v12.manifest.json"), artifact_ / "manifest.json");
    }

    std::vector<TarMember> project() const {
        return {{TarMember::file, "dbt_project.yml", "name: p\nprofile: p\n"},
                {TarMember::dir, "models"},
                {TarMember::file, "models/a.sql", "select 1"}};
    }
    void archive(std::vector<TarMember> members) { test::write_tar_gz(artifact_ / "project.tar.gz", members); }
    void archive_with(const TarMember& extra) {
        auto members = project();
        members.push_back(extra);
        archive(members);
    }

    // Refused with an ece::Error whose text holds `expected`; returns the error's text.
    std::string refused(const std::string& expected) {
        try {
            lifecycle::open_fork_artifact(artifact_, into_);
        } catch (const Error& e) {
            EXPECT_THAT(e.what(), HasSubstr(expected));
            EXPECT_THAT(e.what(), HasSubstr("fork artifact refused"));
            EXPECT_FALSE(fs::exists(into_ / "project" / "dbt_project.yml")) << "a refused project stays extracted";
            return e.what();
        }
        ADD_FAILURE() << "accepted; expected: " << expected;
        return {};
    }

    test::TempDir dir_;
    fs::path artifact_, into_;
};

TEST_F(ForkArtifacts, AWellFormedArtifactIsExtractedBelowTheWorkFolder) {
    archive(project());
    const auto artifact = lifecycle::open_fork_artifact(artifact_, into_);
    EXPECT_EQ(artifact.number, 12);
    EXPECT_EQ(artifact.head_sha, head);
    EXPECT_EQ(artifact.project_dir, fs::absolute(into_ / "project"));
    EXPECT_EQ(test::read_file(artifact.project_dir / "models/a.sql"), "select 1");
    EXPECT_EQ(artifact.manifest, fs::absolute(artifact_ / "manifest.json"));
}

TEST_F(ForkArtifacts, AProjectFolderInsteadOfAnArchiveIsUsedInPlace) {
    test::write_text(artifact_ / "project/dbt_project.yml", "name: p\n");
    const auto artifact = lifecycle::open_fork_artifact(artifact_, into_);
    EXPECT_EQ(artifact.project_dir, fs::absolute(artifact_ / "project"));
}

TEST_F(ForkArtifacts, MembersClimbingOutOfTheProjectAreRefusedAndNothingLandsOutside) {
    archive_with({TarMember::file, "../escaped.txt", "owned"});
    EXPECT_THAT(refused("climbs out of the project"), HasSubstr("../escaped.txt"));
    archive_with({TarMember::file, "models/../../escaped.txt", "owned"});
    refused("climbs out of the project");
    EXPECT_FALSE(fs::exists(into_ / "escaped.txt"));
    EXPECT_FALSE(fs::exists(dir_ / "work" / "escaped.txt"));
}

TEST_F(ForkArtifacts, AbsoluteMembersAreRefused) {
    const auto target = dir_ / "absolute.txt";
    archive_with({TarMember::file, target.string(), "owned"});
    refused("is an absolute path");
    EXPECT_FALSE(fs::exists(target));
}

TEST_F(ForkArtifacts, LinksLeadingOutOfTheProjectAreRefused) {
    archive_with({TarMember::symlink, "models/passwd.sql", "/etc/passwd"});
    refused("leads outside the project");
    archive_with({TarMember::symlink, "models/up.sql", "../../../secrets"});
    refused("leads outside the project");
    archive_with({TarMember::hardlink, "models/hard.sql", "../../etc/passwd"});
    refused("climbs out of the project");
}

TEST_F(ForkArtifacts, AChainOfLinksThatLooksInsideButLeadsOutIsRefused) {
    // d/t -> ".." is the project itself; s -> "d/t/../x" reads as <project>/d/x but really is <project>/../x.
    auto members = project();
    members.push_back({TarMember::dir, "d"});
    members.push_back({TarMember::symlink, "d/t", ".."});
    members.push_back({TarMember::symlink, "s", "d/t/../x"});
    archive(members);
    refused("leads outside");
}

TEST_F(ForkArtifacts, DeviceFilesAndFifosAreRefused) {
    archive_with({TarMember::fifo, "models/pipe"});
    refused("neither a file, a folder nor a link");
}

TEST_F(ForkArtifacts, LinksInTheArtifactFolderLeadingOutAreRefused) {
    archive(project());
    fs::remove(artifact_ / "manifest.json");
    fs::create_symlink("/etc/passwd", artifact_ / "manifest.json");
    EXPECT_THAT(refused("leads outside it"), HasSubstr("manifest.json"));
}

TEST_F(ForkArtifacts, AMissingOrMalformedManifestIsRefusedBeforeAnythingIsExtracted) {
    archive(project());
    fs::remove(artifact_ / "manifest.json");
    refused("manifest.json is missing");
    test::write_text(artifact_ / "manifest.json", "{\"nodes\": ");
    try {
        lifecycle::open_fork_artifact(artifact_, into_);
        ADD_FAILURE() << "a truncated manifest was accepted";
    } catch (const Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("manifest.json"));
    }
    EXPECT_FALSE(fs::exists(into_ / "project"));
}

TEST_F(ForkArtifacts, AnArtifactWithoutAProjectOrWithoutDbtProjectYmlIsRefused) {
    refused("neither project.tar.gz nor a project/ folder");
    archive({{TarMember::file, "models/a.sql", "select 1"}});
    refused("no dbt_project.yml");
}

TEST_F(ForkArtifacts, AMissingPullRequestJsonIsRefused) {
    archive(project());
    fs::remove(artifact_ / "pull-request.json");
    EXPECT_THAT(refused("the file is missing"), HasSubstr("pull-request.json"));
}

TEST_F(ForkArtifacts, TheManifestIsMovedFromTheDummyParseDatabaseOntoTheRealOne) {
    const auto out = lifecycle::retarget_manifest(artifact_ / "manifest.json", "warehouse", dir_ / "retargeted.json");
    const auto before = boost::json::parse(test::read_file(artifact_ / "manifest.json")).as_object();
    const auto after = boost::json::parse(test::read_file(out)).as_object();
    std::size_t moved = 0;
    for (const auto& [id, source] : after.at("sources").as_object()) {
        const auto was = before.at("sources").as_object().at(id).as_object().at("database").as_string();
        const auto now = source.as_object().at("database").as_string();
        EXPECT_TRUE(now == "warehouse" || now == was) << id;
        moved += now == "warehouse" && was != "warehouse";
    }
    EXPECT_GT(moved, 0u);
    EXPECT_EQ(after.at("nodes").as_object().size(), before.at("nodes").as_object().size());
}

// pull-request.json: each malformation named by its field (or byte offset), always with the file.
struct Malformed {
    std::string text;
    std::string field;
};

class MalformedPullRequestJson : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedPullRequestJson, IsRefusedNamingTheFileAndTheField) {
    try {
        lifecycle::parse_pull_request_json(GetParam().text, "/a/pull-request.json");
        ADD_FAILURE() << "accepted " << GetParam().text;
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        EXPECT_THAT(e.what(), HasSubstr("/a/pull-request.json"));
        EXPECT_THAT(e.what(), HasSubstr(GetParam().field));
    }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedPullRequestJson,
    testing::Values(Malformed{"{\"number\": 1, ", "not valid JSON"}, Malformed{"[1]", "$ must be an object"},
                    Malformed{"{\"head_sha\": \"" + head + "\"}", "$.number is missing"},
                    Malformed{"{\"number\": \"12\", \"head_sha\": \"" + head + "\"}", "$.number"},
                    Malformed{"{\"number\": 0, \"head_sha\": \"" + head + "\"}", "$.number"},
                    Malformed{"{\"number\": 1.5, \"head_sha\": \"" + head + "\"}", "$.number"},
                    Malformed{"{\"number\": 99999999999, \"head_sha\": \"" + head + "\"}", "$.number"},
                    Malformed{"{\"number\": 3}", "$.head_sha is missing"},
                    Malformed{"{\"number\": 3, \"head_sha\": \"main\"}", "$.head_sha"},
                    Malformed{"{\"number\": 3, \"head_sha\": \"" + std::string(40, 'G') + "\"}", "$.head_sha"}),
    [](const testing::TestParamInfo<Malformed>& info) { return "case" + std::to_string(info.index); });

// ---- the claim checked against the run and GitHub ----------------------------------------------------------------

class ForkPullRequest : public ::testing::Test {
protected:
    void SetUp() override {
        github_.add_pull({.number = 12, .head_ref = "fork-branch", .head_sha = head});
        github_.add_pull({.number = 13, .state = "closed", .head_sha = head});
        pulls_ = test::pull_requests_of(github_);
    }

    static ForkArtifact claim(int number, const std::string& sha) { return {number, sha, "/p", "/m"}; }

    void expect_conflict(const ForkArtifact& artifact, const lifecycle::Target& target, const std::string& expected) {
        try {
            lifecycle::verify_fork_pull_request(artifact, target, pulls_.get());
            ADD_FAILURE() << "accepted; expected: " << expected;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), ErrorKind::conflict);
            EXPECT_THAT(e.what(), HasSubstr(expected));
        }
    }

    test::FakeGitHub github_;
    std::unique_ptr<lifecycle::GitHubPullRequests> pulls_;
};

TEST_F(ForkPullRequest, AClaimGitHubConfirmsBecomesTheTarget) {
    const auto target = lifecycle::verify_fork_pull_request(claim(12, head), {"", std::nullopt, head}, pulls_.get());
    EXPECT_EQ(target.pr, 12);
    EXPECT_EQ(target.branch, "fork-branch");
    EXPECT_EQ(target.sha, head);
}

TEST_F(ForkPullRequest, ANumberOtherThanThePullRequestInputIsRefused) {
    expect_conflict(claim(12, head), {"b", 11, head}, "this run is for #11");
}

TEST_F(ForkPullRequest, AHeadOtherThanTheRunsCommitIsRefused) {
    expect_conflict(claim(12, std::string(40, 'b')), {"b", std::nullopt, head}, "this run is for commit " + head);
}

TEST_F(ForkPullRequest, APullRequestWhoseHeadMovedOnGitHubIsRefused) {
    // The artifact and the run agree, but GitHub says pull request 12 is at another commit (a claim about another
    // pull request's number, or one pushed to since).
    const std::string other(40, 'c');
    expect_conflict(claim(12, other), {"b", std::nullopt, other}, "on GitHub the head of pull request #12 is " + head);
}

TEST_F(ForkPullRequest, AClosedPullRequestIsRefused) {
    expect_conflict(claim(13, head), {"b", std::nullopt, head}, "#13 is not open");
}

TEST_F(ForkPullRequest, WithoutGitHubNothingIsBuilt) {
    try {
        lifecycle::verify_fork_pull_request(claim(12, head), {"b", std::nullopt, head}, nullptr);
        ADD_FAILURE() << "accepted without GitHub";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::usage);
        EXPECT_THAT(e.what(), HasSubstr("github-token"));
    }
}

}  // namespace
