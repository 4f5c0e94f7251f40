# End-to-end tests of the samizdat command-line client.
if(TARGET samizdat-cli)
    add_test(NAME cli_offline
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/cli/cli_test.sh $<TARGET_FILE:samizdat-cli>
                     ${PROJECT_SOURCE_DIR})
    set_tests_properties(cli_offline PROPERTIES TIMEOUT 600)
endif()
