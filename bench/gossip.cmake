# The helpers of bench/gossip (see bench/GOSSIP.md): a bundle generator with the
# raw verification rate, and lightweight protocol peers (idle links, catch-up).
# Included from bench/CMakeLists.txt. Not CTest tests: their numbers depend on
# the machine and are judged by a person reading the table.
add_executable(bench_gossip_gen ${CMAKE_CURRENT_LIST_DIR}/bench_gossip_gen.c)
target_link_libraries(bench_gossip_gen PRIVATE samizdat PkgConfig::SODIUM PkgConfig::ZSTD)
add_executable(bench_gossip_peer ${CMAKE_CURRENT_LIST_DIR}/bench_gossip_peer.c)
target_link_libraries(bench_gossip_peer PRIVATE samizdat PkgConfig::SODIUM)
