#pragma once
// Posting ece's one pull-request comment per environment ("sticky"): found by its hidden marker across every page
// of the pull request's comments, edited in place, re-posted or left alone when its digest says nothing changed.
// Comments without ece's marker for this environment (anyone else's, or ece's for other environments) are never
// touched. Two jobs racing for one environment still leave one comment: after creating, ece lists again, keeps
// the oldest of its comments for the environment, gives it the newest content and deletes the others.
#include "comment/render.hpp"
#include "github/client.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ece::comment {

enum class Behavior {
    update,          // edit ece's comment in place (create it the first time)
    new_comment,     // post a new comment each time the report changes; older ones stay
    delete_and_new,  // delete ece's comments for the environment and post anew (it moves to the bottom)
};
// "update" | "new" | "delete-and-new"; anything else throws ece::Error(usage).
Behavior parse_behavior(std::string_view text);
std::string_view behavior_name(Behavior behavior);

enum class StickyAction { created, updated, unchanged, deleted_and_created };
std::string_view action_name(StickyAction action);

struct StickyOptions {
    Behavior behavior = Behavior::update;
    // Only comments by this login count as ece's (e.g. "github-actions[bot]"); empty: any author carrying the
    // marker. Duplicates are only ever deleted when written by the same login as the comment ece keeps.
    std::string author{};
};

struct StickyResult {
    StickyAction action = StickyAction::unchanged;
    std::int64_t comment_id = 0;
    std::string url{};          // html_url of the comment that now holds the report
    std::size_t deleted = 0;    // ece comments removed (delete-and-new, or duplicates of a race)
};

// Puts rendered.markdown (which ends with the marker of `environment` and rendered.digest) on issue or pull
// request `issue`. Errors from GitHub are ece::Error (network/auth) naming what was being done; a rejected token
// (401) says so without ever quoting it.
StickyResult post_sticky(github::Client& client, int issue, std::string_view environment, const Rendered& rendered,
                         const StickyOptions& options = {});

}  // namespace ece::comment
