# End-to-end tests of the samizdat command-line client.
if(TARGET samizdat-cli)
    add_test(NAME cli_offline
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.sh $<TARGET_FILE:samizdat-cli>
                     ${PROJECT_SOURCE_DIR})
    set_tests_properties(cli_offline PROPERTIES TIMEOUT 600)
    if(TARGET samizdatd)
        add_test(NAME demo_network
                 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/demo_test.sh
                         $<TARGET_FILE:samizdat-cli> $<TARGET_FILE:samizdatd> ${PROJECT_SOURCE_DIR})
        set_tests_properties(demo_network PROPERTIES TIMEOUT 120)
    endif()
    if(TARGET bench_fetch_gen)
        add_test(NAME cli_unpack_many
                 COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/unpack_many_test.sh
                         $<TARGET_FILE:samizdat-cli> ${PROJECT_SOURCE_DIR}
                         $<TARGET_FILE:bench_fetch_gen> ${SZ_SANITIZED})
        set_tests_properties(cli_unpack_many PROPERTIES TIMEOUT 600 PROCESSORS 2)
    endif()
endif()
