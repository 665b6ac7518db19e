# Every tests/unit/test_*.c is one program and one ctest test (label "unit").
# Under ThreadSanitizer (make test-tsan) every test reads the suppressions of
# Open MPI's own threads, tests/tsan.supp, and stops at the first report.
# Reports also go to files (log_path), which `make test-tsan` checks after the
# run: a rank that a race stops inside a run the test expects to fail (with its
# stderr discarded) would otherwise pass unseen.
set(FEDMETA_TSAN_ENV "TSAN_OPTIONS=suppressions='${CMAKE_CURRENT_SOURCE_DIR}/tests/tsan.supp' halt_on_error=1 log_path='${CMAKE_BINARY_DIR}/tsan-report/report'")
file(GLOB FEDMETA_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${FEDMETA_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE fedmeta_core)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1;${FEDMETA_TSAN_ENV}")
endforeach()

# MPI integration tests are shell scripts run against build/fedmeta (label "mpi").
# Under AddressSanitizer they run with leak detection off: Open MPI's dlopen'ed
# components keep allocations until exit that LeakSanitizer reports as leaks of
# "<unknown module>" (none in fedmeta's code; the unit tests keep leak checks on).
file(GLOB FEDMETA_MPI_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/mpi/test_*.sh)
foreach(src ${FEDMETA_MPI_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME mpi_${name} COMMAND bash ${src} $<TARGET_FILE:fedmeta> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(mpi_${name} PROPERTIES LABELS mpi TIMEOUT 600
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;ASAN_OPTIONS=detect_leaks=0;${FEDMETA_TSAN_ENV}")
endforeach()

# Cluster tests (label "cluster", `make test-cluster`, not in `make test`): they
# need root, may install Debian packages (Slurm, munge) and start daemons or
# network namespaces, and take minutes. Each is a shell script run like the MPI
# tests: tests/cluster/test_NAME.sh FEDMETA MPIEXEC.
file(GLOB FEDMETA_CLUSTER_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/cluster/test_*.sh)
foreach(src ${FEDMETA_CLUSTER_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME cluster_${name} COMMAND bash ${src} $<TARGET_FILE:fedmeta> ${MPIEXEC_EXECUTABLE})
  set_tests_properties(cluster_${name} PROPERTIES LABELS cluster TIMEOUT 900
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;ASAN_OPTIONS=detect_leaks=0;${FEDMETA_TSAN_ENV}")
endforeach()

# Benchmark smoke runs (label "bench"; part of `make test`, a few seconds each):
# the benchmark drivers still run, and their own checks hold (eval_bench: the
# metrics do not depend on the ranking threads or the tiling; seal_bench: both
# layouts round-trip).
add_test(NAME bench_eval_smoke COMMAND eval_bench --items 4000 --users 300 --reps 1
  --peak-n 256 --sort-users 8 --threads "1 2")
set_tests_properties(bench_eval_smoke PROPERTIES LABELS bench TIMEOUT 120 ENVIRONMENT "${FEDMETA_TSAN_ENV}")
add_test(NAME bench_seal_smoke COMMAND seal_bench --words 4096 --reps 3)
set_tests_properties(bench_seal_smoke PROPERTIES LABELS bench TIMEOUT 60 ENVIRONMENT "${FEDMETA_TSAN_ENV}")
