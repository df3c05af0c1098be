#pragma once
// Running a query over an environment's relations with that environment's rights only.
//
// ece's admin role must never execute an object a pull request made (a view's function, a policy, an operator):
// whatever it runs, it runs with the caller's rights. SET ROLE alone does not contain it: the planted code may run
// RESET ROLE (any role the session user is a member of is allowed), and it is back to the admin. So the query runs
// inside a SECURITY DEFINER function owned by the role: there PostgreSQL refuses SET ROLE, RESET ROLE and SET
// SESSION AUTHORIZATION ("cannot set parameter within security-definer function"), so nothing the query calls gets
// further than the role itself. The function lives in the session's pg_temp (no other session can reach it) and
// everything happens in a subtransaction that is rolled back afterwards: what the planted code did in this session
// (temporary objects, settings, its replacement of the function) is gone before ece runs its next statement.
#include <pqxx/pqxx>

#include <string>
#include <string_view>

namespace ece::pg {

// The search_path for every statement ece runs where a pull request's objects are near: built-ins first, the
// session's own temporary relations last, never a schema someone else can create in.
inline constexpr std::string_view safe_search_path = "pg_catalog, pg_temp";

// Runs `select` (one query; names in it quoted with pg::quote_ident, values with tx.quote) in tx as `role`, with
// search_path safe_search_path, and returns its rows. `columns` is its column definition list, e.g.
// "n bigint" or "a text, b int" (types exactly as the query returns them). The caller bounds it with SET LOCAL
// statement_timeout / lock_timeout beforehand (the planted code cannot lift a timer already running). The admin
// needs membership in `role` (the postgres provider grants it) and `role` needs TEMP on the database (PUBLIC's by
// default). Errors are pqxx's, as from tx.exec.
pqxx::result select_as_role(pqxx::dbtransaction& tx, std::string_view role, std::string_view select,
                            std::string_view columns);

}  // namespace ece::pg
