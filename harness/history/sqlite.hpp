#pragma once
// Small RAII wrappers over SQLite's C API (Debian libsqlite3-dev): a
// connection, a prepared statement and a transaction. Every failure is an
// exception carrying SQLite's own message and code; nothing here retries
// except through the connection's busy timeout.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace cmbench::history::sql {

// A failed SQLite call: what was attempted, SQLite's message, and its
// (extended) result code, so a caller can tell a busy database from a
// corrupt one.
class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int code) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }
  int primary_code() const noexcept { return code_ & 0xff; }

 private:
  int code_;
};

class Statement;

// One connection. Move-only; closed by the destructor (sqlite3_close_v2,
// which finalizes nothing behind a caller's back: every Statement must be
// gone first, and is, since a Statement cannot outlive its scope here).
class Database {
 public:
  // flags as sqlite3_open_v2 takes them (SQLITE_OPEN_READWRITE, ...).
  Database(const std::string& path, int flags);
  Database(Database&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Database& operator=(Database&&) = delete;
  Database(const Database&) = delete;
  ~Database();

  // Runs one or more statements that return no rows.
  void exec(const std::string& sql);
  Statement prepare(std::string_view sql);
  // The single integer a statement such as "PRAGMA user_version" returns.
  int64_t scalar_int(std::string_view sql);

  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
  sqlite3* handle() const { return db_; }

 private:
  [[noreturn]] void fail(const std::string& what, int code) const;
  sqlite3* db_ = nullptr;
};

// One prepared statement. Parameters are 1-based, columns 0-based, as in
// SQLite's own API.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)) {}
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, std::nullopt_t);

  // Advances; true while there is a row to read.
  bool step();
  // Runs a statement that returns no rows, then resets it for reuse.
  void run();
  void reset();

  int64_t column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double column_double(int col) const { return sqlite3_column_double(stmt_, col); }
  bool column_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string column_text(int col) const;

 private:
  void check_bind(int rc, int index);
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back by the destructor unless
// committed. IMMEDIATE takes the write lock at the start, so two writers
// queue on the busy timeout instead of both reading and then failing to
// upgrade (SQLITE_BUSY without waiting).
class Transaction {
 public:
  explicit Transaction(Database& db);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  void commit();

 private:
  Database& db_;
  bool open_ = true;
};

}  // namespace cmbench::history::sql
