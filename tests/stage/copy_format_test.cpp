// Which COPY format ece-stage picks for a table (detail::wires_for).
#include "stage/binary.hpp"

#include <gtest/gtest.h>

namespace ece::stage::detail {
namespace {

const std::vector<Column> integers_and_text = {{"patid", "bigint"}, {"sex", "text"}, {"active", "boolean"}};
const std::vector<Column> with_a_date = {{"patid", "bigint"}, {"icd10", "text"}, {"diagnosed_on", "date"}};
const std::vector<Column> with_a_uuid = {{"id", "uuid", true}, {"day", "date"}};

TEST(CopyFormat, IntegersAndTextGoAsCsvOverSeveralConnectionsAndBinaryOverOne) {
    EXPECT_FALSE(wires_for(CopyFormat::automatic, integers_and_text, 2));
    EXPECT_FALSE(wires_for(CopyFormat::automatic, integers_and_text, 3));
    auto one = wires_for(CopyFormat::automatic, integers_and_text, 1);
    ASSERT_TRUE(one);
    EXPECT_EQ(*one, (std::vector<Wire>{Wire::int8, Wire::text, Wire::boolean}));
}

TEST(CopyFormat, ColumnsCostlyToParseAsTextGoAsBinary) {
    for (const char* type : {"date", "timestamp", "numeric", "double precision"}) {
        std::vector<Column> columns = {{"id", "bigint"}, {"value", type}};
        EXPECT_TRUE(wires_for(CopyFormat::automatic, columns, 2)) << type;
    }
    EXPECT_TRUE(wires_for(CopyFormat::automatic, with_a_date, 4));
}

TEST(CopyFormat, ForcedFormatsAndTypesTheEncoderDoesNotKnow) {
    EXPECT_TRUE(wires_for(CopyFormat::binary, integers_and_text, 2));
    EXPECT_FALSE(wires_for(CopyFormat::csv, with_a_date, 1));
    EXPECT_FALSE(wires_for(CopyFormat::binary, with_a_uuid, 1));
    EXPECT_FALSE(wires_for(CopyFormat::automatic, with_a_uuid, 2));
}

}  // namespace
}  // namespace ece::stage::detail
