#pragma once
// The GitHub Actions run this process is part of, from the default environment variables.
#include <string>

#include "actions/inputs.hpp"

namespace ece::actions {

struct Context {
    bool in_actions = false;      // GITHUB_ACTIONS=true
    std::string repository;       // owner/name
    std::string sha;
    std::string ref;              // refs/heads/main, refs/pull/7/merge
    std::string head_ref;         // source branch of a pull request, empty otherwise
    std::string run_id;
    std::string run_attempt;
    std::string server_url;       // https://github.com or the GitHub Enterprise Server
    std::string api_url;          // https://api.github.com or https://ghes.example/api/v3
    std::string event_name;
    std::string event_path;
    std::string workspace;

    // <server>/<owner>/<repo>/actions/runs/<run id>; throws ece::Error(usage) naming the missing variable.
    std::string run_url() const;
};

// Reads GITHUB_* (server and API URLs default to github.com's when unset, as on a developer machine).
Context read_context(const EnvLookup& env = process_env());

}  // namespace ece::actions
