# tests/fuzz/fuzz.cmake: libFuzzer harnesses for every decoder (docs/TESTING.md).
#
# Included from CMakeLists.txt before any target is defined; does nothing
# unless FEDMETA_FUZZ is ON (CMake allows one command per line, so the guard
# lives here rather than around the include). When ON, the flags below
# instrument everything: the core library
# with -fsanitize=fuzzer-no-link (coverage for libFuzzer, no main) plus
# AddressSanitizer and UndefinedBehaviorSanitizer; only the harnesses link the
# libFuzzer runtime (-fsanitize=fuzzer). Build with `make fuzz-build`
# (build-fuzz/, CC=clang) and run with `make test-fuzz` (ctest -L fuzz).
#
# Per harness NAME (tests/fuzz/fuzz_NAME.c), two ctest tests, label "fuzz":
#   fuzz_NAME          fuzzes for FEDMETA_FUZZ_SECONDS seconds, starting from a
#                      copy of tests/fuzz/corpus/NAME/ in build-fuzz/fuzz/NAME/
#   fuzz_NAME_regress  runs every input kept in tests/fuzz/regress/NAME/ once
# Inputs that still crash code owned elsewhere wait in tests/fuzz/pending/NAME/
# and are not run by ctest until their fix lands (then move them to regress/).
option(FEDMETA_FUZZ "Build the libFuzzer harnesses (clang only; see docs/TESTING.md)" OFF)
if(NOT FEDMETA_FUZZ)
  return()
endif()
set(FEDMETA_FUZZ_SECONDS 12 CACHE STRING "Seconds each fuzz_NAME ctest test fuzzes")
set(FEDMETA_FUZZ_RSS_MB 4096 CACHE STRING "libFuzzer -rss_limit_mb (and malloc limit) per harness")

if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "FEDMETA_FUZZ=ON needs clang (libFuzzer), but the C compiler is "
    "${CMAKE_C_COMPILER_ID} (${CMAKE_C_COMPILER}). Configure a fresh build folder with "
    "CC=clang, e.g. `make fuzz-build` (build-fuzz/), or install clang (apt-get install clang).")
endif()
if(FEDMETA_SANITIZE)
  message(FATAL_ERROR "FEDMETA_FUZZ=ON already builds with ASan+UBSan; leave FEDMETA_SANITIZE OFF")
endif()

add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
  -fno-omit-frame-pointer -g)
add_link_options(-fsanitize=address,undefined)

# NAME  max_len (bytes)
set(FEDMETA_FUZZ_HARNESSES
  msg 4096
  seal 4096
  checkpoint 16384
  shard 4096
  manifest 4096
  config 4096
  import_csv 8192
  import_ciao 8192
  import_movielens 8192
  import_amazon 8192)

set(_fz_dir ${CMAKE_CURRENT_SOURCE_DIR}/tests/fuzz)
add_custom_target(fuzz)

# The seed generator (`make fuzz-seeds` writes tests/fuzz/corpus/ with it).
add_executable(fuzz_seeds EXCLUDE_FROM_ALL ${_fz_dir}/fuzz_seeds.c)
target_link_libraries(fuzz_seeds PRIVATE fedmeta_core)
add_dependencies(fuzz fuzz_seeds)

list(LENGTH FEDMETA_FUZZ_HARNESSES _fz_n)
math(EXPR _fz_last "${_fz_n} - 1")
foreach(_i RANGE 0 ${_fz_last} 2)
  math(EXPR _j "${_i} + 1")
  list(GET FEDMETA_FUZZ_HARNESSES ${_i} _name)
  list(GET FEDMETA_FUZZ_HARNESSES ${_j} _max_len)
  add_executable(fuzz_${_name} EXCLUDE_FROM_ALL ${_fz_dir}/fuzz_${_name}.c)
  # fedmeta_core is defined after this file is included; CMake resolves it at generate time.
  target_link_libraries(fuzz_${_name} PRIVATE fedmeta_core)
  target_link_options(fuzz_${_name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(fuzz fuzz_${_name})
  set(_env "OPENBLAS_NUM_THREADS=1;UBSAN_OPTIONS=print_stacktrace=1")
  add_test(NAME fuzz_${_name}
    COMMAND bash ${_fz_dir}/run.sh fuzz $<TARGET_FILE:fuzz_${_name}> ${_name} ${_fz_dir}
      ${CMAKE_CURRENT_BINARY_DIR}/fuzz/${_name} ${FEDMETA_FUZZ_SECONDS} ${_max_len} ${FEDMETA_FUZZ_RSS_MB})
  math(EXPR _timeout "${FEDMETA_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz_${_name} PROPERTIES LABELS fuzz TIMEOUT ${_timeout} ENVIRONMENT "${_env}")
  add_test(NAME fuzz_${_name}_regress
    COMMAND bash ${_fz_dir}/run.sh regress $<TARGET_FILE:fuzz_${_name}> ${_name} ${_fz_dir}
      ${CMAKE_CURRENT_BINARY_DIR}/fuzz/${_name} 0 ${_max_len} ${FEDMETA_FUZZ_RSS_MB})
  set_tests_properties(fuzz_${_name}_regress PROPERTIES LABELS fuzz TIMEOUT 300 ENVIRONMENT "${_env}")
endforeach()
enable_testing()
