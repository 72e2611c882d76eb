#include "harness/history/store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>

#include "harness/history/input.hpp"
#include "harness/results/results.hpp"
#include "harness/stats/stats.hpp"

namespace cmbench::history {

namespace {

using nlohmann::json;

// Migration N takes a database from schema version N - 1 to N. Each runs in
// the transaction that also sets user_version, so a database is never left
// between two versions.
void migrate_to_1(sql::Database& db) {
  db.exec(fmt::format(R"sql(
PRAGMA application_id = {};
CREATE TABLE machine (
  id INTEGER PRIMARY KEY,
  cpu_model TEXT NOT NULL,
  cores INTEGER NOT NULL,
  kernel TEXT NOT NULL,
  UNIQUE (cpu_model, cores, kernel)
);
CREATE TABLE run (
  id INTEGER PRIMARY KEY,
  git_commit TEXT NOT NULL,
  date TEXT NOT NULL,
  host TEXT NOT NULL,
  machine_id INTEGER NOT NULL REFERENCES machine(id),
  branch TEXT NOT NULL,
  dirty INTEGER NOT NULL,
  build_type TEXT NOT NULL,
  cmbench_version TEXT NOT NULL,
  context TEXT NOT NULL,
  source TEXT NOT NULL,
  added TEXT NOT NULL,
  UNIQUE (git_commit, date, host, machine_id)
);
CREATE TABLE cell (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  workload TEXT NOT NULL,
  model TEXT NOT NULL,
  params TEXT NOT NULL
);
CREATE TABLE metric (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);
CREATE TABLE run_cell (
  id INTEGER PRIMARY KEY,
  run_id INTEGER NOT NULL REFERENCES run(id),
  cell_id INTEGER NOT NULL REFERENCES cell(id),
  machine_id INTEGER NOT NULL REFERENCES machine(id),
  outcome TEXT NOT NULL,
  message TEXT NOT NULL,
  UNIQUE (run_id, cell_id)
);
CREATE TABLE sample (
  run_cell_id INTEGER NOT NULL REFERENCES run_cell(id),
  metric_id INTEGER NOT NULL REFERENCES metric(id),
  repetition INTEGER NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (run_cell_id, metric_id, repetition)
) WITHOUT ROWID;
)sql",
                      kApplicationId));
}

void insert_points_from_samples(sql::Database& db, std::optional<int64_t> only_run_cell);

void migrate_to_2(sql::Database& db) {
  db.exec(R"sql(
CREATE TABLE point (
  run_cell_id INTEGER NOT NULL REFERENCES run_cell(id),
  metric_id INTEGER NOT NULL REFERENCES metric(id),
  n INTEGER NOT NULL,
  median REAL NOT NULL,
  lo REAL NOT NULL,
  hi REAL NOT NULL,
  PRIMARY KEY (run_cell_id, metric_id)
) WITHOUT ROWID;
)sql");
  insert_points_from_samples(db, std::nullopt);
}

using Migration = void (*)(sql::Database&);
constexpr Migration kMigrations[] = {migrate_to_1, migrate_to_2};
static_assert(std::size(kMigrations) == kStoreVersion);

void migrate(sql::Database& db, int from, int to) {
  sql::Transaction tx(db);
  // Another writer may have migrated it while this one waited for the lock.
  from = static_cast<int>(db.scalar_int("PRAGMA user_version"));
  for (int v = from; v < to; ++v) {
    kMigrations[v](db);
    db.exec(fmt::format("PRAGMA user_version = {}", v + 1));
  }
  tx.commit();
}

// The median and spread of each metric of one run_cell (or of all), from
// its samples.
void insert_points_from_samples(sql::Database& db, std::optional<int64_t> only_run_cell) {
  auto select = db.prepare(only_run_cell ? "SELECT run_cell_id, metric_id, value FROM sample WHERE run_cell_id = ?1 "
                                           "ORDER BY metric_id"
                                         : "SELECT run_cell_id, metric_id, value FROM sample "
                                           "ORDER BY run_cell_id, metric_id");
  if (only_run_cell) select.bind(1, *only_run_cell);
  auto insert = db.prepare("INSERT INTO point (run_cell_id, metric_id, n, median, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  int64_t rc = -1, metric = -1;
  std::vector<double> values;
  auto flush = [&] {
    if (values.empty()) return;
    const Summary s = summarize(values);
    insert.bind(1, rc).bind(2, metric).bind(3, static_cast<int64_t>(s.n)).bind(4, s.median).bind(5, s.min).bind(6, s.max);
    insert.run();
    values.clear();
  };
  while (select.step()) {
    const int64_t r = select.column_int(0), m = select.column_int(1);
    if (r != rc || m != metric) {
      flush();
      rc = r;
      metric = m;
    }
    values.push_back(select.column_double(2));
  }
  flush();
}

void set_busy_timeout(sql::Database& db) { sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs); }

// A new database is built under a temporary name and linked into place
// (link(2) never replaces a file), so a database at `path` is always
// complete: two `history add` creating it at once find one of them there,
// and a file that is empty or half-built is never a state of this program.
void create_database(const std::string& path, int version) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    if (ec) throw InputError(fmt::format("--db {}: cannot create {}: {}", path, p.parent_path().string(), ec.message()));
  }
  const std::string tmp = fmt::format("{}.new-{}-{}", path, ::getpid(),
                                      std::chrono::steady_clock::now().time_since_epoch().count());
  auto remove_tmp = [&] {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((tmp + suffix).c_str());
  };
  try {
    {
      sql::Database db(tmp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
      // WAL is a property of the file: every later connection reads in
      // parallel with one writer, and writers queue on the busy timeout.
      db.exec("PRAGMA journal_mode = WAL");
      migrate(db, 0, version);
    }  // the last connection closes: the WAL is checkpointed into the file
    if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST)
      throw InputError(fmt::format("--db {}: cannot create it: {}", path, std::strerror(errno)));
  } catch (...) {
    remove_tmp();
    throw;
  }
  remove_tmp();
}

std::string read_head(const std::string& path, size_t n) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw InputError(fmt::format("--db {}: {}", path, std::strerror(errno)));
  std::string buf(n, '\0');
  ssize_t got;
  do {
    got = ::read(fd, buf.data(), n);
  } while (got < 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (got < 0) throw InputError(fmt::format("--db {}: {}", path, std::strerror(err)));
  buf.resize(static_cast<size_t>(got));
  return buf;
}

[[noreturn]] void not_history(const std::string& path, const std::string& why) {
  throw InputError(fmt::format("--db {}: not a cmbench history database ({})", path, why));
}

sql::Database open_checked(const std::string& path, Store::Mode mode) {
  if (check_regular_or_absent(path, "--db") == PathState::absent) {
    if (mode == Store::Mode::read)
      throw InputError(fmt::format("--db {}: no history database there; `cmbench history add` creates it", path));
    create_database(path, kStoreVersion);
  }
  // The first bytes of every SQLite database, checked before SQLite opens
  // the file: SQLite takes an empty file for an empty database and would
  // write its own header into it.
  const std::string head = read_head(path, 100);
  if (head.empty()) not_history(path, "an empty file");
  static constexpr char kMagic[] = "SQLite format 3";  // 16 bytes with its NUL
  if (head.size() < 100 || std::memcmp(head.data(), kMagic, sizeof kMagic) != 0)
    not_history(path, "not a SQLite database");

  sql::Database db(path, SQLITE_OPEN_READWRITE);
  set_busy_timeout(db);
  int64_t app = 0, version = 0;
  try {
    app = db.scalar_int("PRAGMA application_id");
    version = db.scalar_int("PRAGMA user_version");
    // Reading the schema touches every page of it: a damaged file fails
    // here rather than halfway through an add.
    db.scalar_int("SELECT count(*) FROM sqlite_schema");
  } catch (const sql::Error& e) {
    not_history(path, e.what());
  }
  if (app != kApplicationId)
    not_history(path, app == 0 ? "a SQLite database of another program: it has no cmbench application_id"
                               : fmt::format("a SQLite database of another program: application_id {:#x}", app));
  if (version > kStoreVersion)
    throw InputError(fmt::format("--db {}: schema version {} is newer than this cmbench reads (up to {}); use a newer cmbench",
                                 path, version, kStoreVersion));
  if (version < 1) not_history(path, fmt::format("schema version {}", version));
  if (version < kStoreVersion) migrate(db, static_cast<int>(version), kStoreVersion);
  try {
    // The tables this build reads, all there: a file that claims to be a
    // history but lacks one was damaged by hand.
    for (const char* table : {"machine", "run", "cell", "metric", "run_cell", "sample", "point"}) {
      auto st = db.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1");
      st.bind(1, std::string_view(table));
      if (!st.step() || st.column_int(0) != 1) not_history(path, fmt::format("table {} is missing", table));
    }
  } catch (const sql::Error& e) {
    not_history(path, e.what());
  }
  return db;
}

// Typed access to a results document: anything of the wrong type is bad
// input, named by its place in the file.
const json& object_at(const json& parent, const char* key, const std::string& where) {
  auto it = parent.find(key);
  if (it == parent.end() || !it->is_object()) throw InputError(fmt::format("{}: no object \"{}\"", where, key));
  return *it;
}

std::string string_at(const json& parent, const char* key, const std::string& where, bool required = true) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (required) throw InputError(fmt::format("{}: no \"{}\"", where, key));
    return {};
  }
  if (!it->is_string()) throw InputError(fmt::format("{}: \"{}\" is not a string", where, key));
  return it->get<std::string>();
}

struct MachineKey {
  std::string cpu_model;
  int64_t cores;
  std::string kernel;
};

MachineKey machine_of(const json& ctx, const std::string& where) {
  MachineKey m;
  m.cpu_model = string_at(ctx, "cpu_model", where);
  m.kernel = string_at(ctx, "kernel", where);
  // The cores this process could use, as merge compares them; an older
  // file may have only the online count.
  for (const char* key : {"cores_available", "cores_online"}) {
    auto it = ctx.find(key);
    if (it != ctx.end() && it->is_number_integer() && it->get<int64_t>() > 0) {
      m.cores = it->get<int64_t>();
      return m;
    }
  }
  throw InputError(fmt::format("{}: no positive integer \"cores_available\" or \"cores_online\"", where));
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// The values of one ok repetition: every metric cmbench aggregates, and any
// other number the implementation recorded (Probe::metric), by name.
std::map<std::string, double> repetition_values(const json& metrics) {
  std::map<std::string, double> out;
  if (!metrics.is_object()) return out;
  for (const auto& name : aggregated_metrics())
    if (auto v = metric_value(metrics, name); v && std::isfinite(*v)) out[name] = *v;
  for (const auto& [key, value] : metrics.items())
    if (value.is_number() && !out.count(key) && std::isfinite(value.get<double>())) out[key] = value.get<double>();
  return out;
}

class Adder {
 public:
  explicit Adder(sql::Database& db)
      : db_(db),
        find_machine_(db.prepare("SELECT id FROM machine WHERE cpu_model = ?1 AND cores = ?2 AND kernel = ?3")),
        insert_machine_(db.prepare("INSERT INTO machine (cpu_model, cores, kernel) VALUES (?1, ?2, ?3)")),
        find_run_(db.prepare("SELECT id FROM run WHERE git_commit = ?1 AND date = ?2 AND host = ?3 AND machine_id = ?4")),
        insert_run_(db.prepare(
            "INSERT INTO run (git_commit, date, host, machine_id, branch, dirty, build_type, cmbench_version, context, "
            "source, added) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)")),
        find_cell_(db.prepare("SELECT id FROM cell WHERE name = ?1")),
        insert_cell_(db.prepare("INSERT INTO cell (name, workload, model, params) VALUES (?1, ?2, ?3, ?4)")),
        find_metric_(db.prepare("SELECT id FROM metric WHERE name = ?1")),
        insert_metric_(db.prepare("INSERT INTO metric (name) VALUES (?1)")),
        find_run_cell_(db.prepare("SELECT id FROM run_cell WHERE run_id = ?1 AND cell_id = ?2")),
        insert_run_cell_(db.prepare(
            "INSERT INTO run_cell (run_id, cell_id, machine_id, outcome, message) VALUES (?1, ?2, ?3, ?4, ?5)")),
        insert_sample_(db.prepare("INSERT INTO sample (run_cell_id, metric_id, repetition, value) VALUES (?1, ?2, ?3, ?4)")),
        insert_point_(db.prepare("INSERT INTO point (run_cell_id, metric_id, n, median, lo, hi) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")) {}

  AddResult add(const json& doc, const std::string& source, const std::string& branch) {
    AddResult result;
    result.source = source;
    const json& ctx = object_at(doc, "context", source);
    const std::string where = source + ": context";
    const std::string commit = string_at(ctx, "git_commit", where, false);
    if (commit.empty())
      throw InputError(fmt::format("{}: no \"git_commit\": the history orders runs by commit, and this run has none "
                                   "(built outside a git checkout)",
                                   where));
    const std::string date = string_at(ctx, "date", where);
    const std::string host = string_at(ctx, "host", where, false);
    const int64_t machine = machine_id(machine_of(ctx, where));

    find_run_.bind(1, commit).bind(2, date).bind(3, host).bind(4, machine);
    if (find_run_.step()) {
      result.run_id = find_run_.column_int(0);
    } else {
      auto dirty = ctx.find("git_dirty");
      insert_run_.bind(1, commit).bind(2, date).bind(3, host).bind(4, machine).bind(5, branch)
          .bind(6, int64_t{dirty != ctx.end() && dirty->is_boolean() && dirty->get<bool>()})
          .bind(7, string_at(ctx, "build_type", where, false))
          .bind(8, string_at(ctx, "cmbench_version", where, false))
          .bind(9, ctx.dump())
          .bind(10, source)
          .bind(11, now_utc());
      insert_run_.run();
      result.run_id = db_.last_insert_rowid();
      result.new_run = true;
    }
    find_run_.reset();

    for (size_t i = 0; i < doc["cells"].size(); ++i) {
      const json& cell = doc["cells"][i];
      const std::string at = fmt::format("{}: cells[{}]", source, i);
      if (!cell.is_object()) throw InputError(fmt::format("{} is not an object", at));
      const std::string name = string_at(cell, "name", at);
      // A cell of a merged file that kept its own context (merge
      // --allow-mixed) ran on its own machine.
      int64_t cell_machine = machine;
      if (auto c = cell.find("context"); c != cell.end() && c->is_object())
        cell_machine = machine_id(machine_of(*c, at + ".context"));
      const int64_t cell_id = cell_row(cell, name, at);
      find_run_cell_.bind(1, result.run_id).bind(2, cell_id);
      const bool present = find_run_cell_.step();
      find_run_cell_.reset();
      if (present) {
        ++result.cells_present;
        continue;
      }
      const std::string outcome = string_at(cell, "outcome", at);
      insert_run_cell_.bind(1, result.run_id).bind(2, cell_id).bind(3, cell_machine).bind(4, outcome)
          .bind(5, string_at(cell, "message", at, false));
      insert_run_cell_.run();
      const int64_t run_cell = db_.last_insert_rowid();
      ++result.cells_added;
      if (outcome == "ok") add_values(cell, run_cell, at);
    }
    return result;
  }

 private:
  int64_t machine_id(const MachineKey& m) {
    find_machine_.bind(1, m.cpu_model).bind(2, m.cores).bind(3, m.kernel);
    const bool found = find_machine_.step();
    const int64_t id = found ? find_machine_.column_int(0) : 0;
    find_machine_.reset();
    if (found) return id;
    insert_machine_.bind(1, m.cpu_model).bind(2, m.cores).bind(3, m.kernel);
    insert_machine_.run();
    return db_.last_insert_rowid();
  }

  int64_t cell_row(const json& cell, const std::string& name, const std::string& at) {
    find_cell_.bind(1, name);
    const bool found = find_cell_.step();
    const int64_t id = found ? find_cell_.column_int(0) : 0;
    find_cell_.reset();
    if (found) return id;
    // The workload and model lead the name; files written by cmbench also
    // say them on their own.
    std::string workload = string_at(cell, "workload", at, false), model = string_at(cell, "model", at, false);
    if (workload.empty() || model.empty()) {
      const auto a = name.find('/'), b = a == std::string::npos ? a : name.find('/', a + 1);
      workload = name.substr(0, a);
      model = a == std::string::npos ? "" : name.substr(a + 1, b == std::string::npos ? b : b - a - 1);
    }
    auto params = cell.find("params");
    insert_cell_.bind(1, name).bind(2, workload).bind(3, model)
        .bind(4, params != cell.end() && params->is_object() ? params->dump() : std::string("{}"));
    insert_cell_.run();
    return db_.last_insert_rowid();
  }

  int64_t metric_row(const std::string& name) {
    if (auto it = metrics_.find(name); it != metrics_.end()) return it->second;
    find_metric_.bind(1, name);
    const bool found = find_metric_.step();
    int64_t id = found ? find_metric_.column_int(0) : 0;
    find_metric_.reset();
    if (!found) {
      insert_metric_.bind(1, name);
      insert_metric_.run();
      id = db_.last_insert_rowid();
    }
    metrics_.emplace(name, id);
    return id;
  }

  void add_values(const json& cell, int64_t run_cell, const std::string& at) {
    auto reps = cell.find("repetitions");
    if (reps == cell.end() || !reps->is_array()) throw InputError(fmt::format("{}: no \"repetitions\" array", at));
    std::map<std::string, std::vector<double>> by_metric;
    for (size_t r = 0; r < reps->size(); ++r) {
      const json& rep = (*reps)[r];
      if (!rep.is_object()) throw InputError(fmt::format("{}.repetitions[{}] is not an object", at, r));
      if (auto o = rep.find("outcome"); o == rep.end() || *o != "ok") continue;
      auto m = rep.find("metrics");
      if (m == rep.end()) continue;
      for (const auto& [name, value] : repetition_values(*m)) {
        insert_sample_.bind(1, run_cell).bind(2, metric_row(name)).bind(3, static_cast<int64_t>(r)).bind(4, value);
        insert_sample_.run();
        by_metric[name].push_back(value);
      }
    }
    for (const auto& [name, values] : by_metric) {
      const Summary s = summarize(values);
      insert_point_.bind(1, run_cell).bind(2, metric_row(name)).bind(3, static_cast<int64_t>(s.n)).bind(4, s.median)
          .bind(5, s.min).bind(6, s.max);
      insert_point_.run();
    }
  }

  sql::Database& db_;
  sql::Statement find_machine_, insert_machine_, find_run_, insert_run_, find_cell_, insert_cell_, find_metric_,
      insert_metric_, find_run_cell_, insert_run_cell_, insert_sample_, insert_point_;
  std::map<std::string, int64_t> metrics_;
};

}  // namespace

std::string Machine::label() const { return fmt::format("{}, {} cores, {}", cpu_model, cores, kernel); }

Store::Store(const std::string& path, Mode mode) : path_(path), db_(open_checked(path, mode)) {}

std::vector<AddResult> Store::add(const std::vector<json>& docs, const std::vector<std::string>& sources,
                                  const std::string& branch) {
  std::vector<AddResult> results;
  sql::Transaction tx(db_);
  Adder adder(db_);
  for (size_t i = 0; i < docs.size(); ++i) results.push_back(adder.add(docs[i], sources[i], branch));
  tx.commit();
  return results;
}

History Store::load(const std::string& branch, const std::set<std::string>& metrics) {
  History h;
  std::map<int64_t, size_t> machine_at, run_at, cell_at;
  {
    auto st = db_.prepare("SELECT id, cpu_model, cores, kernel FROM machine ORDER BY id");
    while (st.step()) {
      machine_at[st.column_int(0)] = h.machines.size();
      h.machines.push_back({st.column_int(0), st.column_text(1), st.column_int(2), st.column_text(3)});
    }
  }
  {
    auto st = db_.prepare(
        "SELECT id, git_commit, date, host, branch, dirty, machine_id FROM run "
        "WHERE ?1 = '' OR branch = ?1 ORDER BY date, id");
    st.bind(1, branch);
    while (st.step()) {
      run_at[st.column_int(0)] = h.runs.size();
      h.runs.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3), st.column_text(4),
                        st.column_int(5) != 0, st.column_int(6)});
    }
  }
  {
    auto st = db_.prepare("SELECT id, name, workload, model FROM cell ORDER BY name");
    while (st.step()) {
      cell_at[st.column_int(0)] = h.cells.size();
      h.cells.push_back({st.column_int(0), st.column_text(1), st.column_text(2), st.column_text(3)});
    }
  }
  auto st = db_.prepare(
      "SELECT rc.machine_id, rc.cell_id, m.name, rc.run_id, p.n, p.median, p.lo, p.hi "
      "FROM point p JOIN run_cell rc ON rc.id = p.run_cell_id JOIN metric m ON m.id = p.metric_id "
      "JOIN run r ON r.id = rc.run_id WHERE ?1 = '' OR r.branch = ?1 "
      "ORDER BY rc.machine_id, rc.cell_id, m.name, r.date, r.id");
  st.bind(1, branch);
  Series* current = nullptr;
  int64_t cur_machine = -1, cur_cell = -1;
  std::string cur_metric;
  while (st.step()) {
    std::string metric = st.column_text(2);
    if (!metrics.empty() && !metrics.count(metric)) continue;
    const int64_t machine = st.column_int(0), cell = st.column_int(1);
    if (!current || machine != cur_machine || cell != cur_cell || metric != cur_metric) {
      h.series.push_back({machine_at.at(machine), cell_at.at(cell), metric, {}});
      current = &h.series.back();
      cur_machine = machine;
      cur_cell = cell;
      cur_metric = metric;
    }
    current->points.push_back(
        {run_at.at(st.column_int(3)), st.column_int(4), st.column_double(5), st.column_double(6), st.column_double(7)});
  }
  return h;
}

int64_t Store::count(const std::string& table) { return db_.scalar_int("SELECT count(*) FROM " + table); }

void Store::create_at_version(const std::string& path, int version) { create_database(path, version); }

}  // namespace cmbench::history
