# Adversarial peers against real samizdatd processes (tests/adversary/): the
# adversary tool drives proto directly (probes, garbage, oversized and
# truncated frames, bad and unwanted bundles, floods, slow and idle peers), a
# recording TCP relay checks what a listener on the wire sees, and the tool's
# serve-evil mode plays a malicious relay to samizdat fetch.
if(TARGET samizdatd AND TARGET samizdat-cli)
    # Its own copy of link.c with SZ_LINK_TESTING (sz_link_test_seal_raw), as test_link does.
    add_executable(sz_adversary ${CMAKE_CURRENT_SOURCE_DIR}/adversary/adversary.c
                                ${PROJECT_SOURCE_DIR}/proto/link.c)
    target_compile_definitions(sz_adversary PRIVATE SZ_LINK_TESTING)
    target_link_libraries(sz_adversary PRIVATE samizdat)
    # The attacks and the load (slow and greedy peers, hoarders, fillers: about
    # two minutes of mostly waiting) are two tests, so that they run side by side.
    add_test(NAME daemon_adversary
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/adversary/adversary_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd>
                     $<TARGET_FILE:sz_adversary> ${PROJECT_SOURCE_DIR} attacks
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_adversary_links
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/adversary/adversary_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd>
                     $<TARGET_FILE:sz_adversary> ${PROJECT_SOURCE_DIR} links
                     $<TARGET_FILE:bench_fetch_gen>)
    add_test(NAME daemon_wire
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/adversary/wire_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
    set_tests_properties(daemon_adversary daemon_adversary_links daemon_wire PROPERTIES TIMEOUT 600)
    # Their time and memory bounds (a bundle from B while fillers hold the
    # receive budget, T's memory with hoarders, honest bundles within 10 s)
    # must not share the machine with daemon_catchup_peers or daemon_crash:
    # those two wait for every part (DEPENDS, tests/cmake/daemon.cmake).
    # Timing and memory bounds that AddressSanitizer distorts: the normal build only.
    if(NOT SZ_SANITIZED)
        add_test(NAME daemon_adversary_load
                 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/adversary/adversary_test.sh
                         $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd>
                         $<TARGET_FILE:sz_adversary> ${PROJECT_SOURCE_DIR} load
                         $<TARGET_FILE:bench_fetch_gen>)
        # It keeps a core busy for 10 s only (some 40 s of CPU in its 150),
        # but its memory bounds want few tests beside it: with one slot, its
        # "hoard" bound failed once (T gave back too little within 20 s).
        set_tests_properties(daemon_adversary_load PROPERTIES TIMEOUT 600 PROCESSORS 2)
    endif()
    # A malicious relay (sz_adversary serve-evil) against samizdat fetch.
    add_test(NAME fetch_evil_relay
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/adversary/evil_relay_test.sh
                     $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd>
                     $<TARGET_FILE:sz_adversary> ${PROJECT_SOURCE_DIR})
    set_tests_properties(fetch_evil_relay PROPERTIES TIMEOUT 300)
endif()
