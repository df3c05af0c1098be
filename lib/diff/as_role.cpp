#include "diff/as_role.hpp"

#include "pg/ident.hpp"

namespace ece::diff {

void act_as_environment_role(pqxx::transaction_base& tx, std::string_view role) {
    tx.exec("SET LOCAL ROLE " + pg::quote_ident(role));
    tx.exec("SET LOCAL search_path = pg_catalog, pg_temp");
}

}  // namespace ece::diff
