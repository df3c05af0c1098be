#pragma once
// Internal to lib/publish: the one-transaction swap that publish and rollback share. Every name in SQL text comes
// from the catalog or the input and is quoted by pg::quote_ident (exact names: a slug would name another relation).
#include "publish/types.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ece::publish::detail {

struct SwapItem {
    std::optional<QualifiedName> incoming;  // moves to target; nullopt: the current target only moves out
    RelationKind kind = RelationKind::table;  // what incoming must be
    QualifiedName target;                   // its production name
    std::string unique_id;
    std::optional<std::uint32_t> expected_current_oid;  // rollback: what must be at target now
};

struct SwapPlan {
    std::int64_t id = 0;         // names the archive schemas with archive_token: ece_archive_<id>_<token>[_<k>]
    std::string archive_token;
    std::vector<SwapItem> items;
    bool carry_privileges = true;  // publish: owner and ACL of the replaced relation go to the new one
    std::string production_role;   // owner when nothing is replaced (empty: unchanged)
    std::set<QualifiedName> rebindable_views;
    std::set<std::string> tolerated_schemas;
    // Environment schema -> production schema whose relations stay behind but have a production counterpart of
    // the same name (the environment's raw schema -> production's): incoming views reading them are recreated to
    // read the counterpart, like views reading a replaced relation.
    std::map<std::string, std::string> counterpart_schemas;
};

struct SwapOutcome {
    std::vector<std::string> archive_schemas;
    std::vector<RelationMove> moves;
    std::vector<QualifiedName> rebound_views;
};

// Resolves and checks the plan without changing anything or taking locks beyond catalog reads: missing or
// mistyped relations, dependents that would be left reading the archive. Throws ece::Error (input/conflict).
SwapOutcome check_swap(pqxx::transaction_base& tx, const SwapPlan& plan);

// check_swap, then the moves, view rebinding and privileges, all in tx; the caller commits (or not). Lock waits
// are bounded by the caller's lock_timeout and surface as pqxx::sql_error 55P03 (or 40P01 for a deadlock).
SwapOutcome run_swap(pqxx::transaction_base& tx, const SwapPlan& plan);

// A PostgreSQL text[] literal of items (for a parameter cast to text[]).
std::string text_array(const std::vector<std::string>& items);

// ece_archive_<id>_<token> for the first production schema, ece_archive_<id>_<token>_<k> for the k-th (k >= 2,
// schemas sorted).
std::string archive_schema_name(std::int64_t id, const std::string& token, std::size_t index);

}  // namespace ece::publish::detail
