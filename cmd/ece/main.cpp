// ece: the entry point. In GitHub Actions it maps the event to a life-cycle chain; locally it previews, publishes or
// destroys the current git branch's environment, prints its hints, or plays the demo.
#include "actions/context.hpp"
#include "config/config.hpp"
#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "ece.hpp"
#include "env/environments.hpp"
#include "lifecycle/lifecycle.hpp"
#include "process/process.hpp"

#include <boost/program_options.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace ece;

namespace {

constexpr const char* usage_text = R"(Usage: ece [options]            provision, stage and build the current git branch's environment
       ece --hints [options]    how to connect to it (psql, pg_activity, dbt)
       ece --publish [options]  publish it into production (one transaction), then remove it
       ece --destroy [options]  remove it (alias --cleanup)
       ece demo [--scale SF]    the example project on the embedded PostgreSQL, end to end
In GitHub Actions (GITHUB_ACTIONS=true) ece reads the event and the action's inputs instead (see action.yml).

Without --database-url (or ECE_DATABASE_URL) everything runs on ece's embedded server under .ece/pg.
)";

std::string git(const std::vector<std::string>& args, const std::string& doing) {
    process::Command command;
    command.argv = {"git"};
    command.argv.insert(command.argv.end(), args.begin(), args.end());
    command.inherit_env = true;
    command.timeout = std::chrono::seconds(30);
    auto out = process::run_checked(command, doing).out;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
}

int run_local(const po::variables_map& vm) {
    std::optional<fs::path> config_flag;
    if (vm.count("config")) config_flag = fs::path(vm["config"].as<std::string>());
    auto config = config::load_for_command(config_flag);
    std::optional<std::string> url;
    if (vm.count("database-url")) url = vm["database-url"].as<std::string>();

    lifecycle::Target target;
    target.branch = vm.count("branch") ? vm["branch"].as<std::string>()
                                       : git({"rev-parse", "--abbrev-ref", "HEAD"}, "finding the current git branch");
    if (target.branch == "HEAD") throw Error(ErrorKind::usage, "detached HEAD: name the branch with --branch");
    if (vm.count("pr")) target.pr = vm["pr"].as<int>();
    // Only building and publishing record a commit; hints and destroy work outside a git checkout too.
    const bool needs_commit = !vm.count("hints") && !vm.count("destroy") && !vm.count("cleanup");
    if (vm.count("sha")) {
        target.sha = vm["sha"].as<std::string>();
    } else if (needs_commit) {
        target.sha = git({"rev-parse", "HEAD"}, "finding the current commit (or pass --sha)");
    }

    lifecycle::Options options;
    options.project_dir = vm.count("project-dir") ? fs::path(vm["project-dir"].as<std::string>())
                                                  : config.root / config.dbt.project_dir;
    if (!vm.count("hints") && !vm.count("destroy") && !vm.count("cleanup")) {  // the commands that run dbt
        const auto dbt = cli::choose_dbt(config);
        options.dbt = dbt.path.string();
        options.dbt_version = dbt.version;
        std::cout << dbt.log;
    }
    auto settings = env::Settings::resolve(url, std::move(config));
    options.admin_url = settings.admin_url;
    env::Environments environments(std::move(settings));

    lifecycle::Log log(std::cout, false);
    if (vm.count("hints")) {
        std::cout << mask_secrets(lifecycle::hints(environments, target));
        return exit_code::ok;
    }
    lifecycle::Services services;
    std::unique_ptr<lifecycle::FileCommentSink> file;
    if (vm.count("comment-file")) {
        file = std::make_unique<lifecycle::FileCommentSink>(vm["comment-file"].as<std::string>());
        services.comments = file.get();
    }
    auto publisher = cli::make_publisher(options.admin_url);
    services.publisher = publisher.get();

    lifecycle::Outcome outcome;
    if (vm.count("publish")) {
        outcome = lifecycle::publish(environments, target, options, services, log);
    } else if (vm.count("destroy") || vm.count("cleanup")) {
        outcome = lifecycle::destroy(environments, target, options, services, log);
    } else {
        outcome = lifecycle::preview(environments, target, options, services, log);
        if (outcome.ok()) std::cout << "\n" << mask_secrets(outcome.hints);
    }
    return outcome.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
    return guarded_main("ece", [&] {
        std::vector<std::string> args(argv + 1, argv + argc);
        if (!args.empty() && args[0] == "demo") {
            cli::DemoOptions demo;
            std::string url;
            po::options_description options("demo options");
            options.add_options()("help,h", "this help")(
                "scale", po::value(&demo.scale)->default_value(demo.scale),
                "scale factor of the generated data (0.001 - 0.01: 10,000 - 100,000 patients)")(
                "dir", po::value<std::string>(), "where the demo works (default .ece/demo)")(
                "database-url", po::value(&url), "a server instead of the embedded one");
            po::variables_map vm;
            try {
                po::store(po::command_line_parser(std::vector<std::string>(args.begin() + 1, args.end()))
                              .options(options).run(), vm);
                po::notify(vm);
            } catch (const po::error& e) {
                throw Error(ErrorKind::usage, std::string(e.what()) + " (see ece demo --help)");
            }
            if (vm.count("help")) {
                std::cout << "Usage: ece demo [options]\n" << options;
                return exit_code::ok;
            }
            if (vm.count("dir")) demo.dir = vm["dir"].as<std::string>();
            if (!url.empty()) demo.database_url = url;
            return cli::run_demo(demo);
        }

        po::options_description options("options");
        options.add_options()
            ("help,h", "this help")
            ("version", "print the version")
            ("hints", "how to connect to the branch's environment")
            ("publish", "publish the branch's environment into production")
            ("destroy", "remove the branch's environment")
            ("cleanup", "the same as --destroy")
            ("branch", po::value<std::string>(), "the branch (default: git's current branch)")
            ("pr", po::value<int>(), "the pull request number (the environment is then pr-<N>)")
            ("sha", po::value<std::string>(), "the commit (default: git rev-parse HEAD)")
            ("config", po::value<std::string>(), "ece.yml (default ./ece.yml when present)")
            ("project-dir", po::value<std::string>(), "the dbt project (default ece.yml's dbt.project_dir)")
            ("comment-file", po::value<std::string>(), "also write the pull-request comment to this file")
            ("database-url", po::value<std::string>(), "admin URL (else ECE_DATABASE_URL, else the embedded server)");
        po::variables_map vm;
        try {
            po::store(po::command_line_parser(args).options(options).run(), vm);
            po::notify(vm);
        } catch (const po::error& e) {
            throw Error(ErrorKind::usage, std::string(e.what()) + " (see ece --help)");
        }
        if (vm.count("help")) {
            std::cout << usage_text << "\n" << options;
            return exit_code::ok;
        }
        if (vm.count("version")) {
            std::cout << version_line("ece") << "\n";
            return exit_code::ok;
        }
        if (vm.count("database-url")) register_secret(vm["database-url"].as<std::string>());
        if (args.empty() && actions::read_context().in_actions) return cli::run_in_github_actions();
        return run_local(vm);
    });
}
