// ece-dbt: what a branch's dbt project needs to build, compared with production (dbt's "Slim CI").
//   ece-dbt plan --branch B (--manifest FILE | --project-dir P) --state DIR [--select SELECTOR]
//                [--format text|json] [--out FILE] [--ignore-config KEY]...
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/process.hpp>
#include <boost/program_options.hpp>

#include "core/error.hpp"
#include "core/main.hpp"
#include "core/secrets.hpp"
#include "dbt/manifest.hpp"
#include "dbt/plan_output.hpp"
#include "dbt/state.hpp"

namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

const char* const usage_text =
    "usage: ece-dbt plan --branch B (--manifest FILE | --project-dir P) --state DIR [--select SELECTOR]\n"
    "                    [--format text|json] [--out FILE] [--ignore-config KEY]...\n";

// `dbt parse` in the project, writing target/manifest.json; dbt must be on PATH.
fs::path parse_project(const fs::path& project_dir) {
    const fs::path dbt = boost::process::search_path("dbt");
    if (dbt.empty())
        throw ece::Error(ece::ErrorKind::usage,
                         "dbt is not on PATH, so the project in " + project_dir.string() +
                             " cannot be parsed; install dbt or pass --manifest FILE (a manifest.json from dbt parse)");
    namespace bp = boost::process;
    bp::child child(dbt, "parse", "--project-dir", project_dir.string(), bp::start_dir = project_dir.string(),
                    bp::std_out > stderr, bp::std_err > stderr);
    if (!child.wait_for(std::chrono::minutes(30))) {
        child.terminate();
        throw ece::Error(ece::ErrorKind::external, "dbt parse did not finish within 30 minutes");
    }
    if (child.exit_code() != 0)
        throw ece::Error(ece::ErrorKind::external,
                         "dbt parse failed with exit code " + std::to_string(child.exit_code()) + " in " +
                             project_dir.string());
    return project_dir / "target" / "manifest.json";
}

int plan_command(const std::vector<std::string>& args) {
    std::string branch, manifest_file, project_dir, state_dir, select = "state:modified+", format = "text", out_file;
    std::vector<std::string> ignore_config;
    po::options_description options("plan options");
    options.add_options()
        ("help,h", "this help")
        ("branch", po::value(&branch)->required(), "the branch being planned")
        ("manifest", po::value(&manifest_file), "the branch's manifest.json")
        ("project-dir", po::value(&project_dir), "the dbt project (runs dbt parse unless --manifest is given)")
        ("state", po::value(&state_dir)->required(), "directory with production's manifest.json (dbt's --state)")
        ("select", po::value(&select), "state:new or state:modified[.body|.configs|.relation|"
                                       ".persisted_descriptions|.macros|.contract], optionally with +")
        ("format", po::value(&format), "text or json")
        ("out", po::value(&out_file), "write the plan here instead of stdout")
        ("ignore-config", po::value(&ignore_config),
         "stricter than dbt: ignore differences in this unrendered config key (repeatable), e.g. one that "
         "differs only because production renders target.name differently");
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(options).run(), vm);
        if (vm.count("help")) {
            std::cout << usage_text << options;
            return ece::exit_code::ok;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        throw ece::Error(ece::ErrorKind::usage, std::string(e.what()) + "\n" + usage_text);
    }
    if (format != "text" && format != "json")
        throw ece::Error(ece::ErrorKind::usage, "--format must be text or json, not '" + format + "'");
    if (manifest_file.empty() && project_dir.empty())
        throw ece::Error(ece::ErrorKind::usage, std::string("give --manifest FILE or --project-dir P\n") + usage_text);

    const ece::dbt::Selector selector = ece::dbt::parse_selector(select);
    const fs::path branch_manifest = manifest_file.empty() ? parse_project(project_dir) : fs::path(manifest_file);

    ece::dbt::PlanOptions plan_options;
    plan_options.ignore_config_keys.insert(ignore_config.begin(), ignore_config.end());

    const fs::path production_manifest = fs::path(state_dir) / "manifest.json";
    ece::dbt::Plan plan;
    if (!fs::exists(production_manifest)) {
        const ece::dbt::Manifest current = ece::dbt::load_manifest(branch_manifest);
        plan = ece::dbt::plan_full_build(current, selector.text,
                                         "no production manifest found (" + production_manifest.string() +
                                             " does not exist): building everything");
    } else {
        const ece::dbt::ManifestPair pair = ece::dbt::load_manifest_pair(branch_manifest, production_manifest);
        plan = ece::dbt::plan_changes(pair.branch, pair.production, selector, production_manifest.string(),
                                      plan_options);
    }

    const std::string text = ece::mask_secrets(format == "json" ? ece::dbt::plan_to_json(plan) + "\n"
                                                                : ece::dbt::plan_to_text(plan, branch));
    if (out_file.empty()) {
        std::cout << text;
    } else {
        std::ofstream out(out_file, std::ios::binary);
        out << text;
        if (!out.flush()) throw ece::Error(ece::ErrorKind::usage, "cannot write the plan", {out_file, {}, {}, {}, {}});
    }
    return ece::exit_code::ok;
}

}  // namespace

int main(int argc, char** argv) {
    return ece::guarded_main("ece-dbt", [&] {
        std::vector<std::string> args(argv + 1, argv + argc);
        if (args.empty() || args[0] == "--help" || args[0] == "-h") {
            std::cout << usage_text;
            return args.empty() ? ece::exit_code::usage : ece::exit_code::ok;
        }
        if (args[0] == "--version") {
            std::cout << ece::version_line("ece-dbt") << "\n";
            return ece::exit_code::ok;
        }
        if (args[0] != "plan")
            throw ece::Error(ece::ErrorKind::usage, "unknown command '" + args[0] + "'\n" + usage_text);
        return plan_command({args.begin() + 1, args.end()});
    });
}
