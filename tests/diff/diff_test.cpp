// The data diff on generated changes with known answers: rows inserted, deleted, updated, nulls changed, a retyped
// column, duplicate keys, no key, 0 rows, wide rows, unicode and NULL-heavy data, sensitive columns, budgets, and
// the environment's role and name resolution (never an admin, never a function the environment owns).
#include "diff/diff.hpp"
#include "diff/json.hpp"

#include "pg/connect.hpp"
#include "pg/ident.hpp"
#include "support.hpp"
#include "pg_support.hpp"

#include <gmock/gmock.h>

namespace ece::diff {
namespace {

using testing::HasSubstr;
using testing::Not;

class DiffTest : public testing::Test {
protected:
    void SetUp() override {
        url = test::fresh_database("diff");
        role = test::unique_name("diffenv");
        conn = pg::connect_owned(url, "diff test");
        // Production: owned by the admin, readable by the environment's role; the environment: owned by the role.
        test::execute(*conn, "CREATE ROLE " + role + "; CREATE SCHEMA analytics; CREATE SCHEMA env AUTHORIZATION " +
                                 role + "; GRANT USAGE ON SCHEMA analytics TO " + role +
                                 "; ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO " + role);
        settings.role = role;
        settings.examples = 3;
        settings.value_width = 20;
    }
    void TearDown() override {
        conn.reset();
    }

    // Production's table as the admin; the environment's as the role (it owns what it builds).
    void production(const std::string& sql) { test::execute(*conn, sql); }
    void environment(const std::string& sql) {
        test::execute(*conn, "SET ROLE " + role + "; " + sql + "; RESET ROLE");
    }
    // Both start as the same table, then the environment's changes apply.
    void same_table(const std::string& name, const std::string& create_and_fill) {
        production("SET search_path = analytics; " + create_and_fill + "; RESET search_path");
        environment("SET search_path = env; " + create_and_fill + "; RESET search_path");
        (void)name;
    }

    ModelSpec spec(const std::string& name, std::vector<std::string> key = {}) {
        ModelSpec s;
        s.model = "model.shop." + name;
        s.environment = {"env", name};
        s.production = Relation{"analytics", name};
        s.key = {key, key.empty() ? "none" : "test key"};
        return s;
    }

    ModelDiff run(const ModelSpec& s) { return diff_model(*conn, s, settings, std::chrono::minutes(1)); }

    const ColumnDiff& column(const ModelDiff& d, const std::string& name) {
        for (const auto& c : d.columns)
            if (c.name == name) return c;
        ADD_FAILURE() << "no column " << name;
        static ColumnDiff none;
        return none;
    }

    std::vector<const ExampleRow*> examples(const ModelDiff& d, ExampleRow::Kind kind) {
        std::vector<const ExampleRow*> out;
        for (const auto& e : d.examples)
            if (e.kind == kind) out.push_back(&e);
        return out;
    }

    std::string url, role;
    std::unique_ptr<pqxx::connection> conn;
    Settings settings;
};

constexpr const char* orders_sql =
    "CREATE TABLE orders(id int PRIMARY KEY, customer text, amount numeric(10,2), note text); "
    "INSERT INTO orders SELECT i, 'customer ' || (i % 7), i * 1.5, CASE WHEN i % 10 = 0 THEN NULL ELSE 'n' || i END "
    "FROM generate_series(1, 100) i";

TEST_F(DiffTest, CountsInsertedDeletedAndUpdatedRowsByKeyWithColumnsAndExamples) {
    same_table("orders", orders_sql);
    environment("DELETE FROM env.orders WHERE id <= 5; "
                "INSERT INTO env.orders VALUES (101, 'new', 1, 'x'), (102, 'Zoë ☃ 東京', 2, NULL), (103, NULL, NULL, NULL); "
                "UPDATE env.orders SET amount = amount + 1 WHERE id BETWEEN 10 AND 13; "
                "UPDATE env.orders SET note = 'was null' WHERE id = 20; "   // a NULL that became a value
                "UPDATE env.orders SET note = NULL WHERE id = 21");         // and a value that became NULL
    auto d = run(spec("orders", {"id"}));
    EXPECT_EQ(d.method, Method::by_key);
    EXPECT_EQ(d.note, "");
    EXPECT_EQ(d.rows_production, 100);
    EXPECT_EQ(d.rows_environment, 98);
    EXPECT_EQ(d.only_production, 5);
    EXPECT_EQ(d.only_environment, 3);
    EXPECT_EQ(d.changed, 6);
    EXPECT_EQ(d.unchanged, 89);
    EXPECT_EQ(d.duplicate_keys, 0);
    EXPECT_EQ(column(d, "amount").changed, 4);
    EXPECT_EQ(column(d, "note").changed, 2);
    EXPECT_EQ(column(d, "customer").changed, 0);
    EXPECT_EQ(column(d, "id").changed, 0);
    // Nulls among rows present on each side (ids 10..100 step 10 in production; 10 of them).
    EXPECT_EQ(column(d, "note").nulls_before, 10);
    EXPECT_EQ(column(d, "note").nulls_after, 10 - 1 + 1 + 2);  // 20 filled, 21 emptied, 102 and 103 new
    EXPECT_EQ(column(d, "customer").nulls_after, 1);
    EXPECT_EQ(column(d, "amount").distinct_before, 100);
    EXPECT_EQ(column(d, "amount").distinct_after, 97);  // 98 rows, 103's amount NULL not counted

    auto removed = examples(d, ExampleRow::Kind::only_production);
    ASSERT_FALSE(removed.empty());
    EXPECT_LE(removed.size(), 3u);
    for (const auto* e : removed) {
        ASSERT_EQ(e->key.size(), 1u);
        EXPECT_EQ(e->key[0].first, "id");
        EXPECT_LE(std::stoi(*e->key[0].second), 5);
    }
    auto changed = examples(d, ExampleRow::Kind::changed);
    ASSERT_FALSE(changed.empty());
    for (const auto* e : changed) {
        int id = std::stoi(*e->key[0].second);
        ASSERT_EQ(e->values.size(), 1u) << id;
        if (id >= 10 && id <= 13) {
            EXPECT_EQ(e->values[0].column, "amount");
            EXPECT_EQ(*e->values[0].before, std::to_string(id * 3 / 2) + (id % 2 ? ".50" : ".00"));
        } else {
            EXPECT_EQ(e->values[0].column, "note");
        }
    }
}

TEST_F(DiffTest, UnicodeWideAndLongValuesAreCutOnCharacters) {
    std::string create = "CREATE TABLE wide(id text PRIMARY KEY";
    for (int i = 0; i < 60; ++i) create += ", c" + std::to_string(i) + " text";
    create += "); INSERT INTO wide(id, c0, c59) SELECT 'ключ-' || i, repeat('ä', 5000), 'x' FROM generate_series(1, 50) i";
    same_table("wide", create);
    environment("UPDATE env.wide SET c0 = repeat('ö', 5000), c59 = '東京' WHERE id = 'ключ-7'");
    auto d = run(spec("wide", {"id"}));
    EXPECT_EQ(d.changed, 1);
    EXPECT_EQ(d.unchanged, 49);
    EXPECT_EQ(d.columns.size(), 61u);
    ASSERT_EQ(d.examples.size(), 1u);
    const auto& e = d.examples[0];
    EXPECT_EQ(*e.key[0].second, "ключ-7");
    ASSERT_EQ(e.values.size(), 2u);
    EXPECT_EQ(*e.values[0].before, std::string() + [] { std::string s; for (int i = 0; i < 20; ++i) s += "ä"; return s; }() + "…");
    EXPECT_EQ(*e.values[1].after, "東京");
}

TEST_F(DiffTest, RetypedColumnIsReportedAndComparedByItsText) {
    production("CREATE TABLE analytics.t(id bigint PRIMARY KEY, v integer, gone text); "
               "INSERT INTO analytics.t SELECT i, i, 'g' FROM generate_series(1, 10) i");
    environment("CREATE TABLE env.t(id bigint PRIMARY KEY, v numeric, added boolean); "
                "INSERT INTO env.t SELECT i, CASE WHEN i = 3 THEN 30 ELSE i END, true FROM generate_series(1, 10) i");
    auto d = run(spec("t", {"id"}));
    EXPECT_EQ(d.changed, 1);
    EXPECT_EQ(d.unchanged, 9);
    EXPECT_TRUE(column(d, "v").retyped());
    EXPECT_EQ(column(d, "v").before_type, "integer");
    EXPECT_EQ(column(d, "v").after_type, "numeric");
    EXPECT_EQ(column(d, "v").changed, 1);
    EXPECT_TRUE(column(d, "gone").removed());
    EXPECT_TRUE(column(d, "added").added());
    EXPECT_EQ(d.affected(), 1 + 3);  // one row, three columns
}

TEST_F(DiffTest, DuplicateKeysAreReportedNotHidden) {
    same_table("d", "CREATE TABLE d(id int, v text); INSERT INTO d SELECT i, 'v' FROM generate_series(1, 10) i");
    environment("INSERT INTO env.d VALUES (7, 'again'), (7, 'and again'), (NULL, 'no id'); UPDATE env.d SET v = 'w' WHERE id = 2");
    auto d = run(spec("d", {"id"}));
    EXPECT_EQ(d.duplicate_keys, 1);
    EXPECT_EQ(d.duplicate_rows_production, 1);
    EXPECT_EQ(d.duplicate_rows_environment, 3);
    EXPECT_EQ(d.only_environment, 1);  // the NULL key, grouped as one key
    EXPECT_EQ(d.changed, 1);
    EXPECT_EQ(d.unchanged, 8);
    EXPECT_THAT(d.note, HasSubstr("1 keys are held by more than one row"));
}

TEST_F(DiffTest, WithoutAKeyRowsAreComparedWholeByCounts) {
    same_table("nokey", "CREATE TABLE nokey(a int, b text); INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, 'z')");
    environment("DELETE FROM env.nokey WHERE a = 3; INSERT INTO env.nokey VALUES (1, 'x'), (4, 'w')");
    auto d = run(spec("nokey"));
    EXPECT_EQ(d.method, Method::full_row);
    EXPECT_THAT(d.note, HasSubstr("no key"));
    EXPECT_EQ(d.only_production, 1);   // (3, z)
    EXPECT_EQ(d.only_environment, 2);  // the third (1, x) and (4, w)
    EXPECT_EQ(d.unchanged, 3);
    EXPECT_EQ(d.changed, 0);
    EXPECT_EQ(column(d, "b").nulls_before, 1);
    EXPECT_EQ(column(d, "b").nulls_after, 1);
    auto added = examples(d, ExampleRow::Kind::only_environment);
    ASSERT_EQ(added.size(), 2u);
    auto removed = examples(d, ExampleRow::Kind::only_production);
    ASSERT_EQ(removed.size(), 1u);
    EXPECT_EQ(*removed[0]->values[0].before, "3");
    EXPECT_EQ(*removed[0]->values[1].before, "z");
}

TEST_F(DiffTest, EmptyTablesAndNullHeavyData) {
    same_table("empty", "CREATE TABLE empty(id int PRIMARY KEY, v text)");
    auto e = run(spec("empty", {"id"}));
    EXPECT_EQ(e.rows_production, 0);
    EXPECT_EQ(e.rows_environment, 0);
    EXPECT_FALSE(e.differs());

    same_table("nulls", "CREATE TABLE nulls(id int PRIMARY KEY, a text, b int, c jsonb); "
                        "INSERT INTO nulls(id) SELECT i FROM generate_series(1, 1000) i");
    environment("UPDATE env.nulls SET c = '{\"k\": 1}' WHERE id % 100 = 0; UPDATE env.nulls SET a = '' WHERE id = 5");
    auto d = run(spec("nulls", {"id"}));
    EXPECT_EQ(d.changed, 11);
    EXPECT_EQ(column(d, "c").changed, 10);
    EXPECT_EQ(column(d, "a").changed, 1);  // NULL and '' differ
    EXPECT_EQ(column(d, "c").nulls_before, 1000);
    EXPECT_EQ(column(d, "c").nulls_after, 990);
    EXPECT_EQ(column(d, "b").nulls_after, 1000);
}

TEST_F(DiffTest, ANewModelCountsItsRows) {
    environment("CREATE TABLE env.fresh AS SELECT i AS id FROM generate_series(1, 7) i");
    auto d = run(spec("fresh", {"id"}));
    EXPECT_EQ(d.production_relation, "");
    EXPECT_EQ(d.rows_environment, 7);
    EXPECT_EQ(d.only_environment, 7);
}

TEST_F(DiffTest, ViewsAreDiffedLikeTables) {
    same_table("base", "CREATE TABLE base(id int PRIMARY KEY, v int); INSERT INTO base SELECT i, i FROM generate_series(1, 20) i");
    production("CREATE VIEW analytics.v AS SELECT id, v * 2 AS w FROM analytics.base");
    environment("CREATE VIEW env.v AS SELECT id, v * 2 + (id = 3)::int AS w FROM env.base");
    auto d = run(spec("v", {"id"}));
    EXPECT_EQ(d.changed, 1);
    EXPECT_EQ(d.unchanged, 19);
}

TEST_F(DiffTest, SensitiveColumnsShowCountsNeverValues) {
    same_table("people", "CREATE TABLE people(id int PRIMARY KEY, ssn text, city text); "
                         "INSERT INTO people SELECT i, 'ssn-secret-' || i, 'c' FROM generate_series(1, 10) i");
    environment("UPDATE env.people SET ssn = 'ssn-secret-changed', city = 'd' WHERE id = 4; "
                "INSERT INTO env.people VALUES (11, 'ssn-secret-11', 'e')");
    auto s = spec("people", {"id"});
    s.sensitive = {"ssn"};
    auto d = run(s);
    EXPECT_EQ(column(d, "ssn").changed, 1);
    EXPECT_TRUE(column(d, "ssn").sensitive);
    ASSERT_EQ(examples(d, ExampleRow::Kind::changed).size(), 1u);
    const auto& values = examples(d, ExampleRow::Kind::changed)[0]->values;
    ASSERT_EQ(values.size(), 2u);
    EXPECT_EQ(values[0].column, "ssn");
    EXPECT_TRUE(values[0].sensitive);
    EXPECT_FALSE(values[0].before);
    EXPECT_FALSE(values[0].after);
    EXPECT_EQ(*values[1].after, "d");
    DiffRun run_result;
    run_result.models.push_back(d);
    EXPECT_THAT(to_json_text(run_result), Not(HasSubstr("ssn-secret")));
}

TEST_F(DiffTest, TheBudgetFallsBackToASampleOrSaysItCouldNot) {
    same_table("big", "CREATE TABLE big(id int PRIMARY KEY, v text); "
                      "INSERT INTO big SELECT i, md5(i::text) FROM generate_series(1, 50000) i");
    settings.model_budget = std::chrono::milliseconds(1);
    auto d = run(spec("big", {"id"}));
    EXPECT_NE(d.method, Method::by_key);
    EXPECT_THAT(d.note, HasSubstr("budget (0.001s) was reached"));

    // The pull request's budget spent: the remaining models are not compared, and say so.
    settings.model_budget = std::chrono::minutes(1);
    settings.budget = std::chrono::milliseconds(0);
    auto all = diff_models(*conn, {spec("big", {"id"})}, settings);
    EXPECT_TRUE(all.budget_reached);
    ASSERT_EQ(all.models.size(), 1u);
    EXPECT_EQ(all.models[0].method, Method::not_compared);
    EXPECT_THAT(all.models[0].note, HasSubstr("pull request's diff budget"));
}

TEST_F(DiffTest, ASampleComparesTheSameKeysOnBothSides) {
    same_table("s", "CREATE TABLE s(id int PRIMARY KEY, v int); INSERT INTO s SELECT i, i FROM generate_series(1, 20000) i");
    environment("UPDATE env.s SET v = -v");
    settings.model_budget = std::chrono::milliseconds(1);  // the exact diff cannot finish in a millisecond
    settings.sample_budget = std::chrono::minutes(1);
    settings.sample_percent = 10;
    auto d = run(spec("s", {"id"}));
    ASSERT_EQ(d.method, Method::sample_by_key);
    EXPECT_EQ(d.sample_percent, 10);
    EXPECT_THAT(d.note, HasSubstr("10 % sample of keys"));
    EXPECT_EQ(d.only_production, 0);  // the same keys were sampled on both sides
    EXPECT_EQ(d.only_environment, 0);
    EXPECT_EQ(d.unchanged, 0);
    EXPECT_EQ(d.changed, d.rows_production);
    EXPECT_GT(d.changed, 1000);  // about 2,000 of 20,000
    EXPECT_LT(d.changed, 3000);
}

TEST_F(DiffTest, RunsAsTheEnvironmentsRoleNeverAsAdmin) {
    production("CREATE TABLE analytics.secret_prod(id int PRIMARY KEY); REVOKE SELECT ON analytics.secret_prod FROM " + role);
    environment("CREATE TABLE env.secret_prod(id int PRIMARY KEY)");
    auto error = test::expect_error([&] { run(spec("secret_prod", {"id"})); });
    EXPECT_THAT(error.what(), HasSubstr("permission denied"));
}

TEST_F(DiffTest, NeverCallsAFunctionTheEnvironmentOwns) {
    // Traps named like the functions the diff uses, in the environment's schema, first on the session's path.
    same_table("t", "CREATE TABLE t(id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a'), (2, 'b')");
    environment("UPDATE env.t SET v = 'c' WHERE id = 2");
    environment("CREATE TABLE env.trap(called text); "
                "CREATE FUNCTION env.format(text, text) RETURNS text LANGUAGE sql AS "
                "$$ INSERT INTO env.trap VALUES ('format') RETURNING called $$; "
                "CREATE FUNCTION env.hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql AS "
                "$$ INSERT INTO env.trap VALUES ('hash') RETURNING 1::bigint $$");
    test::execute(*conn, "SET search_path = env, pg_catalog");
    auto d = run(spec("t", {"id"}));
    EXPECT_EQ(d.changed, 1);
    test::execute(*conn, "RESET search_path");
    EXPECT_EQ(test::scalar(*conn, "SELECT count(*) FROM env.trap"), "0");
}


// A view calling the pull request's function, which switches back to the session user (RESET ROLE: a plain SET
// ROLE allows it) and reads what only ece's admin may read, to show it in the diff's examples, and tries to create a
// role. Diffed through pg::select_as_role, the RESET ROLE is refused: the function runs as the environment and gets
// nothing; the diff still compares that model and the others.
TEST_F(DiffTest, APlantedResetRoleGetsNothingBeyondTheEnvironment) {
    const auto escaped = test::unique_name("diffescaped");
    production("CREATE TABLE analytics.vault(secret text); INSERT INTO analytics.vault VALUES ('vault-secret'); "
               "REVOKE ALL ON analytics.vault FROM " + role);
    same_table("base", "CREATE TABLE base(id int PRIMARY KEY, v int); INSERT INTO base SELECT i, i FROM generate_series(1, 5) i");
    same_table("plain", "CREATE TABLE plain(id int PRIMARY KEY, v int); INSERT INTO plain SELECT i, i FROM generate_series(1, 4) i");
    environment("UPDATE env.plain SET v = 0 WHERE id = 1");
    production("CREATE VIEW analytics.who AS SELECT id, 'nobody'::text AS who FROM analytics.base");
    environment("CREATE FUNCTION env.escape() RETURNS text LANGUAGE plpgsql AS $$ DECLARE s text := 'denied'; BEGIN "
                "  BEGIN RESET ROLE; EXCEPTION WHEN others THEN NULL; END; "
                "  BEGIN SELECT secret INTO s FROM analytics.vault; EXCEPTION WHEN others THEN NULL; END; "
                "  BEGIN CREATE ROLE " + escaped + " SUPERUSER; EXCEPTION WHEN others THEN NULL; END; "
                "  RETURN current_user || ':' || s; END $$; "
                "CREATE VIEW env.who AS SELECT id, env.escape() AS who FROM env.base");
    settings.value_width = 200;

    auto run_result = diff_models(*conn, {spec("who", {"id"}), spec("plain", {"id"})}, settings);
    ASSERT_EQ(run_result.models.size(), 2u);
    EXPECT_THAT(to_json_text(run_result), Not(HasSubstr("vault-secret")));
    EXPECT_EQ(test::scalar(*conn, "SELECT count(*) FROM pg_roles WHERE rolname = '" + escaped + "'"), "0");
    for (const auto& d : run_result.models) {
        if (d.model == "model.shop.plain") {
            EXPECT_EQ(d.changed, 1);
            continue;
        }
        ASSERT_EQ(d.method, Method::by_key) << d.note;
        EXPECT_EQ(d.changed, 5);
        const auto changed = examples(d, ExampleRow::Kind::changed);
        ASSERT_FALSE(changed.empty());
        ASSERT_EQ(changed[0]->values.size(), 1u);
        EXPECT_EQ(changed[0]->values[0].after, role + ":denied") << "the view's function ran as someone else";
    }
}

}  // namespace
}  // namespace ece::diff
