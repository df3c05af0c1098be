// Every request the GitHub client can send, checked against GitHub's official REST API description
// (../shared/fixtures/real/github/openapi): the method and path template exist, query parameters are declared,
// required body fields are present and no body field is unknown.
#include "github/client.hpp"

#include "fake_github.hpp"
#include "support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace ece::github {
namespace {

namespace json = boost::json;
using ece::test::FakeGitHub;
using ece::test::ServerRequest;

class OpenApi {
public:
    explicit OpenApi(const std::filesystem::path& file) {
        auto text = ece::test::read_file(file);
        root_ = json::parse(text);
    }

    // The path template ("/repos/{owner}/{repo}/pulls/{pull_number}") matching a concrete path, if any.
    std::optional<std::string> find_template(const std::string& path) const {
        for (const auto& entry : root_.at("paths").as_object()) {
            std::string path_template(entry.key());
            if (ece::test::match_path(path_template, path)) return path_template;
        }
        return std::nullopt;
    }

    const json::object* operation(const std::string& path_template, std::string method) const {
        std::transform(method.begin(), method.end(), method.begin(), [](unsigned char c) { return std::tolower(c); });
        const auto& item = root_.at("paths").at(path_template).as_object();
        auto* op = item.if_contains(method);
        return op ? &op->as_object() : nullptr;
    }

    std::set<std::string> query_parameters(const json::object& op) const {
        std::set<std::string> names;
        if (auto* params = op.if_contains("parameters")) {
            for (const auto& p : params->as_array()) {
                const auto& param = resolve(p).as_object();
                if (param.at("in").as_string() == "query") names.insert(std::string(param.at("name").as_string()));
            }
        }
        return names;
    }

    // The JSON schema of the request body, if the operation takes one.
    const json::object* body_schema(const json::object& op) const {
        auto* body = op.if_contains("requestBody");
        if (!body) return nullptr;
        const auto& content = resolve(*body).as_object().at("content").as_object();
        return &resolve(content.at("application/json").as_object().at("schema")).as_object();
    }

    const json::value& resolve(const json::value& v) const {
        if (!v.is_object()) return v;
        auto* ref = v.as_object().if_contains("$ref");
        if (!ref) return v;
        std::string pointer(ref->as_string());  // "#/components/parameters/owner"
        const json::value* at = &root_;
        std::size_t pos = 2;
        while (pos <= pointer.size()) {
            auto slash = pointer.find('/', pos);
            at = &at->as_object().at(pointer.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
            if (slash == std::string::npos) break;
            pos = slash + 1;
        }
        return resolve(*at);
    }

private:
    json::value root_;
};

// Problems of one request against the description; empty when it conforms.
std::vector<std::string> check(const OpenApi& api, const ServerRequest& request, std::string& matched) {
    std::vector<std::string> problems;
    auto path_template = api.find_template(request.path);
    if (!path_template) return {"no path template matches " + request.path};
    matched = request.method + " " + *path_template;
    const auto* op = api.operation(*path_template, request.method);
    if (!op) return {"method " + request.method + " not described for " + *path_template};
    auto declared = api.query_parameters(*op);
    for (const auto& name : request.query_names()) {
        if (!declared.count(name)) problems.push_back("undeclared query parameter " + name);
    }
    const auto* schema = api.body_schema(*op);
    if (!schema) {
        if (!request.body.empty()) problems.push_back("a body where the operation takes none");
        return problems;
    }
    boost::system::error_code ec;
    auto body = json::parse(request.body, ec);
    if (ec || !body.is_object()) return {"body is not a JSON object"};
    if (auto* required = schema->if_contains("required")) {
        for (const auto& name : required->as_array()) {
            if (!body.as_object().contains(name.as_string())) {
                problems.push_back("required body field missing: " + std::string(name.as_string()));
            }
        }
    }
    const auto& properties = schema->at("properties").as_object();
    for (const auto& [name, value] : body.as_object()) {
        auto* property = properties.if_contains(name);
        if (!property) {
            problems.push_back("unknown body field: " + std::string(name));
            continue;
        }
        const auto& type = api.resolve(*property).as_object();
        if (auto* t = type.if_contains("type")) {
            std::string want(t->as_string());
            bool ok = (want == "string" && value.is_string()) || (want == "boolean" && value.is_bool()) ||
                      (want == "array" && value.is_array()) || (want == "object" && value.is_object()) ||
                      (want == "integer" && (value.is_int64() || value.is_uint64()));
            if (!ok) problems.push_back("body field " + std::string(name) + " is not of type " + want);
        }
        if (auto* values = type.if_contains("enum"); values && value.is_string()) {
            const auto& allowed = values->as_array();
            if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
                problems.push_back("body field " + std::string(name) + " has a value outside its enum");
            }
        }
    }
    return problems;
}

TEST(GitHubSpec, EveryRequestTheClientSendsIsInTheOfficialDescription) {
    ece::test::TempDir dir;
    auto source = ece::test::fixture("real/github/openapi/api.github.com.2020-09-v0.0.5.json.xz");
    auto command = "xz -dc '" + source.string() + "' > '" + (dir / "api.json").string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    OpenApi api(dir / "api.json");

    // Drive every call of the client once.
    FakeGitHub fake;
    fake.add_comment(12, "octocat", "hello");
    fake.add_pull({.number = 12});
    fake.link_commit(std::string(40, 'c'), 12);
    auto run = fake.add_workflow_run({.head_branch = "main"});
    fake.add_artifact(run, "dbt-manifest", {{"manifest.json", "{}"}});
    Client client(fake.client_config());
    client.list_issue_comments(12);
    auto comment = client.create_issue_comment(12, "body");
    client.update_issue_comment(comment.id, "new body");
    client.delete_issue_comment(comment.id);
    client.get_pull_request(12);
    client.pulls_for_commit(std::string(40, 'c'));
    client.list_open_pull_requests();
    auto deployment = client.create_deployment({.ref = "main", .environment = "ece/pr-12", .description = "d",
                                                .payload = R"({"schema":"pr_12"})"});
    client.create_deployment_status(deployment.id, {.state = "success", .description = "ready",
                                                    .environment_url = "https://example.org",
                                                    .log_url = "https://example.org/run", .auto_inactive = true});
    auto artifact = client.newest_artifact("main", "dbt-manifest");
    ASSERT_TRUE(artifact);
    client.download_artifact(*artifact, dir / "a.zip");

    std::set<std::string> operations;
    for (const auto& request : fake.server().requests()) {
        if (request.path.starts_with("/_blobs/")) continue;  // the blob store, not the API
        std::string matched;
        auto problems = check(api, request, matched);
        EXPECT_THAT(problems, testing::IsEmpty()) << request.method << " " << request.target << "\n" << request.body;
        operations.insert(matched);
    }
    EXPECT_THAT(operations, testing::UnorderedElementsAre(
                                "GET /repos/{owner}/{repo}/issues/{issue_number}/comments",
                                "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
                                "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
                                "DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}",
                                "GET /repos/{owner}/{repo}/pulls/{pull_number}", "GET /repos/{owner}/{repo}/pulls",
                                "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls",
                                "POST /repos/{owner}/{repo}/deployments",
                                "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
                                "GET /repos/{owner}/{repo}/actions/runs",
                                "GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
                                "GET /repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}"));
}

TEST(GitHubSpec, TheCheckCatchesNonConformingRequests) {
    ece::test::TempDir dir;
    auto source = ece::test::fixture("real/github/openapi/api.github.com.2020-09-v0.0.5.json.xz");
    ASSERT_EQ(std::system(("xz -dc '" + source.string() + "' > '" + (dir / "api.json").string() + "'").c_str()), 0);
    OpenApi api(dir / "api.json");
    auto request = [](std::string method, std::string path, std::string body, std::string query = "") {
        ServerRequest r;
        r.method = std::move(method);
        r.path = std::move(path);
        r.body = std::move(body);
        r.query = std::move(query);
        return r;
    };
    std::string matched;
    EXPECT_THAT(check(api, request("POST", "/repos/o/r/issues/1/comments", R"({"text":"x"})"), matched),
                testing::ElementsAre("required body field missing: body", "unknown body field: text"));
    EXPECT_THAT(check(api, request("PUT", "/repos/o/r/issues/comments/1", R"({"body":"x"})"), matched),
                testing::ElementsAre(testing::HasSubstr("method PUT not described")));
    EXPECT_THAT(check(api, request("GET", "/repos/o/r/nonsense/1/x/y/z", ""), matched),
                testing::ElementsAre(testing::HasSubstr("no path template")));
    EXPECT_THAT(check(api, request("GET", "/repos/o/r/pulls/1", "", "per_page=1&bogus=2"), matched),
                testing::ElementsAre("undeclared query parameter per_page", "undeclared query parameter bogus"));
    EXPECT_THAT(check(api, request("POST", "/repos/o/r/deployments/1/statuses", R"({"state":"done"})"), matched),
                testing::ElementsAre("body field state has a value outside its enum"));
}

}  // namespace
}  // namespace ece::github
