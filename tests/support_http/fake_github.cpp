#include "fake_github.hpp"

#include "http/url.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <stdexcept>

namespace ece::test {

namespace json = boost::json;

namespace {

std::string now_iso8601() {
    auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return text;
}

json::object user_json(const std::string& login) {
    bool bot = login.ends_with("[bot]");
    return {{"login", login},
            {"id", static_cast<std::int64_t>(std::hash<std::string>{}(login) % 100000000)},
            {"type", bot ? "Bot" : "User"},
            {"site_admin", false}};
}

ServerResponse json_response(int status, const json::value& value) {
    return ServerResponse::json(status, json::serialize(value));
}

ServerResponse validation_failed(const std::string& resource, const std::string& field, const std::string& code,
                                 const std::string& message = {}) {
    json::object error{{"resource", resource}, {"field", field}, {"code", code}};
    if (!message.empty()) error["message"] = message;
    return json_response(422, json::object{{"message", "Validation Failed"},
                                           {"errors", json::array{error}},
                                           {"documentation_url", "https://docs.github.com/rest"}});
}

// The request body as a JSON object, or nullopt when it is not one.
std::optional<json::object> body_object(const ServerRequest& request) {
    boost::system::error_code ec;
    auto value = json::parse(request.body, ec);
    if (ec || !value.is_object()) return std::nullopt;
    return value.as_object();
}

std::optional<std::string> string_field(const json::object& object, const char* key) {
    auto* v = object.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
}

// What GitHub answers a comment whose body is missing or longer than 65,536 characters; nullopt when it is fine.
std::optional<ServerResponse> invalid_comment_body(const std::optional<std::string>& text) {
    if (!text) return validation_failed("IssueComment", "body", "missing_field");
    if (text->size() > 65536) {
        return validation_failed("IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)");
    }
    return std::nullopt;
}

std::optional<bool> bool_field(const json::object& object, const char* key) {
    auto* v = object.if_contains(key);
    if (!v || !v->is_bool()) return std::nullopt;
    return v->as_bool();
}

std::optional<std::int64_t> id_param(const ServerRequest& request, const char* name) {
    auto it = request.params.find(name);
    if (it == request.params.end() || it->second.empty() ||
        !std::all_of(it->second.begin(), it->second.end(), [](unsigned char c) { return std::isdigit(c); })) {
        return std::nullopt;
    }
    return std::stoll(it->second);
}

int page_param(const ServerRequest& request, const char* name, int fallback, int max) {
    auto value = request.query_param(name);
    if (!value || value->empty()) return fallback;
    try {
        return std::clamp(std::stoi(*value), 1, max);
    } catch (const std::exception&) {
        return fallback;
    }
}

}  // namespace

std::string FakeGitHub::make_zip(const std::map<std::string, std::string>& files) {
    std::string out;
    archive* a = archive_write_new();
    archive_write_set_format_zip(a);
    auto write_cb = [](archive*, void* data, const void* buffer, size_t length) -> la_ssize_t {
        static_cast<std::string*>(data)->append(static_cast<const char*>(buffer), length);
        return static_cast<la_ssize_t>(length);
    };
    archive_write_set_bytes_in_last_block(a, 1);
    if (archive_write_open(a, &out, nullptr, write_cb, nullptr) != ARCHIVE_OK) {
        throw std::runtime_error(std::string("archive_write_open: ") + archive_error_string(a));
    }
    for (const auto& [name, content] : files) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, name.c_str());
        archive_entry_set_size(entry, static_cast<la_int64_t>(content.size()));
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_write_header(a, entry);
        archive_write_data(a, content.data(), content.size());
        archive_entry_free(entry);
    }
    archive_write_close(a);
    archive_write_free(a);
    return out;
}

FakeGitHub::FakeGitHub(FakeGitHubOptions options) : options_(std::move(options)), server_(options_.server) {
    install_routes();
}

std::int64_t FakeGitHub::add_comment(int issue, const std::string& user, const std::string& body) {
    std::lock_guard lock(mutex_);
    auto id = ++next_id_;
    auto now = now_iso8601();
    comments_[issue].push_back({id, issue, user, body, now, now});
    return id;
}

std::vector<FakeGitHub::Comment> FakeGitHub::comments(int issue) const {
    std::lock_guard lock(mutex_);
    auto it = comments_.find(issue);
    return it == comments_.end() ? std::vector<Comment>{} : it->second;
}

void FakeGitHub::add_pull(const Pull& pull) {
    std::lock_guard lock(mutex_);
    pulls_[pull.number] = pull;
}

void FakeGitHub::link_commit(const std::string& sha, int pull_number) {
    std::lock_guard lock(mutex_);
    commit_pulls_[sha].push_back(pull_number);
}

github::ClientConfig FakeGitHub::client_config() const {
    github::ClientConfig config;
    config.api_url = api_url();
    config.token = options_.token;
    config.repository = {options_.owner, options_.repo};
    config.http.ca_file = ca_file();
    config.http.proxy_from_environment = false;
    return config;
}

std::vector<FakeGitHub::Deployment> FakeGitHub::deployments() const {
    std::lock_guard lock(mutex_);
    return deployments_;
}

std::int64_t FakeGitHub::add_workflow_run(const WorkflowRun& run) {
    std::lock_guard lock(mutex_);
    auto copy = run;
    copy.id = ++next_id_;
    if (copy.name.empty()) copy.name = "ece";
    if (copy.status.empty()) copy.status = "completed";
    if (copy.status == "completed" && copy.conclusion.empty()) copy.conclusion = "success";
    if (copy.created_at.empty()) copy.created_at = now_iso8601();
    runs_.push_back(copy);
    return copy.id;
}

std::int64_t FakeGitHub::add_artifact(std::int64_t run_id, const std::string& name,
                                      const std::map<std::string, std::string>& files, bool expired) {
    auto zip = make_zip(files);
    std::lock_guard lock(mutex_);
    Artifact artifact;
    artifact.id = ++next_id_;
    artifact.run_id = run_id;
    artifact.name = name;
    artifact.size_in_bytes = static_cast<std::int64_t>(zip.size());
    artifact.expired = expired;
    artifact.zip = std::move(zip);
    artifacts_.push_back(std::move(artifact));
    return artifacts_.back().id;
}

std::vector<std::pair<std::string, std::string>> FakeGitHub::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

std::size_t FakeGitHub::mutations() const {
    std::lock_guard lock(mutex_);
    return mutations_;
}

void FakeGitHub::set_rate_limit_remaining(int remaining) {
    std::lock_guard lock(mutex_);
    rate_limit_remaining_ = remaining;
}

bool FakeGitHub::rate_limit_exhausted() const {
    std::lock_guard lock(mutex_);
    return rate_limit_remaining_ == 0;
}

// Authentication, API version, repository and rate-limit headers, shared by every API route.
ServerResponse FakeGitHub::guarded(const ServerRequest& request,
                                   const std::function<ServerResponse(const ServerRequest&)>& handler) {
    auto auth = request.header("authorization").value_or("");
    ServerResponse response;
    if (auth != "Bearer " + options_.token && auth != "token " + options_.token) {
        response = ServerResponse::error(401, "Bad credentials");
    } else if (auto version = request.header("x-github-api-version"); version && *version != "2022-11-28") {
        response = ServerResponse::error(400, "API version " + *version + " is not supported.");
    } else if (request.params.at("owner") != options_.owner || request.params.at("repo") != options_.repo) {
        response = ServerResponse::error(404, "Not Found");
    } else if (rate_limit_exhausted()) {
        response = ServerResponse::error(403, "API rate limit exceeded for installation ID 1000.");
    } else {
        {
            std::lock_guard lock(mutex_);
            requests_.emplace_back(request.method, request.target);
            if (request.method != "GET") ++mutations_;
        }
        response = handler(request);
    }
    std::lock_guard lock(mutex_);
    auto reset = std::chrono::duration_cast<std::chrono::seconds>(
                     (std::chrono::system_clock::now() + std::chrono::hours(1)).time_since_epoch())
                     .count();
    response.headers.set("x-ratelimit-limit", "5000");
    response.headers.set("x-ratelimit-remaining", std::to_string(rate_limit_remaining_));
    response.headers.set("x-ratelimit-used", std::to_string(5000 - rate_limit_remaining_));
    response.headers.set("x-ratelimit-reset", std::to_string(reset));
    response.headers.set("x-ratelimit-resource", "core");
    response.headers.set("x-github-media-type", "github.v3; format=json");
    if (rate_limit_remaining_ > 0) --rate_limit_remaining_;
    return response;
}

void FakeGitHub::install_routes() {
    const std::string repo = "/repos/{owner}/{repo}";
    auto api = [this](std::string method, std::string pattern, std::function<ServerResponse(const ServerRequest&)> f) {
        server_.route(std::move(method), std::move(pattern),
                      [this, f = std::move(f)](const ServerRequest& request) { return guarded(request, f); });
    };
    auto comment_json = [this](const Comment& c) {
        auto base = server_.base_url() + "/repos/" + options_.owner + "/" + options_.repo;
        return json::object{{"id", c.id},
                            {"node_id", "IC_" + std::to_string(c.id)},
                            {"url", base + "/issues/comments/" + std::to_string(c.id)},
                            {"html_url", "https://github.com/" + options_.owner + "/" + options_.repo + "/pull/" +
                                             std::to_string(c.issue) + "#issuecomment-" + std::to_string(c.id)},
                            {"issue_url", base + "/issues/" + std::to_string(c.issue)},
                            {"body", c.body},
                            {"user", user_json(c.user)},
                            {"created_at", c.created_at},
                            {"updated_at", c.updated_at},
                            {"author_association", c.user == options_.bot_login ? "NONE" : "MEMBER"}};
    };
    auto pull_json = [this](const Pull& p) {
        return json::object{
            {"number", p.number},
            {"id", 500000 + p.number},
            {"state", p.state},
            {"title", p.title},
            {"merged", p.merged},
            {"merge_commit_sha", p.merge_commit_sha.empty() ? json::value(nullptr) : json::value(p.merge_commit_sha)},
            {"merged_at", p.merged_at.empty() ? json::value(nullptr) : json::value(p.merged_at)},
            {"html_url", "https://github.com/" + options_.owner + "/" + options_.repo + "/pull/" +
                             std::to_string(p.number)},
            {"user", user_json("octocat")},
            {"head", json::object{{"ref", p.head_ref}, {"sha", p.head_sha}, {"label", options_.owner + ":" + p.head_ref}}},
            {"base", json::object{{"ref", p.base_ref}, {"label", options_.owner + ":" + p.base_ref}}}};
    };

    // A list answered one page at a time with GitHub's Link header (per_page default 30, at most 100).
    auto paginate = [this](const ServerRequest& request, const json::array& all, const std::string& extra_query) {
        int per_page = page_param(request, "per_page", 30, 100);
        int page = page_param(request, "page", 1, 1 << 20);
        int last = std::max<int>(1, static_cast<int>((all.size() + per_page - 1) / per_page));
        json::array items;
        for (std::size_t i = static_cast<std::size_t>(page - 1) * per_page;
             i < all.size() && i < static_cast<std::size_t>(page) * per_page; ++i) {
            items.push_back(all[i]);
        }
        auto response = json_response(200, items);
        auto page_url = [&](int n) {
            return "<" + server_.url(request.path) + "?" + extra_query + "per_page=" + std::to_string(per_page) +
                   "&page=" + std::to_string(n) + ">";
        };
        std::string link;
        auto add = [&](int n, const char* rel) {
            link += (link.empty() ? "" : ", ") + page_url(n) + "; rel=\"" + rel + "\"";
        };
        if (page > 1) add(page - 1, "prev");
        if (page < last) add(page + 1, "next");
        if (page < last) add(last, "last");
        if (page > 1) add(1, "first");
        if (!link.empty()) response.headers.set("Link", link);
        return response;
    };

    // Issue comments, paginated as GitHub does.
    api("GET", repo + "/issues/{issue_number}/comments", [this, comment_json, paginate](const ServerRequest& request) {
        auto issue = id_param(request, "issue_number");
        if (!issue) return ServerResponse::error(404, "Not Found");
        json::array all;
        for (const auto& comment : comments(static_cast<int>(*issue))) all.push_back(comment_json(comment));
        return paginate(request, all, "");
    });
    api("POST", repo + "/issues/{issue_number}/comments", [this, comment_json](const ServerRequest& request) {
        auto issue = id_param(request, "issue_number");
        auto body = body_object(request);
        if (!issue) return ServerResponse::error(404, "Not Found");
        if (!body) return ServerResponse::error(400, "Problems parsing JSON");
        auto text = string_field(*body, "body");
        if (auto invalid = invalid_comment_body(text)) return *invalid;
        auto id = add_comment(static_cast<int>(*issue), options_.bot_login, *text);
        for (const auto& c : comments(static_cast<int>(*issue))) {
            if (c.id == id) return json_response(201, comment_json(c));
        }
        return ServerResponse::error(500, "lost the comment");
    });
    auto with_comment = [this](const ServerRequest& request, auto&& change) -> ServerResponse {
        auto id = id_param(request, "comment_id");
        std::lock_guard lock(mutex_);
        for (auto& [issue, list] : comments_) {
            for (auto it = list.begin(); it != list.end(); ++it) {
                if (!id || it->id != *id) continue;
                if (options_.protect_others_comments && it->user != options_.bot_login) {
                    return ServerResponse::error(403, "Resource not accessible by integration");
                }
                return change(list, it);
            }
        }
        return ServerResponse::error(404, "Not Found");
    };
    api("PATCH", repo + "/issues/comments/{comment_id}", [comment_json, with_comment](const ServerRequest& request) {
        auto body = body_object(request);
        if (!body) return ServerResponse::error(400, "Problems parsing JSON");
        auto text = string_field(*body, "body");
        if (auto invalid = invalid_comment_body(text)) return *invalid;
        return with_comment(request, [&](auto&, auto it) {
            it->body = *text;
            it->updated_at = now_iso8601();
            return json_response(200, comment_json(*it));
        });
    });
    api("DELETE", repo + "/issues/comments/{comment_id}", [with_comment](const ServerRequest& request) {
        return with_comment(request, [](auto& list, auto it) {
            list.erase(it);
            ServerResponse response;
            response.status = 204;
            return response;
        });
    });

    // Pull requests.
    api("GET", repo + "/pulls", [this, pull_json, paginate](const ServerRequest& request) {
        auto state = request.query_param("state").value_or("open");
        json::array all;
        {
            std::lock_guard lock(mutex_);
            for (const auto& [number, pull] : pulls_) {
                if (state == "all" || pull.state == state) all.push_back(pull_json(pull));
            }
        }
        return paginate(request, all, "state=" + state + "&");
    });
    api("GET", repo + "/pulls/{pull_number}", [this, pull_json](const ServerRequest& request) {
        auto number = id_param(request, "pull_number");
        std::lock_guard lock(mutex_);
        auto it = number ? pulls_.find(static_cast<int>(*number)) : pulls_.end();
        if (it == pulls_.end()) return ServerResponse::error(404, "Not Found");
        return json_response(200, pull_json(it->second));
    });
    api("GET", repo + "/commits/{commit_sha}/pulls", [this, pull_json](const ServerRequest& request) {
        std::lock_guard lock(mutex_);
        json::array items;
        if (auto it = commit_pulls_.find(request.params.at("commit_sha")); it != commit_pulls_.end()) {
            for (int number : it->second) {
                if (auto pull = pulls_.find(number); pull != pulls_.end()) items.push_back(pull_json(pull->second));
            }
        }
        return json_response(200, items);
    });

    // Deployments and their statuses.
    auto deployment_json = [this](const Deployment& d) {
        return json::object{{"id", d.id},
                            {"url", d.url},
                            {"statuses_url", d.url + "/statuses"},
                            {"sha", d.sha},
                            {"ref", d.ref},
                            {"task", d.task},
                            {"environment", d.environment},
                            {"description", d.description},
                            {"transient_environment", d.transient_environment},
                            {"production_environment", d.production_environment},
                            {"creator", user_json(options_.bot_login)},
                            {"created_at", now_iso8601()}};
    };
    api("POST", repo + "/deployments", [this, deployment_json](const ServerRequest& request) {
        auto body = body_object(request);
        if (!body) return ServerResponse::error(400, "Problems parsing JSON");
        auto ref = string_field(*body, "ref");
        if (!ref || ref->empty()) return validation_failed("Deployment", "ref", "missing_field");
        Deployment d;
        d.ref = *ref;
        d.sha = ref->size() == 40 ? *ref : "00000000000000000000000000000000000000aa";
        d.environment = string_field(*body, "environment").value_or("production");
        d.task = string_field(*body, "task").value_or("deploy");
        d.description = string_field(*body, "description").value_or("");
        d.transient_environment = bool_field(*body, "transient_environment").value_or(false);
        d.production_environment = bool_field(*body, "production_environment").value_or(d.environment == "production");
        d.body = request.body;
        std::lock_guard lock(mutex_);
        d.id = ++next_id_;
        d.url = server_.base_url() + "/repos/" + options_.owner + "/" + options_.repo + "/deployments/" +
                std::to_string(d.id);
        deployments_.push_back(d);
        return json_response(201, deployment_json(d));
    });
    auto status_json = [this](const Deployment& d, const DeploymentStatus& status) {
        return json::object{{"id", status.id},
                            {"state", status.state},
                            {"description", status.description},
                            {"environment", d.environment},
                            {"environment_url", status.environment_url},
                            {"log_url", status.log_url},
                            {"creator", user_json(options_.bot_login)}};
    };
    // Lists, newest first as GitHub answers them.
    api("GET", repo + "/deployments", [this, deployment_json, paginate](const ServerRequest& request) {
        const auto environment = request.query_param("environment");
        json::array all;
        {
            std::lock_guard lock(mutex_);
            for (auto d = deployments_.rbegin(); d != deployments_.rend(); ++d) {
                if (!environment || d->environment == *environment) all.push_back(deployment_json(*d));
            }
        }
        return paginate(request, all, environment ? "environment=" + http::percent_encode(*environment) + "&" : "");
    });
    api("GET", repo + "/deployments/{deployment_id}/statuses", [this, status_json, paginate](const ServerRequest& request) {
        auto id = id_param(request, "deployment_id");
        json::array all;
        {
            std::lock_guard lock(mutex_);
            auto it = std::find_if(deployments_.begin(), deployments_.end(), [&](const auto& d) { return id && d.id == *id; });
            if (it == deployments_.end()) return ServerResponse::error(404, "Not Found");
            for (auto status = it->statuses.rbegin(); status != it->statuses.rend(); ++status) {
                all.push_back(status_json(*it, *status));
            }
        }
        return paginate(request, all, "");
    });
    api("POST", repo + "/deployments/{deployment_id}/statuses", [this, status_json](const ServerRequest& request) {
        auto id = id_param(request, "deployment_id");
        auto body = body_object(request);
        if (!body) return ServerResponse::error(400, "Problems parsing JSON");
        static const std::vector<std::string> states = {"error",   "failure", "inactive", "in_progress",
                                                        "queued", "pending", "success"};
        auto state = string_field(*body, "state");
        if (!state || std::find(states.begin(), states.end(), *state) == states.end()) {
            return validation_failed("DeploymentStatus", "state", "invalid");
        }
        std::lock_guard lock(mutex_);
        auto it = std::find_if(deployments_.begin(), deployments_.end(), [&](const auto& d) { return id && d.id == *id; });
        if (it == deployments_.end()) return ServerResponse::error(404, "Not Found");
        DeploymentStatus status{++next_id_, *state, string_field(*body, "description").value_or(""),
                                string_field(*body, "environment_url").value_or(""),
                                string_field(*body, "log_url").value_or("")};
        it->statuses.push_back(status);
        // auto_inactive, as GitHub documents it: when one succeeds, earlier deployments of the same environment that
        // succeeded get an inactive status, but only those of non-transient, non-production environments.
        if (*state == "success" && bool_field(*body, "auto_inactive").value_or(true)) {
            for (auto& other : deployments_) {
                if (other.id < it->id && other.environment == it->environment && !other.transient_environment &&
                    !other.production_environment && !other.statuses.empty() &&
                    other.statuses.back().state == "success") {
                    other.statuses.push_back({++next_id_, "inactive", "", "", ""});
                }
            }
        }
        return json_response(201, status_json(*it, status));
    });

    // Workflow runs and artifacts.
    auto artifact_json = [this](const Artifact& a) {
        auto base = server_.base_url() + "/repos/" + options_.owner + "/" + options_.repo + "/actions/artifacts/" +
                    std::to_string(a.id);
        return json::object{{"id", a.id},
                            {"node_id", "MDg6QXJ0aWZhY3Q" + std::to_string(a.id)},
                            {"name", a.name},
                            {"size_in_bytes", a.size_in_bytes},
                            {"url", base},
                            {"archive_download_url", base + "/zip"},
                            {"expired", a.expired},
                            {"created_at", now_iso8601()},
                            {"workflow_run", json::object{{"id", a.run_id}}}};
    };
    api("GET", repo + "/actions/runs", [this](const ServerRequest& request) {
        auto branch = request.query_param("branch");
        auto status = request.query_param("status");
        int per_page = page_param(request, "per_page", 30, 100);
        int page = page_param(request, "page", 1, 1 << 20);
        std::lock_guard lock(mutex_);
        std::vector<WorkflowRun> matching;
        for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {  // newest first, as GitHub lists them
            if (branch && it->head_branch != *branch) continue;
            if (status && it->status != *status && it->conclusion != *status) continue;
            matching.push_back(*it);
        }
        json::array items;
        for (std::size_t i = static_cast<std::size_t>(page - 1) * per_page;
             i < matching.size() && i < static_cast<std::size_t>(page) * per_page; ++i) {
            const auto& r = matching[i];
            items.push_back(json::object{{"id", r.id},
                                         {"name", r.name},
                                         {"head_branch", r.head_branch},
                                         {"head_sha", r.head_sha},
                                         {"status", r.status},
                                         {"conclusion", r.conclusion},
                                         {"created_at", r.created_at}});
        }
        return json_response(200, json::object{{"total_count", matching.size()}, {"workflow_runs", items}});
    });
    api("GET", repo + "/actions/runs/{run_id}/artifacts", [this, artifact_json](const ServerRequest& request) {
        auto run = id_param(request, "run_id");
        auto name = request.query_param("name");
        std::lock_guard lock(mutex_);
        json::array items;
        for (auto it = artifacts_.rbegin(); it != artifacts_.rend(); ++it) {
            if (run && it->run_id == *run && (!name || it->name == *name)) items.push_back(artifact_json(*it));
        }
        return json_response(200, json::object{{"total_count", items.size()}, {"artifacts", items}});
    });
    api("GET", repo + "/actions/artifacts/{artifact_id}/{archive_format}", [this](const ServerRequest& request) {
        auto id = id_param(request, "artifact_id");
        if (request.params.at("archive_format") != "zip") return ServerResponse::error(404, "Not Found");
        std::lock_guard lock(mutex_);
        auto it = std::find_if(artifacts_.begin(), artifacts_.end(), [&](const auto& a) { return id && a.id == *id; });
        if (it == artifacts_.end()) return ServerResponse::error(404, "Not Found");
        if (it->expired) return ServerResponse::error(410, "Artifact has expired");
        // Like GitHub: a redirect to a pre-signed URL on another host (here: the same server named localhost).
        ServerResponse response;
        response.status = 302;
        response.headers.set("Location", server_.localhost_url("/_blobs/artifacts/" + std::to_string(it->id) +
                                                                 ".zip?sig=FakeBlobSignature0123456789&se=2099"));
        return response;
    });
    server_.route("GET", "/_blobs/artifacts/{file}", [this](const ServerRequest& request) {
        if (request.query_param("sig") != "FakeBlobSignature0123456789") {
            return ServerResponse::error(403, "Server failed to authenticate the request.");
        }
        if (request.header("authorization")) {
            // Azure blob storage rejects a request with both a signature and an Authorization header.
            return ServerResponse::error(400, "Authorization header sent to the blob store");
        }
        auto file = request.params.at("file");
        std::lock_guard lock(mutex_);
        for (const auto& a : artifacts_) {
            if (std::to_string(a.id) + ".zip" == file) {
                ServerResponse response;
                response.headers.set("Content-Type", "application/zip");
                response.body = a.zip;
                return response;
            }
        }
        return ServerResponse::error(404, "The specified blob does not exist.");
    });
}

}  // namespace ece::test
