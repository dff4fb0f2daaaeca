# Suites over the controlled backend: scheduler, harness, tools.
add_executable(sched_tests unit/sched_test.cpp)
target_link_libraries(sched_tests PRIVATE z3fh_sched z3fh_test_support GTest::gtest_main)
gtest_discover_tests(sched_tests DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "sched")
