#include "github/client.hpp"

#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdlib>

namespace ece::github {

namespace json = boost::json;

namespace {

// Reads a GitHub JSON answer; a missing or mistyped field is an error naming the URL and the JSON path.
class JsonReader {
public:
    JsonReader(std::string url) : url_(std::move(url)) {}

    json::value parse(const http::Response& response) const {
        boost::system::error_code ec;
        auto value = json::parse(response.body, ec);
        if (ec) fail("$", "response is not JSON: " + ec.message());
        return value;
    }

    const json::object& object(const json::value& value, const std::string& path) const {
        if (!value.is_object()) fail(path, "expected an object");
        return value.as_object();
    }

    const json::array& array(const json::value& value, const std::string& path) const {
        if (!value.is_array()) fail(path, "expected an array");
        return value.as_array();
    }

    const json::value& field(const json::object& o, const char* key, const std::string& path) const {
        auto* v = o.if_contains(key);
        if (!v) fail(path + "." + key, "missing");
        return *v;
    }

    std::string text(const json::object& o, const char* key, const std::string& path) const {
        const auto& v = field(o, key, path);
        if (v.is_null()) return {};
        if (!v.is_string()) fail(path + "." + key, "expected a string");
        return std::string(v.as_string());
    }

    std::string optional_text(const json::object& o, const char* key) const {
        auto* v = o.if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
    }

    std::int64_t integer(const json::object& o, const char* key, const std::string& path) const {
        const auto& v = field(o, key, path);
        if (v.is_int64()) return v.as_int64();
        if (v.is_uint64()) return static_cast<std::int64_t>(v.as_uint64());
        fail(path + "." + key, "expected an integer");
    }

    bool boolean(const json::object& o, const char* key, const std::string& path) const {
        const auto& v = field(o, key, path);
        if (!v.is_bool()) fail(path + "." + key, "expected true or false");
        return v.as_bool();
    }

    [[noreturn]] void fail(const std::string& path, const std::string& why) const {
        throw Error(ErrorKind::network, "unexpected answer from GitHub: " + why, {.file = url_, .field = path});
    }

private:
    std::string url_;
};

User read_user(const JsonReader& r, const json::value& v, const std::string& path) {
    if (v.is_null()) return {"ghost", 0, "User"};  // GitHub's placeholder for deleted accounts
    const auto& o = r.object(v, path);
    return {r.text(o, "login", path), r.integer(o, "id", path), r.optional_text(o, "type")};
}

Comment read_comment(const JsonReader& r, const json::value& v, const std::string& path) {
    const auto& o = r.object(v, path);
    return {r.integer(o, "id", path),         r.text(o, "body", path),
            read_user(r, r.field(o, "user", path), path + ".user"),
            r.optional_text(o, "html_url"),   r.optional_text(o, "created_at"),
            r.optional_text(o, "updated_at")};
}

PullRequest read_pull(const JsonReader& r, const json::value& v, const std::string& path) {
    const auto& o = r.object(v, path);
    const auto& head = r.object(r.field(o, "head", path), path + ".head");
    const auto& base = r.object(r.field(o, "base", path), path + ".base");
    PullRequest pull;
    pull.number = static_cast<int>(r.integer(o, "number", path));
    pull.state = r.text(o, "state", path);
    // "merged" is only in the single-pull answer; lists carry merged_at instead.
    if (auto* merged = o.if_contains("merged"); merged && merged->is_bool()) pull.merged = merged->as_bool();
    else if (auto* at = o.if_contains("merged_at"); at && at->is_string()) pull.merged = true;
    pull.title = r.optional_text(o, "title");
    pull.html_url = r.optional_text(o, "html_url");
    pull.head_ref = r.text(head, "ref", path + ".head");
    pull.head_sha = r.text(head, "sha", path + ".head");
    pull.base_ref = r.text(base, "ref", path + ".base");
    pull.merge_commit_sha = r.optional_text(o, "merge_commit_sha");
    pull.merged_at = r.optional_text(o, "merged_at");
    return pull;
}

Artifact read_artifact(const JsonReader& r, const json::value& v, const std::string& path) {
    const auto& o = r.object(v, path);
    Artifact a;
    a.id = r.integer(o, "id", path);
    a.name = r.text(o, "name", path);
    a.size_in_bytes = r.integer(o, "size_in_bytes", path);
    a.expired = r.boolean(o, "expired", path);
    a.archive_download_url = r.text(o, "archive_download_url", path);
    a.created_at = r.optional_text(o, "created_at");
    if (auto* run = o.if_contains("workflow_run"); run && run->is_object()) {
        if (auto* id = run->as_object().if_contains("id"); id && id->is_int64()) a.run_id = id->as_int64();
    }
    return a;
}

std::string user_agent() {
    auto line = version_line("ece");  // "ece 0.1.0"
    std::replace(line.begin(), line.end(), ' ', '/');
    return line;
}

}  // namespace

Repository Repository::parse(std::string_view full_name) {
    auto slash = full_name.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == full_name.size() ||
        full_name.find('/', slash + 1) != std::string_view::npos) {
        throw Error(ErrorKind::usage, "repository must be owner/name, got \"" + std::string(full_name) + "\"");
    }
    return {std::string(full_name.substr(0, slash)), std::string(full_name.substr(slash + 1))};
}

std::string api_url_from_environment() {
    const char* env = std::getenv("GITHUB_API_URL");
    std::string url = env && *env ? env : std::string(default_api_url);
    while (url.ends_with('/')) url.pop_back();
    return url;
}

Client::Client(ClientConfig config) : config_(std::move(config)), http_(config_.http) {
    if (config_.api_url.empty()) config_.api_url = api_url_from_environment();
    while (config_.api_url.ends_with('/')) config_.api_url.pop_back();
    http::Url::parse(config_.api_url);  // fail early on a malformed GITHUB_API_URL
    if (config_.token.empty()) {
        throw Error(ErrorKind::usage, "a GitHub token is required (GITHUB_TOKEN or the github-token input)");
    }
    register_secret(config_.token);
    if (config_.repository.owner.empty() || config_.repository.name.empty()) {
        throw Error(ErrorKind::usage, "the GitHub repository (owner/name) is not known");
    }
}

std::string Client::repo_path() const {
    return "/repos/" + http::percent_encode(config_.repository.owner) + "/" +
           http::percent_encode(config_.repository.name);
}

http::Request Client::request(std::string method, const std::string& path, std::string body) const {
    http::Request r;
    r.method = std::move(method);
    r.url = config_.api_url + path;
    r.headers.set("Authorization", "Bearer " + config_.token);
    r.headers.set("Accept", "application/vnd.github+json");
    r.headers.set("X-GitHub-Api-Version", api_version);
    r.headers.set("User-Agent", user_agent());
    if (!body.empty()) r.headers.set("Content-Type", "application/json; charset=utf-8");
    r.body = std::move(body);
    return r;
}

Deployment read_deployment(const JsonReader& r, const json::value& v, const std::string& path) {
    const auto& o = r.object(v, path);
    return Deployment{r.integer(o, "id", path),          r.text(o, "ref", path),
                      r.text(o, "sha", path),            r.text(o, "environment", path),
                      r.optional_text(o, "task"),        r.optional_text(o, "description"),
                      r.optional_text(o, "url")};
}

DeploymentStatus read_deployment_status(const JsonReader& r, const json::value& v, const std::string& path) {
    const auto& o = r.object(v, path);
    return DeploymentStatus{r.integer(o, "id", path), r.text(o, "state", path), r.optional_text(o, "description"),
                            r.optional_text(o, "environment_url"), r.optional_text(o, "log_url")};
}

// Every item of every page of a list GitHub answers as a JSON array, each read by read_item.
template <class ReadItem>
auto read_pages(http::Client& http, const http::Request& first, ReadItem read_item) {
    std::vector<decltype(read_item(std::declval<const JsonReader&>(), json::value(), std::string()))> items;
    for (const auto& page : http.get_all_pages(first)) {
        JsonReader r(http::redact_url(page.url));
        auto value = r.parse(page);
        const auto& array = r.array(value, "$");
        for (std::size_t i = 0; i < array.size(); ++i) items.push_back(read_item(r, array[i], "$[" + std::to_string(i) + "]"));
    }
    return items;
}

template <class F>
auto doing(const std::string& what, F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const Error& e) {
        throw e.with_context(what);
    }
}

std::vector<Comment> Client::list_issue_comments(int issue_number) {
    return doing("listing the comments of #" + std::to_string(issue_number), [&] {
        return read_pages(http_, request("GET", repo_path() + "/issues/" + std::to_string(issue_number) +
                                                    "/comments?per_page=100"),
                          read_comment);
    });
}

Comment Client::create_issue_comment(int issue_number, std::string_view body) {
    return doing("commenting on #" + std::to_string(issue_number), [&] {
        auto req = request("POST", repo_path() + "/issues/" + std::to_string(issue_number) + "/comments",
                           json::serialize(json::object{{"body", body}}));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        return read_comment(r, r.parse(response), "$");
    });
}

Comment Client::update_issue_comment(std::int64_t comment_id, std::string_view body) {
    return doing("updating comment " + std::to_string(comment_id), [&] {
        auto req = request("PATCH", repo_path() + "/issues/comments/" + std::to_string(comment_id),
                           json::serialize(json::object{{"body", body}}));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        return read_comment(r, r.parse(response), "$");
    });
}

void Client::delete_issue_comment(std::int64_t comment_id) {
    doing("deleting comment " + std::to_string(comment_id), [&] {
        http_.send(request("DELETE", repo_path() + "/issues/comments/" + std::to_string(comment_id)));
    });
}

PullRequest Client::get_pull_request(int number) {
    return doing("reading pull request #" + std::to_string(number), [&] {
        auto req = request("GET", repo_path() + "/pulls/" + std::to_string(number));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        return read_pull(r, r.parse(response), "$");
    });
}

std::vector<PullRequest> Client::pull_list(const std::string& path_and_query) {
    return read_pages(http_, request("GET", path_and_query), read_pull);
}

std::vector<PullRequest> Client::pulls_for_commit(std::string_view sha) {
    return doing("finding the pull requests of commit " + std::string(sha), [&] {
        return pull_list(repo_path() + "/commits/" + http::percent_encode(sha) + "/pulls?per_page=100");
    });
}

std::vector<PullRequest> Client::list_open_pull_requests() {
    return doing("listing the open pull requests", [&] { return pull_list(repo_path() + "/pulls?state=open&per_page=100"); });
}

Deployment Client::create_deployment(const DeploymentRequest& d) {
    return doing("creating a deployment of " + d.ref + " to " + d.environment, [&] {
        json::object body{{"ref", d.ref},
                          {"environment", d.environment},
                          {"task", d.task},
                          {"description", d.description},
                          // Never merge the default branch into the pull request, and skip commit-status checks:
                          // the environment reflects exactly the commit that was built.
                          {"auto_merge", false},
                          {"required_contexts", json::array{}},
                          {"transient_environment", d.transient_environment},
                          {"production_environment", d.production_environment}};
        if (d.payload) body["payload"] = *d.payload;
        auto req = request("POST", repo_path() + "/deployments", json::serialize(body));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        if (response.status == 202) {
            // GitHub answers 202 when it merged or would merge first; ece never asks it to, so this is a conflict.
            throw Error(ErrorKind::conflict, "GitHub did not create the deployment: " + response.body.substr(0, 200),
                        {.file = http::redact_url(req.url), .http_status = 202});
        }
        return read_deployment(r, r.parse(response), "$");
    });
}

DeploymentStatus Client::create_deployment_status(std::int64_t deployment_id, const DeploymentStatusRequest& s) {
    return doing("setting deployment " + std::to_string(deployment_id) + " to " + s.state, [&] {
        json::object body{{"state", s.state}};
        // GitHub refuses descriptions over 140 characters; cut on a UTF-8 boundary.
        std::string description = s.description;
        if (description.size() > 140) {
            std::size_t cut = 137;
            while (cut > 0 && (static_cast<unsigned char>(description[cut]) & 0xC0) == 0x80) --cut;
            description = description.substr(0, cut) + "...";
        }
        if (!description.empty()) body["description"] = description;
        if (!s.environment_url.empty()) body["environment_url"] = s.environment_url;
        if (!s.log_url.empty()) body["log_url"] = s.log_url;
        if (s.auto_inactive) body["auto_inactive"] = *s.auto_inactive;
        auto req = request("POST", repo_path() + "/deployments/" + std::to_string(deployment_id) + "/statuses",
                           json::serialize(body));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        return read_deployment_status(r, r.parse(response), "$");
    });
}

std::vector<Deployment> Client::list_deployments(std::string_view environment, int per_page) {
    return doing("listing the deployments of " + std::string(environment), [&] {
        auto req = request("GET", repo_path() + "/deployments?environment=" + http::percent_encode(environment) +
                                      "&per_page=" + std::to_string(std::clamp(per_page, 1, 100)));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        auto value = r.parse(response);
        const auto& items = r.array(value, "$");
        std::vector<Deployment> out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            out.push_back(read_deployment(r, items[i], "$[" + std::to_string(i) + "]"));
        }
        return out;
    });
}

std::vector<DeploymentStatus> Client::list_deployment_statuses(std::int64_t deployment_id) {
    return doing("listing the statuses of deployment " + std::to_string(deployment_id), [&] {
        return read_pages(http_, request("GET", repo_path() + "/deployments/" + std::to_string(deployment_id) +
                                                    "/statuses?per_page=100"),
                          read_deployment_status);
    });
}

std::vector<WorkflowRun> Client::list_workflow_runs(std::string_view branch, std::string_view status, int per_page) {
    return doing("listing the workflow runs of " + std::string(branch), [&] {
        auto req = request("GET", repo_path() + "/actions/runs?branch=" + http::percent_encode(branch) +
                                      "&status=" + http::percent_encode(status) +
                                      "&per_page=" + std::to_string(std::clamp(per_page, 1, 100)));
        auto response = http_.send(req);
        JsonReader r(http::redact_url(req.url));
        auto value = r.parse(response);
        const auto& runs = r.array(r.field(r.object(value, "$"), "workflow_runs", "$"), "$.workflow_runs");
        std::vector<WorkflowRun> out;
        for (std::size_t i = 0; i < runs.size(); ++i) {
            auto path = "$.workflow_runs[" + std::to_string(i) + "]";
            const auto& o = r.object(runs[i], path);
            out.push_back({r.integer(o, "id", path), r.optional_text(o, "name"), r.optional_text(o, "head_branch"),
                           r.optional_text(o, "head_sha"), r.optional_text(o, "status"),
                           r.optional_text(o, "conclusion"), r.optional_text(o, "created_at")});
        }
        return out;
    });
}

std::vector<Artifact> Client::list_run_artifacts(std::int64_t run_id) {
    return doing("listing the artifacts of run " + std::to_string(run_id), [&] {
        std::vector<Artifact> out;
        auto first = request("GET", repo_path() + "/actions/runs/" + std::to_string(run_id) + "/artifacts?per_page=100");
        for (const auto& page : http_.get_all_pages(first)) {
            JsonReader r(http::redact_url(page.url));
            auto value = r.parse(page);
            const auto& items = r.array(r.field(r.object(value, "$"), "artifacts", "$"), "$.artifacts");
            for (std::size_t i = 0; i < items.size(); ++i) {
                auto artifact = read_artifact(r, items[i], "$.artifacts[" + std::to_string(i) + "]");
                if (artifact.run_id == 0) artifact.run_id = run_id;
                out.push_back(std::move(artifact));
            }
        }
        return out;
    });
}

std::optional<Artifact> Client::newest_artifact(std::string_view branch, std::string_view name, int max_runs) {
    for (const auto& run : list_workflow_runs(branch, "success", max_runs)) {
        for (const auto& artifact : list_run_artifacts(run.id)) {
            if (artifact.name == name && !artifact.expired) return artifact;
        }
    }
    return std::nullopt;
}

void Client::download_artifact(const Artifact& artifact, const std::filesystem::path& zip_file) {
    doing("downloading artifact " + artifact.name, [&] {
        auto req = request("GET", repo_path() + "/actions/artifacts/" + std::to_string(artifact.id) + "/zip");
        http_.download_to_file(req, zip_file);
    });
}

std::optional<std::set<int>> open_pull_request_numbers_from_environment() {
    const char* token = std::getenv("GITHUB_TOKEN");
    const char* repository = std::getenv("GITHUB_REPOSITORY");
    if (!token || !*token || !repository || !*repository) return std::nullopt;
    register_secret(token);
    Client client(ClientConfig{.token = token, .repository = Repository::parse(repository)});
    std::set<int> numbers;
    for (const auto& pull : client.list_open_pull_requests()) numbers.insert(pull.number);
    return numbers;
}

}  // namespace ece::github
