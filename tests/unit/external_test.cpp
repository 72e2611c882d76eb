// The manifest loader (harness/registry/external.cpp) on bad manifests: each
// is refused with one line naming the file's field, before anything joins
// the registry. In the unit tests so that it runs under ASan too (the
// end-to-end external_model test builds a separate project and does not).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "harness/registry/external.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {
namespace {

namespace fs = std::filesystem;

class Manifest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cmbench-manifest-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // An executable file beside the manifest.
    std::ofstream(dir_ / "prog") << "#!/bin/sh\nexit 0\n";
    fs::permissions(dir_ / "prog", fs::perms::owner_all);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static nlohmann::json good() {
    return {{"protocol", 1},
            {"name", "unit-external"},
            {"executable", "prog"},
            {"summary", "a test"},
            {"taxonomy", {{"unit", "a task"}, {"scheduled_by", "the kernel"}}},
            {"traits", {{"kernel_scheduled", true}}},
            {"params", {{{"name", "threads"}, {"help", "workers"}, {"default", 0}, {"min", 0}, {"max", 8}}}},
            {"workloads", {"counter"}}};
  }

  // The one-line message of the refusal of `doc`; empty when it loaded.
  std::string refusal(const nlohmann::json& doc) {
    const fs::path file = dir_ / "m.json";
    std::ofstream(file) << doc.dump();
    try {
      load_external_model(file.string());
    } catch (const ManifestError& e) {
      return e.what();
    }
    return "";
  }

  void expect_field(nlohmann::json doc, const std::string& field) {
    const std::string message = refusal(doc);
    EXPECT_NE(message.find("field '" + field + "'"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(find_model("unit-external"), nullptr);
  }

  fs::path dir_;
};

TEST_F(Manifest, MissingFieldsAreNamed) {
  for (const char* field : {"protocol", "name", "executable", "summary", "taxonomy", "traits", "workloads"}) {
    nlohmann::json doc = good();
    doc.erase(field);
    expect_field(doc, field);
  }
}

TEST_F(Manifest, WrongTypesAndValuesAreNamed) {
  auto with = [](const char* key, nlohmann::json value) {
    nlohmann::json doc = good();
    doc[key] = std::move(value);
    return doc;
  };
  expect_field(with("name", 5), "name");
  expect_field(with("name", "a/b"), "name");
  expect_field(with("name", "thread"), "name");  // taken by a built-in model
  expect_field(with("protocol", kCellProtocolVersion + 1), "protocol");
  expect_field(with("executable", "missing"), "executable");
  expect_field(with("workloads", {"counter", "nosuch"}), "workloads[1]");
  expect_field(with("workloads", {"counter", "counter"}), "workloads[1]");
  expect_field(with("workloads", nlohmann::json::array()), "workloads");
  expect_field(with("typo", 1), "typo");
  expect_field(with("last_words", {{{"pattern", "("}, {"message", "x"}}}), "last_words[0].pattern");
  nlohmann::json doc = good();
  doc["params"][0]["default"] = 9;
  expect_field(doc, "params[0].default");
  doc = good();
  doc["traits"]["workers_param"] = "nosuch";
  expect_field(doc, "traits.workers_param");
  doc = good();
  doc["traits"]["one_thread"] = "yes";
  expect_field(doc, "traits.one_thread");
  doc = good();
  doc["traits"]["kernel_scheduled"] = true;
  doc["traits"]["one_thread"] = true;
  expect_field(doc, "traits.one_thread");
  doc = good();
  doc["params"][0]["name"] = "units";  // counter's own parameter
  expect_field(doc, "params");
}

TEST_F(Manifest, NotJsonIsOneLine) {
  const fs::path file = dir_ / "m.json";
  std::ofstream(file) << "{ not json";
  try {
    load_external_model(file.string());
    FAIL() << "loaded";
  } catch (const ManifestError& e) {
    EXPECT_NE(std::string(e.what()).find("not a JSON object"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cmbench
