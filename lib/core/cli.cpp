#include "core/cli.hpp"

#include "core/error.hpp"
#include "core/main.hpp"

#include <iostream>

namespace ece::cli {

namespace {

// "a, b or c"
std::string listing(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
        out += names[i];
    }
    return out;
}

// Everything the parser knows: options, the hidden positionals and, with command_first, the command and its
// arguments. The parsed options point into it, so it lives as long as they are used.
po::options_description all_options(const po::options_description& options, const Syntax& syntax) {
    po::options_description all;
    all.add(options).add(syntax.hidden);
    if (syntax.command_first) {
        all.add_options()("command", po::value<std::string>())("args", po::value<std::vector<std::string>>());
    }
    return all;
}

po::parsed_options run_parser(const std::vector<std::string>& args, const po::options_description& all,
                              const Syntax& syntax) {
    po::command_line_parser parser(args);
    if (!syntax.command_first) return parser.options(all).positional(syntax.positional).run();
    po::positional_options_description positional;
    positional.add("command", 1).add("args", -1);
    return parser.options(all)
        .positional(positional)
        .style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing)
        .allow_unregistered()
        .run();
}

// With command_first: the command and everything after it, in order (unknown options included).
void split_command(const po::parsed_options& parsed, Parsed& out) {
    auto rest = po::collect_unrecognized(parsed.options, po::include_positional);
    if (rest.empty()) return;
    out.command = rest.front();
    out.rest.assign(rest.begin() + 1, rest.end());
}

}  // namespace

std::optional<Parsed> parse(const std::vector<std::string>& args, const po::options_description& options,
                            const Syntax& syntax) {
    const auto all = all_options(options, syntax);
    Parsed out;
    try {
        auto parsed = run_parser(args, all, syntax);
        po::store(parsed, out.values);
        if (options.find_nothrow("help", false) && out.values.count("help")) {
            std::cout << syntax.help_before << options << syntax.help_after;
            return std::nullopt;
        }
        if (options.find_nothrow("version", false) && out.values.count("version")) {
            std::cout << version_line(syntax.program) << "\n";
            return std::nullopt;
        }
        po::notify(out.values);
        if (syntax.command_first) split_command(parsed, out);
    } catch (const po::error& e) {
        throw Error(ErrorKind::usage, e.what() + syntax.error_hint);
    }
    return out;
}

std::vector<std::string> arguments(int argc, char** argv) {
    return argc > 1 ? std::vector<std::string>(argv + 1, argv + argc) : std::vector<std::string>{};
}

void require_choice(std::string_view option, const std::string& value, std::initializer_list<std::string_view> allowed,
                    const std::string& hint) {
    for (auto choice : allowed) {
        if (value == choice) return;
    }
    const std::vector<std::string_view> choices(allowed);
    throw Error(ErrorKind::usage,
                std::string(option) + " must be " + listing(choices) + ", not '" + value + "'" + hint);
}

int dispatch(const std::string& name, const std::vector<std::string>& args, const std::vector<Command>& commands,
             const std::string& hint) {
    std::vector<std::string_view> names;
    for (const auto& [command, run] : commands) {
        if (command == name) return run(args);
        names.push_back(command);
    }
    if (name.empty()) throw Error(ErrorKind::usage, "expected a command: " + listing(names) + hint);
    throw Error(ErrorKind::usage, "unknown command '" + name + "' (" + listing(names) + ")" + hint);
}

}  // namespace ece::cli
