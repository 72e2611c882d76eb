# Writes build_info.hpp: the commit the binary is being built from, and
# whether tracked files differed from it, for every results file's context.
# Run at every build (a custom target), so the commit is the build's and not
# whatever the checkout holds when `cmbench run` starts later; the file is
# rewritten only when it changes, so an unchanged commit rebuilds nothing.
# `--no-optional-locks` keeps `git status` from refreshing the index, which
# would take the repository's index lock while a developer may be using it.
#   cmake -DSOURCE_DIR=... -DOUTPUT=.../build_info.hpp -P build_info.cmake
set(commit "")
set(dirty "false")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} --no-optional-locks -C ${SOURCE_DIR} rev-parse HEAD
                  OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE rc ERROR_QUIET)
  if(NOT rc EQUAL 0)
    set(commit "")
  else()
    execute_process(COMMAND ${GIT_EXECUTABLE} --no-optional-locks -C ${SOURCE_DIR}
                            status --porcelain --untracked-files=no
                    OUTPUT_VARIABLE changes RESULT_VARIABLE rc ERROR_QUIET)
    if(rc EQUAL 0 AND NOT changes STREQUAL "")
      set(dirty "true")
    endif()
  endif()
endif()
set(text "// Generated at build time by harness/results/build_info.cmake.\n#pragma once\n#define CMBENCH_GIT_COMMIT \"${commit}\"\n#define CMBENCH_GIT_DIRTY ${dirty}\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUTPUT} "${text}")
endif()
