// The fiber_test binary's main(). The echo load generator re-executes
// /proc/self/exe as `loadgen`, so this binary answers to that command
// itself, as the cmbench binary does.
#include <gtest/gtest.h>

#include <string_view>

#include "workloads/echo/spec.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "loadgen")
    return cmbench::echo::loadgen_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
