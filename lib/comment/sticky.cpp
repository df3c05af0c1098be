#include "comment/sticky.hpp"

#include "comment/marker.hpp"
#include "core/error.hpp"

#include <algorithm>
#include <vector>

namespace ece::comment {
namespace {

using github::Comment;

// ece's comments for the environment, oldest first (GitHub's ids only grow).
std::vector<Comment> ece_comments(std::vector<Comment> all, std::string_view environment, std::string_view author) {
    std::vector<Comment> mine;
    for (auto& c : all) {
        if (!author.empty() && c.user.login != author) continue;
        if (marker_matches(c.body, environment)) mine.push_back(std::move(c));
    }
    std::sort(mine.begin(), mine.end(), [](const Comment& a, const Comment& b) { return a.id < b.id; });
    return mine;
}

bool same_report(const Comment& comment, const Rendered& rendered) {
    auto marker = parse_marker(comment.body);
    return marker && marker->digest == rendered.digest;
}

bool is_not_found(const Error& e) { return e.where().http_status && *e.where().http_status == 404; }

// Another job may have deleted it first: gone is what we wanted.
bool delete_if_present(github::Client& client, std::int64_t id) {
    try {
        client.delete_issue_comment(id);
        return true;
    } catch (const Error& e) {
        if (is_not_found(e)) return false;
        throw;
    }
}

std::size_t delete_all(github::Client& client, const std::vector<Comment>& comments) {
    std::size_t deleted = 0;
    for (const auto& c : comments) deleted += delete_if_present(client, c.id) ? 1 : 0;
    return deleted;
}

StickyResult result_for(StickyAction action, const Comment& comment, std::size_t deleted) {
    return {action, comment.id, comment.html_url, deleted};
}

// After creating: when a racing job created one too, keep the oldest (with this report) and delete the rest.
// The racing job may have settled first and deleted ours already, leaving only its own: that one is kept too.
// Only comments by the login that just created ours are candidates, so nobody else's is ever deleted.
StickyResult settle_race(github::Client& client, int issue, std::string_view environment, const Rendered& rendered,
                         const Comment& created, StickyAction action, std::size_t deleted_before) {
    auto mine = ece_comments(client.list_issue_comments(issue), environment, created.user.login);
    if (mine.empty()) return result_for(action, created, deleted_before);
    Comment keep = mine.front();
    std::vector<Comment> extra(mine.begin() + 1, mine.end());
    // Ours was listed after a racing job's: the kept comment takes our (newest) content first, then ours goes.
    if (keep.id != created.id && !same_report(keep, rendered)) {
        keep = client.update_issue_comment(keep.id, rendered.markdown);
    }
    auto deleted = deleted_before + delete_all(client, extra);
    return result_for(keep.id == created.id ? action : StickyAction::updated, keep, deleted);
}

StickyResult create_and_settle(github::Client& client, int issue, std::string_view environment,
                               const Rendered& rendered, StickyAction action, std::size_t deleted_before) {
    auto created = client.create_issue_comment(issue, rendered.markdown);
    return settle_race(client, issue, environment, rendered, created, action, deleted_before);
}

StickyResult post(github::Client& client, int issue, std::string_view environment, const Rendered& rendered,
                  const StickyOptions& options) {
    auto mine = ece_comments(client.list_issue_comments(issue), environment, options.author);
    switch (options.behavior) {
        case Behavior::new_comment:
            if (!mine.empty() && same_report(mine.back(), rendered)) {
                return result_for(StickyAction::unchanged, mine.back(), 0);
            }
            return result_for(StickyAction::created, client.create_issue_comment(issue, rendered.markdown), 0);
        case Behavior::delete_and_new:
            if (mine.size() == 1 && same_report(mine.front(), rendered)) {
                return result_for(StickyAction::unchanged, mine.front(), 0);
            }
            if (mine.empty()) return create_and_settle(client, issue, environment, rendered, StickyAction::created, 0);
            return create_and_settle(client, issue, environment, rendered, StickyAction::deleted_and_created,
                                     delete_all(client, mine));
        case Behavior::update:
            break;
    }
    if (mine.empty()) return create_and_settle(client, issue, environment, rendered, StickyAction::created, 0);
    // Duplicates (left by an earlier race that was cut short) go; the oldest holds the report.
    auto deleted = delete_all(client, {mine.begin() + 1, mine.end()});
    const auto& keep = mine.front();
    if (same_report(keep, rendered)) return result_for(StickyAction::unchanged, keep, deleted);
    return result_for(StickyAction::updated, client.update_issue_comment(keep.id, rendered.markdown), deleted);
}

}  // namespace

Behavior parse_behavior(std::string_view text) {
    if (text == "update") return Behavior::update;
    if (text == "new") return Behavior::new_comment;
    if (text == "delete-and-new") return Behavior::delete_and_new;
    throw Error(ErrorKind::usage,
                "comment behavior must be update, new or delete-and-new, got \"" + std::string(text) + "\"",
                {.field = "behavior"});
}

std::string_view behavior_name(Behavior behavior) {
    switch (behavior) {
        case Behavior::update: return "update";
        case Behavior::new_comment: return "new";
        case Behavior::delete_and_new: return "delete-and-new";
    }
    return "update";
}

std::string_view action_name(StickyAction action) {
    switch (action) {
        case StickyAction::created: return "created";
        case StickyAction::updated: return "updated";
        case StickyAction::unchanged: return "unchanged";
        case StickyAction::deleted_and_created: return "deleted-and-created";
    }
    return "unchanged";
}

StickyResult post_sticky(github::Client& client, int issue, std::string_view environment, const Rendered& rendered,
                         const StickyOptions& options) {
    auto marker = parse_marker(rendered.markdown);
    if (!marker || marker->environment != environment || marker->digest != rendered.digest) {
        throw Error(ErrorKind::internal, "the rendered comment does not end with the marker of " +
                                             std::string(environment));
    }
    try {
        return post(client, issue, environment, rendered, options);
    } catch (const Error& e) {
        if (e.kind() == ErrorKind::auth && e.where().http_status && *e.where().http_status == 401) {
            throw Error(ErrorKind::auth,
                        "GitHub refused the token (401): it has expired, was revoked or is not a token; give a valid "
                        "one in GITHUB_TOKEN (" + e.message() + ")",
                        e.where());
        }
        throw;
    }
}

}  // namespace ece::comment
