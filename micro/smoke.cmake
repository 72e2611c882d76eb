# The smoke test of cmbench-micro (cmake -P): runs every benchmark once, at
# the smallest time Google Benchmark accepts, into a JSON file, and fails
# unless the binary exits 0, every expected model x primitive appears, and
# no benchmark reports "error_occurred".
#   -DMICRO=<path of cmbench-micro>  -DOUT=<JSON file to write>
#   -DEXPECTED=<regex>|<regex>|...   one per model x primitive
foreach(var MICRO OUT EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "micro smoke: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE "${OUT}")
# GB 1.7.1's --benchmark_min_time takes a plain number of seconds.
execute_process(
  COMMAND "${MICRO}" --benchmark_min_time=0.001 --benchmark_format=json
          "--benchmark_out=${OUT}"
  RESULT_VARIABLE rc
  OUTPUT_QUIET
  ERROR_VARIABLE stderr)
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "micro smoke: cmbench-micro exited with ${rc}:\n${stderr}")
endif()
if(NOT EXISTS "${OUT}")
  message(FATAL_ERROR "micro smoke: cmbench-micro wrote no ${OUT}:\n${stderr}")
endif()

file(READ "${OUT}" json)
string(JSON count ERROR_VARIABLE json_error LENGTH "${json}" benchmarks)
if(json_error)
  message(FATAL_ERROR "micro smoke: ${OUT} is not Google Benchmark JSON: ${json_error}")
endif()
if(count EQUAL 0)
  message(FATAL_ERROR "micro smoke: no benchmark ran")
endif()

set(names "")
set(failures "")
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${json}" benchmarks ${i} name)
  list(APPEND names "${name}")
  string(JSON errored ERROR_VARIABLE absent GET "${json}" benchmarks ${i} error_occurred)
  if(NOT absent AND errored)
    string(JSON why ERROR_VARIABLE no_message GET "${json}" benchmarks ${i} error_message)
    list(APPEND failures "${name}: ${why}")
  endif()
endforeach()

string(REPLACE "|" ";" expected "${EXPECTED}")
set(missing "")
foreach(pattern IN LISTS expected)
  set(found FALSE)
  foreach(name IN LISTS names)
    if(name MATCHES "${pattern}")
      set(found TRUE)
      break()
    endif()
  endforeach()
  if(NOT found)
    list(APPEND missing "${pattern}")
  endif()
endforeach()

list(LENGTH names ran)
message(STATUS "micro smoke: ${ran} benchmarks ran")
if(missing OR failures)
  set(report "micro smoke failed")
  if(missing)
    string(REPLACE ";" "\n  " lines "${missing}")
    string(APPEND report "\nmissing (no benchmark name matches):\n  ${lines}")
  endif()
  if(failures)
    string(REPLACE ";" "\n  " lines "${failures}")
    string(APPEND report "\nerrored:\n  ${lines}")
  endif()
  message(FATAL_ERROR "${report}\n${stderr}")
endif()
