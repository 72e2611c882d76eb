#pragma once
// The notes' claims, each judged by a rule written here against one run's
// numbers: supported, refuted, qualified, or not measured when the run lacks
// the cells. Every threshold a rule uses is a named constant in verdicts.cpp
// with the reason for its value. The per-model advice ("pick it when ...,
// avoid it when ...") is collected from the same rules, so the two cannot
// disagree.
#include <set>
#include <string>
#include <vector>

#include "report/data.hpp"

namespace cmbench::report {

enum class Finding { supports, refutes, qualifies, not_measured };

// "supports", "refutes", "qualifies", "not measured in this run".
std::string finding_text(Finding f);

struct Verdict {
  std::string id;        // "processes": stable, for tests and anchors
  std::string claim;     // the claim in one sentence
  std::string source;    // the workloads that test it
  Finding finding = Finding::not_measured;
  std::string evidence;  // the numbers, in a sentence or two
  std::string link;      // the anchor of the chart they come from; empty when none
};

// One clause of a model's advice: "you need a million units (it held ...)".
struct Advice {
  std::string model;
  bool pick = true;  // false: avoid it when ...
  std::string when;
};

struct RunVerdicts {
  const Run* run = nullptr;
  std::vector<Verdict> verdicts;  // one per claim, in the notes' order
  std::vector<Advice> advice;
};

// The claims' rules applied to the cells of `run` (one results file of
// `data`). `anchors` are the ids of the page's charts: a verdict links to
// its chart when there is one, else to its workload's section.
RunVerdicts compute_verdicts(const ReportData& data, const Run& run, const std::set<std::string>& anchors);

// Least squares fit of y = intercept + slope x, with r² (1 when every y is
// equal to its fitted value). Needs two distinct x at least.
struct LinearFit {
  double slope = 0, intercept = 0, r2 = 0;
  int n = 0;
};
std::optional<LinearFit> fit_line(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace cmbench::report
