#include "comment/render.hpp"

#include "comment/marker.hpp"
#include "comment/markdown.hpp"
#include "core/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>

namespace ece::comment {
namespace {

constexpr std::size_t unlimited = std::numeric_limits<std::size_t>::max();

// How much of each table a rendering keeps; tighter levels are tried until the text fits.
struct Limits {
    std::size_t rows;        // rows of each table
    std::size_t attributes;  // changed attributes shown per Terraform resource
    std::size_t cell;        // bytes of one free-text cell (messages, values)
};

constexpr Limits levels[] = {
    {unlimited, unlimited, 1000}, {200, 40, 500}, {100, 20, 300}, {50, 10, 200},
    {20, 5, 160},                 {10, 3, 120},   {5, 0, 100},    {0, 0, 80},
};

// Set when a rendering left rows out.
struct Cut {
    bool any = false;
};

std::string plural(std::int64_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string thousands(std::int64_t n) {
    std::string digits = std::to_string(n < 0 ? -n : n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return (n < 0 ? "-" : "") + out;
}

std::string seconds_text(double s) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2f s", s);
    return buffer;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
    std::string out;
    for (const auto& p : parts) {
        if (p.empty()) continue;
        if (!out.empty()) out += separator;
        out += p;
    }
    return out;
}

// Keeps the first `limit` rows and adds an "and N more" row.
void cap_rows(std::vector<std::vector<std::string>>& rows, std::size_t limit, Cut& cut) {
    if (rows.size() <= limit) return;
    auto more = rows.size() - limit;
    rows.resize(limit);
    rows.push_back({"… and " + thousands(static_cast<std::int64_t>(more)) + " more"});
    cut.any = true;
}

std::string_view status_emoji(Status s) {
    switch (s) {
        case Status::planning: return "📝";
        case Status::building: return "⏳";
        case Status::ready: return "✅";
        case Status::failed: return "❌";
        case Status::published: return "🚀";
        case Status::destroyed: return "🗑️";
    }
    return "";
}

bool is_failure(const DbtResult& r) {
    return r.status == "error" || r.status == "fail" || r.status == "runtime error";
}

int failure_rank(const DbtResult& r) {
    if (is_failure(r)) return 0;
    if (r.status == "warn") return 1;
    if (r.status == "skipped") return 2;
    return 3;
}

std::int64_t selected_of_type(const DbtPlan& plan, const std::string& type) {
    if (auto it = plan.counts.find(type); it != plan.counts.end()) return it->second;
    return std::count_if(plan.selected.begin(), plan.selected.end(),
                         [&](const auto& n) { return n.resource_type == type; });
}

std::string shell_word(std::string_view s) {
    bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '/' || c == '-';
    });
    if (plain) return std::string(s);
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

// ---- summary and header -------------------------------------------------------------------------------------

std::string dbt_summary(const Report& report) {
    std::vector<std::string> parts;
    if (report.dbt_results) {
        const auto& results = *report.dbt_results;
        auto built = std::count_if(results.begin(), results.end(), [](const auto& r) {
            return r.resource_type == "model" && r.status == "success";
        });
        auto failed = std::count_if(results.begin(), results.end(), is_failure);
        parts.push_back(plural(built, "model built", "models built"));
        if (failed > 0) parts.push_back(std::to_string(failed) + " failed");
    } else if (report.dbt_plan) {
        auto models = selected_of_type(*report.dbt_plan, "model");
        parts.push_back(report.dbt_plan->full_build ? "full build of " + plural(models, "model", "models")
                                                    : plural(models, "model", "models") + " to build");
    }
    if (report.dbt_plan && !parts.empty()) parts.push_back(std::to_string(report.dbt_plan->deferred) + " deferred");
    return join(parts, ", ");
}

std::string cost_summary(const Report& report) {
    if (!report.cost) return {};
    const auto& t = report.cost->terraform;
    if (t && !t->resources.empty()) return cost::format_money_change(t->diff()) + "/mo";
    if (report.cost->environment) return cost::format_money(report.cost->environment->so_far) + " so far";
    return {};
}

std::string header_line(const Header& h) {
    std::vector<std::string> parts;
    if (h.pr_number) parts.push_back("PR #" + std::to_string(*h.pr_number));
    if (!h.head_sha.empty()) parts.push_back("head " + md::code(h.head_sha.substr(0, 7)));
    if (!h.run_url.empty()) parts.push_back(md::link("workflow run", h.run_url));
    if (!h.schemas.empty()) {
        std::vector<std::string> names;
        for (const auto& s : h.schemas) names.push_back(md::code(s));
        parts.push_back((h.schemas.size() == 1 ? "schema " : "schemas ") + join(names, ", "));
    }
    if (!h.created_at.empty()) parts.push_back("created " + md::text(h.created_at));
    if (!h.expires_at.empty()) parts.push_back("expires " + md::text(h.expires_at));
    auto line = join(parts, " · ");
    return line.empty() ? line : line + "\n";
}

// ---- sections -----------------------------------------------------------------------------------------------

std::string warnings_section(const Report& report, const Limits& limits, Cut& cut) {
    if (report.warnings.empty()) return {};
    std::string out = "**Warnings**\n\n";
    std::size_t shown = 0;
    for (const auto& w : report.warnings) {
        if (shown == std::max<std::size_t>(limits.rows, 3)) {
            out += "- … and " + std::to_string(report.warnings.size() - shown) + " more\n";
            cut.any = true;
            break;
        }
        out += "- " + md::text(md::clip(w, limits.cell)) + "\n";
        ++shown;
    }
    return out;
}

std::string environment_plan_section(const Report& report, const Limits& limits, Cut& cut) {
    if (report.environment_plan.empty()) return {};
    std::vector<std::vector<std::string>> rows;
    for (const auto& line : report.environment_plan) {
        rows.push_back({"**" + md::text(line.action) + "**", md::cell(line.what), md::cell(md::clip(line.detail, limits.cell))});
    }
    auto count = rows.size();
    cap_rows(rows, limits.rows, cut);
    auto body = md::table({"Action", "What", "Detail"}, rows);
    std::string title = "Environment plan: " + plural(static_cast<std::int64_t>(count), "change", "changes");
    if (count <= 5) return "**" + md::text(title) + "**\n\n" + body;
    return md::details(md::text(title), body);
}

std::string reason_text(const std::string& reason) {
    static const std::map<std::string, std::string> known = {
        {"replace_because_tainted", "tainted"},
        {"replace_because_cannot_update", "cannot be updated in place"},
        {"replace_by_request", "replacement requested"},
        {"replace_by_triggers", "replace_triggered_by"},
        {"delete_because_no_resource_config", "removed from the configuration"},
        {"delete_because_no_module", "its module was removed"},
        {"delete_because_wrong_repetition", "count/for_each changed"},
        {"delete_because_count_index", "count index out of range"},
        {"delete_because_each_key", "for_each key removed"},
        {"delete_because_no_move_target", "moved target missing"},
        {"read_because_config_unknown", "configuration known only after apply"},
        {"read_because_dependency_pending", "depends on pending changes"},
    };
    auto it = known.find(reason);
    return it == known.end() ? reason : it->second;
}

std::string terraform_counts_text(const plan::Plan& p) {
    auto c = p.counts();
    std::vector<std::string> parts;
    if (c.create) parts.push_back(std::to_string(c.create) + " to create");
    if (c.update) parts.push_back(std::to_string(c.update) + " to update");
    if (c.replace) parts.push_back(std::to_string(c.replace) + " to replace");
    if (c.destroy) parts.push_back(std::to_string(c.destroy) + " to delete");
    if (c.read) parts.push_back(std::to_string(c.read) + " to read");
    if (c.moved) parts.push_back(std::to_string(c.moved) + " moved");
    return parts.empty() ? "no changes" : join(parts, ", ");
}

std::string resource_note(const plan::ResourceChange& r) {
    std::vector<std::string> notes;
    if (r.moved()) notes.push_back("moved from " + md::code(r.previous_address));
    if (r.create_before_destroy) notes.push_back("create before destroy");
    if (!r.action_reason.empty()) notes.push_back(md::cell(reason_text(r.action_reason)));
    if (!r.replace_paths.empty()) {
        std::vector<std::string> paths;
        for (const auto& p : r.replace_paths) paths.push_back(md::code(p));
        notes.push_back("forces replacement: " + join(paths, ", "));
    }
    return join(notes, "; ");
}

std::string attribute_table(const plan::ResourceChange& r, const Limits& limits, Cut& cut) {
    std::vector<std::vector<std::string>> rows;
    auto value_cell = [&](const std::string& v) { return v.empty() ? std::string() : md::code(md::clip(v, std::min<std::size_t>(limits.cell, 200))); };
    for (const auto& c : r.changes) rows.push_back({md::code(c.path), value_cell(c.before), value_cell(c.after)});
    cap_rows(rows, limits.attributes, cut);
    return md::table({"Attribute", "Before", "After"}, rows);
}

std::string terraform_section(const Report& report, const Limits& limits, Cut& cut) {
    if (!report.terraform) return {};
    const auto& p = report.terraform->plan;
    std::vector<const plan::ResourceChange*> changed;
    for (const auto& r : p.resource_changes) {
        if (r.action != plan::Action::no_op || r.moved()) changed.push_back(&r);
    }
    std::string title = "Terraform plan: " + terraform_counts_text(p);
    if (changed.empty()) return "**" + md::text(title) + "**\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto* r : changed) {
        auto action = r->action == plan::Action::no_op ? std::string("move") : std::string(plan::action_name(r->action));
        rows.push_back({"**" + action + "**", md::code(r->address), resource_note(*r)});
    }
    cap_rows(rows, limits.rows, cut);
    std::string body = md::table({"Action", "Resource", "Note"}, rows);
    std::size_t shown = 0;
    for (const auto* r : changed) {
        if (r->changes.empty()) continue;
        if (limits.attributes == 0 || shown == limits.rows) {
            cut.any = true;
            break;
        }
        body += "\n" + md::code(r->address) + " (" + std::string(plan::action_name(r->action)) + ")\n\n" +
                attribute_table(*r, limits, cut);
        ++shown;
    }
    return md::details(md::text(title), body);
}

std::string money_or_dash(const std::optional<cost::Money>& m) { return m ? cost::format_money(*m) : "–"; }

std::string not_priced_text(const cost::CostEstimate& estimate, const Limits& limits, Cut& cut) {
    if (estimate.not_priced.empty()) return {};
    std::map<std::string, int> unknown_types;
    std::vector<const cost::UnpricedResource*> specific;
    for (const auto& u : estimate.not_priced) {
        if (u.reason.starts_with("no price for resource type")) ++unknown_types[u.type];
        else specific.push_back(&u);
    }
    std::string out = "\nNot priced: " + plural(static_cast<std::int64_t>(estimate.not_priced.size()), "resource", "resources");
    if (!unknown_types.empty()) {
        std::vector<std::string> types;
        for (const auto& [type, n] : unknown_types) types.push_back(md::code(type) + (n > 1 ? " ×" + std::to_string(n) : ""));
        auto total = types.size();
        if (total > std::max<std::size_t>(limits.rows, 5)) {
            types.resize(std::max<std::size_t>(limits.rows, 5));
            types.push_back("and " + std::to_string(total - types.size()) + " more types");
            cut.any = true;
        }
        out += " (types without prices: " + join(types, ", ") + ")";
    }
    out += "\n";
    std::size_t shown = 0;
    for (const auto* u : specific) {
        if (shown == std::max<std::size_t>(limits.rows, 5)) {
            out += "- … and " + std::to_string(specific.size() - shown) + " more\n";
            cut.any = true;
            break;
        }
        out += "- " + md::code(u->address) + ": " + md::text(md::clip(u->reason, limits.cell)) + "\n";
        ++shown;
    }
    return out;
}

std::string cost_section(const Report& report, const Limits& limits, Cut& cut) {
    if (!report.cost) return {};
    const auto& c = *report.cost;
    std::string body;
    std::string title = "Cost";
    if (c.terraform && c.terraform->resources.empty()) {
        title += ": nothing priced";
        auto unpriced = not_priced_text(*c.terraform, limits, cut);
        body += unpriced.empty() ? std::string("No resource in the plan has a price.\n") : unpriced.substr(1);
    } else if (c.terraform) {
        const auto& e = *c.terraform;
        title += ": " + cost::format_money(e.total_before) + " → " + cost::format_money(e.total_after) + " a month (" +
                 cost::format_money_change(e.diff()) + ")";
        std::vector<std::vector<std::string>> rows;
        std::size_t unchanged = 0;
        cost::Money unchanged_cost;
        for (const auto& r : e.resources) {
            if (r.action == plan::Action::no_op && r.diff() == cost::Money{}) {
                ++unchanged;
                unchanged_cost += r.after.value_or(cost::Money{});
                continue;
            }
            auto detail = r.after ? r.after_detail : r.before_detail;
            rows.push_back({md::code(r.address) + "<br>" + md::cell(detail), money_or_dash(r.before),
                            money_or_dash(r.after), cost::format_money_change(r.diff())});
        }
        cap_rows(rows, limits.rows, cut);
        rows.push_back({"**Total**", "**" + cost::format_money(e.total_before) + "**",
                        "**" + cost::format_money(e.total_after) + "**",
                        "**" + cost::format_money_change(e.diff()) + "**"});
        body += md::table({"Resource", "Before", "After", "Diff"}, rows, {'l', 'r', 'r', 'r'});
        if (unchanged > 0) {
            body += "\n" + plural(static_cast<std::int64_t>(unchanged), "unchanged resource", "unchanged resources") +
                    " (" + cost::format_money(unchanged_cost) + " a month) included in the totals.\n";
        }
        body += not_priced_text(e, limits, cut);
    }
    if (c.environment) {
        const auto& env = *c.environment;
        if (!c.terraform || c.terraform->resources.empty()) {
            title += (c.terraform ? ", environment " : ": ") + cost::format_money(env.so_far) + " so far";
        }
        body += "\n**This environment:** " + cost::format_money(env.so_far) + " so far";
        if (env.at_expiry) body += ", " + cost::format_money(*env.at_expiry) + " by its expiry";
        body += " (" + md::text(env.basis) + ").\n";
    }
    if (!c.prices_note.empty()) body += "\n<sub>" + md::text(c.prices_note) + "; 730 hours a month.</sub>\n";
    return md::details(md::text(title), body);
}

std::string dbt_counts_text(const DbtPlan& plan) {
    static const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> order = {
        {"model", {"model", "models"}}, {"seed", {"seed", "seeds"}}, {"snapshot", {"snapshot", "snapshots"}},
        {"test", {"test", "tests"}}, {"unit_test", {"unit test", "unit tests"}}};
    std::vector<std::string> parts;
    for (const auto& [type, names] : order) {
        auto n = selected_of_type(plan, type);
        if (n > 0) parts.push_back(plural(n, names.first, names.second));
    }
    for (const auto& count : plan.counts) {
        const auto& type = count.first;  // named, not bound: clang 14 cannot capture structured bindings
        bool listed = std::any_of(order.begin(), order.end(), [&](const auto& o) { return o.first == type; });
        if (!listed && count.second > 0) parts.push_back(std::to_string(count.second) + " " + type);
    }
    return parts.empty() ? "nothing" : join(parts, ", ");
}

// What reviewers want to know beyond the build: the metrics, exposures, semantic models and saved queries the
// change reaches (dbt builds none of them).
std::string affected_line(const DbtPlan& plan) {
    static const std::vector<std::pair<std::string, std::pair<std::string, std::string>>> kinds = {
        {"metric", {"metric", "metrics"}}, {"exposure", {"exposure", "exposures"}},
        {"semantic_model", {"semantic model", "semantic models"}}, {"saved_query", {"saved query", "saved queries"}}};
    std::vector<std::string> parts;
    for (const auto& [type, names] : kinds) {
        std::vector<std::string> ids;
        for (const auto& n : plan.selected)
            if (n.resource_type == type) ids.push_back(md::code(n.name));
        if (!ids.empty())
            parts.push_back(plural(static_cast<std::int64_t>(ids.size()), names.first, names.second) + " (" +
                            join(ids, ", ") + ")");
    }
    return parts.empty() ? std::string() : "\nAffected metrics and exposures: " + join(parts, "; ") + ".\n";
}

std::string dbt_plan_section(const Report& report, const Limits& limits, Cut& cut) {
    if (!report.dbt_plan) return {};
    const auto& p = *report.dbt_plan;
    std::string title = "dbt plan: " + dbt_counts_text(p) + " selected, " + std::to_string(p.deferred) + " deferred";
    if (p.full_build) title += " (full build)";
    std::string body;
    if (!p.selector.empty()) {
        body += "Selector " + md::code(p.selector);
        if (!p.state_source.empty()) body += " against " + md::text(p.state_source);
        body += ".\n";
    }
    if (p.full_build) {
        body += "Full build" + (p.full_build_reason.empty() ? std::string() : ": " + md::text(p.full_build_reason)) + ".\n";
    }
    if (!body.empty()) body += "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : p.selected) {
        std::vector<std::string> reasons;
        for (const auto& r : n.reasons) reasons.push_back(md::cell(md::clip(r, limits.cell)));
        rows.push_back({md::code(n.unique_id), md::cell(n.resource_type), join(reasons, "; ")});
    }
    cap_rows(rows, limits.rows, cut);
    if (!p.selected.empty()) body += md::table({"Node", "Type", "Reasons"}, rows);
    body += affected_line(p);
    if (!p.removed.empty()) {
        std::vector<std::string> removed;
        for (const auto& r : p.removed) removed.push_back(md::code(r));
        auto total = removed.size();
        if (total > std::max<std::size_t>(limits.rows, 5)) {
            removed.resize(std::max<std::size_t>(limits.rows, 5));
            removed.push_back("and " + std::to_string(total - removed.size()) + " more");
            cut.any = true;
        }
        body += "\nRemoved from the project: " + join(removed, ", ") + "\n";
    }
    for (const auto& w : p.warnings) body += "\n- " + md::text(md::clip(w, limits.cell));
    if (!p.warnings.empty()) body += "\n";
    return md::details(md::text(title), body);
}

std::string dbt_results_section(const Report& report, const Limits& limits, Cut& cut) {
    if (!report.dbt_results) return {};
    auto results = *report.dbt_results;
    std::stable_sort(results.begin(), results.end(),
                     [](const auto& a, const auto& b) { return failure_rank(a) < failure_rank(b); });
    std::map<std::string, int> by_status;
    double total_seconds = 0;
    for (const auto& r : results) {
        ++by_status[r.status];
        total_seconds += r.seconds;
    }
    std::vector<std::string> counts;
    for (const auto& [status, n] : by_status) counts.push_back(std::to_string(n) + " " + status);
    const std::string with = report.dbt_version.empty() ? "" : " with " + report.dbt_version;
    std::string title = "dbt build" + with + ": " + (counts.empty() ? std::string("nothing ran") : join(counts, ", ")) + " in " +
                        seconds_text(total_seconds);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : results) {
        auto status = md::cell(r.status);
        if (is_failure(r)) status = "**" + status + "**";
        rows.push_back({md::code(r.unique_id), status, seconds_text(r.seconds), r.rows ? thousands(*r.rows) : "",
                        md::cell(md::clip(r.message, limits.cell))});
    }
    auto hidden_failures = rows.size() > limits.rows
        ? std::count_if(results.begin() + static_cast<std::ptrdiff_t>(limits.rows), results.end(), is_failure) : 0;
    cap_rows(rows, limits.rows, cut);
    if (hidden_failures > 0) rows.back()[0] += " (" + std::to_string(hidden_failures) + " of them failed)";
    auto body = md::table({"Node", "Status", "Time", "Rows", "Message"}, rows, {'l', 'l', 'r', 'r', 'l'});
    bool failed = std::any_of(results.begin(), results.end(), is_failure);
    return md::details(md::text(title), body, failed);
}

std::string column_changes_text(const DataChange& d, const Limits& limits) {
    std::vector<std::string> parts;
    for (const auto& c : d.columns) {
        switch (c.kind) {
            case ColumnChange::Kind::added: parts.push_back("added " + md::code(c.column) + " " + md::cell(c.after_type)); break;
            case ColumnChange::Kind::removed: parts.push_back("removed " + md::code(c.column)); break;
            case ColumnChange::Kind::retyped:
                parts.push_back(md::code(c.column) + " " + md::cell(c.before_type) + " → " + md::cell(c.after_type));
                break;
        }
    }
    auto cap = std::max<std::size_t>(limits.attributes == unlimited ? unlimited : limits.attributes, 3);
    if (parts.size() > cap) {
        auto more = parts.size() - cap;
        parts.resize(cap);
        parts.push_back("and " + std::to_string(more) + " more");
    }
    return join(parts, "; ");
}

std::string data_diff_section(const Report& report, const Limits& limits, Cut& cut);  // below

std::string data_changes_section(const Report& report, const Limits& limits, Cut& cut) {
    if (report.data_diff) return data_diff_section(report, limits, cut);
    if (report.data_changes.empty()) return {};
    std::vector<std::vector<std::string>> rows;
    std::size_t changed_schema = 0;
    auto count = [](std::int64_t n, bool estimated) { return (estimated ? "~" : "") + thousands(n); };
    for (const auto& d : report.data_changes) {
        std::string difference = "new";
        if (d.rows_production && d.rows_environment) {
            auto diff = *d.rows_environment - *d.rows_production;
            difference = (d.rows_environment_estimated || d.rows_production_estimated ? "~" : "") +
                         (diff > 0 ? "+" + thousands(diff) : thousands(diff));
        } else if (!d.rows_environment) {
            difference = "";
        }
        if (!d.columns.empty()) ++changed_schema;
        rows.push_back({md::code(d.model), d.rows_environment ? count(*d.rows_environment, d.rows_environment_estimated) : "",
                        d.rows_production ? count(*d.rows_production, d.rows_production_estimated) : "–", difference,
                        column_changes_text(d, limits)});
    }
    cap_rows(rows, limits.rows, cut);
    std::string title = "Data changes: " + plural(static_cast<std::int64_t>(report.data_changes.size()), "model", "models") +
                        " compared with production, " + std::to_string(changed_schema) + " with column changes";
    return md::details(md::text(title), md::table({"Model", "Rows (env)", "Rows (prod)", "Difference", "Columns"}, rows,
                                                  {'l', 'r', 'r', 'r', 'l'}));
}

// ---- the data diff ---------------------------------------------------------------------------------------------

std::string signed_count(std::int64_t n) { return (n > 0 ? "+" : "") + thousands(n); }

std::string diff_rows_text(const diff::ModelDiff& d) {
    if (d.method == diff::Method::not_compared) return "not compared";
    if (d.production_relation.empty()) return "new: " + thousands(d.rows_environment) + " rows";
    std::vector<std::string> parts;
    if (d.only_environment) parts.push_back("+" + thousands(d.only_environment) + " added");
    if (d.only_production) parts.push_back("−" + thousands(d.only_production) + " removed");
    if (d.changed) parts.push_back(thousands(d.changed) + " changed");
    if (d.duplicate_keys) parts.push_back(thousands(d.duplicate_keys) + " duplicate keys");
    if (parts.empty()) parts.push_back("no row differs");
    return join(parts, ", ");
}

std::string diff_columns_text(const diff::ModelDiff& d, const Limits& limits) {
    std::vector<std::string> parts;
    for (const auto& c : d.columns) {
        if (c.added()) parts.push_back("added " + md::code(c.name));
        else if (c.removed()) parts.push_back("removed " + md::code(c.name));
        else if (c.retyped()) parts.push_back(md::code(c.name) + " " + md::cell(c.before_type) + " → " + md::cell(c.after_type));
        else if (c.changed) parts.push_back(md::code(c.name) + " " + thousands(c.changed));
    }
    auto cap = std::max<std::size_t>(limits.attributes, 3);
    if (parts.size() > cap) {
        auto more = parts.size() - cap;
        parts.resize(cap);
        parts.push_back("and " + std::to_string(more) + " more");
    }
    return join(parts, "; ");
}

std::string diff_value(const std::optional<std::string>& v, bool sensitive, const Limits& limits) {
    if (sensitive) return "*sensitive*";
    return v ? md::code(md::clip(*v, limits.cell)) : "NULL";
}

// One changed model, folded: how it was compared, each column that moved, a few example rows.
std::string diff_model_details(const diff::ModelDiff& d, const Limits& limits, Cut& cut) {
    std::string body;
    std::string how = d.key.empty() ? "rows compared whole (no key)" : "key " + md::code(join(d.key, ", ")) + " (" +
                                                                       md::text(d.key_source) + ")";
    body += md::text(d.production_relation) + " → " + md::text(d.environment_relation) + ": " +
            thousands(d.rows_production) + " → " + thousands(d.rows_environment) + " rows; " + how + "; " +
            thousands(d.unchanged) + " unchanged.\n";
    if (!d.note.empty()) body += "\n> " + md::text(d.note) + "\n";
    std::vector<std::vector<std::string>> columns;
    for (const auto& c : d.columns) {
        bool moved = c.added() || c.removed() || c.retyped() || c.changed || c.nulls_before != c.nulls_after ||
                     c.distinct_before != c.distinct_after;
        if (!moved) continue;
        std::string what = c.added() ? "added " + md::cell(c.after_type)
                         : c.removed() ? "removed"
                         : c.retyped() ? md::cell(c.before_type) + " → " + md::cell(c.after_type) : "";
        auto pair = [](const std::optional<std::int64_t>& a, const std::optional<std::int64_t>& b) -> std::string {
            if (!a || !b || *a == *b) return "";
            return thousands(*a) + " → " + thousands(*b);
        };
        columns.push_back({md::code(c.name) + (c.sensitive ? " (sensitive)" : ""), what,
                           c.changed ? thousands(c.changed) : "", pair(c.nulls_before, c.nulls_after),
                           pair(c.distinct_before, c.distinct_after)});
    }
    if (!columns.empty()) {
        cap_rows(columns, limits.rows, cut);
        body += "\n" + md::table({"Column", "Type", "Rows changed", "Nulls", "Distinct"}, columns, {'l', 'l', 'r', 'r', 'r'});
    }
    std::vector<std::vector<std::string>> examples;
    for (const auto& e : d.examples) {
        std::vector<std::string> key;
        for (const auto& [column, value] : e.key) key.push_back(md::code(column) + " = " + diff_value(value, false, limits));
        std::vector<std::string> values;
        for (const auto& v : e.values) {
            if (e.kind == diff::ExampleRow::Kind::changed) {
                values.push_back(md::code(v.column) + ": " + diff_value(v.before, v.sensitive, limits) + " → " +
                                 diff_value(v.after, v.sensitive, limits));
            } else {
                const auto& value = e.kind == diff::ExampleRow::Kind::only_production ? v.before : v.after;
                values.push_back(md::code(v.column) + " = " + diff_value(value, v.sensitive, limits));
            }
        }
        std::string kind = e.kind == diff::ExampleRow::Kind::changed ? "changed"
                         : e.kind == diff::ExampleRow::Kind::only_production ? "only in production"
                                                                              : "only in the environment";
        examples.push_back({kind, join(key, ", "), join(values, "; ")});
    }
    if (!examples.empty()) {
        cap_rows(examples, limits.rows, cut);
        body += "\n" + md::table({"Example", "Key", "Values"}, examples, {'l', 'l', 'l'});
    }
    std::string title = md::code(d.model) + ": " + md::text(diff_rows_text(d));
    if (d.method != diff::Method::by_key && d.method != diff::Method::full_row && d.method != diff::Method::not_compared)
        title += " (sample)";
    return md::details(title, body);
}

std::string data_diff_section(const Report& report, const Limits& limits, Cut& cut) {
    const auto& run = *report.data_diff;
    if (run.models.empty()) return {};
    std::vector<std::vector<std::string>> rows;
    std::string folded;
    std::size_t differing = 0, shown = 0;
    for (const auto& d : run.models) {  // most affected first (lib/diff sorts them)
        if (!d.differs()) continue;
        ++differing;
        rows.push_back({md::code(d.model), thousands(d.rows_production), thousands(d.rows_environment),
                        md::text(diff_rows_text(d)), diff_columns_text(d, limits)});
        if (shown++ < limits.rows) folded += diff_model_details(d, limits, cut);
    }
    std::string title = "Data diff: " + plural(static_cast<std::int64_t>(run.models.size()), "model", "models") +
                        " compared with production, " + std::to_string(differing) + " changed";
    if (run.budget_reached) title += " (budget reached)";
    if (rows.empty()) return md::details(md::text(title), "No model's data differs from production.\n");
    cap_rows(rows, limits.rows, cut);
    if (differing > shown) cut.any = true;
    auto table = md::table({"Model", "Rows (prod)", "Rows (env)", "Rows", "Columns"}, rows, {'l', 'r', 'r', 'l', 'l'});
    return md::details(md::text(title), table + "\n" + folded, true);
}

std::string hints_section(const Report& report) {
    if (report.header.status == Status::destroyed) return {};
    const auto& branch = report.header.branch.empty() ? report.header.environment : report.header.branch;
    return "**Connect:** " + md::code("ece-env hints --branch " + shell_word(branch)) +
           " prints how to reach this environment (credentials stay out of comments).\n";
}

std::string shortened_warning(const Report& report, const RenderOptions& options) {
    if (options.job_summary) {
        return "> [!WARNING]\n> This report was shortened to fit the job summary's 1 MiB limit: long tables are cut.\n";
    }
    std::string where = report.header.run_url.empty() ? std::string("the job summary of the workflow run")
                                                       : "the job summary of " + md::link("the workflow run", report.header.run_url);
    auto limit = options.max_bytes == github_comment_limit
        ? std::string("GitHub's 65,536-character limit")
        : "the " + thousands(static_cast<std::int64_t>(options.max_bytes)) + "-character limit";
    return "> [!WARNING]\n> This comment was shortened to fit " + limit + ": long tables are cut. "
           "The full report is in " + where + ".\n";
}

std::string body(const Report& report, const Limits& limits, Cut& cut) {
    std::vector<std::string> sections = {
        environment_plan_section(report, limits, cut), terraform_section(report, limits, cut),
        cost_section(report, limits, cut),             dbt_plan_section(report, limits, cut),
        dbt_results_section(report, limits, cut),      data_changes_section(report, limits, cut),
        hints_section(report),
    };
    return join(sections, "\n");
}

std::string assemble(const std::string& summary, const std::string& header, const std::string& warning,
                     const std::string& warnings, const std::string& sections) {
    std::string out = summary + "\n";
    if (!header.empty()) out += "\n" + header;
    if (!warning.empty()) out += "\n" + warning;
    if (!warnings.empty()) out += "\n" + warnings;
    if (!sections.empty()) out += "\n" + sections;
    return out;
}

Rendered finish(const Report& report, std::string content, bool shortened) {
    Rendered r;
    r.digest = sha256_hex(content);
    r.markdown = std::move(content) + "\n" + make_marker(report.header.environment, r.digest) + "\n";
    r.shortened = shortened;
    return r;
}

// A copy of the report with every registered secret masked in every text, before anything is clipped or escaped:
// escaping ("a_b" -> "a\_b") or clipping could otherwise split a secret so that masking the output misses it.
void mask(std::string& s) { s = mask_secrets(s); }
void mask(std::vector<std::string>& v) {
    for (auto& s : v) mask(s);
}

Report masked_copy(const Report& original) {
    Report r = original;
    mask(r.header.environment);
    mask(r.header.branch);
    mask(r.header.head_sha);
    mask(r.header.run_url);
    mask(r.header.schemas);
    for (auto& line : r.environment_plan) {
        mask(line.action);
        mask(line.what);
        mask(line.detail);
    }
    if (r.terraform) {
        for (auto& c : r.terraform->plan.resource_changes) {
            mask(c.address);
            mask(c.previous_address);
            mask(c.type);
            mask(c.action_reason);
            mask(c.replace_paths);
            for (auto& a : c.changes) {
                mask(a.path);
                mask(a.before);
                mask(a.after);
            }
        }
    }
    if (r.cost) {
        if (r.cost->terraform) {
            for (auto& c : r.cost->terraform->resources) {
                mask(c.address);
                mask(c.before_detail);
                mask(c.after_detail);
            }
            for (auto& u : r.cost->terraform->not_priced) {
                mask(u.address);
                mask(u.type);
                mask(u.reason);
            }
        }
        if (r.cost->environment) mask(r.cost->environment->basis);
        mask(r.cost->prices_note);
    }
    if (r.dbt_plan) {
        auto& p = *r.dbt_plan;
        mask(p.selector);
        mask(p.state_source);
        mask(p.full_build_reason);
        for (auto& n : p.selected) {
            mask(n.unique_id);
            mask(n.resource_type);
            mask(n.name);
            mask(n.reasons);
        }
        mask(p.removed);
        mask(p.warnings);
    }
    if (r.dbt_results) {
        for (auto& d : *r.dbt_results) {
            mask(d.unique_id);
            mask(d.resource_type);
            mask(d.status);
            mask(d.message);
        }
    }
    for (auto& d : r.data_changes) {
        mask(d.model);
        for (auto& c : d.columns) {
            mask(c.column);
            mask(c.before_type);
            mask(c.after_type);
        }
    }
    if (r.data_diff) {
        for (auto& d : r.data_diff->models) {
            mask(d.model);
            mask(d.note);
            for (auto& c : d.columns) mask(c.name);
            for (auto& e : d.examples) {
                for (auto& [column, value] : e.key) {
                    mask(column);
                    if (value) mask(*value);
                }
                for (auto& v : e.values) {
                    if (v.before) mask(*v.before);
                    if (v.after) mask(*v.after);
                }
            }
        }
    }
    mask(r.warnings);
    return r;
}

}  // namespace

std::string summary_line(const Report& original) {
    auto report = masked_copy(original);
    const auto& h = report.header;
    std::string line = std::string(status_emoji(h.status)) + " ece: " + md::code(h.environment) + " " +
                       std::string(status_name(h.status));
    std::vector<std::string> parts = {line, dbt_summary(report), cost_summary(report)};
    return mask_secrets(join(parts, " · "));
}

Rendered render(const Report& original, const RenderOptions& options) {
    auto report = masked_copy(original);
    auto summary = summary_line(report);
    auto header = header_line(report.header);
    auto marker_size = make_marker(report.header.environment, std::string(64, '0')).size() + 2;
    for (const auto& limits : levels) {
        Cut cut;
        auto warnings = warnings_section(report, limits, cut);
        auto sections = body(report, limits, cut);
        auto warning = cut.any ? shortened_warning(report, options) : std::string();
        auto content = mask_secrets(assemble(summary, header, warning, warnings, sections));
        if (content.size() + marker_size <= options.max_bytes) return finish(report, std::move(content), cut.any);
    }
    // Nothing fits (huge warnings or names): the summary line and the warning alone.
    auto content = mask_secrets(assemble(summary, header, shortened_warning(report, options), {}, {}));
    if (content.size() + marker_size > options.max_bytes) content = md::clip(summary, options.max_bytes / 2) + "\n";
    return finish(report, std::move(content), true);
}

}  // namespace ece::comment
