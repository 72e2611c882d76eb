#include "harness/history/commands.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness/history/analysis.hpp"
#include "harness/history/input.hpp"
#include "harness/history/page.hpp"
#include "harness/history/store.hpp"
#include "harness/results/results.hpp"

namespace cmbench::history {

namespace {

// Runs one command, turning every error into its one line and exit 2.
template <typename F>
int guarded(const char* command, const HistoryOptions& options, F&& body) {
  try {
    return body();
  } catch (const sql::Error& e) {
    fmt::print(stderr, "cmbench history {}: --db {}: {}\n", command, options.db, e.what());
  } catch (const std::exception& e) {
    fmt::print(stderr, "cmbench history {}: {}\n", command, e.what());
  }
  return 2;
}

void check_detector(const HistoryOptions& o) {
  check_options(o.detector);
  if (!(o.threshold >= 0 && o.threshold < 10))
    throw InputError(fmt::format("--threshold {} is not accepted; accepted: a percentage from 0 to 1000", o.threshold * 100));
}

History load(const HistoryOptions& o) {
  Store store(o.db, Store::Mode::read);
  return store.load(o.branch, judged_metrics());
}

// Written through a temporary file renamed into place, so a reader (a CI
// step publishing the folder) never sees half a page.
void write_page(const std::filesystem::path& dir, const std::string& text) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw InputError(fmt::format("--out {} exists and is not a directory; accepted: a directory or a new path", dir.string()));
  fs::create_directories(dir, ec);
  if (ec) throw InputError(fmt::format("--out {}: cannot create it: {}", dir.string(), ec.message()));
  const fs::path path = dir / "history.html";
  if (fs::exists(fs::symlink_status(path)) && !fs::is_regular_file(fs::symlink_status(path)))
    throw InputError(fmt::format("--out {} is not a regular file; accepted: a regular file or a new path", path.string()));
  const fs::path tmp = dir / fmt::format(".history.html.{}.tmp", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      fs::remove(tmp, ec);
      throw InputError(fmt::format("--out {}: cannot write {}", dir.string(), tmp.string()));
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw InputError(fmt::format("--out {}: cannot write {}", dir.string(), path.string()));
  }
}

}  // namespace

int history_add(const std::vector<std::string>& files, const HistoryOptions& o) {
  return guarded("add", o, [&] {
    // Every file is read and checked before the database is touched: one
    // bad file stores nothing.
    std::vector<nlohmann::json> docs;
    for (const auto& f : files) docs.push_back(load_results(f));
    Store store(o.db, Store::Mode::write);
    const auto results = store.add(docs, files, o.branch);
    for (const auto& r : results) {
      if (r.new_run)
        fmt::print("{}: stored as run {} ({} cells)\n", r.source, r.run_id, r.cells_added);
      else if (r.cells_added)
        fmt::print("{}: run {} was stored already; {} cells it lacked added, {} already there\n", r.source, r.run_id,
                   r.cells_added, r.cells_present);
      else
        fmt::print("{}: already stored as run {} ({} cells); nothing added\n", r.source, r.run_id, r.cells_present);
    }
    return 0;
  });
}

int history_report(const std::string& out_dir, const HistoryOptions& o) {
  return guarded("report", o, [&] {
    check_detector(o);
    const History h = load(o);
    const auto changes = all_changes(h, o.detector);
    const report::Assets assets = report::load_assets(CMBENCH_SOURCE_DIR);
    const std::string page = history_page(h, changes, o.detector, assets);
    write_page(out_dir, page);
    fmt::print("wrote {}/history.html ({} KiB): {} runs, {} series, {} change points\n", out_dir, page.size() / 1024,
               h.runs.size(), h.series.size(), changes.size());
    return 0;
  });
}

int history_check(const HistoryOptions& o) {
  return guarded("check", o, [&] {
    check_detector(o);
    const History h = load(o);
    const CheckResult r = check_newest(h, o.detector, o.threshold);
    fmt::print("{}", check_markdown(h, r, o.detector, o.threshold));
    return r.regressions.empty() ? 0 : 1;
  });
}

}  // namespace cmbench::history
