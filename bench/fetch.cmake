# The bundle generator and raw open rate of bench/fetch (see bench/FETCH.md).
# Included from bench/CMakeLists.txt. Not a CTest test: its numbers depend on
# the machine and are judged by a person reading the table.
add_executable(bench_fetch_gen ${CMAKE_CURRENT_LIST_DIR}/bench_fetch_gen.c
                               ${CMAKE_CURRENT_LIST_DIR}/corpus.c)
target_link_libraries(bench_fetch_gen PRIVATE samizdat PkgConfig::SODIUM PkgConfig::ZSTD)
