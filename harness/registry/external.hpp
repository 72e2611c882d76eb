#pragma once
// External models: a program that speaks the cell protocol
// (docs/cell-protocol.md), declared by a manifest file, joins the registry
// as a model like the built-in ones. Its cells run through the same runner
// and sandbox (the cell process checks the parameters, applies the limits
// and then becomes the program: harness/sandbox/external.hpp).
#include <stdexcept>
#include <string>
#include <vector>

namespace cmbench {

// The version of the cell protocol this cmbench speaks. A manifest that
// declares a newer one is refused; an older one is spoken as it was.
inline constexpr int kCellProtocolVersion = 1;

// The version of the manifest format.
inline constexpr int kManifestVersion = 1;

// A manifest that cannot be used. what() is one line: the file, the field
// and what it accepts.
class ManifestError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Reads the manifest at `path` and adds its model to the registry. Loading
// the same file twice is a no-op (the runner passes --external to a cell
// whose model came from one). Throws ManifestError.
void load_external_model(const std::string& path, bool from_default_folder = false);

// The folder whose manifests (*.json) every cmbench loads without a flag:
// $CMBENCH_MODELS_DIR when set, else lib/cmbench/models in the installed
// layout (<prefix>/bin/cmbench and <prefix>/lib/cmbench/models), else
// lib/cmbench/models beside the executable (the build folder). Empty when
// none exists.
std::string default_external_folder();

// Loads every manifest of the default folder, in the order of their names.
void load_default_external_models();

}  // namespace cmbench
