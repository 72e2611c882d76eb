#include "harness/cli/cli.hpp"

int main(int argc, char** argv) { return cmbench::cli_main(argc, argv); }
