# bench_daemon: the samizdatd benchmark run by bench/daemon (see bench/DAEMON.md).
# Included from bench/CMakeLists.txt. Not a CTest test: its numbers depend on the
# machine and are judged by a person reading the table.
find_package(Threads REQUIRED)
add_executable(bench_daemon ${CMAKE_CURRENT_LIST_DIR}/bench_daemon.c
                            ${CMAKE_CURRENT_LIST_DIR}/corpus.c)
target_link_libraries(bench_daemon PRIVATE samizdat PkgConfig::SODIUM Threads::Threads)
