# Integration tests with real samizdatd processes.
if(TARGET samizdatd AND TARGET samizdat-cli)
    add_test(NAME daemon_integration
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/daemon_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_crash
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/crash_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_gossip
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/gossip_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    set_tests_properties(daemon_integration daemon_crash daemon_gossip PROPERTIES TIMEOUT 600)
endif()
