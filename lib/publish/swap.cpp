#include "publish/swap.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "pg/as_role.hpp"
#include "pg/ident.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace ece::publish::detail {
namespace {

using Oid = std::uint32_t;

struct Relation {
    Oid oid = 0;
    char relkind = 'r';
    std::string owner;
};

// One item, resolved against the catalog.
struct Resolved {
    const SwapItem* item = nullptr;
    std::optional<Relation> incoming;
    std::optional<Relation> current;  // what the production name holds now (it moves to the archive)
    std::string archive_schema;       // set when current exists
};

std::string qualified(const QualifiedName& name) {
    return pg::quote_ident(name.schema) + "." + pg::quote_ident(name.name);
}

// The ALTER keyword for a relkind.
std::string alter_keyword(char relkind) {
    switch (relkind) {
        case 'v': return "VIEW";
        case 'm': return "MATERIALIZED VIEW";
        case 'f': return "FOREIGN TABLE";
        default: return "TABLE";
    }
}

std::string kind_word(char relkind) {
    switch (relkind) {
        case 'v': return "view";
        case 'm': return "materialized view";
        case 'f': return "foreign table";
        default: return "table";
    }
}

bool matches(RelationKind kind, char relkind) {
    switch (kind) {
        case RelationKind::table: return relkind == 'r' || relkind == 'p';
        case RelationKind::view: return relkind == 'v';
        case RelationKind::materialized_view: return relkind == 'm';
    }
    return false;
}

RelationKind kind_of(char relkind) {
    if (relkind == 'v') return RelationKind::view;
    if (relkind == 'm') return RelationKind::materialized_view;
    return RelationKind::table;
}

// Views first, then materialized views, then tables: the order readers lock them (a view, then what it reads), so
// the swap does not deadlock against a reader holding the view while it waits for the table.
int lock_rank(char relkind) { return relkind == 'v' ? 0 : relkind == 'm' ? 1 : 2; }

// Looks all names up in one round trip (a publish has hundreds).
std::vector<std::optional<Relation>> find_relations(pqxx::transaction_base& tx, const std::vector<QualifiedName>& names) {
    std::vector<std::string> schemas, relnames;
    for (const auto& n : names) {
        schemas.push_back(n.schema);
        relnames.push_back(n.name);
    }
    std::vector<std::optional<Relation>> found(names.size());
    if (names.empty()) return found;
    auto rows = tx.exec_params(
        "SELECT u.i, c.oid::int8, c.relkind::text, pg_get_userbyid(c.relowner) "
        "FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, n, i) "
        "JOIN pg_namespace ns ON ns.nspname = u.s "
        "JOIN pg_class c ON c.relnamespace = ns.oid AND c.relname = u.n AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        text_array(schemas), text_array(relnames));
    for (const auto& row : rows) {
        found.at(row[0].as<std::size_t>() - 1) = Relation{static_cast<Oid>(row[1].as<std::int64_t>()),
                                                          row[2].as<std::string>()[0], row[3].as<std::string>()};
    }
    return found;
}

QualifiedName name_of(pqxx::transaction_base& tx, Oid oid) {
    auto row = tx.exec_params1(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = $1::int8::oid",
        static_cast<std::int64_t>(oid));
    return {row[0].as<std::string>(), row[1].as<std::string>()};
}

std::string oid_array(const std::vector<Oid>& oids) {
    std::string out = "{";
    for (std::size_t i = 0; i < oids.size(); ++i) out += (i ? "," : "") + std::to_string(oids[i]);
    return out + "}";
}

std::string archive_for(const SwapPlan& plan, const std::vector<std::string>& schemas, const std::string& schema) {
    auto at = std::find(schemas.begin(), schemas.end(), schema);
    return archive_schema_name(plan.id, plan.archive_token, static_cast<std::size_t>(at - schemas.begin()));
}

// A production schema that belongs to someone else than production's role, ece's own or a superuser (an
// environment that created "analytics_marts" before production did, when environments could create schemas) would
// give its owner the power to drop or replace what publish moves in: refused. A publish that names no production role
// (one given only relations) still refuses every schema an environment's role owns.
void refuse_foreign_production_schemas(pqxx::transaction_base& tx, const SwapPlan& plan) {
    std::vector<std::string> schemas;
    for (const auto& item : plan.items) schemas.push_back(item.target.schema);
    if (plan.production_role.empty() && !catalog::has_table(tx, "ece.environments")) return;
    const std::string owner_is_foreign =
        plan.production_role.empty()
            ? "r.rolname IN (SELECT e.role_name FROM ece.environments e) AND r.rolname <> $2"
            : "NOT r.rolsuper AND r.rolname <> current_user AND r.rolname <> $2";
    auto rows = tx.exec_params(
        "SELECT n.nspname, r.rolname FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_roles r ON r.oid = n.nspowner "
        "WHERE n.nspname = ANY($1::text[]) AND " + owner_is_foreign + " ORDER BY 1",
        text_array(schemas), plan.production_role);
    if (rows.empty()) return;
    const std::string expected = plan.production_role.empty() ? "an environment's role"
                                                              : "not to production's role " + plan.production_role +
                                                                    " (or ece's)";
    throw Error(ErrorKind::conflict, "refusing to publish into schema " + rows[0][0].as<std::string>() +
                                         ": it belongs to role " + rows[0][1].as<std::string>() + ", " + expected +
                                         "; give it to production's role first");
}

std::vector<Resolved> resolve(pqxx::transaction_base& tx, const SwapPlan& plan) {
    refuse_foreign_production_schemas(tx, plan);
    std::set<QualifiedName> targets;
    std::vector<std::string> production_schemas;  // those that archive something, sorted
    std::vector<Resolved> resolved;
    std::vector<QualifiedName> names;
    for (const auto& item : plan.items) {
        names.push_back(item.target);
        names.push_back(item.incoming.value_or(item.target));
    }
    auto found = find_relations(tx, names);
    for (std::size_t i = 0; i < plan.items.size(); ++i) {
        const auto& item = plan.items[i];
        if (!targets.insert(item.target).second) {
            throw Error(ErrorKind::input, "two relations go to " + display(item.target));
        }
        Resolved r{&item, std::nullopt, found[2 * i], ""};
        if (item.incoming) {
            if (item.incoming->schema == item.target.schema) {
                throw Error(ErrorKind::input, display(*item.incoming) + " is in the production schema already");
            }
            r.incoming = found[2 * i + 1];
            if (!r.incoming) {
                throw Error(ErrorKind::conflict,
                            display(*item.incoming) + (item.unique_id.empty() ? "" : " (" + item.unique_id + ")") +
                                " does not exist; was the environment built, or published already?");
            }
            if (!matches(item.kind, r.incoming->relkind)) {
                throw Error(ErrorKind::input, display(*item.incoming) + " is a " + kind_word(r.incoming->relkind) +
                                                  ", not a " + std::string(to_string(item.kind)));
            }
        } else if (!r.current) {
            throw Error(ErrorKind::conflict, display(item.target) + " does not exist any more");
        }
        if (item.expected_current_oid && (!r.current || r.current->oid != *item.expected_current_oid)) {
            throw Error(ErrorKind::conflict, display(item.target) +
                                                 " is no longer the relation that publish put there "
                                                 "(replaced or dropped since)");
        }
        if (r.current) production_schemas.push_back(item.target.schema);
        resolved.push_back(r);
    }
    std::sort(production_schemas.begin(), production_schemas.end());
    production_schemas.erase(std::unique(production_schemas.begin(), production_schemas.end()),
                             production_schemas.end());
    for (auto& r : resolved) {
        if (r.current) r.archive_schema = archive_for(plan, production_schemas, r.item->target.schema);
    }
    return resolved;
}

// The environment schemas the incoming relations come from.
std::vector<std::string> incoming_schemas_of(const std::vector<Resolved>& resolved) {
    std::set<std::string> schemas;
    for (const auto& r : resolved) {
        if (r.incoming) schemas.insert(r.item->incoming->schema);
    }
    return {schemas.begin(), schemas.end()};
}

// What depends on the relations leaving production, sorted out: views to recreate against the new relations, and
// objects that would be left reading the archive (blockers).
using SchemaPair = std::pair<std::string, std::string>;  // (schema a view reads now, schema to read instead)

struct Analysis {
    std::map<Oid, std::set<SchemaPair>> rebind;  // view -> the schemas it reads that change
    std::vector<std::string> blockers;
};

// Whether `name` holds a relation once the swap is done: an item's target holds its incoming relation (none when
// the item only moves the current one out); any other name keeps what it holds now.
std::vector<bool> exist_after_swap(pqxx::transaction_base& tx, const std::vector<Resolved>& resolved,
                                   const std::vector<QualifiedName>& names) {
    std::map<QualifiedName, bool> targets;
    for (const auto& r : resolved) targets[r.item->target] = r.incoming.has_value();
    auto found = find_relations(tx, names);
    std::vector<bool> exists(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        auto target = targets.find(names[i]);
        exists[i] = target != targets.end() ? target->second : found[i].has_value();
    }
    return exists;
}

// What the incoming relations carry with them (their rules, triggers, policies, defaults, constraints, indexes,
// owned sequences, row types: everything that depends on them automatically or internally, recursively) must not
// use an object that stays behind and belongs to the environment: a function, type, operator, collation or
// relation owned by the environment's role or living in a schema it owns. Production's readers would run the pull
// request's code, and the environment's down would take it away (or fail). pg_depend records every such use, by
// any object class; built-ins are pinned and never appear. The relations a view reads are sorted out by analyze().
std::vector<std::string> environment_dependencies(pqxx::transaction_base& tx, const SwapPlan& plan,
                                                  const std::vector<Resolved>& resolved) {
    std::vector<Oid> incoming;
    // The environment's roles: whoever owns an incoming relation, but production's role and ece's own.
    std::vector<std::string> owners;
    for (const auto& r : resolved) {
        if (!r.incoming) continue;
        incoming.push_back(r.incoming->oid);
        if (r.incoming->owner != plan.production_role) owners.push_back(r.incoming->owner);
    }
    if (incoming.empty() || owners.empty()) return {};
    std::vector<std::string> counterparts;
    for (const auto& [schema, _] : plan.counterpart_schemas) counterparts.push_back(schema);
    auto rows = tx.exec_params(
        "WITH RECURSIVE part(root, classid, objid) AS ("
        "  SELECT c.oid, 'pg_class'::regclass::oid, c.oid FROM pg_class c WHERE c.oid = ANY($1::oid[])"
        "  UNION SELECT p.root, d.classid, d.objid FROM part p JOIN pg_depend d"
        "   ON d.refclassid = p.classid AND d.refobjid = p.objid AND d.deptype IN ('a', 'i')),"
        " used AS ("
        "  SELECT DISTINCT p.root, d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid"
        "  FROM part p JOIN pg_depend d ON d.classid = p.classid AND d.objid = p.objid AND d.deptype = 'n'"
        "  WHERE d.refclassid <> 'pg_namespace'::regclass"
        "   AND NOT EXISTS (SELECT 1 FROM part q WHERE q.classid = d.refclassid AND q.objid = d.refobjid)),"
        " described AS ("
        "  SELECT u.*, (pg_identify_object(u.refclassid, u.refobjid, 0)).schema AS schema,"
        "   CASE u.refclassid"
        "    WHEN 'pg_proc'::regclass THEN (SELECT proowner FROM pg_proc WHERE oid = u.refobjid)"
        "    WHEN 'pg_type'::regclass THEN (SELECT typowner FROM pg_type WHERE oid = u.refobjid)"
        "    WHEN 'pg_class'::regclass THEN (SELECT relowner FROM pg_class WHERE oid = u.refobjid)"
        "    WHEN 'pg_operator'::regclass THEN (SELECT oprowner FROM pg_operator WHERE oid = u.refobjid)"
        "    WHEN 'pg_collation'::regclass THEN (SELECT collowner FROM pg_collation WHERE oid = u.refobjid)"
        "    WHEN 'pg_opclass'::regclass THEN (SELECT opcowner FROM pg_opclass WHERE oid = u.refobjid)"
        "    WHEN 'pg_opfamily'::regclass THEN (SELECT opfowner FROM pg_opfamily WHERE oid = u.refobjid)"
        "    WHEN 'pg_conversion'::regclass THEN (SELECT conowner FROM pg_conversion WHERE oid = u.refobjid)"
        "    WHEN 'pg_ts_config'::regclass THEN (SELECT cfgowner FROM pg_ts_config WHERE oid = u.refobjid)"
        "    WHEN 'pg_ts_dict'::regclass THEN (SELECT dictowner FROM pg_ts_dict WHERE oid = u.refobjid)"
        "    WHEN 'pg_statistic_ext'::regclass THEN (SELECT stxowner FROM pg_statistic_ext WHERE oid = u.refobjid)"
        "   END AS owner"
        "  FROM used u),"
        " environment AS (SELECT array_remove($2::text[], current_user::text) AS roles)"
        " SELECT DISTINCT pg_describe_object('pg_class'::regclass, d.root, 0),"
        "  pg_describe_object(d.classid, d.objid, d.objsubid), pg_describe_object(d.refclassid, d.refobjid, 0),"
        "  pg_get_userbyid(coalesce(d.owner, 0)) = ANY(e.roles),"
        "  d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
        " FROM described d CROSS JOIN environment e LEFT JOIN pg_namespace n ON n.nspname = d.schema"
        " WHERE (pg_get_userbyid(coalesce(d.owner, 0)) = ANY(e.roles)"
        "        OR pg_get_userbyid(coalesce(n.nspowner, 0)) = ANY(e.roles))"
        "   AND NOT (d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass"
        "            AND (d.schema = ANY($3::text[]) OR d.schema = ANY($4::text[])))"
        " ORDER BY 1, 2, 3",
        oid_array(incoming), text_array(owners), text_array(counterparts), text_array(incoming_schemas_of(resolved)));
    std::vector<std::string> blockers;
    for (const auto& row : rows) {
        const auto relation = row[0].as<std::string>(), part = row[1].as<std::string>();
        blockers.push_back(relation + (part == relation ? "" : " (" + part + ")") + " uses " +
                           row[2].as<std::string>() +
                           (row[3].as<bool>() ? ", which the environment owns" : ", which lives in the environment") +
                           " and does not move with it");
    }
    return blockers;
}

Analysis analyze(pqxx::transaction_base& tx, const SwapPlan& plan, const std::vector<Resolved>& resolved) {
    std::set<Oid> leaving, replaced, incoming, rebindable;
    std::set<std::string> incoming_schemas;
    std::map<Oid, QualifiedName> target_of;  // leaving oid -> production name, for messages
    std::map<Oid, std::string> archive_of;   // leaving oid -> its archive schema
    for (const auto& r : resolved) {
        if (r.current) {
            leaving.insert(r.current->oid);
            target_of[r.current->oid] = r.item->target;
            archive_of[r.current->oid] = r.archive_schema;
            if (r.incoming) replaced.insert(r.current->oid);
        }
        if (r.incoming) {
            incoming.insert(r.incoming->oid);
            incoming_schemas.insert(r.item->incoming->schema);
        }
    }
    for (const auto& found : find_relations(tx, {plan.rebindable_views.begin(), plan.rebindable_views.end()})) {
        if (found && found->relkind == 'v') rebindable.insert(found->oid);
    }

    Analysis analysis;
    if (!leaving.empty()) {
        auto rows = tx.exec_params(
            "SELECT DISTINCT d.refobjid::int8, d.classid = 'pg_rewrite'::regclass, "
            " coalesce(r.ev_class, con.conrelid, 0)::int8, coalesce(dc.relkind::text, ''), "
            " coalesce(dn.nspname, ''), coalesce(dc.relname, ''), pg_describe_object(d.classid, d.objid, d.objsubid) "
            "FROM pg_depend d "
            "LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid "
            "LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid "
            "LEFT JOIN pg_class dc ON dc.oid = coalesce(r.ev_class, con.conrelid) "
            "LEFT JOIN pg_namespace dn ON dn.oid = dc.relnamespace "
            "WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = ANY($1::oid[]) AND d.deptype = 'n' "
            "ORDER BY 1, 3, 7",
            oid_array({leaving.begin(), leaving.end()}));
        for (const auto& row : rows) {
            auto target = static_cast<Oid>(row[0].as<std::int64_t>());
            bool is_rule = row[1].as<bool>();
            auto dependent = static_cast<Oid>(row[2].as<std::int64_t>());
            auto relkind = row[3].as<std::string>();
            QualifiedName dependent_name{row[4].as<std::string>(), row[5].as<std::string>()};
            if (dependent != 0 && (dependent == target || leaving.count(dependent))) continue;
            bool view = is_rule && relkind == "v";
            if (view && (incoming.count(dependent) || rebindable.count(dependent))) {
                if (replaced.count(target)) {
                    analysis.rebind[dependent].insert({archive_of[target], target_of[target].schema});
                } else {
                    analysis.blockers.push_back("view " + display(dependent_name) + " reads " +
                                                display(target_of[target]) +
                                                ", which this swap removes without a replacement");
                }
                continue;
            }
            if (dependent != 0 && plan.tolerated_schemas.count(dependent_name.schema)) continue;
            std::string what = is_rule && !relkind.empty() ? kind_word(relkind[0]) + " " + display(dependent_name)
                                                           : row[6].as<std::string>();
            analysis.blockers.push_back(what + " depends on " + display(target_of[target]));
        }
    }

    // An incoming view must not keep reading an environment relation that stays behind (it would be dropped with
    // the environment, or take the production view with it). One in a counterpart schema (the environment's raw
    // views) is read from production's counterpart instead, which must exist after the swap.
    std::vector<Oid> incoming_views;
    for (const auto& r : resolved) {
        if (r.incoming && r.incoming->relkind != 'r' && r.incoming->relkind != 'p') {
            incoming_views.push_back(r.incoming->oid);
        }
    }
    if (!incoming_views.empty()) {
        auto rows = tx.exec_params(
            "SELECT DISTINCT r.ev_class::int8, vn.nspname, v.relname, d.refobjid::int8, n.nspname, c.relname "
            "FROM pg_rewrite r "
            "JOIN pg_class v ON v.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace "
            "JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid "
            " AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'n' "
            "JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE r.ev_class = ANY($1::oid[]) AND d.refobjid <> r.ev_class ORDER BY 2, 3, 5, 6",
            oid_array(incoming_views));
        std::vector<QualifiedName> counterparts;  // per row; empty schema when the row has none
        for (const auto& row : rows) {
            auto to = plan.counterpart_schemas.find(row[4].as<std::string>());
            counterparts.push_back({to == plan.counterpart_schemas.end() ? "" : to->second, row[5].as<std::string>()});
        }
        auto counterpart_exists = exist_after_swap(tx, resolved, counterparts);
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const auto& row = rows[i];
            auto referenced = static_cast<Oid>(row[3].as<std::int64_t>());
            auto schema = row[4].as<std::string>();
            if (incoming.count(referenced)) continue;
            QualifiedName view{row[1].as<std::string>(), row[2].as<std::string>()};
            QualifiedName read{schema, row[5].as<std::string>()};
            if (!counterparts[i].schema.empty()) {
                if (counterpart_exists[i]) {
                    analysis.rebind[static_cast<Oid>(row[0].as<std::int64_t>())].insert({schema, counterparts[i].schema});
                } else {
                    analysis.blockers.push_back("view " + display(view) + " reads " + display(read) + ", and " +
                                                display(counterparts[i]) +
                                                " does not exist (publish the staged view with it)");
                }
                continue;
            }
            if (!incoming_schemas.count(schema)) continue;
            analysis.blockers.push_back("view " + display(view) + " reads " + display(read) +
                                        ", which is not part of this publish");
        }
    }
    for (auto& blocker : environment_dependencies(tx, plan, resolved)) analysis.blockers.push_back(std::move(blocker));
    return analysis;
}

void refuse_blockers(const Analysis& analysis) {
    if (analysis.blockers.empty()) return;
    std::string list;
    for (const auto& b : analysis.blockers) list += "\n  " + b;
    throw Error(ErrorKind::conflict,
                "refusing to publish: these objects would be left reading the archived relations or the "
                "environment (drop or recreate them, or build them as dbt models):" +
                    list);
}

std::string move_statement(char relkind, const QualifiedName& from, const std::string& to_schema) {
    return "ALTER " + alter_keyword(relkind) + " " + qualified(from) + " SET SCHEMA " + pg::quote_ident(to_schema) +
           ";\n";
}

// Recreates view `view` so that what it read in each "from" schema (an archive, or the environment's raw schema)
// it now reads under the same name in the "to" schema (production's). pg_get_viewdef prints a relation unqualified
// exactly when search_path finds it, so with search_path = pg_catalog, the from schema, its relations there come
// out unqualified and everything else qualified; replaying that text with search_path = pg_catalog, the to schema
// binds those names to the relations there. CREATE OR REPLACE keeps the view's OID, owner, grants and dependents.
// The from schema may be the pull request's: while it is on the path, the one statement that runs names every
// function and type with its schema (a planted array_to_string(text[], text) there would beat pg_catalog's
// polymorphic one, and run as the admin), and CREATE VIEW executes nothing.
void rebind_view(pqxx::transaction_base& tx, Oid view, const std::set<SchemaPair>& schemas) {
    auto name = name_of(tx, view);
    const auto oid = std::to_string(view);
    const std::string safe_path = "SET LOCAL search_path = " + std::string(pg::safe_search_path);
    for (const auto& [from, to] : schemas) {
        tx.exec0(safe_path);
        auto options = tx.exec_params1("SELECT pg_catalog.array_to_string(c.reloptions, ', ') "
                                       "FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.oid",
                                       oid)[0];
        const std::string with = options.is_null() ? "" : " WITH (" + options.as<std::string>() + ")";
        tx.exec0("SET LOCAL search_path = pg_catalog, " + pg::quote_ident(from));
        auto definition =
            tx.exec_params1("SELECT pg_catalog.pg_get_viewdef($1::pg_catalog.oid)", oid)[0].as<std::string>();
        tx.exec0("SET LOCAL search_path = pg_catalog, " + pg::quote_ident(to));
        try {
            tx.exec0("CREATE OR REPLACE VIEW " + qualified(name) + with + " AS " + definition);
        } catch (const pqxx::sql_error& e) {
            throw Error(ErrorKind::conflict, "cannot recreate view " + display(name) + " to read the relations of " +
                                                 pg::quote_ident(to) + " instead of " + pg::quote_ident(from) +
                                                 " (build it in the environment too, or publish the staged data "
                                                 "it reads): " + e.what());
        }
        tx.exec0(safe_path);
    }
}

const std::set<std::string>& known_privileges() {
    static const std::set<std::string> privileges = {"SELECT",     "INSERT",  "UPDATE",  "DELETE",
                                                     "TRUNCATE",   "REFERENCES", "TRIGGER", "MAINTAIN"};
    return privileges;
}

std::string grantee_sql(const std::string& grantee) {
    return grantee.empty() ? std::string("PUBLIC") : pg::quote_ident(grantee);
}

// ACL entries other than the owner's, of many relations at once: oid -> (grantee or "" for PUBLIC, privilege,
// grantable).
std::map<Oid, std::vector<std::tuple<std::string, std::string, bool>>> acl_entries(pqxx::transaction_base& tx,
                                                                                   const std::vector<Oid>& oids) {
    std::map<Oid, std::vector<std::tuple<std::string, std::string, bool>>> out;
    if (oids.empty()) return out;
    for (const auto& row : tx.exec_params(
             "SELECT DISTINCT c.oid::int8, CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, "
             " a.privilege_type, a.is_grantable FROM pg_class c, aclexplode(c.relacl) a "
             "WHERE c.oid = ANY($1::oid[]) AND a.grantee <> c.relowner ORDER BY 1, 2, 3",
             oid_array(oids))) {
        out[static_cast<Oid>(row[0].as<std::int64_t>())].emplace_back(row[1].as<std::string>(), row[2].as<std::string>(),
                                                                      row[3].as<bool>());
    }
    return out;
}

// Each new relation gets the replaced one's owner (or the production role) and exactly its ACL; all statements
// in one round trip.
void carry_privileges(pqxx::transaction_base& tx, const std::vector<Resolved>& resolved,
                      const std::string& production_role) {
    std::vector<Oid> oids;
    for (const auto& r : resolved) {
        if (!r.incoming) continue;
        oids.push_back(r.incoming->oid);
        if (r.current) oids.push_back(r.current->oid);
    }
    auto acls = acl_entries(tx, oids);
    std::string statements;
    for (const auto& r : resolved) {
        if (!r.incoming) continue;
        const auto& target = r.item->target;
        std::string owner = r.current ? r.current->owner : production_role;
        if (!owner.empty() && owner != r.incoming->owner) {
            statements += "ALTER " + alter_keyword(r.incoming->relkind) + " " + qualified(target) + " OWNER TO " +
                          pg::quote_ident(owner) + ";\n";
        }
        std::set<std::string> revoked;
        for (const auto& [grantee, privilege, grantable] : acls[r.incoming->oid]) {
            if (revoked.insert(grantee).second) {
                statements += "REVOKE ALL ON TABLE " + qualified(target) + " FROM " + grantee_sql(grantee) + ";\n";
            }
        }
        if (!r.current) continue;
        for (const auto& [grantee, privilege, grantable] : acls[r.current->oid]) {
            if (!known_privileges().count(privilege)) {
                throw Error(ErrorKind::internal, "unknown privilege '" + privilege + "' on " + display(target));
            }
            statements += "GRANT " + privilege + " ON TABLE " + qualified(target) + " TO " + grantee_sql(grantee) +
                          (grantable ? " WITH GRANT OPTION" : "") + ";\n";
        }
    }
    if (!statements.empty()) tx.exec0(statements);
}

SwapOutcome outcome_of(const std::vector<Resolved>& resolved) {
    SwapOutcome outcome;
    for (const auto& r : resolved) {
        RelationMove m;
        m.production = r.item->target;
        m.kind = r.incoming ? kind_of(r.incoming->relkind) : kind_of(r.current->relkind);
        m.from_schema = r.item->incoming ? r.item->incoming->schema : "";
        if (r.current) {
            m.archive_schema = r.archive_schema;
            m.archived_kind = kind_of(r.current->relkind);
            m.archived_oid = r.current->oid;
            if (std::find(outcome.archive_schemas.begin(), outcome.archive_schemas.end(), r.archive_schema) ==
                outcome.archive_schemas.end()) {
                outcome.archive_schemas.push_back(r.archive_schema);
            }
        }
        m.unique_id = r.item->unique_id;
        m.oid = r.incoming ? r.incoming->oid : 0;
        m.incoming = r.incoming.has_value();
        outcome.moves.push_back(m);
    }
    std::sort(outcome.archive_schemas.begin(), outcome.archive_schemas.end());
    return outcome;
}

}  // namespace

std::string text_array(const std::vector<std::string>& items) {
    std::string out = "{";
    for (std::size_t i = 0; i < items.size(); ++i) {
        out += i ? ",\"" : "\"";
        for (char c : items[i]) {
            if (c == '"' || c == '\\') out.push_back('\\');
            out.push_back(c);
        }
        out += "\"";
    }
    return out + "}";
}

std::string archive_schema_name(std::int64_t id, const std::string& token, std::size_t index) {
    auto base = "ece_archive_" + std::to_string(id) + "_" + token;
    return index == 0 ? base : base + "_" + std::to_string(index + 1);
}

SwapOutcome check_swap(pqxx::transaction_base& tx, const SwapPlan& plan) {
    auto resolved = resolve(tx, plan);
    auto analysis = analyze(tx, plan, resolved);
    refuse_blockers(analysis);
    auto outcome = outcome_of(resolved);
    for (const auto& [view, _] : analysis.rebind) outcome.rebound_views.push_back(name_of(tx, view));
    return outcome;
}

SwapOutcome run_swap(pqxx::transaction_base& tx, const SwapPlan& plan) {
    auto resolved = resolve(tx, plan);
    refuse_blockers(analyze(tx, plan, resolved));  // before any lock on production relations

    auto outcome = outcome_of(resolved);
    for (const auto& schema : outcome.archive_schemas) {
        // Never one that someone made beforehand (it would be theirs, holding production's previous version).
        if (!tx.exec_params("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema).empty()) {
            throw Error(ErrorKind::conflict, "archive schema " + schema + " exists already; ece did not create it");
        }
        tx.exec0("CREATE SCHEMA " + pg::quote_ident(schema));
    }

    std::vector<const Resolved*> ordered;
    for (const auto& r : resolved) ordered.push_back(&r);
    std::stable_sort(ordered.begin(), ordered.end(), [](const Resolved* a, const Resolved* b) {
        return lock_rank(a->current ? a->current->relkind : 'r') < lock_rank(b->current ? b->current->relkind : 'r');
    });
    // One round trip for all the moves: a failing statement names its relation and aborts the transaction.
    std::string moves;
    for (const auto* r : ordered) {
        if (r->current) moves += move_statement(r->current->relkind, r->item->target, r->archive_schema);
    }
    for (const auto* r : ordered) {
        if (r->incoming) moves += move_statement(r->incoming->relkind, *r->item->incoming, r->item->target.schema);
    }
    if (!moves.empty()) tx.exec0(moves);

    // Dependencies are by OID, so the analysis holds after the moves; now under the moves' locks it is final.
    auto analysis = analyze(tx, plan, resolved);
    refuse_blockers(analysis);
    // After the moves, so that the staged views this publish brings are in production's raw schema already.
    auto saved_path = tx.exec1("SELECT pg_catalog.current_setting('search_path')")[0].as<std::string>();
    for (const auto& [view, schemas] : analysis.rebind) {
        rebind_view(tx, view, schemas);
        outcome.rebound_views.push_back(name_of(tx, view));
    }
    tx.exec_params("SELECT pg_catalog.set_config('search_path', $1, true)", saved_path);
    if (!analysis.rebind.empty()) {
        auto after = analyze(tx, plan, resolved);
        if (!after.rebind.empty() || !after.blockers.empty()) {
            throw Error(ErrorKind::internal, "views still read archived relations after recreating them");
        }
    }

    if (plan.carry_privileges) carry_privileges(tx, resolved, plan.production_role);
    return outcome;
}

}  // namespace ece::publish::detail
