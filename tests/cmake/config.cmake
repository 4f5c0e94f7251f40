# The daemon's configuration (daemon/config.c: defaults, INI file, flags) and its unit test.
# The library is defined here only until daemon/CMakeLists.txt defines it.
if(NOT TARGET PkgConfig::INIH)
    pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
endif()
if(NOT TARGET szconfig)
    add_library(szconfig STATIC ${PROJECT_SOURCE_DIR}/daemon/config.c ${PROJECT_SOURCE_DIR}/daemon/log.c)
    target_include_directories(szconfig PUBLIC ${PROJECT_SOURCE_DIR}/daemon
                               ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(szconfig PUBLIC PkgConfig::INIH samizdat)
endif()

sz_unit_test(test_config SOURCES test_config.c LIBS szconfig)
