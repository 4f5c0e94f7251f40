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
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_fetch
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/fetch_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_reload
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/reload_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_evict_restart
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/evict_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_store_damage
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/damage_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_store_recover
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/recover_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_mutual_peers
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/mutual_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_import
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/import_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_ctl_client
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/ctl_client_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_summary_parts
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/summary_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_peer_addresses
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/address_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_fetch_proxy
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/proxy_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    add_test(NAME daemon_onion_listen
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/onion_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:sz_adversary>)
    add_test(NAME daemon_fetch_resume
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/resume_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:sz_adversary>)
    add_test(NAME daemon_catchup_peers
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/catchup_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:sz_adversary> $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME library_limits
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/daemon/limits_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR}
                     $<TARGET_FILE:bench_fetch_gen> ${SZ_SANITIZED})
    add_test(NAME censorship_scenario
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/netns/censor_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    set_tests_properties(daemon_integration daemon_crash daemon_gossip daemon_fetch daemon_reload
                         daemon_evict_restart daemon_import daemon_store_damage daemon_store_recover daemon_mutual_peers daemon_ctl_client daemon_summary_parts
                         daemon_peer_addresses daemon_fetch_proxy daemon_fetch_resume daemon_onion_listen
                         daemon_catchup_peers library_limits censorship_scenario
                         PROPERTIES TIMEOUT 600)
    # They keep a core busy (tests/CMakeLists.txt: PROCESSORS).
    set_tests_properties(daemon_crash daemon_reload PROPERTIES PROCESSORS 2)
    # Skips (77) without root. Its namespaces and links carry the test's process
    # id in their names: it can run beside other tests.
    set_tests_properties(censorship_scenario PROPERTIES SKIP_RETURN_CODE 77)
    # Not beside any part of daemon_adversary, whose time bounds their load
    # could break (its "hoard" bound failed once beside daemon_crash's
    # synchronous writes): they start once those have ended (the parts start
    # first, tests/CMakeLists.txt), and may run beside each other.
    foreach(part daemon_adversary daemon_adversary_links daemon_adversary_load)
        if(TEST ${part})
            set_property(TEST daemon_catchup_peers daemon_crash APPEND PROPERTY DEPENDS ${part})
        endif()
    endforeach()
    # Needs a mount namespace for its own /etc/hosts; skips (77) where there is none.
    set_tests_properties(daemon_peer_addresses daemon_fetch_proxy PROPERTIES SKIP_RETURN_CODE 77)
    # Needs a mount namespace for its small tmpfs; skips (77) where there is none.
    set_tests_properties(library_limits PROPERTIES SKIP_RETURN_CODE 77)
endif()
