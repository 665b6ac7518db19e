# Benchmark drivers (bench/*.c): built with the project, not installed, not tests.
#   inner_bench: the inner-loop training step alone, and the dump that
#   bench/inner_torch.py replays (bench/inner_vs_torch.sh runs both).
add_executable(inner_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/inner_bench.c)
target_link_libraries(inner_bench PRIVATE fedmeta_core)
#   eval_bench: full-ranking evaluation throughput (users ranked per second)
#   against the OpenBLAS sgemm peak measured in the same process
#   (bench/eval_bench.sh).
add_executable(eval_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/eval_bench.c)
target_link_libraries(eval_bench PRIVATE fedmeta_core)
#   seal_bench: a 4 MiB masked input sealed whole against split (the words
#   authenticated in the clear; docs/PROTOCOL.md §3), side by side.
add_executable(seal_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/seal_bench.c)
target_link_libraries(seal_bench PRIVATE fedmeta_core)
