#pragma once
// GitHub Actions workflow commands (::add-mask::, ::group::, ::error ...::) written to a sink, stdout by default.
// Everything but the ::add-mask:: value itself passes ece::mask_secrets before it reaches the sink.
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace ece::actions {

// GitHub's escaping of a command's message: '%' -> %25, '\r' -> %0D, '\n' -> %0A.
std::string escape_data(std::string_view text);
// A property value (file=..,title=..) additionally escapes ':' -> %3A and ',' -> %2C.
std::string escape_property(std::string_view text);

// Where an annotation points; every part optional. Columns need a line to mean anything to GitHub.
struct Annotation {
    std::string file{};            // relative to the repository root
    std::optional<long> line{};
    std::optional<long> end_line{};
    std::optional<long> column{};
    std::optional<long> end_column{};
    std::string title{};
};

class Commands {
public:
    explicit Commands(std::ostream& sink = std::cout);

    // Registers the secret with ece::register_secret and tells the runner to mask it: one ::add-mask:: per line,
    // because the runner masks line by line, so a multi-line secret (a PEM key) is masked only if each line is.
    // Call it before anything could print the value.
    void add_mask(std::string_view secret);

    void group(std::string_view title);
    void end_group();

    void error(std::string_view message, const Annotation& where = {});
    void warning(std::string_view message, const Annotation& where = {});
    void notice(std::string_view message, const Annotation& where = {});
    void debug(std::string_view message);

    // A plain log line (masked).
    void info(std::string_view text);

private:
    void command(std::string_view name, const Annotation& where, std::string_view message);

    std::ostream& sink_;
};

// RAII ::group:: ... ::endgroup:: so a failing step still closes its group.
class Group {
public:
    Group(Commands& commands, std::string_view title);
    ~Group();
    Group(const Group&) = delete;
    Group& operator=(const Group&) = delete;

private:
    Commands& commands_;
};

}  // namespace ece::actions
