# Installation layout: `cmake --install` into a temporary root; binaries, man
# pages, configuration and the systemd unit in place; `systemd-analyze verify`
# accepts the unit. dist/install.cmake (the man pages and the unit) is included
# after tests/, so this tests for its file, not for its targets.
if(TARGET samizdatd AND TARGET samizdat-cli AND EXISTS ${PROJECT_SOURCE_DIR}/dist/install.cmake)
    add_test(NAME install_layout
             COMMAND env SZ_BINDIR=${CMAKE_INSTALL_BINDIR} SZ_SBINDIR=${CMAKE_INSTALL_SBINDIR}
                     SZ_MANDIR=${CMAKE_INSTALL_MANDIR} SZ_DOCDIR=${CMAKE_INSTALL_DOCDIR}
                     SZ_SYSCONFDIR=${CMAKE_INSTALL_SYSCONFDIR}
                     bash ${CMAKE_CURRENT_SOURCE_DIR}/install/install_test.sh
                     ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${CMAKE_COMMAND})
    set_tests_properties(install_layout PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
