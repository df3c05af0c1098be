#include "actions/files.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/secrets.hpp"
#include "support.hpp"

namespace ece::actions {
namespace {

// Reads $GITHUB_OUTPUT the way the runner does: name<<DELIM, lines, DELIM; or name=value.
std::map<std::string, std::string> parse_output_file(const std::string& text) {
    std::map<std::string, std::string> outputs;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        auto heredoc = line.find("<<");
        if (heredoc == std::string::npos) {
            auto eq = line.find('=');
            outputs[line.substr(0, eq)] = line.substr(eq + 1);
            continue;
        }
        auto name = line.substr(0, heredoc);
        auto delimiter = line.substr(heredoc + 2);
        std::string value;
        bool first = true;
        for (std::string body; std::getline(in, body) && body != delimiter;) {
            if (!first) value += '\n';
            value += body;
            first = false;
        }
        outputs[name] = value;
    }
    return outputs;
}

TEST(Outputs, DelimiterIsRandomAndNotInTheValue) {
    auto a = output_delimiter("n", "v");
    auto b = output_delimiter("n", "v");
    EXPECT_NE(a, b);
    ASSERT_EQ(a.size(), std::string("ghadelimiter_").size() + 32);
    EXPECT_TRUE(a.starts_with("ghadelimiter_"));
    EXPECT_EQ(a.find_first_not_of("0123456789abcdef", 13), std::string::npos) << a;
    EXPECT_EQ(format_output("x", "").find("x<<ghadelimiter_"), 0u);
    EXPECT_THROW(format_output("two\nlines", "v"), Error);
}

TEST(Outputs, MultiLineValuesRoundTrip) {
    test::TempDir dir;
    Outputs outputs(dir / "output");
    const std::string tricky = "line one\nghadelimiter_0000\nEOF\nname=value\n<<\n";
    ASSERT_TRUE(outputs.set("env-name", "pr-7-feature"));
    ASSERT_TRUE(outputs.set("comment-body", tricky));
    ASSERT_TRUE(outputs.set("empty", ""));
    auto parsed = parse_output_file(test::read_file(dir / "output"));
    EXPECT_EQ(parsed["env-name"], "pr-7-feature");
    EXPECT_EQ(parsed["comment-body"], tricky);
    EXPECT_EQ(parsed["empty"], "");
}

TEST(Outputs, SecretsAreMaskedUnlessHandedOnDeliberately) {
    clear_secrets_for_test();
    test::TempDir dir;
    std::ostringstream log;
    Commands commands(log);
    Outputs outputs(dir / "output");
    const std::string url = "postgresql://env_pr_7:Xy9-very-secret@127.0.0.1:5432/app";
    register_secret(url);
    outputs.set("host", "connect to " + url);
    outputs.set_secret("database-url", url, commands);
    auto parsed = parse_output_file(test::read_file(dir / "output"));
    EXPECT_EQ(parsed["host"], "connect to ***");
    EXPECT_EQ(parsed["database-url"], url);
    EXPECT_THAT(log.str(), testing::HasSubstr("::add-mask::" + url));
    clear_secrets_for_test();
}

TEST(Outputs, NoFileOutsideActions) {
    Outputs outputs{std::filesystem::path()};
    EXPECT_FALSE(outputs.set("env-name", "x"));
    auto from_env = Outputs::from_env([](std::string_view) { return std::nullopt; });
    EXPECT_TRUE(from_env.file().empty());
}

TEST(Outputs, UnwritableFileNamesIt) {
    Outputs outputs("/nonexistent/dir/output");
    try {
        outputs.set("env-name", "x");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.where().file, "/nonexistent/dir/output");
        EXPECT_THAT(e.what(), testing::HasSubstr("env-name"));
    }
}

TEST(StepSummary, AppendsMaskedMarkdown) {
    clear_secrets_for_test();
    register_secret("tok_abcdef123456");
    test::TempDir dir;
    auto summary = StepSummary::from_env([&dir](std::string_view name) -> std::optional<std::string> {
        if (name == "GITHUB_STEP_SUMMARY") return (dir / "summary").string();
        return std::nullopt;
    });
    EXPECT_TRUE(summary.append("## ece\n").written);
    EXPECT_TRUE(summary.append("token tok_abcdef123456\n").written);
    EXPECT_EQ(test::read_file(dir / "summary"), "## ece\ntoken ***\n");
    clear_secrets_for_test();
}

TEST(StepSummary, TrimsAtTheOneMebibyteLimitWithANote) {
    test::TempDir dir;
    StepSummary summary(dir / "summary");
    std::string table;
    for (int row = 0; table.size() < StepSummary::limit_bytes + 5000; ++row) table += "| model_" + std::to_string(row) + " | ok |\n";
    auto result = summary.append(table);
    EXPECT_TRUE(result.written);
    EXPECT_TRUE(result.trimmed);
    auto text = test::read_file(dir / "summary");
    EXPECT_LE(text.size(), StepSummary::limit_bytes);
    EXPECT_TRUE(text.ends_with(summary_trimmed_note));
    auto body = text.substr(0, text.size() - summary_trimmed_note.size());
    EXPECT_TRUE(body.ends_with("| ok |\n")) << "cut inside a row";

    // Full now: a further append is refused and the file stays as it is.
    auto again = summary.append("more\n");
    EXPECT_FALSE(again.written);
    EXPECT_TRUE(again.trimmed);
    EXPECT_EQ(test::read_file(dir / "summary").size(), text.size());
}

TEST(StepSummary, OneHugeLineIsCutOnACharacterBoundary) {
    test::TempDir dir;
    StepSummary summary(dir / "summary");
    std::string line;
    while (line.size() < StepSummary::limit_bytes + 10) line += "\xc3\xa9";  // é, two bytes each
    auto result = summary.append(line);
    EXPECT_TRUE(result.trimmed);
    auto text = test::read_file(dir / "summary");
    auto body = text.substr(0, text.size() - summary_trimmed_note.size());
    EXPECT_EQ(body.size() % 2, 0u) << "cut inside a two-byte character";
}

}  // namespace
}  // namespace ece::actions
