#include "actions/context.hpp"

#include "core/error.hpp"

namespace ece::actions {
namespace {

std::string variable_or(const EnvLookup& env, std::string_view name, std::string fallback = {}) {
    auto value = env(name);
    return value && !value->empty() ? *value : fallback;
}

std::string without_trailing_slash(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

}  // namespace

Context read_context(const EnvLookup& env) {
    Context context;
    context.in_actions = variable_or(env, "GITHUB_ACTIONS") == "true";
    context.repository = variable_or(env, "GITHUB_REPOSITORY");
    context.sha = variable_or(env, "GITHUB_SHA");
    context.ref = variable_or(env, "GITHUB_REF");
    context.head_ref = variable_or(env, "GITHUB_HEAD_REF");
    context.run_id = variable_or(env, "GITHUB_RUN_ID");
    context.run_attempt = variable_or(env, "GITHUB_RUN_ATTEMPT");
    context.server_url = without_trailing_slash(variable_or(env, "GITHUB_SERVER_URL", "https://github.com"));
    context.api_url = without_trailing_slash(variable_or(env, "GITHUB_API_URL", "https://api.github.com"));
    context.event_name = variable_or(env, "GITHUB_EVENT_NAME");
    context.event_path = variable_or(env, "GITHUB_EVENT_PATH");
    context.workspace = variable_or(env, "GITHUB_WORKSPACE");
    return context;
}

std::string Context::run_url() const {
    if (repository.empty()) throw Error(ErrorKind::usage, "cannot build the run URL: GITHUB_REPOSITORY is not set");
    if (run_id.empty()) throw Error(ErrorKind::usage, "cannot build the run URL: GITHUB_RUN_ID is not set");
    return server_url + "/" + repository + "/actions/runs/" + run_id;
}

}  // namespace ece::actions
