#include "publish_fixture.hpp"

#include "core/error.hpp"

#include <gmock/gmock.h>

#include <set>

using ece::test::PublishTest;
using testing::HasSubstr;
namespace publish = ece::publish;

TEST_F(PublishTest, SwapMovesTablesAndViewsIntoProductionAndArchivesTheOld) {
    make_production(100);
    make_environment(200);
    auto old_orders = oid_of(prod, "orders");
    auto new_orders = oid_of(env, "orders");

    auto result = publish::publish(conn, input(), options());

    EXPECT_EQ(result.outcome, publish::Outcome::published);
    ASSERT_EQ(result.relations.size(), 3u);
    ASSERT_EQ(result.archive_schemas.size(), 1u);
    // Named by the publish's id and a random part nobody can guess and plant first.
    const auto archive = result.archive_schemas[0];
    EXPECT_THAT(archive, testing::MatchesRegex("ece_archive_" + std::to_string(result.id) + "_[0-9a-f]{12}"));
    EXPECT_EQ(oid_of(prod, "orders"), new_orders);
    EXPECT_EQ(oid_of(archive, "orders"), old_orders);
    EXPECT_EQ(count(prod, "orders"), 200);
    EXPECT_EQ(count(prod, "customers"), 100);
    EXPECT_EQ(scalar("SELECT n FROM analytics.order_count"), "200");  // the moved view reads the moved table
    EXPECT_EQ(count(archive, "orders"), 100);
    EXPECT_EQ(count(archive, "customers"), 50);
    EXPECT_EQ(scalar("SELECT n FROM " + archive + ".order_count"), "100");  // the archived view, the archived table
    EXPECT_EQ(scalar("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                     "WHERE n.nspname = 'ece_pr_1' AND c.relkind IN ('r', 'v')"),
              "0");
    // Owner and grants of the replaced relations carried over; the environment's role keeps nothing.
    for (const auto* name : {"orders", "customers", "order_count"}) {
        EXPECT_EQ(owner_of(prod, name), prod_role) << name;
        EXPECT_TRUE(can_select(reader, prod, name)) << name;
        EXPECT_FALSE(can_select(env_role, prod, name)) << name;
    }
    // Indexes travel with their table.
    EXPECT_TRUE(exists(prod, "customers_pkey"));
    EXPECT_TRUE(exists(archive, "customers_pkey"));

    auto records = publish::list_publishes(conn);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].id, result.id);
    EXPECT_EQ(records[0].status, "published");
    EXPECT_EQ(records[0].environment, "pr-1");
    EXPECT_EQ(records[0].pr, 1);
    EXPECT_EQ(records[0].sha, "abc123");
    EXPECT_EQ(records[0].archive_schema, archive);
    EXPECT_EQ(records[0].relations.size(), 3u);
    EXPECT_TRUE(records[0].duration_ms.has_value());
    EXPECT_FALSE(records[0].finished_at.empty());
}

TEST_F(PublishTest, NewRelationGetsTheProductionRoleAndNoGrants) {
    make_production();
    make_environment();
    sql("CREATE TABLE ece_pr_1.brand_new AS SELECT 1 AS x");
    sql("ALTER TABLE ece_pr_1.brand_new OWNER TO " + q(env_role));
    sql("GRANT SELECT ON ece_pr_1.brand_new TO " + q(reader));  // an environment grant must not leak
    auto in = input();
    in.relations.push_back({env, "brand_new", publish::RelationKind::table, prod, "model.shop.brand_new", "c"});
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(owner_of(prod, "brand_new"), prod_role);
    EXPECT_FALSE(can_select(reader, prod, "brand_new"));
    ASSERT_EQ(result.relations.size(), 4u);
    EXPECT_FALSE(result.relations[3].archive_schema.has_value());
}

TEST_F(PublishTest, RollbackRestoresExactly) {
    make_production(100);
    make_environment(200);
    auto before = snapshot({prod});
    auto published = publish::publish(conn, input(), options());
    auto published_oids = snapshot({prod});

    auto rolled = publish::rollback(conn, std::nullopt, options());

    EXPECT_EQ(rolled.outcome, publish::Outcome::rolled_back);
    EXPECT_EQ(rolled.rolled_back_id, published.id);
    EXPECT_EQ(snapshot({prod}), before);  // same OIDs, owners and ACLs
    EXPECT_EQ(count(prod, "orders"), 100);
    EXPECT_EQ(scalar("SELECT n FROM analytics.order_count"), "100");
    // The published relations wait in the rollback's own archive; the publish's archive is gone.
    ASSERT_EQ(rolled.archive_schemas.size(), 1u);
    EXPECT_EQ(count(rolled.archive_schemas[0], "orders"), 200);
    EXPECT_FALSE(schema_exists(published.archive_schemas.at(0)));
    EXPECT_EQ(rolled.relations.size(), 3u);

    auto records = publish::list_publishes(conn);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[0].kind, "rollback");
    EXPECT_EQ(records[0].rolls_back, published.id);
    EXPECT_EQ(records[1].rolled_back_by, rolled.id);
    EXPECT_FALSE(records[1].rolled_back_at.empty());

    try {
        publish::rollback(conn, published.id, options());
        FAIL() << "rolled back twice";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("rolled back already"));
    }
    EXPECT_THROW(publish::rollback(conn, std::nullopt, options()), ece::Error);  // nothing left to roll back

    // Rolling back the rollback puts the published relations back.
    publish::rollback(conn, rolled.id, options());
    EXPECT_EQ(snapshot({prod}), published_oids);
}

TEST_F(PublishTest, FailureInTheMiddleLeavesProductionUnchanged) {
    make_production(100);
    make_environment(200);
    // customers cannot move: production already has another relation named like its index.
    sql("CREATE TABLE analytics.other (id int)");
    sql("CREATE INDEX collide_idx ON analytics.other (id)");
    sql("CREATE INDEX collide_idx ON ece_pr_1.customers (id)");
    auto before = snapshot({prod, env});

    try {
        publish::publish(conn, input(), options());
        FAIL() << "published a relation that cannot move";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::database);
        EXPECT_THAT(e.what(), HasSubstr("collide_idx"));
    }
    EXPECT_EQ(snapshot({prod, env}), before);
    EXPECT_EQ(archive_schema_count(), 0);
    auto records = publish::list_publishes(conn);
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].status, "failed");
    EXPECT_THAT(records[0].error, HasSubstr("collide_idx"));
}

TEST_F(PublishTest, HandMadeDependentsRefuseBeforeAnythingChanges) {
    make_production();
    make_environment();
    sql("CREATE VIEW public.handmade AS SELECT id FROM analytics.orders");
    sql("CREATE TABLE public.invoices (customer_id int REFERENCES analytics.customers (id))");
    auto before = snapshot({prod, env, "public"});

    try {
        publish::publish(conn, input(), options());
        FAIL() << "published over dependent objects";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("view public.handmade depends on analytics.orders"));
        EXPECT_THAT(e.what(), HasSubstr("invoices"));
        EXPECT_THAT(e.what(), HasSubstr("depends on analytics.customers"));
    }
    EXPECT_EQ(snapshot({prod, env, "public"}), before);
    EXPECT_EQ(archive_schema_count(), 0);
    EXPECT_TRUE(publish::list_publishes(conn).empty());  // refused before a record

    // Other environments' objects may keep reading the archive when the source says so.
    auto in = input();
    in.tolerated_dependent_schemas = {"public"};
    EXPECT_EQ(publish::publish(conn, in, options()).outcome, publish::Outcome::published);
    EXPECT_EQ(std::stol(scalar("SELECT count(*) FROM public.handmade")), 100);  // reads the archived orders
}

TEST_F(PublishTest, ViewsReadingReplacedProductionRelationsAreRecreatedAgainstTheNewOnes) {
    make_production(100);
    make_environment(200);
    // The environment deferred to production for this view (dbt --defer): it reads analytics.orders.
    sql("CREATE VIEW ece_pr_1.deferred AS SELECT count(*) AS n FROM analytics.orders o "
        "JOIN ece_pr_1.customers c ON c.id = o.customer_id");
    // A production dbt view this publish does not rebuild.
    sql("CREATE VIEW analytics.untouched AS SELECT id FROM analytics.orders WHERE id > 10");
    sql("ALTER VIEW analytics.untouched OWNER TO " + q(prod_role));
    sql("GRANT SELECT ON analytics.untouched TO " + q(reader));
    auto untouched_oid = oid_of(prod, "untouched");
    auto in = input();
    in.relations.push_back({env, "deferred", publish::RelationKind::view, prod, "model.shop.deferred", "c"});

    try {  // without the source naming it, the production view counts as hand-made
        publish::publish(conn, in, options());
        FAIL() << "left analytics.untouched reading the archive";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("view analytics.untouched depends on analytics.orders"));
    }

    in.rebindable_views = {{prod, "untouched"}};
    auto result = publish::publish(conn, in, options());

    EXPECT_EQ(result.rebound_views.size(), 2u);
    // 200 new orders; customer_id 0..6 against new customers 1..100 -> ids 1..6 join.
    EXPECT_EQ(scalar("SELECT n FROM analytics.deferred"),
              scalar("SELECT count(*) FROM analytics.orders WHERE customer_id BETWEEN 1 AND 6"));
    EXPECT_EQ(count(prod, "untouched"), 190);
    EXPECT_EQ(oid_of(prod, "untouched"), untouched_oid);
    EXPECT_TRUE(can_select(reader, prod, "untouched"));
    EXPECT_EQ(owner_of(prod, "untouched"), prod_role);

    publish::rollback(conn, result.id, options());
    EXPECT_EQ(count(prod, "untouched"), 90);  // reads the restored orders again
    EXPECT_FALSE(exists(prod, "deferred"));
}

TEST_F(PublishTest, ViewReadingAnUnpublishedEnvironmentRelationRefuses) {
    make_production();
    make_environment();
    sql("CREATE TABLE ece_pr_1.stg_orders AS SELECT 1 AS id");
    sql("CREATE VIEW ece_pr_1.uses_stg AS SELECT id FROM ece_pr_1.stg_orders");
    auto in = input();
    in.relations.push_back({env, "uses_stg", publish::RelationKind::view, prod, "model.shop.uses_stg", "c"});
    try {
        publish::publish(conn, in, options());
        FAIL() << "published a view reading the environment";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("view ece_pr_1.uses_stg reads ece_pr_1.stg_orders, which is not part of"));
    }
    EXPECT_EQ(count(prod, "orders"), 100);
}

TEST_F(PublishTest, StagedViewsMoveInTheSameTransaction) {
    make_production();
    make_environment();
    sql("CREATE SCHEMA raw; CREATE SCHEMA ece_pr_1_raw; CREATE SCHEMA ece_content");
    sql("CREATE TABLE ece_content.orders_v1 AS SELECT 1 AS id; CREATE TABLE ece_content.orders_v2 AS SELECT g AS id "
        "FROM generate_series(1, 5) g");
    sql("CREATE VIEW raw.orders AS SELECT * FROM ece_content.orders_v1");
    // As in production: the production role owns the raw views and reads the content tables.
    sql("ALTER VIEW raw.orders OWNER TO " + q(prod_role) + "; GRANT USAGE ON SCHEMA raw, ece_content TO " +
        q(prod_role) + "; GRANT SELECT ON ALL TABLES IN SCHEMA ece_content TO " + q(prod_role));
    sql("CREATE VIEW ece_pr_1_raw.orders AS SELECT * FROM ece_content.orders_v2");
    sql("CREATE VIEW ece_pr_1.stg_orders AS SELECT id FROM ece_pr_1_raw.orders");
    auto in = input();
    in.relations.push_back({env, "stg_orders", publish::RelationKind::view, prod, "model.shop.stg_orders", "c"});
    in.staged_views.push_back({"ece_pr_1_raw", "orders", publish::RelationKind::view, "raw", "", ""});
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(count("raw", "orders"), 5);
    EXPECT_EQ(count(prod, "stg_orders"), 5);
    EXPECT_EQ(owner_of("raw", "orders"), prod_role);
    ASSERT_EQ(result.archive_schemas.size(), 2u);
    EXPECT_EQ(result.archive_schemas[1], result.archive_schemas[0] + "_2");
    EXPECT_EQ(count(result.archive_schemas[1], "orders"), 1);  // raw's old view
}

TEST_F(PublishTest, DryRunChecksAndChangesNothing) {
    make_production();
    make_environment();
    auto before = snapshot({prod, env});
    auto o = options();
    o.dry_run = true;
    auto result = publish::publish(conn, input(), o);
    EXPECT_EQ(result.outcome, publish::Outcome::dry_run);
    EXPECT_EQ(result.relations.size(), 3u);
    EXPECT_EQ(snapshot({prod, env}), before);
    EXPECT_TRUE(publish::list_publishes(conn).empty());
}

TEST_F(PublishTest, MissingEnvironmentRelationIsNamed) {
    make_production();
    make_environment();
    auto in = input();
    in.relations.push_back({env, "ghost", publish::RelationKind::table, prod, "model.shop.ghost", "c"});
    try {
        publish::publish(conn, in, options());
        FAIL();
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("ece_pr_1.ghost (model.shop.ghost) does not exist"));
    }
    EXPECT_EQ(count(prod, "orders"), 100);
}

TEST_F(PublishTest, KeepArchivesPrunesOlderArchiveSchemas) {
    make_production();
    auto o = options();
    o.keep_archives = 2;
    std::vector<std::int64_t> ids;
    std::vector<std::string> archives;
    for (int i = 0; i < 4; ++i) {
        make_environment(200 + i);
        auto result = publish::publish(conn, input(), o);
        ids.push_back(result.id);
        archives.push_back(result.archive_schemas.at(0));
    }
    // A fresh random part each time: not guessable from the previous archive's name.
    std::set<std::string> random_parts;
    for (const auto& archive : archives) random_parts.insert(archive.substr(archive.rfind('_') + 1));
    EXPECT_EQ(random_parts.size(), archives.size());
    EXPECT_FALSE(schema_exists(archives[0]));
    EXPECT_FALSE(schema_exists(archives[1]));
    EXPECT_TRUE(schema_exists(archives[2]));
    EXPECT_TRUE(schema_exists(archives[3]));
    EXPECT_EQ(count(archives[3], "orders"), 202);
    try {
        publish::rollback(conn, ids[1], o);
        FAIL() << "rolled back into a pruned archive";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("pruned"));
    }
    // A later publish replaced the same relations: roll that back first.
    try {
        publish::rollback(conn, ids[2], o);
        FAIL() << "rolled back under a later publish";
    } catch (const ece::Error& e) {
        EXPECT_THAT(e.what(), HasSubstr("roll back #" + std::to_string(ids[3]) + " first"));
    }
    publish::rollback(conn, ids[3], o);
    publish::rollback(conn, ids[2], o);
    EXPECT_EQ(count(prod, "orders"), 201);
}

TEST_F(PublishTest, HostileNamesAreQuotedNotInterpreted) {
    prod = "Prod \"Sch\"; DROP TABLE x; --";
    env = "env Ünï 'q'";
    sql("CREATE TABLE public.x (id int)");
    make_production(10);
    make_environment(20);
    const std::string weird = "Robert'); DROP TABLE x;--";
    sql("CREATE TABLE " + at(prod, weird) + " AS SELECT 1 AS a");
    sql("CREATE TABLE " + at(env, weird) + " AS SELECT 1 AS a UNION ALL SELECT 2");
    sql("CREATE VIEW " + at(prod, "Vue \"v\"") + " AS SELECT a FROM " + at(prod, weird));
    auto in = input();
    in.environment = "feature/ü'; DROP SCHEMA ece; --";
    in.relations.push_back({env, weird, publish::RelationKind::table, prod, "model.x", "c"});
    in.rebindable_views = {{prod, "Vue \"v\""}};
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(count(prod, weird), 2);
    EXPECT_EQ(count(prod, "Vue \"v\""), 2);
    EXPECT_EQ(count(prod, "orders"), 20);
    EXPECT_TRUE(exists("public", "x"));
    publish::rollback(conn, result.id, options());
    EXPECT_EQ(count(prod, weird), 1);
    EXPECT_EQ(count(prod, "Vue \"v\""), 1);
    EXPECT_EQ(publish::list_publishes(conn)[1].environment, in.environment);
}

TEST_F(PublishTest, ViewsReadingTheEnvironmentsRawViewsAreRecreatedOnProductionsAfterTheStagedViewsMove) {
    make_production();
    make_environment();
    sql("CREATE SCHEMA raw; CREATE TABLE raw.patients_data AS SELECT g AS id FROM generate_series(1, 3) g; "
        "CREATE VIEW raw.patients AS SELECT * FROM raw.patients_data; GRANT USAGE ON SCHEMA raw TO " + q(prod_role) +
        "; GRANT SELECT ON raw.patients TO " + q(prod_role));
    // The environment's raw views: patients has production's data (it stays behind), visits is new.
    sql("CREATE SCHEMA ece_pr_1_raw; CREATE VIEW ece_pr_1_raw.patients AS SELECT * FROM raw.patients_data; "
        "CREATE VIEW ece_pr_1_raw.visits AS SELECT 7 AS patient_id; "
        "CREATE VIEW ece_pr_1.patient_visits AS SELECT p.id, v.patient_id FROM ece_pr_1_raw.patients p "
        "CROSS JOIN ece_pr_1_raw.visits v");
    for (const auto* view : {"ece_pr_1_raw.patients", "ece_pr_1_raw.visits", "ece_pr_1.patient_visits"}) {
        sql(std::string("ALTER VIEW ") + view + " OWNER TO " + q(env_role));
    }
    auto in = input();
    in.relations.push_back({env, "patient_visits", publish::RelationKind::view, prod, "model.shop.patient_visits", "c"});
    in.environment_raw_schema = "ece_pr_1_raw";
    in.production_raw_schema = "raw";

    // Production's raw schema has no visits, and the publish does not bring it: refused, nothing changed.
    try {
        publish::publish(conn, in, options());
        ADD_FAILURE() << "published a view that would read a raw view production does not have";
    } catch (const ece::Error& e) {
        EXPECT_EQ(e.kind(), ece::ErrorKind::conflict);
        EXPECT_THAT(e.what(), HasSubstr("raw.visits does not exist"));
    }
    EXPECT_FALSE(exists(prod, "patient_visits"));
    EXPECT_EQ(archive_schema_count(), 0);

    // With its staged view the order is right: visits moves first, then the view is recreated on raw.
    in.staged_views.push_back({"ece_pr_1_raw", "visits", publish::RelationKind::view, "raw", "", ""});
    auto result = publish::publish(conn, in, options());
    EXPECT_EQ(result.outcome, publish::Outcome::published);
    EXPECT_EQ(reads_of("analytics.patient_visits"), "raw.patients, raw.visits");
    EXPECT_THAT(result.rebound_views, testing::Contains(publish::QualifiedName{prod, "patient_visits"}));
    EXPECT_EQ(owner_of(prod, "patient_visits"), prod_role);
    EXPECT_EQ(owner_of("raw", "visits"), prod_role);
    // The environment's raw schema can go without taking anything of production's (RESTRICT).
    sql("DROP VIEW ece_pr_1_raw.patients; DROP SCHEMA ece_pr_1_raw");
    EXPECT_EQ(scalar("SELECT count(*) FROM analytics.patient_visits WHERE patient_id = 7"), "3");
}
