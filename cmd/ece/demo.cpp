// `ece demo`: the main job on the embedded PostgreSQL, with the example project. Production is built from the
// project as it is; then a branch `demo` changes stg_patients (a new column) and ece previews it: environment,
// staged data, a plan of only what changed and its descendants, a build deferring to production, the comment.
#include "config/config.hpp"
#include "core/ece_dir.hpp"
#include "core/error.hpp"
#include "core/secrets.hpp"
#include "demo_data.hpp"
#include "ece.hpp"
#include "env/environments.hpp"
#include "lifecycle/lifecycle.hpp"
#include "lifecycle/production.hpp"
#include "pg/ident.hpp"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fs = std::filesystem;

namespace ece::cli {

namespace {

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw Error(ErrorKind::input, "cannot read the file", ErrorLocation{.file = file.string()});
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

void write_file(const fs::path& file, const std::string& text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw Error(ErrorKind::input, "cannot write the file", ErrorLocation{.file = file.string()});
}

// The example data at the demo's scale, generated once per scale (a re-run with the same scale reuses it).
void ensure_data(const fs::path& data, double scale) {
    const auto marker = data / "scale";
    std::ostringstream wanted;
    wanted << scale;
    if (fs::exists(marker) && read_file(marker) == wanted.str()) {
        std::cout << "data: reusing " << data.string() << " (scale " << wanted.str() << ")\n";
        return;
    }
    fs::remove_all(data);
    fs::create_directories(data);
    demo::DemoOptions options;
    options.scale = scale;
    for (const auto& t : demo::generate(data, options))
        std::cout << "data: " << t.name << " " << t.rows << " rows -> " << t.path.string() << "\n";
    write_file(marker, wanted.str());
}

// A fresh copy of the project (without dbt's target/) whose data/ holds the generated data: hard links, not a link to
// the folder, because dbt's sandbox refuses links that leave the project.
fs::path copy_project(const fs::path& source, const fs::path& to, const fs::path& data) {
    fs::remove_all(to);
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(source)) {
        const auto name = entry.path().filename().string();
        if (name == "target" || name == "logs" || name == "data") continue;
        fs::copy(entry.path(), to / name, fs::copy_options::recursive);
    }
    fs::copy(fs::absolute(data), to / "data", fs::copy_options::recursive | fs::copy_options::create_hard_links);
    return to;
}

// The demo branch's change: stg_patients gets a column and reads the unknown sex "U" as NULL, so it and everything
// downstream are rebuilt and the comment's data diff has rows to show (changed values, nulls, an added column).
void change_stg_patients(const fs::path& project) {
    const auto file = project / "models" / "staging" / "stg_patients.sql";
    auto text = read_file(file);
    const std::string before = "    birth_year\n";
    const auto at = text.find(before);
    if (at == std::string::npos)
        throw Error(ErrorKind::input, "the demo's change does not apply: no 'birth_year' column line",
                    ErrorLocation{.file = file.string()});
    text.replace(at, before.size(), "    birth_year,\n    (birth_year / 10) * 10 as birth_decade\n");
    const std::string sex = "upper(sex) as sex";
    const auto sex_at = text.find(sex);
    if (sex_at == std::string::npos)
        throw Error(ErrorKind::input, "the demo's change does not apply: no 'upper(sex) as sex' line",
                    ErrorLocation{.file = file.string()});
    text.replace(sex_at, sex.size(), "nullif(upper(sex), 'U') as sex");
    write_file(file, text);
}

// A stable stand-in for a commit: the SHA-256 of the project's files (40 hex digits, like git's).
std::string content_sha(const fs::path& project) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(project)) {
        if (e.is_regular_file() && e.path().string().find("/data/") == std::string::npos) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::string all;
    for (const auto& f : files) all += fs::relative(f, project).string() + "\n" + read_file(f);
    return pg::sha256_hex(all).substr(0, 40);
}

}  // namespace

int run_demo(const DemoOptions& demo) {
    if (!(demo.scale > 0 && demo.scale <= 0.05))
        throw Error(ErrorKind::usage, "ece demo's scale must be above 0 and at most 0.05 (0.001 - 0.01 is plenty)");
    const auto source = find_source_file("examples/ece_demo");
    if (!source) throw Error(ErrorKind::usage, "examples/ece_demo not found: run ece demo from ece's source tree");
    const fs::path dir = fs::absolute(demo.dir);
    make_ece_dir(dir);
    std::cout << "ece demo in " << dir.string() << " with the example project " << source->string() << "\n";

    ensure_data(dir / "data", demo.scale);
    const auto main_project = copy_project(*source, dir / "main", dir / "data");
    const auto branch_project = copy_project(*source, dir / "project", dir / "data");
    change_stg_patients(branch_project);
    std::cout << "branch demo: " << (branch_project / "models/staging/stg_patients.sql").string()
              << " gets the column birth_decade\n";

    auto config = config::load(main_project / "ece.yml");
    const auto dbt = choose_dbt(config);
    std::cout << dbt.log;
    auto settings = env::Settings::resolve(demo.database_url, std::move(config));
    lifecycle::Options options;
    options.admin_url = settings.admin_url;
    options.dbt = dbt.path.string();
    options.dbt_version = dbt.version;
    options.work_dir = dir / "work";
    env::Environments environments(std::move(settings));
    lifecycle::Log log(std::cout, false);

    std::cout << "\n# production: the project as it is on main\n";
    options.project_dir = main_project;
    const auto production = lifecycle::build_production(environments, options, content_sha(main_project), log);
    std::cout << "production: " << production.build.status << ", " << production.build.built_count
              << " relations built, manifest stored as ece.state_manifests #" << production.manifest_id << "\n";

    std::cout << "\n# pull request: branch demo\n";
    options.project_dir = branch_project;
    const fs::path comment_file = dir / "comment.md";
    lifecycle::FileCommentSink file(comment_file);
    lifecycle::Services services;
    services.comments = &file;
    const lifecycle::Target target{"demo", std::nullopt, content_sha(branch_project)};
    const auto outcome = lifecycle::preview(environments, target, options, services, log);

    if (outcome.report && outcome.report->dbt_plan) {
        std::cout << "\nplanned (only what changed and what depends on it; the rest is read from production):\n";
        for (const auto& node : outcome.report->dbt_plan->selected) {
            std::string reasons;
            for (const auto& r : node.reasons) reasons += (reasons.empty() ? "" : "; ") + r;
            std::cout << "  " << node.unique_id << ": " << reasons << "\n";
        }
        std::cout << "  deferred to production: " << outcome.report->dbt_plan->deferred << "\n";
    }
    for (const auto& step : outcome.steps)
        std::cout << (step.ok ? (step.skipped ? "  - " : "  ok ") : "  FAILED ") << step.name << ": "
                  << mask_secrets(step.detail) << "\n";
    if (!outcome.comment_url.empty()) std::cout << "\nthe pull-request comment: " << comment_file.string() << "\n";
    if (!outcome.hints.empty()) std::cout << "\n" << mask_secrets(outcome.hints);
    return outcome.exit_code;
}

}  // namespace ece::cli
