// Publish against a hostile environment (issue 16): the pull request's objects never run with ece's admin rights,
// and nothing published keeps using an object the environment owns.
#include "publish_fixture.hpp"

#include "catalog/migrate.hpp"
#include "core/error.hpp"
#include "env/catalog.hpp"

#include <gmock/gmock.h>

using ece::test::PublishTest;
using testing::HasSubstr;
namespace publish = ece::publish;

namespace {

// Production's raw schema and the environment's (owned by its role, as ece-stage makes it), with a view of the
// environment reading its raw view of production's data.
class HostilePublish : public PublishTest {
protected:
    void SetUp() override {
        PublishTest::SetUp();
        make_production();
        make_environment();
        sql("CREATE SCHEMA raw; CREATE TABLE raw.patients_data AS SELECT g AS id FROM generate_series(1, 3) g; "
            "CREATE VIEW raw.patients AS SELECT * FROM raw.patients_data; GRANT USAGE ON SCHEMA raw TO " +
            q(prod_role) + "; GRANT SELECT ON raw.patients TO " + q(prod_role));
        sql("CREATE SCHEMA ece_pr_1_raw AUTHORIZATION " + q(env_role) + "; ALTER SCHEMA ece_pr_1 OWNER TO " + q(env_role) +
            "; GRANT USAGE ON SCHEMA raw TO " + q(env_role) + "; GRANT SELECT ON raw.patients_data TO " + q(env_role));
        as_environment("CREATE VIEW ece_pr_1_raw.patients AS SELECT * FROM raw.patients_data; "
                       "CREATE VIEW ece_pr_1.patient_list AS SELECT p.id FROM ece_pr_1_raw.patients p; "
                       "CREATE TABLE ece_pr_1.calls (who text); GRANT INSERT ON ece_pr_1.calls TO PUBLIC");
    }
    void as_environment(const std::string& text) { sql("SET ROLE " + q(env_role) + "; " + text + "; RESET ROLE"); }
    // The body of a planted function: records who ran it and tries to make the environment a superuser.
    std::string payload() const {
        return "BEGIN INSERT INTO ece_pr_1.calls VALUES (current_user); "
               "BEGIN EXECUTE 'ALTER ROLE " + env_role + " SUPERUSER'; EXCEPTION WHEN others THEN NULL; END; ";
    }
    publish::PublishInput with_patient_list() {
        auto in = input();
        in.relations.push_back({env, "patient_list", publish::RelationKind::view, prod, "model.shop.patient_list", "c"});
        in.environment_raw_schema = "ece_pr_1_raw";
        in.production_raw_schema = "raw";
        return in;
    }
    bool environment_is_superuser() {
        return scalar("SELECT rolsuper FROM pg_roles WHERE rolname = '" + env_role + "'") == "t";
    }
};

// The view rebinding used to set the admin's search_path to the environment's raw schema and call an unqualified
// array_to_string: the pull request's array_to_string(text[], text) there beat pg_catalog's polymorphic one and ran
// as the admin, inside the publish transaction.
TEST_F(HostilePublish, FunctionsPlantedInTheRawSchemaNeverRunDuringTheRebinding) {
    for (const std::string signature : {"array_to_string(text[], text)", "pg_get_viewdef(bigint)",
                                         "pg_get_viewdef(integer)", "set_config(text, text, boolean)",
                                         "current_setting(text)"}) {
        as_environment("CREATE FUNCTION ece_pr_1_raw." + signature + " RETURNS text" +
                       " LANGUAGE plpgsql AS $$ " + payload() + "RETURN ''; END $$");
    }
    auto result = publish::publish(conn, with_patient_list(), options());
    EXPECT_EQ(result.outcome, publish::Outcome::published);
    EXPECT_EQ(reads_of("analytics.patient_list"), "raw.patients");
    EXPECT_EQ(scalar("SELECT count(*) FROM ece_pr_1.calls"), "0") << "a planted function ran during the publish";
    EXPECT_FALSE(environment_is_superuser());
}

// Everything an incoming relation carries (view rules, triggers, policies, defaults, index expressions, column
// types, owned sequences) that uses an object the environment keeps is refused, naming both; nothing changes.
TEST_F(HostilePublish, RelationsUsingTheEnvironmentsFunctionsTypesOperatorsOrSequencesAreRefused) {
    as_environment(
        "CREATE FUNCTION ece_pr_1.double(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2';"
        "CREATE FUNCTION ece_pr_1.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;"
        "CREATE FUNCTION ece_pr_1.yes(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';"
        "CREATE TYPE ece_pr_1.mood AS ENUM ('ok', 'sad');"
        "CREATE OPERATOR ece_pr_1.## (LEFTARG = int, RIGHTARG = int, FUNCTION = int4pl);"
        "CREATE SEQUENCE ece_pr_1.counter;"
        "CREATE VIEW ece_pr_1.calls_function AS SELECT ece_pr_1.double(id) AS d FROM ece_pr_1.orders;"
        "CREATE VIEW ece_pr_1.calls_operator AS SELECT id OPERATOR(ece_pr_1.##) 1 AS d FROM ece_pr_1.orders;"
        "CREATE TABLE ece_pr_1.triggered (id int);"
        "CREATE TRIGGER t BEFORE INSERT ON ece_pr_1.triggered FOR EACH ROW EXECUTE FUNCTION ece_pr_1.touch();"
        "CREATE TABLE ece_pr_1.defaulted (id int DEFAULT ece_pr_1.double(1), n bigint DEFAULT nextval('ece_pr_1.counter'));"
        "CREATE TABLE ece_pr_1.typed (m ece_pr_1.mood);"
        "CREATE TABLE ece_pr_1.indexed (id int); CREATE INDEX ON ece_pr_1.indexed (ece_pr_1.double(id));"
        "CREATE TABLE ece_pr_1.policed (id int); ALTER TABLE ece_pr_1.policed ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY p ON ece_pr_1.policed USING (ece_pr_1.yes(id))");
    auto in = input();
    for (const auto* name : {"calls_function", "calls_operator"}) {
        in.relations.push_back({env, name, publish::RelationKind::view, prod, std::string("model.shop.") + name, "c"});
    }
    for (const auto* name : {"triggered", "defaulted", "typed", "indexed", "policed"}) {
        in.relations.push_back({env, name, publish::RelationKind::table, prod, std::string("model.shop.") + name, "c"});
    }
    auto before = snapshot({prod, env});
    try {
        publish::publish(conn, in, options());
        FAIL() << "published relations that use the environment's objects";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        const std::string message = e.what();
        for (const char* expected :
             {"view ece_pr_1.calls_function (rule _RETURN on view ece_pr_1.calls_function) uses function "
              "ece_pr_1.double(integer), which the environment owns",
              "view ece_pr_1.calls_operator (rule _RETURN on view ece_pr_1.calls_operator) uses operator "
              "ece_pr_1.##(integer,integer)",
              "table ece_pr_1.triggered (trigger t on table ece_pr_1.triggered) uses function ece_pr_1.touch()",
              "table ece_pr_1.defaulted (default value for column id of table ece_pr_1.defaulted) uses function "
              "ece_pr_1.double(integer)",
              "uses sequence ece_pr_1.counter",
              "table ece_pr_1.typed (column m of table ece_pr_1.typed) uses type ece_pr_1.mood",
              "(index ece_pr_1.indexed_double_idx) uses function ece_pr_1.double(integer)",
              "table ece_pr_1.policed (policy p on table ece_pr_1.policed) uses function ece_pr_1.yes(integer)"}) {
            EXPECT_THAT(message, HasSubstr(expected));
        }
    }
    EXPECT_EQ(snapshot({prod, env}), before);
    EXPECT_EQ(archive_schema_count(), 0);
}

// What moves is owned by production's role afterwards, and an environment relation that only uses built-ins and
// production's objects publishes as before.
TEST_F(HostilePublish, RelationsUsingOnlyBuiltInsAndProductionPublishOwnedByProduction) {
    sql("CREATE FUNCTION analytics.triple(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 3'; "
        "ALTER FUNCTION analytics.triple(int) OWNER TO " + q(prod_role) + "; GRANT USAGE ON SCHEMA analytics TO " +
        q(env_role));
    as_environment("CREATE TABLE ece_pr_1.serials (id serial PRIMARY KEY, at timestamptz DEFAULT now(), "
                   "t int DEFAULT analytics.triple(2))");
    auto in = input();
    in.relations.push_back({env, "serials", publish::RelationKind::table, prod, "model.shop.serials", "c"});
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(result.outcome, publish::Outcome::published);
    for (const auto* name : {"orders", "serials", "serials_id_seq"}) EXPECT_EQ(owner_of(prod, name), prod_role) << name;
}

}  // namespace

namespace {

// A production schema an environment made (when environments could create schemas), and an archive schema that
// exists before publish makes it: refused, nothing moves.
TEST_F(HostilePublish, SquattedProductionAndArchiveSchemasAreRefused) {
    sql("CREATE SCHEMA analytics_marts AUTHORIZATION " + q(env_role));
    as_environment("CREATE TABLE ece_pr_1.m AS SELECT 1 AS id");
    auto in = input();
    in.relations.push_back({env, "m", publish::RelationKind::table, "analytics_marts", "model.shop.m", "c"});
    try {
        publish::publish(conn, in, options());
        FAIL() << "published into a schema the environment owns";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("refusing to publish into schema analytics_marts: it belongs to role " + env_role));
    }
    EXPECT_EQ(count(prod, "orders"), 100);

    // A publish given only relations names no production role: a schema an environment's role owns (one of
    // ece.environments) is still refused.
    ece::catalog::migrate(conn, "env", ece::env::env_migrations());
    {
        pqxx::work tx(conn);
        tx.exec_params("INSERT INTO ece.environments (name, branch, provider, status, base_schema, role_name) "
                       "VALUES ('pr-1', 'b', 'postgres', 'ready', 'ece_pr_1', $1)",
                       env_role);
        tx.commit();
    }
    in.production_role.clear();
    try {
        publish::publish(conn, in, options());
        FAIL() << "published into a schema the environment owns, given no production role";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("schema analytics_marts: it belongs to role " + env_role + ", an environment's"));
    }

    // Archive names carry a random part (planted here through the option tests have for it): one found already
    // present is refused.
    auto planted = options();
    planted.archive_token = "planted";
    sql("CREATE SCHEMA ece_archive_1_planted AUTHORIZATION " + q(env_role));
    try {
        publish::publish(conn, input(), planted);
        FAIL() << "archived production into a schema the environment made";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("archive schema ece_archive_1_planted exists already"));
    }
    EXPECT_EQ(count(prod, "orders"), 100);
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class WHERE relnamespace = 'ece_archive_1_planted'::regnamespace"), "0");
}

}  // namespace
