#include "pg/as_role.hpp"

#include "pg/ident.hpp"

namespace ece::pg {

pqxx::result select_as_role(pqxx::dbtransaction& tx, std::string_view role, std::string_view select,
                            std::string_view columns) {
    pqxx::subtransaction sandbox(tx, "as role");
    sandbox.exec("SET LOCAL search_path = " + std::string(safe_search_path));
    // Created by the role, so that it runs as the role; the role never gets to run anything before it exists.
    sandbox.exec("SET LOCAL ROLE " + quote_ident(role));
    sandbox.exec("CREATE FUNCTION pg_temp.ece_select_as_role(query pg_catalog.text) RETURNS SETOF record "
                 "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp "
                 "AS $ece$ BEGIN RETURN QUERY EXECUTE query; END $ece$");
    sandbox.exec("RESET ROLE");
    auto rows = sandbox.exec("SELECT * FROM pg_temp.ece_select_as_role(" + sandbox.quote(std::string(select)) +
                             ") AS t(" + std::string(columns) + ")");
    sandbox.abort();  // undoes whatever the query's objects did in this session
    return rows;
}

}  // namespace ece::pg
