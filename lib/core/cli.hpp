#pragma once
// The argument-parsing shapes every main in cmd/ shares (Boost.Program_options): --help and --version printed and
// answered with exit code 0, a bad argument as ece::Error(usage) with the main's hint, optional values, choices
// and subcommands.
#include <boost/program_options.hpp>

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ece::cli {

namespace po = boost::program_options;

// How a main (or one of its subcommands) reads its arguments and what it says about them.
struct Syntax {
    std::string program{};      // "ece-env": named by --version
    std::string help_before{};  // --help prints help_before, the options, help_after
    std::string help_after{};
    std::string error_hint{};   // appended to a parsing error: " (see ece-env --help)", or "\n" + the usage text
    // Parsed but not listed by --help: the positional arguments' names, in order (the last may take many).
    po::options_description hidden{};
    po::positional_options_description positional{};
    // Instead of hidden/positional: the first positional is a command, and everything after it that options does
    // not declare (the command's own options included) is left in Parsed::rest for the command to parse. Option
    // names are then never guessed from prefixes, so a command's "--pr" is not taken for a global "--provider".
    bool command_first = false;
};

struct Parsed {
    po::variables_map values{};
    std::string command{};            // with command_first: the command, "" when none was given
    std::vector<std::string> rest{};  // with command_first: the command's arguments, in order
};

// Parses args (argv without the program name) against options and syntax.hidden. --help and --version, when options
// declares them, are printed here and give nullopt (before required options are checked). Bad arguments throw
// ece::Error(usage) with the message of Boost.Program_options and syntax.error_hint.
std::optional<Parsed> parse(const std::vector<std::string>& args, const po::options_description& options,
                            const Syntax& syntax);

// argv[1..argc) as strings.
std::vector<std::string> arguments(int argc, char** argv);

// The option's value, or nullopt when it was not given.
template <typename T>
std::optional<T> value(const po::variables_map& values, const char* name) {
    if (!values.count(name)) return std::nullopt;
    return values[name].as<T>();
}

// Throws ece::Error(usage) "--format must be text or json, not 'yaml'" (plus hint) unless value is one of allowed.
void require_choice(std::string_view option, const std::string& value, std::initializer_list<std::string_view> allowed,
                    const std::string& hint = "");

// A subcommand: its name and what runs it with its arguments.
using Command = std::pair<std::string, std::function<int(const std::vector<std::string>&)>>;

// Runs the command called name with args. None given, or an unknown one, is ece::Error(usage) listing the commands
// (plus hint).
int dispatch(const std::string& name, const std::vector<std::string>& args, const std::vector<Command>& commands,
             const std::string& hint = "");

}  // namespace ece::cli
