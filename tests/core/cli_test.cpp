// The shared argument parsing of the mains in cmd/.
#include "core/cli.hpp"
#include "core/error.hpp"
#include "support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

namespace ece::cli {
namespace {

using ece::test::expect_error;
using testing::ElementsAre;
using testing::HasSubstr;

// What the code under test writes to stdout while f runs.
std::string stdout_of(const std::function<void()>& f) {
    std::ostringstream captured;
    auto* old = std::cout.rdbuf(captured.rdbuf());
    try {
        f();
    } catch (...) {
        std::cout.rdbuf(old);
        throw;
    }
    std::cout.rdbuf(old);
    return captured.str();
}

po::options_description example_options() {
    po::options_description o("Options");
    o.add_options()("help,h", "show this help")("version", "show the version")(
        "branch", po::value<std::string>()->required(), "the branch")("pr", po::value<int>(), "the pull request");
    return o;
}

Syntax example_syntax() {
    Syntax s;
    s.program = "ece-example";
    s.help_before = "Usage: ece-example --branch B\n";
    s.help_after = "(end)\n";
    s.error_hint = " (see ece-example --help)";
    return s;
}

TEST(Cli, ParsesValues) {
    auto parsed = parse({"--branch", "feature/x", "--pr", "12"}, example_options(), example_syntax());
    ASSERT_TRUE(parsed);
    EXPECT_EQ(value<std::string>(parsed->values, "branch"), "feature/x");
    EXPECT_EQ(value<int>(parsed->values, "pr"), 12);
    EXPECT_EQ(value<std::string>(parsed->values, "help"), std::nullopt);
}

TEST(Cli, HelpIsPrintedBeforeRequiredOptionsAreChecked) {
    std::optional<Parsed> parsed;
    auto out = stdout_of([&] { parsed = parse({"--help"}, example_options(), example_syntax()); });
    EXPECT_FALSE(parsed);
    EXPECT_THAT(out, testing::StartsWith("Usage: ece-example --branch B\nOptions:\n"));
    EXPECT_THAT(out, HasSubstr("--pr arg"));
    EXPECT_THAT(out, testing::EndsWith("(end)\n"));
}

TEST(Cli, VersionNamesTheProgram) {
    std::optional<Parsed> parsed;
    auto out = stdout_of([&] { parsed = parse({"--version"}, example_options(), example_syntax()); });
    EXPECT_FALSE(parsed);
    EXPECT_THAT(out, testing::StartsWith("ece-example "));
}

TEST(Cli, WithoutAHelpOptionHelpIsAnUnknownOption) {
    po::options_description o("Options");
    o.add_options()("dry-run", po::bool_switch(), "change nothing");
    auto e = expect_error([&] { parse({"--help"}, o, example_syntax()); });
    EXPECT_EQ(e.exit_code(), exit_code::usage);
}

TEST(Cli, BadArgumentsAreUsageErrorsWithTheHint) {
    auto missing = expect_error([] { parse({"--pr", "3"}, example_options(), example_syntax()); });
    EXPECT_EQ(missing.exit_code(), exit_code::usage);
    EXPECT_THAT(missing.message(), HasSubstr("branch"));
    EXPECT_THAT(missing.message(), testing::EndsWith(" (see ece-example --help)"));

    auto not_a_number =
        expect_error([] { parse({"--branch", "b", "--pr", "x"}, example_options(), example_syntax()); });
    EXPECT_EQ(not_a_number.exit_code(), exit_code::usage);
    auto unknown = expect_error([] { parse({"--branch", "b", "--frob"}, example_options(), example_syntax()); });
    EXPECT_THAT(unknown.message(), HasSubstr("frob"));
}

TEST(Cli, PositionalArgumentsThroughHiddenOptions) {
    auto syntax = example_syntax();
    syntax.hidden.add_options()("command", po::value<std::string>());
    syntax.positional.add("command", 1);
    auto parsed = parse({"status", "--branch", "b"}, example_options(), syntax);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(value<std::string>(parsed->values, "command"), "status");
    EXPECT_EQ(expect_error([&] { parse({"status", "extra", "--branch", "b"}, example_options(), syntax); }).exit_code(),
              exit_code::usage);
    auto help = stdout_of([&] { parse({"--help"}, example_options(), syntax); });
    EXPECT_THAT(help, testing::Not(HasSubstr("command")));
}

TEST(Cli, CommandFirstLeavesTheCommandsArgumentsInOrder) {
    po::options_description global("Options");
    global.add_options()("provider", po::value<std::string>(), "the provider")("format", po::value<std::string>(),
                                                                               "text | json");
    Syntax syntax;
    syntax.command_first = true;
    auto parsed = parse({"--format", "json", "up", "--pr", "4", "--branch", "b", "extra"}, global, syntax);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(value<std::string>(parsed->values, "format"), "json");
    EXPECT_EQ(parsed->command, "up");
    EXPECT_THAT(parsed->rest, ElementsAre("--pr", "4", "--branch", "b", "extra"));
    EXPECT_EQ(value<std::string>(parsed->values, "provider"), std::nullopt) << "--pr is not guessed as --provider";

    auto none = parse({"--format", "text"}, global, syntax);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->command, "");
    EXPECT_TRUE(none->rest.empty());
}

TEST(Cli, Arguments) {
    char program[] = "ece-x";
    char first[] = "up";
    char second[] = "--pr";
    char* argv[] = {program, first, second, nullptr};
    EXPECT_THAT(arguments(3, argv), ElementsAre("up", "--pr"));
    EXPECT_TRUE(arguments(1, argv).empty());
}

TEST(Cli, Choices) {
    EXPECT_NO_THROW(require_choice("--format", "json", {"text", "json"}));
    auto e = expect_error([] { require_choice("--format", "yaml", {"text", "json"}, " (see ece-x --help)"); });
    EXPECT_EQ(e.exit_code(), exit_code::usage);
    EXPECT_EQ(e.message(), "--format must be text or json, not 'yaml' (see ece-x --help)");
    EXPECT_EQ(expect_error([] { require_choice("--kind", "d", {"a", "b", "c"}); }).message(),
              "--kind must be a, b or c, not 'd'");
}

TEST(Cli, Dispatch) {
    std::vector<std::string> seen;
    std::vector<Command> commands = {
        {"load", [&](const std::vector<std::string>& args) { seen = args; return 0; }},
        {"gc", [](const std::vector<std::string>&) { return 7; }},
    };
    EXPECT_EQ(dispatch("load", {"--table", "t=x.csv"}, commands), 0);
    EXPECT_THAT(seen, ElementsAre("--table", "t=x.csv"));
    EXPECT_EQ(dispatch("gc", {}, commands), 7);
    auto unknown = expect_error([&] { dispatch("frob", {}, commands, " (see ece-x --help)"); });
    EXPECT_EQ(unknown.exit_code(), exit_code::usage);
    EXPECT_EQ(unknown.message(), "unknown command 'frob' (load or gc) (see ece-x --help)");
    EXPECT_EQ(expect_error([&] { dispatch("", {}, commands); }).message(), "expected a command: load or gc");
}

}  // namespace
}  // namespace ece::cli
