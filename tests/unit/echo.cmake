# The echo workload's unit test: the shared load generator and the process,
# thread and uv servers. It links the three models' libraries and defines its
# own main, because the load generator re-executes the test binary as
# `loadgen` (workloads/echo/spec.hpp). Included from the top-level
# CMakeLists.txt after the models' folders.
cmbench_unit_test(echo_test
  SOURCES ${PROJECT_SOURCE_DIR}/tests/unit/echo_test.cpp
  LIBS cmbench_process cmbench_thread cmbench_uv)
