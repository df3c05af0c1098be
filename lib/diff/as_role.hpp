#pragma once
// Acting as an environment's role inside one transaction (issue 16's rules): the diff reads production and the
// environment with the environment's own rights, never an admin's, and resolves names only in pg_catalog, so no
// function, operator or type the environment created can be picked up by name.
// Helper `secsql` adds the shared version of this to lib/pg (pg/as_role.hpp): swap it in at merge.
#include <pqxx/pqxx>

#include <string_view>

namespace ece::diff {

// SET LOCAL ROLE <role> (quoted through pg::quote_ident) and SET LOCAL search_path = pg_catalog, pg_temp.
void act_as_environment_role(pqxx::transaction_base& tx, std::string_view role);

}  // namespace ece::diff
