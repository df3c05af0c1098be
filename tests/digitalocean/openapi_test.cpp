// The OpenAPI checker itself, and the fake's honesty: its answers fit DigitalOcean's description too.
#include "do_fixture.hpp"

#include <gmock/gmock.h>

#include <boost/json.hpp>

namespace ece::test {
namespace {

using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

class OpenApiTest : public DigitalOceanTest {};

std::string joined(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += p + "\n";
    return out;
}

TEST_F(OpenApiTest, PathTemplatesPreferLiteralSegments) {
    EXPECT_EQ(spec_->path_template("GET", "/v2/databases/options"), "/v2/databases/options");
    EXPECT_EQ(spec_->path_template("GET", "/v2/databases/9cc10173-e9ea-4176-9dbc-a4cee4c4ff30"),
              "/v2/databases/{database_cluster_uuid}");
    EXPECT_EQ(spec_->path_template("PUT", "/v2/databases/x/resize"), "/v2/databases/{database_cluster_uuid}/resize");
    EXPECT_EQ(spec_->path_template("PATCH", "/v2/databases/x/resize"), std::nullopt);
    EXPECT_EQ(spec_->path_template("GET", "/v2/no-such-thing"), std::nullopt);
}

TEST_F(OpenApiTest, TheDescriptionsOwnExampleConforms) {
    auto problems = spec_->check_request(
        "POST", "/v2/databases",
        R"({"name":"backend","engine":"pg","version":"14","region":"nyc3","size":"db-s-2vcpu-4gb",)"
        R"("storage_size_mib":61440,"num_nodes":2,"tags":["production"],)"
        R"("rules":[{"type":"ip_addr","value":"192.168.1.1"}]})");
    EXPECT_THAT(problems, IsEmpty()) << joined(problems);
    EXPECT_GT(spec_->files_loaded(), 3u) << "the $ref walk should have crossed into the resource files";
}

TEST_F(OpenApiTest, CatchesWhatTheServerWouldRefuse) {
    auto bad_engine = joined(spec_->check_request(
        "POST", "/v2/databases", R"({"name":"a","engine":"postgres","region":"fra1","size":"s","num_nodes":1})"));
    EXPECT_THAT(bad_engine, HasSubstr("\"postgres\" is not one of the enum values"));

    auto missing = joined(spec_->check_request("POST", "/v2/databases", R"({"name":"a","engine":"pg","region":"fra1"})"));
    EXPECT_THAT(missing, HasSubstr("required property \"size\" is missing"));
    EXPECT_THAT(missing, HasSubstr("required property \"num_nodes\" is missing"));

    auto wrong_type = joined(spec_->check_request(
        "POST", "/v2/databases", R"({"name":"a","engine":"pg","region":"fra1","size":"s","num_nodes":"1"})"));
    EXPECT_THAT(wrong_type, HasSubstr("$.num_nodes: expected integer"));

    auto read_only = joined(spec_->check_request(
        "POST", "/v2/databases",
        R"({"name":"a","engine":"pg","region":"fra1","size":"s","num_nodes":1,"status":"online"})"));
    EXPECT_THAT(read_only, HasSubstr("$.status: read-only"));

    auto unknown = joined(spec_->check_request(
        "POST", "/v2/databases", R"({"name":"a","engine":"pg","region":"fra1","size":"s","num_node":1})"));
    EXPECT_THAT(unknown, HasSubstr("$.num_node: not a property"));

    EXPECT_THAT(joined(spec_->check_request("GET", "/v2/databases?tag=ece", "")), HasSubstr("query parameter tag: not declared"));
    EXPECT_THAT(joined(spec_->check_request("GET", "/v2/databases?tag_name=ece", "")), IsEmpty());
    EXPECT_THAT(joined(spec_->check_request("PUT", "/v2/databases/x/resize", "")), HasSubstr("body: required, missing"));
    EXPECT_THAT(joined(spec_->check_request("PUT", "/v2/databases/x/resize", R"({"size":"db-s-1vcpu-2gb"})")),
                HasSubstr("\"num_nodes\" is missing"));
    EXPECT_THAT(joined(spec_->check_request("PATCH", "/v2/databases/x", "")), HasSubstr("no such operation"));
    EXPECT_THAT(joined(spec_->check_request("PUT", "/v2/databases/x/firewall", R"({"rules":[{"type":"vpc","value":"1"}]})")),
                HasSubstr("\"vpc\" is not one of the enum values"));
}

TEST_F(OpenApiTest, TagResourceTypeDatabaseIsAcceptedAsTheOperationTextSays) {
    EXPECT_THAT(spec_->check_request("POST", "/v2/tags/ece/resources",
                                     R"({"resources":[{"resource_id":"x","resource_type":"database"}]})"),
                IsEmpty());
    EXPECT_THAT(joined(spec_->check_request("POST", "/v2/tags/ece/resources",
                                            R"({"resources":[{"resource_id":"x","resource_type":"databases"}]})")),
                HasSubstr("\"databases\" is not one of the enum values"));
    EXPECT_THAT(joined(spec_->check_request("POST", "/v2/tags", R"({"name":"ece env"})")),
                HasSubstr("does not match pattern"));
}

// Raw calls to the fake, each answer checked against the response schemas of the description.
TEST_F(OpenApiTest, FakeAnswersFitTheDescription) {
    http::ClientOptions options;
    options.ca_file = cloud_->ca_file();
    options.proxy_from_environment = false;
    http::Client client(options);
    auto send = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
        http::Request request{method, cloud_->api_url() + target, {}, body};
        request.headers.set("authorization", "Bearer " + cloud_->token());
        if (!body.empty()) request.headers.set("content-type", "application/json");
        auto response = client.send_unchecked(request);
        auto path = target.substr(0, target.find('?'));
        auto problems = spec_->check_response(method, path, response.status, response.body);
        EXPECT_THAT(problems, IsEmpty()) << joined(problems) << response.body.substr(0, 300);
        return response;
    };
    auto created = send("POST", "/v2/databases",
                        R"({"name":"ece-x-pr-1","engine":"pg","version":"16","region":"fra1",)"
                        R"("size":"db-s-1vcpu-2gb","num_nodes":1,"tags":["ece"]})");
    ASSERT_EQ(created.status, 201);
    auto id = std::string(boost::json::parse(created.body).at("database").at("id").as_string());
    send("GET", "/v2/databases?tag_name=ece");
    send("GET", "/v2/databases/" + id);
    send("GET", "/v2/databases/options");
    send("GET", "/v2/databases/" + id + "/ca");
    send("POST", "/v2/databases/" + id + "/users", R"({"name":"ece_pr_1"})");
    send("GET", "/v2/databases/" + id + "/users/ece_pr_1");
    send("POST", "/v2/databases/" + id + "/dbs", R"({"name":"ece"})");
    send("GET", "/v2/databases/" + id + "/dbs");
    send("PUT", "/v2/databases/" + id + "/firewall", R"({"rules":[{"type":"ip_addr","value":"192.0.2.1"}]})");
    send("GET", "/v2/databases/" + id + "/firewall");
    send("POST", "/v2/tags", R"({"name":"ece-env:pr-1"})");
    EXPECT_EQ(send("POST", "/v2/tags/ece-env%3Apr-1/resources",
                   R"({"resources":[{"resource_id":")" + id + R"(","resource_type":"database"}]})").status, 204);
    EXPECT_EQ(send("PUT", "/v2/databases/" + id + "/resize", R"({"size":"db-s-99vcpu","num_nodes":1})").status, 422);
    EXPECT_EQ(send("GET", "/v2/databases/00000000-0000-4000-8000-000000000000").status, 404);
    EXPECT_EQ(send("DELETE", "/v2/databases/" + id).status, 204);
    cloud_->expire_token();
    EXPECT_EQ(send("GET", "/v2/databases").status, 401);
}

}  // namespace
}  // namespace ece::test
