#include "core/error.hpp"
#include "plan/json_input.hpp"
#include "plan/plan.hpp"
#include "support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace ece::plan {
namespace {

using testing::HasSubstr;

Plan fixture_plan(const std::string& name) { return read_plan(test::fixture("real/terraform/" + name)); }

const ResourceChange& find(const Plan& plan, const std::string& address) {
    auto it = std::find_if(plan.resource_changes.begin(), plan.resource_changes.end(),
                           [&](const auto& r) { return r.address == address; });
    if (it == plan.resource_changes.end()) throw std::runtime_error("no resource " + address);
    return *it;
}

const AttributeChange* attribute(const ResourceChange& r, const std::string& path) {
    for (const auto& c : r.changes) {
        if (c.path == path) return &c;
    }
    return nullptr;
}

struct Expected {
    const char* file;
    std::size_t create, update, destroy, replace, read, no_op, moved;
};

class FixtureCounts : public testing::TestWithParam<Expected> {};

TEST_P(FixtureCounts, ActionsCountedPerFixture) {
    const auto& e = GetParam();
    auto plan = fixture_plan(e.file);
    auto c = plan.counts();
    EXPECT_EQ(c.create, e.create);
    EXPECT_EQ(c.update, e.update);
    EXPECT_EQ(c.destroy, e.destroy);
    EXPECT_EQ(c.replace, e.replace);
    EXPECT_EQ(c.read, e.read);
    EXPECT_EQ(c.no_op, e.no_op);
    EXPECT_EQ(c.moved, e.moved);
}

INSTANTIATE_TEST_SUITE_P(
    RealPlans, FixtureCounts,
    testing::Values(Expected{"infracost-aws-rds-terraform-0.12.plan.json", 12, 1, 0, 0, 0, 13, 0},
                    Expected{"infracost-aws-rds-terraform-0.14.plan.json", 12, 1, 0, 0, 0, 13, 0},
                    Expected{"infracost-azure-firewall.plan.json", 11, 0, 0, 0, 0, 0, 0},
                    Expected{"infracost-example-terraform-1.0.5.plan.json", 5, 0, 0, 0, 0, 0, 0},
                    Expected{"infracost-plan-with-target.plan.json", 0, 1, 0, 0, 0, 0, 0},
                    Expected{"infracost-terraform-1.1-format-1.0.plan.json", 4, 0, 0, 0, 0, 0, 0},
                    Expected{"tfjson-action-reason-replace.plan.json", 0, 0, 0, 1, 0, 0, 0},
                    Expected{"tfjson-checks-tf1.5.plan.json", 2, 0, 0, 0, 0, 0, 0},
                    Expected{"tfjson-identity-update-tf1.13.plan.json", 0, 1, 0, 0, 0, 0, 0},
                    Expected{"tfjson-moved-block.plan.json", 0, 0, 0, 0, 0, 1, 1},
                    Expected{"tfjson-no-changes.plan.json", 0, 0, 0, 0, 0, 6, 0},
                    Expected{"tfjson-read-create-tf0.13.plan.json", 2, 0, 0, 0, 1, 0, 0},
                    Expected{"tfjson-replace-and-noop.plan.json", 0, 0, 0, 1, 0, 1, 0}));

TEST(Plan, ReplaceCarriesActionReasonAndUnknownId) {
    auto plan = fixture_plan("tfjson-action-reason-replace.plan.json");
    const auto& r = find(plan, "null_resource.example");
    EXPECT_EQ(r.action, Action::replace);
    EXPECT_FALSE(r.create_before_destroy);
    EXPECT_EQ(r.action_reason, "replace_because_tainted");
    const auto* id = attribute(r, "id");
    ASSERT_NE(id, nullptr);
    EXPECT_EQ(id->before, "\"8868159889619753631\"");
    EXPECT_EQ(id->after, unknown_text);
    EXPECT_EQ(attribute(r, "triggers.name"), nullptr) << "unchanged attribute listed";
}

TEST(Plan, MovedResourceKeepsPreviousAddress) {
    auto plan = fixture_plan("tfjson-moved-block.plan.json");
    const auto& r = find(plan, "random_id.test2");
    EXPECT_TRUE(r.moved());
    EXPECT_EQ(r.previous_address, "random_id.test");
    EXPECT_FALSE(plan.no_changes());
}

TEST(Plan, NoChangesPlan) {
    auto plan = fixture_plan("tfjson-no-changes.plan.json");
    EXPECT_TRUE(plan.no_changes());
    EXPECT_EQ(plan.format_version, "0.1");
}

TEST(Plan, UpdateListsChangedAttributesOnly) {
    auto plan = fixture_plan("tfjson-identity-update-tf1.13.plan.json");
    const auto& r = plan.resource_changes.at(0);
    ASSERT_EQ(r.changes.size(), 2u);
    EXPECT_EQ(r.changes[0].path, "age");
    EXPECT_EQ(r.changes[0].before, "null");
    EXPECT_EQ(r.changes[0].after, "999");
    EXPECT_EQ(r.changes[1].path, "name");
    EXPECT_EQ(r.changes[1].after, "\"test\"");
}

TEST(Plan, RdsUpdateShowsRemovedListElementAsDottedPath) {
    auto plan = fixture_plan("infracost-aws-rds-terraform-0.14.plan.json");
    const auto& r = find(plan, "module.db.module.db_1.module.db_instance.aws_db_instance.this[0]");
    EXPECT_EQ(r.action, Action::update);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_EQ(r.changes[0].path, "vpc_security_group_ids[0]");
    EXPECT_EQ(r.changes[0].before, "\"sg-5277e14a\"");
    EXPECT_EQ(r.changes[0].after, "");
    EXPECT_EQ(r.after.at("instance_class").as_string(), "db.t3.micro");
}

TEST(Plan, CreateListsNestedAttributesAndUnknowns) {
    auto plan = fixture_plan("infracost-plan-with-target.plan.json");
    ASSERT_FALSE(plan.resource_changes.empty());
    auto example = fixture_plan("infracost-example-terraform-1.0.5.plan.json");
    bool nested = false, unknown = false;
    for (const auto& r : example.resource_changes) {
        for (const auto& c : r.changes) {
            if (c.path.find('.') != std::string::npos && c.path.find('[') != std::string::npos) nested = true;
            if (c.after == unknown_text) unknown = true;
            EXPECT_EQ(c.before, "") << r.address << " " << c.path;
        }
    }
    EXPECT_TRUE(nested);
    EXPECT_TRUE(unknown);
}

TEST(Plan, SensitiveValuesNeverShown) {
    const char* text = R"({"format_version":"1.2","resource_changes":[{"address":"aws_db_instance.db","mode":"managed",
      "type":"aws_db_instance","name":"db","change":{"actions":["update"],
      "before":{"password":"old-hunter2","instance_class":"db.t3.micro","conn":{"user":"a","pw":"nested-old"}},
      "after":{"password":"new-hunter2","instance_class":"db.t3.small","conn":{"user":"a","pw":"nested-new"}},
      "after_unknown":{},"before_sensitive":{"password":true,"conn":{"pw":true}},
      "after_sensitive":{"password":true,"conn":{"pw":true}}}}]})";
    auto plan = parse_plan(text, "inline.json");
    const auto& r = plan.resource_changes.at(0);
    ASSERT_EQ(r.changes.size(), 3u);
    for (const auto& c : r.changes) {
        for (const auto* secret : {"old-hunter2", "new-hunter2", "nested-old", "nested-new"}) {
            EXPECT_THAT(c.before, testing::Not(HasSubstr(secret)));
            EXPECT_THAT(c.after, testing::Not(HasSubstr(secret)));
        }
    }
    EXPECT_EQ(attribute(r, "password")->before, sensitive_text);
    EXPECT_EQ(attribute(r, "password")->after, sensitive_text);
    EXPECT_EQ(attribute(r, "conn.pw")->after, sensitive_text);
    EXPECT_EQ(attribute(r, "instance_class")->after, "\"db.t3.small\"");
    EXPECT_EQ(r.after.at("password").as_string(), sensitive_text);
    EXPECT_EQ(r.before.at("conn").at("pw").as_string(), sensitive_text);
}

// issue 16: Terraform 0.14 writes no after_sensitive, and the RDS master password of this real plan was printed into
// the comment. Attributes named like secrets are hidden when the plan does not say what is sensitive.
TEST(Plan, WithoutSensitivityMarksSecretsByNameAreHidden) {
    const std::string password = "YourPwdShouldBeLongAndSecure!";
    const auto plan = fixture_plan("infracost-aws-rds-terraform-0.14.plan.json");
    int hidden = 0;
    for (const auto& r : plan.resource_changes) {
        for (const auto& c : r.changes) {
            EXPECT_THAT(c.before + c.after, testing::Not(HasSubstr(password))) << r.address << " " << c.path;
            if (c.path == "password" && c.after == sensitive_text) ++hidden;
        }
        EXPECT_THAT(boost::json::serialize(r.before) + boost::json::serialize(r.after),
                    testing::Not(HasSubstr(password))) << r.address;
    }
    EXPECT_GE(hidden, 1) << "the created instance's password is listed, as sensitive";

    const char* text = R"({"format_version":"0.1","resource_changes":[{"address":"x.y","type":"x","name":"y",
      "change":{"actions":["create"],"before":null,"after":{"Master-Password":"pw-1","get_password_data":false,
      "settings":[{"api_key":"key-1","name":"n"}],"auth":{"client_secret":"s-1","access_token":"t-1",
      "private_key_pem":"k-1"},"size":"small"},"after_unknown":{}}}]})";
    const auto r = parse_plan(text, "inline.json").resource_changes.at(0);
    for (const auto& c : r.changes) {
        for (const auto* secret : {"pw-1", "key-1", "s-1", "t-1", "k-1"}) EXPECT_THAT(c.after, testing::Not(HasSubstr(secret)));
    }
    EXPECT_EQ(attribute(r, "Master-Password")->after, sensitive_text);
    EXPECT_EQ(attribute(r, "settings[0].api_key")->after, sensitive_text);
    EXPECT_EQ(attribute(r, "auth.private_key_pem")->after, sensitive_text);
    EXPECT_EQ(attribute(r, "settings[0].name")->after, "\"n\"");
    EXPECT_EQ(attribute(r, "size")->after, "\"small\"");
    EXPECT_EQ(attribute(r, "get_password_data")->after, "false") << "a flag is no secret";
    EXPECT_TRUE(secret_by_name("db_password") && secret_by_name("SecretKey") && !secret_by_name("instance_class"));
}

TEST(Plan, WholeSensitiveBlockIsOneLine) {
    const char* text = R"({"format_version":"1.0","resource_changes":[{"address":"x.y","type":"x","name":"y",
      "change":{"actions":["create"],"before":null,"after":{"block":{"a":"s1-secret","b":"s2-secret"}},
      "after_unknown":{},"after_sensitive":{"block":true}}}]})";
    auto r = parse_plan(text, "inline.json").resource_changes.at(0);
    ASSERT_EQ(r.changes.size(), 1u);
    EXPECT_EQ(r.changes[0].path, "block");
    EXPECT_EQ(r.changes[0].after, sensitive_text);
}

TEST(Plan, CreateBeforeDestroyReplace) {
    const char* text = R"({"format_version":"1.1","resource_changes":[{"address":"x.y","type":"x","name":"y",
      "action_reason":"replace_because_cannot_update","change":{"actions":["create","delete"],
      "before":{"size":"a"},"after":{"size":"b"},"after_unknown":{},"replace_paths":[["size"]]}}]})";
    auto r = parse_plan(text, "inline.json").resource_changes.at(0);
    EXPECT_EQ(r.action, Action::replace);
    EXPECT_TRUE(r.create_before_destroy);
    EXPECT_EQ(r.replace_paths, std::vector<std::string>{"size"});
}

TEST(Plan, WrapperNoiseRejectedWithHint) {
    auto path = test::fixture("real/terraform/infracost-plan-with-terraform-wrapper-noise.plan.json");
    try {
        read_plan(path);
        FAIL() << "noisy plan accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::input);
        std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("infracost-plan-with-terraform-wrapper-noise.plan.json:1:"));
        EXPECT_THAT(what, HasSubstr("byte 1"));
        EXPECT_THAT(what, HasSubstr("terraform_wrapper: false"));
        EXPECT_EQ(e.where().line, 1u);
        EXPECT_EQ(e.where().byte_offset, 1u);
    }
}

TEST(Plan, TrailingTextNamesLineAndByte) {
    std::string text = "{\"format_version\":\"1.0\"}\n::set-output name=stderr::\n";
    try {
        parse_plan(text, "p.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().line, 2u);
        EXPECT_EQ(e.where().byte_offset, 25u);  // the ":" after the newline
        EXPECT_THAT(e.what(), HasSubstr("terraform_wrapper: false"));
    }
}

TEST(Plan, MalformedJsonNamesByteOffset) {
    try {
        parse_plan("{\"format_version\": \"1.0\",\n \"resource_changes\": [tru]}", "bad.json");
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.where().line, 2u);
        ASSERT_TRUE(e.where().byte_offset.has_value());
        EXPECT_GE(*e.where().byte_offset, 48u);
        EXPECT_LE(*e.where().byte_offset, 52u);
    }
}

TEST(Plan, RejectsUnknownFormatMajorAndNonPlans) {
    EXPECT_THROW(parse_plan(R"({"format_version":"2.0"})", "p.json"), Error);
    EXPECT_THROW(parse_plan(R"({"nodes":{}})", "manifest.json"), Error);
    EXPECT_THROW(parse_plan(R"([1,2])", "a.json"), Error);
    EXPECT_THROW(parse_plan(R"({"format_version":"1.0","resource_changes":[{"address":"a.b","change":{"actions":["frobnicate"]}}]})", "p.json"), Error);
}

}  // namespace
}  // namespace ece::plan
