# The daemon's bundle store (daemon/store.c) and its unit test.
# The store belongs to the daemon side: a proto-only build (no libuv) skips it.
if(SZ_PROTO_ONLY)
    return()
endif()

if(NOT TARGET PkgConfig::SQLITE3)
    pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
endif()
# Defined here until daemon/CMakeLists.txt defines it.
if(NOT TARGET szstore)
    add_library(szstore STATIC ${PROJECT_SOURCE_DIR}/daemon/store.c)
    target_include_directories(szstore PUBLIC ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(szstore PUBLIC PkgConfig::SQLITE3)
endif()

sz_unit_test(test_store SOURCES test_store.c LIBS szstore)
