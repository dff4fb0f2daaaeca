# Suites over the controlled backend: scheduler, programs, shadow model,
# runner, tools, and the regressions exported from reproducers.
add_executable(sched_tests unit/sched_test.cpp)
target_link_libraries(sched_tests PRIVATE z3fh_sched z3fh_test_support GTest::gtest_main)
gtest_discover_tests(sched_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "sched")

add_executable(harness_tests unit/program_test.cpp unit/shadow_test.cpp unit/runner_test.cpp)
target_link_libraries(harness_tests PRIVATE z3fh_driver z3fh_test_support GTest::gtest_main)
gtest_discover_tests(harness_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "harness")

# One file per fixed bug or review mutant, written by `z3fh export-test`.
file(GLOB Z3FH_REGRESS_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/regress/*_test.cpp)
if(Z3FH_REGRESS_SOURCES)
  add_executable(regress_tests ${Z3FH_REGRESS_SOURCES})
  target_include_directories(regress_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(regress_tests PRIVATE z3fh_harness GTest::gtest_main)
  # Every file is an exported reproducer over the same header: parsed once.
  target_precompile_headers(regress_tests PRIVATE regress/regress.h)
  # A finding only a sanitizer reports fails only where it is built in (regress.h).
  target_compile_definitions(regress_tests PRIVATE Z3FH_TREE_SANITIZER="${Z3FH_SANITIZER}")
  gtest_discover_tests(regress_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "regress")
endif()

# The tools end to end: bad input never crashes them (exit 2, one line).
if(TARGET z3fh-run)
  add_executable(tool_e2e_tests e2e/bad_input_test.cpp)
  target_compile_definitions(tool_e2e_tests PRIVATE Z3FH_RUN_BIN="$<TARGET_FILE:z3fh-run>"
    Z3FH_REGRESS_DIR="${CMAKE_SOURCE_DIR}/tests/regress" Z3FH_MUTANT_TREE=$<BOOL:${Z3FH_MUTANTS}>)
  target_link_libraries(tool_e2e_tests PRIVATE z3fh_harness GTest::gtest_main)
  add_dependencies(tool_e2e_tests z3fh-run)
  if(TARGET z3fh)
    target_compile_definitions(tool_e2e_tests PRIVATE Z3FH_TOOL_BIN="$<TARGET_FILE:z3fh>"
                               Z3FH_SOURCE_ROOT="${PROJECT_SOURCE_DIR}")
    add_dependencies(tool_e2e_tests z3fh)
  endif()
  gtest_discover_tests(tool_e2e_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "e2e")
endif()
