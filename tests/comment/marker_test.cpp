#include "comment/marker.hpp"

#include <gtest/gtest.h>

namespace ece::comment {
namespace {

const std::string digest(64, 'a');

TEST(Marker, RoundTrips) {
    auto body = "report\n" + make_marker("pr-12", digest) + "\n";
    auto m = parse_marker(body);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->environment, "pr-12");
    EXPECT_EQ(m->digest, digest);
}

TEST(Marker, EnvironmentComparedWhole) {
    auto pr12 = "x\n" + make_marker("pr-12", digest);
    auto pr1 = "x\n" + make_marker("pr-1", digest);
    EXPECT_TRUE(marker_matches(pr12, "pr-12"));
    EXPECT_FALSE(marker_matches(pr12, "pr-1"));
    EXPECT_FALSE(marker_matches(pr1, "pr-12"));
    EXPECT_TRUE(marker_matches(pr1, "pr-1"));
    EXPECT_FALSE(marker_matches(pr12, "pr-123"));
    EXPECT_FALSE(marker_matches(pr12, "PR-12"));
}

TEST(Marker, OddNamesAreEncodedAndDecoded) {
    auto body = make_marker("feat x --> y", digest);
    EXPECT_EQ(body.find("-->"), body.size() - 3) << "only the closing --> may appear: " << body;
    EXPECT_TRUE(marker_matches(body, "feat x --> y"));
    EXPECT_FALSE(marker_matches(body, "feat x"));
}

TEST(Marker, OnlyWholeMarkerLinesCount) {
    EXPECT_FALSE(parse_marker("no marker here"));
    EXPECT_FALSE(parse_marker("<!-- ece:env=pr-1 digest=abc -->"));                // digest too short
    EXPECT_FALSE(parse_marker("text <!-- ece:env=pr-1 digest=" + digest + " -->"));  // not a line of its own
    EXPECT_FALSE(parse_marker("<!-- ece:env= digest=" + digest + " -->"));
    EXPECT_FALSE(parse_marker("<!-- ece:env=pr-1 digest=" + std::string(64, 'G') + " -->"));
    EXPECT_TRUE(parse_marker("a\r\n<!-- ece:env=pr-1 digest=" + digest + " -->\r\n"));
    // the last marker wins
    auto two = make_marker("pr-1", digest) + "\n" + make_marker("pr-2", digest);
    EXPECT_EQ(parse_marker(two)->environment, "pr-2");
}

TEST(Marker, Sha256) {
    EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace ece::comment
