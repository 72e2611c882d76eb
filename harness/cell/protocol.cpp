#include "harness/cell/protocol.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <system_error>

#include "harness/cell/errors.hpp"
#include "harness/cell/memory.hpp"
#include "harness/cell/speed.hpp"
#include "harness/results/metrics.hpp"
#include "harness/registry/registry.hpp"

namespace cmbench {

Outcome classify(const Probe& probe, std::string& message) {
  if (!probe.started() || !probe.stopped()) {
    message = "the implementation did not mark its timed region (start/stop)";
    return Outcome::failed;
  }
  if (!probe.verified()) {
    message = "the implementation did not verify its result";
    return Outcome::failed;
  }
  if (!probe.verdict().ok) {
    message = probe.verdict().message;
    return Outcome::invalid;
  }
  return Outcome::ok;
}

nlohmann::json run_passes(const WorkloadSpec& spec, const std::vector<ParamDef>& defs,
                          const std::map<std::string, std::string>& given,
                          const std::function<void(const Params&, Probe&)>& run, bool process_tree, int passes,
                          const std::function<void(const Params&, Probe&, uint64_t)>& before) {
  nlohmann::json out;
  Outcome outcome = Outcome::ok;
  Probe probe;
  const bool timed_speed = speed_loop_applies();
  double speed_before = 0;
  try {
    const Params params = make_params(defs, given);
    const uint64_t nominal = spec.operations(params);
    if (before) before(params, probe, nominal);
    probe.set_process_tree(process_tree);
    if (timed_speed) speed_before = speed_loop_ns();  // the CPU's speed around the repetition (speed.hpp)
    // --passes (run --min-time): the whole workload, run again in this
    // process until the repetition has its passes, each verified; the first
    // pass that is not ok ends the repetition with its outcome.
    for (int pass = 0; pass < passes; ++pass) {
      if (pass > 0) probe.next_pass();
      run(params, probe);
      std::string message;
      outcome = classify(probe, message);
      if (probe.operations() == 0) probe.set_operations(nominal);
      if (outcome != Outcome::ok) {
        out["message"] = passes > 1 ? fmt::format("pass {} of {}: {}", pass + 1, passes, message) : message;
        break;
      }
    }
  } catch (const LimitError& e) {
    outcome = Outcome::limit;
    out["message"] = e.what();
    out["errno"] = e.err();
  } catch (const SystemError& e) {
    outcome = Outcome::failed;
    out["message"] = e.what();
    out["errno"] = e.err();
  } catch (const std::bad_alloc&) {
    outcome = Outcome::limit;
    out["message"] = "out of memory (std::bad_alloc)";
    out["errno"] = ENOMEM;
  } catch (const std::system_error& e) {
    int err = e.code().value();
    outcome = is_limit_errno(err) ? Outcome::limit : Outcome::failed;
    out["message"] = e.what();
    out["errno"] = err;
  } catch (const std::exception& e) {
    outcome = Outcome::failed;
    out["message"] = e.what();
  }
  out["outcome"] = to_string(outcome);
  if (probe.stopped()) {
    out["metrics"] = probe.metrics();
    if (outcome == Outcome::ok && timed_speed)
      out["metrics"][metrics::ref_loop_ns.name] = (speed_before + speed_loop_ns()) / 2;
  }
  out["notes"] = probe.notes();
  // The cell's own peak resident memory. It is read here, from /proc, and
  // not from ru_maxrss, which survives execve and would carry the parent's.
  out["vm_hwm_bytes"] = proc_status_bytes("self", "VmHWM");
  // A process tree's memory is the runner's samples of the tree's resident
  // memory. A cell over before the first sample (10 ms after its spawn) has
  // this instead: the tree read the same way, now, its units reaped. It
  // used to fall back to VmHWM, while the samples were PSS (7.2 against 3.7
  // MiB in process pingpong), so short process cells were a mixture of two
  // measures.
  if (process_tree) out["tree_resident_bytes"] = tree_resident_bytes(getpid());
  return out;
}

void write_result(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the parent is gone; nothing useful to do
    off += static_cast<size_t>(n);
  }
}

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::ok: return "ok";
    case Outcome::invalid: return "invalid";
    case Outcome::timeout: return "timeout";
    case Outcome::crashed: return "crashed";
    case Outcome::failed: return "failed";
    case Outcome::limit: return "limit";
  }
  return "failed";
}

std::optional<Outcome> outcome_from_string(const std::string& s) {
  for (Outcome o : {Outcome::ok, Outcome::invalid, Outcome::timeout, Outcome::crashed, Outcome::failed, Outcome::limit})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

namespace cell {

namespace {

struct Arguments {
  std::string workload, model;
  std::map<std::string, std::string> params;
  int result_fd = 1;
  int passes = 1;
};

// The protocol's arguments (docs/cell-protocol.md), "--flag value" or
// "--flag=value". Unknown flags are refused: a newer harness that passes
// one means something this program does not know. Throws
// std::invalid_argument naming the flag.
Arguments parse(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "cell")
    throw std::invalid_argument("the first argument must be 'cell' (the cell protocol: docs/cell-protocol.md)");
  Arguments a;
  for (int i = 2; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    } else {
      if (i + 1 >= argc) throw std::invalid_argument(fmt::format("{} needs a value", flag));
      value = argv[++i];
    }
    auto number = [&](int lo, int hi) {
      const auto v = parse_int(value);
      if (!v || *v < lo || *v > hi)
        throw std::invalid_argument(fmt::format("{} '{}' is not accepted; accepted: {} to {}", flag, value, lo, hi));
      return static_cast<int>(*v);
    };
    if (flag == "--workload") a.workload = value;
    else if (flag == "--model") a.model = value;
    else if (flag == "--result-fd") a.result_fd = number(0, 1 << 20);
    else if (flag == "--passes") a.passes = number(1, 1'000'000);
    else if (flag == "--cmbench") {
      // echo's load generator; the workloads this library serves read it
      // from the environment, where the harness's own cells find it too.
    } else if (flag == "--param") {
      const auto eq = value.find('=');
      if (eq == std::string::npos) throw std::invalid_argument(fmt::format("--param '{}' is not key=value", value));
      a.params[value.substr(0, eq)] = value.substr(eq + 1);
    } else {
      throw std::invalid_argument(fmt::format(
          "unknown flag '{}'; accepted: --workload, --model, --param, --result-fd, --passes, --cmbench", flag));
    }
  }
  if (a.workload.empty() || a.model.empty()) throw std::invalid_argument("--workload and --model are required");
  return a;
}

}  // namespace

int cell_main(int argc, char** argv, const Model& model) {
  Arguments args;
  try {
    args = parse(argc, argv);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: %s\n", argc > 0 ? argv[0] : "cell", e.what());
    return 2;
  }
  auto refuse = [&](const std::string& message) {
    nlohmann::json out = {{"outcome", "failed"}, {"message", message}, {"notes", nlohmann::json::object()}};
    write_result(args.result_fd, out.dump());
    std::fprintf(stderr, "%s: %s\n", argv[0], message.c_str());
    return 2;
  };
  if (args.model != model.name)
    return refuse(fmt::format("--model '{}' is not this program's model; accepted: {}", args.model, model.name));
  const Implementation* impl = nullptr;
  std::string names;
  for (const auto& i : model.implementations) {
    if (i.spec->name == args.workload) impl = &i;
    names += (names.empty() ? "" : ", ") + i.spec->name;
  }
  if (!impl) return refuse(fmt::format("--workload '{}' is not implemented here; accepted: {}", args.workload, names));
  std::vector<ParamDef> defs = impl->spec->params;
  defs.insert(defs.end(), model.params.begin(), model.params.end());
  // The harness has checked the parameters already against the manifest; the
  // program checks them again against its own definitions, so a manifest
  // that drifted from the program is a `failed` cell naming the parameter,
  // never a cell that measured something else.
  const nlohmann::json out = run_passes(
      *impl->spec, defs, args.params, impl->run, false, args.passes,
      [&](const Params& params, Probe&, uint64_t) {
        if (impl->spec->validate)
          if (auto err = impl->spec->validate(params)) throw std::invalid_argument(*err);
        if (impl->unsupported)
          if (auto err = impl->unsupported(params)) throw std::invalid_argument(*err);
      });
  write_result(args.result_fd, out.dump());
  return 0;
}

}  // namespace cell

}  // namespace cmbench
